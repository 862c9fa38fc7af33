"""Metrics, all on a 0-100 scale, and the decaScore.

Definitions follow decaNLP's ``metrics.py`` (salesforce/decaNLP) so numbers are comparable with
the paper; where we depart from it (to fix a bug or to parse our own reference strings) the
docstring says so. Every metric is ``fn(predictions, references, metas) -> float``:
``references[i]`` is one string or a list of acceptable strings, ``metas[i]`` is the example's
``QAExample.meta`` (only ``dsem`` and ``lfem`` read it).
"""
from __future__ import annotations

import collections
import difflib
import functools
import math
import re
import string
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from decaqa import formats
from decaqa.errors import DataError, TaskError
from decaqa.formats import WozDelta, format_woz_answer, parse_woz_answer  # noqa: F401 - dsem's

Reference = str | Sequence[str]
Meta = Mapping[str, Any]
Metric = Callable[[Sequence[str], Sequence[Reference], Sequence[Meta] | None], float]


# -- registry -----------------------------------------------------------------------------------
# Every metric is registered by name (lm-evaluation-harness's @register_metric idea), the
# built-in ones below as much as a converter file's own: a task names its metrics, and a
# converter file can bring one (decorate it; it is registered when the file is imported).
METRICS: dict[str, Metric] = {}
# Metrics that take one argument, written ``name:ARG`` in a task's metric list: the keyword.
ARGUMENTS: dict[str, str] = {}


def register_metric(name: str | None = None, *, argument: str | None = None
                    ) -> Callable[[Metric], Metric]:
    """Decorator: register ``fn(predictions, references, metas) -> float`` (0-100) under
    ``name`` (default: the function's name). ``argument``: the keyword that ``name:ARG``
    passes (``f1:yes`` -> ``positive="yes"``). A name taken by another metric is an error;
    the same function registered again (a converter file imported twice) is not."""
    def register(fn: Metric) -> Metric:
        key = name or fn.__name__
        old = METRICS.get(key)
        if old is not None and (old.__module__, old.__qualname__) != (fn.__module__,
                                                                      fn.__qualname__):
            raise TaskError(f"Metric '{key}' is already registered (by {old.__module__}); "
                            "give yours another name.")
        METRICS[key] = fn
        if argument:
            ARGUMENTS[key] = argument
        return fn
    return register


def _refs(reference: Reference) -> list[str]:
    """One example's acceptable answers as a list (the training target first)."""
    return [reference] if isinstance(reference, str) else list(reference)


def _need_metas(metas: Sequence[Meta] | None, metric: str, keys: Iterable[str]) -> Sequence[Meta]:
    """Metas are side data a metric cannot guess; say which keys are missing, and where."""
    keys = list(keys)
    if metas is None:
        raise DataError(f"Metric '{metric}' needs metas ({', '.join(keys)} per example); pass "
                        "each example's QAExample.meta as metas.")
    for i, meta in enumerate(metas):
        missing = [k for k in keys if k not in meta]
        if missing:
            raise DataError(f"Metric '{metric}': meta of example {i} has no "
                            f"{' or '.join(map(repr, missing))}; have the task's converter "
                            "return it in 'meta'.")
    return metas


