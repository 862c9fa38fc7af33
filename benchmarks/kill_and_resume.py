"""A run killed with SIGKILL and resumed with ``--ckpt_path last``, beside the same run left
alone: the step, the decaScore, each task's score, the realised mixture and the exported
weights, side by side.

Both runs are real `decaqa fit` processes of one config and seed (default: the quickstart's
model and data, without its time budget, 600 steps in its own precision, validated at 300
and 600, `last.ckpt` every 50 steps). The second is killed as soon as its `last.ckpt` has
reached `--kill-at`, then resumed to the end. An exact resume gives the same everything; the
figures are printed side by side and the last line is JSON:
``{"uninterrupted": {"step", "decascore", "mixture"}, "resumed": {"killed_at", "step",
"decascore", "mixture"}, "identical": {"scores", "mixture", "predictions", "weights"}}``.

    python benchmarks/kill_and_resume.py          # the quickstart's model, about 4 minutes
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from decaqa.provenance import describe_machine

ROOT = Path(__file__).resolve().parents[1]


def step_of(ckpt: Path) -> int:
    import torch

    try:
        return int(torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"])
    except (OSError, RuntimeError, KeyError, EOFError):   # not there yet, or being renamed
        return -1


def outcome(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    weights = run_dir / "model" / "model.safetensors"
    return {"step": metrics["provenance"]["global_step"], "decascore": metrics["decascore"],
            "scores": {t: v["score"] for t, v in metrics["tasks"].items()},
            "mixture": json.loads((run_dir / "mixture.json").read_text())["examples_seen"],
            "predictions": (run_dir / "predictions.jsonl").read_text(),
            "weights": hashlib.sha256(weights.read_bytes()).hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "quickstart.yaml"))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--kill-at", type=int, default=400,
                        help="kill once last.ckpt holds this step or a later one")
    parser.add_argument("--every", type=int, default=50, help="checkpoint_every_n_steps")
    parser.add_argument("--out", help="keep both runs here (default: a temporary folder)")
    args = parser.parse_args()
    if not 0 < args.kill_at < args.steps:
        raise SystemExit(f"--kill-at must lie between 0 and --steps ({args.steps}); "
                         f"got {args.kill_at}")
    print(f"machine: {describe_machine()}")
    out = Path(args.out or tempfile.mkdtemp(prefix="kill_and_resume_")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = str(Path(args.config).resolve())
    fit = [sys.executable, "-m", "decaqa.cli", "fit", "--config", config,
           "--time_budget", "null", "--trainer.max_steps", str(args.steps),
           "--trainer.val_check_interval", str(args.steps // 2),
           "--checkpoint_every_n_steps", str(args.every), "--trainer.enable_progress_bar",
           "false"]

    def launch(run_dir: Path, *extra: str) -> subprocess.Popen:
        log = open(run_dir.with_suffix(".log"), "a")
        return subprocess.Popen([*fit, "--run_dir", str(run_dir), *extra], stdout=log,
                                stderr=subprocess.STDOUT, cwd=out)

    def finish(proc: subprocess.Popen, run_dir: Path) -> None:
        if proc.wait() != 0:
            raise SystemExit(f"decaqa fit failed: see {run_dir.with_suffix('.log')}")

    for name in ("uninterrupted", "resumed"):
        shutil.rmtree(out / name, ignore_errors=True)
        (out / f"{name}.log").unlink(missing_ok=True)
    started = time.time()
    finish(launch(out / "uninterrupted"), out / "uninterrupted")
    whole_s = time.time() - started

    run_dir = out / "resumed"
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = launch(run_dir)
    while proc.poll() is None and step_of(last) < args.kill_at:
        time.sleep(0.1)
    if proc.poll() is not None:
        raise SystemExit(f"the run ended before step {args.kill_at}: nothing to kill")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = step_of(last)
    print(f"killed with SIGKILL; its last.ckpt holds step {killed_at}", flush=True)
    finish(launch(run_dir, "--ckpt_path", "last"), run_dir)

    whole, resumed = outcome(out / "uninterrupted"), outcome(run_dir)
    identical = {key: whole[key] == resumed[key]
                 for key in ("scores", "mixture", "predictions", "weights")}
    print(f"{'':28}{'uninterrupted':>14}{'killed, resumed':>17}")
    print(f"{'step':28}{whole['step']:>14}{resumed['step']:>17}")
    print(f"{'decaScore':28}{whole['decascore']:>14.2f}{resumed['decascore']:>17.2f}")
    for task, score in whole["scores"].items():
        print(f"{'  ' + task:28}{score:>14.2f}{resumed['scores'].get(task, float('nan')):>17.2f}")
    for task, seen in whole["mixture"].items():
        print(f"{'  examples of ' + task:28}{seen:>14}{resumed['mixture'].get(task, 0):>17}")
    print(f"identical: {identical}; the uninterrupted run took {whole_s:.0f}s; runs in {out}")
    print(json.dumps({
        "uninterrupted": {k: whole[k] for k in ("step", "decascore", "mixture")},
        "resumed": {"killed_at": killed_at, **{k: resumed[k]
                                                for k in ("step", "decascore", "mixture")}},
        "identical": identical}))


if __name__ == "__main__":
    main()
