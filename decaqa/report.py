"""Results as pictures and a page: ``report.md``, ``scores.png`` and a run's ``curves.png``.

Everything here reads the one results object (`decaqa.results`) or the run's own logged
metrics (Lightning's CSVLogger ``metrics.csv``), so a figure in a picture is the figure in
the JSON. matplotlib draws, with its file-only Agg backend (no display needed); the page is
plain markdown, written by hand because no library writes this table for us.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from decaqa.results import is_correct, write_predictions

SAMPLES = 2  # right and wrong predictions shown per task


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scores(results: Mapping[str, Any], path: str | Path,
                floor: Mapping[str, Any] | None = None, title: str = "") -> Path:
    """Per-task bar chart of the headline scores, the majority floor marked on each bar
    (and the paraphrase score beside it where measured)."""
    plt = _pyplot()
    tasks = list(results["tasks"])
    scores = [results["tasks"][t]["score"] for t in tasks]
    para = [(results["tasks"][t].get("paraphrase") or {}).get("score") for t in tasks]
    has_para = any(p is not None for p in para)
    width = 0.4 if has_para else 0.7
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(tasks) + 2), 4.2))
    xs = list(range(len(tasks)))
    shift = -width / 2 if has_para else 0.0
    ax.bar([x + shift for x in xs], scores, width, label="canonical question"
           if has_para else "score", color="#3b75af")
    if has_para:
        ax.bar([x + width / 2 for x in xs], [p if p is not None else 0 for p in para], width,
               label="held-out paraphrases", color="#8fbbd9")
    if floor is not None:
        marks = [floor["tasks"].get(t, {}).get("score") for t in tasks]
        for x, m in zip(xs, marks):
            if m is not None:
                ax.hlines(m, x - 0.45, x + 0.45, colors="#c0392b", linewidth=2)
        ax.plot([], [], color="#c0392b", linewidth=2, label="majority floor")
    for x, s in zip(xs, scores):
        ax.text(x + shift, s + 1, f"{s:.1f}", ha="center", fontsize=7)
    ax.set_xticks(xs, [f"{t}\n({results['tasks'][t]['metric']})" for t in tasks], fontsize=7)
    ax.set_ylim(0, 105)
    ax.set_ylabel("score (0-100)")
    ax.set_title(title or f"decaScore {results['decascore']:.1f}")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def read_logged(metrics_csv: str | Path) -> list[dict[str, float]]:
    """Lightning's CSVLogger rows as numbers (empty cells left out)."""
    rows = []
    with open(metrics_csv, newline="") as f:
        for raw in csv.DictReader(f):
            row = {}
            for key, value in raw.items():
                if value not in (None, ""):
                    try:
                        row[key] = float(value)
                    except ValueError:
                        continue
            rows.append(row)
    return rows


