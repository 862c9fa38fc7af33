"""Converter tests: one contract test over every registered task, exact decaNLP formats, the
real samples in ../shared/data/real, and the errors a user gets for bad rows or converters."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import decaqa
from decaqa.tasks import Task, TaskError, iter_examples

FIXTURES = Path(__file__).parent / "fixtures"
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
TASKS = decaqa.registry()

DECANLP = ["squad", "iwslt", "cnn_dailymail", "multinli", "sst2", "qa_srl", "qa_zre", "woz",
           "wikisql", "wsc"]
EXTRAS = ["squad_v2", "mrpc", "rte", "cola", "qnli", "qqp", "stsb", "boolq"]


def fixture_rows(name: str) -> list[dict]:
    path = FIXTURES / f"{name}.jsonl"
    assert path.exists(), f"task '{name}' has no fixture file {path}"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def convert_one(name: str, row: dict, index: int = 0):
    return TASKS[name].convert(row, index)


# -- 1. the contract every task keeps ----------------------------------------------------------
def test_all_decanlp_and_extra_tasks_registered():
    assert set(DECANLP + EXTRAS) <= set(TASKS)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_contract(name):
    task = TASKS[name]
    rows = fixture_rows(name)
    assert 2 <= len(rows) <= 5 or name == "woz"      # woz: one row is a whole dialogue
    examples, ids = [], []
    for i, row in enumerate(rows):
        raw = task.convert_row(row)
        out = task.convert(row, i)
        examples += out
        ids += [ex.id for ex in out]
        raw = [] if raw is None else [raw] if isinstance(raw, dict) else raw
        for r, ex in zip(raw, out):
            if task.questions and "question" not in r:
                fields = r.get("fields", {})
                assert ex.question == task.question.format(**fields)
                assert ex.questions == tuple(q.format(**fields) for q in task.questions)
            elif "question" in r:
                assert ex.questions == (r["question"],)  # the row's own: nothing to paraphrase
    assert examples, f"no fixture row of '{name}' converted"
    assert len(ids) == len(set(ids)), f"duplicate ids {ids}"
    for ex in examples:
        assert ex.task == name
        assert ex.context.strip() and ex.question.strip()
        assert ex.answers and all(a.strip() for a in ex.answers)
        if task.choices:
            assert set(ex.answers) <= set(task.choices), (ex.answers, task.choices)


DECANLP_TEN = ["squad", "iwslt", "cnn_dailymail", "multinli", "sst2", "qa_srl", "qa_zre", "woz",
               "wikisql", "wsc"]
ROW_QUESTION = {"squad", "qa_srl", "qa_zre"}  # the question comes from each row: n/a


@pytest.mark.parametrize("name", DECANLP_TEN)
def test_decanlp_tasks_have_three_paraphrases(name):
    """Each of decaNLP's ten tasks asks its question at least four ways (canonical plus three
    paraphrases), unless every row brings its own question; paraphrases are distinct."""
    task = TASKS[name]
    if name in ROW_QUESTION:
        assert not task.questions
        return
    assert len(task.questions) >= 4, task.questions
    assert len(set(task.questions)) == len(task.questions)
    for row in fixture_rows(name)[:2]:
        for ex in task.convert(row):
            assert len(ex.paraphrases) >= 3 and ex.question not in ex.paraphrases
            if task.choices:  # the answer set stays in every phrasing that lists it
                for q in ex.questions:
                    if task.choices[0] in ex.question:
                        assert all(c in q for c in task.choices), q


@pytest.mark.parametrize("name", sorted(TASKS))
def test_metrics_are_known(name):
    from decaqa.metrics import get_metric
    assert TASKS[name].metrics
    for metric in TASKS[name].metrics:
        assert callable(get_metric(metric))  # unknown names and missing arguments raise


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_declares_source(name):
    task = TASKS[name]
    assert task.hub_name and task.description
    assert "#" not in task.source             # a hub name, not a comment pasted in
    if task.revision == "refs/convert/parquet":
        assert task.note, "a parquet-export source should say how to load it in `note`"


# -- 2. exact decaNLP formats ------------------------------------------------------------------
def test_squad_exact():
    row = {"id": "q1", "title": "T", "context": "Paris is  the capital of France.",
           "question": "  What is\tthe capital\n of France? ",
           "answers": {"text": ["Paris", "Paris", "Paris is"], "answer_start": [0, 0, 0]}}
    (ex,) = convert_one("squad", row)
    assert ex.context == "Paris is  the capital of France."      # answerable: kept as is
    assert ex.question == "What is the capital of France?"
    assert ex.answer == ["Paris", "Paris", "Paris is"] and ex.target == "Paris"
    assert ex.id == "q1"
    for r in fixture_rows("squad"):
        (ex,) = convert_one("squad", r)
        assert ex.answers == r["answers"]["text"] and ex.context == r["context"]


def test_squad_v2_unanswerable():
    answerable, unanswerable = fixture_rows("squad_v2")
    (ex,) = convert_one("squad_v2", answerable)
    assert ex.answer == ["France", "France", "France"]
    (ex,) = convert_one("squad_v2", unanswerable)
    assert ex.answer == "unanswerable"
    assert ex.question == "Who gave their name to Normandy in the 1000's and 1100's"
    assert "  " not in ex.context and ex.context == " ".join(unanswerable["context"].split())


def test_multinli_exact_quotes():
    row = {"pairID": "63735n", "premise": "The new rights are nice enough",
           "hypothesis": "Everyone really likes the newest benefits ", "label": 1}
    (ex,) = convert_one("multinli", row)
    assert ex.context == 'Premise: "The new rights are nice enough"'
    assert ex.question == ('Hypothesis: "Everyone really likes the newest benefits " -- '
                           "entailment, neutral, or contradiction?")
    assert ex.answer == "neutral" and ex.id == "63735n"
    assert [convert_one("multinli", dict(row, label=k))[0].answer for k in (0, 2)] == [
        "entailment", "contradiction"]
    assert convert_one("multinli", dict(row, label=-1)) == []
    assert TASKS["multinli"].source_split("validation") == "validation_matched"


def test_wikisql_exact():
    rows = fixture_rows("wikisql")
    (ex,) = convert_one("wikisql", rows[0])
    assert ex.question == "What is the translation from English to SQL?"
    assert ex.context == (
        "The table has columns State/territory, Text/background colour, Format, Current slogan, "
        "Current series, Notes and key words MAX, MIN, COUNT, SUM, AVG, =, >, <, OP, SELECT, "
        "WHERE, AND, COL, TABLE, CAPTION, PAGE, SECTION, OP, COND, QUESTION, AGG, AGGOPS, "
        "CONDOPS-- Tell me what the notes are for South Australia ")
    assert ex.answer == "SELECT Notes FROM table WHERE Current slogan = SOUTH AUSTRALIA"
    assert ex.meta == {"header": rows[0]["table"]["header"]}
    (ex,) = convert_one("wikisql", rows[1])
    assert ex.answer == "SELECT COUNT School/Club Team FROM table WHERE No. = 3"
    (ex,) = convert_one("wikisql", rows[2])
    assert ex.answer == ("SELECT Player FROM table WHERE School/Club Team = Duke AND "
                         "Years in Toronto = 1999-2000")
    for r in rows:      # HF's human_readable comes from the same WikiSQL Query code
        assert convert_one("wikisql", r)[0].answer == r["sql"]["human_readable"]


def test_wikisql_conds_as_list_and_no_conds():
    row = fixture_rows("wikisql")[2]
    listed = dict(row, sql=dict(row["sql"], conds=[[5, 0, "Duke"], [4, 0, "1999-2000"]]))
    dicts = dict(row, sql=dict(row["sql"], conds=[
        {"column_index": 5, "operator_index": 0, "condition": "Duke"},
        {"column_index": 4, "operator_index": 0, "condition": "1999-2000"}]))
    expected = convert_one("wikisql", row)[0].answer
    assert convert_one("wikisql", listed)[0].answer == expected
    assert convert_one("wikisql", dicts)[0].answer == expected
    bare = dict(row, sql=dict(row["sql"], agg=1, sel=1, conds={
        "column_index": [], "operator_index": [], "condition": []}))
    assert convert_one("wikisql", bare)[0].answer == "SELECT MAX No. FROM table"


WOZ_DIALOGUE = {"dialogue_idx": 7, "dialogue": [
    {"turn_label": [["price range", "cheap"], ["area", "north"]], "asr": [["i want cheap food"]],
     "system_transcript": "", "turn_idx": 0,
     "belief_state": [{"slots": [["price range", "cheap"]], "act": "inform"},
                      {"slots": [["area", "north"]], "act": "inform"}],
     "transcript": "I want a cheap restaurant in the north.", "system_acts": []},
    {"turn_label": [["area", "east"], ["request", "phone"]], "asr": [["east please"]],
     "system_transcript": "What kind of food would you like?", "turn_idx": 1,
     "belief_state": [{"slots": [["slot", "phone"]], "act": "request"},
                      {"slots": [["price range", "cheap"]], "act": "inform"},
                      {"slots": [["area", "east"]], "act": "inform"}],
     "transcript": "Any  food is fine, in the east.\nWhat is the phone number?",
     "system_acts": [["food"], ["price range", "cheap"]]},
]}


def test_woz_exact_two_turns():
    first, second = convert_one("woz", WOZ_DIALOGUE)
    assert first.question == second.question == "What is the change in state?"
    assert first.context == "I want a cheap restaurant in the north."
    assert first.answer == "price range: cheap, area: north;"
    assert second.context == ("food, price range: cheap -- Any food is fine, in the east. "
                              "What is the phone number?")
    assert second.answer == "area: east; phone"
    assert (first.id, second.id) == ("7-0", "7-1")
    assert second.meta == {"dialogue_id": "7", "turn": 1}


def test_woz_nothing_new_is_none_and_requests_alone():
    (first, second, third) = convert_one("woz", fixture_rows("woz")[0])
    assert first.answer == "price range: expensive, area: south;"
    assert second.answer == "; phone, address"          # informs unchanged, two requests
    assert third.answer == "None"                       # nothing changed this turn
    assert third.context == "Thank you. You have been most helpful."


def test_qa_srl_exact():
    row = fixture_rows("qa_srl")[0]
    (ex,) = convert_one("qa_srl", row)
    assert ex.context == ("Rolls-Royce Motor Cars Inc. said it expects its U.S. sales to remain "
                          "steady at about 1,200 cars in 1990.")
    assert ex.question == "who said something?"
    assert ex.answer == ["Rolls-Royce Motor Cars Inc."]
    row = {"sentence": "The company -LRB- based in Ohio -RRB- said `` no '' on Monday .",
           "sent_id": "X_1", "predicate_idx": 7, "predicate": "said",
           "question": ["when", "did", "someone", "say", "something", "_", "_", "?"],
           "answers": ["On Monday", "Monday"]}
    (ex,) = convert_one("qa_srl", row)
    assert ex.context == "The company (based in Ohio) said no on Monday."
    assert ex.question == "when did someone say something?"
    assert ex.answer == ["on Monday", "Monday"]          # first letter's case fitted to the text
    assert ex.id == "X_1/7/when did someone say something?"


def test_qa_zre_exact():
    found, missing, several = (convert_one("qa_zre", r)[0] for r in fixture_rows("qa_zre"))
    assert found.question == "Where was Angela Merkel born?" and found.answer == "Hamburg"
    assert missing.question == "When did Angela Merkel die?" and missing.answer == "unanswerable"
    assert several.question == "Who is the sibling of Prince William?"
    assert several.answer == "Harry, Prince Harry"      # decaNLP joins answer spans with ", "


def test_wsc_exact():
    first, second = (convert_one("wsc", r)[0] for r in fixture_rows("wsc")[:2])
    assert first.context == ("The city councilmen refused the demonstrators a permit because they "
                             "feared violence.")
    assert first.question == ('Who or what is "they" in "they feared violence"? '
                              "The city councilmen or the demonstrators?")
    assert first.answer == "The city councilmen" and second.answer == "the demonstrators"
    assert TASKS["wsc"].source_split("validation") == "test"


def test_iwslt_exact():
    row = {"translation": {"en": " Thank you so much, Chris. ", "de": "Vielen Dank, Chris. "}}
    (ex,) = convert_one("iwslt", row)
    assert (ex.context, ex.question, ex.answer) == (
        "Thank you so much, Chris.", "Translate from English to German", "Vielen Dank, Chris.")
    assert convert_one("iwslt", {"translation": {"en": "Hello.", "de": "  "}}) == []


def test_cnn_dailymail_exact():
    row = {"id": "abc", "article": "Line one.  Line two",
           "highlights": "First point .\nSecond point\nThird \ufb01ne point!"}
    (ex,) = convert_one("cnn_dailymail", row)
    assert ex.question == "What is the summary?"
    assert ex.context == "Line one.  Line two"
    assert ex.answer == "First point . Second point. Third fine point!"     # NFKC: the ligature
    for r in fixture_rows("cnn_dailymail"):
        assert convert_one("cnn_dailymail", r)[0].answer == r["highlights"].replace("\n", " ")


def test_woz_and_wikisql_answers_parse_with_their_metrics():
    from decaqa.metrics import format_woz_answer, parse_sql, parse_woz_answer
    turns = convert_one("woz", WOZ_DIALOGUE) + convert_one("woz", fixture_rows("woz")[0])
    for ex in turns:
        delta = parse_woz_answer(ex.answer)
        assert format_woz_answer(delta.inform, delta.request) == ex.answer
    assert parse_woz_answer(turns[1].answer).inform == {"area": "east"}
    for row in fixture_rows("wikisql"):
        (ex,) = convert_one("wikisql", row)
        form = parse_sql(ex.answer, ex.meta["header"])
        assert form is not None and (form.sel, form.agg) == (row["sql"]["sel"], row["sql"]["agg"])


def test_glue_extras_answers():
    assert convert_one("stsb", fixture_rows("stsb")[1])[0].answer == "4.8"
    assert convert_one("stsb", dict(fixture_rows("stsb")[0], label=-1.0)) == []
    assert [convert_one("qnli", r) and convert_one("qnli", r)[0].answer
            for r in fixture_rows("qnli")] == ["no", "yes", []]
    (ex,) = convert_one("rte", fixture_rows("rte")[0])
    assert ex.question.endswith('" -- entailment or not entailment?')
    for name in ("sst2", "mrpc", "rte", "cola", "qqp"):
        assert convert_one(name, dict(fixture_rows(name)[0], label=-1)) == []


# -- 3. the real samples -----------------------------------------------------------------------
REAL_DIRS = {"cnn_dailymail": "cnn_dailymail", "glue__cola": "cola", "glue__mrpc": "mrpc",
             "glue__rte": "rte", "glue__sst2": "sst2", "iwslt2017__iwslt2017-en-de": "iwslt",
             "multi_nli": "multinli", "qa_srl": "qa_srl", "squad": "squad",
             "winograd_wsc": "wsc", "woz_dialogue": "woz"}


def _real_files():
    if not REAL.is_dir():
        return []
    return [(REAL_DIRS[d.name], f) for d in sorted(REAL.iterdir()) if d.name in REAL_DIRS
            for f in sorted(d.glob("*.jsonl"))]


@pytest.mark.parametrize("name,path", _real_files() or [pytest.param(
    None, None, marks=pytest.mark.skip(reason=f"no real samples at {REAL}"))],
    ids=lambda v: v.name if isinstance(v, Path) else v)
def test_real_samples_convert(name, path):
    datasets = pytest.importorskip("datasets")
    rows = datasets.load_dataset("json", data_files=str(path), split="train")
    counts: dict[str, int] = {}
    examples = list(iter_examples(TASKS[name], rows, counts))
    unlabeled = sum(1 for r in rows if isinstance(r.get("label"), (int, float)) and r["label"] < 0)
    assert counts["rows"] == len(rows)
    assert counts["skipped"] == unlabeled
    assert len({ex.id for ex in examples}) == len(examples)
    if name == "woz":
        assert len(examples) == sum(len(r["dialogue"]) for r in rows)


# -- 4. bad input ------------------------------------------------------------------------------
def test_missing_column_names_column_and_row():
    row = {"id": "5733be28", "context": "Some text.", "answers": {"text": ["x"]}}
    with pytest.raises(TaskError) as err:
        convert_one("squad", row)
    assert "'question'" in str(err.value) and "5733be28" in str(err.value)
    turn = {k: v for k, v in WOZ_DIALOGUE["dialogue"][0].items() if k != "transcript"}
    with pytest.raises(TaskError) as err:
        convert_one("woz", {"dialogue_idx": 41, "dialogue": [turn]})
    assert "'transcript'" in str(err.value) and "41" in str(err.value)


def test_wrong_return_type_is_an_error():
    t = Task(name="bad_type", dataset="none", questions=["Q?"])

    @t.converter
    def convert(row):
        return "just a string"

    with pytest.raises(TaskError, match="returned str"):
        t.convert({"x": 1}, 3)

    @t.converter
    def convert_list(row):
        return [{"context": "c", "answer": "a"}, 42]

    with pytest.raises(TaskError, match="returned int"):
        t.convert({"x": 1}, 3)


def test_empty_context_and_empty_answer_are_errors():
    with pytest.raises(TaskError, match="empty context for row 12"):
        convert_one("sst2", {"sentence": "   ", "label": 1, "idx": 12})
    t = Task(name="bad_answer", dataset="none", questions=["Q?"])
    t.converter(lambda row: {"context": "text", "answer": []})
    with pytest.raises(TaskError, match="answer"):
        t.convert({"id": "r1"}, 0)


def test_converter_bug_names_file_and_row():
    t = Task(name="buggy", dataset="none", questions=["Q?"])
    t.converter(lambda row: {"context": row["text"].upper(), "answer": 1 / 0})
    with pytest.raises(TaskError, match="ZeroDivisionError.*row r9"):
        t.convert({"id": "r9", "text": "x"}, 0)
