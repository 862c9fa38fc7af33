"""The README's main job, end to end: the quickstart run and the figures it must reach.

Slow (nine minutes: the config's time budget); CI runs it, `-m "not slow"` skips it locally.
The promise is the time: the run sizes itself to its 9-minute budget on whatever machine runs
it, so its score follows the machine and its load (472 on the AMD EPYC where bf16 is fast,
396.7-435.1 in six runs on the Intel Xeon where fp32 is the faster precision; README).
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
    # far above the floor (101.2) on any machine we know: the lowest of six budgeted runs on
    # the slower machine was 396.7, the floor's 3.5x is 354
    assert doc["decascore"] >= 3.5 * floor["decascore"]
    assert len(beaten) >= 8
