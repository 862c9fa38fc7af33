"""A hundred LoRA adapters over one base in one process: memory, disk, adding one, and a batch
that mixes a hundred tasks answered in one pass against grouping it by task and against
swapping the adapter per request; then `decaqa serve` under load over the hundred tasks.

The adapters: ``--n`` (100) LoRA adapters (decaqa's defaults: r 8 on q and v) over the base,
fresh and then perturbed so that each answers differently (as trained ones would; their
quality is not the point here), written as a run writes them, plus one more to add later.

- memory: resident memory (VmRSS, every weight read once, after freeing what loading left
  behind) of a process that loaded the base alone, and of one that loaded the base with the
  hundred (``--t5-base-shape``: also over a base of t5-base's shape, built from its config); the growth against
  the adapters' own bytes (their parameters) — a copy of the base per adapter would show here;
- disk: the hundred adapters' files against a hundred full copies (one measured, times 100);
- adding one: `Adapters.add` of the 101st into the running model;
- answering ``--questions`` questions (the mini decathlon's, each sent to one of the hundred
  tasks in turn): one pass over the mixed batch (peft routes rows to their adapters), one batch
  per task, and one request at a time (the adapter swapped for each); the answers must agree.

    python benchmarks/hundred_adapters.py [--model runs/quickstart/model]

Ends with one JSON line: adapters, base_rss_mb, with_adapters_rss_mb, growth_mb, adapters_mb,
growth_ratio, disk_adapters_mb, disk_full_copies_mb, disk_ratio, add_one_ms, mixed_s,
grouped_s, swapped_s, grouped_ratio, swapped_ratio, identical, load_test (serve_load's keys).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import decaqa
from decaqa import store
from decaqa.adapters import Adapters, AdapterSettings, file_bytes
from decaqa.provenance import describe_machine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ask_throughput import questions, train_quick_model  # noqa: E402
from serve_load import load_test, report  # noqa: E402

MB = 1e6


def make_adapters(model: str, names: list[str], folder: Path, seed: int) -> None:
    """LoRA adapters ``names`` over ``model``, perturbed, written as a run writes them."""
    loaded = store.load(model)
    adapters = Adapters(AdapterSettings(method="lora"), names, loaded.info.trained_tasks)
    net = adapters.attach(loaded.model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name in adapters.keys and "lora_B" in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    info = store.ExportInfo.from_dict(loaded.info.to_dict())
    cap = loaded.info.generation.max_new_tokens
    info.tasks = {n: {"metrics": ["em"], "question": None, "trained": True,
                      "max_new_tokens": cap} for n in names}
    store.write_export(folder, net, loaded.tokenizer, info, adapters, base=model)


# t5-base's shape (its vocabulary aside: the tokenizer here is trained on the mini collection)
T5_BASE = {"d_model": 768, "d_ff": 3072, "num_layers": 12, "num_heads": 12, "d_kv": 64}


def shaped_base(folder: Path, shape: dict) -> str:
    """A base of ``shape`` built from its config (untrained: memory and disk only), exported."""
    from decaqa.example import format_input
    from decaqa.network import build_from_config
    from decaqa.tokenizer import train_tokenizer

    texts = [format_input(q, c) for _, q, c in questions(400)]
    tok = train_tokenizer(texts, 4000)
    store.write_export(folder, build_from_config(shape, tok), tok, store.ExportInfo())
    return str(folder)


def memory(model: str, folder: Path) -> dict:
    """Resident memory of the base alone and with the adapters (each in a fresh process)."""
    base, held = child(model, None), child(model, str(folder))
    growth = held["rss_mb"] - base["rss_mb"]
    own = held["adapters_bytes"] / MB
    return {"base_rss_mb": round(base["rss_mb"], 1),
            "with_adapters_rss_mb": round(held["rss_mb"], 1), "growth_mb": round(growth, 2),
            "adapters_mb": round(own, 2), "growth_ratio": round(growth / own, 3)}


def resident_mb() -> float:
    """This process's resident memory, after handing freed heap back (glibc's malloc_trim)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MB
    raise SystemExit("resident memory is read from /proc/self/status (Linux)")


def measure_child(model: str, adapters: str | None) -> None:
    """In a fresh process: load, and print the resident memory and the adapters' bytes."""
    import peft  # noqa: F401 - imported either way, so that its code is not counted as growth

    qa = decaqa.load(model, adapters=adapters)
    with torch.no_grad():  # every weight read once: weights mapped from their files count
        for p in qa.model.parameters():
            p.sum()
    own = 0
    if qa.adapters is not None:
        own = sum(p.numel() * p.element_size() for n, p in qa.model.named_parameters()
                  if n in qa.adapters.keys)
    print(json.dumps({"rss_mb": resident_mb(), "adapters_bytes": own}))


