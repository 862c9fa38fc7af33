"""Precision probe: what a training step costs in bf16 autocast and in float32, over the
quickstart's batches, at each batch shape's first sight and at its second.

The quickstart's model and batches (`step_overhead.quickstart`), each precision training its
own copy of the network, batch by batch in turn (the order alternating), over ``--batches``
batches; then the same batches again, in the same processes' nets. A run of `decaqa fit`
sees most of its batch shapes for the first time, so the first pass is what it pays; the
budget's probe (`decaqa.budget.measure_step_seconds`) times that way. Prints each pass's mean
and median ms per step and the bf16 / float32 ratio.

    python benchmarks/precision_probe.py [--batches 150]

Ends with one JSON line: first ({precision: {mean_ms, median_ms}}), second (the same),
ratio_first and ratio_second (bf16 mean / float32 mean), batches, machine.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from pathlib import Path

import torch

from decaqa.budget import _stepper
from decaqa.provenance import describe_machine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_overhead import quickstart  # noqa: E402

PRECISIONS = ["32-true", "bf16-mixed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=150)
    args = parser.parse_args()
    machine = describe_machine()
    print(f"machine: {machine}")
    torch.manual_seed(0)
    module, data, _ = quickstart(True)
    batches = data.train_batches(args.batches)
    steppers = {p: _stepper(copy.deepcopy(module.model), p, module.hparams.learning_rate, 1.0)
                for p in PRECISIONS}
    result: dict = {"batches": len(batches), "machine": machine}
    for sight in ("first", "second"):
        times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
        for i, batch in enumerate(batches):
            for p in (PRECISIONS if i % 2 == 0 else PRECISIONS[::-1]):
                times[p].append(1000 * steppers[p](batch))
        result[sight] = {p: {"mean_ms": round(statistics.mean(t), 1),
                             "median_ms": round(statistics.median(t), 1)}
                         for p, t in times.items()}
        ratio = result[sight]["bf16-mixed"]["mean_ms"] / result[sight]["32-true"]["mean_ms"]
        result[f"ratio_{sight}"] = round(ratio, 3)
        print(f"\n{sight} sight of each shape ({len(batches)} batches, ms per step):")
        for p, row in result[sight].items():
            print(f"  {p:11} mean {row['mean_ms']:7.1f}  median {row['median_ms']:7.1f}")
        print(f"  bf16 / float32, means: {ratio:.3f}")
    print(json.dumps(result), flush=True)  # the last line: one JSON object


if __name__ == "__main__":
    main()
