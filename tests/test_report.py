"""One results object, and reports drawn from it: retention, report.md, scores.png,
curves.png; `decaqa evaluate --report` and `--questions all` on a real (smoke) model."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from decaqa.cli import run
from decaqa.evaluate import score_predictions
from decaqa.report import markdown, plot_curves, write_report
from decaqa.results import document, is_correct, with_retention

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def rows(task: str, preds: list[str], answers: list[str]) -> list[dict]:
    return [{"id": str(i), "task": task, "prediction": p, "answers": [a], "question": "q?"}
            for i, (p, a) in enumerate(zip(preds, answers))]


def test_results_by_hand():
    out = score_predictions(rows("sst2", ["positive", "negative", "positive", "positive"],
                                 ["positive", "positive", "positive", "negative"])
                            + rows("squad", ["Paris"], ["paris"]))
    assert out["tasks"]["sst2"] == {"metric": "em", "score": 50.0, "scores": {"em": 50.0},
                                    "examples": 4}
    assert out["tasks"]["squad"]["score"] == 100.0       # nf1 after normalisation
    assert out["decascore"] == 150.0
    doc = document({**out, "step": 7, "predictions": []}, {"seed": 0})
    assert set(doc) == {"decascore", "tasks", "provenance"}


def test_retention_is_paraphrase_over_canonical_and_na_without_paraphrases():
    canonical = {"decascore": 130.0, "tasks": {
        "sst2": {"metric": "em", "score": 80.0, "scores": {"em": 80.0}, "examples": 10},
        "squad": {"metric": "nf1", "score": 50.0, "scores": {"nf1": 50.0}, "examples": 10}}}
    para = {"decascore": 110.0, "tasks": {
        "sst2": {"metric": "em", "score": 60.0, "scores": {"em": 60.0}, "examples": 10},
        "squad": {"metric": "nf1", "score": 50.0, "scores": {"nf1": 50.0}, "examples": 10}}}
    out = with_retention(canonical, para, asked=["sst2"])
    assert out["tasks"]["sst2"]["retention"] == 0.75
    assert out["tasks"]["sst2"]["paraphrase"]["score"] == 60.0
    assert out["tasks"]["squad"]["retention"] is None and out["tasks"]["squad"]["paraphrase"] is None
    assert out["paraphrase"] == {"decascore": 110.0, "retention": 0.75, "tasks_measured": 1}
    two = with_retention(canonical, para, asked=["sst2", "squad"])
    assert two["paraphrase"]["retention"] == round((60 + 50) / (80 + 50), 4)  # summed, not mean
    assert out["decascore"] == 130.0                    # the headline stays the canonical one
    text = markdown(out, [])
    assert "| sst2 | em | 80.0 | 60.0 | 0.75 | 10 |" in text
    assert "| squad | nf1 | 50.0 | n/a | n/a | 10 |" in text


def test_copy_rate_by_hand():
    """Of the examples whose answer is in the context, the share answered from it."""
    ctx = "Tavo Brenik was born in Olmora. He works for Kestrel Mills."
    made = [{"task": "squad", "prediction": p, "answers": [a], "context": ctx}
            for p, a in [("Olmora", "Olmora"),              # right, copied
                         ("Kestrel Mills", "Olmora"),       # wrong, but copied
                         ("Kestor", "Tavo Brenik"),         # invented: not in the context
                         ("olmora.", "Olmora"),             # normalised like the metrics
                         ("", "Olmora"),                    # empty: not a copy
                         ("Olm", "Olmora"),                 # part of a word: not a copy
                         ("unanswerable", "unanswerable")]]  # answer not in context: uncounted
    out = score_predictions(made)
    assert out["tasks"]["squad"]["copy_examples"] == 6
    assert out["tasks"]["squad"]["copy_rate"] == round(3 / 6, 4)
    # a task whose answers are mostly not in the context gets none; nor rows without context
    labels = [{"task": "sst2", "prediction": "positive", "answers": ["positive"],
               "context": "a fine film"}] * 3
    assert "copy_rate" not in score_predictions(labels)["tasks"]["sst2"]
    assert "copy_rate" not in score_predictions(rows("squad", ["x"], ["x"]))["tasks"]["squad"]
    text = markdown(out, [])
    assert "| squad | nf1 | 42.9 | 50% | 7 |" in text   # nf1: 3 of 7 right


def test_is_correct_normalises_like_the_metrics():
    assert is_correct({"prediction": "The Eiffel tower.", "answers": ["eiffel tower"]})
    assert not is_correct({"prediction": "tower", "answers": ["eiffel tower"]})


def test_curves_are_drawn_from_the_logged_csv(tmp_path: Path):
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train/loss,val/decascore,val/sst2/em,val/squad/nf1\n"
                   "0,4,5.0,,,\n0,9,4.0,,,\n0,9,,30.0,20.0,10.0\n0,19,3.0,,,\n"
                   "0,19,,40.0,25.0,15.0\n")
    out = plot_curves(csv, tmp_path / "curves.png", {"sst2": "em", "squad": "nf1"})
    assert out is not None and out.read_bytes().startswith(PNG)
    assert plot_curves(tmp_path / "missing.csv", tmp_path / "x.png") is None


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("report") / "smoke"
    assert run(["fit", "--config", str(ROOT / "configs" / "smoke.yaml"),
                "--run_dir", str(run_dir)]) == 0
    return run_dir


def test_fit_draws_curves_and_names_them(smoke: Path):
    assert (smoke / "curves.png").read_bytes().startswith(PNG)
    doc = json.loads((smoke / "metrics.json").read_text())
    assert set(doc) == {"decascore", "tasks", "provenance"}


def test_evaluate_report_numbers_equal_the_json(smoke: Path, tmp_path: Path, capsys):
    folder = tmp_path / "report"
    assert run(["evaluate", "--model", str(smoke / "model"), "--tasks", "sst2,squad,wsc",
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
