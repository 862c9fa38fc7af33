"""Copy from the context: a pointer-generator head for any encoder-decoder decaqa trains.

decaNLP's MQAN answered with the words in front of it by mixing, at every decoding step, the
vocabulary distribution with pointers into the context and the question, weighted by learned
gates. No Hugging Face seq2seq model has that, and a small model trained from scratch needs it
to copy a name it has never seen in minutes instead of days. Here, at each step::

    p(w) = g * p_vocab(w) + (1 - g) * [lam * p_context(w) + (1 - lam) * p_question(w)]

* ``p_vocab`` is the model's own softmax;
* ``p_context`` / ``p_question`` scatter a small dedicated attention over the source
  positions of each segment onto those positions' token ids;
* ``g`` (and, with two sources, ``lam``) come from a linear gate on the decoder state, the
  attended context vector and the previous token's embedding.

With ``copy="context"`` only the context is a copy source (``lam = 1``); with
``"context+question"`` the question is a second one, with its own gate, so labels and options
written in the question (MultiNLI's three labels, WSC's two candidates) can be copied too.

The pointer's query reads the decoder state and the previous output token; its key reads the
encoder state and the *previous source token*. So "go on copying the span I am in" is one
match of embeddings (the token just written equals the token before this position) rather
than something a two-layer model must discover inside its states; the first token of an
answer still comes from the decoder state, that is, from reading the question.

The segments are found from the input format, which puts a fixed marker between question and
context (``question: {question} context: {context}``): the marker's token ids are stored in
the model's config, positions before its first occurrence are one segment and those after it
the other. A row without the marker counts whole as context.

The forward returns ``logits = log p`` (so ``generate``'s greedy argmax and beam search's
log-softmax see exactly ``p``) and the loss is the negative log-likelihood of the mixture,
computed from the targets' probabilities alone (training, in ``train()`` mode with labels,
returns the loss and no logits: the full (batch, steps, vocabulary) mixture is built only
when asked for). The mixture is computed in float32 whatever the autocast. The source ids reach the decoding
steps inside the encoder's output (`CopyEncoderOutput`), which ``generate`` expands for beams
like any encoder output, so greedy, beam search, batched answering and rank classification
need nothing special.

Saved and loaded like any model: each supported architecture has its own registered model
type (``decaqa-copy-t5``, ``decaqa-copy-bart``), registered with `AutoConfig` and
`AutoModelForSeq2SeqLM` when ``decaqa`` is imported, so after ``import decaqa``
``AutoModelForSeq2SeqLM.from_pretrained(path)`` loads an export with identical generations.
transformers has no pointer-generator, so this module is ours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn
from transformers import initialization as init
from transformers import (AutoConfig, AutoModelForSeq2SeqLM, BartConfig,
                          BartForConditionalGeneration, T5Config, T5ForConditionalGeneration)
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput

from decaqa.errors import ConfigError

COPY_MODES = ("context", "context+question")


def check_mode(copy: str | None) -> str | None:
    """``None``/``"none"``/``""`` switch copying off; otherwise one of `COPY_MODES`."""
    if copy in (None, "", "none", False):
        return None
    if copy not in COPY_MODES:
        raise ConfigError(f"Unknown copy mode '{copy}'; use context, context+question or none.")
    return copy


def segment_marker(template: str, tokenizer: Any) -> tuple[list[int], bool]:
    """The token ids of the text between the question and the context in ``template`` (the
    input format), and whether the question comes first."""
    q, c = template.find("{question}"), template.find("{context}")
    if q < 0 or c < 0:
        return [], True
    first, second = sorted((q, c))
    between = template[first + len("{question}" if first == q else "{context}"):second].strip()
    ids = tokenizer(between, add_special_tokens=False)["input_ids"] if between else []
    return [int(i) for i in ids], q < c


def segments(source_ids: torch.Tensor, mask: torch.Tensor, marker: Sequence[int],
             question_first: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean (context, question) masks over the source positions of each row: split at the
    first occurrence of ``marker``; a row without it is context throughout."""
    valid = mask.bool()
    none = torch.zeros_like(valid)
    m = len(marker)
    if not m or source_ids.size(1) < m:
        return valid, none
    span = source_ids.size(1) - m + 1
    hits = source_ids[:, :span] == int(marker[0])                 # (B, S - m + 1)
    for k in range(1, m):
        hits = hits & (source_ids[:, k:k + span] == int(marker[k]))
    found = hits.any(1, keepdim=True)
    first = hits.int().argmax(1, keepdim=True)
    pos = torch.arange(source_ids.size(1), device=source_ids.device).unsqueeze(0)
    before, after = pos < first, pos >= first + m
    context, question = (after, before) if question_first else (before, after)
    context = torch.where(found, context, valid) & valid
    question = question & found & valid
    return context, question


