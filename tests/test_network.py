"""The network builder (decaqa.network): every architecture from scratch takes its special
ids from the tokenizer, and a bad model config is one sentence."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from decaqa.errors import ConfigError
from decaqa.network import build_from_config
from decaqa.tokenizer import train_tokenizer

TEXT = ["Krir Shakeitrourt founded Bousti Bank in 1986 .", "He was 42 years old in 2016 ."] * 20


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXT, 120)


@pytest.mark.parametrize("config", [
    {"d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "d_kv": 16},
    {"model_type": "bart", "d_model": 32, "encoder_layers": 1, "decoder_layers": 1,
     "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 64,
     "decoder_ffn_dim": 64, "max_position_embeddings": 64},
    {"model_type": "pegasus", "d_model": 32, "encoder_layers": 1, "decoder_layers": 1,
     "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 64,
     "decoder_ffn_dim": 64, "max_position_embeddings": 64},
])
def test_from_scratch_architectures_use_the_tokenizers_ids(tok, config, tmp_path) -> None:
    model = build_from_config(config, tok)
    cfg = model.config
    assert cfg.model_type == config.get("model_type", "t5")
    assert cfg.vocab_size == len(tok)
    assert (cfg.pad_token_id, cfg.eos_token_id, cfg.decoder_start_token_id) == (
        tok.pad_token_id, tok.eos_token_id, tok.pad_token_id)
    batch = tok(["who founded Bousti Bank ?"], return_tensors="pt")
    labels = tok(["Krir Shakeitrourt"], return_tensors="pt").input_ids
    assert model(**batch, labels=labels).loss.item() > 0
    model.save_pretrained(tmp_path)  # a plain transformers model: reloads by Auto class
    again = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    model.eval(), again.eval()
    with torch.no_grad():
        assert torch.equal(model.generate(**batch, max_new_tokens=4),
                           again.generate(**batch, max_new_tokens=4))


def test_bad_model_config_is_one_sentence(tok) -> None:
    with pytest.raises(ConfigError, match="model_type"):
        build_from_config({"model_type": "no_such_model", "d_model": 32}, tok)


# -- torch.compile, where it works --------------------------------------------------------------
TINY = {"d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "d_kv": 16}


def test_without_a_working_compiler_the_network_stays_eager_and_says_why(tok, monkeypatch,
                                                                        capsys) -> None:
    from decaqa import network

    monkeypatch.setattr(network, "compile_available",
                        lambda: (False, "InvalidCxxCompiler: No working C++ compiler found"))
    model = build_from_config(TINY, tok)
    assert network.compile_network(model) is False
    assert model._compiled_call_impl is None                  # still the eager module
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["decaqa: torch.compile does not work here (InvalidCxxCompiler: No working C++ "
                   "compiler found); training without it."]


@pytest.mark.slow
def test_a_compiled_network_gives_the_eager_loss_and_keeps_its_weight_names(tok) -> None:
    from decaqa.network import compile_available, compile_network

    if not compile_available()[0]:
        pytest.skip("torch.compile does not work on this machine")
    torch.manual_seed(0)
    model = build_from_config(TINY, tok).eval()            # no dropout: one loss to compare
    names = list(model.state_dict())
    batch = tok(["who founded Bousti Bank ?", "how old was he ?"], return_tensors="pt",
                padding=True)
    labels = tok(["Krir Shakeitrourt", "42"], return_tensors="pt", padding=True).input_ids
    eager = model(**batch, labels=labels).loss
    assert compile_network(model) is True
    assert model._compiled_call_impl is not None
    assert torch.allclose(model(**batch, labels=labels).loss, eager, atol=1e-5)
    assert list(model.state_dict()) == names                  # checkpoints unchanged
