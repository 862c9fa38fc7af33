"""The `decaqa` command (decaqa.cli): `tasks` and `show`, in-process (fast) plus one run of the
installed console script; `show` over every real HF-schema sample and the mini decathlon;
`ask` prints the answer alone; the user errors end in exit code 2 and one sentence, never a
traceback."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import decaqa
from decaqa.cli import run
from decaqa.mini_decathlon import read_rows
from decaqa.tasks import get_task, iter_examples

DECANLP = ["squad", "iwslt", "cnn_dailymail", "multinli", "sst2", "qa_srl", "qa_zre", "woz",
           "wikisql", "wsc"]
GLUE = ["mrpc", "rte", "cola", "qnli", "qqp", "stsb"]
# decaNLP's own fixed questions (decaNLP text/torchtext/datasets/generic.py), word for word.
DECANLP_QUESTIONS = {
    "sst2": "Is this review negative or positive?",
    "cnn_dailymail": "What is the summary?",
    "iwslt": "Translate from English to German",
    "woz": "What is the change in state?",
    "wikisql": "What is the translation from English to SQL?",
}
# ../shared/data/real folder -> task (xsum and wmt16 have no task)
REAL_FOLDERS = {
    "squad": "squad", "glue__sst2": "sst2", "glue__mrpc": "mrpc", "glue__rte": "rte",
    "glue__cola": "cola", "multi_nli": "multinli", "cnn_dailymail": "cnn_dailymail",
    "iwslt2017__iwslt2017-en-de": "iwslt", "woz_dialogue": "woz", "winograd_wsc": "wsc",
    "qa_srl": "qa_srl",
}
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
NO_TASK = {"xsum", "wmt16__ro-en"}
KEYS = {"id", "task", "context", "question", "answer"}


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- decaqa tasks -------------------------------------------------------------------------------
def test_console_script_lists_tasks():
    exe = shutil.which("decaqa") or pytest.fail("the `decaqa` console script is not installed")
    proc = subprocess.run([exe, "tasks"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name in DECANLP + GLUE:
        assert any(line.split()[:1] == [name] for line in lines), f"{name} not listed"
    for name, question in DECANLP_QUESTIONS.items():
        (line,) = [line for line in lines if line.split()[:1] == [name]]
        assert line.rstrip().endswith(question), line
    assert "Traceback" not in proc.stderr


def test_tasks_lists_every_task_with_question(capsys):
    code, out, err = cli(capsys, "tasks")
    assert code == 0 and not err
    rows = {line.split()[0]: line for line in out.splitlines()
            if line.strip() and not line.startswith(" ")}
    assert set(DECANLP + GLUE) <= set(rows)
    for name, question in DECANLP_QUESTIONS.items():
        assert rows[name].rstrip().endswith(question)
    assert "(question comes from each row)" in rows["squad"]       # per-row questions say so
    assert "nyu-mll/glue (sst2)" in rows["sst2"] and "em" in rows["sst2"]
    n_tasks = int(out.strip().splitlines()[-1].split()[0])
    assert n_tasks >= len(DECANLP + GLUE) + 1


def test_tasks_json_parses(capsys):
    code, out, _ = cli(capsys, "tasks", "--json")
    assert code == 0
    tasks = {t["name"]: t for t in json_lines(out)}
    assert set(DECANLP + GLUE + ["squad_v2"]) <= set(tasks)
    for name, question in DECANLP_QUESTIONS.items():
        assert tasks[name]["question"] == question
    sst2 = tasks["sst2"]
    assert sst2["choices"] == ["negative", "positive"] and sst2["metrics"] == ["em"]
    assert sst2["file"].endswith("sst2.py") and isinstance(sst2["mini_decathlon"], bool)
    assert tasks["squad"]["question"] is None
    assert tasks["stsb"]["metrics"] == ["pearson", "spearman"]


def test_tasks_with_tasks_dir_lists_user_task(capsys, tmp_path, fresh_registry, write_task):
    write_task(tmp_path, "parity")
    code, out, _ = cli(capsys, "tasks", "--json", "--tasks-dir", str(tmp_path))
    assert code == 0
    tasks = {t["name"]: t for t in json_lines(out)}
    assert tasks["parity"]["question"] == "Is the number even or odd?"
    assert tasks["parity"]["file"] == str(tmp_path / "parity.py")


# -- decaqa show over the real samples ----------------------------------------------------------
def real_sample(folder: str):
    """The sample file of a real folder: validation first, else whatever split it has."""
    path = REAL_DATA / folder
    if not path.is_dir():
        pytest.skip(f"no real sample folder {path}")
    files = sorted(path.glob("*.jsonl"), key=lambda p: (not p.stem.startswith("validation"),
                                                        p.name))
    if not files:
        pytest.skip(f"no .jsonl in {path}")
    return files[0]


def test_real_folders_all_mapped():
    """Every real sample folder is either mapped to a task here or known to have none."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"no real samples at {REAL_DATA}")
    folders = {p.name for p in REAL_DATA.iterdir() if p.is_dir()}
    assert folders - set(REAL_FOLDERS) - NO_TASK == set()


