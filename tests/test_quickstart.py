"""The README's main job, end to end: the quickstart run and the figures it must reach.

Slow (nine minutes: the config's time budget); CI runs it, `-m "not slow"` skips it locally.
The promise is the time: the run sizes itself to its 9-minute budget on whatever machine runs
it, so its score follows the machine and its load (472 on an AMD EPYC where bf16 is fast,
396.7-435.1 in six runs on an Intel Xeon where fp32 is the faster precision, 309.4 on an AMD
EPYC with AVX2 only, where fp32 takes 148 ms a step and bf16 is emulated; README).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from decaqa.cli import run
from decaqa.data import MINI_DECATHLON_TASKS
from decaqa.evaluate import majority_baseline

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"


@pytest.mark.slow
def test_quickstart_reaches_its_figures(tmp_path: Path) -> None:
    started = time.time()
    assert run(["fit", "--config", str(QUICKSTART), "--run_dir", str(tmp_path)]) == 0
    minutes = (time.time() - started) / 60
    doc = json.loads((tmp_path / "metrics.json").read_text())
    floor, _ = majority_baseline(MINI_DECATHLON_TASKS)
    beaten = [t for t in MINI_DECATHLON_TASKS
              if doc["tasks"][t]["score"] > floor["tasks"][t]["score"]]
    print(f"quickstart: decaScore {doc['decascore']:.1f} in {minutes:.1f} min; "
          f"beats the majority baseline on {len(beaten)}/10")
    assert minutes <= 10, minutes                              # the README's promise
    assert doc["provenance"]["time_budget"]["budget_s"] == 540
    # Far above the floor (101.2) on the machines we know, by how many steps the budget let
    # the machine train: the Intel Xeon trains about 4,900 steps and its lowest of six runs
    # was 396.7 (the floor's 3.5x is 354); the AVX2-only AMD EPYC trains 1,800-2,100 steps in
    # the same nine minutes (its speed varied by 15% between runs) and reached 255.8, 304.5
    # and 309.4 (the floor's 2.2x is 223), beating the floor on 8 or 9 tasks (qa_zre and
    # wikisql, the copying tasks, need more steps than that).
    steps = doc["provenance"]["time_budget"]["steps"]
    fast = steps >= 4000
    print(f"quickstart: {steps} steps in the budget ({'fast' if fast else 'slow'} machine)")
    assert doc["decascore"] >= (3.5 if fast else 2.2) * floor["decascore"]
    assert len(beaten) >= (8 if fast else 7)
