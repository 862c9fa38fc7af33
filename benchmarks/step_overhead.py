"""Step overhead: a training step of `decaqa fit` against a bare torch loop on the same batches.

The quickstart's model (its config: the T5 from scratch with the copy head) and the quickstart's
data (the ten mini-decathlon tasks, its batching), three ways in one process, each from the same
initial weights:

* **bare**: a plain torch loop over a fixed list of real, already collated batches: forward,
  backward, gradient clipping at 1.0, fused AdamW (the run's weight-decay groups), the LR
  schedule's step, zero_grad. Nothing else.
* **lightning, same batches**: decaqa's `Seq2SeqQA` under Lightning's `Trainer` with the
  quickstart's trainer settings, callbacks (best and last checkpoints, the budget guard, the
  run's record, progress lines), CSV and TensorBoard logging, on the same list of batches.
* **fit**: the same, with decaqa's own data loading (the multitask sampler drawing from length
  buckets, collation and padding): the step `decaqa fit` really takes.

A step's time is the wall clock from one batch's start to the next's (data fetching and every
hook included), averaged after ``--warmup`` steps. Then Lightning's SimpleProfiler times the fit
run's actions, and the benchmark prints where the difference goes, per step.

    python benchmarks/step_overhead.py [--steps 150] [--warmup 15] [--rounds 3]
        [--precision bf16-mixed]

The three ways run in interleaved rounds and each way's fastest round counts (on a shared
machine the pace drifts by more than the differences measured: as much as 20% between two
runs of the same loop).

The precision is the quickstart's (bf16-mixed) unless ``--precision`` says otherwise.

Ends with one JSON line: bare_ms, fit_ms, ratio (fit_ms / bare_ms), same_batches_ms,
same_batches_ratio, bare_parts_ms, top_costs ([[action, ms per step], ...], the profiled fit
run's costliest actions outside the model's own forward, backward and optimiser step),
precision, machine.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.profilers import SimpleProfiler
from torch.utils.data import DataLoader

from decaqa.answer import autocast
from decaqa.budget import BudgetGuard, Plan
from decaqa.checkpoints import LastCheckpoint
from decaqa.data import TaskDataModule
from decaqa.model import Seq2SeqQA, adamw, fused_allowed, lr_factor, parameter_groups
from decaqa.provenance import describe_machine
from decaqa.run import LogProgress, RunArtifacts
from decaqa.sampling import Batching, Mixture

ROOT = Path(__file__).resolve().parents[1]
MODEL_COMPUTE = ("training_step", "backward", "optimizer_step", "run_training_batch",
                 "run_training_epoch", "optimizer_zero_grad", "clip_gradients", "lr_scheduler")


def quickstart(copy_head: bool = True) -> tuple[Seq2SeqQA, TaskDataModule, dict]:
    """The quickstart's model (without its copy head if ``copy_head`` is false) and data,
    built as `decaqa fit` builds them."""
    cfg = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    if not copy_head:
        cfg["model"]["copy"] = None
    d = cfg["data"]
    data = TaskDataModule(batching=Batching(**d["batching"]),
                          max_source_tokens=d["max_source_tokens"],
                          max_target_tokens=d["max_target_tokens"],
                          eval_batch_size=d["eval_batch_size"],
                          mixture=Mixture(**d["mixture"]), seed=0)
    m = cfg["model"]
    module = Seq2SeqQA(config=m["config"], copy=m.get("copy"), vocab_size=m["vocab_size"],
                       learning_rate=m["learning_rate"], warmup_steps=m["warmup_steps"],
                       schedule=m["schedule"], max_new_tokens=m["max_new_tokens"])
    connect(module, data)
    return module, data, cfg["trainer"]


def connect(module: Seq2SeqQA, data: TaskDataModule) -> None:
    """What `decaqa fit` does before training: one tokenizer, trained on the run's text and
    handed to the data and the model; the data tokenized; the network built (seed 0)."""
    tokenizer = module.build_tokenizer(data.training_texts)
    data.connect(tokenizer)
    data.setup("fit")
    module.connect(tokenizer, data.answering_info())
    torch.manual_seed(0)
    module.configure_model()


def twin(module: Seq2SeqQA, net: torch.nn.Module) -> Seq2SeqQA:
    """A fresh LightningModule of the same settings over a copy of ``net``."""
    other = Seq2SeqQA(**module.hparams)
    other.connect(module.tokenizer, module.info)
    other.model = copy.deepcopy(net)
    return other


def bare_loop(module: Seq2SeqQA, net: torch.nn.Module, batches: list[dict], warmup: int,
              clip: float, precision: str = "32-true", prepare=None,
              timings: dict | None = None) -> tuple[float, dict[str, float]]:
    """ms per step of a plain loop; and the median ms of each part of a step. ``precision``:
    a Lightning precision name (autocast around the forward); ``prepare``: applied to the
    copy of ``net`` first (to compile it, say); ``timings`` gets ``warmup_s``, the seconds of
    the first ``warmup`` steps (where a compiler compiles)."""
    net = copy.deepcopy(net).train()
    if prepare is not None:
        prepare(net)
    hp = module.hparams
    opt = adamw(parameter_groups(net.named_parameters(), hp.weight_decay), hp.learning_rate,
                fused_allowed(precision, clip))
    total = len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, hp.warmup_steps, total, hp.schedule))
    parts: dict[str, list[float]] = {k: [] for k in ("forward", "backward", "clip", "optimizer")}
    started = first = time.perf_counter()
    for step, batch in enumerate(batches):
        if step == warmup:
            started = time.perf_counter()
            if timings is not None:
                timings["warmup_s"] = started - first
        t0 = time.perf_counter()
        with autocast(precision, torch.device("cpu")):
            loss = net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       labels=batch["labels"]).loss
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        t3 = time.perf_counter()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        t4 = time.perf_counter()
        if step >= warmup:
            for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[name].append(seconds)
    ms = 1000 * (time.perf_counter() - started) / (total - warmup)
    return ms, {k: round(1000 * statistics.median(v), 2) for k, v in parts.items()}


class StepClock(pl.Callback):
    """Wall-clock ms per step after ``warmup`` steps: batch start to batch start."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self.started = self.ended = 0.0
        self.steps = 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.started = time.perf_counter()

    def on_train_end(self, trainer, module) -> None:
        self.ended = time.perf_counter()
        self.steps = trainer.global_step - self.warmup

    @property
    def ms(self) -> float:
        return 1000 * (self.ended - self.started) / max(1, self.steps)


