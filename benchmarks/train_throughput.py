"""Training throughput: decaqa's training step vs a plain loop, same model, same data, one run.

decaqa: `decaqa fit`'s own path — the Lightning module and data module, batches drawn by the
multitask sampler from length buckets and cut by a token budget (``longest x rows``).
plain: what a first attempt (or a default HF Trainer) does — the same examples shuffled into
fixed-size random batches, each padded to its longest member, trained by a bare PyTorch loop
with the same optimiser.

Data: the ten mini-decathlon tasks, with the real samples of ../shared/data/real added where
they are present (long CNN/DM articles and SQuAD paragraphs next to SST sentences). Both sides
train the same number of non-pad tokens (source + target) after a few warm-up steps; the figure
is non-pad tokens per second, and ``padding`` the fraction of pad positions (0-1).

    python benchmarks/train_throughput.py [--steps 300] [--precision 32-true]
        [--adapter lora]   # both sides train a LoRA over the frozen model instead of all of it

Ends with one JSON line: ratio, decaqa_tokens_per_s, plain_tokens_per_s, decaqa_padding,
plain_padding, params, flops_per_token (6 x params for a full step: forward and backward; 4 x
params over a frozen base, whose weights get no gradients).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import yaml

from decaqa.answer import autocast
from decaqa.provenance import describe_machine
from decaqa.data import MINI_DECATHLON_TASKS, TaskDataModule, collate
from decaqa.model import Seq2SeqQA
from decaqa.sampling import Batching, Mixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_overhead import connect  # noqa: E402  (the set-up `decaqa fit` does)

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"   # small real samples, when beside the repo


def real_files(*parts: str) -> list[str]:
    """A real-sample file if ../shared is present, else nothing (the benchmark says so)."""
    path = REAL.joinpath(*parts)
    return [str(path)] if path.exists() else []


WARMUP = 5


def tokens(batch: dict) -> tuple[int, int]:
    """(non-pad positions, all positions) of a batch, source and target together."""
    real = int(batch["attention_mask"].sum()) + int((batch["labels"] != -100).sum())
    return real, batch["input_ids"].numel() + batch["labels"].numel()


class Count(pl.Callback):
    """Tokens and time of the decaqa side, after the warm-up steps."""

    def __init__(self) -> None:
        self.real = self.total = 0
        self.started = 0.0
        self.seconds = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if batch_idx == WARMUP:
            self.started = time.perf_counter()
        if batch_idx >= WARMUP:
            real, total = tokens(batch)
            self.real, self.total = self.real + real, self.total + total

    def on_train_end(self, trainer, module) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.started


def data_module(batching: Batching, max_source: int) -> tuple[TaskDataModule, bool]:
    """The mini decathlon, plus the real samples (same HF schemas) where they are present."""
    extra = {"squad": real_files("squad", "validation.jsonl") + real_files("squad", "train.jsonl"),
             "cnn_dailymail": real_files("cnn_dailymail", "train.jsonl"),
             "sst2": real_files("glue__sst2", "train.jsonl"),
             "qa_srl": real_files("qa_srl", "train.jsonl")}
    files = {}
    for task, paths in extra.items():
        if paths:
            mini = ROOT / "decaqa" / "mini_decathlon" / task / "train.jsonl.gz"
            files[task] = {"train": [str(mini), *paths]}
    return TaskDataModule(tasks=MINI_DECATHLON_TASKS, data_files=files, batching=batching,
                          max_source_tokens=max_source, max_target_tokens=128,
                          mixture=Mixture("proportional"), seed=0), bool(files)


def plain_loop(model, examples, batch_size: int, target_tokens: int, precision: str,
               lr: float, pad_id: int, device: torch.device) -> tuple[float, int, int]:
    """Random fixed-size batches padded to their longest; stop once ``target_tokens`` non-pad
    tokens are trained (after warm-up). Returns (seconds, real tokens, all positions)."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(examples))
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    real = total = step = 0
    started = 0.0
    for start in range(0, len(order) * 100, batch_size):
        idx = [order[(start + k) % len(order)] for k in range(batch_size)]
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in idx], pad_id).items()}
        if step == WARMUP:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        with autocast(precision, device):
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         labels=batch["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= WARMUP:
            r, t = tokens(batch)
            real, total = real + r, total + t
            if real >= target_tokens:
                break
        step += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, real, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="decaqa training steps")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--batch-size", type=int, default=16, help="plain: rows per batch")
    parser.add_argument("--max-tokens", type=int, default=4096,
                        help="decaqa: token budget per batch (longest x rows)")
    parser.add_argument("--max-rows", type=int, default=128, help="decaqa: rows per batch at most")
    parser.add_argument("--max-source-tokens", type=int, default=512)
    parser.add_argument("--accelerator", default="cpu", help="cpu or gpu (gpu_check.sh)")
    parser.add_argument("--model-config", type=json.loads, default=None,
                        help='T5 fields replacing the quickstart\'s, e.g. \'{"d_model": 512}\'')
    parser.add_argument("--copy", default="quickstart",
                        help="the copy head: the quickstart's (default), context, "
                             "context+question or none")
    parser.add_argument("--adapter", help="train this adapter method (shared) over the frozen "
                                          "model instead of the whole model, e.g. lora")
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")

    cfg = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())["model"]
    data, with_real = data_module(Batching(args.max_rows, args.max_tokens),
                                  args.max_source_tokens)
    print("data: the mini decathlon" + (" + the real samples in ../shared/data/real"
                                         if with_real else " (../shared absent: no real samples)"))
    copy_head = {"quickstart": cfg.get("copy"), "none": None}.get(args.copy, args.copy)
    module = Seq2SeqQA(config={**cfg["config"], **(args.model_config or {})},
                       copy=copy_head, vocab_size=cfg["vocab_size"],
                       learning_rate=cfg["learning_rate"], warmup_steps=10)
    connect(module, data)
    tokenizer = module.tokenizer
    base_dir = tempfile.TemporaryDirectory()
    if args.adapter:  # the model built above becomes the frozen base of an adapter
        module.model.save_pretrained(base_dir.name)
        tokenizer.save_pretrained(base_dir.name)
        module = Seq2SeqQA(model=base_dir.name, copy=copy_head,
                           adapter={"method": args.adapter, "mode": "shared"},
                           learning_rate=cfg["learning_rate"], warmup_steps=10)
        module.connect(tokenizer, data.answering_info())
        module.configure_model()
    plain_model = copy.deepcopy(module.model)  # the same initial weights for both sides
    device = torch.device("cuda" if args.accelerator == "gpu" else "cpu")
    plain_model.to(device)
    params = sum(p.numel() for p in module.model.parameters())
    trained = sum(p.numel() for p in module.model.parameters() if p.requires_grad)
    print(f"params: {params}")
    print(f"trained: {trained} ({'the adapter alone' if args.adapter else 'all of them'}; "
          f"copy head: {copy_head})")

    count = Count()
    trainer = pl.Trainer(accelerator=args.accelerator, devices=1, precision=args.precision,
                         max_steps=args.steps + WARMUP, limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, gradient_clip_val=1.0, callbacks=[count])
    trainer.fit(module, datamodule=data)
    decaqa_tps = count.real / count.seconds
    decaqa_pad = 1 - count.real / count.total

    examples = [row for name in data.tokenized["train"]
                for row in data.tokenized["train"][name].select_columns(["input_ids", "labels"])]
    secs, real, total = plain_loop(plain_model, examples, args.batch_size, count.real,
                                   args.precision, cfg["learning_rate"], tokenizer.pad_token_id,
                                   device)
    plain_tps, plain_pad = real / secs, 1 - real / total

    print(f"{'':8} {'tokens/s':>10} {'padding':>8} {'seconds':>8}  (non-pad source+target tokens)")
    print(f"{'decaqa':8} {decaqa_tps:10.0f} {decaqa_pad:8.3f} {count.seconds:8.1f}  "
          f"token budget {args.max_tokens}, <= {args.max_rows} rows, length buckets")
    print(f"{'plain':8} {plain_tps:10.0f} {plain_pad:8.3f} {secs:8.1f}  "
          f"random batches of {args.batch_size}, padded to the longest")
    print(f"ratio {decaqa_tps / plain_tps:.2f}x ({args.precision}, {count.real} tokens each)")
    result = {"ratio": round(decaqa_tps / plain_tps, 3),
              "decaqa_tokens_per_s": round(decaqa_tps, 1), "plain_tokens_per_s": round(plain_tps, 1),
              "decaqa_padding": round(decaqa_pad, 4), "plain_padding": round(plain_pad, 4),
              "params": params, "flops_per_token": (4 if args.adapter else 6) * params}
    base_dir.cleanup()
    sys.stderr.flush()
    print(json.dumps(result), flush=True)  # the last line: one JSON object


if __name__ == "__main__":
    main()
