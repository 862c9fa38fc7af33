"""The time budget: durations, the plan (faster precision, steps sized to what is left), and a
budgeted run that keeps its promise whichever precision is faster (a fake slow step)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import decaqa.budget
from decaqa.budget import parse_duration, plan_steps
from decaqa.cli import run
from decaqa.errors import ConfigError

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"


@pytest.mark.parametrize("text, seconds", [("9m", 540), ("540s", 540), ("540", 540),
                                           ("1h30m", 5400), ("1m30s", 90), (90, 90),
                                           ("0.5m", 30), (None, None)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["nine minutes", "9x", "-3m", "0s"])
def test_bad_duration_is_one_sentence(bad):
    with pytest.raises(ConfigError, match="time_budget"):
        parse_duration(bad)


def test_plan_picks_the_faster_precision_and_fills_the_budget():
    plan = plan_steps(540, setup_s=30, step_s={"bf16-mixed": 0.116, "32-true": 0.080},
                      validation_s=15, reserve_s=5, margin=1.0)
    assert plan.precision == "32-true"
    assert plan.steps == int((540 - 30 - 15 - 5) / 0.080)       # 6125, by hand
    plan = plan_steps(540, setup_s=30, step_s={"bf16-mixed": 0.05, "32-true": 0.08},
                      validation_s=15, reserve_s=5, margin=1.0)
    assert plan.precision == "bf16-mixed" and plan.steps == int(490 / 0.05)
    assert plan.train_deadline_s == 540 - 15 - 5


def test_a_budget_with_no_time_to_train_says_so():
    with pytest.raises(ConfigError, match="leaves no time to train"):
        plan_steps(20, setup_s=18, step_s={"32-true": 0.1}, validation_s=5)


def test_the_probe_times_each_batch_once_per_precision_in_turn_and_takes_the_mean(
        monkeypatch) -> None:
    """A run pays the mean step, long batches included: a precision whose long batch is
    slow loses although its median step is faster. Each batch is trained once in each
    precision, in turn, the order alternating; the first three steps are warm-up."""
    seconds = {"bf16-mixed": [9, 9, 9, 0.01, 0.01, 0.10],  # median 0.01, mean 0.04
               "32-true": [9, 9, 9, 0.02, 0.02, 0.02]}
    order = []

    def stepper(net, precision, lr, clip=None):
        def step(batch):
            order.append((batch["i"], precision))
            return seconds[precision][batch["i"]]
        return step

    monkeypatch.setattr(decaqa.budget, "_stepper", stepper)
    module = SimpleNamespace(configure_model=lambda: None, model=None,
                             hparams=SimpleNamespace(learning_rate=1e-3))
    data = SimpleNamespace(train_batches=lambda n: [{"i": i} for i in range(n)])
    measured = decaqa.budget.measure_step_seconds(module, data, list(seconds), steps=3)
    assert measured == pytest.approx({"bf16-mixed": 0.04, "32-true": 0.02})
    assert order[:4] == [(0, "bf16-mixed"), (0, "32-true"), (1, "32-true"), (1, "bf16-mixed")]
    assert len(order) == 2 * 6  # each batch once per precision


def test_the_validation_estimate_cuts_answers_at_the_longest_reference() -> None:
    # an untrained network writes no end token: each sample is answered up to the longest
    # reference answer among its rows (within the task's cap), as a trained one answers
    import datasets
    import torch

    from decaqa.budget import estimate_validation_seconds

    class Data:
        eval_split, eval_batch_size, eval_task_names = "validation", 100, ["short", "long"]
        tokenized = {"validation": {
            "short": datasets.Dataset.from_dict({"input_ids": [[5, 6, 1]] * 48,
                                                 "target_length": [2, 3] * 24}),
            "long": datasets.Dataset.from_dict({"input_ids": [[5, 6, 1]] * 10,
                                                "target_length": [90] * 10})}}

        def answering_of(self, name):
            return {"task": name, "max_new_tokens": {"short": None, "long": 40}[name],
                    "max_rows": 100}

    class Module:
        model = torch.nn.Linear(1, 1)
        hparams = SimpleNamespace(max_new_tokens=64)
        asked: dict = {}

        def answer(self, sources, answering):
            self.asked[answering["task"]] = (len(sources), answering["max_new_tokens"],
                                             answering["max_rows"])
            return [""] * len(sources)

    module = Module()
    assert estimate_validation_seconds(module, Data(), "32-true") >= 0
    # 24 rows of 48 (every other one: lengths 2), cut at 2; the long task's cap (40) holds
    assert module.asked == {"short": (24, 2, 24), "long": (10, 40, 10)}


@pytest.mark.parametrize("slow", ["bf16-mixed", "32-true"])
def test_budgeted_run_fits_whichever_precision_is_faster(slow, tmp_path, monkeypatch):
    """A fake slow step in one precision: the run measures it, takes the other one, sizes
    its steps to the budget, finishes within it and records the choice."""
    real = decaqa.budget._stepper

    def fake(net, precision, lr, clip=None):
        step = real(net, precision, lr, clip)
        return (lambda batch: step(batch) + 0.05) if precision == slow else step

    monkeypatch.setattr(decaqa.budget, "_stepper", fake)
    budget = 40  # setup alone took 22 s on the AVX2 EPYC; 25 s left it no time to train
    started = time.time()
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(tmp_path / "run"),
                "--time_budget", f"{budget}s"]) == 0
    elapsed = time.time() - started
    doc = json.loads((tmp_path / "run" / "metrics.json").read_text())
    plan = doc["provenance"]["time_budget"]
    faster = "32-true" if slow == "bf16-mixed" else "bf16-mixed"
    assert plan["precision"] == faster == doc["provenance"]["precision"]
    assert plan["step_s"][slow] > plan["step_s"][faster]
    assert plan["steps"] > 50 and doc["provenance"]["global_step"] <= plan["steps"]
    assert plan["calibrated_step_s"] is not None              # re-sized on its real steps
    assert elapsed <= budget * 1.1, (elapsed, plan)             # the promise, kept
    assert elapsed >= budget * 0.5, (elapsed, plan)             # and the budget used

    # resumed, the run keeps the plan it recorded: nothing is timed again
    def no_new_plan(*args, **kwargs):
        raise AssertionError("a resumed run must not plan again")

    monkeypatch.setattr(decaqa.budget, "make_plan", no_new_plan)
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(tmp_path / "run"),
                "--time_budget", f"{budget}s", "--ckpt_path", "last"]) == 0
    again = json.loads((tmp_path / "run" / "metrics.json").read_text())["provenance"]
    assert again["time_budget"]["steps"] == plan["steps"]
    assert again["precision"] == plan["precision"]
