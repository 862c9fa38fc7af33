"""Bad input, tried on purpose: each ends in one sentence naming the problem and the fix, exit
code 2, no traceback (the README's bad-input table lists these rows)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from decaqa.cli import run

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
GOOD = [{"sentence": "a fine film", "label": 1}, {"sentence": "a dull film", "label": 0}]


def lines(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def said(capsys, code: int) -> str:
    """The one-sentence message of a refused command."""
    out = capsys.readouterr()
    assert code == 2, out.out + out.err
    assert "Traceback" not in out.err + out.out
    message = [line for line in out.err.splitlines() if line.startswith("decaqa: ")]
    assert len(message) == 1, out.err
    return message[0]


# -- data files (decaqa show reads them as fit and evaluate do) ---------------------------------
def data_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "sst2.jsonl"
    if kind == "broken_line":
        path.write_text(lines(GOOD) + '{"sentence": "oops", "label": \n' + lines(GOOD))
    elif kind == "empty":
        path.write_text("")
    elif kind == "folder":
        path = tmp_path / "data"
        path.mkdir()
    elif kind == "utf16":
        path.write_text(lines(GOOD), encoding="utf-16")
    elif kind == "latin1":
        path.write_bytes(lines(GOOD).encode() + '{"sentence": "déjà vu", "label": 1}\n'.encode("latin-1"))
    elif kind == "not_parquet":
        path = tmp_path / "sst2.parquet"
        path.write_text(lines(GOOD))
    elif kind == "not_an_object":
        path.write_text(lines(GOOD) + "[1, 2]\n")
    elif kind == "missing_field":
        path.write_text(lines(GOOD) + lines([{"sentence": "no label here"}]))
    elif kind == "null_field":
        path.write_text(lines(GOOD + [{"sentence": None, "label": 1}]))
    elif kind == "label_outside_choices":
        path.write_text(lines(GOOD + [{"sentence": "five stars", "label": 5}]))
    elif kind == "blank_context":
        path.write_text(lines(GOOD + [{"sentence": "   ", "label": 1}]))
    return path


DATA_CASES = {
    "broken_line": "line 3 is not valid JSON",
    "empty": "is empty",
    "folder": "is a folder, not a file",
    "utf16": "is UTF-16 text, not UTF-8",
    "latin1": "is not UTF-8 text (line 3",
    "not_parquet": "is not a Parquet file",
    "not_an_object": "line 3 is a JSON list, not an object",
    "missing_field": "row 2 has no value (missing or null) in 'label'",
    "null_field": "row 2 has no value (missing or null) in 'sentence'",
    "label_outside_choices": "IndexError",
    "blank_context": "gave an empty context for row 2",
}


@pytest.mark.parametrize("kind", DATA_CASES)
def test_bad_data_file(kind: str, tmp_path: Path, capsys):
    path = data_file(tmp_path, kind)
    message = said(capsys, run(["show", "sst2", "--data-files", str(path), "-n", "99"]))
    assert DATA_CASES[kind] in message, message
    assert str(path) in message or "row 2" in message


# -- tasks and converter files ------------------------------------------------------------------
CONVERTERS = {
    "does_not_import": ("from decaqa import Task\nimport no_such_module\n", "failed to import"),
    "raises": ('''from decaqa import Task
task = Task(name="bad", dataset="x", questions=["Q?"])
@task.converter
def convert(row):
    raise RuntimeError("boom")
''', "raised RuntimeError: boom on row 0"),
    "wrong_type": ('''from decaqa import Task
task = Task(name="bad", dataset="x", questions=["Q?"])
@task.converter
def convert(row):
    return 42
''', "returned int for row 0"),
}


@pytest.mark.parametrize("kind", CONVERTERS)
def test_bad_converter_file(kind: str, tmp_path: Path, capsys, fresh_registry):
    source, expected = CONVERTERS[kind]
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "bad.py").write_text(source)
    data = tmp_path / "rows.jsonl"
    data.write_text(lines([{"text": "x"}]))
    message = said(capsys, run(["show", "bad", "--tasks-dir", str(tmp_path / "tasks"),
                                "--data-files", str(data)]))
    assert expected in message, message


def tasks_folder(tmp_path: Path, name: str, metric: str) -> Path:
    """``tmp_path/tasks`` holding one converter file: the task ``name`` scored by ``metric``."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / f"{name}.py").write_text(f'''from decaqa import Task
task = Task(name="{name}", dataset="x", questions=["Q?"], metric="{metric}")
@task.converter
def convert(row):
    return {{"context": row["text"], "answer": "a"}}
