"""The data path up to the model: convert rows to triples, format, tokenize, batch.

Reading the rows is `decaqa.datafiles`' job (hub, local files or the embedded mini decathlon);
every map here is cached in `datasets`' Arrow cache and memory-mapped, so a second run reuses
the work.
Converting is the Task's job; mixing is `sampling`'s. The LightningDataModule ties them
together and hands the model plain tensors plus, for validation, what scoring needs.
"""
from __future__ import annotations

import functools
import json
import math
from typing import Any, Iterable, Sequence

import datasets
import numpy as np
import pyarrow.compute as pc
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from decaqa.example import DEFAULT_FORMAT, clip_ids, format_input
from decaqa.metrics import get_metric
from decaqa.mini_decathlon import TASKS as MINI_TASKS
from decaqa.datafiles import load_rows, resolve_source
from decaqa.sampling import Batching, Mixture, pad
from decaqa.errors import ConfigError, DataError, DecaqaError
from decaqa.tasks import Task, get_task

# -- converting and tokenizing -------------------------------------------------------------
MINI_DECATHLON_TASKS = list(MINI_TASKS)


def convert_split(task: Task, rows: datasets.Dataset,
                  num_proc: int | None = None) -> tuple[datasets.Dataset, int]:
    """Rows -> triples with `Dataset.map` (cached in the Arrow cache, memory-mapped).

    Returns the triples and the number of rows the converter skipped, so nothing vanishes
    unreported.
    """
    def convert_batch(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {k: [] for k in ("id", "task", "context", "question",
                                                "questions", "answers", "meta", "row")}
        keys = list(batch)
        for j, index in enumerate(indices):
            row = {k: batch[k][j] for k in keys}
            for ex in task.convert(row, index):
                out["id"].append(ex.id)
                out["task"].append(ex.task)
                out["context"].append(ex.context)
                out["question"].append(ex.question)
                out["questions"].append(list(ex.questions))
                out["answers"].append(ex.answers)
                out["meta"].append(json.dumps(ex.meta, sort_keys=True))
                out["row"].append(index)
        return out

    triples = rows.map(convert_batch, batched=True, with_indices=True,
                       remove_columns=rows.column_names,
                       new_fingerprint=_fingerprint(rows, "convert", task.name,
                                                    task.file_hash or ""),
                       desc=f"convert {task.name}", num_proc=_procs(num_proc, len(rows)))
    kept = pc.count_distinct(triples.with_format("arrow")["row"]).as_py() if len(triples) else 0
    return triples, len(rows) - kept


QUESTION_MODES = ("canonical", "sample", "paraphrase")


def ask_with(triples: datasets.Dataset, mode: str, seed: int = 0,
             num_proc: int | None = None) -> datasets.Dataset:
    """Set each triple's ``question`` to one of its phrasings (cached by `datasets`).

    ``canonical``: the task's first question (paraphrases held out). ``sample``: a phrasing
    drawn per example, canonical included, seeded (a fixed draw per run, not per epoch).
    ``paraphrase``: the held-out paraphrases in turn (example i gets paraphrase i mod k), so
    every paraphrase is asked equally often. A row with one phrasing (its own question, as
    in SQuAD) keeps it.
    """
    if mode not in QUESTION_MODES:
        raise ConfigError(f"Unknown question mode '{mode}'; use one of {', '.join(QUESTION_MODES)}.")
    if mode == "canonical" or not len(triples):
        return triples

    def pick(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        out = []
        for index, phrasings in zip(indices, batch["questions"]):
            k = len(phrasings)
            if k < 2:
                out.append(phrasings[0])
            elif mode == "sample":
                draw = np.random.default_rng([seed, index]).integers(k)
                out.append(phrasings[int(draw)])
            else:
                out.append(phrasings[1 + index % (k - 1)])
        return {"question": out}

    return triples.map(pick, batched=True, with_indices=True,
                       new_fingerprint=_fingerprint(triples, "ask_with", mode, str(seed)),
                       desc=f"questions: {mode}", num_proc=_procs(num_proc, len(triples)))


def paraphrased(triples: datasets.Dataset) -> int:
    """How many triples have a paraphrase of their question to ask."""
    if not len(triples):
        return 0
    return int(pc.sum(pc.greater(pc.list_value_length(
        triples.with_format("arrow")["questions"]), 1)).as_py() or 0)


def _procs(num_proc: int | None, rows: int) -> int | None:
    """Worker processes for a map: none for small inputs (forking costs more than it saves)."""
    return num_proc if num_proc and num_proc > 1 and rows >= 10_000 else None


def column(ds: datasets.Dataset, name: str) -> np.ndarray:
    """One column as a numpy array, read from Arrow (memory-mapped; no Python list)."""
    return ds.with_format("arrow")[name].to_numpy()


def _fingerprint(rows: datasets.Dataset, *parts: str) -> str:
    """Cache key for a map: the input's fingerprint plus what changes the output."""
    import hashlib

    return hashlib.sha256("|".join([rows._fingerprint, *parts]).encode()).hexdigest()[:32]


# Part of the cache key: a change to what tokenizing writes must not reuse an old cache.
TOKENIZED_COLUMNS = ["input_ids", "labels", "length", "target_length", "source_truncated",
                     "target_truncated"]


def tokenize_split(triples: datasets.Dataset, tokenizer: PreTrainedTokenizerBase,
                   template: str, max_source_tokens: int, max_target_tokens: int,
                   name: str, num_proc: int | None = None) -> datasets.Dataset:
    """Add input_ids, labels, their lengths and truncation flags (cached by `datasets`)."""
    def tok_batch(batch: dict[str, list]) -> dict[str, list]:
        inputs = [format_input(q, c, template) for q, c in zip(batch["question"], batch["context"])]
        src = tokenizer(inputs, add_special_tokens=True)["input_ids"]
        tgt = tokenizer([a[0] for a in batch["answers"]], add_special_tokens=True)["input_ids"]
        return {
            "input_ids": [clip_ids(x, max_source_tokens) for x in src],
            "labels": [clip_ids(y, max_target_tokens) for y in tgt],
            "length": [min(len(x), max_source_tokens) for x in src],
            "target_length": [min(len(y), max_target_tokens) for y in tgt],
            "source_truncated": [len(x) > max_source_tokens for x in src],
            "target_truncated": [len(y) > max_target_tokens for y in tgt],
        }

    key = json.dumps([TOKENIZED_COLUMNS, template, max_source_tokens, max_target_tokens,
                      tokenizer.backend_tokenizer.to_str() if tokenizer.is_fast
                      else tokenizer.name_or_path])
    return triples.map(tok_batch, batched=True,
                       new_fingerprint=_fingerprint(triples, "tokenize", key),
                       desc=f"tokenize {name}", num_proc=_procs(num_proc, len(triples)))


def collate(features: list[dict[str, Any]], pad_id: int = 0) -> dict[str, Any]:
    """Pad a training batch (the answering path's `pad`); labels are padded with -100 so
    padding is not trained on."""
    cpu = torch.device("cpu")
    input_ids, attention_mask = pad([f["input_ids"] for f in features], pad_id, cpu)
    labels, _ = pad([f["labels"] for f in features], pad_id, cpu, fill=-100)
    batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask,
                             "labels": labels}
    for key in ("id", "task", "answers", "meta"):
        if key in features[0]:
            batch[key] = [f[key] for f in features]
    return batch


def answer_cap(longest: int, limit: int) -> int:
    """A task's generation cap: a little over its longest training answer (in tokens, </s>
    included), never over the longest answer training allowed."""
    return min(limit, longest + max(2, longest // 10))


class TaskDataModule(pl.LightningDataModule):
    """Multitask data for one run; every argument is settable from the YAML config.

    Args:
        tasks: task names; default the ten mini-decathlon tasks.
        tasks_dir: extra folders of converter files.
        data_files: per task, local files per split, e.g. ``{squad: {train: [a.jsonl]}}``.
        source: auto (given files, then the mini decathlon, then the hub) | mini | hub.
        eval_tasks: tasks validated but not trained on (default: the training tasks).
        input_format: how question and context become the model input.
        max_source_tokens: longer inputs are truncated; the count per task is reported,
            never silent.
        max_target_tokens: longer answers are truncated (counted and reported too).
        batching: how training batches are drawn (rows, token budget, one task per batch or
            mixed; see `decaqa.sampling.Batching`).
        eval_batch_size: rows per batch when answering at validation.
        eval_max_tokens: token budget (``longest x rows``) per batch when answering.
        max_new_tokens: per task, a generation cap; by default each task's is a little over
            its longest training answer.
        mixture: how tasks are mixed (see `decaqa.sampling.Mixture`).
        steps_per_epoch: batches per epoch; default one pass over the training examples.
        eval_split: the split validated on (validation, test, ...).
        train_questions: ``canonical`` (each task's first question; the paraphrases are held
            out, so evaluating with them tests questions the model never saw) or ``sample``
            (each training example asked with one of its phrasings, drawn with the seed).
        eval_questions: ``canonical`` or ``paraphrase`` (the held-out paraphrases in turn;
            `decaqa evaluate --questions` sets it).
        val_limit: validate on at most this many examples per task (None = all), or per task
            ``{squad: 200, cnn_dailymail: 50}`` (tasks not named: all).
        train_limit: use at most this many training examples per task (None = all).
        num_proc: processes for converting and tokenizing large splits (datasets' map).
        seed: sampling seed.
    """

    def __init__(self, tasks: list[str] | None = None, tasks_dir: list[str] | None = None,
                 data_files: dict[str, dict[str, list[str]]] | None = None,
                 source: str = "auto", eval_tasks: list[str] | None = None,
                 input_format: str = DEFAULT_FORMAT, max_source_tokens: int = 512,
                 max_target_tokens: int = 128, batching: Batching | None = None,
                 eval_batch_size: int = 64, eval_max_tokens: int | None = None,
                 max_new_tokens: dict[str, int] | None = None,
                 mixture: Mixture | None = None, steps_per_epoch: int | None = None,
                 eval_split: str = "validation", val_limit: int | dict[str, int] | None = None,
                 train_limit: int | None = None, num_proc: int | None = None,
                 train_questions: str = "canonical", eval_questions: str = "canonical",
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        datasets.disable_progress_bars()  # the per-task report below says what happened
        self.task_names = list(tasks or MINI_DECATHLON_TASKS)
        self.eval_task_names = list(eval_tasks or self.task_names)
        self.tasks_dir = list(tasks_dir or [])
        self.data_files = dict(data_files or {})
        self.source, self.input_format = source, input_format
        self.max_source_tokens, self.max_target_tokens = max_source_tokens, max_target_tokens
        self.batching = batching or Batching()
        self.eval_batch_size, self.eval_max_tokens = eval_batch_size, eval_max_tokens
        self.caps: dict[str, int] = dict(max_new_tokens or {})
        self.mixture = mixture or Mixture()
        self.steps_per_epoch, self.seed = steps_per_epoch, seed
        self.val_limit, self.train_limit, self.num_workers = val_limit, train_limit, num_workers
        self.num_proc = num_proc
        self.eval_split = eval_split
        for key, value, allowed in (("train_questions", train_questions, ("canonical", "sample")),
                                    ("eval_questions", eval_questions,
                                     ("canonical", "paraphrase"))):
            if value not in allowed:
                raise ConfigError(f"data.{key} is '{value}'; use {' or '.join(allowed)}.")
        self.train_questions, self.eval_questions = train_questions, eval_questions
        if "{question}" not in input_format or "{context}" not in input_format:
            raise DataError(f"input_format '{input_format}' must contain {{question}} and "
                            "{context}.")
        for key, value in (("eval_batch_size", eval_batch_size),
                           ("max_source_tokens", max_source_tokens),
                           ("max_target_tokens", max_target_tokens)):
            if value < 1:
                raise ConfigError(f"data.{key} must be at least 1, got {value}.")
        # Resolve names now: a config naming an unknown task fails before any work.
        self.tasks = {n: get_task(n, self.tasks_dir)
                      for n in dict.fromkeys(self.task_names + self.eval_task_names)}
        for task in self.tasks.values():  # a misspelt metric fails now, not after training
            for metric in task.metrics:
                get_metric(metric)
        unknown = set(self.data_files) - set(self.tasks)
        if unknown:
            raise ConfigError(f"data_files names {', '.join(sorted(unknown))}, which are not "
                              "tasks of this run; add them to tasks or fix the names.")
        if isinstance(val_limit, dict) and set(val_limit) - set(self.tasks):
            raise ConfigError(f"val_limit names {', '.join(sorted(set(val_limit) - set(self.tasks)))}"
                              ", which are not tasks of this run; fix the names.")
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.triples: dict[str, dict[str, datasets.Dataset]] = {}
        self.tokenized: dict[str, dict[str, datasets.Dataset]] = {}
        self.report: dict[str, dict[str, dict[str, int]]] = {}
        self.sampler = None
        self._sampler_state: dict | None = None  # from a checkpoint, for the next sampler

    # -- facts for the rest of the run -----------------------------------------------------
    def task_info(self) -> dict[str, dict[str, Any]]:
        """Per task: metrics, questions, converter hash, data source and generation cap."""
        info = {}
        for name, task in self.tasks.items():
            files = {split: [str(f) for f in (resolve_source(task, split,
                                                              self._files(name, split),
                                                              self.source) or [])]
                     for split in ("train", self.eval_split)}
            info[name] = {"metrics": task.metrics, "question": task.question,
                          "paraphrases": task.questions[1:],
                          "choices": task.choices, "converter_file": str(task.source_file),
                          "converter_sha256": task.file_hash,
                          "data": {s: f or f"hub:{task.source}" for s, f in files.items()},
                          "max_new_tokens": self.caps.get(name),
                          "trained": name in self.task_names}
        return info

    def answering_info(self) -> dict[str, Any]:
        """What answering needs to give the answers validation gives (saved in every
        checkpoint and export): input format, limits, batching and per-task caps."""
        return {"input_format": self.input_format, "max_source_tokens": self.max_source_tokens,
                "eval_batch_size": self.eval_batch_size, "eval_max_tokens": self.eval_max_tokens,
                "tasks": self.task_info()}

    def answering_of(self, name: str) -> dict[str, Any]:
        """How a task's validation rows are answered (it travels with each chunk): its
        metrics, choices, answer cap and the batch limits."""
        task = self.tasks[name]
        return {"task": name, "metrics": task.metrics, "choices": task.choices,
                "max_new_tokens": self.caps.get(name), "max_rows": self.eval_batch_size,
                "max_tokens": self.eval_max_tokens}

    def _files(self, name: str, split: str) -> list[str] | None:
        files = self.data_files.get(name, {}).get(split)
        return [files] if isinstance(files, str) else files

    def _limit(self, name: str, split: str) -> int | None:
        limit = self.train_limit if split == "train" else self.val_limit
        return limit.get(name) if isinstance(limit, dict) else limit

    # -- loading ---------------------------------------------------------------------------
    def load_triples(self, split: str) -> dict[str, datasets.Dataset]:
        """Convert each task's split once (cached); records rows and skipped rows."""
        names = self.task_names if split == "train" else self.eval_task_names
        done = self.triples.setdefault(split, {})
        for name in names:
            if name in done:
                continue
            done[name] = self._load(name, split)
        return {n: self.triples[split][n] for n in names}

    def _load(self, name: str, split: str) -> datasets.Dataset:
        """Load and convert one task's split, apply its limit, and record the counts."""
        rows = load_rows(self.tasks[name], split, self._files(name, split), self.source)
        limit = self._limit(name, split)
        triples, skipped = convert_split(self.tasks[name], rows, self.num_proc)
        if limit is not None and len(triples) > limit:
            triples = triples.select(range(limit))
        mode = self.train_questions if split == "train" else self.eval_questions
        self.report.setdefault(name, {})[split] = {"rows": len(rows), "skipped": skipped,
                                                   "examples": len(triples)}
        if mode != "canonical":
            self.report[name][split][f"questions_{mode}"] = paraphrased(triples)
        return ask_with(triples, mode, self.seed, self.num_proc)

    def drop_unreadable(self, splits: Sequence[str]) -> dict[str, str]:
        """Load each task's ``splits`` and drop the tasks whose data cannot be read.

        Returns ``{task: reason}`` for the dropped ones, so a caller can list them instead of
        stopping at the first (``decaqa evaluate --tasks all`` offline). Once the hub cannot
        be reached, the other hub-only tasks are dropped with the same reason at once rather
        than each waiting for its own network time-out.
        """
        skipped: dict[str, str] = {}
        hub_down: str | None = None
        for name in list(dict.fromkeys(self.eval_task_names + self.task_names)):
            task = self.tasks[name]
            for split in splits:
                on_hub = resolve_source(task, split, self._files(name, split), self.source) is None
                if on_hub and hub_down:
                    skipped[name] = hub_down
                    break
                try:
                    self.triples.setdefault(split, {})[name] = self._load(name, split)
                except DecaqaError as err:
                    skipped[name] = str(err)
                    if on_hub and isinstance(err.__cause__, ConnectionError):
                        hub_down = ("its data is only on the hub, which could not be reached; "
                                    "pass local files with --data-files")
                        skipped[name] = hub_down
                    break
        self.task_names = [n for n in self.task_names if n not in skipped]
        self.eval_task_names = [n for n in self.eval_task_names if n not in skipped]
        for name in skipped:
            self.report.pop(name, None)
            for done in self.triples.values():
                done.pop(name, None)
        return skipped

    def training_texts(self) -> Iterable[str]:
        """Every formatted input and answer of the training split (for tokenizer training),
        read in batches from Arrow."""
        for triples in self.load_triples("train").values():
            for batch in triples.select_columns(["question", "context", "answers"]).iter(1000):
                for q, c, a in zip(batch["question"], batch["context"], batch["answers"]):
                    yield format_input(q, c, self.input_format)
                    yield from a

    def connect(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Hand the data the run's tokenizer (built once by the run: the litgpt order)."""
        self.tokenizer = tokenizer

    def setup(self, stage: str | None = None) -> None:
        if self.tokenizer is None:
            raise ConfigError("The data module has no tokenizer; run it with `decaqa fit` or "
                              "call connect(tokenizer) first.")
        splits = [self.eval_split] if stage in ("validate", "test") else ["train", self.eval_split]
        new = False
        for split in splits:
            done = self.tokenized.setdefault(split, {})
            for name, triples in self.load_triples(split).items():
                if name in done:
                    continue
                new = True
                ds = tokenize_split(triples, self.tokenizer, self.input_format,
                                    self.max_source_tokens, self.max_target_tokens, name,
                                    self.num_proc)
                done[name] = ds
                table = ds.with_format("arrow")
                self.report[name][split].update(
                    source_truncated=int(pc.sum(table["source_truncated"]).as_py() or 0),
                    target_truncated=int(pc.sum(table["target_truncated"]).as_py() or 0))
                if split == "train" and name not in self.caps and len(ds):
                    longest = int(pc.max(table["target_length"]).as_py())
                    self.caps[name] = answer_cap(longest, self.max_target_tokens)
        if new:
            self.print_report()

    def print_report(self) -> None:
        """Say per task what was read, skipped and truncated: nothing vanishes silently."""
        from rich.console import Console

        console = Console(stderr=True)
        for name, splits in self.report.items():
            parts = []
            for split, r in splits.items():
                text = f"{split} {r['examples']} examples from {r['rows']} rows"
                if r.get("skipped"):
                    text += f", {r['skipped']} rows skipped by the converter"
                if r.get("source_truncated"):
                    text += (f", [yellow]{r['source_truncated']} inputs truncated to "
                             f"{self.max_source_tokens} tokens[/yellow]")
                if r.get("questions_paraphrase") is not None:
                    text += f", {r['questions_paraphrase']} asked with a held-out paraphrase"
                if r.get("questions_sample") is not None:
                    text += f", {r['questions_sample']} with phrasings to sample from"
                if r.get("target_truncated"):
                    text += (f", [yellow]{r['target_truncated']} answers truncated to "
                             f"{self.max_target_tokens} tokens[/yellow]")
                parts.append(text)
            console.print(f"[bold]{name}[/bold]: " + "; ".join(parts))

    # -- loaders ---------------------------------------------------------------------------
    def _train_sampler(self, steps: int | None = None, rank: int = 0
                       ) -> tuple[datasets.Dataset, Any]:
        """The concatenated training examples and a fresh batch sampler over them."""
        parts = self.tokenized["train"]
        names = list(parts)
        offsets, start = {}, 0
        for n in names:
            offsets[n], start = start, start + len(parts[n])
        concat = datasets.concatenate_datasets([parts[n] for n in names]).select_columns(
            ["input_ids", "labels", "task"])
        steps = steps or self.steps_per_epoch or math.ceil(start / self.batching.batch_size)
        sampler = self.batching.sampler({n: column(parts[n], "length") for n in names},
                                        {n: column(parts[n], "target_length") for n in names},
                                        offsets, self.mixture, steps, self.seed, rank)
        return concat, sampler

    def train_dataloader(self) -> DataLoader:
        rank = self.trainer.global_rank if self.trainer else 0
        concat, sampler = self._train_sampler(rank=rank)
        if self.trainer is not None:
            sampler.set_epoch(self.trainer.current_epoch)
        if self._sampler_state is not None:  # resumed: go on where the checkpoint was taken
            state = dict(self._sampler_state)
            by_rank = state.pop("seen_by_rank", None)
            if by_rank is not None and rank < len(by_rank):
                state["seen"] = by_rank[rank]
            sampler.load_state_dict(state)
            self._sampler_state = None
        self.sampler = sampler
        # its own generator (as the validation loaders): making an iterator draws a seed,
        # which must not come from (and shift) the global stream that dropout uses, or a
        # resumed run would drift
        return DataLoader(concat, batch_sampler=sampler, collate_fn=self._collate,
                          num_workers=self.num_workers,
                          generator=torch.Generator().manual_seed(self.seed))

    # -- resuming --------------------------------------------------------------------------
    def consumed(self) -> int:
        """Training batches of the current epoch trained on so far (the loader may have
        fetched further)."""
        if self.trainer is None:
            return 0
        return int(self.trainer.fit_loop.epoch_loop.batch_progress.current.processed)

    def realised_mixture(self) -> dict[str, int]:
        """Examples trained on per task so far, on this rank."""
        return self.sampler.seen_through(self.consumed()) if self.sampler is not None else {}

    def state_dict(self) -> dict[str, Any]:
        """The sampler's position, saved in every checkpoint (Lightning calls this on every
        rank; each rank draws its own batches, so each one's counts are kept)."""
        if self.sampler is None:
            return {}
        state = self.sampler.state_dict(self.consumed())
        if self.trainer is not None and self.trainer.world_size > 1:
            names = list(state["seen"])
            mine = torch.tensor([state["seen"][n] for n in names], dtype=torch.long,
                                device=self.trainer.strategy.root_device)
            every = self.trainer.strategy.all_gather(mine).view(-1, len(names)).tolist()
            state["seen_by_rank"] = [dict(zip(names, counts)) for counts in every]
        return {"sampler": state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restored before the training loader is built, so it starts where the checkpoint
        was taken. This, not Lightning's own restore of a stateful loader, carries the
        position: Lightning builds the loader early when `configure_optimizers` reads
        `estimated_stepping_batches` (ours does) and then never restores its state
        (Lightning issue #20550)."""
        self._sampler_state = state.get("sampler")

    def train_batches(self, n: int) -> list[dict[str, Any]]:
        """``n`` collated training batches from a fresh sampler of this run's settings (for
        timing a step; the run's own sampler and its counts are untouched)."""
        concat, sampler = self._train_sampler(steps=n)
        return [self._collate([concat[int(i)] for i in ids]) for ids in sampler]

    def val_dataloader(self) -> list[DataLoader]:
        """One loader per task, longest inputs first, in chunks that the answering path cuts
        into token-budget batches: fit and evaluate answer the same examples alike.

        In a distributed run each rank answers its own share of every task (every example on
        exactly one rank, dealt in turn down the length order so the shares cost alike), and
        every rank gets the same number of chunks, the last ones empty where its share is
        smaller, so no rank waits on another's extra step. Each example carries its position
        in the split: the model gathers the answers and puts them back in that order.
        """
        world = self.trainer.world_size if self.trainer is not None else 1
        rank = self.trainer.global_rank if self.trainer is not None else 0
        chunk = self.eval_batch_size * EVAL_CHUNK
        loaders = []
        for name in self.eval_task_names:
            ds = self.tokenized[self.eval_split][name]
            order = np.argsort(-column(ds, "length"), kind="stable")
            mine = order[rank::world]
            ds = ds.select(mine).select_columns(["input_ids", "id", "task", "question",
                                                 "context", "answers", "meta"])
            ds = ds.add_column("position", mine.tolist())
            chunks = -(-len(order[0::world]) // chunk)  # the largest share's chunk count
            batches = [list(range(i * chunk, min((i + 1) * chunk, len(ds))))
                       for i in range(chunks)]
            answering = self.answering_of(name)
            collate_fn = functools.partial(self._eval_collate, answering=answering)
            loaders.append(DataLoader(ds, batch_sampler=batches, collate_fn=collate_fn,
                                      num_workers=self.num_workers,
                                      generator=torch.Generator().manual_seed(self.seed)))
        return loaders

    def test_dataloader(self) -> list[DataLoader]:
        return self.val_dataloader()

    def _collate(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        return collate(features, self.tokenizer.pad_token_id if self.tokenizer else 0)

    @staticmethod
    def _eval_collate(features: list[dict[str, Any]], answering: dict[str, Any]
                      ) -> dict[str, Any]:
        """Validation chunks: unpadded inputs (the answering path pads each batch to its own
        longest), what scoring needs, and how the task is answered."""
        batch: dict[str, Any] = {"sources": [f["input_ids"] for f in features],
                                 "answering": answering}
        for key in ("id", "task", "question", "context", "answers", "meta", "position"):
            batch[key] = [f[key] for f in features]
        return batch


EVAL_CHUNK = 8  # validation chunks hold this many answering batches