CACHE_FIELDS = tuple(f for f in ("cache", "past_key_values")
                     if f in Seq2SeqLMOutput.__dataclass_fields__)


@dataclass
class CopyEncoderOutput(BaseModelOutput):
    """The encoder's output plus what the pointer reads of the source, the same at every
    decoding step and so computed once per input: the source ids it scatters onto, its keys
    and the two segments. ``generate`` expands these for beams like any encoder output."""

    source_ids: torch.LongTensor | None = None
    copy_keys: torch.FloatTensor | None = None
    copy_context: torch.BoolTensor | None = None
    copy_question: torch.BoolTensor | None = None


class _SourceKeepingEncoder(nn.Module):
    """The model's encoder, returning with its states the source ids and the pointer's keys
    and segments (``prepare``: the copying model's `CopyMixin.copy_source`), for `generate`."""

    def __init__(self, encoder: nn.Module, prepare: Any):
        super().__init__()
        self.encoder = encoder
        self.prepare = prepare

    def forward(self, input_ids: torch.Tensor | None = None, **kwargs: Any) -> CopyEncoderOutput:
        kwargs["return_dict"] = True
        out = self.encoder(input_ids=input_ids, **kwargs)
        source = (self.prepare(input_ids, kwargs.get("attention_mask"), out.last_hidden_state)
                  if input_ids is not None else {})
        return CopyEncoderOutput(last_hidden_state=out.last_hidden_state,
                                 hidden_states=getattr(out, "hidden_states", None),
                                 attentions=getattr(out, "attentions", None),
                                 source_ids=input_ids, **source)


