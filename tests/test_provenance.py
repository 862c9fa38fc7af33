"""When and where a figure was made (decaqa.provenance): the machine described once, for
metrics.json and every benchmark, and the clock a time budget counts from."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from decaqa import provenance


def test_the_machine_names_cores_threads_and_versions() -> None:
    text = provenance.describe_machine()
    assert f"{os.cpu_count()} cores" in text
    assert f"{torch.get_num_threads()} torch threads" in text
    assert f"torch {torch.__version__}" in text and f"Python {platform.python_version()}" in text


def test_the_clock_starts_at_the_process_or_where_marked() -> None:
    started = provenance.process_started()
    assert started <= time.time() and time.time() - started < 24 * 3600
    provenance.mark_start(123.0)
    try:
        assert provenance.run_started() == 123.0
    finally:
        provenance.mark_start(started)


def test_a_runs_record_carries_the_same_machine(smoke_run: Path) -> None:
    doc = json.loads((smoke_run / "metrics.json").read_text())
    prov = doc["provenance"]
    assert prov["machine"] == provenance.describe_machine()
    assert prov["torch_version"] == torch.__version__
    assert {"model", "generation", "input_format", "seed", "tasks", "data_report",
            "parameters", "global_step"} <= set(prov)
