"""The data path at scale: convert and tokenize 100k and 1M SQuAD-shaped rows.

Each size runs in a fresh process (so its peak RSS is its own) with an empty `datasets`
cache: load the JSON-lines file (datasets' json builder, Arrow), convert with the squad
converter and tokenize with a fixed BPE (datasets' map, ``--num-proc`` processes), exactly as
`decaqa fit` does. Then the 100k run is repeated on the warm cache: the same data and
tokenizer must reuse every step's Arrow cache. Peak RSS is the largest resident set of the
process or any of its map workers.

    python benchmarks/data_scale.py [--sizes 100000 1000000] [--num-proc 2]

Ends with one JSON line: rows_per_s_100k, rows_per_s_1m, peak_rss_mb_100k, peak_rss_mb_1m,
memory_ratio (1m / 100k) and cache_speedup (cold / warm, 100k).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from decaqa.provenance import describe_machine

WORDS = ("river city north stone market engineer studied founded wrote built village "
         "company station museum garden winter summer library valley bridge harbour "
         "school teacher doctor painter island mountain forest castle railway").split()


def write_rows(path: Path, n: int, seed: int = 0) -> None:
    """``n`` SQuAD-shaped rows (id, title, context, question, answers{text, answer_start})."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            name = f"{rng.choice('BKLMNRST')}{rng.choice('aeiou')}{rng.randrange(10**6):06d}"
            filler = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90)))
            context = f"{filler} {name} lives in the {rng.choice(WORDS)} quarter. {filler[:80]}"
            start = context.index(name)
            f.write(json.dumps({"id": f"r{i}", "title": "t", "context": context,
                                "question": f"Who lives in the quarter near the {WORDS[i % 9]}?",
                                "answers": {"text": [name], "answer_start": [start]}}) + "\n")


def child(file: str, tokenizer_file: str, num_proc: int) -> None:
    """One measured pass: load, convert, tokenize; prints a JSON line of its figures."""
    started = time.perf_counter()
    from decaqa.data import convert_split, tokenize_split
    from decaqa.datafiles import load_local
    from decaqa.example import DEFAULT_FORMAT
    from decaqa.tasks import get_task
    from decaqa.tokenizer import load_tokenizer

    import datasets
    datasets.disable_progress_bars()
    imported = time.perf_counter()
    rows = load_local([file])
    triples, skipped = convert_split(get_task("squad"), rows, num_proc)
    tokenized = tokenize_split(triples, load_tokenizer(tokenizer_file), DEFAULT_FORMAT, 512, 64,
                               "squad", num_proc)
    done = time.perf_counter()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"rows": len(rows), "examples": len(tokenized), "skipped": skipped,
                      "seconds": done - imported, "import_s": imported - started,
                      "peak_rss_mb": max(own, workers)}))


def run_child(file: Path, tok: Path, cache: Path, num_proc: int) -> dict:
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache)}
    out = subprocess.run([sys.executable, __file__, "--child", str(file), str(tok),
                          str(num_proc)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100_000, 1_000_000])
    parser.add_argument("--num-proc", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    from decaqa.tokenizer import train_tokenizer

    small, large = args.sizes
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sample = tmp / "sample.jsonl"
        write_rows(sample, 2000, seed=1)
        texts = [json.loads(line)["context"] for line in open(sample)]
        tok = tmp / "tokenizer.json"
        train_tokenizer(texts, 2000).backend_tokenizer.save(str(tok))
        results = {}
        for n in (small, large):
            file = tmp / f"rows_{n}.jsonl"
            write_rows(file, n)
            cache = tmp / f"cache_{n}"
            cold = run_child(file, tok, cache, args.num_proc)
            results[n] = {"cold": cold}
            print(f"{n:>9,} rows: {cold['seconds']:7.1f} s  {n / cold['seconds']:9.0f} rows/s  "
                  f"peak RSS {cold['peak_rss_mb']:7.0f} MB  (fresh process, cold cache)")
            if n == small:
                warm = run_child(file, tok, cache, args.num_proc)
                results[n]["warm"] = warm
                print(f"{n:>9,} rows: {warm['seconds']:7.1f} s  (same data and tokenizer, "
                      f"warm cache: {cold['seconds'] / warm['seconds']:.0f}x faster)")
            file.unlink()
    a, b = results[small]["cold"], results[large]["cold"]
    ratio = b["peak_rss_mb"] / a["peak_rss_mb"]
    speedup = a["seconds"] / results[small]["warm"]["seconds"]
    print(f"memory {large // small}x the rows: {ratio:.2f}x the peak RSS; cache speed-up "
          f"{speedup:.0f}x; num_proc {args.num_proc}")
    result = {"rows_per_s_100k": round(small / a["seconds"], 1),
              "rows_per_s_1m": round(large / b["seconds"], 1),
              "peak_rss_mb_100k": round(a["peak_rss_mb"], 1),
              "peak_rss_mb_1m": round(b["peak_rss_mb"], 1),
              "memory_ratio": round(ratio, 3), "cache_speedup": round(speedup, 1)}
    sys.stderr.flush()
    print(json.dumps(result), flush=True)  # the last line: one JSON object


if __name__ == "__main__":
    main()
