"""Task discovery (folder scan, --tasks-dir, $DECAQA_TASKS_DIRS) and the Task contract: what a
converter may return, per-row question slots, and the one-sentence errors that name the file,
the row and the fix."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import decaqa
from conftest import slotted_task
from decaqa.example import QAExample
from decaqa.tasks import (TASKS_DIRS_ENV, Task, TaskError, builtin_tasks_dir, discover,
                          get_task, iter_examples, load_task_file, registry)

DECANLP = ["squad", "iwslt", "cnn_dailymail", "multinli", "sst2", "qa_srl", "qa_zre", "woz",
           "wikisql", "wsc"]
GLUE_EXTRAS = ["squad_v2", "mrpc", "rte", "cola", "qnli", "qqp", "stsb"]


def converter_task(tmp_path: Path, body: str, name: str = "probe", extra: str = "") -> Task:
    """Load a one-task converter file whose converter body is ``body`` (one indented block)."""
    path = tmp_path / f"{name}.py"
    path.write_text(
        "from decaqa import Task\n\n"
        f"task = Task(name={name!r}, dataset='user/probe', questions=['What is it?']{extra})\n\n"
        "@task.converter\n"
        "def convert(row):\n"
        f"    {body}\n")
    (task,) = load_task_file(path)
    return task


# -- discovery ---------------------------------------------------------------------------------
def test_builtin_tasks_found_by_folder_scan(fresh_registry):
    tasks = discover()
    assert set(DECANLP + GLUE_EXTRAS) <= set(tasks)
    folder = builtin_tasks_dir()
    for name in DECANLP + GLUE_EXTRAS:
        task = tasks[name]
        assert task.name == name
        assert task.source_file == folder / f"{name}.py"     # one file per task, named after it
        assert task.convert_row is not None
        assert len(task.file_hash) == 16


def test_registry_is_cached_and_get_task_returns_registered_task(fresh_registry):
    first = registry()
    assert registry() is first                          # converter files imported once
    assert get_task("sst2") is first["sst2"]
    assert get_task("sst2").question == "Is this review negative or positive?"
    assert decaqa.get_task is get_task and decaqa.Task is Task


def test_tasks_dir_adds_user_task(tmp_path, fresh_registry, write_task):
    path = write_task(tmp_path / "mine", "parity")
    tasks = discover([tmp_path / "mine"])
    assert set(DECANLP) <= set(tasks)                   # built-ins stay
    task = tasks["parity"]
    assert task.source_file == path
    assert task.question == "Is the number even or odd?"
    (ex,) = task.convert({"id": "r7", "text": "seven is 7", "n": 7})
    assert ex == QAExample(context="seven is 7", question="Is the number even or odd?",
                           answer="odd", task="parity", id="r7", choices=("even", "odd"))
    # get_task with the same extra folder finds it; without it, it is unknown
    assert get_task("parity", [tmp_path / "mine"]).source_file == path
    with pytest.raises(TaskError, match="Unknown task 'parity'"):
        get_task("parity")


def test_files_starting_with_underscore_are_not_tasks(tmp_path, fresh_registry, write_task):
    write_task(tmp_path, "parity")
    (tmp_path / "_helpers.py").write_text("raise RuntimeError('never imported')\n")
    assert "parity" in discover([tmp_path])


def test_env_var_adds_user_task(tmp_path, monkeypatch, fresh_registry, write_task):
    a, b = tmp_path / "a", tmp_path / "b"
    write_task(a, "parity_a")
    write_task(b, "parity_b")
    monkeypatch.setenv(TASKS_DIRS_ENV, os.pathsep.join([str(a), str(b)]))
    tasks = discover()
    assert tasks["parity_a"].source_file == a / "parity_a.py"
    assert tasks["parity_b"].source_file == b / "parity_b.py"
    assert get_task("parity_b").name == "parity_b"      # registry() keys its cache on the env
    monkeypatch.delenv(TASKS_DIRS_ENV)
    with pytest.raises(TaskError):
        get_task("parity_b")


def test_missing_tasks_folder_is_an_error(tmp_path, fresh_registry):
    with pytest.raises(TaskError, match="does not exist") as err:
        discover([tmp_path / "nope"])
    assert str(tmp_path / "nope") in str(err.value)


def test_duplicate_name_across_folders_names_both_files(tmp_path, fresh_registry, write_task):
    first = write_task(tmp_path / "one", "parity")
    second = write_task(tmp_path / "two", "parity", filename="other_parity.py")
    with pytest.raises(TaskError, match="defined twice") as err:
        discover([tmp_path / "one", tmp_path / "two"])
    assert str(first) in str(err.value) and str(second) in str(err.value)


def test_user_task_clashing_with_builtin_names_both_files(tmp_path, fresh_registry, write_task):
    mine = write_task(tmp_path, "squad")
    with pytest.raises(TaskError, match="'squad' is defined twice") as err:
        discover([tmp_path])
    assert str(builtin_tasks_dir() / "squad.py") in str(err.value) and str(mine) in str(err.value)


def test_file_without_task_names_the_file(tmp_path, fresh_registry):
    path = tmp_path / "helpers.py"
    path.write_text("def convert(row):\n    return row\n")
    with pytest.raises(TaskError, match="defines no Task") as err:
        discover([tmp_path])
    assert str(path) in str(err.value)


def test_file_failing_to_import_names_the_file(tmp_path, fresh_registry):
    path = tmp_path / "broken.py"
    path.write_text("from decaqa import Task\nimport no_such_module_xyz\n")
    with pytest.raises(TaskError, match="failed to import") as err:
        discover([tmp_path])
    assert str(path) in str(err.value) and "no_such_module_xyz" in str(err.value)


def test_syntax_error_file_names_the_file(tmp_path, fresh_registry):
    path = tmp_path / "typo.py"
    path.write_text("task = Task(name='x'\n")
    with pytest.raises(TaskError) as err:
        discover([tmp_path])
    assert str(path) in str(err.value) and "SyntaxError" in str(err.value)


@pytest.mark.parametrize("typo, near", [("squda", "squad"), ("sstt2", "sst2"),
                                        ("multnli", "multinli"), ("wikisq", "wikisql")])
def test_unknown_task_lists_near_names(typo, near, fresh_registry):
    with pytest.raises(TaskError, match="did you mean") as err:
        get_task(typo)
    assert f"Unknown task '{typo}'" in str(err.value)
    assert near in str(err.value)


def test_unknown_task_without_near_names_points_to_listing(fresh_registry):
    with pytest.raises(TaskError, match="decaqa tasks"):
        get_task("zzzzzzzzzzzz")


# -- the converter contract --------------------------------------------------------------------
def test_converter_exception_names_file_and_row(tmp_path):
    task = converter_task(tmp_path, "return {'context': row['text'], 'answer': 1 / 0}")
    with pytest.raises(TaskError) as err:
        task.convert({"id": "row-42", "text": "hello"}, 3)
    msg = str(err.value)
    assert str(task.source_file) in msg and "row row-42" in msg and "ZeroDivisionError" in msg
    assert isinstance(err.value.__cause__, ZeroDivisionError)      # cause kept for debugging


def test_row_without_id_is_named_by_its_index(tmp_path):
    task = converter_task(tmp_path, "raise RuntimeError('boom')")
    with pytest.raises(TaskError, match="row 17") as err:
        task.convert({"text": "hello"}, 17)
    assert str(task.source_file) in str(err.value) and "boom" in str(err.value)


def test_missing_column_names_column_and_row(tmp_path):
    task = converter_task(tmp_path, "return {'context': row['sentence'], 'answer': 'x'}")
    with pytest.raises(TaskError, match="no column 'sentence'") as err:
        task.convert({"idx": 9, "text": "hello"}, 0)
    msg = str(err.value)
    assert "row 9" in msg and "columns: idx, text" in msg and str(task.source_file) in msg


@pytest.mark.parametrize("context", ["", "   \n", None])
def test_empty_context_is_an_error(tmp_path, context):
    task = converter_task(tmp_path, f"return {{'context': {context!r}, 'answer': 'x'}}")
    with pytest.raises(TaskError, match="empty context for row r1") as err:
        task.convert({"id": "r1"})
    assert str(task.source_file) in str(err.value)


@pytest.mark.parametrize("ret, what", [("'just a string'", "returned str"),
                                       ("42", "returned int"),
                                       ("[{'context': 'c', 'answer': 'a'}, 'oops']",
                                        "returned str"),
                                       ("{'context': 'c'}", "no 'answer'"),
                                       ("{'answer': 'a'}", "no 'context'"),
                                       ("{'context': 'c', 'answer': 3}", "gave answer 3"),
                                       ("{'context': 'c', 'answer': []}", "gave answer []")])
def test_wrong_return_is_an_error_naming_file_and_row(tmp_path, ret, what):
    task = converter_task(tmp_path, f"return {ret}")
    with pytest.raises(TaskError, match="row r5") as err:
        task.convert({"id": "r5"})
    assert what in str(err.value) and str(task.source_file) in str(err.value)


def test_no_question_anywhere_is_an_error(tmp_path):
    path = tmp_path / "noq.py"
    path.write_text("from decaqa import Task\ntask = Task(name='noq', dataset='x')\n"
                    "@task.converter\ndef c(row):\n    return {'context': 'c', 'answer': 'a'}\n")
    (task,) = load_task_file(path)
    with pytest.raises(TaskError, match="no question for row 0"):
        task.convert({})


def test_task_without_converter_is_an_error():
    with pytest.raises(TaskError, match="has no converter"):
        Task(name="bare", dataset="x", questions=["q?"]).convert({})


def test_row_question_overrides_canonical_question(tmp_path):
    task = converter_task(tmp_path, "return {'context': 'c', 'question': row['q'], "
                                    "'answer': ['a', 'b'], 'meta': {'k': 1}}")
    (ex,) = task.convert({"q": "Who?"}, 4)
    assert (ex.question, ex.answer, ex.answers, ex.id, ex.meta) == ("Who?", ["a", "b"],
                                                                     ["a", "b"], "4", {"k": 1})
    assert ex.task == "probe" and ex.choices is None


def test_none_is_counted_as_skipped(tmp_path):
    task = converter_task(tmp_path, "return None if row['n'] < 0 else "
                                    "{'context': str(row['n']), 'answer': 'a'}")
    rows = [{"n": 1}, {"n": -1}, {"n": 2}, {"n": -5}, {"n": 3}]
    counts: dict[str, int] = {}
    examples = list(iter_examples(task, rows, counts))
    assert [ex.context for ex in examples] == ["1", "2", "3"]
    assert [ex.id for ex in examples] == ["0", "2", "4"]        # ids keep the row index
    assert counts == {"rows": 5, "skipped": 2}


def test_empty_list_is_counted_as_skipped(tmp_path):
    task = converter_task(tmp_path, "return []")
    counts: dict[str, int] = {}
    assert list(iter_examples(task, [{}, {}], counts)) == []
    assert counts == {"rows": 2, "skipped": 2}


def test_list_return_gives_distinct_ids(tmp_path):
    task = converter_task(
        tmp_path, "return [{'context': t, 'answer': t.upper()} for t in row['turns']]")
    rows = [{"dialogue_idx": "d1", "turns": ["a", "b", "c"]}, {"dialogue_idx": "d2",
                                                                 "turns": ["x", "y"]}]
    counts: dict[str, int] = {}
    examples = list(iter_examples(task, rows, counts))
    ids = [ex.id for ex in examples]
    assert ids == ["d1-0", "d1-1", "d1-2", "d2-0", "d2-1"]
    assert len(set(ids)) == len(ids)
    assert [ex.answer for ex in examples] == ["A", "B", "C", "X", "Y"]
    assert counts == {"rows": 2, "skipped": 0}


def test_converter_given_ids_are_kept(tmp_path):
    task = converter_task(tmp_path, "return [{'context': 'c', 'answer': 'a', 'id': f'q{i}'} "
                                    "for i in range(2)]")
    assert [ex.id for ex in task.convert({"id": "r"})] == ["q0", "q1"]


def test_choices_travel_with_every_example(tmp_path):
    task = converter_task(tmp_path, "return {'context': 'c', 'answer': task.choices[row['l']]}",
                          extra=", choices=['no', 'yes']")
    (ex,) = task.convert({"l": 1})
    assert ex.answer == "yes" and ex.choices == ("no", "yes")
    assert ex.to_dict()["choices"] == ["no", "yes"]


def test_iter_examples_is_lazy(tmp_path):
    task = converter_task(tmp_path, "return {'context': str(row['v']), 'answer': 'a'}")

    def rows():
        yield {"v": 1}
        raise AssertionError("read past what was asked for")

    assert next(iter_examples(task, rows())).context == "1"


def test_slots_are_filled_per_row_in_every_phrasing():
    ex = slotted_task().convert({"text": "A cat sat.", "h": "a cat sat", "label": "yes"})[0]
    assert ex.question == 'Is "a cat sat" true? yes or no?'
    assert ex.paraphrases == ('Does it follow that "a cat sat"? yes or no?',
                              'Given the text, "a cat sat": yes or no?')


def test_a_missing_slot_or_missing_fields_is_one_sentence():
    task = slotted_task()
    task.convert_row = lambda row: {"context": "x", "fields": {"other": 1}, "answer": "yes"}
    with pytest.raises(TaskError, match="no field 'h'"):
        task.convert({})
    task.convert_row = lambda row: {"context": "x", "answer": "yes"}
    with pytest.raises(TaskError, match="has slots; return fields"):
        task.convert({})


def test_a_question_from_the_row_has_nothing_to_paraphrase():
    task = Task(name="own", dataset="user/x", questions=["Canonical?", "Paraphrase?"])
    task.convert_row = lambda row: {"context": "c", "question": row["q"], "answer": "a"}
    ex = task.convert({"q": "Who?"})[0]
    assert ex.questions == ("Who?",) and ex.paraphrases == ()
