"""Asking a trained model (decaqa.qa): load and ask, batched as one by one, predict on raw
rows, an empty question or context, an over-long input cut and reported, and a light import."""
from __future__ import annotations

from pathlib import Path

import pytest

import decaqa
from decaqa.data import MINI_DECATHLON_TASKS

HEAVY = ("pytorch_lightning", "lightning", "lightning_fabric", "datasets", "matplotlib")


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


def test_empty_question_and_context(smoke_run: Path, fails) -> None:
    model = str(smoke_run / "model")
    fails(["ask", "--model", model, "--question", " ", "--context", "c"],
           "Question 0 is empty")
    fails(["ask", "--model", model, "--question", "Who?", "--context", ""],
           "context", "empty")


def test_over_long_input_is_truncated_and_reported(smoke_run: Path, capsys) -> None:
    qa = decaqa.load(str(smoke_run / "model"))
    qa.ask("Who?", "word " * 2000)
    assert qa.truncated == 1
    assert "truncated" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["model", "checkpoints/best.ckpt"])
def test_load_and_ask_import_neither_lightning_nor_datasets(smoke: Path, target: str) -> None:
    """A notebook's `import decaqa; decaqa.load(...)` stays light: transformers and torch,
    no Lightning, no `datasets` (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = (f"import sys, decaqa\nqa = decaqa.load({str(smoke / target)!r})\n"
            "qa.ask('Is this review negative or positive?', 'a fine film', task='sst2')\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_a_known_question_without_a_task_is_answered_as_its_task(smoke: Path) -> None:
    """ask("What is the summary?", article) is cnn_dailymail's question: its cap, as evaluate
    answers it, not the default; the task found is reported."""
    qa = decaqa.load(str(smoke / "model"))
    article = "The council met on Monday. It voted to build a new bridge over the river. " * 6
    assert qa.ask("What is the summary?", article) == qa.ask("What is the summary?", article,
                                                              task="cnn_dailymail")
    [found, unknown] = qa.ask_many([("What is the summary?", article),
                                    ("Who voted?", article)])
    assert found["task"] == "cnn_dailymail" and found["answered_by"] == "model"
    assert unknown["task"] is None and found["truncated"] is False
    assert qa.cap("cnn_dailymail") == qa.info.caps["cnn_dailymail"]
    assert qa.ask_batch([]) == [] and qa.ask_many([], task=[]) == []
