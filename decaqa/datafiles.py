"""Data files: which files feed a task's split, reading them with `datasets` (local json,
jsonl, csv, tsv, parquet or text, compressed or not; the hub; the embedded mini decathlon),
and checking them first so that a bad file ends in one sentence naming the file, the line and
the fix (missing, a folder, empty, not UTF-8, UTF-16, a broken JSON line, not Parquet).

Reading and caching are `datasets`' job; the checks are ours, since `datasets` reports a bad
file with a traceback from deep inside pyarrow, or not at all (bad UTF-8).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import datasets

from decaqa.errors import DataError
from decaqa.tasks import Task, iter_examples

LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet",
                  ".tsv": "csv", ".txt": "text"}


COMPRESSED = (".gz", ".bz2", ".xz", ".zst")  # `datasets` opens these as they are


def _suffix(file: str | Path) -> str:
    """The file kind's suffix, looking through a compression suffix (a.jsonl.gz -> .jsonl)."""
    suffixes = [s.lower() for s in Path(file).suffixes]
    if len(suffixes) > 1 and suffixes[-1] in COMPRESSED:
        return suffixes[-2]
    return suffixes[-1] if suffixes else ""


def _builder_for(files: Sequence[str | Path]) -> str:
    """Pick the `datasets` packaged builder from the files' suffix (all files must agree)."""
    kinds = {LOCAL_BUILDERS.get(_suffix(f)) for f in files}
    if None in kinds or len(kinds) != 1:
        raise DataError(f"Cannot read data files {', '.join(map(str, files))}: use one kind of "
                        f"file among {', '.join(sorted(LOCAL_BUILDERS))}.")
    return kinds.pop()  # type: ignore[return-value]


def load_local(files: Sequence[str | Path], split: str = "train") -> datasets.Dataset:
    """Read local json/jsonl/csv/parquet files (cached by `datasets` in its Arrow cache)."""
    for file in map(Path, files):
        if not file.exists():
            raise DataError(f"Data file {file} does not exist; check the path given to "
                            "--data-files or data_files.")
        if file.is_dir():
            raise DataError(f"Data file {file} is a folder, not a file; name the files in it "
                            f"(e.g. {file}/train.jsonl).")
        if _is_empty(file):
            raise DataError(f"Data file {file} is empty; give a file with at least one row.")
    builder = _builder_for(files)
    if builder != "parquet":  # pyarrow reads bad UTF-8 without a word, and fails rows later
        for file in map(Path, files):
            _check_utf8(file)
    kwargs = {"delimiter": "\t"} if all(_suffix(f) == ".tsv" for f in files) else {}
    logger = datasets.utils.logging.get_logger("datasets")
    level = logger.level
    # datasets logs a failed parse at error level (and, for some inputs, the log call itself
    # fails and prints a traceback); the failure is reported below, in one sentence, instead
    logger.setLevel(logging.CRITICAL)
    try:
        return datasets.load_dataset(builder, data_files={split: [str(f) for f in files]},
                                     split=split, **kwargs)
    except Exception as err:  # say which file and line, and how to fix it
        raise DataError(unreadable(files, builder, err)) from err
    finally:
        logger.setLevel(level)


def _open_bytes(file: Path) -> bytes:
    """A data file's bytes, through its compression (a.jsonl.gz)."""
    with _open_stream(file) as f:
        return f.read()


