"""The `decaqa` command: data-side subcommands (tasks, show) and the model-side ones.

Every user error ends as one sentence on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Sequence

from decaqa.errors import ConfigError, DecaqaError
from decaqa.tasks import get_task, registry


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
    counts: dict[str, int] = {}
    shown = 0
    for ex in _examples(args, counts):
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


def cmd_check(args: argparse.Namespace) -> int:
    """Check a task's triples against the run's tokenizer; exit 1 on a hard failure."""

    from decaqa.check import check_examples, render

    counts: dict[str, int] = {}
    examples = list(_examples(args, counts))
    tokenizer, name, info = _check_tokenizer(args, examples)
    limit = args.max_source_tokens or info.max_source_tokens
    report = check_examples(args.task, examples, tokenizer, limit, info.input_format,
                            args.max_share)
    if counts.get("skipped"):
        report.warnings.append(f"the converter skipped {counts['skipped']} of "
                               f"{counts['rows']} rows")
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(render(report, examples[:args.n], name))
    return 0 if report.ok else 1


def _examples(args: argparse.Namespace, counts: dict[str, int]):
    """The task's split that `show` and `check` read, converted lazily into ``counts``."""
    from decaqa.datafiles import load_examples

    task = get_task(args.task, args.tasks_dir)
    return load_examples(task, args.split, args.data_files, args.source, counts)


def _check_tokenizer(args: argparse.Namespace, examples: list) -> tuple[object, str, object]:
    """The run's tokenizer: a model's (folder or checkpoint), one named, or else a BPE
    trained on this split's text, as a model from scratch would train one."""
    from decaqa.store import ExportInfo, load_tokenizer_of
    from decaqa.tokenizer import load_tokenizer, train_tokenizer

    if args.model:
        tokenizer, info = load_tokenizer_of(args.model)
        return tokenizer, f"{args.model}'s", info
    if args.tokenizer:
        return load_tokenizer(args.tokenizer), args.tokenizer, ExportInfo()
    from decaqa.example import DEFAULT_FORMAT, format_input

    texts = [t for ex in examples
             for t in (format_input(ex.question, ex.context, DEFAULT_FORMAT), *ex.answers)]
    return (train_tokenizer(texts), "a BPE trained on this split (as a model from scratch "
            "trains one; pass --model or --tokenizer to check a run's own)", ExportInfo())


def cmd_ask(args: argparse.Namespace) -> int:
    """Print the model's answer alone on stdout (so scripts can capture it)."""
    from decaqa.qa import check_pairs, load

    check_pairs([(args.question, args.context)])  # before the model loads: fail fast
    print(load(args.model, base=args.base, other_base=args.allow_other_base,
               num_beams=args.num_beams).ask(
        args.question, args.context, task=args.task, choices=args.choice or None))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the model over HTTP until SIGTERM or Ctrl-C (`decaqa.serve`)."""
    from decaqa.serve import ServeSettings, serve

    settings = ServeSettings(args.max_batch, args.batch_timeout_ms, args.max_queue,
                             args.max_body_kb * 1000)
    return serve(args.model, args.adapters, args.base, args.allow_other_base, args.host,
                 args.port, settings, args.log_level, num_beams=args.num_beams)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Per-task table and decaScore for a model (or the majority baseline), as JSON too."""
    from decaqa.evaluate import evaluate_model, majority_baseline, resolve_tasks
    from decaqa.report import print_table

    if args.baseline and args.questions != "canonical":
        raise ConfigError("The majority baseline ignores the question; drop --questions or "
                          "evaluate a --model.")
    if args.baseline and args.num_beams is not None:
        raise ConfigError("The majority baseline does not decode; drop --num-beams or "
                          "evaluate a --model.")
    if args.baseline:
        names = resolve_tasks(args.tasks or None, _default_tasks(args), args.tasks_dir)
        results, preds = majority_baseline(names, args.split, args.data_files, args.limit,
                                           args.tasks_dir, skip_unreadable=args.tasks == "all")
        title = "majority baseline"
    elif args.model:
        results, preds = evaluate_model(args.model, args.tasks, args.split, args.data_files,
                                        args.limit, args.batch_size, args.tasks_dir,
                                        precision=args.precision, choices=args.choices,
                                        questions=args.questions, devices=args.devices,
                                        base=args.base, other_base=args.allow_other_base,
                                        num_beams=args.num_beams)
        title = f"decaqa evaluate: {args.model}"
        from lightning_fabric.utilities.rank_zero import rank_zero_only

        if rank_zero_only.rank != 0:  # with --devices N, one process reports
            return 0
    else:
        raise ConfigError("Nothing to evaluate; pass --model PATH or --baseline majority.")
    floor = None
    if args.report:  # the floor beside every score, on the same examples
        floor, _ = majority_baseline(list(results["tasks"]), args.split, args.data_files,
                                     args.limit, args.tasks_dir)
    print_table(results, title=f"{title} ({args.split})", baseline=floor)
    if args.output:
        _write_json(args.output, results)
    if args.predictions:
        from decaqa.results import write_predictions

        write_predictions(args.predictions, preds)
    if args.report:
        _report(args.report, results, preds, floor, f"{title} ({args.split})")
    return 0