class Record(RunArtifacts):
    """The run's record, timing every step as in a run; its files at the end are not needed."""

    def on_fit_end(self, trainer, module) -> None:
        pass


def lightning_run(module: Seq2SeqQA, steps: int, warmup: int, trainer_cfg: dict, folder: Path,
                  data: TaskDataModule | None = None, batches: list[dict] | None = None,
                  profiler: SimpleProfiler | None = None, precision: str = "32-true") -> float:
    """ms per step of decaqa's step under Lightning, as the quickstart runs it."""
    clock = StepClock(warmup)
    plan = Plan(budget_s=1e9, setup_s=0, step_s={precision: 0.1}, precision=precision,
                validation_s=0, steps=steps, train_deadline_s=1e9, planned_steps=steps)
    callbacks = [clock,
                 ModelCheckpoint(dirpath=folder / "checkpoints", monitor="val/decascore",
                                 mode="max", filename="best", enable_version_counter=False),
                 LastCheckpoint(folder / "checkpoints" / "last.ckpt", 1000),
                 Record(folder, plan), BudgetGuard(plan, resumed=True), LogProgress(30.0)]
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision=precision, max_steps=steps,
                         limit_val_batches=0, num_sanity_val_steps=0,
                         gradient_clip_val=trainer_cfg.get("gradient_clip_val"),
                         log_every_n_steps=trainer_cfg.get("log_every_n_steps", 50),
                         logger=[CSVLogger(folder, name="", version=""),
                                 TensorBoardLogger(folder, name="", version="tb")],
                         enable_model_summary=False, callbacks=callbacks, profiler=profiler,
                         use_distributed_sampler=False, default_root_dir=str(folder))
    if batches is not None:
        trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    else:
        trainer.fit(module, datamodule=data)
    return clock.ms