def _check_utf8(file: Path, chunk: int = 1 << 24) -> None:
    """A text data file must be UTF-8: checked in one streaming pass (about 1 GB/s)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    seen = lines = 0
    with _open_stream(file) as f:
        head = f.read(2)
        if head in (b"\xff\xfe", b"\xfe\xff"):
            raise DataError(f"Data file {file} is UTF-16 text, not UTF-8; save it as UTF-8 "
                            "(e.g. iconv -f UTF-16 -t UTF-8).")
        block = head
        while True:
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                at = seen + err.start
                line = lines + block[:err.start].count(b"\n") + 1
                raise DataError(f"Data file {file} is not UTF-8 text (line {line}, byte {at}); "
                                "save it as UTF-8.") from None
            if not block:
                return
            seen, lines = seen + len(block), lines + block.count(b"\n")
            block = f.read(chunk)


def _open_stream(file: Path):
    import bz2
    import gzip
    import lzma

    return {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(
        file.suffix.lower(), open)(file, "rb")


def _is_empty(file: Path, chunk: int = 1 << 16) -> bool:
    """No byte but whitespace: read until the first other byte, not the whole file."""
    try:
        with _open_stream(file) as f:
            while block := f.read(chunk):
                if block.strip():
                    return False
        return True
    except OSError:
        return False  # unreadable compression: the reader below says so


def unreadable(files: Sequence[str | Path], builder: str, err: Exception) -> str:
    """Why `datasets` could not read these files, as one sentence: the file, the line, the fix.

    The checks here run only once reading has failed: a JSON-lines row that is not a JSON
    object, a file that is not Parquet (the UTF-8 check runs before reading)."""
    for file in map(Path, files):
        try:
            raw = _open_bytes(file)
        except OSError as cause:
            return f"Data file {file} cannot be opened ({cause}); check its compression."
        if builder == "parquet":
            if not raw.startswith(b"PAR1"):
                return (f"Data file {file} is not a Parquet file; write it with "
                        "pandas.DataFrame.to_parquet or give it the suffix of its real kind.")
            continue
        text = raw.decode("utf-8", errors="replace")  # checked to be UTF-8 before reading
        if builder == "json":
            problem = _json_problem(text)
            if problem:
                return f"Data file {file} {problem}; fix or remove that line."
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return (f"Data files {', '.join(map(str, files))} could not be read as {builder} "
            f"({type(err).__name__}: {first}); check that each file is what its suffix says.")


def _json_problem(text: str) -> str | None:
    """The first JSON-lines row that is not a JSON object (or the whole file's problem)."""
    stripped = text.lstrip()
    if stripped.startswith("["):  # one JSON array, not lines
        try:
            json.loads(text)
            return None
        except json.JSONDecodeError as err:
            return f"is not valid JSON (line {err.lineno}: {err.msg})"
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            return f"line {n} is not valid JSON ({err.msg})"
        if not isinstance(row, dict):
            return f"line {n} is a JSON {type(row).__name__}, not an object with the task's columns"
    return None


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
        raise DataError(f"Task '{task.name}' has no mini-decathlon '{split}' file; pass "
                        "--data-files or use the hub source.")
    return None


def load_rows(task: Task, split: str = "validation",
              data_files: Sequence[str | Path] | None = None,
              source: str = "auto") -> datasets.Dataset:
    """The raw rows of one task's split, from local files or the hub (see `resolve_source`)."""
    files = resolve_source(task, split, data_files, source)
    if files is not None:
        return load_local(files, split="train")
    # The hub's parquet export of a script data set has no card, so datasets cannot map a
    # config name to its folder there: the config is a data_dir instead.
    parquet_export = task.revision == "refs/convert/parquet"
    config = None if parquet_export else task.hub_config
    data_dir = task.hub_config if parquet_export else None
    try:
        return datasets.load_dataset(task.hub_name, config, data_dir=data_dir,
                                     revision=task.revision, split=task.source_split(split))
    except Exception as err:  # network, missing split or script data set: say what to do
        raise DataError(f"Could not load '{task.source}' split '{task.source_split(split)}' "
                        f"for task '{task.name}' ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else ''}); pass local files in "
                        "its schema with --data-files.") from err


def load_examples(task: Task, split: str, data_files: Sequence[str | Path] | None = None,
                  source: str = "auto", counts: dict[str, int] | None = None):
    """A task's split as triples, converted lazily (``counts``: rows read and skipped): what
    `decaqa show` and `decaqa check` read."""
    datasets.disable_progress_bars()
    return iter_examples(task, load_rows(task, split, data_files, source), counts)
