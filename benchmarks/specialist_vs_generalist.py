"""Specialists and the generalist: `decaqa compare` on the README's experiment, as one command.

The question: a model trained on decaNLP's ten tasks (the generalist) must learn five more
(rte, mrpc, qnli, squad_v2, boolq: new label sets and question forms, each close to a skill it
has). Fine-tune all of it, once on the new tasks (``sequential``), with the old ones rehearsed
(``multitask``) or once per task (``full_per_task``)? Or keep it frozen and train a small
adapter per task, or one for all, or merge the per-task ones? What does each score on the new
tasks, forget of the old, cost in parameters, bytes, seconds?

This script is a thin call of ``decaqa compare --config configs/compare.yaml`` (the protocol
is `decaqa.compare`'s): it trains the base first when there is none (the quickstart's config,
``--base-steps`` steps without a time budget, or the full nine-minute quickstart), runs the
comparison and prints its table and one JSON line. Every figure of one run comes from the
same base and the same data; the compare's folder resumes a killed run.

    python benchmarks/specialist_vs_generalist.py --base runs/quickstart/model   # the README's
    python benchmarks/specialist_vs_generalist.py --quick    # the pipeline, under 10 minutes

Ends with one JSON line: ``{"methods": {name: {"trainable_pct", "disk_bytes_all_tasks",
"train_s", "new_tasks_score", "old_decascore_before", "old_decascore_after", "lr"} or
{"skipped": reason}}, "base_bytes": ...}``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("trainable_pct", "disk_bytes_all_tasks", "train_s", "new_tasks_score",
        "old_decascore_before", "old_decascore_after", "lr")


def main() -> None:
    from decaqa.cli import run
    from decaqa.compare import METHODS, compare
    from decaqa.provenance import describe_machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the reduced form: a few steps per row, one rate per row")
    parser.add_argument("--config", default=str(ROOT / "configs" / "compare.yaml"))
    parser.add_argument("--base", help="the trained base (default: train one into OUT/base)")
    parser.add_argument("--base-steps", type=int,
                        help="train the base this many steps (default: the full quickstart; "
                             "quick 300)")
    parser.add_argument("--steps", type=int, help="steps per new task (default the config's)")
    parser.add_argument("--val-limit", type=int, help="validation examples per task")
    parser.add_argument("--out", default="runs/specialist_vs_generalist")
    parser.add_argument("--methods", nargs="+", choices=METHODS)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    print(f"machine: {describe_machine()}", flush=True)
    started = time.time()
    base = Path(args.base) if args.base else out / "base" / "model"
    if not base.exists():
        steps = args.base_steps or (300 if args.quick else None)
        extra = ["--time_budget", "null", "--trainer.max_steps", str(steps),
                 "--trainer.val_check_interval", str(steps), "--data.val_limit",
                 str(args.val_limit or 50)] if steps else []
        print(f"training the base: configs/quickstart.yaml{f', {steps} steps' if steps else ''}",
              flush=True)
        code = run(["fit", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--run_dir",
                    str(out / "base"), "--trainer.enable_progress_bar", "false", *extra])
        if code != 0:
            sys.exit(f"training the base failed (exit {code})")
    limits = {"val_limit": args.val_limit, "old_val_limit": args.val_limit}
    doc = compare(args.config, out / "compare", quick=args.quick, methods=args.methods,
                  base=str(base), steps_per_task=args.steps, **limits)
    print((out / "compare" / "table.md").read_text())
    print(f"wrote {out / 'compare'} in {time.time() - started:.0f}s", flush=True)
    print(json.dumps({"methods": {name: row if "skipped" in row else
                                  {k: row[k] for k in KEYS}
                                  for name, row in doc["methods"].items()},
                      "base_bytes": doc["base_bytes"]}))


if __name__ == "__main__":
    main()
