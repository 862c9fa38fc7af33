"""Loading task data with `datasets`: the hub, local files, or the embedded mini decathlon.

This is the first stage of the data path: rows in, rows out; converting them is the Task's job.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import datasets

from decaqa.tasks import Task, TaskError

LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet",
                  ".tsv": "csv", ".txt": "text"}


def _builder_for(files: Sequence[str | Path]) -> str:
    """Pick the `datasets` packaged builder from the files' suffix (all files must agree)."""
    kinds = {LOCAL_BUILDERS.get(Path(f).suffix.lower()) for f in files}
    if None in kinds or len(kinds) != 1:
        raise TaskError(f"Cannot read data files {', '.join(map(str, files))}: use one kind of "
                        f"file among {', '.join(sorted(LOCAL_BUILDERS))}.")
    return kinds.pop()  # type: ignore[return-value]


def load_local(files: Sequence[str | Path], split: str = "train") -> datasets.Dataset:
    """Read local json/jsonl/csv/parquet files (cached by `datasets` in its Arrow cache)."""
    missing = [str(f) for f in files if not Path(f).exists()]
    if missing:
        raise TaskError(f"Data file {missing[0]} does not exist; check the path given to "
                        "--data-files or data_files.")
    builder = _builder_for(files)
    kwargs = {"delimiter": "\t"} if all(str(f).endswith(".tsv") for f in files) else {}
    return datasets.load_dataset(builder, data_files={split: [str(f) for f in files]},
                                 split=split, **kwargs)


def resolve_source(task: Task, split: str, data_files: Sequence[str | Path] | None = None,
                   source: str = "auto") -> list[Path] | None:
    """Which local files feed ``task``'s ``split``; None means the hub.

    ``source``: "auto" (explicit files, then the task's own data_files, then the mini
    decathlon, then the hub), "mini" (the embedded data only) or "hub".
    """
    if data_files:
        return [Path(f) for f in data_files]
    if source == "hub":
        return None
    if task.data_files and split in task.data_files:
        files = task.data_files[split]
        return [Path(f) for f in ([files] if isinstance(files, (str, Path)) else files)]
    mini = task.mini_decathlon_files(split)
    if mini is not None:
        return [mini]
    if source == "mini":
        raise TaskError(f"Task '{task.name}' has no mini-decathlon '{split}' file; pass "
                        "--data-files or use the hub source.")
    return None


def load_rows(task: Task, split: str = "validation",
              data_files: Sequence[str | Path] | None = None,
              source: str = "auto") -> datasets.Dataset:
    """The raw rows of one task's split, from local files or the hub (see `resolve_source`)."""
    files = resolve_source(task, split, data_files, source)
    if files is not None:
        return load_local(files, split="train")
    try:
        return datasets.load_dataset(task.hub_name, task.hub_config, revision=task.revision,
                                     split=task.source_split(split))
    except Exception as err:  # network, missing split or script data set: say what to do
        raise TaskError(f"Could not load '{task.source}' split '{task.source_split(split)}' "
                        f"for task '{task.name}' ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else ''}); pass local files in "
                        "its schema with --data-files.") from err
