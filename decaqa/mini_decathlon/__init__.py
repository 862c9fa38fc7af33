"""The mini decathlon: small train/validation files for decaNLP's ten tasks, shipped in the package.

Each ``<task>/<split>.jsonl`` holds rows in the exact schema of the real HuggingFace data set, so
the real converters in ``task_converters/`` read them unchanged. The files are written by
``python -m decaqa.mini_decathlon.generate`` (deterministic; see that module for each task's
design) and are checked in, so no network is needed to try the project.
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TASKS = ["squad", "iwslt", "cnn_dailymail", "multinli", "sst2", "qa_srl", "qa_zre", "woz",
         "wikisql", "wsc"]
SPLITS = ["train", "validation"]


def path(task: str, split: str) -> Path:
    """The shipped file of ``task``'s ``split``."""
    return ROOT / task / f"{split}.jsonl"


__all__ = ["ROOT", "SPLITS", "TASKS", "path"]
