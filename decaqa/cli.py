"""The `decaqa` command: data-side subcommands (tasks, show) and the model-side ones.

Every user error ends as one sentence on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from decaqa.tasks import Task, TaskError, get_task, iter_examples, registry


def _tasks_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks-dir", action="append", default=[], metavar="DIR",
                        help="extra folder of converter files (repeatable; also "
                             "$DECAQA_TASKS_DIRS)")


def cmd_tasks(args: argparse.Namespace) -> int:
    """List every task with its source, metric and canonical question."""
    tasks = registry(args.tasks_dir)
    if args.json:
        for t in tasks.values():
            print(json.dumps({"name": t.name, "source": t.source, "metrics": t.metrics,
                              "question": t.question, "choices": t.choices, "note": t.note,
                              "mini_decathlon": t.mini_decathlon_files("train") is not None,
                              "file": str(t.source_file)}))
        return 0
    width = max(len(n) for n in tasks)
    src_width = max(len(t.source) for t in tasks.values())
    for t in tasks.values():
        question = t.question or "(question comes from each row)"
        mini = "*" if t.mini_decathlon_files("train") is not None else " "
        print(f"{t.name:<{width}} {mini} {t.source:<{src_width}}  {'/'.join(t.metrics):<16} "
              f"{question}")
        if t.note:
            print(f"{'':<{width}}   note: {t.note}")
    print(f"\n{len(tasks)} tasks; * = in the embedded mini decathlon.")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print the first N converted triples of a task's split."""
    import datasets

    from decaqa.data import load_rows

    datasets.disable_progress_bars()
    task = get_task(args.task, args.tasks_dir)
    rows = load_rows(task, args.split, args.data_files, args.source)
    counts: dict[str, int] = {}
    shown = 0
    for ex in iter_examples(task, rows, counts):
        if shown >= args.n:
            break
        shown += 1
        if args.json:
            print(json.dumps(ex.to_dict(), ensure_ascii=False))
        else:
            print(f"[{ex.task} {ex.id}]\n  context:  {ex.context}\n  question: {ex.question}\n"
                  f"  answer:   {ex.answer if isinstance(ex.answer, str) else ex.answers}\n")
    if counts.get("skipped"):
        print(f"{counts['skipped']} of the first {counts['rows']} rows were skipped by the "
              "converter.", file=sys.stderr)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Print the model's answer alone on stdout (so scripts can capture it)."""
    from decaqa.qa import check_pairs, load

    check_pairs([(args.question, args.context)])  # before the model loads: fail fast
    print(load(args.model).ask(args.question, args.context, task=args.task,
                               choices=args.choice or None))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Per-task table and decaScore for a model (or the majority baseline), as JSON too."""
    from decaqa.evaluate import evaluate_model, majority_baseline, resolve_tasks
    from decaqa.run import print_table

    if args.baseline:
        names = resolve_tasks(args.tasks or None, _default_tasks(args), args.tasks_dir)
        results, preds = majority_baseline(names, args.split, args.data_files, args.limit,
                                           args.tasks_dir, skip_unreadable=args.tasks == "all")
        title = "majority baseline"
    elif args.model:
        results, preds = evaluate_model(args.model, args.tasks, args.split, args.data_files,
                                        args.limit, args.batch_size, args.tasks_dir,
                                        precision=args.precision, choices=args.choices)
        title = f"decaqa evaluate: {args.model}"
    else:
        raise TaskError("Nothing to evaluate; pass --model PATH or --baseline majority.")
    print_table(results, title=f"{title} ({args.split})")
    if args.output:
        _write_json(args.output, results)
    if args.predictions:
        with open(args.predictions, "w") as f:
            for row in preds:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


def _default_tasks(args: argparse.Namespace) -> list[str]:
    """Tasks a baseline covers by default: the model's, else the mini decathlon's ten."""
    if args.model:
        from decaqa.qa import load
        return load(args.model).tasks
    from decaqa.data import MINI_DECATHLON_TASKS
    return list(MINI_DECATHLON_TASKS)


def cmd_score(args: argparse.Namespace) -> int:
    """Score a predictions file made elsewhere (lines of {task, prediction, answers})."""
    from decaqa.evaluate import read_jsonl, score_predictions
    from decaqa.run import print_table

    results = score_predictions(read_jsonl(args.predictions), args.tasks_dir)
    print_table(results, title=f"decaqa score: {args.predictions}")
    if args.output:
        _write_json(args.output, results)
    return 0


def _write_json(path: str, data: dict) -> None:
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False))
    print(f"wrote {path}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decaqa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks", help="list the registered tasks")
    _tasks_dir_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON object per task")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("show", help="print converted (context, question, answer) triples")
    p.add_argument("task")
    p.add_argument("--data-files", nargs="+", metavar="FILE",
                   help="local json/jsonl/csv/parquet files in the task's schema")
    p.add_argument("--split", default="validation")
    p.add_argument("--source", choices=["auto", "mini", "hub"], default="auto",
                   help="auto: --data-files, else the mini decathlon, else the hub")
    p.add_argument("-n", type=int, default=5, help="how many triples (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _tasks_dir_arg(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("ask", help="answer one question about one context")
    p.add_argument("--model", required=True, help="runs/<name>/model, a .ckpt or a hub name")
    p.add_argument("--question", required=True)
    p.add_argument("--context", required=True)
    p.add_argument("--task", help="the task the question belongs to (its answer-length cap)")
    p.add_argument("--choice", action="append", metavar="TEXT",
                   help="an answer choice (repeat); the likeliest one is printed")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("evaluate", help="per-task scores and the decaScore")
    p.add_argument("--model", help="runs/<name>/model or a .ckpt")
    p.add_argument("--baseline", choices=["majority"],
                   help="score the majority-answer floor instead of a model")
    p.add_argument("--tasks", help="a,b or all (default: the tasks the model was trained on)")
    p.add_argument("--split", default="validation")
    p.add_argument("--data-files", nargs="+", metavar="[TASK=]FILE")
    p.add_argument("--limit", type=int, help="at most N examples per task")
    p.add_argument("--batch-size", type=int, help="default: the run's eval_batch_size")
    p.add_argument("--precision", help="default: the run's (e.g. bf16-mixed), else 32-true")
    p.add_argument("--choices", choices=["generate", "rank", "rank_mean"], default="generate",
                   help="tasks with answer choices: generate the answer, or rank the choices "
                        "by log-likelihood (summed, or per token) and take the best")
    p.add_argument("--output", metavar="FILE", help="write the results as JSON")
    p.add_argument("--predictions", metavar="FILE", help="write predictions as JSONL")
    _tasks_dir_arg(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("score", help="score a predictions JSONL made elsewhere")
    p.add_argument("predictions")
    p.add_argument("--output", metavar="FILE")
    _tasks_dir_arg(p)
    p.set_defaults(func=cmd_score)
    return parser


LIGHTNING_COMMANDS = ("fit", "validate", "test")


def user_error(err: BaseException) -> TaskError | None:
    """The TaskError behind ``err``, if any (Lightning and jsonargparse wrap exceptions)."""
    seen = 0
    while err is not None and seen < 20:
        if isinstance(err, TaskError):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def run(argv: Sequence[str], started: float | None = None) -> int:
    """Run one `decaqa` command; ``started``: when it began (default now), for time budgets."""
    import time

    from decaqa.budget import mark_start

    mark_start(started if started is not None else time.time())
    try:
        if argv and argv[0] in LIGHTNING_COMMANDS:
            from decaqa.run import cli_main

            cli_main(list(argv))
            return 0
        args = build_parser().parse_args(argv)
        return args.func(args)
    except Exception as err:
        found = user_error(err)
        if found is None:
            raise
        print(f"decaqa: {found}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> None:
    from decaqa.budget import process_started

    sys.exit(run(list(sys.argv[1:] if argv is None else argv), started=process_started()))


if __name__ == "__main__":
    main()
