"""Shared test helpers: the real-sample folder, a clean task registry, user task files, the
smoke runs that several modules' tests read (fitted once per session), and the check that a
refused command said one sentence.

The tests mirror the package: ``tests/test_<module>.py`` for each module of ``decaqa``, plus
the suites that cut across modules: the contract test over every converter
(``test_converters``), the bad-input table (``test_bad_input``), property tests
(``test_properties``), the configs (``test_configs``), the notebooks, the benchmarks, and the
slow end-to-end runs (``test_quickstart``, ``test_resume``).
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import decaqa.tasks

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"

# Real HuggingFace-schema samples live beside the repo, in ../shared/data/real (may be absent).
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"

# A complete user task: what a converter author writes into a folder of their own.
USER_TASK = '''\
"""A user task: is the number in the text even or odd?"""
from decaqa import Task

task = Task(
    name="{name}",
    dataset="user/parity",
    questions=["Is the number even or odd?"],
    choices=["even", "odd"],
    metric="em",
)


@task.converter
def convert(row):
    return {{"context": row["text"], "answer": task.choices[row["n"] % 2]}}
'''


def slotted_task() -> decaqa.tasks.Task:
    """A task whose questions have a per-row slot ({h}) and two paraphrases."""
    task = decaqa.tasks.Task(
        name="nli_like", dataset="user/x",
        questions=['Is "{h}" true? yes or no?', 'Does it follow that "{h}"? yes or no?',
                   'Given the text, "{h}": yes or no?'],
        choices=["no", "yes"])

    @task.converter
    def convert(row):
        return {"context": row["text"], "fields": {"h": row["h"]}, "answer": row["label"]}

    return task


@pytest.fixture
def fresh_registry(monkeypatch):
    """No $DECAQA_TASKS_DIRS from the caller's shell and an empty registry cache, before and
    after the test, so tests that change folders or the environment see their own tasks."""
    monkeypatch.delenv(decaqa.tasks.TASKS_DIRS_ENV, raising=False)
    decaqa.tasks._CACHE.clear()
    yield
    decaqa.tasks._CACHE.clear()


@pytest.fixture
def write_task():
    """``write_task(folder, name, source=None, filename=None) -> Path``: write a converter file
    (by default the USER_TASK above, named ``name``) into ``folder``."""
    def write(folder: Path, name: str = "parity", source: str | None = None,
              filename: str | None = None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (filename or f"{name}.py")
        text = USER_TASK.format(name=name) if source is None else textwrap.dedent(source)
        path.write_text(text)
        return path
    return write


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """One smoke fit (10 steps, seconds), shared by every test that reads a trained run."""
    from decaqa.cli import run

    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(run_dir)]) == 0
    return run_dir


@pytest.fixture(scope="session")
def smoke(tmp_path_factory) -> Path:
    """A smoke fit of 20 steps, for the answering tests (a model a little past its start)."""
    from decaqa.cli import run

    run_dir = tmp_path_factory.mktemp("answer") / "smoke"
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(run_dir),
                "--trainer.max_steps", "20", "--trainer.val_check_interval", "20",
                "--data.steps_per_epoch", "20"]) == 0
    return run_dir


@pytest.fixture
def fails(capsys):
    """``fails(argv, *needles) -> message``: the command is refused with exit code 2 and one
    ``decaqa:`` sentence holding every needle, and no traceback."""
    from decaqa.cli import run

    def check(argv: list[str], *needles: str) -> str:
        assert run(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err and err.startswith("decaqa: ")
        for needle in needles:
            assert needle in err, err
        return err
    return check
