"""`decaqa compare`: every way of adding tasks to a trained model, side by side, on your tasks.

Given a trained base, tasks it already knows (``old_tasks``) and tasks it does not
(``new_tasks``: any registered task, or your own through ``tasks_dir``), each *row* adds the
new tasks one way and is measured the same way:

* ``zero_shot``: the base as it is;
* ``multitask``: all weights, the new tasks mixed with the old (half the steps rehearse the
  old ones): the generalist; ``sequential``: all weights, the new tasks only (the naive
  fine-tune); ``full_per_task``: one full copy per new task;
* one adapter per new task over the frozen base: ``lora``, ``ia3``, ``prefix``, ``prompt``,
  ``ln_tuning``, ``bitfit`` (on a base with bias terms), ``houlsby``, ``adapterbias``; one
  LoRA for all new tasks (``lora_shared``) and Poly's routed skills (``lora_routed``);
* ``lora_merged_linear`` / ``_ties`` / ``_dare_ties`` (and peft's exact ``_cat`` and ``_svd``):
  the per-task LoRAs merged into one with peft's ``add_weighted_adapter``, scored against
  routing each task to its own.

Each row: every new task's validation score and their mean; the old tasks' decaScore before
(the base) and after (forgetting: an adapter row answers them through the untouched base, so
its forgetting is measured, not assumed); trainable parameters; bytes on disk for all new
tasks (measured from the files); seconds in the training loop; answering ms per question.

The learning rate of each row is chosen from a small sweep (``learning_rates``) by short runs
scored on a slice held out of the training rows (``heldout`` per task), never on validation;
the rows then train at the full budget on the remaining training rows. Rows are runs of
`decaqa fit` and `decaqa evaluate` (the one training and answering path), each in its own
folder; a finished row is recorded in ``rows/<name>.json``, so a killed compare started again
skips what it finished (the row that was killed starts afresh).

Written here, not taken from a library: the protocol (which runs, which data, what is
measured); merging is peft's, training Lightning's, charts matplotlib's.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Sequence

from decaqa.errors import ConfigError, require_file
from decaqa.results import write_predictions

FULL_ROWS = ("zero_shot", "multitask", "sequential", "full_per_task")
ADAPTER_ROWS = {"lora": {"method": "lora"}, "ia3": {"method": "ia3"},
                "prefix": {"method": "prefix"}, "prompt": {"method": "prompt"},
                "ln_tuning": {"method": "ln_tuning"}, "bitfit": {"method": "bitfit"},
                "houlsby": {"method": "houlsby"}, "adapterbias": {"method": "adapterbias"},
                "lora_shared": {"method": "lora", "mode": "shared"},
                "lora_routed": {"method": "lora", "mode": "routed"}}
MERGED_ROWS = {"lora_merged_linear": "linear", "lora_merged_ties": "ties",
               "lora_merged_dare_ties": "dare_ties",
               # peft's exact merges, to tell its approximations from the tasks' interference:
               # cat sums the updates exactly (rank n x r), svd cuts that sum back to rank r
               "lora_merged_cat": "cat", "lora_merged_svd": "svd"}
METHODS = (*FULL_ROWS, *ADAPTER_ROWS, *MERGED_ROWS)
# the rates each row's sweep tries (a row's group: full weights, or its adapter method)
RATES = {"full": [1e-4, 3e-4, 1e-3], "lora": [1e-3, 3e-3, 1e-2], "ia3": [3e-3, 1e-2, 3e-2],
         "prefix": [3e-3, 1e-2, 3e-2], "prompt": [1e-2, 3e-2, 1e-1],
         "ln_tuning": [1e-3, 3e-3, 1e-2], "bitfit": [1e-3, 3e-3, 1e-2],
         "houlsby": [1e-3, 3e-3, 1e-2], "adapterbias": [3e-3, 1e-2, 3e-2]}
WEIGHTS = ("*.safetensors", "config.json", "adapter_config.json")


@dataclass
class CompareSettings:
    """``configs/compare.yaml``; every field but ``base`` and ``new_tasks`` has a default.

    base: a run's ``model/`` folder, a ``.ckpt`` or a hub name: the trained model.
    new_tasks: the tasks to add; old_tasks: tasks the base knows, scored before and after.
    methods: the rows to run (`METHODS`), in this order.
    steps_per_task: the budget: training steps per new task (a per-task row trains this
        many on each task; a row over all new tasks this many times their number).
    sweep_steps_per_task: the same for the short runs that choose the learning rate.
    learning_rates: rates to sweep, by group (``full`` or an adapter method); one rate is
        no sweep. Default `RATES`.
    heldout: training rows per new task held out to score the sweep on.
    val_limit, old_val_limit: validation examples per new / old task (None: all).
    batch_size, max_tokens, max_target_tokens: training batches (rows, tokens) and targets.
    precision: the runs' precision (default: the base's).
    merge_density: the share of weights TIES and DARE keep when merging.
    data_files: local files per task and split, for your own tasks (``{task: {train: [..],
        validation: [..]}}``); tasks_dir: folders of your own converter files.
    """

    base: str = ""
    new_tasks: list[str] = field(default_factory=list)
    old_tasks: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    steps_per_task: int = 300
    sweep_steps_per_task: int = 100
    learning_rates: dict[str, list[float]] = field(default_factory=dict)
    heldout: int = 100
    val_limit: int | None = 200
    old_val_limit: int | None = 50
    batch_size: int = 24
    max_tokens: int | None = 2048
    max_target_tokens: int = 96
    precision: str | None = None
    merge_density: float = 0.5
    seed: int = 0
    data_files: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    tasks_dir: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.base:
            raise ConfigError("compare needs a base: set base to a run's model folder "
                              "(runs/<name>/model), a .ckpt or a hub name.")
        if not self.new_tasks:
            raise ConfigError("compare needs new_tasks: the tasks to add to the base.")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"Unknown compare method '{unknown[0]}'; use any of "
                              f"{', '.join(METHODS)}.")
        both = sorted(set(self.new_tasks) & set(self.old_tasks))
        if both:
            raise ConfigError(f"{', '.join(both)} is in both new_tasks and old_tasks; a task "
                              "is either new to the base or one it knows.")
        for key in ("steps_per_task", "sweep_steps_per_task", "batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1, got {getattr(self, key)}.")
        for group, rates in self.learning_rates.items():
            if group not in RATES:
                raise ConfigError(f"learning_rates names '{group}'; use full or an adapter "
                                  f"method ({', '.join(r for r in RATES if r != 'full')}).")
            if not rates or any(not (isinstance(r, (int, float)) and r > 0) for r in rates):
                raise ConfigError(f"learning_rates.{group} must be a list of positive rates, "
                                  f"got {rates!r}.")

    @classmethod
    def read(cls, path: str | Path, **overrides: Any) -> "CompareSettings":
        """A YAML file's settings (unknown keys are one sentence), with ``overrides``."""
        import yaml

        file = require_file(path, "Config file", "give the path of a compare config such as "
                            "configs/compare.yaml.", ConfigError)
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"Config file {file} is not valid YAML ({err.__class__.__name__}"
                              "); fix it.") from err
        if not isinstance(data, dict):
            raise ConfigError(f"Config file {file} holds a {type(data).__name__}, not a "
                              "mapping of compare settings.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{file} has unknown keys {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known))}.")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)

    def rates(self, group: str) -> list[float]:
        return list(self.learning_rates.get(group) or RATES[group])