def top_costs(profiler: SimpleProfiler, steps: int, n: int = 8) -> list[list]:
    """The profiled actions outside the model's own compute, by ms per step."""
    rows = []
    for action, durations in profiler.recorded_durations.items():
        if any(key in action for key in MODEL_COMPUTE) or action.startswith("run_"):
            continue
        rows.append([action, round(1000 * sum(durations) / steps, 3)])
    return sorted(rows, key=lambda r: -r[1])[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of the three ways; the fastest counts")
    parser.add_argument("--precision", default=None,
                        help="default: the quickstart's (its config's trainer.precision)")
    args = parser.parse_args()
    machine = describe_machine()
    print(f"machine: {machine}")
    pl.seed_everything(0, verbose=False)
    module, data, trainer_cfg = quickstart()
    initial = copy.deepcopy(module.model)
    clip = float(trainer_cfg.get("gradient_clip_val") or 1.0)
    precision = args.precision or trainer_cfg.get("precision", "32-true")
    batches = data.train_batches(args.steps)
    params = sum(p.numel() for p in initial.parameters())
    print(f"model: the quickstart's ({params:,} parameters, copy head "
          f"{module.hparams.copy}), {precision}, {args.steps} steps, {args.warmup} warm-up")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # interleaved rounds, the fastest of each way counting: a shared machine's pace drifts
        # by more than the differences measured here, and it only ever slows a way down
        bare, same, fit, parts = [], [], [], {}
        for k in range(args.rounds):
            ms, parts_k = bare_loop(module, initial, batches, args.warmup, clip, precision)
            if not bare or ms < min(bare):
                parts = parts_k
            bare.append(ms)
            same.append(lightning_run(twin(module, initial), args.steps, args.warmup,
                                      trainer_cfg, tmp / f"same{k}", batches=batches,
                                      precision=precision))
            fit.append(lightning_run(twin(module, initial), args.steps, args.warmup,
                                     trainer_cfg, tmp / f"fit{k}", data=data,
                                     precision=precision))
        print("rounds (ms per step): bare " + ", ".join(f"{x:.1f}" for x in bare)
              + "; same batches " + ", ".join(f"{x:.1f}" for x in same)
              + "; fit " + ", ".join(f"{x:.1f}" for x in fit))
        bare_ms, same_ms, fit_ms = min(bare), min(same), min(fit)
        profiler = SimpleProfiler()
        lightning_run(twin(module, initial), args.steps, args.warmup, trainer_cfg,
                      tmp / "profiled", data=data, profiler=profiler, precision=precision)
        costs = top_costs(profiler, args.steps)

    print(f"\n{'':28} {'ms/step':>8} {'x bare':>7}")
    print(f"{'bare torch loop':28} {bare_ms:8.2f} {1.0:7.3f}   parts (median ms): "
          + ", ".join(f"{k} {v}" for k, v in parts.items()))
    print(f"{'lightning, same batches':28} {same_ms:8.2f} {same_ms / bare_ms:7.3f}")
    print(f"{'decaqa fit (its data path)':28} {fit_ms:8.2f} {fit_ms / bare_ms:7.3f}")
    print("\nwhere the rest goes (Lightning's SimpleProfiler on the fit run, ms per step, "
          "the model's own compute left out):")
    for action, ms in costs:
        print(f"  {ms:8.3f}  {action}")
    result = {"bare_ms": round(bare_ms, 2), "fit_ms": round(fit_ms, 2),
              "ratio": round(fit_ms / bare_ms, 3), "same_batches_ms": round(same_ms, 2),
              "same_batches_ratio": round(same_ms / bare_ms, 3), "bare_parts_ms": parts,
              "top_costs": costs, "precision": precision, "machine": machine}
    sys.stderr.flush()
    print(json.dumps(result), flush=True)  # the last line: one JSON object


if __name__ == "__main__":
    main()