# -- text match: em, nem, nf1, accuracy (decaNLP computeEM / computeF1 / normalize_text) ----------
def normalize_text(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1; like decaNLP, 0 when nothing overlaps (even if both are empty)."""
    pred, ref = prediction.split(), reference.split()
    same = sum((collections.Counter(pred) & collections.Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def _mean_max(predictions: Sequence[str], references: Sequence[Reference],
              match: Callable[[str, str], float]) -> float:
    """Best score over each example's references, averaged over examples, x100."""
    best = [max(match(p, r) for r in _refs(refs)) for p, refs in zip(predictions, references)]
    return 100.0 * sum(best) / len(best)


@register_metric()
def em(predictions: Sequence[str], references: Sequence[Reference],
       metas: Sequence[Meta] | None = None) -> float:
    """decaNLP ``em``: the string itself must match (only outer whitespace is forgiven)."""
    return _mean_max(predictions, references, lambda p, r: float(p.strip() == r.strip()))


@register_metric()
def nem(predictions: Sequence[str], references: Sequence[Reference],
        metas: Sequence[Meta] | None = None) -> float:
    """decaNLP ``nem``: exact match after ``normalize_text`` (case, punctuation, articles)."""
    return _mean_max(predictions, references,
                     lambda p, r: float(normalize_text(p) == normalize_text(r)))


@register_metric()
def nf1(predictions: Sequence[str], references: Sequence[Reference],
        metas: Sequence[Meta] | None = None) -> float:
    """decaNLP ``nf1``: SQuAD token F1 over ``normalize_text``-ed strings."""
    return _mean_max(predictions, references,
                     lambda p, r: _token_f1(normalize_text(p), normalize_text(r)))


@register_metric()
def accuracy(predictions: Sequence[str], references: Sequence[Reference],
             metas: Sequence[Meta] | None = None) -> float:
    """Exact string equality, nothing forgiven (any reference counts)."""
    return _mean_max(predictions, references, lambda p, r: float(p == r))


# -- generation: bleu, rouge --------------------------------------------------------------------
@register_metric()
def bleu(predictions: Sequence[str], references: Sequence[Reference],
         metas: Sequence[Meta] | None = None) -> float:
    """decaNLP ``computeBLEU``: sacrebleu corpus BLEU, lowercase=True, default 13a tokens.

    sacrebleu takes one stream per reference position; examples with fewer references are
    padded with None, which sacrebleu skips (decaNLP assumed every example had as many).
    """
    from sacrebleu import corpus_bleu

    refs = [_refs(r) for r in references]
    width = max(len(r) for r in refs)
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(width)]
    return float(corpus_bleu(list(predictions), streams, lowercase=True).score)


def _sentence_lines(text: str) -> str:
    """decaNLP hands ROUGE sentences split at '.'; rouge-score's rougeLsum wants one a line."""
    return "\n".join(s.strip() for s in re.split(r"[.\n]", text) if s.strip())


@register_metric()
def rouge(predictions: Sequence[str], references: Sequence[Reference],
          metas: Sequence[Meta] | None = None) -> float:
    """decaNLP ``avg_rouge``: mean of ROUGE-1, ROUGE-2 and ROUGE-L F1 per example, averaged.

    decaNLP ran ROUGE-1.5.5 with the Porter stemmer (-m) on '.'-split sentences, so ROUGE-L is
    the summary-level (union LCS) one: rouge-score's ``rougeLsum`` with ``use_stemmer=True``.
    With several references ROUGE-1.5.5's default (-f A) averages over them; so do we.
    """
    from rouge_score import rouge_scorer  # imported here: it pulls in nltk

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    per_example = []
    for pred, refs in zip(predictions, references):
        scores = [scorer.score(_sentence_lines(r), _sentence_lines(pred)) for r in _refs(refs)]
        per_example.append(np.mean([[s.fmeasure for s in sc.values()] for sc in scores]))
    return float(100.0 * np.mean(per_example))


# -- cf1: QA-ZRE corpus F1 (decaNLP computeCF1, from the zero-shot RE evaluate.py) --------------
UNANSWERABLE = formats.UNANSWERABLE


def _answer_bag(text: str) -> set[str]:
    """decaNLP ``simplify``: the answer as a set of words without punctuation, a/an/the/and."""
    words = ("".join(c for c in t if c not in string.punctuation) for t in text.lower().split())
    return set(words) - {"the", "a", "an", "and", ""}


@register_metric()
def cf1(predictions: Sequence[str], references: Sequence[Reference],
        metas: Sequence[Meta] | None = None) -> float:
    """Corpus F1 where answering 'unanswerable' is abstaining.

    precision = correct / answered, recall = correct / answerable. A prediction is correct when
    its word set equals the union of the references' word sets (after ``normalize_text``) and
    the question is answerable; a correct abstention is a true negative and counts nowhere.
    """
    correct = answered = answerable = 0
    for pred, refs in zip(predictions, references):
        gold = set().union(*(_answer_bag(normalize_text(r)) for r in _refs(refs)))
        guess = _answer_bag(normalize_text(pred))
        gold_answerable = gold != {UNANSWERABLE}
        correct += guess == gold and gold_answerable
        answered += guess != {UNANSWERABLE}
        answerable += gold_answerable
    if correct == 0:
        return 0.0
    precision, recall = correct / answered, correct / answerable
    return 100.0 * 2 * precision * recall / (precision + recall)


