"""Evaluation: a trained model, the majority baseline, or a predictions file -> per-task scores.

A model is evaluated through the same data module and validation loop as `decaqa fit`
(`Trainer.validate`), with the batch size and decoding settings recorded in its export, so
`decaqa evaluate` reproduces the run's metrics.json figures.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from decaqa.results import score_predictions as score_rows
from decaqa.results import with_retention
from decaqa.errors import ConfigError, DataError, require_file
from decaqa.tasks import get_task, registry


def parse_data_files(items: Sequence[str] | None, tasks: Sequence[str],
                     split: str) -> dict[str, dict[str, list[str]]]:
    """``TASK=FILE`` items (or bare files when one task is evaluated) -> data_files config."""
    out: dict[str, dict[str, list[str]]] = {}
    for item in items or []:
        if "=" in item:
            task, path = item.split("=", 1)
        elif len(tasks) == 1:
            task, path = tasks[0], item
        else:
            raise DataError(f"Data file '{item}' does not say which task it is for; write "
                            "TASK=FILE when evaluating several tasks.")
        out.setdefault(task, {}).setdefault(split, []).append(path)
    return out


def resolve_tasks(spec: str | None, trained: Sequence[str],
                  tasks_dir: Sequence[str] | None = None) -> list[str]:
    """``a,b`` | ``all`` | None (the tasks the model was trained on)."""
    if spec in (None, ""):
        if not trained:
            raise ConfigError("This model does not record its tasks; pass --tasks a,b.")
        return list(trained)
    if spec == "all":
        return list(registry(tasks_dir))
    names = [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        get_task(name, tasks_dir)  # unknown names fail here, with the near ones listed
    return names


def evaluate_model(model_path: str, tasks: str | None = None, split: str = "validation",
                   data_files: Sequence[str] | None = None, limit: int | None = None,
                   batch_size: int | None = None, tasks_dir: Sequence[str] | None = None,
                   accelerator: str = "auto", precision: str | None = None,
                   choices: str = "generate", questions: str = "canonical",
                   devices: int = 1, base: str | None = None, other_base: bool = False,
                   num_beams: int | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score a model folder or checkpoint; returns (metrics.json-shaped results, predictions).

    The run's recorded settings (input format, limits, per-task caps, batching, precision)
    are used unless overridden, so the figures are the run's own. ``questions``: ask each
    task's ``canonical`` question, its held-out ``paraphrase``s, or ``all`` (both, with each
    task's retention = paraphrase score / canonical score). ``devices``: processes (or GPUs)
    answering in parallel under Lightning's DDP, each its own share of every task, gathered
    and scored once; every process returns the same results. ``base``/``other_base``: an
    adapters folder's base (`decaqa.store.load`); with adapters each task's result says who
    answered it (``answered_by``: its adapter, or the base for a task it has none for).
    ``num_beams``: answer every task with this many beams instead of the run's own (greedy
    unless it said otherwise, or gave a task beams of its own); results record which.
    """
    if devices < 1:
        raise ConfigError(f"--devices must be at least 1, got {devices}.")
    from decaqa import store

    store.check_num_beams(num_beams)
    if questions not in QUESTION_CHOICES:
        raise ConfigError(f"Unknown --questions '{questions}'; use one of "
                          f"{', '.join(QUESTION_CHOICES)}.")
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import RichProgressBar

    from dataclasses import asdict

    from decaqa.data import TaskDataModule
    from decaqa.model import Seq2SeqQA

    # an export folder, an adapters folder (over the base it names) or a checkpoint
    loaded = store.load(model_path, base=base, other_base=other_base)
    info, tokenizer = loaded.info, loaded.tokenizer
    generation = asdict(info.generation.with_beams(num_beams))
    module = Seq2SeqQA(model=str(model_path), choices=choices, **generation)
    module.model, module.adapters = loaded.model, loaded.adapters  # each task to its adapter
    names = resolve_tasks(tasks, info.trained_tasks, tasks_dir)

    def validate(mode: str) -> tuple[dict[str, Any], list[dict[str, Any]], Any, Any, dict]:
        data = TaskDataModule(tasks=names, tasks_dir=list(tasks_dir or []),
                              data_files=parse_data_files(data_files, names, split),
                              input_format=info.input_format,
                              max_source_tokens=info.max_source_tokens,
                              eval_batch_size=batch_size or info.eval_batch_size,
                              eval_max_tokens=info.eval_max_tokens, max_new_tokens=info.caps,
                              eval_split=split, val_limit=limit, eval_questions=mode)
        skipped = drop_unreadable(data, [split]) if tasks == "all" else {}
        data.connect(tokenizer)
        module.connect(tokenizer, data.answering_info())
        trainer = pl.Trainer(accelerator=accelerator, devices=devices,
                             strategy="ddp" if devices > 1 else "auto", logger=False,
                             enable_checkpointing=False, enable_model_summary=False,
                             use_distributed_sampler=False,  # the data module shards itself
                             precision=precision or info.precision,
                             callbacks=[RichProgressBar()])
        trainer.validate(module, datamodule=data, verbose=False)
        preds = [dict(row, asked_with=mode) for row in module.predictions]
        return dict(module.results or {}), preds, data, trainer, skipped

    modes = ["canonical", "paraphrase"] if questions == "all" else [questions]
    runs = {mode: validate(mode) for mode in modes}
    results, predictions, data, trainer, skipped = runs[modes[0]]
    if questions == "all":
        para, para_preds, para_data, _, _ = runs["paraphrase"]
        asked = [n for n, r in para_data.report.items()
                 if r.get(split, {}).get("questions_paraphrase")]
        results = with_retention(results, para, asked)
        predictions = predictions + para_preds
    results.pop("step", None)
    if loaded.adapters is not None:
        for name, row in results.get("tasks", {}).items():
            row["answered_by"] = loaded.adapters.answered_by(name)
    if skipped:
        results["skipped"] = skipped
    results["provenance"] = {"model": str(model_path), "split": split, "limit": limit,
                             "precision": str(trainer.precision), "choices": choices,
                             "devices": trainer.world_size,
                             "questions": questions,
                             "eval_batch_size": data.eval_batch_size,
                             "eval_max_tokens": data.eval_max_tokens,
                             "generation": generation,
                             "tasks": data.task_info(), "data_report": data.report}
    return results, predictions


