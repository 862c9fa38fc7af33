"""The README's main job, end to end: the quickstart run and the figures it must reach.

Slow (nine minutes: the config's time budget); CI runs it, `-m "not slow"` skips it locally.
The promise is the time: the run sizes itself to its 9-minute budget on whatever machine runs
it, so its score follows the machine and its load (README: the figures of each machine).
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
    steps = doc["provenance"]["time_budget"]["steps"]
    print(f"quickstart: decaScore {doc['decascore']:.1f} in {minutes:.1f} min, {steps} steps; "
          f"beats the majority baseline on {len(beaten)}/10; squad copy rate "
          f"{doc['tasks']['squad']['copy_rate']:.2f}")
    assert minutes <= 10, minutes                              # the README's promise
    assert doc["provenance"]["time_budget"]["budget_s"] == 540
    # With the copy head (model.copy: context+question) the quickstart copies the names in
    # front of it. It scored 672.0 in 6,008 steps on the Intel Xeon with AMX of this release
    # and 639.5, 650.4 and 642.1 in 3,562-3,883 steps on an AMD EPYC with AVX-512 (issue 11
    # asks >= 600); shorter budgets stand in for slower machines: 552.0 in 2,193 steps (five
    # minutes on the EPYC) and 448.4 in 1,489 steps (2 min 50 s on the Xeon), every task above
    # its floor in both. With the fused optimiser under bf16 (issue 19) the EPYC trains
    # 4,919 steps and scored 648.8; 4,692-6,008 steps elsewhere scored 650.9-672.0. With the
    # task beams (iwslt and cnn_dailymail, +6.6 on the same models) eight runs on the Xeon of
    # 5,649-8,162 steps scored 669.2-696.6; greedy, 5,674 steps on the EPYC scored 662.9. So:
    # >= 640 from 5,500 steps, >= 620 from 4,500, >= 600 from 3,500, else 4x the floor (405).
    # Every task beats its floor either way, and squad copies.
    bar = (640 if steps >= 5500 else 620 if steps >= 4500 else 600 if steps >= 3500
           else 4 * floor["decascore"])
    assert doc["decascore"] >= bar, (doc["decascore"], steps)
    assert len(beaten) == 10, sorted(set(MINI_DECATHLON_TASKS) - set(beaten))
    assert doc["tasks"]["squad"]["copy_rate"] >= 0.9
    # the README's own example answers with a name from its context
    import decaqa

    context = "Tavo Brenik was born in Olmora. He works for Kestrel Mills."
    answer = decaqa.load(str(tmp_path / "model")).ask("Where was Tavo Brenik born?", context)
    print(f"README example: {answer!r}")
    assert answer and answer in context, answer
