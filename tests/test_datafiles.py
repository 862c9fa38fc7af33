"""Data files (decaqa.datafiles): which files feed a task's split, reading local files of every
kind (compressed too), and a bad file refused before `datasets` reads it. The bad-input table
(test_bad_input.py) tries every kind of bad file through the commands."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from decaqa.datafiles import _suffix, load_examples, load_local, resolve_source
from decaqa.errors import DataError
from decaqa.tasks import get_task

ROWS = [{"sentence": "a fine film", "label": 1}, {"sentence": "a dull film", "label": 0}]


def test_the_kind_of_a_file_is_read_through_its_compression() -> None:
    assert _suffix("a/train.jsonl.gz") == ".jsonl" and _suffix("b.CSV") == ".csv"
    assert _suffix("c.parquet") == ".parquet" and _suffix("d.json.xz") == ".json"


def test_sources_in_order_given_files_the_tasks_own_the_mini_decathlon_the_hub(tmp_path) -> None:
    sst2 = get_task("sst2")
    given = [tmp_path / "x.jsonl"]
    assert resolve_source(sst2, "train", given) == given
    mini = resolve_source(sst2, "train")
    assert mini is not None and mini[0].name == "train.jsonl.gz" and mini[0].exists()
    assert resolve_source(sst2, "train", source="hub") is None
    assert resolve_source(get_task("qqp"), "train") is None          # no embedded copy: the hub
    with pytest.raises(DataError, match="has no mini-decathlon 'train' file"):
        resolve_source(get_task("qqp"), "train", source="mini")


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.gz", "rows.csv", "rows.tsv"])
def test_local_files_of_each_kind_read_alike(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.startswith("rows.jsonl"):
        text = "".join(json.dumps(r) + "\n" for r in ROWS)
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    else:
        sep = "\t" if name.endswith(".tsv") else ","
        path.write_text("sentence" + sep + "label\n" +
                        "".join(f"{r['sentence']}{sep}{r['label']}\n" for r in ROWS))
    ds = load_local([path])
    assert ds.to_list() == ROWS
    counts: dict[str, int] = {}
    examples = list(load_examples(get_task("sst2"), "validation", [path], counts=counts))
    assert [e.answer for e in examples] == ["positive", "negative"] and counts["rows"] == 2


def test_files_of_two_kinds_at_once_are_one_sentence(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.csv"
    a.write_text(json.dumps(ROWS[0]) + "\n")
    b.write_text("sentence,label\nx,1\n")
    with pytest.raises(DataError, match="use one kind of file"):
        load_local([a, b])
