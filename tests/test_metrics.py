"""Metrics: hand-checked values, agreement with the reference libraries, and the errors."""
from __future__ import annotations

import pytest
from rouge_score import rouge_scorer
from sacrebleu import corpus_bleu
from scipy import stats

from decaqa.metrics import (METRICS, LogicalForm, decascore, normalize_text, parse_sql, score)
from decaqa.errors import DataError
from decaqa.tasks import TaskError


def approx(x: float) -> object:
    return pytest.approx(x, abs=1e-6)


# -- registry and score() -----------------------------------------------------------------------
def test_registry_names():
    assert set(METRICS) == {"em", "nem", "nf1", "accuracy", "bleu", "rouge", "cf1", "dsem",
                            "lfem", "lfem_unordered", "f1", "mcc", "pearson", "spearman"}


HEADER = ["Player", "No.", "Team", "Year"]
PERFECT = {  # name -> (references, metas) on which predictions == references must score 100
    "em": (["a", "b"], None), "nem": (["a", "b"], None), "nf1": (["a b", "c"], None),
    "accuracy": (["a", "b"], None), "bleu": (["the cat sat on the mat today"], None),
    "rouge": (["the cat sat. it ran"], None), "cf1": (["paris", "unanswerable"], None),
    "dsem": (["food: thai;", "area: north; phone"],
             [{"dialogue_id": "d", "turn": 0}, {"dialogue_id": "d", "turn": 1}]),
    "lfem": (["SELECT COUNT Player FROM table WHERE Team = x"], [{"header": HEADER}]),
    "lfem_unordered": (["SELECT COUNT Player FROM table WHERE Team = x"], [{"header": HEADER}]),
    "f1:yes": (["yes", "no", "yes"], None),
    "mcc": (["yes", "no", "yes"], None), "pearson": (["1", "2.5", "4"], None),
    "spearman": (["1", "2.5", "4"], None),
}


@pytest.mark.parametrize("name", sorted(PERFECT))
def test_every_metric_gives_100_for_perfect_predictions(name):
    assert {n.partition(":")[0] for n in PERFECT} == set(METRICS)  # none left out
    refs, metas = PERFECT[name]
    assert score(name, list(refs), refs, metas) == approx(100.0)


def test_unknown_metric_lists_near_names():
    with pytest.raises(TaskError, match=r"Unknown metric 'nf2'; did you mean .*nf1"):
        score("nf2", ["a"], ["a"])


def test_mismatched_lengths_and_empty_input_raise():
    with pytest.raises(DataError, match="2 predictions, 1 references"):
        score("em", ["a", "b"], ["a"])
    with pytest.raises(DataError, match="1 metas"):
        score("dsem", ["a", "b"], ["a", "b"], [{"dialogue_id": "d", "turn": 0}])
    with pytest.raises(DataError, match="no predictions"):
        score("em", [], [])
    with pytest.raises(DataError, match="single string"):
        score("em", "abc", "abc")


@pytest.mark.parametrize("name", ["dsem", "lfem"])
def test_metrics_that_need_metas_say_so(name):
    with pytest.raises(DataError, match=f"Metric '{name}' needs metas"):
        score(name, ["x"], ["x"])
    with pytest.raises(DataError, match="meta of example 0 has no"):
        score(name, ["x"], ["x"], [{}])


def test_decascore_sums_headline_scores():
    assert decascore({"squad": 80.0, "sst2": 90.5, "woz": 10.0}) == approx(180.5)
    # dict values: the first metric is the headline one
    assert decascore({"squad": {"nf1": 80.0, "em": 70.0}, "sst2": {"em": 90.0}}) == approx(170.0)
    assert decascore({}) == 0.0


# -- em, nem, nf1, accuracy -----------------------------------------------------------------------
def test_normalize_text():
    assert normalize_text("  The  Cat, an apple!") == "cat apple"


def test_em_nem_accuracy_by_hand():
    preds = ["Paris ", "paris", "The cat."]
    refs = ["Paris", ["London", "paris"], "the cat"]
    # em: "Paris " strips to "Paris" (1), second ref matches (1), case/punct differ (0) -> 2/3
    assert score("em", preds, refs) == approx(200 / 3)
    # nem: all three equal after normalisation
    assert score("nem", preds, refs) == approx(100.0)
    # accuracy: nothing forgiven, only "paris" matches -> 1/3
    assert score("accuracy", preds, refs) == approx(100 / 3)


def test_nf1_by_hand():
    # "big red dog" vs "red dog barked": 2 common, P = R = 2/3 -> F1 2/3; second example: the
    # best reference "Blue!" normalises to "blue" -> 1. Mean = (2/3 + 1) / 2.
    preds = ["the big red dog", "blue"]
    refs = ["a red dog barked", ["red", "Blue!"]]
    assert score("nf1", preds, refs) == approx(100 * (2 / 3 + 1) / 2)


