"""Shared test helpers: the real-sample folder, a clean task registry, user task files."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import decaqa.tasks

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
