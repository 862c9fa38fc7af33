"""Lightning's strategies on two CPU processes: the smoke config trains and validates under
DDP, and `decaqa evaluate --devices 2` scores every example exactly once, as one process does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
DDP = ["--trainer.strategy", "ddp", "--trainer.accelerator", "cpu", "--trainer.devices", "2"]


def decaqa(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command in a fresh interpreter: Lightning's DDP launcher starts it again for rank 1.
    Both ranks run with Python's fault handler (inherited through the environment), so a rank
    that dies of a signal prints every thread's stack into the stderr kept below: a rank 1
    once ended with SIGABRT at shutdown, in one of many runs, with no reason in its output."""
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run([sys.executable, "-m", "decaqa.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600, env=env)
    if done.returncode != 0:  # pytest.fail's text is shown whole; an assert's repr is cut
        pytest.fail(f"exit code {done.returncode}\n--- stdout (end) ---\n{done.stdout[-2000:]}"
                    f"\n--- stderr (end) ---\n{done.stderr[-6000:]}", pytrace=False)
    return done


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("ddp") / "run"
    decaqa("fit", "--config", str(SMOKE), "--run_dir", str(run_dir), *DDP,
           "--trainer.max_steps", "12", "--trainer.val_check_interval", "6",
           "--data.steps_per_epoch", "12", "--trainer.enable_progress_bar", "false",
           cwd=run_dir.parent)
    return run_dir


def test_ddp_trains_validates_and_writes_every_artefact(ddp_run: Path) -> None:
    for name in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.json",
                 "mixture.json", "predictions.jsonl", "model/config.json",
                 "model/model.safetensors"):
        assert (ddp_run / name).exists(), name
    doc = json.loads((ddp_run / "metrics.json").read_text())
    assert doc["provenance"]["global_step"] == 12
    for task in doc["tasks"].values():
        assert task["examples"] == 8                      # val_limit 8: each example once
    preds = [json.loads(line) for line in (ddp_run / "predictions.jsonl").read_text().splitlines()]
    keys = [(p["task"], p["id"]) for p in preds]
    assert len(keys) == len(set(keys)) == 10 * 8
    # two ranks drew their own batches: the realised mixture counts both
    mixture = json.loads((ddp_run / "mixture.json").read_text())
    assert sum(mixture["examples_seen"].values()) == 2 * 12 * 8


def test_evaluate_on_two_processes_equals_one(ddp_run: Path, tmp_path: Path) -> None:
    model = str(ddp_run / "model")
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    preds_one, preds_two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    decaqa("evaluate", "--model", model, "--limit", "11", "--output", str(one),
           "--predictions", str(preds_one), cwd=tmp_path)
    done = decaqa("evaluate", "--model", model, "--limit", "11", "--devices", "2",
                  "--output", str(two), "--predictions", str(preds_two), cwd=tmp_path)
    assert done.stdout.count("decaScore") == 1             # one process reports
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert b["provenance"]["devices"] == 2 and a["provenance"]["devices"] == 1
    assert b["decascore"] == a["decascore"]
    for name, row in a["tasks"].items():
        assert b["tasks"][name]["scores"] == row["scores"], name
        assert b["tasks"][name]["examples"] == row["examples"] == 11   # 11: odd, uneven shares
    # every example exactly once, the same answers, in the same (data) order
    assert preds_two.read_text() == preds_one.read_text()


def test_ddp_resume_goes_on_as_the_uninterrupted_run(tmp_path: Path) -> None:
    """Two ranks, each its own stream of batches: a run stopped at step 8 and resumed to 16
    ends like the run that went straight to 16 (a constant learning rate, so stopping early
    changes no schedule): the same mixture, summed over both ranks, and the same weights."""
    import hashlib

    same = ["--config", str(SMOKE), *DDP, "--model.schedule", "constant",
            "--trainer.val_check_interval", "8", "--data.steps_per_epoch", "6",
            "--checkpoint_every_n_steps", "4", "--trainer.enable_progress_bar", "false"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    decaqa("fit", *same, "--run_dir", str(whole), "--trainer.max_steps", "16", cwd=tmp_path)
    decaqa("fit", *same, "--run_dir", str(parts), "--trainer.max_steps", "8", cwd=tmp_path)
    decaqa("fit", *same, "--run_dir", str(parts), "--trainer.max_steps", "16",
           "--ckpt_path", "last", cwd=tmp_path)
    for name in ("mixture.json", "predictions.jsonl"):
        assert (parts / name).read_text() == (whole / name).read_text(), name
    digest = [hashlib.sha256((d / "model" / "model.safetensors").read_bytes()).hexdigest()
              for d in (whole, parts)]
    assert digest[0] == digest[1]
    assert sum(json.loads((whole / "mixture.json").read_text())["examples_seen"].values()) \
        == 2 * 16 * 8


def test_every_command_leaves_its_process_group(tmp_path: Path) -> None:
    """`decaqa` destroys the process group before it returns, even when the command fails:
    a Gloo group left for the interpreter's exit can abort a rank (SIGABRT)."""
    import pytorch_lightning  # noqa: F401  (as every Lightning command has imported it)
    import torch.distributed as dist

    from decaqa.cli import run

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}",
                            rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        assert run(["score", str(tmp_path / "missing.jsonl")]) == 2   # one sentence, exit 2
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