def test_nf1_follows_decanlp_on_empty_strings():
    # Both normalise to "" : decaNLP's f1 is 0 (no common tokens) while nem counts a match.
    assert score("nf1", ["the"], ["a"]) == 0.0
    assert score("nem", ["the"], ["a"]) == approx(100.0)


# -- bleu ------------------------------------------------------------------------------------------
def test_bleu_matches_sacrebleu_lowercased():
    preds = ["The cat sat on the mat .", "a dog barked at the postman loudly"]
    refs = ["the cat sat on a mat .", "the dog barked at the postman"]
    expected = corpus_bleu(preds, [refs], lowercase=True).score
    assert score("bleu", preds, refs) == approx(expected)
    assert 0 < expected < 100
    # lowercase=True: case alone never costs anything
    assert score("bleu", ["THE CAT SAT ON THE MAT"], ["the cat sat on the mat"]) == approx(100)


def test_bleu_ragged_references():
    preds = ["the cat sat on the mat", "a dog barked at the postman"]
    ragged = [["the cat sat on a mat", "a cat was on the mat"], ["the dog barked at the man"]]
    # Repeating an example's own reference changes neither clipped counts nor closest length,
    # so padding the short list must score the same as repeating its reference.
    padded = [ragged[0], ragged[1] * 2]
    expected = corpus_bleu(preds, [list(s) for s in zip(*padded)], lowercase=True).score
    assert score("bleu", preds, ragged) == approx(expected)


# -- rouge -----------------------------------------------------------------------------------------
def test_rouge_by_hand_summary_level_lcs():
    # Sentences swapped. rouge1 = 1; bigrams over the whole text: pred {the dog, dog ran,
    # ran the, the cat, cat sat} vs ref {the cat, cat sat, sat the, the dog, dog ran}: 4/5;
    # summary-level ROUGE-L (union LCS per reference sentence) = 1. Mean = 2.8 / 3.
    pred, ref = "the dog ran. the cat sat.", "the cat sat. the dog ran."
    assert score("rouge", [pred], [ref]) == approx(100 * 2.8 / 3)
    # "." and "\n" both separate sentences
    assert score("rouge", ["the dog ran\nthe cat sat"], [ref]) == approx(100 * 2.8 / 3)


def test_rouge_matches_rouge_score_with_stemming():
    preds = ["cats were running in the park", "a summary\nwith two lines"]
    refs = ["the cat runs in a park", "a short summary\nin two lines"]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    per = [sum(s.fmeasure for s in scorer.score(r, p).values()) / 3 for p, r in zip(preds, refs)]
    assert score("rouge", preds, refs) == approx(100 * sum(per) / 2)
    # stemming: "cats running" and "cat runs" share both stems
    assert score("rouge", ["cats running"], ["cat runs"]) == approx(100.0)


def test_rouge_averages_over_references():
    # one reference matches fully (100), the other not at all (0): ROUGE-1.5.5 -f A averages
    assert score("rouge", ["red fox"], [["red fox", "blue whale"]]) == approx(50.0)


# -- cf1 -------------------------------------------------------------------------------------------
def test_cf1_by_hand_with_unanswerable():
    preds = ["paris", "unanswerable", "London", "unanswerable", "Milan"]
    refs = ["Paris", "unanswerable", "unanswerable", "Berlin", "Rome"]
    # correct (answered and right): 1 (paris); the correct abstention counts nowhere.
    # answered: paris, London, Milan = 3; answerable: Paris, Berlin, Rome = 3.
    # P = R = 1/3 -> F1 = 1/3.
    assert score("cf1", preds, refs) == approx(100 / 3)


def test_cf1_word_sets_and_reference_union():
    # "Smith and John" -> {smith, john} equals the union of the references' word sets.
    assert score("cf1", ["Smith and John"], [["John Smith", "Smith, John"]]) == approx(100.0)
    # nothing answerable, everything abstained: no true positive -> 0
    assert score("cf1", ["unanswerable"], ["unanswerable"]) == 0.0


# -- dsem ------------------------------------------------------------------------------------------


def test_dsem_rolls_up_two_dialogues_by_hand():
    rows = [  # (dialogue, turn, reference, prediction, joint goal right?)
        ("d1", 0, "food: thai;", "food: thai;", True),
        ("d1", 1, "area: north; phone", "area: south; phone", False),
        ("d1", 2, "None", "None", False),  # the wrong area is carried into this turn
        ("d2", 0, "; address", "None", True),  # requests are not part of the goal
        ("d2", 1, "price range: cheap;", "price range: cheap;", True),
        ("d2", 2, "price range: expensive;", "price range: expensive, area: east;", False),
    ]
    rows = rows[::2] + rows[1::2]  # shuffled: the metric must order by dialogue and turn
    metas = [{"dialogue_id": d, "turn": t} for d, t, *_ in rows]
    refs, preds = [r[2] for r in rows], [r[3] for r in rows]
    assert score("dsem", preds, refs, metas) == approx(100 * 3 / 6)