''')
    return folder


def test_unknown_task_and_metric(tmp_path: Path, capsys, fresh_registry):
    assert "Unknown task 'sst3'; did you mean sst2" in said(capsys, run(["show", "sst3"]))
    tasks_folder(tmp_path, "t", "acuracy")
    preds = tmp_path / "p.jsonl"
    preds.write_text(lines([{"task": "t", "prediction": "a", "answers": ["a"]}]))
    message = said(capsys, run(["score", str(preds), "--tasks-dir", str(tmp_path / "tasks")]))
    assert "Unknown metric 'acuracy'; did you mean accuracy" in message


def test_score_a_predictions_file_that_is_not_there(tmp_path: Path, capsys):
    message = said(capsys, run(["score", str(tmp_path / "p.jsonl")]))
    assert "The predictions file" in message and "p.jsonl does not exist" in message
    message = said(capsys, run(["score", str(tmp_path)]))
    assert "is a folder" in message


def test_compare_with_a_config_that_is_a_folder(tmp_path: Path, capsys):
    message = said(capsys, run(["compare", "--config", str(tmp_path)]))
    assert message.startswith(f"decaqa: Config file {tmp_path} is a folder; give the path of")


# -- run configs --------------------------------------------------------------------------------
def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "extra.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case, expected", [
    ("unknown_key", "does not accept option 'trainer.nosuchkey'"),
    ("wrong_type", 'Parser key "trainer.max_steps": Expected a <class \'int\'>'),
    ("batch_size_0", "batch_size must be at least 1, got 0"),
    ("negative_steps", "`max_steps` must be a non-negative integer"),
    ("not_yaml", "is not valid YAML"),
    ("not_a_mapping", "holds a list, not a mapping"),
    ("missing_config", "does not exist"),
    ("misspelt_task_beams", "model.task_beams names a task decaqa does not know: Unknown task "
                            "'iwlst'; did you mean iwslt"),
])
def test_bad_config(case: str, expected: str, tmp_path: Path, capsys):
    args = ["fit", "--config", str(SMOKE), "--run_dir", str(tmp_path / "run")]
    extra = {"unknown_key": lambda: ["--config", config(tmp_path, "trainer:\n  nosuchkey: 1\n")],
             "wrong_type": lambda: ["--trainer.max_steps", "ten"],
             "batch_size_0": lambda: ["--config",
                                      config(tmp_path, "data:\n  batching: {batch_size: 0}\n")],
             "negative_steps": lambda: ["--trainer.max_steps", "-5"],
             "not_yaml": lambda: ["--config", config(tmp_path, "data: [unclosed\n  : x\n")],
             "not_a_mapping": lambda: ["--config", config(tmp_path, "- a\n- b\n")],
             "missing_config": lambda: ["--config", str(tmp_path / "nope.yaml")],
             "misspelt_task_beams": lambda: ["--model.task_beams", '{"iwlst": 4}']}[case]()
    message = said(capsys, run(args + extra))
    assert expected in message, message
    assert not (tmp_path / "run" / "checkpoints").exists()   # refused before any training


# -- models and checkpoints ---------------------------------------------------------------------
def test_a_model_path_that_is_not_a_model(tmp_path: Path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a model")
    message = said(capsys, run(["ask", "--model", str(tmp_path / "notes"), "--question", "Q?",
                                "--context", "C."]))
    assert "is not a model folder" in message or "is not a seq2seq model" in message, message


def test_a_model_folder_that_asks_to_run_its_own_code(tmp_path: Path, capsys):
    """A config with auto_map names Python in the folder: decaqa never runs it unasked."""
    folder = tmp_path / "remote"
    folder.mkdir()
    marker = tmp_path / "code-ran"
    (folder / "config.json").write_text(json.dumps({
        "model_type": "sneaky", "architectures": ["SneakyModel"],
        "auto_map": {"AutoConfig": "sneaky.SneakyConfig",
                     "AutoModelForSeq2SeqLM": "sneaky.SneakyModel",
                     "AutoTokenizer": ["sneaky.SneakyTokenizer", None]}}))
    (folder / "sneaky.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    message = said(capsys, run(["ask", "--model", str(folder), "--question", "Q?",
                                "--context", "C."]))
    assert "asks to run code of its own" in message and "trust_remote_code=True" in message
    assert not marker.exists()


def test_a_truncated_checkpoint(tmp_path: Path, capsys):
    ckpt = tmp_path / "cut.ckpt"
    ckpt.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    message = said(capsys, run(["ask", "--model", str(ckpt), "--question", "Q?",
                                "--context", "C."]))
    assert "corrupt or truncated" in message, message


def test_an_empty_question_or_context(capsys):
    message = said(capsys, run(["ask", "--model", "nowhere", "--question", "  ",
                                "--context", "C."]))
    assert "Question 0 is empty" in message
    message = said(capsys, run(["ask", "--model", "nowhere", "--question", "Q?",
                                "--context", "\t"]))
    assert "context of question 0 is empty" in message




def test_task_beams_may_name_any_known_task(tmp_path: Path, fresh_registry):
    """A known task outside the run (the quickstart's config reused for a subset of its tasks)
    or one of the run's own tasks folders passes; a name no folder defines does not."""
    from decaqa.errors import ConfigError
    from decaqa.store import check_task_beams

    check_task_beams({"iwslt": 4, "mine": 2}, [str(tasks_folder(tmp_path, "mine", "em"))])
    check_task_beams(None, [])
    with pytest.raises(ConfigError, match="Unknown task 'mine'"):
        check_task_beams({"mine": 2}, [])
