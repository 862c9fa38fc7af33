"""decaqa's errors: problems a user can fix, each said in one sentence that names the problem
and the fix. `decaqa` prints the sentence after ``decaqa:`` and exits with code 2, never a
traceback (the cause stays chained for a debugger).

Four kinds, so a caller can catch what it can handle, and so raising one needs no import of the
task registry, the data path or the model:

* ``TaskError``: a task, its converter file or its metrics;
* ``DataError``: a data file or row, a prediction file, a question asked;
* ``ConfigError``: a run's settings, a command's options;
* ``CheckpointError``: a model folder, a checkpoint, a tokenizer to load.
"""
from __future__ import annotations

from pathlib import Path


class DecaqaError(ValueError):
    """A problem a user can fix; the message is one sentence naming the thing and the fix."""


class TaskError(DecaqaError):
    """A task, its converter file or its metrics."""


class DataError(DecaqaError):
    """A data file or row, a predictions file, a question asked."""


class ConfigError(DecaqaError):
    """A run's settings or a command's options."""


class CheckpointError(DecaqaError):
    """A model folder, a checkpoint or a tokenizer that cannot be loaded."""


def require_file(path: str | Path, kind: str, fix: str,
                 error: type[DecaqaError] = DecaqaError) -> Path:
    """``path`` as a Path when it is a file; otherwise ``error`` with one sentence,
    ``{kind} {path} does not exist; {fix}`` (or ``is a folder``)."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise error(f"{kind} {path} {what}; {fix}")
    return path


def remote_code_refused(name_or_path: str, err: Exception) -> None:
    """Say in one sentence that a model or tokenizer asked to run its own code and was refused
    (raises), if ``err`` is that refusal; otherwise return."""
    if "trust_remote_code" in str(err):
        raise CheckpointError(
            f"'{name_or_path}' asks to run code of its own (auto_map in its config), which "
            "decaqa does not run unless told to: if you trust it, load it with "
            "decaqa.load(path, trust_remote_code=True) or set model.trust_remote_code: true."
        ) from err
