"""Task specs, the task registry, and discovery of converter files.

A task is one file in a tasks folder that defines a module-level ``Task`` and registers a
converter with ``@task.converter``. Discovery scans folders (the built-in ``task_converters/``,
then ``--tasks-dir`` folders and ``$DECAQA_TASKS_DIRS``) instead of relying on import side
effects, so adding a task never means editing the code base.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from decaqa.errors import DataError, DecaqaError, TaskError
from decaqa.example import QAExample

TASKS_DIRS_ENV = "DECAQA_TASKS_DIRS"
SLOT = re.compile(r"\{[A-Za-z_]\w*\}")  # a question's per-row slot, such as {hypothesis}
MINI_DECATHLON = Path(__file__).parent / "mini_decathlon"

Row = Mapping[str, Any]
ConverterOutput = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
Converter = Callable[[Row], ConverterOutput]


@dataclass
class Task:
    """Everything decaqa needs to know about one task; a converter author reads only this.

    dataset: what ``datasets.load_dataset`` accepts: a hub name, or ``(name, config)``.
    questions: the first is canonical; the rest are paraphrases that keep its meaning, held out
        of training by default and asked by ``decaqa evaluate --questions paraphrase`` to see
        whether the model follows questions it never saw. A question may hold ``{slots}``
        that the converter fills per row by returning ``fields={...}`` (MultiNLI's
        hypothesis); a converter that returns ``question`` overrides them row by row.
    choices: the closed answer set of a classification task, if any.
    metric: one metric name or a list; the first is the task's headline (decaScore) metric.
    splits: decaqa split name -> the source's split name (e.g. validation -> validation_matched).
    revision: hub revision, e.g. ``refs/convert/parquet`` for a script data set's parquet copy.
    data_files: local files to read instead of the hub, ``{split: path or [paths]}``.
    note: shown by ``decaqa tasks``; say here when the hub has no loadable copy.
    """

    name: str
    dataset: str | tuple[str, str | None]
    questions: list[str] = field(default_factory=list)
    choices: list[str] | None = None
    metric: str | list[str] = "em"
    splits: dict[str, str] = field(default_factory=dict)
    revision: str | None = None
    data_files: dict[str, str | list[str]] | None = None
    description: str = ""
    note: str = ""
    convert_row: Converter | None = field(default=None, repr=False)
    source_file: Path | None = field(default=None, repr=False)

    # -- declaring -------------------------------------------------------------------------
    def converter(self, fn: Converter) -> Converter:
        """Decorator that registers ``fn(row) -> {"context", "answer", ["question" | "fields",
        "id", "meta"]}``.

        The converter may return a list of such dicts (one dialogue row -> one triple per turn)
        or ``None``/``[]`` to skip a row; skipped rows are counted, never silently dropped.
        """
        self.convert_row = fn
        return fn

    # -- reading ---------------------------------------------------------------------------
    @property
    def question(self) -> str | None:
        """The canonical question, or None when every row brings its own."""
        return self.questions[0] if self.questions else None

    @property
    def metrics(self) -> list[str]:
        return [self.metric] if isinstance(self.metric, str) else list(self.metric)

    @property
    def hub_name(self) -> str:
        return self.dataset if isinstance(self.dataset, str) else self.dataset[0]

    @property
    def hub_config(self) -> str | None:
        return None if isinstance(self.dataset, str) else self.dataset[1]

    @property
    def source(self) -> str:
        """Human-readable data source, as ``decaqa tasks`` shows it."""
        text = self.hub_name + (f" ({self.hub_config})" if self.hub_config else "")
        return text + (f" @ {self.revision}" if self.revision else "")

    def source_split(self, split: str) -> str:
        return self.splits.get(split, split)

    @cached_property
    def file_hash(self) -> str | None:
        """sha256 of the converter file, recorded beside every figure for reproducibility."""
        if self.source_file is None:
            return None
        return hashlib.sha256(Path(self.source_file).read_bytes()).hexdigest()[:16]

    def mini_decathlon_files(self, split: str) -> Path | None:
        """The embedded mini-decathlon file for ``split``, when this task has one."""
        from decaqa.mini_decathlon import path

        file = path(self.name, split)
        return file if file.exists() else None

    # -- converting ------------------------------------------------------------------------
    def convert(self, row: Row, index: int = 0) -> list[QAExample]:
        """Convert one data-set row into zero or more checked triples.

        Errors name the task's file and the row, so a bad row in a million is found at once.
        """
        if self.convert_row is None:
            raise TaskError(f"Task '{self.name}' ({self._where()}) has no converter: decorate a "
                            "function with @task.converter.")
        row_id = _row_id(row, index)
        try:
            out = self.convert_row(row)
        except KeyError as err:
            raise TaskError(
                f"Task '{self.name}': row {row_id} has no column {err.args[0]!r} (columns: "
                f"{', '.join(map(str, row.keys()))}); point the task at data in its schema "
                f"or fix the converter in {self._where()}.") from None
        except DecaqaError:
            raise
        except Exception as err:  # a converter bug: say where, keep the cause chained
            nulls = [str(k) for k, v in row.items() if v is None]
            if nulls:  # most often the row, not the converter: a missing or null value
                raise DataError(
                    f"Task '{self.name}': row {row_id} has no value (missing or null) in "
                    f"{', '.join(map(repr, nulls))}, and the converter in {self._where()} "
                    f"raised {type(err).__name__}: {err}; fill the value or drop the row."
                ) from err
            raise TaskError(f"Task '{self.name}': the converter in {self._where()} raised "
                            f"{type(err).__name__}: {err} on row {row_id}; fix the converter "
                            "or the row.") from err
        if out is None:
            return []
        outs = [out] if isinstance(out, Mapping) else out
        if not isinstance(outs, (list, tuple)):
            raise TaskError(f"Task '{self.name}': the converter in {self._where()} returned "
                            f"{type(out).__name__} for row {row_id}; return a dict with "
                            "'context' and 'answer' (or a list of such dicts).")
        return [self._example(o, row_id, i, len(outs)) for i, o in enumerate(outs)]

    def _example(self, out: Any, row_id: str, i: int, n: int) -> QAExample:
        """Check one converter output and turn it into a QAExample."""
        where = f"Task '{self.name}': the converter in {self._where()}"
        if not isinstance(out, Mapping):
            raise TaskError(f"{where} returned {type(out).__name__} for row {row_id}; return a "
                            "dict with 'context' and 'answer'.")
        missing = [k for k in ("context", "answer") if k not in out]
        if missing:
            raise TaskError(f"{where} returned no {' or '.join(map(repr, missing))} for row "
                            f"{row_id}; every triple needs a context and an answer.")
        context, answer = out["context"], out["answer"]
        questions = ((out["question"],) if "question" in out
                     else self._phrasings(out.get("fields"), where, row_id))
        question = questions[0] if questions else None
        if not isinstance(context, str) or not context.strip():
            raise TaskError(f"{where} gave an empty context for row {row_id}; every example "
                            "needs text to read (skip the row by returning None).")
        if not isinstance(question, str) or not question.strip():
            raise TaskError(f"{where} gave no question for row {row_id}; return 'question' or "
                            "declare questions=[...] on the Task.")
        if isinstance(answer, str):
            pass
        elif (isinstance(answer, (list, tuple)) and answer
              and all(isinstance(a, str) for a in answer)):
            answer = list(answer)
        else:
            raise TaskError(f"{where} gave answer {answer!r} for row {row_id}; an answer is a "
                            "string or a non-empty list of strings.")
        ex_id = str(out.get("id", row_id if n == 1 else f"{row_id}-{i}"))
        meta = dict(out.get("meta", {}))
        return QAExample(context=context, question=question, answer=answer, task=self.name,
                         id=ex_id, choices=tuple(self.choices) if self.choices else None,
                         meta=meta, questions=questions)

    def _phrasings(self, fields: Any, where: str, row_id: str) -> tuple[str, ...]:
        """Every phrasing of the task's question for one row, its ``{slots}`` filled."""
        if fields is None:
            slotted = [q for q in self.questions if SLOT.search(q)]
            if slotted:
                raise TaskError(f"{where} gave no fields for row {row_id}, but the question "
                                f"{slotted[0]!r} has slots; return fields={{...}} with their "
                                "values.")
            return tuple(self.questions)
        if not isinstance(fields, Mapping):
            raise TaskError(f"{where} gave fields {fields!r} for row {row_id}; fields is a dict "
                            "of the values the questions' {slots} take.")
        try:
            return tuple(q.format(**fields) for q in self.questions)
        except (KeyError, IndexError) as err:
            raise TaskError(f"{where} gave no field {err.args[0]!r} for row {row_id}, which a "
                            "question of the task asks for; return it in fields={...}.") from None

    def _where(self) -> str:
        return str(self.source_file) if self.source_file else "<no file>"


