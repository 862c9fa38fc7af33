"""Mixing rates and the multitask batch sampler.

Rates follow seqio's vocabulary: proportional (rate ~ n), temperature (rate ~ min(n, cap)^(1/T)),
equal, or explicit per-task weights; an eval-only task has rate 0. Round-robin is decaNLP's
schedule: one batch of each task in turn, after an optional jump-start phase that trains only
on some tasks (decaNLP jump-started on SQuAD).

Each batch holds one task (so lengths within a batch are alike and padding is small), or, as
an option, mixes tasks; either way examples are taken in shuffled length buckets and batches
are cut by a row count and a token budget (``longest x rows``, for the source and for the
target: decaNLP's ``train_batch_tokens``). `Batching` holds those settings and builds the
sampler; it is the one replaceable part (``data.batching.class_path`` in a config). Indices
and lengths are numpy arrays, never Python lists of a whole split. Which task comes next is chosen
by *deficit*: the task furthest behind its share of examples seen so far. This realises the
configured rates exactly (not just in expectation), even when token-budget batches hold
different numbers of examples for different tasks. None of the samplers in torch or Lightning
does per-task batches with mixing rates, so this one is written by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch

from decaqa.errors import ConfigError

STRATEGIES = ("proportional", "temperature", "equal", "round_robin")
# batches per length bucket, unless `Batching` says otherwise: larger buckets pad less and
# shuffle less (100: train_throughput's padding 0.043 against 0.053 at 50, docs/performance.md)
BUCKET_BATCHES = 100


@dataclass
class Mixture:
    """How tasks are mixed during training (all fields settable from the YAML config).

    strategy: proportional | temperature | equal | round_robin.
    temperature: T in min(n, cap)^(1/T); T=1 is proportional with a cap, large T tends to equal.
    cap: examples counted per task at most (seqio's ``maximum``); None means no cap.
    weights: explicit per-task weights; they replace the strategy's rate for the named tasks
        (a weight of 0 makes a task evaluation-only).
    jump_start_tasks / jump_start_steps: train only these tasks for the first steps.
    """

    strategy: str = "proportional"
    temperature: float = 2.0
    cap: int | None = None
    weights: dict[str, float] = field(default_factory=dict)
    jump_start_tasks: list[str] = field(default_factory=list)
    jump_start_steps: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"Unknown mixing strategy '{self.strategy}'; use one of "
                              f"{', '.join(STRATEGIES)}.")
        if self.temperature <= 0:
            raise ConfigError(f"Mixing temperature must be positive, got {self.temperature}; "
                              "use 1 for proportional mixing.")

    def rates(self, sizes: Mapping[str, int]) -> dict[str, float]:
        """Normalised mixing rates per task (round_robin reports equal rates per batch)."""
        raw: dict[str, float] = {}
        for name, n in sizes.items():
            n_eff = min(n, self.cap) if self.cap else n
            if self.strategy == "proportional":
                raw[name] = float(n_eff)
            elif self.strategy == "temperature":
                raw[name] = float(n_eff) ** (1.0 / self.temperature)
            else:
                raw[name] = 1.0 if n > 0 else 0.0
            if name in self.weights:
                raw[name] = float(self.weights[name])
        unknown = set(self.weights) - set(sizes)
        if unknown:
            raise ConfigError(f"Mixture weights name {', '.join(sorted(unknown))}, which are "
                              "not training tasks of this run; fix the names under weights.")
        empty = sorted(k for k, v in raw.items() if v > 0 and sizes[k] <= 0)
        if empty:
            raise ConfigError(f"Mixture weights give {', '.join(empty)} a positive rate, but they "
                              "have no training examples; give them data or a weight of 0.")
        total = sum(raw.values())
        if total <= 0:
            raise ConfigError("Every training task has mixing rate 0; give at least one task a "
                              "positive weight.")
        return {k: v / total for k, v in raw.items()}


def by_length(sources: np.ndarray, targets: np.ndarray | None) -> np.ndarray:
    """Order for cutting into batches, stably: by the answer's length class (1, 2-3, 4-7, ...
    tokens: within a factor of two), then the source's length, then the answer's. Sorting by
    the source alone left the answers' lengths to chance, and one long answer pads a whole
    batch: on train_throughput's data 7 of its 8% padding were answers' (qa_srl's long tail
    alone padded its batches 25%)."""
    if targets is None:
        return np.argsort(sources, kind="stable")
    answer_class = np.log2(np.maximum(targets, 1)).astype(np.int64)
    return np.lexsort((targets, sources, answer_class))


def split_budget(order: Sequence[int], lengths: np.ndarray, targets: np.ndarray | None,
                 batch_size: int, max_tokens: int | None) -> list[list[int]]:
    """Cut ``order`` (sorted by length) into batches of at most ``batch_size`` rows whose
    ``longest x rows`` stays within ``max_tokens`` for the source and for the target
    (decaNLP's train_batch_tokens); an example longer than the budget travels alone."""
    out: list[list[int]] = []
    cur: list[int] = []
    src_long = tgt_long = 0
    src = lengths[np.asarray(order, dtype=np.int64)].tolist() if len(order) else []
    tgt = (targets[np.asarray(order, dtype=np.int64)].tolist() if targets is not None
           and len(order) else [0] * len(src))
    for i, s_len, t_len in zip(order, src, tgt):
        s_if, t_if = max(src_long, s_len), max(tgt_long, t_len)
        full = len(cur) >= batch_size or (max_tokens is not None and bool(cur) and (
            s_if * (len(cur) + 1) > max_tokens or t_if * (len(cur) + 1) > max_tokens))
        if full:
            out.append(cur)
            cur, s_if, t_if = [], s_len, t_len
        cur.append(int(i))
        src_long, tgt_long = s_if, t_if
    if cur:
        out.append(cur)
    return out


def pad(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device,
        fill: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to the longest one: (ids, attention mask)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id if fill is None else fill, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.as_tensor(list(r), dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids.to(device), mask.to(device)



class TaskBatches:
    """Endless batches of one task: each pass shuffles the task, sorts buckets of
    ``bucket_batches`` batches by length, cuts them by count and token budget, and shuffles
    the batches of the whole pass, so every example comes once per pass."""

    def __init__(self, indices: Sequence[int], lengths: Sequence[int], batch_size: int,
                 max_tokens: int | None, rng: np.random.Generator,
                 bucket_batches: int = BUCKET_BATCHES,
                 target_lengths: Sequence[int] | None = None):
        self.indices = np.asarray(indices, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.targets = None if target_lengths is None else np.asarray(target_lengths,
                                                                      dtype=np.int64)
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.rng, self.bucket = rng, bucket_batches * batch_size
        self._queue: list[list[int]] = []

    def _refill(self) -> None:
        order = self.rng.permutation(len(self.indices))
        batches: list[list[int]] = []
        for start in range(0, len(order), self.bucket):
            chunk = order[start:start + self.bucket]
            chunk = chunk[by_length(self.lengths[chunk], None if self.targets is None
                                    else self.targets[chunk])]
            batches.extend(split_budget(chunk, self.lengths, self.targets, self.batch_size,
                                        self.max_tokens))
        self._queue = [[int(self.indices[i]) for i in batches[k]]
                       for k in self.rng.permutation(len(batches))]

    def next(self) -> list[int]:
        if not self._queue:
            self._refill()
        return self._queue.pop()


class MixedBatches:
    """Endless batches that mix tasks: each bucket draws ``rate x bucket`` examples of every
    task (from that task's own shuffled passes), sorts them by length and cuts them by the
    token budget, so lengths inside a batch stay close whatever the task."""

    def __init__(self, tasks: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
                 rates: Mapping[str, float], batch_size: int, max_tokens: int | None,
                 rng: np.random.Generator, bucket_batches: int = BUCKET_BATCHES):
        self.tasks = {n: t for n, t in tasks.items() if rates.get(n, 0) > 0}
        self.rates, self.batch_size, self.max_tokens = rates, batch_size, max_tokens
        self.rng, self.bucket = rng, bucket_batches * batch_size
        self._pos = {n: 0 for n in self.tasks}
        self._perm = {n: self.rng.permutation(len(t[0])) for n, t in self.tasks.items()}
        self._drawn = {n: 0 for n in self.tasks}
        self._queue: list[list[int]] = []

    def _take(self, name: str, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            perm, pos = self._perm[name], self._pos[name]
            step = min(k - len(out), len(perm) - pos)
            out.extend(perm[pos:pos + step].tolist())
            self._pos[name] = pos + step
            if self._pos[name] == len(perm):  # a pass is over: a fresh shuffle of the task
                self._perm[name], self._pos[name] = self.rng.permutation(len(perm)), 0
        return out

    def _refill(self) -> None:
        total = sum(self._drawn.values()) + self.bucket
        want = {n: max(0, round(self.rates[n] * total) - self._drawn[n]) for n in self.tasks}
        index, src, tgt = [], [], []
        for name, k in want.items():
            indices, lengths, targets = self.tasks[name]
            local = np.asarray(self._take(name, k), dtype=np.int64)
            self._drawn[name] += k
            index.append(indices[local])
            src.append(lengths[local])
            tgt.append(targets[local] if targets is not None else np.zeros_like(local))
        index_a, src_a, tgt_a = map(np.concatenate, (index, src, tgt))
        order = by_length(src_a, tgt_a)
        batches = split_budget(order, src_a, tgt_a, self.batch_size, self.max_tokens)
        self._queue = [[int(index_a[i]) for i in batches[k]]
                       for k in self.rng.permutation(len(batches))]

    def next(self) -> list[int]:
        while not self._queue:
            self._refill()
        return self._queue.pop()


class MultitaskBatchSampler:
    """Yields ``steps`` batches of global indices into the concatenation of task datasets.

    ``task_lengths[name]`` holds the token length of each example of that task, in the order
    the task's examples appear in the concatenated dataset starting at ``offsets[name]``;
    ``target_lengths`` (optional) the answers' lengths, so the token budget holds for both.
    ``mixed``: batches mix tasks (length-sorted across tasks) instead of one task per batch.
    Each rank of a distributed run draws its own stream (seeded by rank), so no sharding of a
    fixed list is needed.
    """

    def __init__(self, task_lengths: Mapping[str, Sequence[int]], offsets: Mapping[str, int],
                 mixture: Mixture, steps: int, batch_size: int = 32,
                 max_tokens: int | None = None, seed: int = 0, rank: int = 0,
                 target_lengths: Mapping[str, Sequence[int]] | None = None,
                 mixed: bool = False, bucket_batches: int = BUCKET_BATCHES):
        self.task_lengths = {k: np.asarray(v, dtype=np.int64) for k, v in task_lengths.items()}
        self.target_lengths = ({k: np.asarray(v, dtype=np.int64)
                                for k, v in target_lengths.items()} if target_lengths else None)
        self.offsets = dict(offsets)
        self.mixture, self.steps = mixture, steps
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.mixed, self.bucket_batches = mixed, bucket_batches
        self.seed, self.rank, self.epoch = seed, rank, 0
        self.rates = mixture.rates({k: len(v) for k, v in self.task_lengths.items()})
        missing = {n for n in mixture.jump_start_tasks if not len(task_lengths.get(n, ()))}
        if missing:
            raise ConfigError(f"jump_start_tasks names {', '.join(sorted(missing))}, which are "
                              "not training tasks of this run (or have no examples).")
        starts = sorted((o, n) for n, o in self.offsets.items() if n in self.task_lengths)
        self._starts = np.array([o for o, _ in starts], dtype=np.int64)
        self._names = [n for _, n in starts]
        # the realised mixture: examples per task of the epochs before this one, and of each
        # batch of this epoch (so the count at any batch, not only the last handed out, is
        # known: the loader fetches ahead of training)
        self._before = np.zeros(len(self._names), dtype=np.int64)
        self._epoch_counts = np.zeros((steps, len(self._names)), dtype=np.int64)
        self._yielded = 0
        self._resume: tuple[int, int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.steps

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.rank, self.epoch])

    def _targets(self, name: str) -> np.ndarray | None:
        return None if self.target_lengths is None else self.target_lengths[name]

    def _stream(self, name: str, rng: np.random.Generator) -> TaskBatches:
        lengths = self.task_lengths[name]
        start = self.offsets[name]
        return TaskBatches(np.arange(start, start + len(lengths)), lengths, self.batch_size,
                           self.max_tokens, rng, self.bucket_batches, self._targets(name))

    def task_of(self, index: int) -> str:
        """The task an index of the concatenated dataset belongs to."""
        return self._names[int(np.searchsorted(self._starts, index, side="right")) - 1]

    # -- the realised mixture and resuming ------------------------------------------------------
    def _named(self, counts: np.ndarray) -> dict[str, int]:
        return {n: int(c) for n, c in zip(self._names, counts) if c}

    @property
    def seen_total(self) -> dict[str, int]:
        """Examples handed out per task, all epochs (a loader may fetch one batch ahead)."""
        return self._named(self._before + self._epoch_counts[:self._yielded].sum(0))

    def seen_through(self, consumed: int) -> dict[str, int]:
        """Examples per task once the first ``consumed`` batches of this epoch are trained on:
        the realised mixture of a run at that point, whatever the loader fetched ahead."""
        return self._named(self._before + self._epoch_counts[:consumed].sum(0))

    def state_dict(self, consumed: int) -> dict:
        """What a resume needs, with ``consumed`` batches of this epoch trained on: the epoch,
        the position in it, and the examples seen so far (the batches themselves follow from
        the seed, the rank and the epoch, so no random state needs saving)."""
        seen = self._before + self._epoch_counts[:consumed].sum(0)
        return {"epoch": int(self.epoch), "consumed": int(consumed),
                "seen": {n: int(c) for n, c in zip(self._names, seen)}}

    def load_state_dict(self, state: Mapping) -> None:
        """Continue where ``state`` was taken: the next pass over that epoch skips the batches
        already trained on (drawn again, not yielded, so the stream is the same); a later
        epoch starts afresh."""
        seen = np.array([int(state["seen"].get(n, 0)) for n in self._names], dtype=np.int64)
        self.epoch = int(state["epoch"])
        self._resume = (self.epoch, int(state["consumed"]), seen)

    def __iter__(self) -> Iterator[list[int]]:
        skip = 0
        if self._resume is not None:
            epoch, consumed, seen = self._resume
            self._resume = None
            skip = consumed if epoch == self.epoch else 0
            self._before = seen  # the replayed batches are taken back out below
        else:  # everything handed out in the last pass was trained on: fold it in
            self._before = self._before + self._epoch_counts[:self._yielded].sum(0)
        self._epoch_counts[:] = 0
        self._yielded = 0
        for step, batch in enumerate(self._batches()):
            index = np.searchsorted(self._starts, np.asarray(batch), side="right") - 1
            self._epoch_counts[step] = np.bincount(index, minlength=len(self._names))
            self._yielded = step + 1
            if step < skip:  # trained on before the resume: drawn again, not handed out
                self._before = self._before - self._epoch_counts[step]
                continue
            yield batch

    def _batches(self) -> Iterator[list[int]]:
        """This epoch's batches, from the seed, the rank and the epoch alone."""
        rng = self._rng()
        streams = {name: self._stream(name, rng) for name in self.task_lengths
                   if self.rates[name] > 0 or name in self.mixture.jump_start_tasks}
        mixed = None
        if self.mixed:
            tasks = {n: (np.arange(self.offsets[n], self.offsets[n] + len(ls)), ls,
                         self._targets(n)) for n, ls in self.task_lengths.items()}
            mixed = MixedBatches(tasks, self.rates, self.batch_size, self.max_tokens, rng,
                                 self.bucket_batches)
        seen = {name: 0 for name in streams}
        order = [name for name in streams if self.rates[name] > 0]  # rate 0: jump-start only
        for step in range(self.steps):
            if step == self.mixture.jump_start_steps > 0:
                seen = dict.fromkeys(seen, 0)  # the mixing phase realises its rates afresh
            in_jump_start = step < self.mixture.jump_start_steps and self.mixture.jump_start_tasks
            if mixed is not None and not in_jump_start:
                yield mixed.next()
                continue
            name = self._pick(step, order, seen)
            batch = streams[name].next()
            seen[name] += len(batch)
            yield batch

    def _pick(self, step: int, order: list[str], seen: dict[str, int]) -> str:
        """Next task: jump-start phase, then round-robin or the largest deficit."""
        js = self.mixture.jump_start_tasks
        if step < self.mixture.jump_start_steps and js:
            pool = js
            rates = {n: 1.0 / len(js) for n in js}
        else:
            if self.mixture.strategy == "round_robin":
                return order[(step - self.mixture.jump_start_steps) % len(order)]
            pool, rates = order, self.rates
        total = sum(seen[n] for n in pool) + 1
        return max(pool, key=lambda n: rates[n] * total - seen[n])


class Batching:
    """How training batches are drawn; every argument is settable from YAML (``data.batching``),
    and a subclass of your own replaces the sampler (``class_path: my.Batching``).

    Args:
        batch_size: rows per batch at most.
        max_tokens: token budget per batch, ``longest x rows`` for the source and for the
            target; None: rows alone decide.
        mixed: batches mix tasks (length-sorted across tasks) instead of one task per batch.
        bucket_batches: batches per length bucket (larger: less padding, less randomness).
    """

    def __init__(self, batch_size: int = 32, max_tokens: int | None = None,
                 mixed: bool = False, bucket_batches: int = BUCKET_BATCHES):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}.")
        if max_tokens is not None and max_tokens < 1:
            raise ConfigError(f"max_tokens must be positive (or null for no budget), got "
                              f"{max_tokens}.")
        if bucket_batches < 1:
            raise ConfigError(f"bucket_batches must be at least 1, got {bucket_batches}.")
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.mixed, self.bucket_batches = mixed, bucket_batches

    def sampler(self, task_lengths: Mapping[str, Sequence[int]],
                target_lengths: Mapping[str, Sequence[int]], offsets: Mapping[str, int],
                mixture: Mixture, steps: int, seed: int = 0, rank: int = 0
                ) -> MultitaskBatchSampler:
        return MultitaskBatchSampler(task_lengths, offsets, mixture, steps, self.batch_size,
                                     self.max_tokens, seed, rank, target_lengths,
                                     self.mixed, self.bucket_batches)

    def settings(self) -> dict:
        return {"class": type(self).__name__, "batch_size": self.batch_size,
                "max_tokens": self.max_tokens, "mixed": self.mixed,
                "bucket_batches": self.bucket_batches}
