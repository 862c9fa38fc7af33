"""Property-based tests (hypothesis) with random strings and rows: metrics stay in range and
give 100 to a perfect prediction, converters end in a triple or one clear error, the sampler
keeps its invariants and resumes exactly from any point."""
from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from decaqa.errors import DecaqaError
from decaqa.example import QAExample
from decaqa.metrics import METRICS, format_woz_answer, score
from decaqa.sampling import Mixture, MultitaskBatchSampler
from decaqa.tasks import get_task, registry

FIXTURES = Path(__file__).parent / "fixtures"
QUICK = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])

text = st.text(max_size=40)  # any unicode, empty included
# a word that normalisation keeps (decaNLP drops articles: an answer "a a a" normalises to
# nothing, and nf1 gives nothing 0, as decaNLP does)
word = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8).filter(
    lambda w: w not in {"a", "an", "the", "and"})
sentence = st.lists(word, min_size=4, max_size=12).map(" ".join)


# -- metrics ------------------------------------------------------------------------------------
BOUNDED = ("em", "nem", "nf1", "accuracy", "bleu", "rouge", "cf1")
CORRELATIONS = ("mcc", "pearson", "spearman")


@QUICK
@given(st.lists(st.tuples(text, st.lists(text, min_size=1, max_size=3)), min_size=1,
                max_size=8))
def test_text_metrics_stay_in_range_on_any_strings(rows) -> None:
    preds = [p for p, _ in rows]
    refs = [r for _, r in rows]
    for name in BOUNDED + ("mcc", "f1:yes"):
        value = score(name, preds, refs)
        low = -100.0 if name == "mcc" else 0.0
        assert low - 1e-9 <= value <= 100.0 + 1e-9, (name, value)


@QUICK
@given(st.lists(st.tuples(st.floats(-5, 5, allow_nan=False), text), min_size=2, max_size=8))
def test_correlations_stay_in_range(rows) -> None:
    refs = [[f"{gold:.3f}"] for gold, _ in rows]
    preds = [p for _, p in rows]  # anything: unparseable counts as 0.0
    for name in ("pearson", "spearman"):
        assert -100.0 - 1e-6 <= score(name, preds, refs) <= 100.0 + 1e-6


@QUICK
@given(st.lists(sentence, min_size=1, max_size=6))
def test_a_perfect_prediction_scores_100(answers) -> None:
    refs = [[a] for a in answers]
    for name in ("em", "nem", "nf1", "accuracy", "bleu", "rouge", "cf1"):
        assert score(name, answers, refs) == pytest.approx(100.0), name


@QUICK
@given(st.lists(st.sampled_from(["yes", "no", "maybe"]), min_size=2, max_size=12))
def test_perfect_labels_score_100(labels) -> None:
    assume(len(set(labels)) > 1 and "yes" in labels)
    refs = [[x] for x in labels]
    for name in ("em", "mcc", "f1:yes", "accuracy"):
        assert score(name, labels, refs) == pytest.approx(100.0), name


@QUICK
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=12, unique=True))
def test_perfect_numbers_correlate_100(values) -> None:
    numbers = [f"{v:.4f}" for v in values]
    assume(len({float(n) for n in numbers}) > 1)
    refs = [[n] for n in numbers]
    for name in ("pearson", "spearman"):
        assert score(name, numbers, refs) == pytest.approx(100.0, abs=1e-6), name


slot = st.sampled_from(["food", "area", "price range"])
value = st.text(alphabet=string.ascii_lowercase + " ", min_size=1, max_size=10).map(str.strip)


@QUICK
@given(st.lists(st.lists(st.tuples(slot, value), max_size=3), min_size=1, max_size=6))
def test_dialogue_state_perfect_and_in_range(turns) -> None:
    answers = [format_woz_answer([(s, v) for s, v in informs if v]) for informs in turns]
    metas = [{"dialogue_id": "d", "turn": i} for i in range(len(turns))]
    refs = [[a] for a in answers]
    assert score("dsem", answers, refs, metas) == 100.0
    shuffled = answers[::-1]
    assert 0.0 <= score("dsem", shuffled, refs, metas) <= 100.0


column = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6)


@QUICK
@given(st.lists(column, min_size=2, max_size=5, unique=True), st.data())
def test_sql_perfect_and_in_range(header, data) -> None:
    sel = data.draw(st.sampled_from(header))
    agg = data.draw(st.sampled_from(["", "MAX ", "COUNT "]))
    conds = data.draw(st.lists(st.tuples(st.sampled_from(header), st.sampled_from("=<>"),
                                         word), max_size=3))
    query = f"SELECT {agg}{sel} FROM table"
    if conds:
        query += " WHERE " + " AND ".join(f"{c} {op} {v}" for c, op, v in conds)
    metas = [{"header": header}]
    for name in ("lfem", "lfem_unordered"):
        assert score(name, [query], [[query]], metas) == 100.0
        noise = data.draw(text)
        assert score(name, [noise], [[query]], metas) in (0.0, 100.0)