def _row_id(row: Row, index: int) -> str:
    """A stable id for error messages and examples: the row's own id if it has one."""
    for key in ("id", "idx", "pairID", "dialogue_idx", "sent_id"):
        if key in row and row[key] not in (None, ""):
            return str(row[key])
    return str(index)


# -- discovery ---------------------------------------------------------------------------------
def builtin_tasks_dir() -> Path:
    """The ``task_converters/`` folder shipped beside the ``decaqa`` package."""
    spec = importlib.util.find_spec("task_converters")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "task_converters"


def tasks_dirs(extra: Iterable[str | os.PathLike] | None = None) -> list[Path]:
    """Built-in folder, then folders from the environment, then ``extra`` (``--tasks-dir``)."""
    env = [p for p in os.environ.get(TASKS_DIRS_ENV, "").split(os.pathsep) if p]
    dirs = [builtin_tasks_dir(), *map(Path, env), *map(Path, extra or [])]
    seen: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise TaskError(f"Tasks folder {d} does not exist; pass an existing folder of "
                            f"converter files to --tasks-dir or ${TASKS_DIRS_ENV}.")
        if d.resolve() not in seen:
            seen.append(d.resolve())
    return seen


def load_task_file(path: Path) -> list[Task]:
    """Import one converter file under a private module name and return the Tasks it defines."""
    module_name = f"decaqa_tasks_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise TaskError(f"Converter file {path} failed to import ({type(err).__name__}: "
                        f"{err}); fix the file or remove it from the tasks folder.") from err
    tasks = [v for v in vars(module).values() if isinstance(v, Task)]
    if not tasks:
        raise TaskError(f"Converter file {path} defines no Task; add `task = Task(...)` at "
                        "module level or move the file out of the tasks folder.")
    for task in tasks:
        task.source_file = path
    return tasks


