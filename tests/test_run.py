"""The model half end to end on the smoke config: fit, artefacts, load/ask, evaluate, score."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import decaqa
from decaqa.cli import run
from decaqa.data import MINI_DECATHLON_TASKS

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


def test_fit_writes_every_artefact(smoke_run: Path) -> None:
    for name in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.csv",
                 "metrics.json", "mixture.json", "predictions.jsonl", "config.yaml",
                 "model/config.json", "model/model.safetensors", "model/tokenizer.json",
                 "model/decaqa.json", "curves.png"):
        assert (smoke_run / name).exists(), name
    assert list((smoke_run / "tb").glob("events.out.tfevents.*")), "no TensorBoard log"
    doc = json.loads((smoke_run / "metrics.json").read_text())
    assert set(doc["tasks"]) == set(MINI_DECATHLON_TASKS)
    assert doc["decascore"] == pytest.approx(sum(t["score"] for t in doc["tasks"].values()))
    for task in doc["tasks"].values():
        assert 0.0 <= task["score"] <= 100.0 and task["examples"] == 8
    prov = doc["provenance"]
    squad = prov["tasks"]["squad"]
    assert squad["converter_sha256"] and squad["data"]["train"][0].endswith("squad/train.jsonl.gz")
    assert prov["tasks"]["sst2"]["question"] == "Is this review negative or positive?"
    assert prov["generation"]["max_new_tokens"] == 16 and prov["seed"] == 0
    assert prov["batch_size"] == 8 and prov["decaqa_version"] == decaqa.__version__
    assert prov["checkpoint"].endswith("best.ckpt")
    export = json.loads((smoke_run / "model" / "decaqa.json").read_text())
    assert export["precision"] == "32-true" and export["eval_batch_size"] == 16
    mixture = json.loads((smoke_run / "mixture.json").read_text())
    assert sum(mixture["examples_seen"].values()) == 10 * 8  # 10 steps of 8 examples














# -- bad input: one clear sentence each, exit code 2, no traceback -----------------------------
def test_config_with_unknown_task(tmp_path: Path, fails) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(SMOKE.read_text() + "  tasks: [squad, sqaud_v3]\n")
    fails(["fit", "--config", str(cfg), "--run_dir", str(tmp_path / "r")],
           "Unknown task 'sqaud_v3'", "squad")










def test_bad_config_value(tmp_path: Path, fails) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(SMOKE.read_text().replace("data:\n", "data:\n  mixture:\n"
                                             "    strategy: roundrobin\n", 1))
    fails(["fit", "--config", str(cfg), "--run_dir", str(tmp_path / "r")],
           "roundrobin", "round_robin")


def test_fit_without_progress_bar_for_logs(tmp_path: Path) -> None:
    """`--trainer.enable_progress_bar false` (CI logs) runs instead of clashing with ours."""
    args = ["fit", "--config", str(SMOKE), "--run_dir", str(tmp_path / "quiet"),
            "--trainer.enable_progress_bar", "false", "--trainer.max_steps", "2",
            "--trainer.val_check_interval", "2"]
    assert run(args) == 0
    assert (tmp_path / "quiet" / "metrics.json").exists()


def test_fit_into_a_log_prints_progress_lines(tmp_path: Path) -> None:
    """stdout to a file (a cluster job, CI): plain progress lines, not a silent rich bar."""
    log = tmp_path / "job.log"
    args = [sys.executable, "-m", "decaqa.cli", "fit", "--config", str(SMOKE), "--run_dir",
            str(tmp_path / "logged"), "--progress_interval", "0"]
    with open(log, "w") as f:
        subprocess.run(args, stdout=f, stderr=subprocess.STDOUT, check=True, cwd=tmp_path)
    lines = [line for line in log.read_text().splitlines() if line.startswith("decaqa: step")]
    assert len(lines) == 10, log.read_text()[-2000:]  # interval 0: one line per step
    for n, line in enumerate(lines, 1):
        assert line.startswith(f"decaqa: step {n}/10  loss ")
        assert "examples/s" in line and "elapsed" in line and "left" in line
    text = log.read_text()
    assert "decaqa: training for 10 steps" in text and "decaqa: validated in" in text