def _report(folder: str, results: dict, preds: list, floor: dict | None, title: str) -> None:
    from decaqa.report import write_report

    for path in write_report(folder, results, preds, floor, title):
        print(f"wrote {path}", file=sys.stderr)


def _default_tasks(args: argparse.Namespace) -> list[str]:
    """Tasks a baseline covers by default: the model's, else the mini decathlon's ten."""
    if args.model:
        from decaqa.store import model_info
        return model_info(args.model).trained_tasks
    from decaqa.data import MINI_DECATHLON_TASKS
    return list(MINI_DECATHLON_TASKS)


def cmd_score(args: argparse.Namespace) -> int:
    """Score a predictions file made elsewhere (lines of {task, prediction, answers})."""
    from decaqa.evaluate import read_jsonl, score_predictions
    from decaqa.report import print_table

    rows = read_jsonl(args.predictions)
    results = score_predictions(rows, args.tasks_dir)
    print_table(results, title=f"decaqa score: {args.predictions}")
    if args.output:
        _write_json(args.output, results)
    if args.report:
        _report(args.report, results, rows, None, f"decaqa score: {args.predictions}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Every way of adding tasks to a trained model, side by side (`decaqa.compare`)."""
    from pathlib import Path

    from decaqa.compare import compare

    out = Path(args.out)
    doc = compare(args.config, out, quick=args.quick, methods=args.methods,
                  tasks_dir=args.tasks_dir, base=args.base, steps_per_task=args.steps_per_task)
    print((out / "table.md").read_text())
    for name in ("table.md", "results.json", "score_vs_bytes.png", "forgetting_vs_gain.png"):
        print(f"wrote {out / name}", file=sys.stderr)
    return 0 if doc["methods"] else 1


def _write_json(path: str, data: dict) -> None:
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False))
    print(f"wrote {path}", file=sys.stderr)


def _num_beams_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num-beams", type=int, metavar="N",
                   help="answer every task with N beams, 1 greedy (default: the run's own: "
                        "model.num_beams, and model.task_beams for the tasks it names)")


def _base_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", metavar="PATH",
                        help="with an adapters folder as --model: the base they go over "
                             "(default: the one they recorded)")
    parser.add_argument("--allow-other-base", action="store_true",
                        help="use --base even though its weights are not those the adapters "
                             "were trained over (their recorded fingerprint)")