# -- dsem: WOZ joint goal accuracy (decaNLP computeDialogue / to_delta_state) -------------------
@register_metric()
def dsem(predictions: Sequence[str], references: Sequence[Reference],
         metas: Sequence[Meta] | None = None) -> float:
    """Joint goal accuracy: after each turn, is the accumulated inform state exactly right?

    Answers are per-turn changes; each dialogue's changes are rolled up in turn order (later
    values overwrite earlier ones) for both prediction and reference, and a turn counts when
    the two states are equal. Requests are per turn and not part of the goal. decaNLP sorted
    turns as strings ("10" before "2"); we sort ``meta["turn"]`` as a number.
    """
    metas = _need_metas(metas, "dsem", ("dialogue_id", "turn"))
    order = sorted(range(len(predictions)),
                   key=lambda i: (str(metas[i]["dialogue_id"]), int(metas[i]["turn"])))
    correct, dialogue = 0, object()
    state: dict[str, str] = {}
    gold: dict[str, str] = {}
    for i in order:
        if metas[i]["dialogue_id"] != dialogue:
            dialogue, state, gold = metas[i]["dialogue_id"], {}, {}
        state.update(parse_woz_answer(predictions[i]).inform)
        gold.update(parse_woz_answer(_refs(references[i])[0]).inform)
        correct += state == gold
    return 100.0 * correct / len(order)


# -- lfem: WikiSQL logical-form exact match (decaNLP to_lf / computeLFEM) -----------------------
# the operators as parse_sql sees them: lowercased, as the query text is
AGG_OPS = tuple(o.lower() for o in formats.AGG_OPS)
COND_OPS = tuple(o.lower() for o in formats.COND_OPS)


@dataclass(frozen=True)
class LogicalForm:
    """A WikiSQL query as indices: selected column, aggregation, and (col, op, value) in the
    order they are written (``unordered()`` forgets the order, as WikiSQL's own evaluation)."""

    sel: int
    agg: int
    conds: tuple[tuple[int, int, str], ...]

    def unordered(self) -> tuple[int, int, frozenset[tuple[int, int, str]]]:
        return self.sel, self.agg, frozenset(self.conds)


def parse_sql(text: str, header: Sequence[str]) -> LogicalForm | None:
    """Parse ``SELECT {agg} {col} FROM table [WHERE {col} {op} {value} AND ...]`` (decaNLP's
    ``repr(Query)``), lowercased, against the table header; None when it does not parse.

    A new condition starts at the beginning or after ' and ' with a header column followed by
    an operator (longest column names first), so values may contain 'and' and spaces.
    """
    s = " ".join(text.lower().split())
    match = re.fullmatch(r"select (.*?) from table(?: where (.*))?", s)
    if match is None:
        return None
    columns: dict[str, int] = {}
    for i, name in enumerate(header):
        columns.setdefault(" ".join(name.lower().split()), i)
    sel_text, where = match.groups()
    agg, _, col = sel_text.partition(" ")
    if sel_text in columns:
        sel, agg_index = columns[sel_text], 0
    elif agg in AGG_OPS[1:] and col in columns:
        sel, agg_index = columns[col], AGG_OPS.index(agg)
    else:
        return None
    conds: list[tuple[int, int, str]] = []
    if where is not None:
        names = "|".join(re.escape(c) for c in sorted(columns, key=len, reverse=True) if c)
        if not names:
            return None
        ops = "|".join(re.escape(o) for o in COND_OPS)
        starts = list(re.finditer(rf"(?:^|(?<= and ))({names}) ({ops})(?= |$)", where))
        if not starts or starts[0].start() != 0:
            return None
        ends = [m.start() - len(" and ") for m in starts[1:]] + [len(where)]
        for m, end in zip(starts, ends):
            value = where[m.end():end].strip()
            conds.append((columns[m.group(1)], COND_OPS.index(m.group(2)), value))
    return LogicalForm(sel, agg_index, tuple(conds))