def discover(extra_dirs: Iterable[str | os.PathLike] | None = None) -> dict[str, Task]:
    """Scan every tasks folder and return ``{name: Task}``; duplicate names are an error."""
    registry: dict[str, Task] = {}
    for folder in tasks_dirs(extra_dirs):
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            for task in load_task_file(path):
                if task.name in registry:
                    raise TaskError(f"Task name '{task.name}' is defined twice, in "
                                    f"{registry[task.name].source_file} and {path}; rename one.")
                registry[task.name] = task
    return registry


_CACHE: dict[tuple[str, ...], dict[str, Task]] = {}


def registry(extra_dirs: Iterable[str | os.PathLike] | None = None) -> dict[str, Task]:
    """Cached ``discover``: converter files are imported once per set of folders."""
    key = tuple(str(Path(d).resolve()) for d in (extra_dirs or []))
    key += (os.environ.get(TASKS_DIRS_ENV, ""),)
    if key not in _CACHE:
        _CACHE[key] = discover(extra_dirs)
    return _CACHE[key]


def get_task(name: str, extra_dirs: Iterable[str | os.PathLike] | None = None) -> Task:
    """Look a task up by name; an unknown name lists the nearest known ones."""
    tasks = registry(extra_dirs)
    if name in tasks:
        return tasks[name]
    near = difflib.get_close_matches(name, list(tasks), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(near)}?" if near else "run `decaqa tasks` to list them."
    raise TaskError(f"Unknown task '{name}'; {hint}")


def iter_examples(task: Task, rows: Iterable[Row], counts: dict[str, int] | None = None
                  ) -> Iterator[QAExample]:
    """Convert rows lazily; ``counts`` gets ``rows`` and ``skipped`` so nothing vanishes."""
    for index, row in enumerate(rows):
        examples = task.convert(row, index)
        if counts is not None:
            counts["rows"] = counts.get("rows", 0) + 1
            counts["skipped"] = counts.get("skipped", 0) + (not examples)
        yield from examples