def test_dsem_orders_turns_numerically():
    # turn 2: state thai(gold) vs chinese(pred) -> wrong; turn 10: chinese vs chinese -> right.
    # Ordering "10" before "2" (as strings, as decaNLP did) would give 0 instead of 50.
    metas = [{"dialogue_id": "d", "turn": 10}, {"dialogue_id": "d", "turn": 2}]
    assert score("dsem", ["None", "food: chinese;"], ["food: chinese;", "food: thai;"],
                 metas) == approx(50.0)


# -- lfem ------------------------------------------------------------------------------------------
def query_repr(agg: str, sel: str, conds: list[tuple[str, str, str]]) -> str:
    """decaNLP's Query.__repr__, to build references the way the converter will."""
    rep = f"SELECT {agg} {sel} FROM table"
    if conds:
        rep += " WHERE " + " AND ".join(f"{c} {o} {v}" for c, o, v in conds)
    return " ".join(rep.split())


REF = query_repr("COUNT", "Player", [("Team", "=", "Los Angeles Lakers"), ("Year", ">", "2000")])


def test_parse_sql_by_hand():
    assert parse_sql(REF, HEADER) == LogicalForm(
        sel=0, agg=3, conds=((2, 0, "los angeles lakers"), (3, 1, "2000")))
    assert parse_sql(query_repr("", "No.", []), HEADER) == LogicalForm(1, 0, ())
    # a value may contain "and"; the longest column name wins
    rock = parse_sql("SELECT Team FROM table WHERE Team name = Rock and Roll",
                     ["Team", "Team name"])
    assert rock == LogicalForm(0, 0, ((1, 0, "rock and roll"),))
    assert parse_sql("SELECT Coach FROM table", HEADER) is None
    assert parse_sql("garbage", HEADER) is None


REORDERED = "select count player from table where year > 2000 and team = los angeles lakers"


def test_lfem_is_decanlps_ordered_rule():
    # decaNLP's computeLFEM compares to_lf(prediction) with the gold sql dict, whose conds is
    # a list: the same conditions in another order are wrong; values are lowercased.
    metas = [{"header": HEADER}]
    assert score("lfem", [REF.lower()], [REF], metas) == approx(100.0)
    assert score("lfem", [REORDERED], [REF], metas) == approx(0.0)
    wrong_column = REF.replace("COUNT Player", "COUNT No.")
    wrong_agg = REF.replace("COUNT", "MAX")
    wrong_value = REF.replace("2000", "2001")
    one_cond = query_repr("COUNT", "Player", [("Team", "=", "Los Angeles Lakers")])
    preds = [REF, wrong_column, wrong_agg, wrong_value, one_cond, "not sql at all"]
    assert score("lfem", preds, [REF] * 6, metas * 6) == approx(100 / 6)


def test_lfem_unordered_is_wikisqls_set_rule():
    # WikiSQL's Query.__eq__ compares conditions as a set: the order does not matter, a
    # repeated condition is the same condition, and everything else must still match.
    metas = [{"header": HEADER}]
    assert score("lfem_unordered", [REORDERED], [REF], metas) == approx(100.0)
    twice = REF + " AND Year > 2000"
    assert score("lfem_unordered", [twice], [REF], metas) == approx(100.0)
    assert score("lfem", [twice], [REF], metas) == approx(0.0)  # decaNLP: lists differ
    wrong_value = REORDERED.replace("2000", "2001")
    preds = [REORDERED, wrong_value, "not sql at all", REF.replace("COUNT", "MIN")]
    assert score("lfem_unordered", preds, [REF] * 4, metas * 4) == approx(25.0)


def test_wikisql_reports_both_rules_with_decanlps_first():
    from decaqa.tasks import get_task

    assert get_task("wikisql").metrics == ["lfem", "lfem_unordered"]


def test_lfem_unparseable_reference_raises():
    with pytest.raises(DataError, match="reference 0"):
        score("lfem", [REF], ["SELECT Coach FROM table"], [{"header": HEADER}])


# -- mcc, pearson, spearman ---------------------------------------------------------------------
def test_mcc_by_hand():
    # positive "a": TP=1 FN=1 FP=0 TN=2 -> (1*2 - 0*1) / sqrt(1*2*2*3) = 2/sqrt(12)
    gold, pred = ["a", "a", "b", "b"], ["a", "b", "b", "b"]
    assert score("mcc", pred, gold) == approx(100 * 2 / 12 ** 0.5)
    assert score("mcc", ["b", "b", "b", "b"], gold) == 0.0  # one predicted class: undefined -> 0
    assert score("mcc", ["b", "b", "a", "a"], gold) == approx(-100.0)