def test_every_built_in_metric_is_covered_here() -> None:
    covered = set(BOUNDED) | set(CORRELATIONS) | {"f1", "dsem", "lfem", "lfem_unordered"}
    built_in = {n for n, fn in METRICS.items() if fn.__module__ == "decaqa.metrics"}
    assert built_in <= covered, built_in - covered


# -- converters ---------------------------------------------------------------------------------
def fixture_rows(task: str) -> list[dict]:
    path = FIXTURES / f"{task}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mutate(value, draw):
    """The same shape with random content: strings become any text, numbers any int."""
    if isinstance(value, str):
        return draw(text)
    if isinstance(value, bool):
        return draw(st.booleans())
    if isinstance(value, int):
        return draw(st.integers(-3, 5))
    if isinstance(value, list):
        return [_mutate(v, draw) for v in value]
    if isinstance(value, dict):
        return {k: _mutate(v, draw) for k, v in value.items()}
    return value


CONVERTED = sorted(n for n in registry() if (FIXTURES / f"{n}.jsonl").exists())


@pytest.mark.parametrize("name", CONVERTED)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_a_converter_given_any_row_returns_triples_or_one_clear_error(name, data) -> None:
    task = get_task(name)
    template = data.draw(st.sampled_from(fixture_rows(name)))
    row = _mutate(template, data.draw)
    try:
        examples = task.convert(row, 0)
    except DecaqaError as err:  # said in one sentence that names the task
        message = str(err)
        assert name in message and "\n" not in message.strip(), message
        return
    for ex in examples:
        assert isinstance(ex, QAExample) and ex.task == name
        assert ex.context.strip() and ex.question.strip()
        assert all(isinstance(a, str) for a in ex.answers)


# -- the sampler --------------------------------------------------------------------------------
def sampler_of(sizes, data, steps, **kwargs) -> MultitaskBatchSampler:
    names = [f"t{i}" for i in range(len(sizes))]
    lengths = {n: data.draw(st.lists(st.integers(1, 120), min_size=k, max_size=k))
               for n, k in zip(names, sizes)}
    offsets, start = {}, 0
    for n in names:
        offsets[n], start = start, start + len(lengths[n])
    return MultitaskBatchSampler(lengths, offsets, kwargs.pop("mixture"), steps,
                                 target_lengths=lengths, **kwargs)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4),
       steps=st.integers(1, 30), batch=st.integers(1, 9),
       budget=st.one_of(st.none(), st.integers(50, 400)),
       strategy=st.sampled_from(["proportional", "equal", "temperature", "round_robin"]),
       mixed=st.booleans(), seed=st.integers(0, 3), data=st.data())
def test_sampler_invariants_and_exact_resume_from_any_point(sizes, steps, batch, budget,
                                                            strategy, mixed, seed, data) -> None:
    settings_ = dict(batch_size=batch, max_tokens=budget, seed=seed, mixed=mixed)
    sampler = sampler_of(sizes, data, steps, mixture=Mixture(strategy), **settings_)
    total = sum(sizes)
    flat_lengths = np.concatenate([sampler.task_lengths[n] for n in sampler.task_lengths])
    epochs = [list(sampler)]
    sampler.set_epoch(1)
    epochs.append(list(sampler))
    for batches in epochs:
        assert len(batches) == steps
        for b in batches:
            assert 1 <= len(b) <= batch and all(0 <= i < total for i in b)
            if budget is not None and len(b) > 1:
                assert flat_lengths[b].max() * len(b) <= budget
    assert sum(sampler.seen_total.values()) == sum(len(b) for e in epochs for b in e)

    # stop anywhere in the second epoch, resume in a fresh sampler: the same batches follow,
    # and the examples counted match the uninterrupted count at every point
    cut = data.draw(st.integers(0, steps))
    first = MultitaskBatchSampler(sampler.task_lengths, sampler.offsets, Mixture(strategy),
                                  steps, target_lengths=sampler.task_lengths, **settings_)
    list(first)
    first.set_epoch(1)
    consumed = []
    for k, b in enumerate(first):
        if k == cut:
            break
        consumed.append(b)
    state = first.state_dict(len(consumed))
    resumed = MultitaskBatchSampler(sampler.task_lengths, sampler.offsets, Mixture(strategy),
                                    steps, target_lengths=sampler.task_lengths, **settings_)
    resumed.load_state_dict(json.loads(json.dumps(state)))  # what a checkpoint carries
    rest = list(resumed)
    assert consumed + rest == epochs[1]
    assert resumed.seen_through(steps) == sampler.seen_through(steps) == sampler.seen_total
