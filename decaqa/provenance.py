"""When and where a figure was made: the machine, the run's start, and the provenance block of
metrics.json (everything needed to reproduce a figure). The one owner of these facts: run
provenance and every benchmark print `describe_machine`; the `decaqa` command marks its start
here before anything heavy is imported, and the time budget counts from it. Imports nothing
heavy at load time.
"""
from __future__ import annotations

import os
import time
from typing import Any


def _torch_version() -> str:
    import torch

    return torch.__version__


def describe_machine() -> str:
    """The machine a figure was measured on — CPU model, cores, torch threads, GPU, torch and
    Python — as run provenance and every benchmark print it (a timing means nothing without)."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads{gpu}, "
            f"torch {torch.__version__}, Python {platform.python_version()}")



_STARTED: list[float] = []


def mark_start(when: float) -> None:
    """When the run began: the process start for the `decaqa` command (imports count too),
    the call for a run started from Python."""
    _STARTED[:] = [when]


def run_started() -> float:
    return _STARTED[0] if _STARTED else process_started()


def process_started() -> float:
    """When this process started (wall clock)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - uptime + start_ticks / ticks
    except (OSError, ValueError, IndexError):
        return _IMPORTED


_IMPORTED = time.time()


def provenance(trainer: Any, module: Any, data: Any, checkpoint: str | None) -> dict[str, Any]:
    """Everything needed to reproduce a figure: tasks, data, decoding, seed, versions."""
    from decaqa import __version__
    from decaqa.store import generation_of

    return {
        "decaqa_version": __version__,
        "torch_version": _torch_version(),
        "machine": describe_machine(),
        "model": module.hparams.model or {"from_scratch": module.hparams.config},
        "generation": {**generation_of(module.hparams), "do_sample": False},
        "input_format": data.input_format,
        "max_source_tokens": data.max_source_tokens,
        "batch_size": data.batching.batch_size, "batching": data.batching.settings(),
        "eval_batch_size": data.eval_batch_size, "eval_max_tokens": data.eval_max_tokens,
        "seed": data.seed, "split": data.eval_split,
        "checkpoint": checkpoint, "global_step": int(trainer.global_step),
        "parameters": module.parameter_counts(),
        "adapter": module.adapters.info() if module.adapters is not None else None,
        "tasks": data.task_info(), "data_report": data.report,
    }