def _logical_form_match(name: str, predictions: Sequence[str],
                        references: Sequence[Reference], metas: Sequence[Meta] | None,
                        same: Callable[[LogicalForm, LogicalForm], bool]) -> float:
    """Share of predictions whose parsed logical form matches the reference's under ``same``.

    An unparseable prediction is wrong; an unparseable reference is a converter bug and raises.
    """
    metas = _need_metas(metas, name, ("header",))
    correct = 0
    for i, (pred, refs) in enumerate(zip(predictions, references)):
        gold = parse_sql(_refs(refs)[0], metas[i]["header"])
        if gold is None:
            raise DataError(f"Metric '{name}': reference {i} ({_refs(refs)[0]!r}) does not "
                            "parse against its header; make the converter write repr(Query) "
                            "form.")
        guess = parse_sql(pred, metas[i]["header"])
        correct += guess is not None and same(guess, gold)
    return 100.0 * correct / len(predictions)


@register_metric()
def lfem(predictions: Sequence[str], references: Sequence[Reference],
         metas: Sequence[Meta] | None = None) -> float:
    """decaNLP ``computeLFEM``, the decaScore's WikiSQL metric: selected column, aggregation
    and WHERE conditions must all match, the conditions **in the order written**.

    decaNLP compares ``to_lf(prediction)`` with the gold ``sql`` dict, whose ``conds`` is a
    list, so ``WHERE b AND a`` for gold ``WHERE a AND b`` is wrong there, and here. We parse the
    reference string (the converter writes the gold conditions in their data-set order) with
    the same parser as the prediction, and values are compared lowercased, as decaNLP does.
    """
    return _logical_form_match("lfem", predictions, references, metas,
                               lambda guess, gold: guess == gold)


@register_metric()
def lfem_unordered(predictions: Sequence[str], references: Sequence[Reference],
                   metas: Sequence[Meta] | None = None) -> float:
    """WikiSQL's own logical-form accuracy: as ``lfem`` but the WHERE conditions compared as a
    set (salesforce/WikiSQL's ``Query.__eq__`` sorts them), so their order does not matter."""
    return _logical_form_match("lfem_unordered", predictions, references, metas,
                               lambda guess, gold: guess.unordered() == gold.unordered())


# -- classification and regression: mcc, pearson, spearman --------------------------------------
@register_metric()
def mcc(predictions: Sequence[str], references: Sequence[Reference],
        metas: Sequence[Meta] | None = None) -> float:
    """Matthews correlation over label strings (multiclass form, as sklearn); 0 if undefined.

    Labels are compared after stripping outer whitespace; a prediction outside the label set
    is just one more (wrong) label. The reference label is each example's first answer.
    """
    gold = [_refs(r)[0].strip() for r in references]
    pred = [p.strip() for p in predictions]
    index = {label: k for k, label in enumerate(sorted(set(gold) | set(pred)))}
    confusion = np.zeros((len(index), len(index)))
    np.add.at(confusion, ([index[g] for g in gold], [index[p] for p in pred]), 1)
    true, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    n, hits = confusion.sum(), np.trace(confusion)
    denominator = math.sqrt((n * n - predicted @ predicted) * (n * n - true @ true))
    return 0.0 if denominator == 0 else float(100.0 * (hits * n - true @ predicted) / denominator)


@register_metric(argument="positive")
def f1(predictions: Sequence[str], references: Sequence[Reference],
       metas: Sequence[Meta] | None = None, positive: str | None = None) -> float:
    """Positive-class F1 x100, as GLUE reports for MRPC and QQP (sklearn's ``f1_score`` with
    ``pos_label``); 0 when nothing is predicted or gold positive.

    The positive label is named in the task's metric list as ``f1:LABEL`` (``f1:yes``).
    Labels are compared after stripping outer whitespace; the reference is the first answer.
    """
    if positive is None:
        raise TaskError("Metric 'f1' needs the positive label; name it in the task's metrics "
                        "as f1:LABEL, e.g. metric=[\"em\", \"f1:yes\"].")
    gold = [_refs(r)[0].strip() == positive for r in references]
    pred = [p.strip() == positive for p in predictions]
    tp = sum(g and p for g, p in zip(gold, pred))
    if tp == 0:
        return 0.0
    precision, recall = tp / sum(pred), tp / sum(gold)
    return 100.0 * 2 * precision * recall / (precision + recall)


