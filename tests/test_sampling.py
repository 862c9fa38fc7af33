"""Mixing rates (proportional, temperature, equal, explicit weights) and the multitask batch
sampler: realised rates, round-robin, jump-start, token budgets, per-rank streams, index ranges."""
from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from decaqa.sampling import Mixture, MultitaskBatchSampler, TaskBatches, by_length, pad
from decaqa.errors import ConfigError

SIZES = {"a": 1000, "b": 100, "c": 10}


def approx_dict(d: dict[str, float]):
    return pytest.approx(d, rel=1e-12, abs=1e-12)


# -- Mixture.rates -----------------------------------------------------------------------------
def test_proportional_rates():
    assert Mixture("proportional").rates(SIZES) == approx_dict(
        {"a": 1000 / 1110, "b": 100 / 1110, "c": 10 / 1110})


def test_proportional_rates_with_cap():
    assert Mixture("proportional", cap=100).rates(SIZES) == approx_dict(
        {"a": 100 / 210, "b": 100 / 210, "c": 10 / 210})


@pytest.mark.parametrize("temperature, cap", [(2.0, None), (3.0, None), (2.0, 100), (1.0, 50)])
def test_temperature_rates_by_hand(temperature, cap):
    raw = {k: min(n, cap or n) ** (1 / temperature) for k, n in SIZES.items()}
    total = sum(raw.values())
    rates = Mixture("temperature", temperature=temperature, cap=cap).rates(SIZES)
    assert rates == approx_dict({k: v / total for k, v in raw.items()})
    assert sum(rates.values()) == pytest.approx(1.0)


def test_temperature_two_written_out():
    # sqrt(1000) = 31.6228, sqrt(100) = 10, sqrt(10) = 3.1623; total 44.7851
    rates = Mixture("temperature", temperature=2.0).rates(SIZES)
    assert rates["a"] == pytest.approx(0.70610, abs=1e-4)
    assert rates["b"] == pytest.approx(0.22329, abs=1e-4)
    assert rates["c"] == pytest.approx(0.07061, abs=1e-4)


def test_temperature_one_is_proportional_and_large_t_tends_to_equal():
    assert (Mixture("temperature", temperature=1.0).rates(SIZES)
            == approx_dict(Mixture("proportional").rates(SIZES)))
    hot = Mixture("temperature", temperature=1e6).rates(SIZES)
    assert all(r == pytest.approx(1 / 3, abs=1e-4) for r in hot.values())


