"""The one batched answering path: validation, `decaqa evaluate`, `ask`, `ask_batch` and
`predict` all come here, so the same input gets the same answer whichever way it was asked.

`answer` decides how each row is answered, for every caller: ranked among its choices when
the mode ranks and the row has choices, else generated up to its task's cap (`task_cap`).

Generation: sort by length, cut into batches by a row count and a token budget (``longest x
rows``), pad each batch only to its own longest input, generate, decode, and hand the answers
back in the caller's order. Greedy decoding of a plain model (`greedy_shrinking`) drops the
rows that have written their </s> or reached their own task's cap from the batch (once they
are an eighth of it: `SHED_SHARE`), so a batch is not run to its longest answer at full
width (in the answering benchmark, half the row-steps ``generate`` computes belong to answers
that have already ended) and rows of different caps share batches. Beam search of a plain
model (`beam_shrinking`) does the same by question: transformers' beam search step for step,
a question leaving the batch once its best answer can no longer change, its encoder side
held once per question where the network reads it so. Adapters routed per row and
generation settings that change the scores (repetition penalties, forced tokens...) go
through ``generate``, whose batches never mix caps; the answers are the same either way.
Both shrinking loops are hand-written because ``generate`` runs every row of a batch to its
last at full width and has no hook to drop one.

Rank classification (T0's rule, or lm-evaluation-harness's length-normalised one): score each
answer choice by the log-likelihood of its tokens (and the closing </s>) given the input, and
return the best one, so the answer is always a valid label.

Precision is one recorded setting (the run's, in its export) applied here with autocast, so
`ask` decodes exactly as validation did. On a CPU answering runs in float32 whatever the run
trained in (`answering_autocast`), so that a row's answer does not turn on its batch-mates.
Imports torch and transformers only: light enough for a notebook. Hand-written because
transformers' `generate` takes one padded batch and has no length-sorted, budgeted batching
or choice ranking of its own.
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from decaqa.copying import CACHE_FIELDS
from decaqa.errors import ConfigError
from decaqa.network import beam_search_rows, questions_once
from decaqa.sampling import pad, split_budget

PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true")
CHOICE_MODES = ("generate", "rank", "rank_mean")


def autocast(precision: str | None, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of a Lightning precision name (nothing for 32-bit or None)."""
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "16-mixed":
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def answering_autocast(precision: str | None,
                       device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast answering runs under: the precision's on an accelerator, none on a CPU.

    On a CPU every answer is computed in float32 (a ``bf16-true`` model in its own bf16),
    even inside a bf16-mixed run's validation, where Lightning has set an autocast. Under
    bf16 autocast the CPU's kernels round a row's scores slightly differently at another
    batch shape, so near ties went the other way when a question was asked alone: 2 of the
    answering benchmark's 512 on a 2-core AMD EPYC. In float32 all 512 were the same both
    ways, for 13% more time batched (2.21 s against 1.95 for the benchmark's questions, the
    two precisions turn by turn: docs/performance.md, "bf16 autocast on a CPU").
    """
    if device.type == "cpu":
        return torch.autocast("cpu", enabled=False)
    return autocast(precision, device)


def plan_batches(lengths: Sequence[int], max_rows: int, max_tokens: int | None = None,
                 caps: Sequence[int] | None = None,
                 keys: Sequence[str | None] | None = None) -> list[list[int]]:
    """Index batches: longest first within each generation cap; a batch holds at most
    ``max_rows`` rows and ``longest x rows <= max_tokens`` (the training batches' rule,
    `decaqa.sampling.split_budget`; a single longer row goes alone). Rows of different
    ``keys`` (adapters that cannot share a batch) never share one."""
    n = len(lengths)
    caps = caps if caps is not None else [0] * n
    keys = keys if keys is not None else [None] * n
    order = sorted(range(n), key=lambda i: (str(keys[i]), -caps[i], -lengths[i], i))
    sizes = np.asarray(lengths, dtype=np.int64)
    batches: list[list[int]] = []
    for _, group in itertools.groupby(order, key=lambda i: (keys[i], caps[i])):
        batches += split_budget(list(group), sizes, None, max_rows, max_tokens)
    return batches


def _routing(adapters: Any, tasks: Sequence[str | None] | None, n: int
             ) -> tuple[list[str | None], list[str | None] | None]:
    """Each row's task and batch key (rows of adapters that cannot share a batch apart)."""
    rows = list(tasks) if tasks is not None else [None] * n
    if adapters is None:
        return rows, None
    return rows, [adapters.batch_key(t) for t in rows]


def routed(adapters: Any, model: PreTrainedModel, tasks: Sequence[str | None], beams: int = 1
           ) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """The adapters of these rows' tasks in use, and the forward or generate call's extra
    arguments (nothing without adapters): answering here and training steps alike."""
    if adapters is None:
        return contextlib.nullcontext({})
    return adapters.route(model, tasks, beams)


def _device(model: PreTrainedModel) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def generate_answers(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                     sources: Sequence[Sequence[int]], max_new_tokens: int | Sequence[int],
                     num_beams: int | Sequence[int] = 1, max_rows: int = 64,
                     max_tokens: int | None = None,
                     precision: str | None = None, tasks: Sequence[str | None] | None = None,
                     adapters: Any = None) -> list[str]:
    """Answer tokenized inputs; ``max_new_tokens`` is one cap or one per input, and so is
    ``num_beams`` (the beam width; 1: greedy).

    ``adapters`` (`decaqa.adapters.Adapters`) route each row to its task's adapter
    (``tasks``, one per input): a batch of rows that may share it, the rest by task.
    """
    if not sources:
        return []
    caps = ([int(max_new_tokens)] * len(sources) if isinstance(max_new_tokens, int)
            else [int(c) for c in max_new_tokens])
    if not isinstance(num_beams, int):  # one width per input: a batch never mixes widths
        widths = [int(b) for b in num_beams]
        if len(set(widths)) > 1:
            texts = [""] * len(sources)
            for width in sorted(set(widths)):
                idx = [i for i, b in enumerate(widths) if b == width]
                got = generate_answers(model, tokenizer, [sources[i] for i in idx],
                                       [caps[i] for i in idx], width, max_rows=max_rows,
                                       max_tokens=max_tokens, precision=precision,
                                       tasks=None if tasks is None else [tasks[i] for i in idx],
                                       adapters=adapters)
                for i, text in zip(idx, got):
                    texts[i] = text
            return texts
        num_beams = widths[0]
    rows, keys = _routing(adapters, tasks, len(sources))
    device = _device(model)
    answers: list[str] = [""] * len(sources)
    # without per-row adapters: each row (greedy) or question (beams) stops at its own cap and
    # leaves the batch when it has ended, so caps may share a batch
    shrinking = adapters is None and plain_decoding(model)
    was_training = model.training
    model.eval()
    try:
        for batch in plan_batches([len(s) for s in sources], max_rows, max_tokens,
                                  None if shrinking else caps, keys):
            ids, mask = pad([sources[i] for i in batch], tokenizer.pad_token_id, device)
            with answering_autocast(precision, device), \
                    routed(adapters, model, [rows[i] for i in batch], num_beams) as extra:
                if shrinking and num_beams == 1:
                    out = greedy_shrinking(model, ids, mask, [caps[i] for i in batch])
                else:
                    with beam_search_rows(num_beams):
                        out = (beam_shrinking(model, ids, mask, num_beams,
                                              [caps[i] for i in batch]) if shrinking
                               else model.generate(input_ids=ids, attention_mask=mask,
                                                   max_new_tokens=caps[batch[0]],
                                                   num_beams=num_beams, do_sample=False,
                                                   **extra))
            texts = tokenizer.batch_decode(out, skip_special_tokens=True)
            for i, text in zip(batch, texts):
                answers[i] = text.strip()
    finally:
        model.train(was_training)
    return answers


# what a model's generation config may set for decoding to be its scores alone: no logits
# processor, stopping rule or sampling that generate would add (beam search reads the two
# beam settings as generate does)
_PLAIN_GENERATION = {"use_cache", "output_attentions", "output_hidden_states", "pad_token_id",
                     "eos_token_id", "bos_token_id", "decoder_start_token_id", "max_length",
                     "max_new_tokens", "num_beams", "do_sample", "_from_model_config",
                     "transformers_version", "return_dict_in_generate", "output_scores",
                     "output_logits", "length_penalty", "early_stopping"}


def plain_decoding(model: PreTrainedModel) -> bool:
    """Whether ``model``'s greedy decoding is the argmax of its scores alone and its beam
    search transformers' on its log-softmax alone (no logits processor its generation config
    would add, one answer per input), so `greedy_shrinking` and `beam_shrinking` answer as
    ``generate`` does."""
    config = getattr(model, "generation_config", None)
    return (config is not None and getattr(model.config, "is_encoder_decoder", False)
            and set(config.to_diff_dict()) <= _PLAIN_GENERATION
            and (config.num_beams or 1) == 1 and not config.do_sample)


def _start_and_ends(model: PreTrainedModel, device: torch.device) -> tuple[int, torch.Tensor]:
    """The decoder's start token and the end tokens, as ``generate`` reads them."""
    config = model.generation_config
    start = (config.decoder_start_token_id if config.decoder_start_token_id is not None
             else model.config.decoder_start_token_id)
    eos = config.eos_token_id if config.eos_token_id is not None else model.config.eos_token_id
    return int(start), torch.tensor(eos if isinstance(eos, (list, tuple)) else [eos],
                                    device=device)


def _row_caps(max_new_tokens: int | Sequence[int], n: int, device: torch.device
              ) -> torch.Tensor:
    return torch.as_tensor([int(max_new_tokens)] * n if isinstance(max_new_tokens, int)
                           else [int(c) for c in max_new_tokens], device=device)


# a batch sheds its ended rows once they are this share of it: shedding copies every layer's
# decoding cache, which costs more than computing a few ended rows on for some steps
SHED_SHARE = 0.125


@torch.no_grad()
def greedy_shrinking(model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor,
                     max_new_tokens: int | Sequence[int], shed_share: float = SHED_SHARE
                     ) -> list[list[int]]:
    """Greedy decoding of one padded batch that stops computing rows once they have ended
    (written an end token, or reached their own cap: one for all or one per row): once the
    ended rows are ``shed_share`` of the batch or more, they are taken out of it, their
    encoder states, mask and decoding cache alike. Each row's tokens are the argmax at every
    step, as in ``generate(num_beams=1, do_sample=False, max_new_tokens=<its cap>)``; returns
    each row's tokens, its end token included. transformers' ``generate`` runs every row to
    the batch's longest answer under one cap."""
    start, ends = _start_and_ends(model, ids.device)
    n = ids.size(0)
    caps = _row_caps(max_new_tokens, n, ids.device)
    encoded = model.get_encoder()(input_ids=ids, attention_mask=mask, return_dict=True)
    rows = torch.arange(n, device=ids.device)  # each batch row's place in ``ids``
    live = torch.ones(n, dtype=torch.bool, device=ids.device)  # the batch rows still writing
    tokens: list[list[int]] = [[] for _ in range(n)]
    last = torch.full((n, 1), int(start), dtype=torch.long, device=ids.device)
    cache: dict[str, Any] = {}
    for step in range(int(caps.max()) if n else 0):
        out = model(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=last,
                    use_cache=True, return_dict=True, **cache)
        field = next(f for f in CACHE_FIELDS if getattr(out, f, None) is not None)
        cache = {field: getattr(out, field)}
        picked = out.logits[:, -1].float().argmax(-1)
        for row, token in zip(rows[live].tolist(), picked[live].tolist()):
            tokens[row].append(token)
        live &= ~(torch.isin(picked, ends) | (caps[rows] <= step + 1))
        writing = int(live.sum())
        if not writing:
            break
        if len(rows) - writing >= max(1.0, shed_share * len(rows)):
            keep = live.nonzero().squeeze(1)
            rows, mask, picked, live = rows[keep], mask[keep], picked[keep], live[keep]
            encoded = _encoder_rows(encoded, keep)
            cache[field].batch_select_indices(keep)
        last = picked.unsqueeze(1)
    return tokens


# beam search's marks, as transformers' beam search writes them: a score no candidate can win
# with, added to what may not be chosen
_NEVER = -1.0e9


def _take(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``t``'s beams (dim 1) picked by ``index`` (questions, picked), for every later dim."""
    while index.dim() < t.dim():
        index = index.unsqueeze(-1)
    return torch.take_along_dim(t, index, dim=1)


def _follow_beams(cache: Any, beam_rows: torch.Tensor, kept_rows: torch.Tensor | None) -> None:
    """Each decoding-cache row from the beam it continues (``beam_rows``); the
    cross-attention's keys, the same for every beam of a question (or held once per question),
    only lose the rows of the questions that left (``kept_rows``: the rows kept, None: all)."""
    from transformers.cache_utils import EncoderDecoderCache

    if isinstance(cache, EncoderDecoderCache):
        cache.self_attention_cache.reorder_cache(beam_rows)
        if kept_rows is not None:
            cache.cross_attention_cache.reorder_cache(kept_rows)
    else:  # one cache for both: a beam continues a beam of its own question, so rows match
        cache.reorder_cache(beam_rows)


@torch.no_grad()
def beam_shrinking(model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor,
                   num_beams: int, max_new_tokens: int | Sequence[int],
                   shed_share: float = SHED_SHARE) -> list[list[int]]:
    """Beam search over one padded batch that stops computing a question once its answer is
    settled: transformers' beam search (``generate(num_beams=..., do_sample=False)``, its
    length penalty and early-stopping rule from the generation config), step for step, except
    that a question whose beams can no longer change its best finished answer (its
    early-stop test, or its own cap reached) leaves the batch, its beams' rows, encoder
    states, mask and decoding cache alike, once such questions are ``shed_share`` of the
    batch. Returns each question's best answer: its tokens, its end token included.

    transformers' beam search runs every question to the batch's last; in the answering
    benchmark this computes 28% fewer beam row-steps for its translation and summary
    questions. Each question's numbers are its own (one question's beams never read
    another's), so the answers are generate's (tested against it, a cap per question as well
    as one cap)."""
    config = model.generation_config
    start, ends = _start_and_ends(model, ids.device)
    k, n, device = int(num_beams), ids.size(0), ids.device
    penalty = float(config.length_penalty if config.length_penalty is not None else 1.0)
    early = config.early_stopping
    # the sequence length, decoder start token included, at which each batch question stops
    limits = _row_caps(max_new_tokens, n, device) + 1
    width = int(limits.max())
    keep_k = max(2, 1 + ends.numel()) * k  # candidates kept per question at each step
    top_k = torch.arange(keep_k, device=device) < k
    encoded = model.get_encoder()(input_ids=ids, attention_mask=mask, return_dict=True)
    # the encoder side: one row per question where the network reads it so (its beams read
    # the same numbers), else one per beam, as generate repeats it
    per_beam = 1 if questions_once(model) else k
    if per_beam > 1:
        each = torch.arange(n, device=device).repeat_interleave(k)
        encoded, mask = _encoder_rows(encoded, each), mask[each]
    running = torch.full((n, k, width), int(start), dtype=torch.long, device=device)
    finished = running.clone()
    running_scores = torch.zeros((n, k), device=device)
    running_scores[:, 1:] = _NEVER  # the first step continues the first beam alone
    scores = torch.full((n, k), _NEVER, device=device)
    is_finished = torch.zeros((n, k), dtype=torch.bool, device=device)
    unsettled = torch.ones((n, 1), dtype=torch.bool, device=device)
    questions = torch.arange(n, device=device)  # each batch question's place in ``ids``
    answers: list[list[int]] = [[] for _ in range(n)]
    end_ids = set(ends.tolist())

    def settle(which: torch.Tensor) -> None:
        """Keep these questions' best answers: through the end token, else to the cap."""
        for question, limit, row in zip(questions[which].tolist(), limits[which].tolist(),
                                        finished[which, 0, 1:].tolist()):
            row = row[:limit - 1]
            cut = next((i for i, t in enumerate(row) if t in end_ids), None)
            answers[question] = row[:cut + 1] if cut is not None else row

    cache: dict[str, Any] = {}
    length = 1
    while True:
        b = running.size(0)
        out = model(encoder_outputs=encoded, attention_mask=mask,
                    decoder_input_ids=running[:, :, length - 1].reshape(b * k, 1),
                    use_cache=True, return_dict=True, **cache)
        field = next(f for f in CACHE_FIELDS if getattr(out, f, None) is not None)
        cache = {field: getattr(out, field)}
        logits = out.logits[:, -1, :].to(copy=True, dtype=torch.float32)
        del out
        vocab = logits.size(-1)
        log_probs = (torch.log_softmax(logits, dim=-1).view(b, k, vocab)
                     + running_scores[:, :, None]).reshape(b, k * vocab)
        # the best continuations of all beams, and which of them end here
        top_scores, top_index = torch.topk(log_probs, k=keep_k)
        top_beam = top_index // vocab
        top_sequences = _take(running, top_beam)
        top_sequences[:, :, length] = top_index % vocab
        ends_here = (torch.isin(top_sequences[:, :, length], ends)
                     | (length + 1 >= limits)[:, None])
        # the beams that go on: the best continuations that did not end
        going_on = top_scores + ends_here.to(torch.float32) * _NEVER
        next_index = torch.topk(going_on, k=k)[1]
        running = _take(top_sequences, next_index)
        running_scores = _take(going_on, next_index)
        source_beam = _take(top_beam, next_index)
        # the answers kept: the best finished ones so far and the best that ended here
        just_finished = ends_here & top_k[None, :]
        candidates = top_scores / (length ** penalty)
        candidates += (torch.all(is_finished, dim=-1, keepdim=True)
                       & (early is True)).to(torch.float32) * _NEVER
        candidates += (~unsettled).to(torch.float32) * _NEVER
        candidates += (~just_finished) * _NEVER
        merged = torch.cat((scores, candidates), dim=1)
        pick = torch.topk(merged, k=k)[1]
        finished = _take(torch.cat((finished, top_sequences), dim=1), pick)
        scores = _take(merged, pick)
        is_finished = _take(torch.cat((is_finished, just_finished), dim=1), pick)
        length += 1
        # transformers' early-stop test: can the best running beam still beat the worst kept
        # answer? Once it cannot, or the question's cap is reached, or (early_stopping=True)
        # its beams have all finished, the question's answers are settled
        if early == "never" and penalty > 0.0:
            best_running = running_scores[:, :1] / (limits[:, None] - 1) ** penalty
        else:
            best_running = running_scores[:, :1] / ((length - 1) ** penalty)
        worst_kept = torch.where(is_finished, torch.min(scores, dim=1, keepdim=True)[0], _NEVER)
        unsettled = (unsettled & torch.any(best_running > worst_kept, dim=-1, keepdim=True)
                     & (length < limits)[:, None]
                     & ~(torch.all(is_finished, dim=-1, keepdim=True) & (early is True)))
        settled = ~unsettled.squeeze(1)
        done = int(settled.sum())
        if done == b:
            settle(torch.ones(b, dtype=torch.bool, device=device))
            break
        beam_rows = (source_beam + torch.arange(b, device=device)[:, None] * k).reshape(-1)
        if done >= max(1.0, shed_share * b):
            settle(settled)
            kept = (~settled).nonzero().squeeze(1)
            kept_rows = (kept[:, None] * per_beam
                         + torch.arange(per_beam, device=device)).reshape(-1)
            questions, limits = questions[kept], limits[kept]
            running, running_scores = running[kept], running_scores[kept]
            finished, scores, is_finished = finished[kept], scores[kept], is_finished[kept]
            unsettled, mask = unsettled[kept], mask[kept_rows]
            encoded = _encoder_rows(encoded, kept_rows)
            _follow_beams(cache[field], beam_rows.view(b, k)[kept].reshape(-1), kept_rows)
        else:
            _follow_beams(cache[field], beam_rows, None)
    return answers


def _choice_ids(tokenizer: PreTrainedTokenizerBase, choices: Sequence[str]) -> list[list[int]]:
    """Each choice as the model would write it: its tokens and the closing </s>."""
    return tokenizer(list(choices), add_special_tokens=True)["input_ids"]


@torch.no_grad()
def choice_scores(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                  sources: Sequence[Sequence[int]], choices: Sequence[Sequence[str]],
                  normalize: bool = False, max_rows: int = 64, max_tokens: int | None = None,
                  precision: str | None = None, tasks: Sequence[str | None] | None = None,
                  adapters: Any = None) -> list[list[float]]:
    """Log-likelihood of every choice of every input (summed, or per token if ``normalize``).

    Each batch is encoded once; the encoder states are repeated for the batch's choices.
    With adapters (some of which change the input itself: prompt and prefix tuning) each
    choice goes through the whole adapted model instead.
    """
    device = _device(model)
    scores: list[list[float]] = [[] for _ in sources]
    rows, keys = _routing(adapters, tasks, len(sources))
    was_training = model.training
    model.eval()
    try:
        for batch in plan_batches([len(s) for s in sources], max_rows, max_tokens, keys=keys):
            ids, mask = pad([sources[i] for i in batch], tokenizer.pad_token_id, device)
            owners, targets = [], []
            for row, i in enumerate(batch):
                for target in _choice_ids(tokenizer, choices[i]):
                    owners.append(row)
                    targets.append(target)
            labels, label_mask = pad(targets, tokenizer.pad_token_id, device, fill=-100)
            index = torch.tensor(owners, device=device)
            with answering_autocast(precision, device), \
                    routed(adapters, model, [rows[batch[o]] for o in owners]) as extra:
                if adapters is None:
                    encoded = model.get_encoder()(input_ids=ids, attention_mask=mask)
                    logits = model(encoder_outputs=_encoder_rows(encoded, index),
                                   attention_mask=mask[index], labels=labels).logits
                else:
                    logits = model(input_ids=ids[index], attention_mask=mask[index],
                                   labels=labels, **extra).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
            picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            total = (picked * label_mask).sum(-1)
            if normalize:
                total = total / label_mask.sum(-1)
            for owner, value in zip(owners, total.tolist()):
                scores[batch[owner]].append(value)
    finally:
        model.train(was_training)
    return scores


def _encoder_rows(encoded, index: torch.Tensor):
    """The encoder's output with its rows taken by ``index`` (one per choice, per beam, or the
    rows still decoding): every tensor it holds, so a copying model's source ids travel with
    the states."""
    return type(encoded)(**{k: v.index_select(0, index) for k, v in encoded.items()
                            if isinstance(v, torch.Tensor)})


def rank_choices(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 sources: Sequence[Sequence[int]], choices: Sequence[Sequence[str]],
                 normalize: bool = False, **batching) -> list[str]:
    """The most likely choice of each input (ties go to the earlier choice)."""
    scores = choice_scores(model, tokenizer, sources, choices, normalize, **batching)
    return [opts[max(range(len(opts)), key=lambda k: (s[k], -k))]
            for opts, s in zip(choices, scores)]


def task_beams(task: str | None, beams: Mapping[str, int] | None, default: int) -> int:
    """How many beams answer ``task``: the task's own width (``beams``), else ``default``."""
    return int((beams or {}).get(task) or default) if task is not None else int(default)


def task_cap(task: str | None, caps: Mapping[str, int] | None, default: int) -> int:
    """How many tokens an answer of ``task`` may have: the task's own cap, else ``default``.
    Asked without a task, the longest of them all, so that no answer is cut shorter than its
    own task would cut it (a summary asked without ``task=`` ends where `evaluate` ends it)."""
    if task is None:
        return max([int(default), *(int(c) for c in (caps or {}).values() if c)])
    return int((caps or {}).get(task) or default)


def answer(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
           sources: Sequence[Sequence[int]], tasks: Sequence[str | None] | None = None, *,
           caps: Mapping[str, int] | None = None, default_cap: int = 64, num_beams: int = 1,
           beams: Mapping[str, int] | None = None,
           choices: Sequence[Sequence[str] | None] | None = None, mode: str = "generate",
           max_rows: int = 64, max_tokens: int | None = None, precision: str | None = None,
           adapters: Any = None) -> list[str]:
    """Answer tokenized inputs, each as its task is answered: the one place that decides
    generate-or-rank, the length cap and the beams (validation, evaluate, ask and the time
    budget's estimate all come here).

    ``tasks``: one per input (None: no task; with adapters, each routes to its task's).
    ``choices``: per input its answer choices or None; with ``mode`` ``rank`` or
    ``rank_mean`` an input with choices is answered by the likeliest one (summed or per-token
    log-likelihood), the others are generated up to ``task_cap(task, caps, default_cap)``
    with ``task_beams(task, beams, num_beams)`` beams.
    """
    if mode not in CHOICE_MODES:
        raise ConfigError(f"Unknown choices mode '{mode}'; use one of "
                          f"{', '.join(CHOICE_MODES)}.")
    n = len(sources)
    tasks = list(tasks) if tasks is not None else [None] * n
    batching = dict(max_rows=max_rows, max_tokens=max_tokens, precision=precision,
                    adapters=adapters)
    ranked = ([i for i in range(n) if choices[i]] if choices is not None and mode != "generate"
              else [])
    chosen = set(ranked)
    generated = [i for i in range(n) if i not in chosen]
    out: list[str] = [""] * n
    if ranked:
        picks = rank_choices(model, tokenizer, [sources[i] for i in ranked],
                             [choices[i] for i in ranked], normalize=mode == "rank_mean",
                             tasks=[tasks[i] for i in ranked], **batching)
        for i, text in zip(ranked, picks):
            out[i] = text
    if generated:
        texts = generate_answers(model, tokenizer, [sources[i] for i in generated],
                                 [task_cap(tasks[i], caps, default_cap) for i in generated],
                                 [task_beams(tasks[i], beams, num_beams) for i in generated],
                                 tasks=[tasks[i] for i in generated], **batching)
        for i, text in zip(generated, texts):
            out[i] = text
    return out
