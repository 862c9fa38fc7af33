"""decaqa evaluate (decaqa.evaluate): the run's own figures reproduced from the export and
from a checkpoint, a predictions file scored again, the majority floor, `--tasks all` offline."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from decaqa.cli import run
from decaqa.data import MINI_DECATHLON_TASKS


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


def test_evaluate_num_beams_answers_as_generate_one_by_one(smoke_run: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """--num-beams N: every answer is transformers' own beam search on that question alone
    (same cap, same input), and the results record N; 0 beams is one sentence, exit 2."""
    import torch
    from transformers.generation.utils import GenerationMixin

    import decaqa
    from decaqa.evaluate import evaluate_model

    # the beams are really asked for: every decoding call evaluate makes gets num_beams=3 (a
    # spy, not a count of answers that differ from greedy: whether any do depends on how the
    # small model happened to train), through decaqa's beam search that drops settled
    # questions (a plain model's) or transformers' generate
    import decaqa.answer as answering

    beams: list = []
    real_generate = GenerationMixin.generate
    real_shrinking = answering.beam_shrinking

    def spy(self, *args, **kwargs):
        beams.append(kwargs.get("num_beams"))
        return real_generate(self, *args, **kwargs)

    def spy_shrinking(model, ids, mask, num_beams, *args, **kwargs):
        beams.append(num_beams)
        return real_shrinking(model, ids, mask, num_beams, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(GenerationMixin, "generate", spy)
        patch.setattr(answering, "beam_shrinking", spy_shrinking)
        results, preds = evaluate_model(str(smoke_run / "model"), tasks="squad,iwslt,woz",
                                        limit=8, num_beams=3)
    assert beams and set(beams) == {3}
    assert results["provenance"]["generation"]["num_beams"] == 3
    qa = decaqa.load(smoke_run / "model")
    assert qa.precision in (None, "32-true")  # the reference below runs in float32
    assert len(preds) == 3 * 8
    for row in preds:
        ids = qa.encode([(row["question"], row["context"])])[0]
        with torch.no_grad():
            out = qa.model.generate(input_ids=torch.tensor([ids]), num_beams=3,
                                    max_new_tokens=qa.cap(row["task"]), do_sample=False)
        assert row["prediction"] == qa.tokenizer.decode(out[0], skip_special_tokens=True).strip()
    bad = subprocess.run([sys.executable, "-m", "decaqa.cli", "evaluate", "--model",
                          str(smoke_run / "model"), "--num-beams", "0"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--num-beams = 0: beams are whole numbers of at least 1" in bad.stderr


def test_majority_baseline(tmp_path: Path) -> None:
    out = tmp_path / "base.json"
    assert run(["evaluate", "--baseline", "majority", "--tasks", "sst2,multinli,squad",
                "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["tasks"]["sst2"]["score"] == pytest.approx(50.0, abs=5)  # balanced labels
    assert doc["tasks"]["multinli"]["score"] == pytest.approx(33.3, abs=5)
    assert doc["tasks"]["squad"]["score"] < 5  # names are not guessable
    assert doc["decascore"] == pytest.approx(sum(t["score"] for t in doc["tasks"].values()))


def test_evaluate_all_tasks_offline_skips_hub_only_ones(smoke_run: Path, tmp_path: Path) -> None:
    """`--tasks all` with no network: every task whose data is here is scored, the rest listed
    with the reason, in the table and the JSON."""
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1"}
    from decaqa.mini_decathlon import ALL_TASKS  # the ten and the five beyond: data here
    from decaqa.tasks import registry

    hub_only = sorted(set(registry()) - set(ALL_TASKS))
    for argv in (["--model", str(smoke_run / "model"), "--limit", "4"],
                 ["--baseline", "majority", "--limit", "4"]):
        out = tmp_path / "all.json"
        done = subprocess.run([sys.executable, "-m", "decaqa.cli", "evaluate", "--tasks", "all",
                               "--output", str(out), *argv], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        doc = json.loads(out.read_text())
        assert set(doc["tasks"]) == set(ALL_TASKS)
        assert sorted(doc["skipped"]) == hub_only
        assert all("hub" in reason for reason in doc["skipped"].values())
        assert f"skipped {', '.join(hub_only)}: its data is only on the hub" in " ".join(
            done.stdout.split())
    # nothing readable at all is still an error, in one sentence
    bad = subprocess.run([sys.executable, "-m", "decaqa.cli", "evaluate", "--baseline",
                          "majority", "--tasks", "all", "--data-files", "x.jsonl"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
