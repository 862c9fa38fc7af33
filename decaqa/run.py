"""What a run leaves behind, and the LightningCLI that starts it.

`decaqa fit --config configs/x.yaml` is LightningCLI with decaqa's defaults: a run folder
(`runs/<config name>/`), CSV and TensorBoard logs there, checkpoints on the decaScore, a rich
progress bar, and at the end `metrics.json` (every figure with what produced it), the realised
task mixture and a HuggingFace-format export in `model/`.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint, ProgressBar, RichProgressBar
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from rich.console import Console

import decaqa
from decaqa import store
from decaqa.budget import BudgetGuard, Plan
from decaqa.checkpoints import AtomicCheckpointIO, LastCheckpoint
from decaqa.data import TaskDataModule
from decaqa.errors import CheckpointError, ConfigError, require_file
from decaqa.model import Seq2SeqQA
from decaqa.provenance import provenance, run_started
from decaqa.report import plot_curves, print_table
from decaqa.results import document, write_predictions


def shards_weights(trainer: pl.Trainer) -> bool:
    """Whether the strategy holds the parameters in shards (FSDP, DeepSpeed)."""
    from pytorch_lightning.strategies import DeepSpeedStrategy, FSDPStrategy

    return isinstance(trainer.strategy, (FSDPStrategy, DeepSpeedStrategy))


def summed_over_ranks(trainer: pl.Trainer, counts: dict[str, int]) -> dict[str, int]:
    """Per-task counts added up over the ranks of a distributed run (each rank draws its own
    stream of batches); unchanged on one process."""
    if trainer.world_size == 1:
        return dict(counts)
    names = list(trainer.datamodule.task_names)
    local = torch.tensor([counts.get(n, 0) for n in names], dtype=torch.long,
                         device=trainer.strategy.root_device)
    total = trainer.strategy.reduce(local, reduce_op="sum")
    return {n: int(c) for n, c in zip(names, total.tolist()) if c}


class RunArtifacts(pl.Callback):
    """Writes metrics.json, mixture.json and model/ at the end of fit (rank zero only).

    Its own state (the best validation so far, the validation timings, the time spent, the
    budget's plan) goes into every checkpoint, so a resumed run writes what the
    uninterrupted one would have.
    """

    def __init__(self, run_dir: str | Path, plan: Plan | None = None):
        self.run_dir = Path(run_dir)
        self.plan = plan
        self.best: dict[str, Any] | None = None
        self.started = run_started()
        self.elapsed_before = 0.0  # seconds spent by the run before it was resumed
        self.validation_s: list[float] = []
        self.training_s = 0.0      # in the training loop, validation left out
        self._val_started = self._train_started = 0.0

    def elapsed(self) -> float:
        return self.elapsed_before + time.time() - self.started

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "validation_s": list(self.validation_s),
                "elapsed_s": round(self.elapsed(), 2), "training_s": round(self.training(), 2),
                "plan": self.plan.to_dict() if self.plan is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")
        self.validation_s = list(state.get("validation_s", []))
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.training_s = float(state.get("training_s", 0.0))

    def training(self) -> float:
        """Seconds in the training loop so far (validations left out)."""
        running = time.time() - self._train_started if self._train_started else 0.0
        return self.training_s + running

    def on_train_start(self, trainer: pl.Trainer, module: Seq2SeqQA) -> None:
        self._train_started = time.time()

    def on_train_end(self, trainer: pl.Trainer, module: Seq2SeqQA) -> None:
        self.training_s, self._train_started = self.training(), 0.0

    def on_validation_start(self, trainer: pl.Trainer, module: Seq2SeqQA) -> None:
        self._val_started = time.time()
        if self._train_started and not trainer.sanity_checking:  # not training meanwhile
            self.training_s, self._train_started = self.training(), 0.0

    def on_validation_end(self, trainer: pl.Trainer, module: Seq2SeqQA) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._train_started = time.time()
        if trainer.sanity_checking or module.results is None:
            return
        self.validation_s.append(round(time.time() - self._val_started, 2))
        if self.best is None or module.results["decascore"] >= self.best["decascore"]:
            self.best = dict(module.results, predictions=list(module.predictions))

    def on_fit_end(self, trainer: pl.Trainer, module: Seq2SeqQA) -> None:
        data: TaskDataModule = trainer.datamodule
        mixture = {"strategy": data.mixture.strategy,
                   "rates": getattr(data.sampler, "rates", {}),
                   "examples_seen": summed_over_ranks(trainer, data.realised_mixture())}
        # every rank takes part in gathering the weights (sharded under FSDP/DeepSpeed)
        best_path = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
        from_best = bool(best_path and self.best is not None
                         and self.best["step"] != trainer.global_step)
        state = None if from_best else trainer.strategy.lightning_module_state_dict()
        if not trainer.is_global_zero:
            return
        if from_best:
            state = store.read_checkpoint(best_path)["state_dict"]  # the best weights
        self.run_dir.mkdir(parents=True, exist_ok=True)
        model_dir = module.export(self.run_dir / module.export_name, state,
                                  fresh=shards_weights(trainer), **data.answering_info(),
                                  decaqa_version=decaqa.__version__)
        (self.run_dir / "mixture.json").write_text(json.dumps(mixture, indent=2))
        written = [model_dir, self.run_dir / "mixture.json"]
        if self.best is not None:
            doc = document(self.best, provenance(trainer, module, data, best_path))
            doc["provenance"]["mixture"] = mixture
            doc["provenance"]["train_seconds"] = round(self.elapsed(), 1)
            doc["provenance"]["training_loop_seconds"] = round(self.training(), 1)
            doc["provenance"]["precision"] = str(trainer.precision)
            doc["provenance"]["validation_seconds"] = self.validation_s
            if self.plan is not None:
                doc["provenance"]["time_budget"] = self.plan.to_dict()
            (self.run_dir / "metrics.json").write_text(json.dumps(doc, indent=2))
            write_predictions(self.run_dir / "predictions.jsonl", self.best["predictions"])
            written += [self.run_dir / "metrics.json", self.run_dir / "predictions.jsonl"]
            print_table(self.best, title=f"decaqa fit: best validation (step {self.best['step']})")
        curves = self.write_curves(trainer)
        if curves is not None:
            written.append(curves)
        console = Console(stderr=True)
        console.print("[bold]Written:[/bold]")
        for path in written + [self.run_dir / "checkpoints", self.run_dir / "metrics.csv"]:
            console.print(f"  {path}")

    def write_curves(self, trainer: pl.Trainer) -> Path | None:
        """curves.png from the run's CSV log: training loss and each task's headline
        validation metric against step."""
        for logger in trainer.loggers:
            logger.save()  # flush what is buffered, so the last validation is drawn
        csv = next((Path(lg.log_dir) / "metrics.csv" for lg in trainer.loggers
                    if isinstance(lg, CSVLogger)), self.run_dir / "metrics.csv")
        headline = ({t: v["metric"] for t, v in self.best["tasks"].items()}
                    if self.best is not None else None)
        return plot_curves(csv, self.run_dir / "curves.png", headline)


class LogProgress(ProgressBar):
    """Plain progress lines for a log file: the progress bar when stdout is not a terminal.

    A rich bar redraws one line in place, which a job log or CI never shows; this prints
    ``step, loss, examples/s, elapsed, time left`` every ``every_s`` seconds (and at the last
    step), so ``tail -f`` on the log shows a live run. Lightning has no plain-text bar of its
    own, so this small one is ours.
    """

    def __init__(self, every_s: float = 30.0):
        super().__init__()
        self.every_s = every_s
        self._enabled = True
        self._started = self._last = 0.0
        self._examples = 0
        self._val_started = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def _print(self, text: str) -> None:
        if self._enabled:
            print(f"decaqa: {text}", flush=True)

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._started = self._last = time.time()
        self._examples = 0
        self._print(f"training for {self._total(trainer)} steps")

    @staticmethod
    def _total(trainer: pl.Trainer) -> int:
        return int(trainer.max_steps if trainer.max_steps > 0
                   else trainer.estimated_stepping_batches)

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._examples += int(batch["input_ids"].size(0))
        now, step, total = time.time(), int(trainer.global_step), self._total(trainer)
        if now - self._last < self.every_s and step < total:
            return
        self._last = now
        elapsed = now - self._started
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        left = elapsed / max(step, 1) * max(total - step, 0)
        self._print(f"step {step}/{total}  loss {float(loss):.4f}  "
                    f"{self._examples / max(elapsed, 1e-9):.1f} examples/s  "
                    f"elapsed {_clock(elapsed)}  left {_clock(left)}")

    def on_validation_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_started = time.time()
            self._print(f"validating at step {trainer.global_step}")

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        score = trainer.callback_metrics.get("val/decascore")
        text = f" decaScore {float(score):.1f}" if score is not None else ""
        self._print(f"validated in {_clock(time.time() - self._val_started)}{text}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"


CHECKPOINT_EVERY_N_STEPS = 1000



class DecaqaCLI(LightningCLI):
    """LightningCLI with decaqa's run folder, loggers and callbacks filled in."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--run_dir", type=str | None, default=None,
                            help="where the run writes everything (default runs/<config name>)")
        parser.add_argument("--time_budget", type=str | None, default=None,
                            help="wall-clock budget for the whole run (e.g. 9m): the faster "
                                 "precision is measured and max_steps sized to fit")
        parser.add_argument("--progress_interval", type=float, default=30.0,
                            help="seconds between progress lines when stdout is not a "
                                 "terminal (a log file, CI)")
        parser.add_argument("--checkpoint_every_n_steps", type=int,
                            default=CHECKPOINT_EVERY_N_STEPS,
                            help="write runs/<name>/checkpoints/last.ckpt every N training "
                                 "steps (and at each validation), so a killed run resumes "
                                 "with --ckpt_path last")

    def _top(self, key: str, default: Any) -> Any:
        """A top-level key of the run config (beside trainer/model/data)."""
        cfg = self.config.get(str(self.subcommand), self.config)
        value = cfg.get(key)
        return default if value is None else value

    def _run_dir(self) -> Path:
        cfg = self.config.get(str(self.subcommand), self.config)
        if cfg.get("run_dir"):
            return Path(cfg["run_dir"])
        configs = cfg.get("config") or []
        # the first config names the run; later ones are overlays (configs/scale/*.yaml)
        name = Path(str(configs[0])).stem if configs else "default"
        return Path("runs") / name

    def _ckpt_path(self) -> str | None:
        """The checkpoint this command starts from, if any (``last``: the run's own, which
        must exist: a resume that silently trained from scratch would waste the run)."""
        value = self._top("ckpt_path", None)
        if value == "last":
            last = self._run_dir() / "checkpoints" / "last.ckpt"
            if not last.exists():
                raise CheckpointError(f"There is no checkpoint to resume: {last} does not "
                                      "exist; run without --ckpt_path to start afresh, or give "
                                      "the checkpoint's path.")
            self.config_init[str(self.subcommand)]["ckpt_path"] = str(last)  # for Lightning too
            return str(last)
        return None if value in (None, "best", "hpc", "registry") else str(value)

    def _checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint this command starts from, read once (as data only)."""
        path = self._ckpt_path()
        if path is None:
            return None
        if getattr(self, "_read", (None, None))[0] != path:
            self._read = (path, store.read_checkpoint(path))
        return self._read[1]

    def connect_tokenizer(self) -> None:
        """The run owns the tokenizer: restored from the checkpoint it resumes or evaluates
        (never retrained), else built once from the model's settings; then handed to the
        data and to the model, with what answering needs."""
        module: Seq2SeqQA = self.model
        data: TaskDataModule = self.datamodule
        store.check_task_beams(module.hparams.get("task_beams"), data.tasks_dir)
        ckpt = self._checkpoint()
        tokenizer = (store.checkpoint_tokenizer(ckpt) if ckpt is not None
                     else module.build_tokenizer(data.training_texts))
        data.connect(tokenizer)
        data.setup("validate" if self.subcommand in ("validate", "test") else "fit")
        module.connect(tokenizer, data.answering_info())

    def plan_budget(self, cfg: dict[str, Any], kwargs: dict[str, Any]) -> Plan | None:
        """With ``--time_budget``: time each precision, size the steps, set the trainer."""
        from decaqa.budget import make_plan, parse_duration

        budget = parse_duration(self._top("time_budget", None))
        if budget is None or self.subcommand != "fit":
            return None
        ckpt = self._checkpoint()
        saved = store.checkpoint_callback_state(ckpt, "RunArtifacts").get("plan")
        if saved:  # resumed: the plan the run recorded, not a new one
            plan = Plan(**saved)
            kwargs.update(precision=plan.precision, max_steps=plan.steps,
                          val_check_interval=plan.steps, check_val_every_n_epoch=None)
            return plan
        accelerator = str(cfg.get("accelerator") or "auto")
        accelerator = "gpu" if accelerator in ("gpu", "cuda") or (
            accelerator == "auto" and torch.cuda.is_available()) else "cpu"
        plan = make_plan(self.model, self.datamodule, budget, cfg.get("precision"), accelerator,
                         cfg.get("gradient_clip_val"))
        kwargs.update(precision=plan.precision, max_steps=plan.steps,
                      val_check_interval=plan.steps, check_val_every_n_epoch=None)
        Console(stderr=True).print(
            f"[bold]time budget[/bold] {budget:.0f}s: {plan.precision} "
            f"({', '.join(f'{p} {s * 1000:.0f} ms' for p, s in plan.step_s.items())} per step), "
            f"{plan.steps} steps, validation about {plan.validation_s:.0f}s, "
            f"setup {plan.setup_s:.0f}s")
        return plan

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        self.connect_tokenizer()
        run_dir = self._run_dir()
        cfg = self._get(self.config_init, "trainer", default={})
        plan = self.plan_budget(cfg, kwargs)
        callbacks = list(cfg.get("callbacks") or [])
        every = int(self._top("checkpoint_every_n_steps", CHECKPOINT_EVERY_N_STEPS))
        if every < 1:
            raise ConfigError(f"checkpoint_every_n_steps must be at least 1, got {every}.")
        checkpoints = run_dir / "checkpoints"
        callbacks += [ModelCheckpoint(dirpath=checkpoints, monitor="val/decascore",
                                      mode="max", filename="best",
                                      enable_version_counter=False),
                      LastCheckpoint(checkpoints / "last.ckpt", every),
                      RunArtifacts(run_dir, plan)]
        if plan is not None:
            callbacks.append(BudgetGuard(plan, resumed=self._checkpoint() is not None))
        kwargs["plugins"] = [*(cfg.get("plugins") or []), AtomicCheckpointIO()]
        kwargs.setdefault("use_distributed_sampler", False)  # the data module shards itself
        if cfg.get("enable_progress_bar") is not False:  # logs and CI may switch it off
            callbacks.append(RichProgressBar(refresh_rate=10) if sys.stdout.isatty()
                             else LogProgress(self._top("progress_interval", 30.0)))
        kwargs.setdefault("callbacks", callbacks)
        if cfg.get("logger") in (None, True):
            kwargs.setdefault("logger", [CSVLogger(run_dir, name="", version=""),
                                         TensorBoardLogger(run_dir, name="", version="tb")])
        kwargs.setdefault("default_root_dir", str(run_dir))
        return super().instantiate_trainer(**kwargs)


def cli_main(args: list[str]) -> None:
    """`decaqa fit|validate|test ...`: Lightning's CLI over decaqa's model and data."""
    from jsonargparse import ArgumentError

    check_config_args(args)
    check_ckpt_arg(args)
    # the command line is exactly ``args``: LightningCLI reads it from sys.argv, and so does a
    # DDP launcher that starts the same command once per process
    argv, sys.argv = sys.argv, [sys.argv[0], *args]
    quiet = {"exit_on_error": False}  # a parse error raises, and is said in one sentence below
    try:
        DecaqaCLI(Seq2SeqQA, TaskDataModule, save_config_kwargs={"overwrite": True},
                  parser_kwargs={**quiet, **{c: quiet for c in ("fit", "validate", "test")}})
    except ArgumentError as err:
        raise ConfigError(config_sentence(str(err), args[0] if args else "fit")) from None
    finally:
        sys.argv = argv


def config_sentence(message: str, command: str) -> str:
    """jsonargparse's multi-line parser message as one sentence with the fix."""
    lines = [line.strip() for line in message.splitlines() if line.strip()
             and not line.strip().startswith(("tip:", "usage:", "["))]
    text = " ".join(lines).rstrip(".")
    return (f"The run's settings are not valid: {text}; fix the config or the option "
            f"(`decaqa {command} --help` lists every key and its type).")


