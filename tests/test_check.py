"""`decaqa check`: answers the tokenizer cannot write, degenerate targets, long inputs."""
from __future__ import annotations

import json
from pathlib import Path

from decaqa.cli import run
from decaqa.tokenizer import train_tokenizer

SQL_TASK = '''
from decaqa import Task

task = Task(name="{name}", dataset="user/sql", questions=["What is the query?"])


@task.converter
def convert(row):
    return {{"context": row["text"], "answer": row["sql"]}}
'''


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_an_answer_the_tokenizer_cannot_write_fails(tmp_path, fresh_registry, write_task,
                                                    capsys):
    """Like T5's SentencePiece, which has no '{', '<' or '~': the answer comes back changed."""
    write_task(tmp_path / "tasks", "sql", source=SQL_TASK.format(name="sql"))
    rows = [{"text": f"rows of t{i}", "sql": f"SELECT a FROM t{i} WHERE b = {i}"}
            for i in range(20)]
    rows[3]["sql"] = "SELECT a FROM t WHERE b < 3"
    rows[7]["sql"] = "SELECT {a} FROM t WHERE c ~ x"
    data = write_rows(tmp_path / "sql.jsonl", rows)
    tok = train_tokenizer([f"select a from t{i} where b = {i} rows of" for i in range(50)] * 3)
    tok.save_pretrained(tmp_path / "tok")
    code = run(["check", "sql", "--data-files", str(data), "--tokenizer", str(tmp_path / "tok"),
                "--tasks-dir", str(tmp_path / "tasks"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and not report["ok"]
    assert {a for a, _ in report["not_round_trip"]} >= {"SELECT a FROM t WHERE b < 3",
                                                        "SELECT {a} FROM t WHERE c ~ x"}
    assert {"<", "{", "}", "~"} <= set(report["lost_characters"])
    assert "do not survive the tokenizer" in report["failures"][0]


def test_a_degenerate_target_fails(tmp_path, fresh_registry, write_task, capsys):
    """decaNLP issue #49: a converter that answers 'o' for (almost) every row."""
    write_task(tmp_path / "tasks", "sql", source=SQL_TASK.format(name="sql"))
    rows = [{"text": f"text {i}", "sql": "o"} for i in range(19)] + [{"text": "t", "sql": "x"}]
    data = write_rows(tmp_path / "o.jsonl", rows)
    code = run(["check", "sql", "--data-files", str(data), "--tasks-dir",
                str(tmp_path / "tasks")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL: degenerate target: 'o' is the answer of 19 of 20 rows (95%)" in out
    assert "answers: 2 distinct; most common: 'o' 95.0%" in out


def test_a_healthy_task_passes_and_reports_lengths(capsys):
    code = run(["check", "sst2", "--split", "validation", "-n", "2",
                "--max-source-tokens", "20"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("[sst2 ") == 2                      # two triples rendered
    assert "round trip: every answer decodes back to itself" in out
    assert "input tokens: p50" in out and "(max_source_tokens 20:" in out
    assert "warning:" in out and "would be truncated" in out   # long inputs: said, not fatal
    assert out.rstrip().endswith("ok")