QUESTION_CHOICES = ("canonical", "paraphrase", "all")


def majority_baseline(tasks: Sequence[str], split: str = "validation",
                      data_files: Sequence[str] | None = None, limit: int | None = None,
                      tasks_dir: Sequence[str] | None = None, skip_unreadable: bool = False
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The floor: each task's most common training answer, predicted for every example.

    ``skip_unreadable``: leave out (and list under ``skipped``) the tasks whose data cannot
    be read, instead of failing on the first.
    """
    from decaqa.data import TaskDataModule

    data = TaskDataModule(tasks=list(tasks), tasks_dir=list(tasks_dir or []),
                          data_files=parse_data_files(data_files, tasks, split),
                          eval_split=split, val_limit=limit)
    skipped = drop_unreadable(data, ["train", split]) if skip_unreadable else {}
    train = data.load_triples("train")
    evals = data.load_triples(split)
    rows: list[dict[str, Any]] = []
    for name in data.task_names:
        answers = Counter(a[0] for a in train[name]["answers"])
        guess = answers.most_common(1)[0][0] if answers else ""
        ds = evals[name]
        rows += [{"id": i, "task": name, "prediction": guess, "answers": a,
                  "meta": json.loads(m)} for i, a, m in zip(ds["id"], ds["answers"], ds["meta"])]
    results = score_predictions(rows, tasks_dir)
    if skipped:
        results["skipped"] = skipped
    results["provenance"] = {"baseline": "majority", "split": split, "limit": limit,
                             "tasks": data.task_info(), "data_report": data.report}
    return results, rows


def drop_unreadable(data: Any, splits: Sequence[str]) -> dict[str, str]:
    """Drop the tasks whose data cannot be read; fail only when none is left."""
    skipped = data.drop_unreadable(splits)
    if not data.eval_task_names:
        reasons = "; ".join(f"{t}: {r}" for t, r in skipped.items())
        raise DataError(f"No task could be evaluated ({reasons}); pass local files with "
                        "--data-files or name tasks whose data is here.")
    return skipped


def score_predictions(rows: Iterable[Mapping[str, Any]],
                      tasks_dir: Sequence[str] | None = None) -> dict[str, Any]:
    """Score prediction rows ``{id, task, prediction, answers, [meta]}`` with each task's
    registered metrics (`decaqa.results.score_predictions`, the one scorer)."""
    return score_rows(rows, lambda name: get_task(name, tasks_dir).metrics)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a predictions JSON-lines file; a missing file, or a bad line by its number, is
    one sentence."""
    require_file(path, "The predictions file", "give the path of a JSON-lines file (one "
                 "{task, prediction, answers} object per line).", DataError)
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{path} line {n} is not JSON ({err.msg}); write one JSON "
                                    "object per line.") from None
    return rows