def build_parser() -> argparse.ArgumentParser:
    # no prefix matching: "--base" must never be read as an abbreviation of "--baseline"
    parser = argparse.ArgumentParser(prog="decaqa", description=__doc__.splitlines()[0],
                                     allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=functools.partial(
        argparse.ArgumentParser, allow_abbrev=False))

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

    p = sub.add_parser("check", help="check a task's data against the tokenizer before "
                                     "training (exit 1 on a hard failure)")
    p.add_argument("task")
    p.add_argument("--data-files", nargs="+", metavar="FILE",
                   help="local json/jsonl/csv/parquet files in the task's schema")
    p.add_argument("--split", default="train")
    p.add_argument("--source", choices=["auto", "mini", "hub"], default="auto")
    p.add_argument("--model", help="check against this model's tokenizer and limits "
                                   "(runs/<name>/model or a .ckpt)")
    p.add_argument("--tokenizer", help="a hub name, folder or tokenizer.json instead")
    p.add_argument("--max-source-tokens", type=int,
                   help="default: the model's, else 512")
    p.add_argument("--max-share", type=float, default=0.9,
                   help="one answer for at least this share of rows is a degenerate target")
    p.add_argument("-n", type=int, default=3, help="triples to show (default 3)")
    p.add_argument("--json", action="store_true", help="the report as one JSON object")
    _tasks_dir_arg(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("ask", help="answer one question about one context")
    p.add_argument("--model", required=True, help="runs/<name>/model, a .ckpt or a hub name")
    p.add_argument("--question", required=True)
    p.add_argument("--context", required=True)
    p.add_argument("--task", help="the task the question belongs to (its answer-length cap)")
    _num_beams_arg(p)
    p.add_argument("--choice", action="append", metavar="TEXT",
                   help="an answer choice (repeat); the likeliest one is printed")
    _base_args(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="answer questions over HTTP: one model, or one base and "
                                     "its adapters, for many callers at once")
    p.add_argument("model", help="runs/<name>/model, a .ckpt, a hub name, or an adapters folder")
    p.add_argument("--adapters", metavar="DIR",
                   help="adapters over MODEL (runs/<name>/adapters): each task answered by its "
                        "own, the rest by MODEL")
    _base_args(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="where to listen (default 127.0.0.1: this machine only; 0.0.0.0: every "
                        "interface)")
    p.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free one")
    p.add_argument("--max-batch", type=int, default=32,
                   help="requests answered in one pass at most (default 32)")
    p.add_argument("--batch-timeout-ms", type=float, default=10.0,
                   help="under load, wait for more requests while they arrive less than this "
                        "far apart (default 10; one client alone never waits)")
    p.add_argument("--max-queue", type=int, default=256,
                   help="requests waiting at most; past it, 503 with Retry-After (default 256)")
    _num_beams_arg(p)
    p.add_argument("--max-body-kb", type=int, default=1000,
                   help="the largest request body accepted, in kB (default 1000)")
    p.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (info: one line per request)")
    p.set_defaults(func=cmd_serve)

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
    p.add_argument("--devices", type=int, default=1,
                   help="processes (CPU) or GPUs answering in parallel (Lightning's DDP); each "
                        "answers its own share of every task, scored once")
    p.add_argument("--choices", choices=["generate", "rank", "rank_mean"], default="generate",
                   help="tasks with answer choices: generate the answer, or rank the choices "
                        "by log-likelihood (summed, or per token) and take the best")
    p.add_argument("--questions", choices=["canonical", "paraphrase", "all"],
                   default="canonical",
                   help="ask each task's canonical question, its held-out paraphrases, or "
                        "both (all: with retention = paraphrase score / canonical score)")
    _num_beams_arg(p)
    _base_args(p)
    p.add_argument("--output", metavar="FILE", help="write the results as JSON")
    p.add_argument("--predictions", metavar="FILE", help="write predictions as JSONL")
    p.add_argument("--report", metavar="DIR",
                   help="write report.md, scores.png (majority floor marked), results.json "
                        "and predictions.jsonl into DIR")
    _tasks_dir_arg(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="every way of adding tasks to a trained model, side by "
                                       "side: score, forgetting, bytes, time")
    p.add_argument("--config", required=True, help="a compare config (configs/compare.yaml)")
    p.add_argument("--out", default="runs/compare",
                   help="the comparison's folder; run again to resume (default runs/compare)")
    p.add_argument("--quick", action="store_true",
                   help="the reduced form: a few steps per task, one rate per row")
    p.add_argument("--methods", nargs="+", metavar="ROW", help="only these rows")
    p.add_argument("--base", help="the trained model (overrides the config's base)")
    p.add_argument("--steps-per-task", type=int, help="overrides the config's budget")
    _tasks_dir_arg(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("score", help="score a predictions JSONL made elsewhere")
    p.add_argument("predictions")
    p.add_argument("--output", metavar="FILE")
    p.add_argument("--report", metavar="DIR", help="write report.md, scores.png, results.json")
    _tasks_dir_arg(p)
    p.set_defaults(func=cmd_score)
    return parser


LIGHTNING_COMMANDS = ("fit", "validate", "test")


def user_error(err: BaseException) -> DecaqaError | None:
    """The DecaqaError behind ``err``, if any (Lightning and jsonargparse wrap exceptions);
    Lightning's own refusal of a setting (MisconfigurationException, such as negative
    max_steps) is a config error too."""
    seen = 0
    while err is not None and seen < 20:
        if isinstance(err, DecaqaError):
            return err
        if type(err).__name__ == "MisconfigurationException":
            text = " ".join(str(err).split()).rstrip(".")
            return ConfigError(f"Lightning refused the run's settings: {text}; fix the config "
                               "or the option.")
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def run(argv: Sequence[str], started: float | None = None) -> int:
    """Run one `decaqa` command; ``started``: when it began (default now), for time budgets."""
    import time

    from decaqa.provenance import mark_start
    from decaqa.quiet import quiet

    mark_start(started if started is not None else time.time())
    quiet()
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
    finally:
        if "pytorch_lightning" in sys.modules:  # only Lightning's strategies start a group
            from decaqa.distributed import leave_process_group

            leave_process_group()


def main(argv: Sequence[str] | None = None) -> None:
    from decaqa.provenance import process_started

    sys.exit(run(list(sys.argv[1:] if argv is None else argv), started=process_started()))


if __name__ == "__main__":
    main()
