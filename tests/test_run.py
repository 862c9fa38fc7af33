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


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """One smoke fit (seconds) shared by the tests of this module."""
    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(run_dir)]) == 0
    return run_dir


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


def test_export_loads_with_plain_transformers(smoke_run: Path) -> None:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model = AutoModelForSeq2SeqLM.from_pretrained(smoke_run / "model")
    tok = AutoTokenizer.from_pretrained(smoke_run / "model")
    ids = tok("question: Who? context: Ana Bel.", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=4)
    assert out.shape[0] == 1 and isinstance(tok.decode(out[0]), str)


def test_load_and_ask_round_trip(smoke_run: Path) -> None:
    qa = decaqa.load(str(smoke_run / "model"))
    assert qa.tasks == list(MINI_DECATHLON_TASKS)
    pairs = [("Who founded Bousti Bank?", "Krir Shak founded Bousti Bank in 1986."),
             ("Is this review negative or positive?", "a dull film .")]
    batch = qa.ask_batch(pairs)
    assert batch == [qa.ask(q, c) for q, c in pairs]  # batching never changes an answer
    rows = [{"sentence": "a fine film .", "label": 1, "idx": 7}]
    (pred,) = qa.predict("sst2", rows)
    assert pred["id"] == "7" and pred["answers"] == ["positive"]
    assert isinstance(pred["prediction"], str)


def test_ask_command_prints_the_answer_alone(smoke_run: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "decaqa.cli", "ask", "--model",
                          str(smoke_run / "model"), "--question", "Who?", "--context",
                          "Ana Bel lives here."], capture_output=True, text=True, check=True)
    expected = decaqa.load(str(smoke_run / "model")).ask("Who?", "Ana Bel lives here.")
    assert out.stdout == expected + "\n"


