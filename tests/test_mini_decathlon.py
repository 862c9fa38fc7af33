"""The embedded mini decathlon: reproducible, in the real schemas, honest splits, convertible.

Run ``python tests/test_mini_decathlon.py`` (or pytest with ``-s``) to print the size report and
the majority-answer baseline per task.
"""
from __future__ import annotations

import gzip
import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest

from decaqa.mini_decathlon import ALL_TASKS, NEW_TASKS, SPLITS, TASKS, path, read_rows
from decaqa.mini_decathlon.generate import (ACTS, ANIMALS, CONTRASTS, LOOKS, NEGATIVE, NEGATORS,
                                            PEOPLE, POSITIVE, PROPS, RELATIONS, ZRE_UNSEEN, write)

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
# task -> the real sample's file (HF layout) holding the same schema
REAL_FILES = {"squad": "squad/validation.jsonl",
              "iwslt": "iwslt2017__iwslt2017-en-de/validation.jsonl",
              "cnn_dailymail": "cnn_dailymail/train.jsonl", "multinli": "multi_nli/train.jsonl",
              "sst2": "glue__sst2/validation.jsonl", "qa_srl": "qa_srl/train.jsonl",
              "woz": "woz_dialogue/train.jsonl", "wsc": "winograd_wsc/test.jsonl",
              "rte": "glue__rte/validation.jsonl", "mrpc": "glue__mrpc/validation.jsonl"}
# No real sample ships for these: their HF features (datasets' qa_zre.py and wikisql.py; the
# hub's dataset cards of nyu-mll/glue qnli, rajpurkar/squad_v2 and google/boolq).
HF_SCHEMAS = {
    "qnli": {"question": "", "sentence": "", "label": 0, "idx": 0},
    "squad_v2": {"id": "", "title": "", "context": "", "question": "",
                 "answers": {"text": [""], "answer_start": [0]}},
    "boolq": {"question": "", "answer": True, "passage": ""},
    "qa_zre": {"relation": "", "question": "", "subject": "", "context": "", "answers": [""]},
    "wikisql": {"phase": 0, "question": "",
                "table": {"header": [""], "page_title": "", "page_id": "", "types": [""], "id": "",
                          "section_title": "", "caption": "", "rows": [[""]], "name": ""},
                "sql": {"human_readable": "", "sel": 0, "agg": 0,
                        "conds": {"column_index": [0], "operator_index": [0], "condition": [""]}}},
}
SIZES = {"train": (1500, 6000), "validation": (150, 200)}
WOZ_SIZES = {"train": (250, 350), "validation": (40, 60)}


def rows(task: str, split: str, root: Path | None = None) -> list[dict]:
    return read_rows(task, split) if root is None else read_rows(task, split, root)


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
            "wikisql": lambda: json.dumps(row["table"]["rows"]), "wsc": lambda: row["text"],
            "rte": lambda: row["sentence1"], "mrpc": lambda: row["sentence1"] + row["sentence2"],
            "qnli": lambda: row["question"], "squad_v2": lambda: row["context"],
            "boolq": lambda: row["passage"]}[task]()


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini")
    write(out)
    return out


