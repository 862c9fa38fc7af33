"""Shared by the benchmarks: the machine they ran on and the real samples.

A helper module, not a benchmark: it is imported, never run, so it prints nothing; each
benchmark script ends with its own JSON line (tests/test_benchmarks.py checks the keys)."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"   # small real samples, when beside the repo


def machine() -> str:
    """CPU model, cores and torch build: every figure is read against the machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads{gpu}, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def real_files(*parts: str) -> list[str]:
    """A real-sample file if ../shared is present, else nothing (the benchmark says so)."""
    path = REAL.joinpath(*parts)
    return [str(path)] if path.exists() else []