def test_mcc_matches_sklearn_multiclass():
    from sklearn import metrics
    gold = ["x", "y", "z", "x", "y", "z", "x"]
    pred = ["x", "z", "z", "x", "y", "y", "other"]
    assert score("mcc", pred, gold) == approx(100 * metrics.matthews_corrcoef(gold, pred))


def test_correlations_match_scipy_and_zero_unparseable():
    preds, refs = ["1.0", "2", "oops", "4.5"], ["1", "2", "3", "4"]
    as_numbers = [1.0, 2.0, 0.0, 4.5]  # "oops" counts as 0.0
    gold = [1.0, 2.0, 3.0, 4.0]
    assert score("pearson", preds, refs) == approx(100 * stats.pearsonr(as_numbers, gold)[0])
    assert score("spearman", preds, refs) == approx(100 * stats.spearmanr(as_numbers, gold)[0])
    # by hand: ranks of [1, 2, 0, 4.5] are [2, 3, 1, 4] vs [1, 2, 3, 4]: d^2 = 1+1+4+0 = 6,
    # rho = 1 - 6*6 / (4*15) = 0.4
    assert score("spearman", preds, refs) == approx(40.0)
    assert score("pearson", ["2", "2", "2"], ["1", "2", "3"]) == 0.0  # constant: undefined


def test_correlation_rejects_non_numeric_reference():
    with pytest.raises(DataError, match="not a number"):
        score("pearson", ["1", "2"], ["1", "high"])


# -- f1 (MRPC, QQP) ---------------------------------------------------------------------------------
def test_f1_by_hand_and_against_sklearn():
    from sklearn.metrics import f1_score

    gold = ["yes", "yes", "no", "no", "yes", "no"]
    pred = ["yes", "no", "yes", "no", "yes", " maybe"]
    # positive "yes": TP=2, FP=1, FN=1 -> P=2/3, R=2/3, F1=2/3
    assert score("f1:yes", pred, gold) == approx(100 * 2 / 3)
    assert score("f1:yes", pred, gold) == approx(
        100 * f1_score(gold, [p.strip() for p in pred], labels=["yes"], average="micro"))
    assert score("f1:no", pred, gold) == approx(100 * f1_score(
        gold, [p.strip() for p in pred], labels=["no"], average="micro"))
    assert score("f1:yes", ["no", "no"], ["yes", "no"]) == 0.0  # nothing predicted positive


def test_f1_needs_its_positive_label():
    with pytest.raises(TaskError, match="positive label.*f1:LABEL"):
        score("f1", ["yes"], ["yes"])
    with pytest.raises(TaskError, match="takes no argument"):
        score("em:yes", ["yes"], ["yes"])


@pytest.mark.parametrize("name", ["mrpc", "qqp"])
def test_mrpc_and_qqp_report_positive_class_f1(name):
    from decaqa.tasks import get_task

    task = get_task(name)
    assert task.metrics == ["em", "f1:yes"] and "yes" in task.choices


def test_a_converter_file_registers_its_own_metric(tmp_path, fresh_registry, write_task):
    """A task brings its own metric: decorated in its converter file, registered on import,
    used by the task's scoring like any built-in one."""
    from decaqa.evaluate import score_predictions
    from decaqa.metrics import METRICS, get_metric, register_metric

    write_task(tmp_path, "topic", source='''
        from decaqa import Task, register_metric

        @register_metric("first_word")
        def first_word(predictions, references, metas=None):
            """100 x share of predictions whose first word is the answer's first word."""
            hits = [p.split()[:1] == (r if isinstance(r, str) else r[0]).split()[:1]
                    for p, r in zip(predictions, references)]
            return 100.0 * sum(hits) / len(hits)

        task = Task(name="topic", dataset="user/topic", questions=["What is the topic?"],
                    metric=["first_word", "em"])

        @task.converter
        def convert(row):
            return {"context": row["text"], "answer": row["topic"]}
    ''')
    try:
        rows = [{"task": "topic", "prediction": "sport news", "answers": ["sport"]},
                {"task": "topic", "prediction": "music", "answers": ["politics"]}]
        out = score_predictions(rows, [str(tmp_path)])
        assert out["tasks"]["topic"]["scores"] == {"first_word": 50.0, "em": 0.0}
        assert out["decascore"] == 50.0
        with pytest.raises(TaskError, match="already registered"):
            register_metric("em")(lambda p, r, m=None: 0.0)
        assert get_metric("first_word") is METRICS["first_word"]
    finally:
        METRICS.pop("first_word", None)