@pytest.mark.parametrize("task", ALL_TASKS)
def test_regeneration_is_byte_identical(task, regenerated):
    # the JSON lines inside, byte for byte (the gzip stream itself may differ by zlib version)
    for split in SPLITS:
        fresh = gzip.decompress(path(task, split, regenerated).read_bytes())
        assert fresh == gzip.decompress(path(task, split).read_bytes()), (
            f"{task}/{split}.jsonl.gz differs from the generator's output; run "
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


@pytest.mark.parametrize("task", ALL_TASKS)
def test_sizes(task):
    for split in SPLITS:
        lo, hi = (WOZ_SIZES if task == "woz" else SIZES)[split]
        assert lo <= len(rows(task, split)) <= hi
        # the copying tasks ship 3x the training rows (see generate.SIZES): 3.9 MB of JSON
        # at most, under 0.5 MB gzipped
        assert path(task, split).stat().st_size < 500_000


@pytest.mark.parametrize("task", ALL_TASKS)
def test_validation_is_disjoint_from_training(task):
    train = {context_key(task, r) for r in rows(task, "train")}
    assert not [r for r in rows(task, "validation") if context_key(task, r) in train]


def test_qa_zre_validation_relations_are_unseen_in_training():
    train = {r["relation"] for r in rows("qa_zre", "train")}
    validation = {r["relation"] for r in rows("qa_zre", "validation")}
    assert validation == set(ZRE_UNSEEN) and not train & validation
    assert len(train) + len(validation) == len(RELATIONS)
    train_rows = rows("qa_zre", "train")
    unanswerable = sum(not r["answers"] for r in train_rows) / len(train_rows)
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


def naive_bayes(train: list[tuple[str, int]], test: list[tuple[str, int]]) -> float:
    """Accuracy on ``test`` of a multinomial naive Bayes over lower-cased words (add-one
    smoothing) fitted on ``train``: the bag-of-words baseline."""
    words = lambda text: re.findall(r"[a-z']+", text.lower())  # noqa: E731
    prior, count = Counter(y for _, y in train), {y: Counter() for _, y in train}
    for text, y in train:
        count[y].update(words(text))
    vocab = set().union(*count.values())
    total = {y: sum(c.values()) for y, c in count.items()}

    def score(text, y):
        return math.log(prior[y]) + sum(math.log((count[y][w] + 1) / (total[y] + len(vocab)))
                                        for w in words(text) if w in vocab)
    return sum(max(prior, key=lambda y: score(text, y)) == label
               for text, label in test) / len(test)


def sst2_shape(sentence: str) -> str:
    words = sentence.split()
    if any(w in CONTRASTS for w in words):
        return "contrast"
    return "negation" if any(w in NEGATORS for w in words) else "direct"


def test_sst2_is_mostly_direct_with_negation_and_contrast():
    """~62% of reviews state their polarity in its own sentiment words, the rest negate words
    of the other polarity or contrast two clauses; a bag of words gets the first part only."""
    train = rows("sst2", "train")
    shares = Counter(sst2_shape(r["sentence"]) for r in train)
    assert 0.58 < shares["direct"] / len(train) < 0.67
    assert 0.15 < shares["negation"] / len(train) < 0.23
    assert 0.15 < shares["contrast"] / len(train) < 0.23
    for r in train:
        polar = [w for w in r["sentence"].split() if w in POSITIVE or w in NEGATIVE]
        same = [(w in POSITIVE) == bool(r["label"]) for w in polar]
        if sst2_shape(r["sentence"]) == "direct":
            assert len(polar) >= 2 and all(same), r
        elif sst2_shape(r["sentence"]) == "negation":
            assert polar and not any(same), r
    for word in POSITIVE + NEGATIVE:  # no sentiment word decides the label on its own
        assert {r["label"] for r in train if word in r["sentence"].split()} == {0, 1}, word
    bow = naive_bayes([(r["sentence"], r["label"]) for r in train],
                      [(r["sentence"], r["label"]) for r in rows("sst2", "validation")])
    assert 0.65 < bow < 0.85, bow  # 72% shipped; real SST-2's bag of words gets ~80%


def test_multinli_hypothesis_alone_is_near_chance():
    train, val = ([(r["hypothesis"], r["label"]) for r in rows("multinli", s)] for s in SPLITS)
    assert naive_bayes(train, val) < 0.55 and naive_bayes(train, train) < 0.55


# The rules of the multinli generator's docstring, from its lexicon.
KIND = {**{w: "animal" for w in ANIMALS + ["animal"]}, **{w: "person" for w in PEOPLE}}
KIND["someone"] = "person"
OBJECTS = {p[0] for p in PROPS}
EXCLUDE = {(a.split()[0], b.split()[0]) for acts in ACTS.values() for a in acts for b in acts
           if a != b}
EXCLUDE |= {pair for pairs in LOOKS.values() for a, b in pairs for pair in ((a, b), (b, a))}
EXCLUDE |= {pair for _, a, b, *_ in PROPS for pair in ((a, b), (b, a))}


def nli_rule(premise: str, hypothesis: str) -> int:
    """Entailment (0), neutral (1) or contradiction (2), by comparing words only."""
    def words(text):
        return re.findall(r"[a-z]+", text.lower())

    def subject(ws):  # the noun before "is": a kind word, a noun, an object or a name
        ws = ws[:ws.index("is")]
        return next((w for w in ws if w in KIND or w in OBJECTS), ws[-1])

    def kind(w):
        return KIND.get(w, None if w in OBJECTS else "person")  # else: a name

    hyp = words(hypothesis)
    head = subject(hyp)
    sentences = [words(s) for s in re.split(r"(?<=\.) ", premise)]
    # the premise sentence about the hypothesis' subject (by name, or by kind if either side
    # names only the kind)
    prem = next(p for p in sentences if subject(p) == head or (
        {head, subject(p)} & {"animal", "someone"} and kind(head) == kind(subject(p))))
    seen = set(prem)
    if "not" in hyp:
        w = hyp[hyp.index("not") + 1]
        return 2 if w in seen else 0 if any((w, x) in EXCLUDE for x in seen) else 1
    new = [w for w in hyp if w not in seen and w not in ("a", "an", "the", "he", "she", "it")
           and not (w in ("animal", "someone") and kind(w) == kind(subject(prem)))]
    if not new:
        return 0
    return 2 if any((w, x) in EXCLUDE for w in new for x in seen) else 1


def test_multinli_labels_follow_word_rules():
    for split in SPLITS:
        rs = rows("multinli", split)
        wrong = [r for r in rs if nli_rule(r["premise"], r["hypothesis"]) != r["label"]]
        assert not wrong, wrong[:3]
        two = sum(". " in r["premise"] for r in rs) / len(rs)  # two-scene premises
        assert 0.15 < two < 0.3, two


def _task(name):
    from decaqa import TaskError, get_task
    try:
        return get_task(name)
    except TaskError as err:
        pytest.skip(f"no converter for {name} yet ({err})")


@pytest.mark.parametrize("task", ALL_TASKS)
def test_every_row_converts(task):
    spec = _task(task)
    for split in SPLITS:
        for i, row in enumerate(rows(task, split)):
            assert spec.convert(row, i), f"{task}/{split} row {i} was skipped by the converter"


@pytest.mark.parametrize("task", ALL_TASKS)
def test_datasets_loads_every_file(task, tmp_path):
    datasets = pytest.importorskip("datasets")
    for split in SPLITS:
        ds = datasets.load_dataset("json", data_files={split: str(path(task, split))}, split=split,
                                   cache_dir=str(tmp_path))
        assert len(ds) == len(rows(task, split))


# -- the five beyond the decathlon ----------------------------------------------------------------
def test_the_ten_stay_the_default_and_the_five_are_new():
    from decaqa.data import MINI_DECATHLON_TASKS

    assert MINI_DECATHLON_TASKS == TASKS and len(TASKS) == 10
    assert NEW_TASKS == ["rte", "mrpc", "qnli", "squad_v2", "boolq"]
    assert not set(NEW_TASKS) & set(TASKS)


@pytest.mark.parametrize("split", SPLITS)
def test_new_tasks_are_balanced(split):
    for task, key in (("rte", "label"), ("mrpc", "label"), ("qnli", "label"),
                      ("boolq", "answer")):
        labels = Counter(r[key] for r in rows(task, split))
        assert len(labels) == 2 and min(labels.values()) / sum(labels.values()) > 0.4, task
    v2 = rows("squad_v2", split)
    unanswerable = [r for r in v2 if not r["answers"]["text"]]
    assert 0.3 < len(unanswerable) / len(v2) < 0.5
    for r in v2:
        for text, start in zip(r["answers"]["text"], r["answers"]["answer_start"]):
            assert r["context"][start:start + len(text)] == text


def test_rte_pairs_one_entailed_and_one_not_per_premise():
    by_premise: dict[str, list[int]] = {}
    for r in rows("rte", "train"):
        by_premise.setdefault(r["sentence1"], []).append(r["label"])
    assert all(sorted(labels) == [0, 1] for labels in by_premise.values())


def test_mrpc_label_is_whether_the_values_are_the_same():
    """Hand-checkable rule: a pair is a paraphrase exactly when the words outside its forms'
    templates (names, numbers, jobs, subjects) are the same in both sentences."""
    from decaqa.mini_decathlon.generate import MRPC_FORMS

    template = {w for forms in MRPC_FORMS.values() for f in forms
                for w in re.findall(r"[\w']+", re.sub(r"\{[^}]*\}", " ", f))} | {"a", "an"}

    def content(sentence: str) -> Counter:
        return Counter(w for w in re.findall(r"[\w']+", sentence) if w not in template)

    for r in rows("mrpc", "train") + rows("mrpc", "validation"):
        same = content(r["sentence1"]) == content(r["sentence2"])
        assert same == (r["label"] == 1), r


# -- the report (printed, not asserted) ---------------------------------------------------------
def report() -> str:
    """Per task: rows, mean context/answer words of the converted triples, and the share of
    validation answers equal to the most common training answer (the majority baseline)."""
    from decaqa import get_task
    lines = [f"{'task':<14}{'train':>6}{'val':>5}{'ex.train':>9}{'ex.val':>7}{'ctx w':>7}"
             f"{'ans w':>7}  majority (val EM)"]
    for name in ALL_TASKS:
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
    for name in ALL_TASKS:
        _task(name)
    print("\n" + report())


if __name__ == "__main__":
    print(report())
