"""The embedded mini decathlon: reproducible, in the real schemas, honest splits, convertible.

Run ``python tests/test_mini_decathlon.py`` (or pytest with ``-s``) to print the size report and
the majority-answer baseline per task.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from decaqa.mini_decathlon import SPLITS, TASKS, path
from decaqa.mini_decathlon.generate import RELATIONS, ZRE_UNSEEN, write

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
# task -> the real sample's file (HF layout) holding the same schema
REAL_FILES = {"squad": "squad/validation.jsonl",
              "iwslt": "iwslt2017__iwslt2017-en-de/validation.jsonl",
              "cnn_dailymail": "cnn_dailymail/train.jsonl", "multinli": "multi_nli/train.jsonl",
              "sst2": "glue__sst2/validation.jsonl", "qa_srl": "qa_srl/train.jsonl",
              "woz": "woz_dialogue/train.jsonl", "wsc": "winograd_wsc/test.jsonl"}
# No real sample ships for these two: their HF features (datasets' qa_zre.py and wikisql.py).
HF_SCHEMAS = {
    "qa_zre": {"relation": "", "question": "", "subject": "", "context": "", "answers": [""]},
    "wikisql": {"phase": 0, "question": "",
                "table": {"header": [""], "page_title": "", "page_id": "", "types": [""], "id": "",
                          "section_title": "", "caption": "", "rows": [[""]], "name": ""},
                "sql": {"human_readable": "", "sel": 0, "agg": 0,
                        "conds": {"column_index": [0], "operator_index": [0], "condition": [""]}}},
}
SIZES = {"train": (1500, 2500), "validation": (150, 200)}
WOZ_SIZES = {"train": (250, 350), "validation": (40, 60)}


def rows(task: str, split: str, root: Path | None = None) -> list[dict]:
    file = (root / task / f"{split}.jsonl") if root else path(task, split)
    with open(file, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def leaves(value, prefix: str = "") -> set[tuple[str, str]]:
    """Every (path, type) in a row; list items share the path ``prefix[]``."""
    if isinstance(value, dict):
        out = {(prefix + "{}", ",".join(value))}  # keys, in order
        for k, v in value.items():
            out |= leaves(v, f"{prefix}.{k}")
        return out
    if isinstance(value, list):
        out = {(prefix, "list")}
        for v in value:
            out |= leaves(v, prefix + "[]")
        return out
    return {(prefix, type(value).__name__)}


def schema(rows_: list[dict]) -> set[tuple[str, str]]:
    return set().union(*(leaves(r) for r in rows_))


def context_key(task: str, row: dict) -> str:
    """What must not occur in both splits."""
    return {"squad": lambda: row["context"], "iwslt": lambda: row["translation"]["en"],
            "cnn_dailymail": lambda: row["article"], "multinli": lambda: row["premise"],
            "sst2": lambda: row["sentence"], "qa_srl": lambda: row["sentence"],
            "qa_zre": lambda: row["context"], "woz": lambda: json.dumps(row["dialogue"]),
            "wikisql": lambda: json.dumps(row["table"]["rows"]), "wsc": lambda: row["text"]}[task]()


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini")
    write(out)
    return out


@pytest.mark.parametrize("task", TASKS)
def test_regeneration_is_byte_identical(task, regenerated):
    for split in SPLITS:
        fresh = (regenerated / task / f"{split}.jsonl").read_bytes()
        assert fresh == path(task, split).read_bytes(), (
            f"{task}/{split}.jsonl differs from the generator's output; run "
            "`python -m decaqa.mini_decathlon.generate` and commit the files.")


@pytest.mark.parametrize("task", sorted(REAL_FILES))
def test_schema_matches_the_real_sample(task):
    real_file = REAL / REAL_FILES[task]
    if not real_file.exists():
        pytest.skip(f"no real sample at {real_file} (../shared is absent)")
    with open(real_file, encoding="utf-8") as f:
        real = schema([json.loads(line) for line in f])
    for split in SPLITS:
        assert schema(rows(task, split)) == real, f"{task}/{split} rows differ from {real_file}"


@pytest.mark.parametrize("task", sorted(HF_SCHEMAS))
def test_schema_matches_the_hf_features(task):
    expected = leaves(HF_SCHEMAS[task])
    for split in SPLITS:
        assert schema(rows(task, split)) == expected


@pytest.mark.parametrize("task", TASKS)
def test_sizes(task):
    for split in SPLITS:
        lo, hi = (WOZ_SIZES if task == "woz" else SIZES)[split]
        assert lo <= len(rows(task, split)) <= hi
        assert path(task, split).stat().st_size < 1_500_000


@pytest.mark.parametrize("task", TASKS)
def test_validation_is_disjoint_from_training(task):
    train = {context_key(task, r) for r in rows(task, "train")}
    assert not [r for r in rows(task, "validation") if context_key(task, r) in train]


def test_qa_zre_validation_relations_are_unseen_in_training():
    train = {r["relation"] for r in rows("qa_zre", "train")}
    validation = {r["relation"] for r in rows("qa_zre", "validation")}
    assert validation == set(ZRE_UNSEEN) and not train & validation
    assert len(train) + len(validation) == len(RELATIONS)
    unanswerable = sum(not r["answers"] for r in rows("qa_zre", "train")) / 2000
    assert 0.12 < unanswerable < 0.25
    for r in rows("qa_zre", "train") + rows("qa_zre", "validation"):
        assert "XXX" in r["question"] and r["subject"] in r["context"]
        assert all(a in r["context"] for a in r["answers"])


def test_squad_answer_offsets():
    for r in rows("squad", "train") + rows("squad", "validation"):
        for text, start in zip(r["answers"]["text"], r["answers"]["answer_start"]):
            assert r["context"][start:start + len(text)] == text


def test_span_answers_are_in_their_context():
    for r in rows("qa_srl", "train") + rows("qa_srl", "validation"):
        assert r["sentence"].split(" ")[r["predicate_idx"]] == r["predicate"]
        assert len(r["question"]) == 8 and r["question"][-1] == "?"
        assert all(a in r["sentence"] for a in r["answers"])
    for r in rows("wsc", "train") + rows("wsc", "validation"):
        assert r["text"][r["pronoun_loc"]:].startswith(r["pronoun"] + " ")
        assert r["text"][r["quote_loc"]:].startswith(r["quote"])
        assert all(o.lower() in r["text"].lower() for o in r["options"])
    for r in rows("wikisql", "train") + rows("wikisql", "validation"):
        assert all(v in r["question"] for v in r["sql"]["conds"]["condition"])


@pytest.mark.parametrize("task,field,n", [("sst2", "label", 2), ("multinli", "label", 3),
                                          ("wsc", "label", 2)])
def test_labels_are_balanced(task, field, n):
    for split in SPLITS:
        counts = Counter(r[field] for r in rows(task, split))
        assert len(counts) == n and max(counts.values()) / sum(counts.values()) < 1 / n + 0.03


def _task(name):
    from decaqa import TaskError, get_task
    try:
        return get_task(name)
    except TaskError as err:
        pytest.skip(f"no converter for {name} yet ({err})")


@pytest.mark.parametrize("task", TASKS)
def test_every_row_converts(task):
    spec = _task(task)
    for split in SPLITS:
        for i, row in enumerate(rows(task, split)):
            assert spec.convert(row, i), f"{task}/{split} row {i} was skipped by the converter"


@pytest.mark.parametrize("task", TASKS)
def test_datasets_loads_every_file(task, tmp_path):
    datasets = pytest.importorskip("datasets")
    for split in SPLITS:
        ds = datasets.load_dataset("json", data_files={split: str(path(task, split))}, split=split,
                                   cache_dir=str(tmp_path))
        assert len(ds) == len(rows(task, split))


# -- the report (printed, not asserted) ---------------------------------------------------------
def report() -> str:
    """Per task: rows, mean context/answer words of the converted triples, and the share of
    validation answers equal to the most common training answer (the majority baseline)."""
    from decaqa import get_task
    lines = [f"{'task':<14}{'train':>6}{'val':>5}{'ex.train':>9}{'ex.val':>7}{'ctx w':>7}"
             f"{'ans w':>7}  majority (val EM)"]
    for name in TASKS:
        task = get_task(name)
        ex = {s: [e for i, r in enumerate(rows(name, s)) for e in task.convert(r, i)]
              for s in SPLITS}
        top, _ = Counter(e.target for e in ex["train"]).most_common(1)[0]
        hit = sum(top in e.answers for e in ex["validation"]) / len(ex["validation"])
        ctx = sum(len(e.context.split()) for e in ex["train"]) / len(ex["train"])
        ans = sum(len(e.target.split()) for e in ex["train"]) / len(ex["train"])
        lines.append(f"{name:<14}{len(rows(name, 'train')):>6}{len(rows(name, 'validation')):>5}"
                     f"{len(ex['train']):>9}{len(ex['validation']):>7}{ctx:>7.1f}{ans:>7.1f}  "
                     f"{hit:6.1%}  {top[:40]!r}")
    return "\n".join(lines)


def test_report():
    pytest.importorskip("task_converters")
    for name in TASKS:
        _task(name)
    print("\n" + report())


if __name__ == "__main__":
    print(report())
