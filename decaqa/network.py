"""The network: any `AutoModelForSeq2SeqLM`, loaded pretrained or built from a config,
optionally with the pointer-generator head that copies from the context (`decaqa.copying`).

Kept apart from the LightningModule (`decaqa.model`, the system that trains it) so that
loading a model to ask it questions (`decaqa.load`) needs transformers only, not Lightning.
`build_network` is the one builder: the run, the export of sharded weights and a checkpoint
read back (`decaqa.store`) all call it with the run's `NetworkSettings` and, when the run
trains adapters, its `decaqa.adapters.Adapters`; `load_weights` is the one function that puts
a module's saved weights into it.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import sys
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from transformers import (AutoConfig, AutoModelForSeq2SeqLM, PreTrainedModel,
                          PreTrainedTokenizerBase)

from decaqa.errors import CheckpointError, ConfigError, DecaqaError, remote_code_refused


def load_pretrained(name_or_path: str, copy: dict[str, Any] | None = None,
                    trust_remote_code: bool = False) -> PreTrainedModel:
    """A pretrained seq2seq model; a folder that is not a model gets one clear sentence, and
    one that asks to run its own code is refused unless ``trust_remote_code``.

    ``copy``: the copy head's settings (`build_network`); a plain model gets a fresh head over
    its pretrained weights, a model that copies already keeps its own.
    """
    trust = {"trust_remote_code": trust_remote_code}
    import decaqa.copying  # noqa: F401 - its model types, registered with the Auto classes
    from decaqa.quiet import transformer_bars

    transformer_bars()  # no progress bar for weights already on disk
    net: PreTrainedModel | None = None

    try:
        if copy:
            from decaqa.copying import copy_types

            base = AutoConfig.from_pretrained(name_or_path, **trust)
            if not base.model_type.startswith("decaqa-copy-"):
                config_class, model_class = copy_types(base.model_type)
                fields = {k: v for k, v in base.to_dict().items()
                          if k not in ("model_type", "architectures")}
                config = config_class(**fields, **copy)
                net = model_class.from_pretrained(name_or_path, config=config)
        if net is None:  # a plain model, or one that copies already
            net = AutoModelForSeq2SeqLM.from_pretrained(name_or_path, **trust)
    except DecaqaError:
        raise
    except Exception as err:
        remote_code_refused(name_or_path, err)
        raise CheckpointError(f"'{name_or_path}' is not a seq2seq model ({type(err).__name__}); "
                              "give a hub name or a folder written by save_pretrained / decaqa fit "
                              "(runs/<name>/model).") from err
    return lean(net)


@dataclass(frozen=True)
class NetworkSettings:
    """What the network is: pretrained (``model``) or from scratch (``config``), the copy head
    (``copy``: ``context``, ``context+question`` or None) with the input format its segment
    marker comes from, and whether the model may run code of its own."""

    model: str | None = None
    config: dict[str, Any] | None = None
    copy: str | None = None
    input_format: str | None = None
    trust_remote_code: bool = False

    @classmethod
    def of(cls, hparams: Mapping[str, Any], input_format: str | None = None
           ) -> "NetworkSettings":
        """From a run's hyperparameters (`Seq2SeqQA`'s, live or read from a checkpoint)."""
        return cls(hparams.get("model"), hparams.get("config"), hparams.get("copy"),
                   input_format, bool(hparams.get("trust_remote_code")))


# -- T5's attention masks, each made once ------------------------------------------------------
LEAN_ATTENTION = "decaqa_sdpa"
_ZERO_BIAS = "decaqa_zero_position_bias"
_COMBINED = "_decaqa_bias_and_mask"


def _lean_sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
               value: torch.Tensor, attention_mask: torch.Tensor | None, **kwargs: Any) -> Any:
    """transformers' SDPA attention with T5's masks made once instead of in every layer.

    transformers adds each layer's position bias to its padding mask, a (batch, heads,
    queries, keys) tensor. Here a layer marked as having no position bias (T5's
    cross-attention, whose bias is a tensor of zeros) hands SDPA the padding mask as it is,
    and the sum of bias and mask made by a stack's first layer is kept on the bias tensor,
    which T5 hands unchanged to the stack's other layers, for them to reuse. SDPA is given
    the same numbers as before, so the outputs are the same to the bit (the gradient of the
    position bias is summed once over the layers instead of layer by layer: the same to
    rounding). Skipped while torch.compile traces (no attribute on a traced tensor).

    In training on a CPU, two cases leave SDPA's kernels, which are slow there backward:
    a learnt mask (`_attend_learnt_mask`), and a half-precision query, whose kernel runs in
    float32."""
    from transformers.integrations.sdpa_attention import (create_position_bias_mask,
                                                          sdpa_attention_forward)

    bias = kwargs.get("position_bias")
    if getattr(module, _ZERO_BIAS, False):
        kwargs["position_bias"] = None
    elif bias is not None and not torch.compiler.is_compiling():
        # transformers' rule: without a padding mask a causal layer's bias gets the causal mask
        causal = (attention_mask is None and query.shape[2] > 1
                  and bool(kwargs.get("is_causal", getattr(module, "is_causal", True))))
        if attention_mask is not None or (causal and key.shape[2] == query.shape[2]):
            kept = getattr(bias, _COMBINED, None)
            if (kept is None or kept[0] is not attention_mask or kept[1] != key.dtype
                    or kept[2] != causal):
                kept = (attention_mask, key.dtype, causal,
                        create_position_bias_mask(bias, attention_mask, causal, query, key))
                setattr(bias, _COMBINED, kept)
            kwargs["position_bias"], attention_mask = None, kept[3]
    if query.shape[2] == 1 and query.shape[0] * query.shape[1] >= _MATMUL_FROM and \
            not module.training and not torch.compiler.is_compiling():
        bias = kwargs.get("position_bias")
        mask = (attention_mask if bias is None
                else create_position_bias_mask(bias, attention_mask, False, query, key))
        shared = shared_rows(query.shape[0]) if getattr(module, _ZERO_BIAS, False) else 1
        return _one_query(query, key, value, mask, kwargs.get("scaling"), shared), None
    if key.shape[0] != query.shape[0]:  # one row per question (`beam_rows`): one per beam here
        rows = query.shape[0]
        key, value = beam_rows(key, rows), beam_rows(value, rows)
        if attention_mask is not None and attention_mask.shape[0] not in (1, rows):
            attention_mask = beam_rows(attention_mask, rows)
    cpu_training = (query.device.type == "cpu" and torch.is_grad_enabled()
                    and not torch.compiler.is_compiling())
    if cpu_training and attention_mask is not None and attention_mask.requires_grad:
        return _attend_learnt_mask(module, query, key, value, attention_mask, **kwargs), None
    if cpu_training and query.requires_grad and query.dtype in (torch.bfloat16, torch.float16):
        # PyTorch's CPU flash kernel runs backward in half precision several times slower
        # than in float32: T5's cross-attention under bf16 autocast, one layer's forward and
        # backward (20 rows, 8 heads, 12 x 99 tokens), took 14.8 ms against 5.0 with the
        # kernel in float32, casts included (`python benchmarks/kernel_choice.py`, its first
        # table; forward alone, bf16 is as fast)
        if attention_mask is not None and attention_mask.is_floating_point():
            attention_mask = attention_mask.float()
        with torch.autocast("cpu", enabled=False):
            out, weights = sdpa_attention_forward(module, query.float(), key.float(),
                                                  value.float(), attention_mask, **kwargs)
        return out.to(query.dtype), weights
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _attend_learnt_mask(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                        value: torch.Tensor, mask: torch.Tensor, scaling: float | None = None,
                        dropout: float = 0.0, **_: Any) -> torch.Tensor:
    """Attention under a mask that is learnt (T5's position bias, in training): two matmuls
    and a softmax taken in float32, returned as SDPA's caller returns it.

    SDPA takes its math path for such a mask, whose softmax checks every row for one that is
    wholly masked (T5's masks fill with the dtype's minimum, so none is). Forward and
    backward of one layer (20 rows, 8 heads, 99 x 99 tokens), on the 2-core Xeon: 15.0 ms
    against SDPA's 18.5 in float32, 9.7 against 18.1 under bf16 autocast
    (`python benchmarks/kernel_choice.py`, its first table). The same sums, to rounding;
    in float32 the same to the bit."""
    scores = torch.matmul(query, key.transpose(-1, -2))
    if scaling is None:
        scores = scores / math.sqrt(query.shape[-1])
    elif scaling != 1.0:
        scores = scores * scaling
    weights = torch.softmax(scores + mask, -1, dtype=torch.float32).to(value.dtype)
    if dropout:
        weights = torch.nn.functional.dropout(weights, dropout, module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous()


# decoding (one query row) from this many (batch row, head) pairs on: matmuls beat the kernel
_MATMUL_FROM = 32


def _one_query(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
               mask: torch.Tensor | None, scale: float | None, shared: int = 1) -> torch.Tensor:
    """Attention of one query row as two matmuls and a softmax, in float32 whatever the
    autocast, returned as SDPA's caller returns it: (batch, 1, heads, head size).

    PyTorch's CPU flash-attention kernel pays per (batch row, head) pair; with one query row
    (a decoding step) that is most of its time: at 100 rows and 8 heads over 48 keys it takes
    1.0 ms where these matmuls take 0.37 (`benchmarks/kernel_choice.py`). One row alone keeps
    the kernel, which is faster there.

    ``shared``: each run of this many batch rows holds the same keys, values and mask (the
    beams of one question, in cross-attention: `shared_rows`); they are read once for the run,
    its query rows together in one matmul, instead of once per row. The keys, values and mask
    may hold one row per beam or already one per question (`question_rows`)."""
    rows, heads = query.shape[0], query.shape[1]
    if shared > 1 and key.shape[0] in (rows, rows // shared):
        # (questions, beams, heads, size) -> (questions, heads, beams, size): one query row per
        # beam, against its question's keys
        query = query.reshape(rows // shared, shared, heads, -1).transpose(1, 2)
        key, value = question_rows(key, rows, shared), question_rows(value, rows, shared)
        if mask is not None and mask.shape[0] == rows:
            mask = mask[::shared]
    with torch.autocast(query.device.type, enabled=False):
        scores = torch.matmul(query.float(), key.float().transpose(-1, -2))
        if scale is not None and scale != 1.0:
            scores = scores * scale
        elif scale is None:
            scores = scores / math.sqrt(query.shape[-1])
        if mask is not None:
            scores = (scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool
                      else scores + mask.float())
        out = torch.matmul(torch.softmax(scores, -1), value.float()).to(query.dtype)
    if out.shape[0] != rows:  # (questions, heads, beams, size) -> (rows, 1, heads, size)
        return out.transpose(1, 2).reshape(rows, 1, heads, -1)
    return out.transpose(1, 2).contiguous()


# while `decaqa.answer` runs beam search: how many consecutive batch rows share their encoder
# output (the beams of one question), and the copies `first_rows` has made; else (1, None)
_BEAM_ROWS: contextvars.ContextVar[tuple[int, dict | None]] = contextvars.ContextVar(
    "decaqa_beam_rows", default=(1, None))


@contextlib.contextmanager
def beam_search_rows(beams: int) -> Any:
    """Within it, a network's decoding reads each question's encoder-side tensors once for
    its ``beams`` rows (cross-attention here, the pointer in `decaqa.copying`). Only around
    one ``generate(num_beams=beams)`` call, which repeats each question's encoder output for
    its beams, side by side, never mixes beams of two questions, and writes the
    cross-attention's keys and values once, at its first step."""
    token = _BEAM_ROWS.set((max(1, int(beams)), {}))
    try:
        yield
    finally:
        _BEAM_ROWS.reset(token)


def shared_rows(rows: int) -> int:
    """How many consecutive rows of a batch of ``rows`` share their encoder output: the beams
    of one question under `beam_search_rows`, else 1."""
    shared = _BEAM_ROWS.get()[0]
    return shared if shared > 1 and rows % shared == 0 else 1


def first_rows(t: torch.Tensor, shared: int) -> torch.Tensor:
    """Every ``shared``-th row of ``t`` (each question's first beam), contiguous. Within
    `beam_search_rows` made once per tensor, as beam search reads the same encoder-side
    tensors (the cross-attention cache, the encoder's output) at every step; a strided view
    instead would be copied by every matmul that reads it."""
    kept = _BEAM_ROWS.get()[1]
    if kept is None:
        return t[::shared].contiguous()
    hit = kept.get(id(t))  # the tensor is held in ``kept``, so its id is not reused meanwhile
    if hit is None or hit[0] is not t or hit[1] != shared:
        hit = kept[id(t)] = (t, shared, t[::shared].contiguous())
    return hit[2]


def question_rows(t: torch.Tensor, rows: int, shared: int) -> torch.Tensor:
    """One row per question of a beam batch of ``rows`` rows, ``shared`` beams each: ``t``
    itself where it holds one row per question already (the encoder side of
    `decaqa.answer.beam_shrinking`), else its first beams' rows (`first_rows`)."""
    return t if t.shape[0] * shared == rows else first_rows(t, shared)


def beam_rows(t: torch.Tensor, rows: int) -> torch.Tensor:
    """One row per beam: ``t``'s rows repeated for the beams of a batch of ``rows`` rows where
    it holds one per question (for what reads every row: a mask, the source ids)."""
    return t if t.shape[0] == rows else t.repeat_interleave(rows // t.shape[0], dim=0)


def questions_once(net: PreTrainedModel) -> bool:
    """Whether ``net`` decodes beams from one encoder row per question (`question_rows`):
    decaqa's T5 attention (`lean_attention`), whose cross-attention is the only reader of
    the encoder's states (with the copy head's pointer, which reads them the same way)."""
    return (getattr(net.config, "_attn_implementation", None) == LEAN_ATTENTION
            and getattr(net.config, "is_encoder_decoder", False))


def lean_attention(net: PreTrainedModel) -> PreTrainedModel:
    """Answer a T5's attention with `_lean_sdpa` (where the network uses SDPA), its
    cross-attention layers marked as having no position bias; other networks are left as
    they are. Not written into the export: a saved model loads in plain transformers."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if getattr(net.config, "_attn_implementation", None) not in ("sdpa", LEAN_ATTENTION):
        return net
    marked = 0
    for module in net.modules():
        if type(module).__name__ == "T5LayerCrossAttention":
            setattr(module.EncDecAttention, _ZERO_BIAS, True)
            marked += 1
    if marked:
        AttentionInterface.register(LEAN_ATTENTION, _lean_sdpa)
        AttentionMaskInterface.register(LEAN_ATTENTION, sdpa_mask)  # SDPA's own masks
        net.set_attn_implementation(LEAN_ATTENTION)
    return net


# -- beam search without copying the encoder's keys at every step ------------------------------
def _reorder_self_attention(cache: Any, beam_idx: torch.LongTensor) -> Any:
    """generate's beam step for an encoder-decoder cache: only the decoder's own keys and
    values follow the beams; the cross-attention's stay where they are.

    At every step beam search gathers each cache row from the beam it continues. A beam only
    ever continues a beam of the same question, and every beam of a question holds the same
    cross-attention keys and values (made from the same encoder output, repeated per beam),
    so gathering them copies every layer's (rows x beams, heads, source, head size) tensors
    to the same numbers. transformers does it anyway; the profiler put 34% of a batched
    4-beam `ask_batch` there. The tokens are the same (tested against generate's)."""
    from transformers.cache_utils import EncoderDecoderCache

    if isinstance(cache, EncoderDecoderCache):
        cache.self_attention_cache.reorder_cache(beam_idx)
    else:
        cache.reorder_cache(beam_idx)
    return cache


def lean_beams(net: PreTrainedModel) -> PreTrainedModel:
    """Beam search on an encoder-decoder ``net`` with `_reorder_self_attention` (generate
    calls a model's ``_reorder_cache`` where it has one); other networks are left alone.
    Not written into the export."""
    if getattr(net.config, "is_encoder_decoder", False) and not hasattr(net, "_reorder_cache"):
        net._reorder_cache = _reorder_self_attention
    return net


def lean(net: PreTrainedModel) -> PreTrainedModel:
    """What decaqa changes in every network it builds or loads, none of it exported:
    `lean_attention` and `lean_beams`."""
    return lean_beams(lean_attention(net))


def build_network(settings: NetworkSettings, tokenizer: PreTrainedTokenizerBase,
                  adapters: Any = None) -> PreTrainedModel:
    """The run's network, with ``adapters`` (`decaqa.adapters.Adapters`, fresh) over it when
    the run trains adapters: the one place a network is assembled."""
    from decaqa.copying import check_mode

    mode = check_mode(settings.copy)
    extra: dict[str, Any] = {}
    if mode is not None:
        from decaqa.copying import segment_marker
        from decaqa.example import DEFAULT_FORMAT

        marker, question_first = segment_marker(settings.input_format or DEFAULT_FORMAT,
                                                tokenizer)
        extra = dict(copy=mode, copy_marker_ids=marker, copy_question_first=question_first)
    if settings.model:
        net = load_pretrained(settings.model, extra, settings.trust_remote_code)
    else:
        net = build_from_config(settings.config, tokenizer, extra)
    return adapters.attach(net) if adapters is not None else net


def compile_available() -> tuple[bool, str]:
    """Whether torch.compile works on this machine (inductor needs a C++ compiler on a CPU, a
    supported GPU elsewhere), and if not, why: one tiny function compiled and run."""
    try:
        torch.compile(lambda x: x * 2 + 1, dynamic=False)(torch.ones(3))
        return True, "ok"
    except Exception as error:  # no compiler, an unsupported platform or Python...
        return False, f"{type(error).__name__}: {str(error).strip().splitlines()[0][:160]}"


def compile_network(net: torch.nn.Module) -> bool:
    """Compile ``net`` in place (``Module.compile``: its weights and their names stay as they
    are, so checkpoints and exports do not change) with dynamic shapes, as every batch has
    lengths of its own. Where torch.compile does not work here, say why in one line and leave
    the network eager. Returns whether it compiled."""
    ok, why = compile_available()
    if not ok:
        print(f"decaqa: torch.compile does not work here ({why}); training without it.",
              file=sys.stderr)
        return False
    net.compile(dynamic=True)
    return True


def load_weights(net: torch.nn.Module, state: Mapping[str, torch.Tensor],
                 adapters: Any = None, prefix: str = "model.") -> torch.nn.Module:
    """Put a module's saved weights (keys under ``prefix``, as the LightningModule names
    them) into ``net``; with adapters the state holds the adapters' weights alone."""
    own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    net.load_state_dict(own, strict=adapters is None)
    return net


def build_from_config(config: dict[str, Any] | None,
                      tokenizer: PreTrainedTokenizerBase,
                      copy: dict[str, Any] | None = None) -> PreTrainedModel:
    """A seq2seq model trained from scratch, sized by ``config`` and the tokenizer's vocabulary.

    ``model_type`` picks the architecture (any type `AutoModelForSeq2SeqLM` knows: t5, bart,
    pegasus, marian, ...; default t5); the other keys are fields of that type's config. The
    special-token ids always come from the tokenizer, so generation stops where training did.
    ``copy``: the copy head's settings (`build_network`), to build that type's copying model.
    """
    fields = dict(config or {})
    model_type = fields.pop("model_type", "t5")
    ids = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
               eos_token_id=tokenizer.eos_token_id,
               decoder_start_token_id=tokenizer.pad_token_id)
    if model_type != "t5":
        ids.update(bos_token_id=None, forced_bos_token_id=None,
                   forced_eos_token_id=tokenizer.eos_token_id)
    fields.update(ids)
    if copy:
        from decaqa.copying import copy_types

        config_class, model_class = copy_types(model_type)
    try:
        net = (model_class(config_class(**fields, **copy)) if copy else
               AutoModelForSeq2SeqLM.from_config(AutoConfig.for_model(model_type, **fields)))
    except Exception as err:
        raise ConfigError(f"Bad model config {config} ({type(err).__name__}: {err}); give "
                          "`model_type` (t5, bart, pegasus, ...) and fields of its config, such "
                          "as d_model, d_ff, num_layers, num_heads for t5.") from err
    return lean(net)