def plot_curves(metrics_csv: str | Path, path: str | Path,
                headline: Mapping[str, str] | None = None) -> Path | None:
    """Training loss (overall and per task) and each task's validation metric against step,
    from the run's logs. A run that validates once (the quickstart spends its budget on
    training) shows one validation point per task.

    ``headline``: task -> its headline metric (default: every ``val/<task>/<metric>`` the
    first one logged per task). Returns None when nothing was logged.
    """
    if not Path(metrics_csv).exists():
        return None
    rows = read_logged(metrics_csv)
    loss = [(r["step"], r["train/loss"]) for r in rows if "train/loss" in r and "step" in r]
    keys: dict[str, str] = {}
    task_loss: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        for key in r:
            parts = key.split("/")
            if len(parts) == 3 and parts[0] == "train" and parts[2] == "loss" and "step" in r:
                task_loss.setdefault(parts[1], []).append((r["step"], r[key]))
            if len(parts) == 3 and parts[0] == "val":
                task, metric = parts[1], parts[2]
                if headline is not None and headline.get(task) != metric:
                    continue
                keys.setdefault(task, key)
    if not loss and not keys:
        return None
    plt = _pyplot()
    fig, (ax_loss, ax_task, ax_val) = plt.subplots(1, 3, figsize=(15, 4))
    if loss:
        steps, values = zip(*loss)
        ax_loss.plot(steps, values, linewidth=0.6, color="#8fbbd9", label="logged")
        # one task per batch makes the logged loss jump between tasks: a running mean over
        # about one round of the tasks shows the trend
        window = max(1, min(len(values), len(task_loss) or 1))
        smooth = [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
                  for i in range(len(values))]
        ax_loss.plot(steps, smooth, linewidth=1.5, color="#3b75af",
                     label=f"running mean of {window}")
        ax_loss.legend(fontsize=7)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title("training loss")
    for task, points in sorted(task_loss.items()):
        steps, values = zip(*points)
        ax_task.plot(steps, values, linewidth=1, label=task)
    ax_task.set_xlabel("step")
    ax_task.set_ylabel("training loss")
    ax_task.set_title("training loss, per task")
    if task_loss:
        ax_task.legend(fontsize=6, ncol=2, loc="upper right")
    curves = {task: [(r["step"], r[key]) for r in rows if key in r and "step" in r]
              for task, key in keys.items()}
    val_steps = {s for points in curves.values() for s, _ in points}
    if len(val_steps) == 1:  # validated once (at the end): the scores as bars
        names = list(curves)
        ax_val.barh(names, [curves[t][-1][1] for t in names], color="#3b75af")
        ax_val.invert_yaxis()
        ax_val.tick_params(axis="y", labelsize=7)
        ax_val.set_xlim(0, 100)
        ax_val.set_xlabel("validation score (0-100)")
        ax_val.set_title(f"validation at step {int(val_steps.pop())}, per task")
    else:
        for task, points in curves.items():
            if points:
                steps, values = zip(*points)
                ax_val.plot(steps, values, marker="o", markersize=4, linewidth=1,
                            label=f"{task} ({keys[task].split('/')[2]})")
        ax_val.set_xlabel("step")
        ax_val.set_ylabel("validation score (0-100)")
        ax_val.set_ylim(0, 100)
        ax_val.set_title("validation, per task")
        if keys:
            ax_val.legend(fontsize=6, ncol=2, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cell(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _short(text: Any, limit: int = 160) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def columns(results: Mapping[str, Any], floor: Mapping[str, Any] | None = None
            ) -> list[tuple[str, Any, str]]:
    """The per-task table's columns, for the terminal and for report.md alike: (header,
    cell(name, row) -> text, the decaScore row's cell). Floor, copy rate, paraphrase score
    and retention appear only where they were measured."""
    tasks = results["tasks"]
    cols: list[tuple[str, Any, str]] = [
        ("task", lambda n, r: n, "decaScore"),
        ("metric", lambda n, r: r["metric"], ""),
        ("score", lambda n, r: _cell(r["score"]), f"{results['decascore']:.1f}")]
    if floor:
        cols.append(("floor", lambda n, r: _cell(floor["tasks"].get(n, {}).get("score")),
                     f"{floor['decascore']:.1f}"))
    if any("copy_rate" in r for r in tasks.values()):
        cols.append(("copy", lambda n, r: (f"{100 * r['copy_rate']:.0f}%"
                                           if r.get("copy_rate") is not None else ""), ""))
    if any("retention" in r for r in tasks.values()):
        para = results.get("paraphrase", {})
        cols += [("paraphrase", lambda n, r: _cell((r.get("paraphrase") or {}).get("score")),
                  _cell(para.get("decascore"))),
                 ("retention", lambda n, r: _cell(r.get("retention"), 2),
                  _cell(para.get("retention"), 2))]
    cols.append(("examples", lambda n, r: str(r.get("examples", "")), ""))
    return cols


def markdown(results: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]],
             floor: Mapping[str, Any] | None = None, title: str = "decaqa report",
             samples: int = SAMPLES) -> str:
    """The report page: per-task table (floor, copy rate and retention beside the score
    where known), the decaScore, and a few right and wrong predictions per task."""
    cols = columns(results, floor)
    head = [h for h, _, _ in cols]
    lines = [f"# {title}", ""]
    prov = results.get("provenance", {})
    if prov:
        facts = [f"{k}: `{prov[k]}`" for k in ("model", "baseline", "split", "limit",
                                                "questions", "precision", "choices")
                 if prov.get(k) is not None]
        lines += ["; ".join(facts), ""]
    lines += ["| " + " | ".join(head) + " |",
              "|" + "|".join("---" if h in ("task", "metric") else "---:" for h in head) + "|"]
    for name, row in results["tasks"].items():
        lines.append("| " + " | ".join(cell(name, row) for _, cell, _ in cols) + " |")
    total = [f"**{t}**" if h in ("task", "score") else t for h, _, t in cols]
    lines += ["| " + " | ".join(total) + " |", ""]
    if "copy" in head:
        lines += ["copy = of the examples whose answer is in the context, the share whose "
                  "prediction is in the context too (tasks whose answers come from the "
                  "context).", ""]
    if "retention" in head:
        lines += ["retention = score with the held-out paraphrases / score with the canonical "
                  "question; n/a: the question comes from each row (nothing to paraphrase), or "
                  "the canonical score is 0 (nothing to retain). The decaScore row's "
                  "retention is the measured tasks' scores summed, paraphrase over canonical.",
                  ""]
    for name, reason in results.get("skipped", {}).items():
        lines.append(f"- skipped {name}: {reason}")
    lines += ["![per-task scores](scores.png)", "", "## Sample predictions", ""]
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for row in predictions:
        if row.get("asked_with", "canonical") == "canonical" or "retention" not in head:
            by_task.setdefault(row["task"], []).append(row)
    for name, rows in by_task.items():
        right = [r for r in rows if is_correct(r)][:samples]
        wrong = [r for r in rows if not is_correct(r)][:samples]
        lines += [f"### {name}", "", "| | question | prediction | answer |", "|---|---|---|---|"]
        for mark, picked in (("right", right), ("wrong", wrong)):
            for r in picked:
                answers = r["answers"] if isinstance(r["answers"], str) else r["answers"][0]
                lines.append(f"| {mark} | {_short(r.get('question') or '')} | "
                             f"{_short(r['prediction'])} | {_short(answers)} |")
        lines.append("")
    return "\n".join(lines)


