"""The `decaqa` command: data-side subcommands (tasks, show) and the model-side ones.

Every user error ends as one sentence on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Sequence

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
    return parser


def run(argv: Sequence[str], handlers: dict[str, Callable[[argparse.Namespace], int]]
        | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TaskError as err:
        print(f"decaqa: {err}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
