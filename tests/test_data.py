"""The data path (decaqa.data): which phrasing of its question each triple is asked with
(canonical, sampled, a held-out paraphrase), the data module holding paraphrases out of
training, and training batches padded as the answering path pads."""
from __future__ import annotations

from collections import Counter

import datasets
import pytest

from decaqa.errors import ConfigError
from conftest import slotted_task
from decaqa.data import TaskDataModule, ask_with, convert_split, paraphrased










def triples(n: int = 40) -> datasets.Dataset:
    task = slotted_task()
    rows = datasets.Dataset.from_list([{"text": f"t{i}", "h": f"h{i}", "label": "yes"}
                                       for i in range(n)])
    ds, skipped = convert_split(task, rows)
    assert skipped == 0
    return ds


def test_canonical_keeps_the_first_question():
    ds = triples()
    assert ask_with(ds, "canonical")["question"] == ds["question"]
    assert all(q.startswith("Is ") for q in ds["question"])


def test_paraphrase_mode_asks_every_paraphrase_equally_and_never_the_canonical():
    ds = triples(40)
    asked = ask_with(ds, "paraphrase")["question"]
    kinds = Counter(q.split('"')[0] for q in asked)
    assert kinds == Counter({"Does it follow that ": 20, "Given the text, ": 20})
    assert paraphrased(ds) == 40


def test_sample_mode_is_seeded_and_draws_from_all_phrasings():
    ds = triples(60)
    first = ask_with(ds, "sample", seed=3)["question"]
    assert first == ask_with(ds, "sample", seed=3)["question"]   # a fixed draw per seed
    assert first != ask_with(ds, "sample", seed=4)["question"]
    kinds = Counter(q.split('"')[0] for q in first)
    assert len(kinds) == 3 and min(kinds.values()) >= 10, kinds  # canonical included
    for q, qs in zip(first, ds["questions"]):
        assert q in qs


def test_data_module_holds_paraphrases_out_of_training_by_default():
    data = TaskDataModule(tasks=["sst2", "squad"], val_limit=12, eval_questions="paraphrase")
    train = data.load_triples("train")["sst2"]
    assert set(train["question"]) == {"Is this review negative or positive?"}
    val = data.load_triples("validation")
    assert "Is this review negative or positive?" not in set(val["sst2"]["question"])
    assert set(val["sst2"]["question"]) <= set(data.tasks["sst2"].questions[1:])
    assert data.report["sst2"]["validation"]["questions_paraphrase"] == 12
    assert data.report["squad"]["validation"]["questions_paraphrase"] == 0  # n/a


def test_sampled_training_questions_and_bad_modes():
    data = TaskDataModule(tasks=["sst2"], train_questions="sample", train_limit=200)
    asked = set(data.load_triples("train")["sst2"]["question"])
    assert asked == set(data.tasks["sst2"].questions)
    with pytest.raises(ConfigError, match="data.train_questions is 'paraphrase'"):
        TaskDataModule(tasks=["sst2"], train_questions="paraphrase")
