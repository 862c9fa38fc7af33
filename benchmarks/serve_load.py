"""`decaqa serve` under load: concurrent clients against one sequential client, same server.

The server: ``decaqa serve MODEL [--adapters DIR]`` started here on 127.0.0.1 (loopback only)
at a free port, as a user starts it. The requests: validation questions of the mini
decathlon's ten tasks, mixed (with ``--adapters``, each sent to one of the adapters' tasks in
turn). The baseline: one client sending them one after another. Then ``--clients`` levels
(1, 8, 32, 64 by default), each with that many clients at once sending ``--requests`` each;
every level stops by itself at ``--time-limit`` seconds. Each request carries an id; the
check: every one sent is answered exactly once, and each answer equals ``qa.ask`` on the same
input with the same task (this process loads the model too).

    python benchmarks/serve_load.py [--model runs/quickstart/model] [--adapters DIR]

Without ``--model`` the quickstart's model is trained here for ``--train-steps`` steps first.
Ends with one JSON line at ``--headline`` clients (32): rps, sequential_rps, ratio, p50_ms,
p95_ms, p99_ms, errors, sent, answered, identical.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import httpx

import decaqa
from decaqa.provenance import describe_machine
from decaqa.serve import Spawned

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ask_throughput import questions, train_quick_model  # noqa: E402 - the same questions


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def level(url: str, items: list[dict[str, Any]], clients: int, per_client: int,
                time_limit: float) -> dict[str, Any]:
    """``clients`` clients at once, ``per_client`` requests each (items in turn), bounded in
    time; every response kept by its request's id."""
    answers: dict[int, list[str]] = {}
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    deadline = time.perf_counter() + time_limit
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, timeout=time_limit, limits=limits) as http:
        async def client(c: int) -> None:
            nonlocal sent
            for k in range(per_client):
                if time.perf_counter() > deadline:
                    return
                rid = c * per_client + k
                item = items[rid % len(items)]
                sent += 1
                started = time.perf_counter()
                try:
                    r = await http.post("/ask", json=item["request"])
                except httpx.HTTPError as err:
                    errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
                    continue
                latencies.append(time.perf_counter() - started)
                if r.status_code != 200:
                    errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                    continue
                answers.setdefault(rid, []).append(r.json()["answer"])

        before = (await http.get("/health")).json()
        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        seconds = time.perf_counter() - started
        after = (await http.get("/health")).json()
    passes = after["batches"] - before["batches"]
    identical = sum(1 for rid, got in answers.items()
                    if len(got) == 1 and got[0] == items[rid % len(items)]["expected"])
    return {"clients": clients, "sent": sent, "answered": sum(len(a) for a in answers.values()),
            "once": all(len(a) == 1 for a in answers.values()), "identical": identical,
            "errors": sum(errors.values()), "error_kinds": errors, "seconds": seconds,
            "rps": len(latencies) / seconds if seconds else 0.0,
            "mean_batch": (after["answered"] - before["answered"]) / max(1, passes),
            "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95),
            "p99_ms": 1000 * percentile(latencies, 99)}


def requests_for(qa: Any, n: int, tasks: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """``n`` requests over the mini decathlon's questions (each sent with its own task, or
    with ``tasks`` in turn), with the answer `QA.ask` gives each."""
    out = []
    for k, (task, question, context) in enumerate(questions(n)):
        task = tasks[k % len(tasks)] if tasks else task
        out.append({"request": {"question": question, "context": context, "task": task},
                    "expected": qa.ask(question, context, task=task)})
    return out


def load_test(model: str, adapters: str | None, clients: Sequence[int], per_client: int,
              n: int, time_limit: float, tasks: Sequence[str] | None = None,
              serve_args: Sequence[str] = ()) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The sequential client and every level, against one server; the rows and the sequential
    one."""
    qa = decaqa.load(model, adapters=adapters)
    items = requests_for(qa, n, tasks)
    args = [model, *(["--adapters", adapters] if adapters else []), *serve_args]
    server = Spawned(*args)
    try:
        asyncio.run(level(server.url, items[:8], 1, 8, time_limit))  # warm up, not counted
        sequential = asyncio.run(level(server.url, items, 1, len(items), time_limit))
        rows = [asyncio.run(level(server.url, items, c, per_client, time_limit))
                for c in clients]
    finally:
        code = server.stop()
    if code != 0:
        raise SystemExit(f"the server did not exit cleanly (exit code {code})")
    return rows, sequential


def report(rows: list[dict[str, Any]], sequential: dict[str, Any],
           headline: int) -> dict[str, Any]:
    print(f"{'clients':>7} {'sent':>5} {'answered':>8} {'errors':>6} {'rps':>7} {'x seq':>6} "
          f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'batch':>5} identical")
    for row in [dict(sequential, clients="seq"), *rows]:
        print(f"{row['clients']:>7} {row['sent']:>5} {row['answered']:>8} {row['errors']:>6} "
              f"{row['rps']:7.1f} {row['rps'] / sequential['rps']:6.2f} {row['p50_ms']:7.0f} "
              f"{row['p95_ms']:7.0f} {row['p99_ms']:7.0f} {row['mean_batch']:5.1f} "
              f"{row['identical']}/{row['answered']}")
    top = next((r for r in rows if r["clients"] == headline), rows[-1])
    return {"rps": round(top["rps"], 2), "sequential_rps": round(sequential["rps"], 2),
            "ratio": round(top["rps"] / sequential["rps"], 3), "p50_ms": round(top["p50_ms"], 1),
            "p95_ms": round(top["p95_ms"], 1), "p99_ms": round(top["p99_ms"], 1),
            "errors": top["errors"], "sent": top["sent"],
            "answered": top["answered"], "identical": top["identical"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a decaqa export (default: train one briefly here)")
    parser.add_argument("--adapters", help="adapters over --model: requests go to their tasks")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--requests", type=int, default=16, help="per client, per level")
    parser.add_argument("--n", type=int, default=64, help="distinct questions (sequential: all)")
    parser.add_argument("--time-limit", type=float, default=300, help="seconds per level")
    parser.add_argument("--headline", type=int, default=32, help="the clients the JSON is of")
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--batch-timeout-ms", type=float, default=10.0)
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(train_quick_model(Path(tmp) / "run", args.train_steps))
        tasks = None
        if args.adapters:
            info = decaqa.load(model, adapters=args.adapters).info
            tasks = [t for t, spec in info.tasks.items() if spec.get("trained", True)]
        rows, sequential = load_test(model, args.adapters, args.clients, args.requests, args.n,
                                     args.time_limit, tasks, ["--max-batch", str(args.max_batch),
                                                            "--batch-timeout-ms",
                                                            str(args.batch_timeout_ms)])
    print(f"model: {model}" + (f", adapters {args.adapters} ({len(tasks)} tasks)" if tasks
                               else "") + f"; server: --max-batch {args.max_batch} --batch-timeout-ms "
          f"{args.batch_timeout_ms:g}")
    result = report(rows, sequential, args.headline)
    sys.stderr.flush()
    print(json.dumps(result), flush=True)  # the last line: one JSON object


if __name__ == "__main__":
    main()