@pytest.mark.parametrize("strategy", ["equal", "round_robin"])
def test_equal_rates(strategy):
    assert Mixture(strategy).rates(SIZES) == approx_dict({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
    assert Mixture(strategy).rates({"a": 5, "empty": 0}) == {"a": 1.0, "empty": 0.0}


def test_explicit_weights_replace_strategy_rate():
    rates = Mixture("proportional", weights={"c": 890.0}).rates(SIZES)
    assert rates == approx_dict({"a": 1000 / 1990, "b": 100 / 1990, "c": 890 / 1990})
    rates = Mixture("equal", weights={"a": 2, "b": 1, "c": 1}).rates(SIZES)
    assert rates == approx_dict({"a": 0.5, "b": 0.25, "c": 0.25})


def test_weight_zero_makes_task_eval_only():
    rates = Mixture("temperature", temperature=2.0, weights={"a": 0}).rates(SIZES)
    assert rates["a"] == 0.0
    assert rates["b"] == pytest.approx(10 / (10 + 10 ** 0.5))
    assert rates["c"] == pytest.approx(10 ** 0.5 / (10 + 10 ** 0.5))


def test_bad_strategy_is_task_error():
    with pytest.raises(ConfigError, match="Unknown mixing strategy 'temprature'") as err:
        Mixture("temprature")
    assert "temperature" in str(err.value).split(";")[1]       # lists the valid ones


@pytest.mark.parametrize("temperature", [0, -1.5])
def test_bad_temperature_is_task_error(temperature):
    with pytest.raises(ConfigError, match="temperature must be positive"):
        Mixture("temperature", temperature=temperature)


def test_unknown_weight_names_are_task_error():
    with pytest.raises(ConfigError, match="weights name sqaud, sst") as err:
        Mixture(weights={"sst": 1.0, "sqaud": 2.0, "a": 1.0}).rates(SIZES)
    assert "not training tasks" in str(err.value)


def test_all_rates_zero_is_task_error():
    with pytest.raises(ConfigError, match="rate 0"):
        Mixture(weights={"a": 0, "b": 0, "c": 0}).rates(SIZES)


def test_positive_weight_on_empty_task_is_task_error():
    with pytest.raises(ConfigError, match="empty a positive rate"):
        Mixture(weights={"empty": 1.0}).rates({"a": 10, "empty": 0})


# -- the sampler -------------------------------------------------------------------------------
# Sizes are multiples of the 400-example length buckets (50 batches of 8), so without a token
# budget every batch is full and round-robin's equal batches are equal shares of examples too.
TASK_SIZES = {"a": 4000, "b": 1200, "c": 400}
BATCH = 8
STEPS = 2000


def make_lengths(sizes=TASK_SIZES, lo=5, hi=60, seed=1) -> dict[str, list[int]]:
    rng = random.Random(seed)
    return {name: [rng.randint(lo, hi) for _ in range(n)] for name, n in sizes.items()}


def make_offsets(lengths: dict[str, list[int]]) -> dict[str, int]:
    offsets, start = {}, 0
    for name, ls in lengths.items():
        offsets[name], start = start, start + len(ls)
    return offsets


def task_of(index: int, lengths, offsets) -> str:
    for name, start in offsets.items():
        if start <= index < start + len(lengths[name]):
            return name
    raise AssertionError(f"index {index} belongs to no task")


def batch_task(batch: list[int], lengths, offsets) -> str:
    names = {task_of(i, lengths, offsets) for i in batch}
    assert len(names) == 1, f"batch mixes tasks {names}"
    return names.pop()


def sampler_for(mixture: Mixture, steps=STEPS, lengths=None, **kw) -> MultitaskBatchSampler:
    lengths = lengths or make_lengths()
    kw.setdefault("batch_size", BATCH)
    return MultitaskBatchSampler(lengths, make_offsets(lengths), mixture, steps, **kw)


MIXTURES = {
    "proportional": Mixture("proportional"),
    "temperature": Mixture("temperature", temperature=2.0),
    "temperature_cap": Mixture("temperature", temperature=3.0, cap=1000),
    "equal": Mixture("equal"),
    "round_robin": Mixture("round_robin"),
    "weights": Mixture("proportional", weights={"a": 1, "b": 2, "c": 1}),
    "eval_only": Mixture("equal", weights={"b": 0}),
}


@pytest.mark.parametrize("max_tokens", [None, 200])
@pytest.mark.parametrize("key", sorted(MIXTURES))
def test_realised_fractions_match_rates(key, max_tokens):
    mixture = MIXTURES[key]
    sampler = sampler_for(mixture, max_tokens=max_tokens)
    lengths, offsets = sampler.task_lengths, sampler.offsets
    batches = list(sampler)
    assert len(batches) == len(sampler) == STEPS
    from_indices, n_batches = Counter(), Counter()
    for batch in batches:
        name = batch_task(batch, lengths, offsets)
        from_indices[name] += len(batch)
        n_batches[name] += 1
    assert dict(from_indices) == sampler.seen_total             # two counts agree exactly
    if mixture.strategy == "round_robin" and max_tokens:
        # round-robin is equal per *batch*; token budgets make batch sizes differ by task
        assert set(n_batches) == {"a", "b", "c"}
        assert max(n_batches.values()) - min(n_batches.values()) <= 1
        return
    total = sum(from_indices.values())
    expected = mixture.rates({k: len(v) for k, v in lengths.items()})
    for name, rate in expected.items():
        assert abs(from_indices[name] / total - rate) < 0.02, (name, from_indices, expected)
        if rate == 0:
            assert from_indices[name] == 0                       # eval-only: never trained on


def test_seen_total_accumulates_across_epochs():
    sampler = sampler_for(Mixture("equal"), steps=30)
    first = sum(len(b) for b in sampler)
    sampler.set_epoch(1)
    second = sum(len(b) for b in sampler)
    assert sum(sampler.seen_total.values()) == first + second == 2 * 30 * BATCH


def test_round_robin_cycles_tasks_batch_by_batch():
    sampler = sampler_for(Mixture("round_robin"), steps=300)
    names = [batch_task(b, sampler.task_lengths, sampler.offsets) for b in sampler]
    assert names[:3] == ["a", "b", "c"]
    assert names == ["a", "b", "c"] * 100


def test_round_robin_skips_eval_only_tasks():
    sampler = sampler_for(Mixture("round_robin", weights={"b": 0}), steps=10)
    names = [batch_task(b, sampler.task_lengths, sampler.offsets) for b in sampler]
    assert names == ["a", "c"] * 5


@pytest.mark.parametrize("strategy", ["proportional", "round_robin"])
def test_jump_start_then_mixing(strategy):
    n = 60
    mixture = Mixture(strategy, jump_start_tasks=["c"], jump_start_steps=n)
    sampler = sampler_for(mixture, steps=n + 1500)
    names = [batch_task(b, sampler.task_lengths, sampler.offsets) for b in sampler]
    assert set(names[:n]) == {"c"}                               # only the jump-start task
    assert set(names[n:n + 30]) == {"a", "b", "c"}               # then every task mixes
    counts = Counter(names[n:])                                  # at the configured rates
    rates = sampler.rates
    for name in "abc":
        assert abs(counts[name] / len(names[n:]) - rates[name]) < 0.02, (counts, rates)
    if strategy == "round_robin":
        assert names[n:n + 6] == ["a", "b", "c"] * 2


def test_jump_start_over_two_tasks_shares_them_equally():
    mixture = Mixture("proportional", jump_start_tasks=["b", "c"], jump_start_steps=100)
    sampler = sampler_for(mixture, steps=100)
    counts = Counter(batch_task(b, sampler.task_lengths, sampler.offsets) for b in sampler)
    assert counts == {"b": 50, "c": 50}


def test_jump_start_on_eval_only_task():
    mixture = Mixture("equal", weights={"c": 0}, jump_start_tasks=["c"], jump_start_steps=20)
    sampler = sampler_for(mixture, steps=220)
    names = [batch_task(b, sampler.task_lengths, sampler.offsets) for b in sampler]
    assert set(names[:20]) == {"c"} and "c" not in names[20:]
    assert Counter(names[20:]) == {"a": 100, "b": 100}


def test_unknown_jump_start_task_is_task_error():
    with pytest.raises(ConfigError, match="jump_start_tasks names squad"):
        sampler_for(Mixture(jump_start_tasks=["squad"], jump_start_steps=5))


@pytest.mark.parametrize("strategy", ["proportional", "temperature", "round_robin"])
def test_token_budget_batches(strategy):
    max_tokens = 256
    lengths = make_lengths(lo=1, hi=120, seed=3)
    lengths["c"][:5] = [300, 400, 257, 999, 256]                 # longer than the budget alone
    sampler = sampler_for(Mixture(strategy), steps=1500, lengths=lengths,
                          max_tokens=max_tokens, batch_size=32)
    flat = {i: ln for name, ls in lengths.items()
            for i, ln in zip(range(sampler.offsets[name], sampler.offsets[name] + len(ls)), ls)}
    sizes, singles_over = Counter(), 0
    for batch in sampler:
        batch_task(batch, lengths, sampler.offsets)              # one task per batch
        longest = max(flat[i] for i in batch)
        assert 1 <= len(batch) <= 32
        if len(batch) > 1:
            assert longest * len(batch) <= max_tokens, (batch, [flat[i] for i in batch])
        elif longest > max_tokens:
            singles_over += 1
        sizes[len(batch)] += 1
    assert singles_over > 0                                      # over-long ones travel alone
    assert max(sizes) > 8                                        # short ones are packed


def test_token_budget_bucketing_keeps_lengths_close():
    """Batches come from length-sorted buckets, so padding is small."""
    lengths = make_lengths(lo=1, hi=200, seed=4)
    sampler = sampler_for(Mixture("equal"), steps=300, lengths=lengths, batch_size=16)
    flat = [ln for ls in lengths.values() for ln in ls]
    spread = [max(flat[i] for i in b) - min(flat[i] for i in b) for b in sampler]
    assert sum(spread) / len(spread) < 20                        # random batches: ~175


def test_same_seed_rank_epoch_same_stream_and_ranks_differ():
    def stream(seed=0, rank=0, epoch=0):
        s = sampler_for(Mixture("temperature"), steps=200, seed=seed, rank=rank)
        s.set_epoch(epoch)
        return list(s)

    base = stream()
    assert stream() == base                                      # fresh sampler, same stream
    assert stream(rank=1) != base
    assert stream(rank=1) == stream(rank=1)
    assert stream(seed=1) != base
    assert stream(epoch=1) != base
    # iterating one sampler twice without set_epoch repeats its stream
    s = sampler_for(Mixture("temperature"), steps=200)
    assert list(s) == list(s) == base


def test_ranks_cover_different_examples():
    firsts = []
    for rank in range(4):
        s = sampler_for(Mixture("equal"), steps=30, rank=rank)
        firsts.append({i for b in s for i in b})
    for r in range(1, 4):
        overlap = len(firsts[0] & firsts[r]) / len(firsts[0])
        assert overlap < 0.5, overlap                            # not the same examples


@pytest.mark.parametrize("max_tokens", [None, 150])
def test_indices_in_task_range_and_each_pass_is_a_permutation(max_tokens):
    lengths = make_lengths()
    offsets = make_offsets(lengths)
    sampler = sampler_for(Mixture("equal"), steps=1200, lengths=lengths, max_tokens=max_tokens)
    per_task: dict[str, list[int]] = {n: [] for n in lengths}
    for batch in sampler:
        name = batch_task(batch, lengths, offsets)
        lo, hi = offsets[name], offsets[name] + len(lengths[name])
        assert all(lo <= i < hi for i in batch)
        assert len(set(batch)) == len(batch)
        per_task[name].extend(batch)
    for name, seen in per_task.items():
        n = len(lengths[name])
        lo = offsets[name]
        if len(seen) >= n:     # the first pass over a task shows each example exactly once
            assert sorted(seen[:n]) == list(range(lo, lo + n)), name
    assert len(per_task["c"]) >= 2 * len(lengths["c"])          # c was cycled through


def test_offsets_are_respected():
    """Tasks need not start at 0 or be contiguous in order: indices follow the offsets."""
    lengths = {"x": [10] * 16, "y": [10] * 16}
    offsets = {"x": 100, "y": 7}
    sampler = MultitaskBatchSampler(lengths, offsets, Mixture("round_robin"), steps=4,
                                    batch_size=8)
    batches = list(sampler)
    assert all(100 <= i < 116 for i in batches[0] + batches[2])
    assert all(7 <= i < 23 for i in batches[1] + batches[3])
    assert sorted(batches[0] + batches[2]) == list(range(100, 116))


# -- token budgets on source and target, mixed batches, Batching -------------------------------
def test_budget_holds_for_source_and_target():
    lengths = make_lengths(lo=1, hi=60, seed=5)
    targets = {n: [int(x * 1.5) + 1 for x in ls[::-1]] for n, ls in lengths.items()}
    sampler = sampler_for(Mixture("equal"), steps=600, lengths=lengths, max_tokens=240,
                          batch_size=64, target_lengths=targets)
    src = {i: ln for n, ls in lengths.items()
           for i, ln in zip(range(sampler.offsets[n], sampler.offsets[n] + len(ls)), ls)}
    tgt = {i: ln for n, ls in targets.items()
           for i, ln in zip(range(sampler.offsets[n], sampler.offsets[n] + len(ls)), ls)}
    for batch in sampler:
        if len(batch) > 1:
            assert max(src[i] for i in batch) * len(batch) <= 240
            assert max(tgt[i] for i in batch) * len(batch) <= 240


def test_by_length_groups_answers_by_length_class_then_sources():
    """Hand-checked order: answer classes 1, 2-3, 4-7 (powers of two), sources within each."""
    sources = np.array([30, 10, 20, 10, 40, 25])
    targets = np.array([2, 5, 1, 3, 6, 2])
    # classes: 1 (2: t=1), 2-3 (0: 30, 3: 10, 5: 25), 4-7 (1: 10, 4: 40)
    assert by_length(sources, targets).tolist() == [2, 3, 5, 0, 1, 4]
    assert by_length(sources, None).tolist() == [1, 3, 2, 5, 0, 4]


def test_long_answers_of_a_short_source_task_do_not_pad_its_batches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A qa_srl-like task: short answers with a long tail that has nothing to do with the
    source's length. Sorted by source alone, one long answer pads a whole batch; grouped by
    answer class first, the batches pad little, source and answer together."""
    rng = np.random.default_rng(0)
    n = 4000
    sources = rng.integers(20, 80, n)
    targets = np.where(rng.random(n) < 0.05, rng.integers(20, 100, n), rng.integers(2, 8, n))

    def padding() -> float:
        """One pass of the task's own batches (`TaskBatches`: buckets of 1,216 rows)."""
        batches = TaskBatches(np.arange(n), sources, 64, 4096, np.random.default_rng(1),
                              bucket_batches=19, target_lengths=targets)
        real = total = seen = 0
        while seen < n:
            b = np.asarray(batches.next())
            seen += len(b)
            real += sources[b].sum() + targets[b].sum()
            total += (sources[b].max() + targets[b].max()) * len(b)
        return 1 - real / total

    grouped = padding()
    with monkeypatch.context() as patch:                     # the rule before this one
        patch.setattr("decaqa.sampling.by_length", lambda s, t: np.lexsort((t, s)))
        by_source = padding()
    assert by_source > 0.45 and grouped < 0.2, (by_source, grouped)     # 0.53 and 0.16


@pytest.mark.parametrize("max_tokens", [None, 400])
@pytest.mark.parametrize("strategy", ["proportional", "equal", "temperature"])
def test_mixed_batches_realise_the_mixture_and_keep_every_example(strategy, max_tokens):
    lengths = make_lengths(lo=1, hi=100, seed=6)
    sampler = sampler_for(Mixture(strategy), steps=1500, lengths=lengths, mixed=True,
                          max_tokens=max_tokens)
    per_task: dict[str, list[int]] = {n: [] for n in lengths}
    batches = list(sampler)
    mixed = 0
    for batch in batches:
        names = {task_of(i, lengths, sampler.offsets) for i in batch}
        mixed += len(names) > 1
        for i in batch:
            per_task[task_of(i, lengths, sampler.offsets)].append(i)
    assert mixed > len(batches) // 2                            # batches do mix tasks
    total = sum(len(v) for v in per_task.values())
    assert {n: len(v) for n, v in per_task.items()} == sampler.seen_total
    for name, rate in sampler.rates.items():
        assert abs(len(per_task[name]) / total - rate) < 0.02, (name, rate)
        # each pass over a task shows every example once: counts differ by at most one
        # pass (plus the bucket still being handed out when the steps ran out)
        n, lo = len(lengths[name]), sampler.offsets[name]
        counts = Counter(per_task[name])
        assert set(counts) <= set(range(lo, lo + n))
        if len(per_task[name]) >= 2 * n:
            assert len(counts) == n and max(counts.values()) - min(counts.values()) <= 2


def test_mixed_batches_keep_lengths_close():
    lengths = make_lengths(lo=1, hi=200, seed=7)
    sampler = sampler_for(Mixture("equal"), steps=300, lengths=lengths, batch_size=16, mixed=True)
    flat = [ln for ls in lengths.values() for ln in ls]
    spread = [max(flat[i] for i in b) - min(flat[i] for i in b) for b in sampler]
    assert sum(spread) / len(spread) < 20


def test_batching_builds_the_sampler_and_checks_its_settings():
    from decaqa.sampling import Batching

    lengths = make_lengths()
    sampler = Batching(batch_size=8, max_tokens=100, mixed=True).sampler(
        lengths, lengths, make_offsets(lengths), Mixture("equal"), steps=5)
    assert isinstance(sampler, MultitaskBatchSampler) and sampler.mixed and len(sampler) == 5
    for bad in ({"batch_size": 0}, {"max_tokens": -1}, {"bucket_batches": 0}):
        with pytest.raises(ConfigError, match="must be"):
            Batching(**bad)


def test_pad_right_pads_to_the_longest_row_with_its_mask() -> None:
    """Training batches and answering batches are padded by this one rule."""
    ids, mask = pad([[5, 6, 7], [8]], pad_id=0, device=torch.device("cpu"))
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    labels, _ = pad([[5, 6], [8]], pad_id=0, device=torch.device("cpu"), fill=-100)
    assert labels.tolist() == [[5, 6], [8, -100]]