def child(model: str, adapters: str | None) -> dict:
    args = [sys.executable, __file__, "--measure", model] + ([adapters] if adapters else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        return measure_child(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a decaqa export (default: train one briefly here)")
    parser.add_argument("--n", type=int, default=100, help="adapters")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=8, help="per client, per level")
    parser.add_argument("--time-limit", type=float, default=300)
    parser.add_argument("--t5-base-shape", action="store_true",
                        help="also measure memory over a base of t5-base's shape (minutes)")
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or str(train_quick_model(tmp / "run", args.train_steps))
        names = [f"task{i:03d}" for i in range(args.n)]
        folder, extra = tmp / "adapters", tmp / "extra"
        make_adapters(model, names, folder, seed=0)
        make_adapters(model, [f"task{args.n:03d}"], extra, seed=1)

        mem = memory(model, folder)
        disk_adapters = file_bytes(*(folder / n for n in names)) / MB
        one_copy = sum(f.stat().st_size for f in Path(model).glob("*.safetensors")) / MB

        qa = decaqa.load(model, adapters=str(folder))
        items = questions(args.questions)
        pairs = [(q, c) for _, q, c in items]
        tasks = [names[k % len(names)] for k in range(len(pairs))]
        qa.ask_batch(pairs[:8], task=tasks[:8])  # warm-up
        mixed, mixed_s = timed(lambda: qa.ask_batch(pairs, task=tasks))
        order = sorted(range(len(pairs)), key=lambda k: tasks[k])

        def grouped_way() -> list[str]:
            out = [""] * len(pairs)
            for name in names:
                ks = [k for k in order if tasks[k] == name]
                for k, a in zip(ks, qa.ask_batch([pairs[k] for k in ks], task=name)):
                    out[k] = a
            return out
        grouped, grouped_s = timed(grouped_way)
        swapped, swapped_s = timed(lambda: [qa.ask(q, c, task=t)
                                            for (q, c), t in zip(pairs, tasks)])
        identical = sum(a == b == c for a, b, c in zip(mixed, grouped, swapped))

        new = f"task{args.n:03d}"
        _, add_s = timed(lambda: qa.adapters.add(qa.model, extra, new))
        answered_new = qa.ask(*pairs[0], task=new)
        del qa
        gc.collect()

        shaped = None
        if args.t5_base_shape:  # the same hundred over a base of t5-base's shape
            big = shaped_base(tmp / "t5_base_shape", T5_BASE)
            make_adapters(big, names, tmp / "big_adapters", seed=0)
            shaped = memory(big, tmp / "big_adapters")
            shaped["base_params"] = sum(p.numel() for p in decaqa.load(big).model.parameters())
        rows, sequential = load_test(model, str(folder), args.clients, args.requests,
                                     min(64, args.questions), args.time_limit, names)

    print(f"model: {model}; {args.n} LoRA adapters (r 8 on q and v)")
    for label, m in (("", mem), (" (t5-base's shape)", shaped)):
        if m is not None:
            print(f"memory{label}   base {m['base_rss_mb']:.1f} MB, with the {args.n} "
                  f"{m['with_adapters_rss_mb']:.1f} MB: growth {m['growth_mb']:.1f} MB for "
                  f"{m['adapters_mb']:.1f} MB of adapter weights ({m['growth_ratio']:.2f}x)")
    print(f"disk     {args.n} adapters {disk_adapters:.1f} MB; {args.n} full copies "
          f"{one_copy * args.n:.1f} MB ({one_copy * args.n / disk_adapters:.1f}x smaller)")
    print(f"add one  {1000 * add_s:.1f} ms (it answers: {answered_new!r})")
    print(f"answer   {len(pairs)} questions over {args.n} tasks: one mixed pass {mixed_s:.2f} s, "
          f"by task {grouped_s:.2f} s ({grouped_s / mixed_s:.2f}x), swapping per request "
          f"{swapped_s:.2f} s ({swapped_s / mixed_s:.2f}x); identical {identical}/{len(pairs)}")
    print(f"serve over the {args.n} tasks:")
    load = report(rows, sequential, 32 if 32 in args.clients else args.clients[-1])
    result = {"adapters": args.n, **mem,
              "disk_adapters_mb": round(disk_adapters, 2),
              "disk_full_copies_mb": round(one_copy * args.n, 1),
              "disk_ratio": round(one_copy * args.n / disk_adapters, 1),
              "add_one_ms": round(1000 * add_s, 1), "mixed_s": round(mixed_s, 3),
              "grouped_s": round(grouped_s, 3), "swapped_s": round(swapped_s, 3),
              "grouped_ratio": round(grouped_s / mixed_s, 3),
              "swapped_ratio": round(swapped_s / mixed_s, 3),
              "identical": identical, "load_test": load}
    if shaped is not None:
        result["t5_base_shape"] = shaped
    sys.stderr.flush()
    print(json.dumps(result), flush=True)  # the last line: one JSON object


if __name__ == "__main__":
    main()