@pytest.mark.parametrize("folder, name", sorted(REAL_FOLDERS.items()))
def test_show_real_sample(capsys, folder, name):
    sample = real_sample(folder)
    code, out, err = cli(capsys, "show", name, "--data-files", str(sample), "-n", "3", "--json")
    assert code == 0, err
    examples = json_lines(out)
    assert len(examples) == 3, out
    for ex in examples:
        assert KEYS <= set(ex), ex
        assert ex["task"] == name
        assert ex["context"].strip() and ex["question"].strip()
        answers = [ex["answer"]] if isinstance(ex["answer"], str) else ex["answer"]
        assert answers and all(isinstance(a, str) for a in answers)
        if ex.get("choices"):
            assert set(answers) <= set(ex["choices"])
    assert len({ex["id"] for ex in examples}) == 3
    task = get_task(name)
    assert all(ex["question"] == ex["questions"][0] for ex in examples)  # canonical first
    if task.question is not None and name != "woz":
        assert all(ex["questions"] == [q.format(**_slots(ex, task)) for q in task.questions]
                   for ex in examples)


def _slots(example, task):
    """The slot values a rendered canonical question holds (none for most tasks)."""
    import re
    from decaqa.tasks import SLOT

    names = SLOT.findall(task.question)
    if not names:
        return {}
    pattern = re.escape(task.question)
    for slot in names:
        pattern = pattern.replace(re.escape(slot), f"(?P<{slot[1:-1]}>.*?)", 1)
    return re.fullmatch(pattern, example["question"]).groupdict()


def test_show_plain_text(capsys):
    sample = real_sample("glue__sst2")
    code, out, _ = cli(capsys, "show", "sst2", "--data-files", str(sample), "-n", "2")
    assert code == 0
    assert out.count("[sst2 ") == 2
    assert out.count("question: Is this review negative or positive?") == 2
    assert "context:" in out and "answer:" in out


# -- decaqa show over the mini decathlon --------------------------------------------------------
@pytest.mark.parametrize("name", DECANLP)
def test_show_reads_mini_decathlon(capsys, name):
    code, out, err = cli(capsys, "show", name, "-n", "3", "--json")
    assert code == 0, err
    shown = json_lines(out)
    assert len(shown) == 3
    # exactly the first triples of the embedded file, converted by the real converter
    rows = read_rows(name, "validation")
    expected = []
    for ex in iter_examples(get_task(name), rows):
        expected.append(ex.to_dict())
        if len(expected) == 3:
            break
    fields = ["id", "task", "context", "question", "answer"]
    assert [[ex[k] for k in fields] for ex in shown] == [[ex[k] for k in fields]
                                                          for ex in expected]
    assert all(KEYS <= set(ex) and ex["task"] == name for ex in shown)


# -- user errors: exit 2, one sentence, no traceback -------------------------------------------
def test_show_unknown_task_suggests_near_name(capsys):
    code, out, err = cli(capsys, "show", "sstx")
    assert code == 2
    assert not out
    assert "did you mean sst2" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_show_missing_data_file_names_it(capsys, tmp_path):
    missing = tmp_path / "missing.jsonl"
    code, out, err = cli(capsys, "show", "squad", "--data-files", str(missing))
    assert code == 2
    assert not out
    line = err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert str(missing) in line and line.endswith(".")
    assert line.count(". ") == 0                                    # one sentence


def test_show_bad_file_kind_is_one_sentence(capsys, tmp_path):
    bad = tmp_path / "rows.xml"
    bad.write_text("<rows/>")
    code, _, err = cli(capsys, "show", "squad", "--data-files", str(bad))
    assert code == 2 and str(bad) in err and len(err.strip().splitlines()) == 1


def test_show_rows_in_wrong_schema_names_column(capsys, tmp_path):
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"idx": 5, "label": 1, "text": "no sentence column"}) + "\n")
    code, _, err = cli(capsys, "show", "sst2", "--data-files", str(wrong))
    assert code == 2
    assert "row 5" in err and "'sentence'" in err and "Traceback" not in err


def test_show_reports_skipped_rows(capsys, tmp_path):
    rows = tmp_path / "sst2.jsonl"
    rows.write_text("".join(json.dumps({"idx": i, "sentence": f"s{i}", "label": lab}) + "\n"
                            for i, lab in enumerate([-1, 1, -1, 0])))
    code, out, err = cli(capsys, "show", "sst2", "--data-files", str(rows), "--json")
    assert code == 0
    assert [ex["id"] for ex in json_lines(out)] == ["1", "3"]
    assert "2 of the first 4 rows were skipped" in err




def test_ask_command_prints_the_answer_alone(smoke_run: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "decaqa.cli", "ask", "--model",
                          str(smoke_run / "model"), "--question", "Who?", "--context",
                          "Ana Bel lives here."], capture_output=True, text=True, check=True)
    expected = decaqa.load(str(smoke_run / "model")).ask("Who?", "Ana Bel lives here.")
    assert out.stdout == expected + "\n"