def test_evaluate_reproduces_fit_figures(smoke_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "eval.json"
    preds = tmp_path / "preds.jsonl"
    assert run(["evaluate", "--model", str(smoke_run / "model"), "--limit", "8",
                "--output", str(out), "--predictions", str(preds)]) == 0
    fit = json.loads((smoke_run / "metrics.json").read_text())
    ev = json.loads(out.read_text())
    assert ev["decascore"] == pytest.approx(fit["decascore"])
    for name, row in fit["tasks"].items():
        assert ev["tasks"][name]["score"] == pytest.approx(row["score"]), name
    assert "decaScore" in capsys.readouterr().out
    # and scoring that predictions file elsewhere gives the same figures again
    assert run(["score", str(preds), "--output", str(tmp_path / "s.json")]) == 0
    scored = json.loads((tmp_path / "s.json").read_text())
    assert scored["decascore"] == pytest.approx(fit["decascore"])


def test_evaluate_from_checkpoint_matches_export(smoke_run: Path, tmp_path: Path) -> None:
    from decaqa.evaluate import evaluate_model

    from_ckpt, _ = evaluate_model(str(smoke_run / "checkpoints" / "best.ckpt"),
                                  tasks="sst2,squad", limit=8, batch_size=16)
    from_export, _ = evaluate_model(str(smoke_run / "model"), tasks="sst2,squad", limit=8)
    for name in ("sst2", "squad"):
        assert from_ckpt["tasks"][name]["score"] == pytest.approx(
            from_export["tasks"][name]["score"])


def test_majority_baseline(tmp_path: Path) -> None:
    out = tmp_path / "base.json"
    assert run(["evaluate", "--baseline", "majority", "--tasks", "sst2,multinli,squad",
                "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["tasks"]["sst2"]["score"] == pytest.approx(50.0, abs=5)  # balanced labels
    assert doc["tasks"]["multinli"]["score"] == pytest.approx(33.3, abs=5)
    assert doc["tasks"]["squad"]["score"] < 5  # names are not guessable
    assert doc["decascore"] == pytest.approx(sum(t["score"] for t in doc["tasks"].values()))


# -- bad input: one clear sentence each, exit code 2, no traceback -----------------------------
def _fails(capsys, argv: list[str], *needles: str) -> str:
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.startswith("decaqa: ")
    for needle in needles:
        assert needle in err, err
    return err


def test_config_with_unknown_task(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(SMOKE.read_text() + "  tasks: [squad, sqaud_v3]\n")
    _fails(capsys, ["fit", "--config", str(cfg), "--run_dir", str(tmp_path / "r")],
           "Unknown task 'sqaud_v3'", "squad")


def test_model_path_that_is_not_a_model(tmp_path: Path, capsys) -> None:
    _fails(capsys, ["ask", "--model", str(tmp_path), "--question", "q", "--context", "c"],
           "not a model folder")
    _fails(capsys, ["evaluate", "--model", str(tmp_path / "nope")], "does not exist")


def test_corrupt_and_truncated_checkpoints(smoke_run: Path, tmp_path: Path, capsys) -> None:
    good = (smoke_run / "checkpoints" / "best.ckpt").read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    for bad in (truncated, garbage):
        _fails(capsys, ["evaluate", "--model", str(bad)], "corrupt or truncated")
        _fails(capsys, ["fit", "--config", str(SMOKE), "--ckpt_path", str(bad),
                        "--run_dir", str(tmp_path / "r")], "corrupt or truncated")


def test_empty_question_and_context(smoke_run: Path, capsys) -> None:
    model = str(smoke_run / "model")
    _fails(capsys, ["ask", "--model", model, "--question", " ", "--context", "c"],
           "Question 0 is empty")
    _fails(capsys, ["ask", "--model", model, "--question", "Who?", "--context", ""],
           "context", "empty")


def test_over_long_input_is_truncated_and_reported(smoke_run: Path, capsys) -> None:
    qa = decaqa.load(str(smoke_run / "model"))
    qa.ask("Who?", "word " * 2000)
    assert qa.truncated == 1
    assert "truncated" in capsys.readouterr().err


def test_bad_config_value(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(SMOKE.read_text().replace("data:\n", "data:\n  mixture:\n"
                                             "    strategy: roundrobin\n", 1))
    _fails(capsys, ["fit", "--config", str(cfg), "--run_dir", str(tmp_path / "r")],
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


def test_evaluate_all_tasks_offline_skips_hub_only_ones(smoke_run: Path, tmp_path: Path) -> None:
    """`--tasks all` with no network: every task whose data is here is scored, the rest listed
    with the reason, in the table and the JSON."""
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1"}
    from decaqa.tasks import registry

    hub_only = sorted(set(registry()) - set(MINI_DECATHLON_TASKS))
    for argv in (["--model", str(smoke_run / "model"), "--limit", "4"],
                 ["--baseline", "majority", "--limit", "4"]):
        out = tmp_path / "all.json"
        done = subprocess.run([sys.executable, "-m", "decaqa.cli", "evaluate", "--tasks", "all",
                               "--output", str(out), *argv], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        doc = json.loads(out.read_text())
        assert set(doc["tasks"]) == set(MINI_DECATHLON_TASKS)
        assert sorted(doc["skipped"]) == hub_only
        assert all("hub" in reason for reason in doc["skipped"].values())
        assert f"skipped {', '.join(hub_only)}: its data is only on the hub" in " ".join(
            done.stdout.split())
    # nothing readable at all is still an error, in one sentence
    bad = subprocess.run([sys.executable, "-m", "decaqa.cli", "evaluate", "--baseline",
                          "majority", "--tasks", "all", "--data-files", "x.jsonl"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_checkpoint_with_a_pickled_payload_is_refused_unrun(tmp_path: Path, capsys) -> None:
    """A checkpoint is data: one carrying a pickled object is refused, and its code never runs."""
    import os

    import torch

    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "payload.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload()}}, bad)
    for argv in (["evaluate", "--model", str(bad)],
                 ["ask", "--model", str(bad), "--question", "Who?", "--context", "Ana."]):
        _fails(capsys, argv, "holds Python objects", "decaqa fit")
    assert not marker.exists()
