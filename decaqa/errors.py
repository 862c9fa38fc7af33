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
