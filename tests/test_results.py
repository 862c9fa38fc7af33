"""The results object (decaqa.results): scores, retention and the copy rate by hand, the
normalisation `is_correct` shares with the metrics, and the one predictions writer."""
from __future__ import annotations

from decaqa.evaluate import score_predictions
from decaqa.report import markdown
from decaqa.results import document, is_correct, with_retention, write_predictions


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


def test_predictions_are_written_one_json_row_a_line(tmp_path):
    """The one writer of predictions.jsonl: UTF-8 as it is (no escapes), a row a line, its
    folder made, every row back as it went in."""
    made = rows("squad", ["Zoë", "Olmora"], ["Zoë", "Olmora"])
    path = write_predictions(tmp_path / "deep" / "predictions.jsonl", made)
    text = path.read_text(encoding="utf-8")
    assert "Zoë" in text and len(text.splitlines()) == 2
    import json

    assert [json.loads(line) for line in text.splitlines()] == made
