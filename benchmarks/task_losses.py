"""Where a model stands on each task: its loss on training rows beside its loss on validation.

For each task: the mean loss per answer token (teacher-forced, the run's input format, source
limit and precision) over the first ``--rows`` training rows and the first ``--rows``
validation rows. The training rows are the baseline. The two losses read differently:
- both high and close together: the model has not learnt the task yet. More capacity or
  better optimisation would help; regularisation would not.
- validation far above training: what it learnt does not carry over to new rows. Regularisation
  or more data would help; more steps would not. (qa_zre's validation asks about relations
  that training never shows, as decaNLP's QA-ZRE does, so its gap is there by design.)

The model: the one given with ``--model`` (e.g. runs/quickstart/model); without it, the
quickstart's model trained for ``--train-steps`` steps here first.

    python benchmarks/task_losses.py [--model runs/quickstart/model] [--rows 200]

Ends with one JSON line: tasks ({task: {train, validation, ratio}}), rows, machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ask_throughput import train_quick_model  # noqa: E402 - the same quick model

import decaqa  # noqa: E402
from decaqa.answer import autocast  # noqa: E402
from decaqa.data import MINI_DECATHLON_TASKS, collate  # noqa: E402
from decaqa.provenance import describe_machine  # noqa: E402


def mean_loss(qa, examples: list, batch: int = 25) -> float:
    """Mean loss per answer token over ``examples`` (teacher-forced): inputs as `ask` encodes
    them, batches padded as training pads them."""
    device = next(qa.model.parameters()).device
    total, tokens = 0.0, 0
    for start in range(0, len(examples), batch):
        rows = examples[start:start + batch]
        sources = qa.encode([(ex.question, ex.context) for ex in rows])
        answers = [ex.answer if isinstance(ex.answer, str) else ex.answer[0] for ex in rows]
        targets = qa.tokenizer(answers)["input_ids"]
        padded = collate([{"input_ids": s, "labels": t} for s, t in zip(sources, targets)],
                         qa.tokenizer.pad_token_id)
        with torch.no_grad(), autocast(qa.precision, device):
            out = qa.model(**{k: padded[k].to(device)
                              for k in ("input_ids", "attention_mask", "labels")})
        n = int((padded["labels"] != -100).sum())
        total, tokens = total + float(out.loss) * n, tokens + n
    return total / tokens


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a run's model folder (default: train the quick model)")
    p.add_argument("--rows", type=int, default=200, help="rows of each split per task")
    p.add_argument("--train-steps", type=int, default=600)
    args = p.parse_args()
    from decaqa.mini_decathlon import read_rows
    from decaqa.tasks import get_task, iter_examples

    machine = describe_machine()
    print(f"machine: {machine}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.model) if args.model else train_quick_model(Path(tmp) / "run",
                                                                     args.train_steps)
        qa = decaqa.load(path)
        found: dict[str, dict[str, float]] = {}
        print(f"{'task':14} {'train':>7} {'valid':>7} {'x train':>8}")
        for name in qa.info.trained_tasks or MINI_DECATHLON_TASKS:
            if name not in MINI_DECATHLON_TASKS:
                continue  # the mini decathlon's files are what this reads
            row = {}
            for split in ("train", "validation"):
                examples = list(iter_examples(get_task(name), read_rows(name, split)))
                row[split] = round(mean_loss(qa, examples[:args.rows]), 4)
            row["ratio"] = round(row["validation"] / max(row["train"], 1e-9), 2)
            found[name] = row
            print(f"{name:14} {row['train']:7.3f} {row['validation']:7.3f} "
                  f"{row['ratio']:8.2f}", flush=True)
    print(json.dumps({"tasks": found, "rows": args.rows, "machine": machine}))


if __name__ == "__main__":
    main()