def check_config_args(args: list[str]) -> None:
    """Each --config file must exist and be a YAML mapping; said with its name and line
    (jsonargparse would print its usage and a message that names no file)."""
    import yaml

    for i, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("--config=") else (
            args[i + 1] if arg in ("--config", "-c") and i + 1 < len(args) else None)
        if value is None:
            continue
        path = require_file(value, "Config file", "give a YAML file such as "
                            "configs/quickstart.yaml.", ConfigError)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"Config file {path} is not UTF-8 text; save it as UTF-8 "
                              "YAML.") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or type(err).__name__
            raise ConfigError(f"Config file {path} is not valid YAML ({problem}{where}); fix "
                              "it (keys and values as in configs/quickstart.yaml).") from None
        if doc is not None and not isinstance(doc, dict):
            raise ConfigError(f"Config file {path} holds a {type(doc).__name__}, not a mapping "
                              "of settings; write keys such as trainer:, model:, data:.")


def check_ckpt_arg(args: list[str]) -> None:
    """A corrupt, truncated or unsafe --ckpt_path ends in one sentence, before LightningCLI
    reads it (it parses the checkpoint's hyperparameters before anything of ours runs)."""
    for i, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("--ckpt_path=") else (
            args[i + 1] if arg == "--ckpt_path" and i + 1 < len(args) else None)
        if value and value not in ("last", "best", "hpc", "registry", "null"):
            store.read_checkpoint(value)
