"""A wall-clock budget for a run: `decaqa fit --config configs/quickstart.yaml --time_budget 9m`.

A fixed step count cannot keep a time promise across machines: bf16 autocast is twice as fast
as fp32 on one CPU and slower on another. So, once the data is tokenized, the run times a few
training steps in each candidate precision (on a copy of the network, on real batches), keeps
the faster, estimates validation from a timed sample of answers, and sizes ``max_steps`` to
what is left of the budget; the LR schedule then follows the steps chosen (Lightning's
``max_time`` alone would cut the schedule short). Early in warm-up the run's guard
(`BudgetGuard`, a callback) times the real steps — data loading and Lightning's own work
included — and re-sizes the steps and the schedule to the time left; should the run still
fall behind, it stops training at the deadline and Lightning validates. Every figure of the
plan goes to metrics.json. Lightning has no such planner, so this module is ours. The clock
it counts from is `decaqa.provenance.run_started`.
"""
from __future__ import annotations

import copy
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import pytorch_lightning as pl

from decaqa.errors import ConfigError
from decaqa.provenance import run_started

RESERVE_S = 5.0        # export, metrics.json, the summary: measured at 1-3 s on the quickstart
TRAIN_MARGIN = 0.985   # Lightning's own per-step work (logging, progress) beyond the probe


