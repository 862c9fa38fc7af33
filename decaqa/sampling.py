"""Mixing rates and the multitask batch sampler.

Rates follow seqio's vocabulary: proportional (rate ~ n), temperature (rate ~ min(n, cap)^(1/T)),
equal, or explicit per-task weights; an eval-only task has rate 0. Round-robin is decaNLP's
schedule: one batch of each task in turn, after an optional jump-start phase that trains only
on some tasks (decaNLP jump-started on SQuAD).

Each batch holds one task (so lengths within a batch are alike and padding is small), and
examples inside a task are taken in shuffled length buckets. Which task comes next is chosen
by *deficit*: the task furthest behind its share of examples seen so far. This realises the
configured rates exactly (not just in expectation), even when token-budget batches hold
different numbers of examples for different tasks. None of the samplers in torch or Lightning
does per-task batches with mixing rates, so this one is written by hand.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

from decaqa.tasks import TaskError

STRATEGIES = ("proportional", "temperature", "equal", "round_robin")


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
            raise TaskError(f"Unknown mixing strategy '{self.strategy}'; use one of "
                            f"{', '.join(STRATEGIES)}.")
        if self.temperature <= 0:
            raise TaskError(f"Mixing temperature must be positive, got {self.temperature}; "
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
            raise TaskError(f"Mixture weights name {', '.join(sorted(unknown))}, which are "
                            "not training tasks of this run; fix the names under weights.")
        empty = sorted(k for k, v in raw.items() if v > 0 and sizes[k] <= 0)
        if empty:
            raise TaskError(f"Mixture weights give {', '.join(empty)} a positive rate, but they "
                            "have no training examples; give them data or a weight of 0.")
        total = sum(raw.values())
        if total <= 0:
            raise TaskError("Every training task has mixing rate 0; give at least one task a "
                            "positive weight.")
        return {k: v / total for k, v in raw.items()}


class TaskBatches:
    """Endless batches of one task: shuffled, bucketed by length, sized by count or tokens."""

    def __init__(self, indices: Sequence[int], lengths: Sequence[int], batch_size: int,
                 max_tokens: int | None, rng: random.Random, bucket_batches: int = 50):
        self.indices, self.lengths = list(indices), list(lengths)
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.rng, self.bucket = rng, bucket_batches * batch_size
        self._queue: list[list[int]] = []

    def _refill(self) -> None:
        order = list(range(len(self.indices)))
        self.rng.shuffle(order)
        batches: list[list[int]] = []
        for start in range(0, len(order), self.bucket):
            chunk = sorted(order[start:start + self.bucket], key=lambda i: self.lengths[i])
            batches.extend(self._split(chunk))
        self.rng.shuffle(batches)
        self._queue = batches

    def _split(self, chunk: list[int]) -> list[list[int]]:
        out, cur, longest = [], [], 0
        for i in chunk:
            longest_if = max(longest, self.lengths[i])
            full = len(cur) >= self.batch_size or (
                self.max_tokens is not None and cur and longest_if * (len(cur) + 1) > self.max_tokens)
            if full:
                out.append(cur)
                cur, longest_if = [], self.lengths[i]
            cur.append(i)
            longest = longest_if
        if cur:
            out.append(cur)
        return [[self.indices[i] for i in b] for b in out]

    def next(self) -> list[int]:
        if not self._queue:
            self._refill()
        return self._queue.pop()


class MultitaskBatchSampler:
    """Yields ``steps`` batches of global indices into the concatenation of task datasets.

    ``task_lengths[name]`` holds the token length of each example of that task, in the order
    the task's examples appear in the concatenated dataset starting at ``offsets[name]``.
    Each rank of a distributed run draws its own stream (seeded by rank), so no sharding of a
    fixed list is needed.
    """

    def __init__(self, task_lengths: Mapping[str, Sequence[int]], offsets: Mapping[str, int],
                 mixture: Mixture, steps: int, batch_size: int = 32,
                 max_tokens: int | None = None, seed: int = 0, rank: int = 0):
        self.task_lengths, self.offsets = task_lengths, offsets
        self.mixture, self.steps = mixture, steps
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.seed, self.rank, self.epoch = seed, rank, 0
        self.seen_total: dict[str, int] = {}  # examples handed out, all epochs: the realised mix
        self.rates = mixture.rates({k: len(v) for k, v in task_lengths.items()})
        missing = {n for n in mixture.jump_start_tasks if not task_lengths.get(n)}
        if missing:
            raise TaskError(f"jump_start_tasks names {', '.join(sorted(missing))}, which are "
                            "not training tasks of this run (or have no examples).")

    def __len__(self) -> int:
        return self.steps

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(f"{self.seed}-{self.rank}-{self.epoch}")
        streams = {
            name: TaskBatches(range(self.offsets[name], self.offsets[name] + len(lengths)),
                              lengths, self.batch_size, self.max_tokens, rng)
            for name, lengths in self.task_lengths.items()
            if self.rates[name] > 0 or name in self.mixture.jump_start_tasks}
        seen = {name: 0 for name in streams}
        order = [name for name in streams if self.rates[name] > 0]  # rate 0: jump-start only
        for step in range(self.steps):
            if step == self.mixture.jump_start_steps > 0:
                seen = dict.fromkeys(seen, 0)  # the mixing phase realises its rates afresh
            name = self._pick(step, order, seen)
            batch = streams[name].next()
            seen[name] += len(batch)
            self.seen_total[name] = self.seen_total.get(name, 0) + len(batch)
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