@contextlib.contextmanager
def into(log: Path) -> Iterator[None]:
    """A run's output into its log file: stdout, stderr and Lightning's log handlers (bound
    to the stderr of the moment they were made, so they are pointed at the file and back)."""
    import logging

    import pytorch_lightning  # noqa: F401  (its handlers exist, bound to the real stderr)

    handlers = [h for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch")
                for h in logging.getLogger(name).handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
    with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        streams = [h.setStream(f) for h in handlers]
        try:
            yield
        finally:
            for h, stream in zip(handlers, streams):
                h.setStream(stream)


def group_of(method: str) -> str:
    """The learning-rate group of a row: ``full`` or its adapter method."""
    return ADAPTER_ROWS[method]["method"] if method in ADAPTER_ROWS else "full"


def weights_bytes(folder: Path) -> int:
    """Bytes of the weights and their configs under ``folder`` (no tokenizer, no logs)."""
    from decaqa.adapters import file_bytes

    return file_bytes(*[f for pattern in WEIGHTS for f in Path(folder).rglob(pattern)])


class Compare:
    """One comparison: its folder, its settings, its rows (finished ones read back)."""

    def __init__(self, settings: CompareSettings, out: str | Path,
                 say: Any = None):
        self.s = settings
        self.out = Path(out).resolve()
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.base = settings.base
        self.rows: dict[str, dict[str, Any]] = {}
        self.sweeps: dict[str, dict[str, Any]] = {}

    # -- the pieces every row is made of --------------------------------------------------
    def _log(self, name: str) -> Path:
        path = self.out / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def fit(self, run_dir: Path, tasks: Sequence[str], steps: int, lr: float,
            adapter: dict | None = None, heldout: bool = False,
            mixture: dict[str, float] | None = None) -> dict[str, Any]:
        """One `decaqa fit` over the base, in this process; its metrics.json."""
        from decaqa.cli import run

        if run_dir.exists():  # a row killed part-way starts afresh
            shutil.rmtree(run_dir)
        files = {t: {"train": [str(self.train_file(t))]} for t in tasks
                 if t in self.s.new_tasks}
        for t in tasks:
            if t not in files and t in self.s.data_files:
                files[t] = dict(self.s.data_files[t])
        for t in files:
            if heldout:
                files[t]["validation"] = [str(self.heldout_file(t))]
            elif "validation" in self.s.data_files.get(t, {}):
                files[t]["validation"] = list(self.s.data_files[t]["validation"])
        args = ["fit", "--run_dir", str(run_dir), "--seed_everything", str(self.s.seed),
                "--model.model", str(self.base), "--model.config", "null",
                "--model.learning_rate", str(lr), "--model.warmup_steps",
                str(max(1, steps // 10)), "--model.schedule", "linear",
                "--model.max_new_tokens", str(self.info.generation.max_new_tokens),
                "--trainer.max_steps", str(steps), "--trainer.val_check_interval", str(steps),
                "--trainer.check_val_every_n_epoch", "null", "--trainer.num_sanity_val_steps",
                "0", "--trainer.gradient_clip_val", "1.0", "--trainer.precision",
                self.s.precision or self.info.precision, "--trainer.enable_progress_bar",
                "false", "--trainer.enable_model_summary", "false", "--trainer.logger", "false",
                "--checkpoint_every_n_steps", str(10 * steps),
                "--data.tasks", json.dumps(list(tasks)), "--data.data_files", json.dumps(files),
                "--data.val_limit", json.dumps(self.s.val_limit),
                "--data.mixture.strategy", "equal",
                "--data.mixture.weights", json.dumps(mixture or {}),
                "--data.max_source_tokens", str(self.info.max_source_tokens),
                "--data.max_target_tokens", str(self.s.max_target_tokens),
                "--data.batching.batch_size", str(self.s.batch_size),
                "--data.batching.max_tokens", json.dumps(self.s.max_tokens),
                "--data.eval_batch_size", str(self.info.eval_batch_size)]
        if self.s.tasks_dir:
            args += ["--data.tasks_dir", json.dumps(list(self.s.tasks_dir))]
        if adapter is not None:
            args += ["--model.adapter", json.dumps(adapter)]
        log = self._log(run_dir.relative_to(self.out).as_posix().replace("/", "_"))
        with into(log):
            code = run(args)
        if code != 0:
            sentence = log.read_text().strip().splitlines()[-1:] or [""]
            raise FitFailed(sentence[0].removeprefix("decaqa: "), log)
        return json.loads((run_dir / "metrics.json").read_text())

    def evaluate(self, model: Path | str, tasks: Sequence[str], limit: int | None,
                 name: str) -> tuple[dict[str, float], list[dict]]:
        """Scores of ``tasks`` through the model (an export or an adapters folder), by
        `decaqa evaluate`'s path, and its predictions. Every way answers every task with the
        base's ``num_beams``, tasks with beams of their own (``task_beams``) included: the base
        and each way are scored alike (a way's fit records no beams of its own, and a routed
        adapter cannot beam)."""
        from decaqa.evaluate import evaluate_model

        if not tasks:
            return {}, []
        files = [f"{t}={f}" for t in tasks
                 for f in self.s.data_files.get(t, {}).get("validation", [])]
        with into(self._log(f"evaluate_{name}")):
            results, preds = evaluate_model(str(model), ",".join(tasks), limit=limit,
                                            data_files=files or None,
                                            tasks_dir=self.s.tasks_dir or None,
                                            precision=self.s.precision,
                                            num_beams=self.info.generation.num_beams)
        return {t: results["tasks"][t]["score"] for t in tasks}, preds

    def answer_ms(self, models: dict[str, Path | str]) -> float:
        """Answering ms per question: each new task's held-out rows (up to 64) asked through
        the model that answers that task (``{task: folder}``) with `QA.predict`, after a
        warm-up of 4, timed apart from loading."""
        from decaqa.qa import load

        total, asked = 0.0, 0
        loaded: dict[str, Any] = {}
        for task, folder in models.items():
            if str(folder) not in loaded:  # one load per model, not one per task
                loaded[str(folder)] = load(folder)
            qa = loaded[str(folder)]
            rows = [json.loads(line) for line in open(self.heldout_file(task))][:64]
            with contextlib.redirect_stderr(io.StringIO()):
                qa.predict(task, rows[:4], tasks_dir=self.s.tasks_dir or None)
                started = time.perf_counter()
                asked += len(qa.predict(task, rows, tasks_dir=self.s.tasks_dir or None))
                total += time.perf_counter() - started
        return 1000 * total / max(1, asked)

    # -- data: the held-out slice ----------------------------------------------------------
    def train_file(self, task: str) -> Path:
        return self.out / "data" / task / "train.jsonl"

    def heldout_file(self, task: str) -> Path:
        return self.out / "data" / task / "heldout.jsonl"

    def split_training_rows(self) -> dict[str, dict[str, int]]:
        """Hold ``heldout`` rows of each new task's training split out (a seeded draw):
        the sweeps are scored on them, every run trains on the rest."""
        import datasets

        from decaqa.datafiles import load_rows
        from decaqa.tasks import get_task

        datasets.disable_progress_bars()
        counts = {}
        for task in self.s.new_tasks:
            train, held = self.train_file(task), self.heldout_file(task)
            if not (train.exists() and held.exists()):
                rows = load_rows(get_task(task, self.s.tasks_dir or None), "train",
                                 self.s.data_files.get(task, {}).get("train"))
                if len(rows) < 2 * self.s.heldout:
                    raise ConfigError(f"Task '{task}' has {len(rows)} training rows, too few "
                                      f"to hold {self.s.heldout} out for choosing the learning "
                                      "rate; lower heldout or give more rows.")
                order = rows.shuffle(seed=self.s.seed)
                train.parent.mkdir(parents=True, exist_ok=True)
                order.select(range(self.s.heldout)).to_json(str(held), lines=True)
                order.select(range(self.s.heldout, len(rows))).to_json(str(train), lines=True)
            counts[task] = {"heldout": sum(1 for _ in open(held)),
                            "train": sum(1 for _ in open(train))}
        return counts

    # -- the learning rate: short runs scored on the held-out rows ----------------------------
    def choose_rate(self, method: str) -> float:
        group = group_of(method)
        key = group if method in ("multitask", "sequential", "full_per_task") else method
        rates = self.s.rates(group)
        if len(rates) == 1:
            return rates[0]
        record = self.out / "sweeps" / f"{key}.json"
        if record.exists():
            return json.loads(record.read_text())["chosen"]
        steps = self.s.sweep_steps_per_task * len(self.s.new_tasks)
        scores = {}
        for k, lr in enumerate(rates, 1):
            self.say(f"  sweep {key}: rate {lr:g} ({k}/{len(rates)}), {steps} steps")
            doc = self.fit(self.out / "sweeps" / key / f"{lr:g}", self.s.new_tasks, steps,
                           lr, adapter=ADAPTER_ROWS.get(method), heldout=True)
            scores[lr] = sum(doc["tasks"][t]["score"] for t in self.s.new_tasks) / len(
                self.s.new_tasks)
        chosen = max(rates, key=lambda r: (scores[r], -rates.index(r)))
        record.write_text(json.dumps({"chosen": chosen, "heldout_scores": {
            f"{r:g}": round(v, 2) for r, v in scores.items()}, "steps": steps}, indent=2))
        shutil.rmtree(self.out / "sweeps" / key, ignore_errors=True)  # weights not kept
        return chosen

    # -- the rows -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from decaqa.provenance import describe_machine
        from decaqa.store import ExportInfo, model_info

        self.out.mkdir(parents=True, exist_ok=True)
        self.info = model_info(self.base) if Path(self.base).exists() else ExportInfo()
        self.base_bytes = (weights_bytes(Path(self.base)) if Path(self.base).is_dir()
                           else Path(self.base).stat().st_size if Path(self.base).exists()
                           else 0)
        machine = describe_machine()
        self.say(f"compare: {len(self.s.methods)} rows over {self.base}; new tasks "
                 f"{', '.join(self.s.new_tasks)}; old tasks {', '.join(self.s.old_tasks)}; "
                 f"{self.s.steps_per_task} steps per new task")
        data = self.split_training_rows()
        # zero_shot first (every row's "before"); lora before the merges that need it
        methods = ["zero_shot", *[m for m in self.s.methods if m != "zero_shot"]]
        if any(m in MERGED_ROWS for m in methods) and "lora" not in methods:
            methods.insert(min(methods.index(m) for m in MERGED_ROWS if m in methods), "lora")
        for k, name in enumerate(methods, 1):
            self.row(name, k, len(methods))
        shown = {n: self.rows[n] for n in methods if n in self.s.methods}
        doc = {"settings": asdict(self.s), "machine": machine, "base": str(self.base),
               "base_bytes": self.base_bytes, "training_rows": data,
               "old_decascore_before": self.rows["zero_shot"]["old_decascore_after"],
               "methods": shown}
        (self.out / "results.json").write_text(json.dumps(doc, indent=2))
        (self.out / "table.md").write_text(markdown(doc))
        charts(doc, self.out)
        return doc

    def row(self, name: str, k: int, n: int) -> dict[str, Any]:
        record = self.out / "rows" / f"{name}.json"
        if name in self.rows:
            return self.rows[name]
        if record.exists():
            self.rows[name] = json.loads(record.read_text())
            self.say(f"[{k}/{n}] {name}: finished before, skipped")
            return self.rows[name]
        self.say(f"[{k}/{n}] {name}")
        started = time.time()
        try:
            row = self._row(name)
        except FitFailed as err:
            if not err.cannot_apply:
                raise ConfigError(f"Row {name} failed: {err.sentence} (log: {err.log}).") \
                    from err
            row = {"skipped": err.sentence}
        if "skipped" not in row:
            before = self.rows.get("zero_shot", row)
            row["old_decascore_before"] = before["old_decascore_after"]
            row["forgetting"] = round(row["old_decascore_before"] - row["old_decascore_after"],
                                      2)
            row["seconds"] = round(time.time() - started, 1)
            self.say(f"  {name}: new tasks {row['new_tasks_score']:.1f}, old decaScore "
                     f"{row['old_decascore_before']:.1f} -> {row['old_decascore_after']:.1f}, "
                     f"{row['disk_bytes_all_tasks']:,} bytes, lr {row['lr']}")
        else:
            self.say(f"  {name}: skipped ({row['skipped']})")
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(row, indent=2))
        self.rows[name] = row
        return row

    def _row(self, name: str) -> dict[str, Any]:
        new, old = self.s.new_tasks, self.s.old_tasks
        steps = self.s.steps_per_task * len(new)
        runs = self.out / "runs"
        if name == "zero_shot":
            scores, _ = self.evaluate(self.base, new, self.s.val_limit, "zero_shot_new")
            old_scores, preds = self.evaluate(self.base, old, self.s.old_val_limit,
                                              "zero_shot_old")
            write_predictions(self.out / "rows" / "zero_shot_old.jsonl", preds)
            return self._measured(scores, old_scores, self.answer_ms({t: self.base for t in new}),
                                  trainable=0, disk=self.base_bytes, train_s=0.0, lr=None)
        if name in MERGED_ROWS:
            lora = self.rows["lora"]
            folder = merge_lora(self.base, runs / "lora" / "adapters", runs / name / "adapters",
                                MERGED_ROWS[name], self.s.merge_density, self.s.seed)
            scores, _ = self.evaluate(folder, new, self.s.val_limit, f"{name}_new")
            return self._measured(scores, self.old_after(folder, name),
                                  self.answer_ms({t: folder for t in new}),
                                  trainable=lora["trainable"],
                                  disk=self.base_bytes + weights_bytes(folder),
                                  train_s=lora["train_s"], lr=lora["lr"])
        lr = self.choose_rate(name)
        if name == "full_per_task":
            docs, olds = {}, []
            for task in new:  # each task's record kept, so a killed row resumes by task
                record = self.out / "rows" / f"{name}_{task}.json"
                if record.exists():
                    docs[task], old_scores = json.loads(record.read_text())
                else:
                    docs[task] = self.fit(runs / name / task, [task], self.s.steps_per_task, lr)
                    old_scores = self.old_after(runs / name / task / "model", f"{name}_{task}")
                    record.write_text(json.dumps([docs[task], old_scores]))
                olds.append(old_scores)
            mean_old = {t: sum(o[t] for o in olds) / len(olds) for t in old}
            return self._measured(
                {t: d["tasks"][t]["score"] for t, d in docs.items()}, mean_old,
                self.answer_ms({t: runs / name / t / "model" for t in new}),
                trainable=sum(d["provenance"]["parameters"]["trainable"] for d in docs.values()),
                disk=sum(weights_bytes(runs / name / t / "model") for t in new),
                train_s=sum(d["provenance"]["training_loop_seconds"] for d in docs.values()),
                lr=lr)
        if name == "multitask":  # the new tasks' share as in the other rows, the old rehearsed
            weights = {**{t: 1.0 for t in new}, **{t: len(new) / len(old) for t in old}}
            doc = self.fit(runs / name, [*new, *old], 2 * steps if old else steps, lr,
                           mixture=weights)
        else:
            doc = self.fit(runs / name, new, steps, lr, adapter=ADAPTER_ROWS.get(name))
        folder = runs / name / ("adapters" if name in ADAPTER_ROWS else "model")
        disk = weights_bytes(folder) + (self.base_bytes if name in ADAPTER_ROWS else 0)
        return self._measured({t: doc["tasks"][t]["score"] for t in new},
                              self.old_after(folder, name),
                              self.answer_ms({t: folder for t in new}),
                              trainable=doc["provenance"]["parameters"]["trainable"],
                              disk=disk, train_s=doc["provenance"]["training_loop_seconds"],
                              lr=lr)

    def old_after(self, folder: Path, name: str) -> dict[str, float]:
        """The old tasks' scores through a row's model (its predictions kept beside the
        row's record, to compare with the base's)."""
        scores, preds = self.evaluate(folder, self.s.old_tasks, self.s.old_val_limit,
                                      f"{name}_old")
        write_predictions(self.out / "rows" / f"{name}_old.jsonl", preds)
        return scores

    def _measured(self, scores: dict[str, float], old_scores: dict[str, float], ms: float,
                  trainable: int, disk: int, train_s: float, lr: float | None) -> dict[str, Any]:
        base_params = self.base_params()
        return {"new_scores": {t: round(v, 2) for t, v in scores.items()},
                "new_tasks_score": round(sum(scores.values()) / max(1, len(scores)), 2),
                "old_scores": {t: round(v, 2) for t, v in old_scores.items()},
                "old_decascore_after": round(sum(old_scores.values()), 2),
                "trainable": int(trainable),
                "trainable_pct": round(100 * trainable / base_params, 3) if base_params else None,
                "disk_bytes_all_tasks": int(disk), "train_s": round(float(train_s), 1),
                "ms_per_question": round(ms, 2), "lr": lr}

    def base_params(self) -> int:
        if not hasattr(self, "_base_params"):
            from decaqa import store

            model = store.load(self.base).model
            self._base_params = sum(p.numel() for p in model.parameters())
        return self._base_params


# the sentences of a method that cannot apply to this base: its row is skipped with the reason
CANNOT_APPLY = ("has no bias terms", "Adapters know the modules", "Prompt tuning feeds the "
                "encoder embeddings")


class FitFailed(Exception):
    """A row's `decaqa fit` refused its settings: the sentence, and whether the method
    cannot apply to this base (a row skipped, not a failure)."""

    def __init__(self, sentence: str, log: Path):
        super().__init__(sentence)
        self.sentence, self.log = sentence, log

    @property
    def cannot_apply(self) -> bool:
        return any(reason in self.sentence for reason in CANNOT_APPLY)


# -- merging ---------------------------------------------------------------------------------
def merge_lora(base: str | Path, lora_dir: Path, out_dir: Path, combination: str,
               density: float = 0.5, seed: int = 0) -> Path:
    """The per-task LoRAs in ``lora_dir`` merged into one with peft's
    ``add_weighted_adapter`` (``linear``: weights 1/n, an average; ``ties`` and ``dare_ties``:
    weights 1 with ``density``; ``cat`` and ``svd``: weights 1, the updates summed exactly, or
    that sum cut back to the adapters' rank), written as a shared adapter over the same base,
    so every task it was trained for goes through the one merged adapter."""
    import torch

    from decaqa import store
    from decaqa.adapters import Adapters, AdapterSettings

    loaded = store.load(base, adapters=lora_dir)
    model, adapters = loaded.model, loaded.adapters
    names = adapters.names
    weights = [1.0 / len(names)] * len(names) if combination == "linear" else [1.0] * len(names)
    torch.manual_seed(seed)  # DARE drops weights at random
    model.add_weighted_adapter(names, weights, "shared", combination_type=combination,
                               density=density if "ties" in combination else None)
    config = model.peft_config["shared"]
    merged = Adapters(AdapterSettings(method="lora", mode="shared", r=config.r,
                                      alpha=config.lora_alpha,
                                      target_modules=sorted(config.target_modules)),
                      adapters.tasks, adapters.base_tasks)
    fresh = merged.attach(store.load(base).model)
    state = {n: p.detach().clone() for n, p in model.named_parameters() if n in merged.keys}
    missing = merged.keys - set(state)
    if missing:
        raise ConfigError(f"peft's {combination} merge left {len(missing)} weights out (e.g. "
                          f"{sorted(missing)[0]}); merge with another combination.")
    fresh.load_state_dict(state, strict=False)
    info = store.ExportInfo.read(lora_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    return store.write_export(out_dir, fresh, loaded.tokenizer, info, merged,
                              str(base))


# -- the written results -------------------------------------------------------------------------
def markdown(doc: dict[str, Any]) -> str:
    rows = doc["methods"]
    new = doc["settings"]["new_tasks"]
    head = (["method", "lr", "trainable", "disk, all new tasks", "train s", "ms/question"]
            + new + ["new mean", "old before", "old after", "forgetting"])
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for name, r in rows.items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} |" + " |" * (len(head) - 2))
            continue
        cells = [name, f"{r['lr']:g}" if r["lr"] else "-",
                 f"{r['trainable_pct']:.2f}%" if r["trainable_pct"] is not None else "-",
                 f"{r['disk_bytes_all_tasks'] / 1e6:.2f} MB", f"{r['train_s']:.0f}",
                 f"{r['ms_per_question']:.1f}"]
        cells += [f"{r['new_scores'][t]:.1f}" for t in new]
        cells += [f"**{r['new_tasks_score']:.1f}**", f"{r['old_decascore_before']:.1f}",
                  f"{r['old_decascore_after']:.1f}", f"{r['forgetting']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    s = doc["settings"]
    lines += ["", f"Base: {doc['base']} ({doc['base_bytes'] / 1e6:.2f} MB); "
                  f"{s['steps_per_task']} steps per new task; validation: {s['val_limit']} "
                  f"examples per new task, {s['old_val_limit']} per old task; trainable as a "
                  "share of the base's parameters, for all new tasks together; machine: "
                  f"{doc['machine']}."]
    return "\n".join(lines) + "\n"


def charts(doc: dict[str, Any], out: Path) -> list[Path]:
    """Two charts: new-task score against bytes on disk, and forgetting against the gain on
    the new tasks over zero-shot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {n: r for n, r in doc["methods"].items() if "skipped" not in r}
    zero = rows.get("zero_shot", {}).get("new_tasks_score", 0.0)
    base = max(1, doc["base_bytes"])

    def colour(name: str) -> str:
        return ("#7f8c8d" if name == "zero_shot" else "#c0392b" if name in FULL_ROWS
                else "#8e44ad" if name in MERGED_ROWS else "#3b75af")

    written = []
    for file, x_of, y_of, xlabel, ylabel, logx in (
            ("score_vs_bytes.png", lambda r: r["disk_bytes_all_tasks"] / base,
             lambda r: r["new_tasks_score"], "bytes on disk for all new tasks, in units of "
             "the base (log)", "new tasks: mean score", True),
            ("forgetting_vs_gain.png", lambda r: r["new_tasks_score"] - zero,
             lambda r: r["forgetting"], "gain on the new tasks over zero-shot (points)",
             "forgetting: old decaScore lost", False)):
        fig, ax = plt.subplots(figsize=(8, 5))
        points = {name: (x_of(r), y_of(r)) for name, r in rows.items()}
        for name, (x, y) in points.items():
            ax.scatter(x, y, color=colour(name), s=36, zorder=3)
        if logx:
            from matplotlib.ticker import FormatStrFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FormatStrFormatter("%gx"))
            ax.xaxis.set_minor_formatter(FormatStrFormatter("%gx"))
        ax.margins(x=0.08, y=0.12)
        fig.canvas.draw()  # the axes' final limits: labels are placed in display space
        to_px = ax.transData.transform
        boxes: list[tuple[float, float, float, float]] = []  # labels placed, in pixels
        for name in sorted(points, key=lambda n: (points[n][1], points[n][0])):
            px, py = to_px(points[name])
            width, height = 5.4 * len(name) + 4, 11  # 7-point text at the figure's dpi
            for offset in (0, 11, -11, 22, -22, 33, -33, 44, -44, 55, -55, 66):
                box = (px + 7, py + offset - height / 2, px + 7 + width, py + offset + height / 2)
                if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                           for b in boxes):
                    break
            boxes.append(box)
            points_offset = offset * 72 / fig.dpi  # pixels to points
            ax.annotate(name, points[name], xytext=(5, points_offset),
                        textcoords="offset points", fontsize=7, va="center",
                        arrowprops={"arrowstyle": "-", "color": "#bbbbbb", "lw": 0.5}
                        if offset else None)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title("decaqa compare: " + ", ".join(doc["settings"]["new_tasks"]))
        fig.tight_layout()
        fig.savefig(out / file, dpi=110)
        plt.close(fig)
        written.append(out / file)
    return written


QUICK = {"steps_per_task": 20, "sweep_steps_per_task": 10, "val_limit": 16,
         "old_val_limit": 8, "heldout": 16}


def compare(config: str | Path, out: str | Path | None = None, quick: bool = False,
            methods: Sequence[str] | None = None, tasks_dir: Sequence[str] | None = None,
            **overrides: Any) -> dict[str, Any]:
    """Run (or resume) a comparison from a config file; returns results.json's content.
    ``quick``: the reduced form (`QUICK`: a few steps per task, one rate per row, small
    validation), which checks the pipeline rather than measuring."""
    extra = dict(QUICK) if quick else {}
    extra.update({k: v for k, v in overrides.items() if v is not None})
    if methods:
        extra["methods"] = list(methods)
    if tasks_dir:
        extra["tasks_dir"] = list(tasks_dir)
    settings = CompareSettings.read(config, **extra)
    if quick and "learning_rates" not in overrides:  # one rate per row: the sweep's middle
        settings.learning_rates = {g: [settings.rates(g)[len(settings.rates(g)) // 2]]
                                   for g in RATES}
    return Compare(settings, Path(out or "runs/compare")).run()


__all__ = ["METHODS", "Compare", "CompareSettings", "compare", "merge_lora"]