class CopyHead(nn.Module):
    """The pointer attention and the gates: a few d_model-sized matrices, held as parameters
    of this one module so that the architecture's own init rules (T5 draws every plain
    `nn.Linear` with std 1) never reach them."""

    def __init__(self, d_model: int, sources: int):
        super().__init__()
        self.sources = sources
        # query: [decoder state; previous token]; key: [encoder state; previous source token]
        self.query = nn.Parameter(torch.empty(d_model, 2 * d_model))
        self.key = nn.Parameter(torch.empty(d_model, 2 * d_model))
        self.query_bias = nn.Parameter(torch.empty(d_model))
        self.key_bias = nn.Parameter(torch.empty(d_model))
        # g (vocabulary vs copy), and lam (context vs question) with two sources, from
        # [decoder state; previous token; attended vector of each source]
        self.gate = nn.Parameter(torch.empty(sources, (2 + sources) * d_model))
        self.gate_bias = nn.Parameter(torch.empty(sources))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # transformers' init functions leave a weight loaded from a checkpoint as it is
        with torch.no_grad():
            for weight in (self.query, self.key, self.gate):
                init.normal_(weight, std=1.0 / math.sqrt(weight.size(1)))
            for bias in (self.query_bias, self.key_bias, self.gate_bias):
                init.zeros_(bias)

    def keys(self, encoder_states: torch.Tensor, source_previous: torch.Tensor
             ) -> torch.Tensor:
        """The pointer's keys (batch, source, d_model), float32: one per source position,
        the same at every decoding step."""
        f = torch.float32
        with torch.autocast(encoder_states.device.type, enabled=False):
            return nn.functional.linear(torch.cat([encoder_states.to(f), source_previous.to(f)],
                                                  -1), self.key, self.key_bias)

    def forward(self, decoder_states: torch.Tensor, previous: torch.Tensor,
                encoder_states: torch.Tensor, keys: torch.Tensor,
                context: torch.Tensor, question: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The vocabulary gate ``g`` (batch, steps, 1) and the pointer's distribution over the
        source positions (batch, steps, source), in float32."""
        f = torch.float32
        linear = nn.functional.linear
        with torch.autocast(decoder_states.device.type, enabled=False):
            dec = torch.cat([decoder_states, previous], -1).to(f)
            enc = encoder_states.to(f)
            query = linear(dec, self.query, self.query_bias)
            from decaqa.network import beam_rows, shared_rows  # (network's import registers
            # this module: imported here)

            rows = query.size(0)
            shared = shared_rows(rows)
            # the source side may hold one row per question (beam search): the pointer reads it
            # so, the masks are read per beam
            context, question = beam_rows(context, rows), beam_rows(question, rows)
            scores = _matmul(query, keys, shared, transpose=True) / math.sqrt(query.size(-1))
            attended, vectors = [], []  # scores: (B, T, S)
            for allowed in ((context, question) if self.sources == 2 else (context,)):
                weights = _masked_softmax(scores, allowed)
                attended.append(weights)
                vectors.append(_matmul(weights, enc, shared))
            gates = torch.sigmoid(linear(torch.cat([dec, *vectors], -1), self.gate,
                                         self.gate_bias))
            g = gates[..., :1]
            pointer = attended[0]
            if self.sources == 2:
                has_question = question.any(1).view(-1, 1, 1)
                lam = torch.where(has_question, gates[..., 1:2], torch.ones_like(g))
                pointer = lam * attended[0] + (1 - lam) * attended[1]
            return g, pointer


def _matmul(a: torch.Tensor, b: torch.Tensor, shared: int, transpose: bool = False
            ) -> torch.Tensor:
    """``a @ b`` (``transpose``: ``a @ b.transpose(1, 2)``) for (rows, T, k) by (rows, k, n),
    where each run of ``shared`` rows of ``b`` is the same (the beams of one question): ``b``
    read once per run, not once per row."""
    if shared == 1:
        return a @ (b.transpose(1, 2) if transpose else b)
    from decaqa.network import question_rows

    rows, steps = a.shape[0], a.shape[1]
    b = question_rows(b, rows, shared)
    b = b.transpose(1, 2) if transpose else b
    out = a.reshape(rows // shared, shared * steps, a.shape[2]) @ b
    return out.view(rows, steps, b.shape[2])


def _masked_softmax(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Softmax over the allowed source positions; a row with none gets all zeros (a finite
    fill, not -inf, so no NaN is made and none needs removing)."""
    keep = allowed.unsqueeze(1)
    weights = torch.softmax(scores.masked_fill(~keep, -1e9), -1)
    return weights * keep


class CopyMixin:
    """What a copying model adds to its architecture's ``*ForConditionalGeneration``: the
    head, the source-keeping encoder for `generate`, and the mixture in ``forward``."""

    def _add_copy_head(self, config: Any) -> None:
        mode = check_mode(getattr(config, "copy", None)) or "context"
        config.copy = mode
        config.copy_marker_ids = list(getattr(config, "copy_marker_ids", None) or [])
        config.copy_question_first = bool(getattr(config, "copy_question_first", True))
        self.copy_head = CopyHead(config.d_model, 2 if mode == "context+question" else 1)
        self._copy_states: dict[str, torch.Tensor] = {}
        # the decoder's output as the LM head reads it: captured, architecture by architecture
        self.get_output_embeddings().register_forward_pre_hook(self._keep_decoder_states)

    def _keep_decoder_states(self, module: nn.Module, args: tuple) -> None:
        self._copy_states["decoder"] = args[0]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, CopyHead):
            module.reset_parameters()
        else:
            super()._init_weights(module)  # type: ignore[misc]

    def get_encoder(self, *args: Any, **kwargs: Any) -> nn.Module:
        return _SourceKeepingEncoder(super().get_encoder(*args, **kwargs),  # type: ignore[misc]
                                     self.copy_source)

    def copy_source(self, source_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                    encoder_states: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the pointer reads of the source (`CopyEncoderOutput`'s copy fields): its keys
        (from the encoder state and the previous source token) and the context and question
        segments."""
        if attention_mask is None:
            attention_mask = (source_ids != self.config.pad_token_id).long()
        source_previous = self.get_input_embeddings()(torch.nn.functional.pad(
            source_ids[:, :-1], (1, 0), value=self.config.pad_token_id))
        context, question = segments(source_ids, attention_mask, self.config.copy_marker_ids,
                                     self.config.copy_question_first)
        return {"copy_keys": self.copy_head.keys(encoder_states, source_previous),
                "copy_context": context, "copy_question": question}

    def forward(self, input_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None,
                encoder_outputs: Any = None, labels: torch.Tensor | None = None,
                **kwargs: Any) -> Seq2SeqLMOutput:
        source_ids = input_ids if input_ids is not None else getattr(
            encoder_outputs, "source_ids", None)
        if source_ids is None:
            raise ValueError("A copying model needs the source ids: pass input_ids, or "
                             "encoder_outputs from its get_encoder().")
        if decoder_input_ids is None and labels is not None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        if attention_mask is None:
            attention_mask = (source_ids != self.config.pad_token_id).long()
        kwargs.pop("return_dict", None)
        out = super().forward(input_ids=input_ids, attention_mask=attention_mask,  # type: ignore[misc]
                              decoder_input_ids=decoder_input_ids,
                              encoder_outputs=encoder_outputs, return_dict=True, **kwargs)
        encoder_states = out.encoder_last_hidden_state
        source = ({k: getattr(encoder_outputs, k, None)
                   for k in ("copy_keys", "copy_context", "copy_question")}
                  if input_ids is None else {})
        if any(v is None for v in source.values()) or not source:  # not computed with the states
            source = self.copy_source(source_ids, attention_mask, encoder_states)
        g, pointer = self.copy_head(self._copy_states.pop("decoder"),
                                    self.get_input_embeddings()(decoder_input_ids),
                                    encoder_states, source["copy_keys"], source["copy_context"],
                                    source["copy_question"])
        loss = None
        if labels is not None:
            # p(target) alone: the vocabulary softmax at the target and the pointer's mass on
            # the positions holding it; no (batch, steps, vocabulary) mixture is built
            target = labels.clamp(min=0)
            logits = out.logits.float()
            p_vocab = (logits.gather(-1, target.unsqueeze(-1)).squeeze(-1)
                       - torch.logsumexp(logits, -1)).exp()
            p_copy = (pointer * (source_ids.unsqueeze(1) == target.unsqueeze(-1))).sum(-1)
            picked = (g.squeeze(-1) * p_vocab + (1 - g.squeeze(-1)) * p_copy).clamp_min(1e-12)
            keep = labels != -100
            loss = -(picked.log() * keep).sum() / keep.sum().clamp_min(1)
        logits = None
        if labels is None or not self.training:  # training needs the loss only
            from decaqa.network import beam_rows

            logits = mixture(out.logits, g, pointer,
                             beam_rows(source_ids, out.logits.size(0))).clamp_min(1e-30).log()
        # the decoding cache: ``cache`` in transformers >= 5.2x, ``past_key_values`` before
        cache = {k: getattr(out, k, None) for k in CACHE_FIELDS}
        return Seq2SeqLMOutput(loss=loss, logits=logits, **cache,
                               decoder_hidden_states=out.decoder_hidden_states,
                               decoder_attentions=out.decoder_attentions,
                               cross_attentions=out.cross_attentions,
                               encoder_last_hidden_state=encoder_states,
                               encoder_hidden_states=out.encoder_hidden_states,
                               encoder_attentions=out.encoder_attentions)


def mixture(logits: torch.Tensor, g: torch.Tensor, pointer: torch.Tensor,
            source_ids: torch.Tensor) -> torch.Tensor:
    """``g * softmax(logits) + (1 - g) * pointer`` scattered onto the source ids: the answer
    distribution over the vocabulary, (batch, steps, vocabulary), float32."""
    f = torch.float32
    p_copy = torch.zeros(logits.shape, dtype=f, device=logits.device).scatter_add_(
        2, source_ids.unsqueeze(1).expand(-1, pointer.size(1), -1), pointer)
    return g * torch.softmax(logits.to(f), -1) + (1 - g) * p_copy


# -- one registered model type per architecture ---------------------------------------------
class CopyT5Config(T5Config):
    model_type = "decaqa-copy-t5"


class CopyT5ForConditionalGeneration(CopyMixin, T5ForConditionalGeneration):
    config_class = CopyT5Config

    def __init__(self, config: CopyT5Config):
        super().__init__(config)
        self._add_copy_head(config)
        self.post_init()


class CopyBartConfig(BartConfig):
    model_type = "decaqa-copy-bart"


class CopyBartForConditionalGeneration(CopyMixin, BartForConditionalGeneration):
    config_class = CopyBartConfig

    def __init__(self, config: CopyBartConfig):
        super().__init__(config)
        self._add_copy_head(config)
        self.post_init()


COPY_TYPES = {"t5": (CopyT5Config, CopyT5ForConditionalGeneration),
              "bart": (CopyBartConfig, CopyBartForConditionalGeneration)}


def register() -> None:
    """Make `AutoConfig` and `AutoModelForSeq2SeqLM` know the copying types (idempotent)."""
    for config_class, model_class in COPY_TYPES.values():
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModelForSeq2SeqLM.register(config_class, model_class, exist_ok=True)


def copy_types(model_type: str) -> tuple[type, type]:
    """The (config, model) classes of the copying version of ``model_type``."""
    if model_type.startswith("decaqa-copy-"):
        model_type = model_type.removeprefix("decaqa-copy-")
    if model_type not in COPY_TYPES:
        raise ConfigError(f"Copying (model.copy) is built for {', '.join(COPY_TYPES)} models, "
                          f"not '{model_type}'; use one of those or set copy: none.")
    return COPY_TYPES[model_type]


register()
