"""The results object: one shape for every figure decaqa prints, writes or draws.

``score_predictions`` is the one function that turns prediction rows into it. Validation in
`decaqa fit`, `decaqa evaluate`, `decaqa score` and the report all call it; ``document`` adds
the provenance that metrics.json carries; ``with_retention`` joins an evaluation with the
canonical questions and one with the held-out paraphrases; ``write_predictions`` writes the
rows as ``predictions.jsonl`` (fit, evaluate and reports all write it through it).

The shape::

    {"decascore": float,
     "tasks": {name: {"metric": headline metric, "score": its value, "scores": {metric: value},
                      "examples": n,
                      # when the rows carry their context and most gold answers are in it:
                      "copy_rate": share of predictions found in the context, "copy_examples",
                      # after with_retention:
                      "paraphrase": {"score", "scores", "examples"} | None (n/a),
                      "retention": paraphrase score / canonical score | None}},
     "paraphrase": {"decascore", "retention", "tasks_measured"},   # after with_retention
     "skipped": {name: reason}, "step": int, "provenance": {...}}        # where they apply

A prediction row is ``{"id", "task", "prediction", "answers", ["meta", "question",
"context"]}``.

The **copy rate** of a task whose answers come from its context (at least `EXTRACTIVE_SHARE`
of its gold answers appear in the context: squad, qa_srl, qa_zre, wsc, ...) is the share of
the examples whose gold answer is in the context for which the prediction is in the context
too, compared after decaNLP's normalisation (lowercase, no punctuation or articles) and on
word boundaries. It says whether the model answers with the words in front of it, whatever
its score; an "unanswerable" example (qa_zre) does not count.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from decaqa import metrics
from decaqa.errors import DataError

Row = Mapping[str, Any]
PREDICTION_KEYS = ("task", "prediction", "answers")


def score_predictions(rows: Iterable[Row],
                      metrics_of: Callable[[str], Sequence[str]]) -> dict[str, Any]:
    """Prediction rows -> the results object; ``metrics_of(task)`` names each task's metrics,
    the headline (decaScore) one first. Tasks keep the order they first appear in."""
    by_task: dict[str, list[Row]] = defaultdict(list)
    for i, row in enumerate(rows):
        missing = [k for k in PREDICTION_KEYS if k not in row]
        if missing:
            raise DataError(f"Prediction row {i} has no {', '.join(missing)}; each line needs "
                            "task, prediction and answers (and meta for woz/wikisql).")
        by_task[row["task"]].append(row)
    tasks: dict[str, Any] = {}
    for name, task_rows in by_task.items():
        names = list(metrics_of(name))
        preds = [r["prediction"] for r in task_rows]
        refs = [r["answers"] for r in task_rows]
        metas = [r.get("meta") or {} for r in task_rows]
        scores = {m: metrics.score(m, preds, refs, metas) for m in names}
        tasks[name] = {"metric": names[0], "score": scores[names[0]], "scores": scores,
                       "examples": len(task_rows)}
        copied = copy_rate(task_rows)
        if copied is not None:
            tasks[name]["copy_rate"], tasks[name]["copy_examples"] = copied
    return {"decascore": metrics.decascore({t: v["score"] for t, v in tasks.items()}),
            "tasks": tasks}


EXTRACTIVE_SHARE = 0.5  # a task whose gold answers are in the context this often copies


def in_context(text: str, context: str) -> bool:
    """``text`` appears in ``context``, normalised, on word boundaries (empty text: no)."""
    norm = metrics.normalize_text(str(text))
    return bool(norm) and f" {norm} " in f" {metrics.normalize_text(str(context))} "


def copy_rate(rows: Sequence[Row]) -> tuple[float, int] | None:
    """(copy rate, examples counted) for rows that carry their context, or None when they do
    not or when the task's answers do not come from the context (see the module doc)."""
    with_context = [r for r in rows if r.get("context")]
    if not with_context:
        return None
    gold = [r for r in with_context
            if any(in_context(a, r["context"]) for a in _answers(r))]
    if not gold or len(gold) < EXTRACTIVE_SHARE * len(with_context):
        return None
    copied = sum(in_context(r["prediction"], r["context"]) for r in gold)
    return round(copied / len(gold), 4), len(gold)


def _answers(row: Row) -> list[str]:
    answers = row["answers"]
    return [answers] if isinstance(answers, str) else list(answers)


def with_retention(canonical: Mapping[str, Any], paraphrase: Mapping[str, Any],
                   asked: Iterable[str]) -> dict[str, Any]:
    """The canonical results with each task's paraphrase score and retention beside it.

    ``asked``: the tasks whose examples had a paraphrase to ask; the others (a question that
    comes from the row, as in SQuAD) get ``paraphrase: None`` and ``retention: None`` (n/a).
    Retention is paraphrase score / canonical score (None when the canonical score is 0).
    The overall retention is the measured tasks' paraphrase scores summed over their canonical
    scores summed, so a task near zero (0.5 -> 1.0 is "2x") cannot swing it.
    """
    asked = set(asked)
    out = dict(canonical)
    tasks: dict[str, Any] = {}
    measured = []
    for name, row in canonical["tasks"].items():
        row = dict(row)
        other = paraphrase["tasks"].get(name)
        if name in asked and other is not None:
            row["paraphrase"] = {k: other[k] for k in ("score", "scores", "examples")}
            row["retention"] = (round(other["score"] / row["score"], 4)
                                if row["score"] else None)
            if row["retention"] is not None:
                measured.append((other["score"], row["score"]))
        else:
            row["paraphrase"], row["retention"] = None, None
        tasks[name] = row
    out["tasks"] = tasks
    out["paraphrase"] = {"decascore": paraphrase["decascore"],
                         "retention": (round(sum(p for p, _ in measured)
                                              / sum(c for _, c in measured), 4)
                                        if measured else None),
                         "tasks_measured": len(measured)}
    return out


def document(results: Mapping[str, Any], provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics.json shape: the results object (predictions left out) and its provenance."""
    doc = {k: v for k, v in results.items() if k not in ("predictions", "provenance", "step")}
    doc["provenance"] = dict(provenance)
    return doc


def is_correct(row: Row) -> bool:
    """A prediction that matches one of its answers after decaNLP's normalisation (for
    picking right and wrong samples in a report; scores come from the task's metrics)."""
    pred = metrics.normalize_text(str(row["prediction"]))
    return any(pred == metrics.normalize_text(a) for a in _answers(row))


def write_predictions(path: str | Path, rows: Iterable[Row]) -> Path:
    """Prediction rows as JSON lines (UTF-8, one row a line), the one writer of
    predictions.jsonl."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
