"""One results object, and reports drawn from it: retention, report.md, scores.png,
curves.png; `decaqa evaluate --report` and `--questions all` on a real (smoke) model."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from decaqa.cli import run
from decaqa.evaluate import score_predictions
from decaqa.report import plot_curves, write_report

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def rows(task: str, preds: list[str], answers: list[str]) -> list[dict]:
    return [{"id": str(i), "task": task, "prediction": p, "answers": [a], "question": "q?"}
            for i, (p, a) in enumerate(zip(preds, answers))]










def test_curves_are_drawn_from_the_logged_csv(tmp_path: Path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train/loss,val/decascore,val/sst2/em,val/squad/nf1\n"
                   "0,4,5.0,,,\n0,9,4.0,,,\n0,9,,30.0,20.0,10.0\n0,19,3.0,,,\n"
                   "0,19,,40.0,25.0,15.0\n")
    out = plot_curves(csv, tmp_path / "curves.png", {"sst2": "em", "squad": "nf1"})
    assert out is not None and out.read_bytes().startswith(PNG)
    assert plot_curves(tmp_path / "missing.csv", tmp_path / "x.png") is None


def test_fit_draws_curves_and_names_them(smoke_run: Path):
    assert (smoke_run / "curves.png").read_bytes().startswith(PNG)
    doc = json.loads((smoke_run / "metrics.json").read_text())
    assert set(doc) == {"decascore", "tasks", "provenance"}


def test_evaluate_report_numbers_equal_the_json(smoke_run: Path, tmp_path: Path, capsys):
    folder = tmp_path / "report"
    assert run(["evaluate", "--model", str(smoke_run / "model"), "--tasks", "sst2,squad,wsc",
                "--limit", "12", "--questions", "all", "--report", str(folder),
                "--output", str(tmp_path / "out.json")]) == 0
    for name in ("report.md", "scores.png", "results.json", "predictions.jsonl"):
        assert (folder / name).exists(), name
    assert (folder / "scores.png").read_bytes().startswith(PNG)
    doc = json.loads((folder / "results.json").read_text())
    assert doc["decascore"] == json.loads((tmp_path / "out.json").read_text())["decascore"]
    text = (folder / "report.md").read_text()
    header = next(l for l in text.splitlines() if l.startswith("| task |"))
    names = [c.strip() for c in header.strip("|").split("|")]
    assert names == ["task", "metric", "score", "floor", "copy", "paraphrase", "retention",
                     "examples"]
    for name, row in doc["tasks"].items():
        line = next(l for l in text.splitlines() if l.startswith(f"| {name} |"))
        cells = dict(zip(names, (c.strip() for c in line.strip("|").split("|"))))
        assert float(cells["score"]) == pytest.approx(row["score"], abs=0.05)
        assert float(cells["floor"]) == pytest.approx(doc["floor"]["tasks"][name], abs=0.05)
        if row.get("copy_rate") is None:
            assert cells["copy"] == ""
        else:
            assert float(cells["copy"].rstrip("%")) == pytest.approx(100 * row["copy_rate"],
                                                                      abs=0.5)
        if row["paraphrase"] is None:
            assert [cells["paraphrase"], cells["retention"]] == ["n/a", "n/a"]
            assert row["retention"] is None
            continue
        assert float(cells["paraphrase"]) == pytest.approx(row["paraphrase"]["score"], abs=0.05)
        if row["score"]:
            assert row["retention"] == pytest.approx(row["paraphrase"]["score"] / row["score"],
                                                     abs=1e-4)
        else:  # nothing to retain: said as n/a, not divided by zero
            assert row["retention"] is None and cells["retention"] == "n/a"
    # squad's answers come from its context, sst2's do not
    assert doc["tasks"]["squad"]["copy_examples"] == 12
    assert "copy_rate" not in doc["tasks"]["sst2"]
    assert doc["tasks"]["squad"]["retention"] is None        # its questions come from rows
    assert doc["tasks"]["sst2"]["paraphrase"] is not None
    assert f"**{doc['decascore']:.1f}**" in text
    preds = [json.loads(l) for l in (folder / "predictions.jsonl").read_text().splitlines()]
    assert {p["asked_with"] for p in preds} == {"canonical", "paraphrase"}
    sst2_para = {p["question"] for p in preds if p["task"] == "sst2"
                 and p["asked_with"] == "paraphrase"}
    assert sst2_para and "Is this review negative or positive?" not in sst2_para
    assert re.search(r"### sst2\n", text)                   # sample predictions per task
    out = capsys.readouterr().out
    assert "retention" in out and "floor" in out


def test_write_report_from_a_scored_file(tmp_path: Path):
    preds = rows("sst2", ["positive", "negative"], ["positive", "positive"])
    results = score_predictions(preds)
    paths = write_report(tmp_path, results, preds)
    assert [p.name for p in paths] == ["report.md", "scores.png", "results.json",
                                       "predictions.jsonl"]
    assert "| right | q? | positive | positive |" in (tmp_path / "report.md").read_text()
    assert "| wrong | q? | negative | positive |" in (tmp_path / "report.md").read_text()
