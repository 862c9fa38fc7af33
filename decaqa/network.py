"""The network: any `AutoModelForSeq2SeqLM`, loaded pretrained or built from a config.

Kept apart from the LightningModule (`decaqa.model`, the system that trains it) so that
loading a model to ask it questions (`decaqa.load`) needs transformers only, not Lightning.
"""
from __future__ import annotations

from typing import Any

from transformers import (AutoConfig, AutoModelForSeq2SeqLM, PreTrainedModel,
                          PreTrainedTokenizerBase)

from decaqa.errors import CheckpointError, ConfigError


def load_pretrained(name_or_path: str) -> PreTrainedModel:
    """A pretrained seq2seq model; a folder that is not a model gets one clear sentence."""
    try:
        return AutoModelForSeq2SeqLM.from_pretrained(name_or_path)
    except Exception as err:
        raise CheckpointError(f"'{name_or_path}' is not a seq2seq model ({type(err).__name__}); "
                              "give a hub name or a folder written by save_pretrained / decaqa fit "
                              "(runs/<name>/model).") from err


def build_from_config(config: dict[str, Any] | None,
                      tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """A seq2seq model trained from scratch, sized by ``config`` and the tokenizer's vocabulary.

    ``model_type`` picks the architecture (any type `AutoModelForSeq2SeqLM` knows: t5, bart,
    pegasus, marian, ...; default t5); the other keys are fields of that type's config. The
    special-token ids always come from the tokenizer, so generation stops where training did.
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
    try:
        cfg = AutoConfig.for_model(model_type, **fields)
        return AutoModelForSeq2SeqLM.from_config(cfg)
    except Exception as err:
        raise ConfigError(f"Bad model config {config} ({type(err).__name__}: {err}); give "
                          "`model_type` (t5, bart, pegasus, ...) and fields of its config, such "
                          "as d_model, d_ff, num_layers, num_heads for t5.") from err
