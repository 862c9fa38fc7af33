"""Answering throughput: `ask_batch` vs answering one question at a time, same model, one run.

decaqa: ``qa.ask_batch(pairs, task=...)`` — the one answering path: sorted by length, cut into
token-budget batches that never mix generation caps, each padded to its own longest input.
plain: the same model answering each question alone with ``model.generate`` (same input
format, same per-task length cap and beams, same precision). The answers must be identical.
Each way first answers the first 16 questions untimed, so that neither pays the one-time costs
(the first calls of the kernels at each shape) inside its measured time, and then answers all of
them ``--rounds`` times, the two ways taking turns; each way's fastest round counts. On a
shared two-core machine one pass of the same batched answering takes 1.6-3.0 s from one
minute to the next, more than the differences measured here.

The questions: 512 validation questions of all ten mini-decathlon tasks. The model: the one
given with ``--model`` (e.g. runs/quickstart/model); without it, the quickstart's model trained
for ``--train-steps`` steps here first, so that answers end where a trained model ends them.

    python benchmarks/ask_throughput.py [--model runs/quickstart/model] [--n 512] [--rounds 3]
                                        [--num-beams N]

Ends with one JSON line: ratio, identical, n, num_beams, task_beams, decaqa_s, plain_s,
decaqa_questions_per_s, plain_questions_per_s.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

import decaqa
from decaqa.answer import answering_autocast
from decaqa.provenance import describe_machine
from decaqa.data import MINI_DECATHLON_TASKS

ROOT = Path(__file__).resolve().parents[1]
WARM_UP = 16  # questions each way answers before its clock starts (one-time costs)


def train_quick_model(folder: Path, steps: int) -> Path:
    """The quickstart model, trained ``steps`` steps (no validation), exported to ``folder``."""
    from decaqa.cli import run

    code = run(["fit", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--run_dir",
                str(folder), "--time_budget", "null", "--trainer.max_steps", str(steps),
                "--trainer.val_check_interval", str(steps), "--trainer.precision", "32-true",
                "--trainer.enable_progress_bar", "false", "--data.val_limit", "1"])
    if code != 0:
        raise SystemExit("training the benchmark model failed")
    return folder / "model"


def questions(n: int) -> list[tuple[str, str, str]]:
    """(task, question, context) for ``n`` validation examples spread over the ten tasks."""
    from decaqa.mini_decathlon import read_rows
    from decaqa.tasks import get_task, iter_examples

    per_task = -(-n // len(MINI_DECATHLON_TASKS))
    out = []
    for name in MINI_DECATHLON_TASKS:
        rows = read_rows(name, "validation")
        for ex in list(iter_examples(get_task(name), rows))[:per_task]:
            out.append((name, ex.question, ex.context))
    return out[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a decaqa export (default: train one briefly here)")
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--device", help="answer on this device (e.g. cuda; default: the CPU)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed rounds of each way, taking turns; the fastest counts")
    parser.add_argument("--num-beams", type=int,
                        help="answer every task with this many beams, both ways (default: the "
                             "model's own, per task)")
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.model) if args.model else train_quick_model(Path(tmp) / "run",
                                                                      args.train_steps)
        qa = decaqa.load(str(path), device=args.device, num_beams=args.num_beams)
        items = questions(args.n)
        pairs = [(q, c) for _, q, c in items]
        tasks = [t for t, _, _ in items]

        model, tok = qa.model, qa.tokenizer
        device = next(model.parameters()).device

        def one_by_one(asked: list[tuple[str, str]], asked_tasks: list[str]) -> list[str]:
            """plain: one question at a time, the same format, cap, beams and precision"""
            out = []
            with torch.no_grad():
                for task, (q, c) in zip(asked_tasks, asked):
                    ids = qa.encode([(q, c)])[0]  # ask's format and source limit
                    with answering_autocast(qa.precision, device):
                        got = model.generate(input_ids=torch.tensor([ids], device=device),
                                             max_new_tokens=qa.cap(task),
                                             num_beams=qa.beams(task), do_sample=False)
                    out.append(tok.decode(got[0], skip_special_tokens=True).strip())
            return out

        qa.ask_batch(pairs[:WARM_UP], task=tasks[:WARM_UP])  # first calls pay one-time costs
        one_by_one(pairs[:WARM_UP], tasks[:WARM_UP])
        decaqa_s = plain_s = float("inf")
        for _ in range(max(1, args.rounds)):  # taking turns; each way's fastest round counts
            started = time.perf_counter()
            batched = qa.ask_batch(pairs, task=tasks)
            decaqa_s = min(decaqa_s, time.perf_counter() - started)
            started = time.perf_counter()
            plain = one_by_one(pairs, tasks)
            plain_s = min(plain_s, time.perf_counter() - started)

    same = sum(a == b for a, b in zip(batched, plain))
    print(f"model: {path} ({qa.precision}, {sum(p.numel() for p in model.parameters()):,} "
          f"parameters; beams: {qa.num_beams}"
          f"{''.join(f', {t} {b}' for t, b in qa.task_beams.items())})")
    print(f"{'':8} {'seconds':>8} {'questions/s':>12}")
    print(f"{'decaqa':8} {decaqa_s:8.2f} {len(pairs) / decaqa_s:12.1f}  ask_batch: sorted, "
          f"token-budget batches of <= {qa.batch_size} rows")
    print(f"{'plain':8} {plain_s:8.2f} {len(pairs) / plain_s:12.1f}  generate, one at a time")
    print(f"ratio {plain_s / decaqa_s:.2f}x; identical answers: {same}/{len(pairs)}")
    result = {"ratio": round(plain_s / decaqa_s, 3), "identical": same == len(pairs),
              "n": len(pairs), "num_beams": qa.num_beams, "task_beams": qa.task_beams,
              "decaqa_s": round(decaqa_s, 3), "plain_s": round(plain_s, 3),
              "decaqa_questions_per_s": round(len(pairs) / decaqa_s, 2),
              "plain_questions_per_s": round(len(pairs) / plain_s, 2)}
    sys.stderr.flush()
    print(json.dumps(result), flush=True)  # the last line: one JSON object


if __name__ == "__main__":
    main()