def parse_duration(text: str | float | int | None) -> float | None:
    """``9m``, ``540s``, ``1h30m``, ``90`` (seconds) -> seconds; None stays None."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                             r"(?:(\d+(?:\.\d+)?)s?)?\s*", str(text))
        if parts is None or not any(parts.groups()):
            raise ConfigError(f"time_budget '{text}' is not a duration; write e.g. 9m, 540s or "
                              "1h30m.")
        h, m, s = (float(g) if g else 0.0 for g in parts.groups())
        seconds = 3600 * h + 60 * m + s
    if seconds <= 0:
        raise ConfigError(f"time_budget must be positive, got {text}.")
    return seconds


@dataclass
class Plan:
    """What the budget decided, as written to metrics.json."""

    budget_s: float
    setup_s: float
    step_s: dict[str, float]
    precision: str
    validation_s: float
    steps: int
    train_deadline_s: float
    planned_steps: int = 0
    calibrated_step_s: float | None = None
    resized: list[list[float]] = field(default_factory=list)  # [step, step_s, steps] each time
    stopped_early_at: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_steps(budget_s: float, setup_s: float, step_s: dict[str, float],
               validation_s: float, reserve_s: float = RESERVE_S,
               margin: float = TRAIN_MARGIN) -> Plan:
    """Pick the faster precision and the number of steps that fit what the budget leaves."""
    precision = min(step_s, key=lambda p: step_s[p])
    train_s = budget_s - setup_s - validation_s - reserve_s
    steps = int(max(0.0, train_s) * margin / step_s[precision])
    if steps < 1:
        raise ConfigError(f"time_budget {budget_s:.0f}s leaves no time to train (setup "
                          f"{setup_s:.0f}s, validation about {validation_s:.0f}s); give a longer "
                          "budget or a smaller model.")
    return Plan(budget_s, round(setup_s, 2), {k: round(v, 5) for k, v in step_s.items()},
                precision, round(validation_s, 2), steps,
                train_deadline_s=round(budget_s - validation_s - reserve_s, 2),
                planned_steps=steps)


def candidate_precisions(configured: str | None, accelerator: str) -> list[str]:
    """The precisions worth timing: the configured one, bf16 autocast and full fp32."""
    names = [str(configured)] if configured else []
    names += ["bf16-mixed", "32-true"]
    if accelerator == "gpu":
        names = [n for n in names if n != "32-true"] or ["bf16-mixed"]
    return [n for n in dict.fromkeys(names) if n in ("bf16-mixed", "32-true", "16-mixed")]


def _stepper(net: Any, precision: str, learning_rate: float,
             clip: float | None = None) -> Callable[[dict[str, Any]], float]:
    """A function that trains ``net`` one step on a batch in ``precision`` and returns the
    step's seconds (the optimiser as the run's)."""
    import torch

    from decaqa.answer import autocast

    from decaqa.model import adamw, fused_allowed

    device = next(net.parameters()).device
    opt = adamw(net.parameters(), learning_rate, fused_allowed(precision, clip))  # as the run's
    net.train()

    def step(batch: dict[str, Any]) -> float:
        started = time.perf_counter()
        with autocast(precision, device):
            loss = net(input_ids=batch["input_ids"].to(device),
                       attention_mask=batch["attention_mask"].to(device),
                       labels=batch["labels"].to(device)).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    return step


def measure_step_seconds(module: Any, data: Any, precisions: list[str],
                         steps: int = 40, clip: float | None = None) -> dict[str, float]:
    """The mean seconds of a training step in each precision: each precision trains its
    own copy of the network on the same real batches, batch by batch in turn (the order
    alternating, so a busy moment of the machine falls on both), after three warm-up steps.
    ``clip``: the run's gradient clipping, which decides the optimiser's kernel.

    The mean, as a run pays the mean step, long batches included (on the quickstart the
    median step was 66 ms, the mean 84). Each batch is seen once, as a run sees most of its
    batch shapes for the first time: under bf16 on a CPU, oneDNN builds its kernels for
    each new shape (and keeps the last 1,024). On 23 of the quickstart's batches, on the
    2-core Xeon: bf16 172 ms a step at first sight and 101 at the second, float32 123 and
    115 (`python benchmarks/precision_probe.py --batches 23`). The previous probe timed
    each batch twice and kept the faster time, so it saw bf16 at its second sight and took
    it for runs that then paid its first."""
    module.configure_model()
    batches = data.train_batches(steps + 3)
    lr = module.hparams.learning_rate
    steppers = {p: _stepper(copy.deepcopy(module.model), p, lr, clip) for p in precisions}
    times: dict[str, list[float]] = {p: [] for p in precisions}
    for i, batch in enumerate(batches):
        for precision in (precisions if i % 2 == 0 else precisions[::-1]):
            times[precision].append(steppers[precision](batch))
    return {p: statistics.mean(t[3:] or t) for p, t in times.items()}


def estimate_validation_seconds(module: Any, data: Any, precision: str,
                                sample: int = 24) -> float:
    """Time answering a sample of every task's validation examples (as validation answers
    them: the one answering path, with the task's choices, beams and adapter, in one batch)
    and scale by rows: validation in seconds, on the safe side (batching is cheaper per row
    than this). The untrained network writes no end token, so each answer is cut at the
    longest reference answer of the sample (within the task's cap), which a trained one
    writes about as long: cut at the cap, the estimate was 1.7x the quickstart's validation
    (12 s against 7)."""
    from decaqa.answer import autocast

    total = 0.0
    device = next(module.model.parameters()).device
    for name in data.eval_task_names:
        ds = data.tokenized[data.eval_split][name]
        if not len(ds):
            continue
        rows = min(sample, data.eval_batch_size, len(ds))
        take = ds.select(range(0, len(ds), max(1, len(ds) // rows))[:rows])
        sources = [list(x) for x in take["input_ids"]]
        answering = {**data.answering_of(name), "max_rows": rows}
        cap = answering.get("max_new_tokens") or module.hparams.max_new_tokens
        answering["max_new_tokens"] = max(1, min(cap, max(take["target_length"])))
        started = time.perf_counter()
        with autocast(precision, device):
            module.answer(sources, answering)
        total += (time.perf_counter() - started) * len(ds) / len(sources)
    return total


def make_plan(module: Any, data: Any, budget_s: float, configured_precision: str | None,
              accelerator: str, clip: float | None = None) -> Plan:
    """Measure, then plan: the whole of the budget logic a run calls."""
    precisions = candidate_precisions(configured_precision, accelerator)
    step_s = measure_step_seconds(module, data, precisions, clip=clip)
    precision = min(step_s, key=lambda p: step_s[p])
    validation_s = estimate_validation_seconds(module, data, precision)
    setup_s = time.time() - run_started()
    return plan_steps(budget_s, setup_s, step_s, validation_s)


class BudgetGuard(pl.Callback):
    """Keeps a time budget on the real steps: early in warm-up it
    times the run's own steps (data loading and Lightning's work included, which the probe
    leaves out) and re-sizes ``max_steps`` and the LR schedule to the time left; it does so
    again every tenth of the run on the pace of the steps since (a machine's pace drifts: a
    busy neighbour, longer batches), so the schedule decays to its end instead of being cut;
    and should the run still fall behind, it stops training at the deadline (Lightning then
    validates)."""

    def __init__(self, plan: Plan, calibrate_at: int | None = None, resumed: bool = False):
        self.plan = plan
        self.started = run_started()
        self.calibrate_at = calibrate_at or min(300, max(30, plan.steps // 25))
        self.every = max(100, plan.steps // 10)
        self.resumed = resumed  # a resumed run keeps the plan it recorded: no new timing
        self._mark: tuple[int, float] | None = None  # (step, time) the pace is measured from

    def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
        if self.resumed:
            return
        step, now = int(trainer.global_step), time.time()
        if step == 10:
            self._mark = (step, now)
        elif self._mark is not None and step < 0.9 * self.plan.steps and (
                step == self.calibrate_at or
                (step > self.calibrate_at and step - self._mark[0] >= self.every)):
            step_s = (now - self._mark[1]) / (step - self._mark[0])
            left = self.plan.train_deadline_s - (now - self.started)
            steps = max(step + 1, step + int(left * TRAIN_MARGIN / step_s))
            trainer.fit_loop.epoch_loop.max_steps = steps
            trainer.val_check_batch = steps  # validate once, at the (new) end
            module.total_steps = steps
            if self.plan.calibrated_step_s is None:
                self.plan.calibrated_step_s = round(step_s, 5)
            self.plan.resized.append([step, round(step_s, 5), steps])
            self.plan.steps = steps
            self._mark = (step, now)
        if now - self.started > self.plan.train_deadline_s and not trainer.should_stop:
            self.plan.stopped_early_at = step
            trainer.should_stop = True
