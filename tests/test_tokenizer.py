"""Tokenizers (decaqa.tokenizer): the BPE trained from scratch keeps numbers whole unless
asked, and a run restores its tokenizer from the checkpoint instead of training another."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from decaqa.cli import run
from decaqa.tokenizer import train_tokenizer
from conftest import SMOKE

TEXT = ["Krir Shakeitrourt founded Bousti Bank in 1986 .", "He was 42 years old in 2016 ."] * 20


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXT, 120)


def test_resume_restores_the_tokenizer_instead_of_training_one(smoke: Path, tmp_path: Path,
                                                               monkeypatch) -> None:
    def no_training(*args, **kwargs):
        raise AssertionError("a resumed run must not train a new tokenizer")

    monkeypatch.setattr("decaqa.tokenizer.train_tokenizer", no_training)
    run_dir = tmp_path / "resumed"
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(run_dir),
                "--ckpt_path", str(smoke / "checkpoints" / "last.ckpt"),
                "--trainer.max_steps", "24", "--trainer.val_check_interval", "4",
                "--data.steps_per_epoch", "20"]) == 0
    before = json.loads((smoke / "model" / "tokenizer.json").read_text())["model"]["vocab"]
    after = json.loads((run_dir / "model" / "tokenizer.json").read_text())["model"]["vocab"]
    assert before == after


def test_numbers_stay_whole_unless_asked(tok) -> None:
    assert "▁1986" in tok.tokenize("in 1986")
    split = train_tokenizer(TEXT, 120, split_digits=True)
    assert split.tokenize("in 1986")[-4:] == ["1", "9", "8", "6"]
