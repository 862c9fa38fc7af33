"""The network: any `AutoModelForSeq2SeqLM`, loaded pretrained or built from a config,
optionally with the pointer-generator head that copies from the context (`decaqa.copying`).

Kept apart from the LightningModule (`decaqa.model`, the system that trains it) so that
loading a model to ask it questions (`decaqa.load`) needs transformers only, not Lightning.
`build_network` is the one builder: the run, a checkpoint read back and `decaqa.load` all
call it with the run's settings.
"""
from __future__ import annotations

from typing import Any

from transformers import (AutoConfig, AutoModelForSeq2SeqLM, PreTrainedModel,
                          PreTrainedTokenizerBase)

from decaqa.errors import CheckpointError, ConfigError, DecaqaError


def remote_code_refused(name_or_path: str, err: Exception) -> None:
    """Say in one sentence that a model asked to run its own code and was refused (raises),
    if ``err`` is that refusal; otherwise return."""
    if "trust_remote_code" in str(err):
        raise CheckpointError(
            f"'{name_or_path}' asks to run code of its own (auto_map in its config), which "
            "decaqa does not run unless told to: if you trust it, load it with "
            "decaqa.load(path, trust_remote_code=True) or set model.trust_remote_code: true."
        ) from err


def load_pretrained(name_or_path: str, copy: dict[str, Any] | None = None,
                    trust_remote_code: bool = False) -> PreTrainedModel:
    """A pretrained seq2seq model; a folder that is not a model gets one clear sentence, and
    one that asks to run its own code is refused unless ``trust_remote_code``.

    ``copy``: the copy head's settings (`build_network`); a plain model gets a fresh head over
    its pretrained weights, a model that copies already keeps its own.
    """
    trust = {"trust_remote_code": trust_remote_code}
    import decaqa.copying  # noqa: F401 - its model types, registered with the Auto classes

    try:
        if copy:
            from decaqa.copying import copy_types

            base = AutoConfig.from_pretrained(name_or_path, **trust)
            if not base.model_type.startswith("decaqa-copy-"):
                config_class, model_class = copy_types(base.model_type)
                fields = {k: v for k, v in base.to_dict().items()
                          if k not in ("model_type", "architectures")}
                config = config_class(**fields, **copy)
                return model_class.from_pretrained(name_or_path, config=config)
        return AutoModelForSeq2SeqLM.from_pretrained(name_or_path, **trust)
    except DecaqaError:
        raise
    except Exception as err:
        remote_code_refused(name_or_path, err)
        raise CheckpointError(f"'{name_or_path}' is not a seq2seq model ({type(err).__name__}); "
                              "give a hub name or a folder written by save_pretrained / decaqa fit "
                              "(runs/<name>/model).") from err


def build_network(model: str | None, config: dict[str, Any] | None,
                  tokenizer: PreTrainedTokenizerBase, copy: str | None = None,
                  input_format: str | None = None,
                  trust_remote_code: bool = False) -> PreTrainedModel:
    """The run's network: pretrained (``model``) or from scratch (``config``), with the copy
    head when ``copy`` names a mode (``context`` or ``context+question``)."""
    from decaqa.copying import check_mode

    mode = check_mode(copy)
    extra: dict[str, Any] = {}
    if mode is not None:
        from decaqa.copying import segment_marker
        from decaqa.example import DEFAULT_FORMAT

        marker, question_first = segment_marker(input_format or DEFAULT_FORMAT, tokenizer)
        extra = dict(copy=mode, copy_marker_ids=marker, copy_question_first=question_first)
    if model:
        return load_pretrained(model, extra, trust_remote_code)
    return build_from_config(config, tokenizer, extra)


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
        if copy:
            return model_class(config_class(**fields, **copy))
        cfg = AutoConfig.for_model(model_type, **fields)
        return AutoModelForSeq2SeqLM.from_config(cfg)
    except Exception as err:
        raise ConfigError(f"Bad model config {config} ({type(err).__name__}: {err}); give "
                          "`model_type` (t5, bart, pegasus, ...) and fields of its config, such "
                          "as d_model, d_ff, num_layers, num_heads for t5.") from err
