"""The mini decathlon: small train/validation files for decaNLP's ten tasks, shipped in the package,
and for five tasks beyond them (`NEW_TASKS`: new to a model trained on the ten, for adding
tasks to it with `decaqa compare`; nothing trains on them unless asked).

Each ``<task>/<split>.jsonl.gz`` holds rows in the exact schema of the real HuggingFace data set,
gzipped JSON lines (`datasets` reads them as they are), so the real converters in
``task_converters/`` read them unchanged. The files are written by
``python -m decaqa.mini_decathlon.generate`` (deterministic; see that module for each task's
design) and are checked in, so no network is needed to try the project. Gzipped, the ten tasks
ship in 1.8 MB instead of 14 MB.
"""
import gzip
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TASKS = ["squad", "iwslt", "cnn_dailymail", "multinli", "sst2", "qa_srl", "qa_zre", "woz",
         "wikisql", "wsc"]
NEW_TASKS = ["rte", "mrpc", "qnli", "squad_v2", "boolq"]
ALL_TASKS = TASKS + NEW_TASKS
SPLITS = ["train", "validation"]


def path(task: str, split: str, root: Path = ROOT) -> Path:
    """The file of ``task``'s ``split`` (the shipped one, or under another ``root``)."""
    return Path(root) / task / f"{split}.jsonl.gz"


def read_rows(task: str, split: str, root: Path = ROOT) -> list[dict]:
    """The rows of one file, as the data sets' rows."""
    with gzip.open(path(task, split, root), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


__all__ = ["ALL_TASKS", "NEW_TASKS", "ROOT", "SPLITS", "TASKS", "path", "read_rows"]