def _number(text: str) -> float:
    """A generated number; anything unparseable (or nan/inf) counts as 0.0."""
    try:
        value = float(text.strip())
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


def _correlation(kind: str, predictions: Sequence[str], references: Sequence[Reference]) -> float:
    """scipy's correlation x100; 0.0 where it is undefined (constant input, one example)."""
    from scipy import stats

    gold = []
    for i, r in enumerate(references):
        try:
            gold.append(float(_refs(r)[0]))
        except ValueError:
            raise DataError(f"Metric '{kind}': reference {i} ({_refs(r)[0]!r}) is not a number; "
                            "a regression task's answers must be numbers like '3.8'.") from None
    if len(gold) < 2:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns nan
        fn = stats.pearsonr if kind == "pearson" else stats.spearmanr
        value = fn([_number(p) for p in predictions], gold)[0]
    return 0.0 if math.isnan(value) else float(100.0 * value)


@register_metric()
def pearson(predictions: Sequence[str], references: Sequence[Reference],
            metas: Sequence[Meta] | None = None) -> float:
    """Pearson r x100 of predicted vs reference numbers; an unparseable prediction is 0.0."""
    return _correlation("pearson", predictions, references)


@register_metric()
def spearman(predictions: Sequence[str], references: Sequence[Reference],
             metas: Sequence[Meta] | None = None) -> float:
    """Spearman rho x100 of predicted vs reference numbers; an unparseable prediction is 0.0."""
    return _correlation("spearman", predictions, references)


def get_metric(name: str) -> Metric:
    """Look a metric up by name (``f1:yes`` passes the argument); an unknown name lists the
    nearest known ones."""
    base, sep, arg = name.partition(":")
    if base in METRICS:
        if sep and base not in ARGUMENTS:
            raise TaskError(f"Metric '{base}' takes no argument; write '{base}', not '{name}'.")
        if sep:
            if not arg:
                raise TaskError(f"Metric '{name}' names no {ARGUMENTS[base]} label; write "
                                f"{base}:LABEL.")
            return functools.partial(METRICS[base], **{ARGUMENTS[base]: arg})
        return METRICS[base]
    near = difflib.get_close_matches(base, list(METRICS), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(near)}?" if near else f"known: {', '.join(METRICS)}."
    raise TaskError(f"Unknown metric '{name}'; {hint}")


def score(name: str, predictions: Sequence[str], references: Sequence[Reference],
          metas: Sequence[Meta] | None = None) -> float:
    """Score predictions with the metric ``name`` (0-100), after checking the inputs line up."""
    fn = get_metric(name)
    if isinstance(predictions, str) or isinstance(references, str):
        raise DataError(f"Metric '{name}' got a single string; pass lists of predictions and "
                        "references, one per example.")
    n = len(predictions)
    if len(references) != n or (metas is not None and len(metas) != n):
        counts = f"{len(predictions)} predictions, {len(references)} references"
        counts += f", {len(metas)} metas" if metas is not None else ""
        raise DataError(f"Metric '{name}' got {counts}; pass one of each per example.")
    if not predictions:
        raise DataError(f"Metric '{name}' got no predictions; there is nothing to score.")
    return float(fn(list(predictions), list(references), metas))


def decascore(task_scores: Mapping[str, float | Mapping[str, float]]) -> float:
    """decaNLP's decaScore: the sum over tasks of each task's headline (first) metric.

    A task's value is its headline score, or its ``{metric: score}`` dict in task order.
    """
    total = 0.0
    for task, value in task_scores.items():
        if isinstance(value, Mapping):
            if not value:
                raise DataError(f"decaScore: task '{task}' has no scores; evaluate it first.")
            value = next(iter(value.values()))
        total += float(value)
    return total
