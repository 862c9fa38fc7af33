"""Kernel choices on this machine: torch.compile, the attention kernel and the GELU kernel, each
against decaqa's default (eager PyTorch, decaqa's SDPA attention, the quickstart's one-kernel
GELU), for training and for answering, with and without the copy head.

Training: ms per step of a bare loop (forward under ``--precision``, bf16-mixed unless told,
backward, clipping, AdamW) over the same real quickstart batches from the same initial
weights:

* **default**: eager PyTorch, transformers' SDPA attention with T5's cross-attention handed
  its padding mask alone (`decaqa.network.lean_attention`; in training on a CPU, the
  self-attention's learnt mask in two matmuls and a float32 softmax, and a bf16
  cross-attention's backward in float32), and the quickstart's GELU: the tanh form in one
  torch kernel (``feed_forward_proj: gated-gelu_pytorch_tanh``);
* **attention sdpa, stock**: transformers' SDPA as it is, which adds T5's all-zero
  cross-attention position bias to the mask in every layer at every step;
* **attention eager**: transformers' matmul-and-softmax attention instead of SDPA;
* **gelu_new**: the same function as transformers' ``gelu_new`` (T5 v1.1's own), written in
  five Python-level tensor operations, in place of the one kernel;
* **torch.compile**: the model compiled (``Module.compile(dynamic=True)``; inductor writes
  C++ kernels on a CPU). Its first steps compile; those seconds are counted apart, with the
  steps it takes to win them back.

Answering: seconds for ``ask_batch`` over the benchmark questions, each way warmed up first
(compiling included in its warm-up, reported), with the answers compared to the default's.

The eager ways run in interleaved rounds and each one's fastest round counts: on a shared
two-core machine two runs of the same loop differ by as much as 20%, more than most of the
differences measured here.

    python benchmarks/kernel_choice.py [--steps 60] [--warmup 12] [--n 256] [--rounds 3]
        [--model EXPORT] [--precision bf16-mixed|32-true] [--no-compile]

First, one attention layer alone (`attention_side`): PyTorch's SDPA as transformers calls it
against what decaqa's T5 runs in training, in float32 and bf16.

Ends with one JSON line: attention ({layer, precision: {sdpa_ms, decaqa_ms, vs_sdpa}}),
train ({copy, no_copy}: {variant: {ms, vs_default, warmup_s}}),
answer ({variant: {s, vs_default, identical, warmup_s}}), compile_available, precision,
machine.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

import decaqa
from decaqa.network import compile_available
from decaqa.provenance import describe_machine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ask_throughput import questions, train_quick_model  # noqa: E402
from step_overhead import bare_loop, quickstart  # noqa: E402


def eager_attention(net: torch.nn.Module) -> None:
    net.set_attn_implementation("eager")


def stock_sdpa(net: torch.nn.Module) -> None:
    net.set_attn_implementation("sdpa")


def python_gelu(net: torch.nn.Module) -> None:
    from transformers.activations import NewGELUActivation

    for module in net.modules():
        if hasattr(module, "act") and type(module.act).__name__ in ("GELUTanh",
                                                                     "PytorchGELUTanh"):
            module.act = NewGELUActivation()


def compiled(net: torch.nn.Module) -> None:
    net.compile(dynamic=True)


TRAIN_VARIANTS = {"default": None, "attention sdpa, stock": stock_sdpa,
                  "attention eager": eager_attention,
                  "gelu_new": python_gelu, "torch.compile": compiled}


def train_side(steps: int, warmup: int, can_compile: bool, rounds: int,
               precision: str) -> dict:
    out = {}
    for copy_head in (True, False):
        torch.manual_seed(0)
        module, data, trainer_cfg = quickstart(copy_head)
        clip = float(trainer_cfg.get("gradient_clip_val") or 1.0)
        batches = data.train_batches(steps)
        initial = copy.deepcopy(module.model)
        rows: dict[str, dict] = {}
        for _ in range(rounds):  # interleaved; the fastest round of each way counts
            for name, prepare in TRAIN_VARIANTS.items():
                if name == "torch.compile" and (not can_compile or name in rows):
                    continue  # compiled once: its warm-up is the compiling
                if "error" in rows.get(name, {}):
                    continue
                timings: dict = {}
                try:
                    ms, _ = bare_loop(module, initial, batches, warmup, clip, precision,
                                      prepare, timings)
                except Exception as error:  # a compiler failing on this model: said
                    rows[name] = {"error": f"{type(error).__name__}: {str(error)[:160]}"}
                    continue
                if name not in rows or ms < rows[name]["ms"]:
                    rows[name] = {"ms": round(ms, 2), "warmup_s": round(timings["warmup_s"], 2)}
        base = rows["default"]["ms"]
        for name, row in rows.items():
            if "ms" in row:
                row["vs_default"] = round(base / row["ms"], 3)
        compiled_row = rows.get("torch.compile", {})
        if "ms" in compiled_row and compiled_row["ms"] < base:
            extra_s = compiled_row["warmup_s"] - rows["default"]["warmup_s"]
            compiled_row["break_even_steps"] = round(1000 * extra_s / (base - compiled_row["ms"]))
        out["copy" if copy_head else "no_copy"] = rows
        label = "with" if copy_head else "without"
        print(f"\ntraining, {label} the copy head ({precision}, ms per step after {warmup} "
              f"warm-up steps of {steps}):")
        for name, row in rows.items():
            if "ms" in row:
                extra = (f", break-even after {row['break_even_steps']} steps"
                         if "break_even_steps" in row else "")
                print(f"  {name:16} {row['ms']:8.2f} ms  {row['vs_default']:5.3f}x default  "
                      f"(warm-up {row['warmup_s']:.1f} s{extra})")
            else:
                print(f"  {name:16} failed: {row['error']}")
    return out


def answer_side(model_path: Path, n: int, can_compile: bool, rounds: int) -> dict:
    items = questions(n)
    pairs = [(q, c) for _, q, c in items]
    tasks = [t for t, _, _ in items]
    variants = {"default": None, "attention sdpa, stock": stock_sdpa,
                "attention eager": eager_attention, "gelu_new": python_gelu,
                "torch.compile": compiled}
    rows: dict[str, dict] = {}
    reference = None
    models = {}
    for name, prepare in variants.items():
        if name == "torch.compile" and not can_compile:
            continue
        qa = decaqa.load(str(model_path))
        if prepare is not None:
            prepare(qa.model)
        try:
            started = time.perf_counter()
            answers = qa.ask_batch(pairs, task=tasks)  # warm-up: one-time costs, compiling
            rows[name] = {"warmup_s": round(time.perf_counter() - started, 2)}
        except Exception as error:
            rows[name] = {"error": f"{type(error).__name__}: {str(error)[:160]}"}
            continue
        reference = reference or answers
        rows[name]["identical"] = sum(a == b for a, b in zip(answers, reference))
        models[name] = qa
    for _ in range(rounds):  # interleaved; the fastest round of each way counts
        for name, qa in models.items():
            started = time.perf_counter()
            qa.ask_batch(pairs, task=tasks)
            seconds = time.perf_counter() - started
            rows[name]["s"] = round(min(seconds, rows[name].get("s", seconds)), 3)
    base = rows["default"]["s"]
    print(f"\nanswering {len(pairs)} questions (ask_batch, seconds after a warm-up pass):")
    for name, row in rows.items():
        if "s" in row:
            row["vs_default"] = round(base / row["s"], 3)
            print(f"  {name:16} {row['s']:8.3f} s  {row['vs_default']:5.3f}x default  "
                  f"identical answers {row['identical']}/{len(pairs)}  "
                  f"(warm-up pass {row['warmup_s']:.1f} s)")
        else:
            print(f"  {name:16} failed: {row['error']}")
    return rows


def attention_side(repeats: int = 40) -> dict:
    """One attention layer's forward and backward alone, as a training step of the quickstart
    calls it (20 rows, 8 heads of 24): PyTorch's SDPA as transformers calls it against
    decaqa's choice, in float32 and bf16. The cross-attention (12 answer tokens x 99 source
    tokens, a padding mask): SDPA's flash kernel, which decaqa runs in float32 under bf16.
    The self-attention (99 x 99, T5's learnt position bias in the mask): SDPA's math path,
    which decaqa replaces by two matmuls and a float32 softmax. Median ms."""
    from decaqa.network import _lean_sdpa

    def median_ms(run) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return 1000 * sorted(times)[len(times) // 2]

    def attend(ours: bool, q, k, v, mask) -> None:
        if ours:  # decaqa's T5 attention, as a training step calls it
            out = _lean_sdpa(layer, q, k, v, mask, scaling=1.0)[0]
        else:
            out = sdpa(q, k, v, attn_mask=mask if mask.dtype == torch.bool else mask.to(q.dtype),
                       scale=1.0)
        out.sum().backward()

    sdpa = torch.nn.functional.scaled_dot_product_attention
    layer = torch.nn.Module()
    rows: dict[str, dict] = {}
    torch.manual_seed(0)
    pad = torch.ones(20, 1, 1, 99, dtype=torch.bool)
    pad[:, ..., 80:] = False
    bias = torch.randn(1, 8, 99, 99, requires_grad=True)
    fill = torch.zeros(20, 1, 1, 99)
    fill[:, ..., 80:] = torch.finfo(torch.float32).min
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        cq, sq, k, v = (torch.randn(20, 8, n, 24, dtype=dtype, requires_grad=True)
                        for n in (12, 99, 99, 99))
        for layer_name, q, mask in (("cross", cq, lambda: pad), ("self", sq, lambda: bias + fill)):
            rows[f"{layer_name}-attention, {name}"] = {
                way + "_ms": median_ms(lambda ours=ours: attend(ours, q, k, v, mask()))
                for way, ours in (("sdpa", False), ("decaqa", True))}
    print("\none attention layer, forward and backward (20 rows, 8 heads; median ms):")
    for name, row in rows.items():
        row["sdpa_ms"], row["decaqa_ms"] = round(row["sdpa_ms"], 3), round(row["decaqa_ms"], 3)
        row["vs_sdpa"] = round(row["sdpa_ms"] / row["decaqa_ms"], 2)
        print(f"  {name:24} SDPA {row['sdpa_ms']:7.3f}  decaqa {row['decaqa_ms']:7.3f}  "
              f"{row['vs_sdpa']:5.2f}x")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=12)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of the eager ways (the fastest counts)")
    parser.add_argument("--train-steps", type=int, default=400,
                        help="steps of the model the answering side uses, without --model")
    parser.add_argument("--model", help="a decaqa export to answer with")
    parser.add_argument("--precision", default="bf16-mixed", choices=["bf16-mixed", "32-true"],
                        help="the training side's precision (the quickstart's budget times both "
                             "and takes the faster on each machine)")
    parser.add_argument("--no-compile", action="store_true",
                        help="leave torch.compile out (it compiles for minutes on a CPU)")
    args = parser.parse_args()
    machine = describe_machine()
    print(f"machine: {machine}")
    can_compile, why = (False, "left out (--no-compile)") if args.no_compile \
        else compile_available()
    print(f"torch.compile: {'available' if can_compile else 'unavailable: ' + why}")
    attention = attention_side()
    train = train_side(args.steps, args.warmup, can_compile, args.rounds, args.precision)
    with tempfile.TemporaryDirectory() as tmp:
        path = (Path(args.model) if args.model
                else train_quick_model(Path(tmp) / "run", args.train_steps))
        answer = answer_side(path, args.n, can_compile, args.rounds)
    result = {"attention": attention, "train": train, "answer": answer,
              "compile_available": can_compile,
              "precision": args.precision, "machine": machine}
    sys.stderr.flush()
    print(json.dumps(result), flush=True)  # the last line: one JSON object


if __name__ == "__main__":
    main()