def print_table(results: Mapping[str, Any], title: str,
                baseline: Mapping[str, Any] | None = None) -> None:
    """Per-task table and the decaScore on stdout (`columns`: floor, copy rate, paraphrase
    score and retention beside each score where they were measured)."""
    from rich.console import Console
    from rich.table import Table

    cols = columns(results, baseline)
    table = Table(title=title)
    for head, _, _ in cols:
        table.add_column(head, justify="left" if head in ("task", "metric") else "right")
    for name, row in results["tasks"].items():
        table.add_row(*(cell(name, row) for _, cell, _ in cols))
    for name in results.get("skipped", {}):
        table.add_row(name, "", "skipped", *[""] * (len(cols) - 3))
    table.add_section()
    table.add_row(*(total for _, _, total in cols))
    console = Console(width=120)
    console.print(table)
    if any(h == "copy" for h, _, _ in cols):
        console.print("copy: of the examples whose answer is in the context, the share "
                      "answered with words from the context", highlight=False)
    by_reason: dict[str, list[str]] = {}
    for name, reason in results.get("skipped", {}).items():
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():
        console.print(f"skipped {', '.join(names)}: {reason}", highlight=False)


def write_report(folder: str | Path, results: Mapping[str, Any],
                 predictions: Sequence[Mapping[str, Any]],
                 floor: Mapping[str, Any] | None = None, title: str = "decaqa report"
                 ) -> list[Path]:
    """Write report.md, scores.png, results.json and predictions.jsonl into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc = dict(results)
    if floor is not None:
        doc["floor"] = {"decascore": floor["decascore"],
                        "tasks": {t: v["score"] for t, v in floor["tasks"].items()}}
    (folder / "results.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    write_predictions(folder / "predictions.jsonl", predictions)
    plot_scores(results, folder / "scores.png", floor)
    (folder / "report.md").write_text(markdown(results, predictions, floor, title))
    return [folder / n for n in ("report.md", "scores.png", "results.json",
                                 "predictions.jsonl")]
