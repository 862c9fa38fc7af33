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


# -- T5's cross-attention without its zero position bias ----------------------------------------
def stock_twin(lean: torch.nn.Module) -> torch.nn.Module:
    """The same network and weights under transformers' own SDPA."""
    stock = type(lean)(lean.config).eval()
    stock.load_state_dict(lean.state_dict())
    stock.set_attn_implementation("sdpa")
    return stock


@pytest.mark.parametrize("copy", [None, "context+question"])
def test_lean_attention_gives_sdpas_logits_and_answers_bit_for_bit(tok, copy, tmp_path) -> None:
    from decaqa.network import LEAN_ATTENTION, NetworkSettings, build_network

    settings = NetworkSettings(config={**TINY, "num_layers": 2, "dropout_rate": 0.0}, copy=copy)
    torch.manual_seed(0)
    lean = build_network(settings, tok).eval()
    assert lean.config._attn_implementation == LEAN_ATTENTION
    stock = stock_twin(lean)
    batch = tok(["who founded Bousti Bank ?", "Krir Shakeitrourt founded Bousti Bank in 1986 ."
                 " He was 42 years old in 2016 ."], return_tensors="pt", padding=True)
    assert batch.attention_mask.min() == 0  # padded: the cross-attention has a mask to keep
    labels = tok(["Krir Shakeitrourt", "1986"], return_tensors="pt", padding=True).input_ids
    for dtype in (None, torch.bfloat16):  # fp32, and bf16 autocast as a bf16 run answers on a GPU
        with torch.no_grad(), torch.autocast("cpu", dtype=dtype or torch.float32,
                                             enabled=dtype is not None):
            a = lean(**batch, labels=labels)
            b = stock(**batch, labels=labels)
            assert torch.equal(a.logits, b.logits) and torch.equal(a.loss, b.loss)
            assert torch.equal(lean.generate(**batch, max_new_tokens=6),
                               stock.generate(**batch, max_new_tokens=6))
    for net in (lean, stock):  # training: the same gradients, to rounding
        net.zero_grad()
        net.train()(**batch, labels=labels).loss.backward()
    for (name, a), b in zip(lean.named_parameters(), stock.parameters()):
        assert a.grad is not None, name  # the bias's gradient is summed in another order
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7, msg=name)
    lean.eval(), stock.eval()
    # the masks: stock makes one per layer (2 encoder, 2 decoder self, 2 cross); lean makes
    # one per stack and none for the cross-attention
    from transformers.integrations import sdpa_attention

    made = []
    real = sdpa_attention.create_position_bias_mask
    with pytest.MonkeyPatch.context() as mp, torch.no_grad():
        mp.setattr(sdpa_attention, "create_position_bias_mask",
                   lambda *a, **k: made.append(1) or real(*a, **k))
        stock(**batch, labels=labels)
        assert len(made) == 6
        lean(**batch, labels=labels)
        assert len(made) == 6 + 2
    lean.save_pretrained(tmp_path)  # the export names no decaqa attention: plain transformers
    assert LEAN_ATTENTION not in (tmp_path / "config.json").read_text()


@pytest.mark.parametrize("scaling", [1.0, None, 0.5])
def test_attention_under_a_learnt_mask_is_sdpas_forward_and_backward(scaling) -> None:
    from decaqa.network import _attend_learnt_mask

    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 7, 8, requires_grad=True) for _ in range(3))
    bias = torch.randn(1, 4, 7, 7, requires_grad=True)
    pad = torch.zeros(3, 1, 1, 7)
    pad[0, ..., 5:] = torch.finfo(torch.float32).min  # T5 fills with the minimum, not -inf
    module = torch.nn.Module()
    outs, grads = [], []
    for ours in (True, False):
        mask = bias + pad
        if ours:
            out = _attend_learnt_mask(module, q, k, v, mask, scaling=scaling)
        else:
            out = torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, scale=scaling).transpose(1, 2)
        assert out.shape == (3, 7, 4, 8)  # as SDPA's caller returns it
        out.pow(2).sum().backward()
        outs.append(out.detach())
        grads.append([t.grad.clone() for t in (q, k, v, bias)])
        for t in (q, k, v, bias):
            t.grad = None
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_bf16_training_keeps_cpu_attention_backward_out_of_half_precision(tok) -> None:
    """Under bf16 autocast, SDPA's CPU kernels are 5-6x slower backward in bf16 than in
    float32 (flash) or take the math path (a learnt mask): decaqa's T5 gives neither a
    half-precision tensor that needs a gradient, and its gradients stay those of float32
    to bf16's precision."""
    from decaqa.network import NetworkSettings, build_network

    settings = NetworkSettings(config={**TINY, "num_layers": 2, "dropout_rate": 0.0},
                               copy="context+question")
    torch.manual_seed(0)
    lean = build_network(settings, tok).train()
    batch = tok(["who founded Bousti Bank ?", "Krir Shakeitrourt founded Bousti Bank in 1986 ."
                 " He was 42 years old in 2016 ."], return_tensors="pt", padding=True)
    labels = tok(["Krir Shakeitrourt", "1986"], return_tensors="pt", padding=True).input_ids
    real = torch.nn.functional.scaled_dot_product_attention
    seen = []

    def spy(query, *args, **kwargs):
        seen.append((query.dtype, query.requires_grad))
        return real(query, *args, **kwargs)

    grads = []
    for dtype in (torch.float32, torch.bfloat16):
        lean.zero_grad()
        with pytest.MonkeyPatch.context() as mp, \
                torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            mp.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
            loss = lean(**batch, labels=labels).loss
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in lean.named_parameters()})
    assert seen and all(d == torch.float32 for d, _ in seen)  # the cross-attention: fp32 SDPA
    assert len(seen) == 2 * 2  # 2 decoder layers, twice; the self-attention took matmuls
    # bf16's own error: 2.6% of the gradients' norm here, transformers' SDPA under bf16 2.0%
    error = sum((grads[1][n] - g).norm() ** 2 for n, g in grads[0].items()) ** 0.5
    assert error / sum(g.norm() ** 2 for g in grads[0].values()) ** 0.5 < 0.05


def test_lean_attention_leaves_other_architectures_and_kernels_alone(tok) -> None:
    from decaqa.network import lean_attention

    bart = build_from_config({"model_type": "bart", "d_model": 32, "encoder_layers": 1,
                              "decoder_layers": 1, "encoder_attention_heads": 2,
                              "decoder_attention_heads": 2, "encoder_ffn_dim": 64,
                              "decoder_ffn_dim": 64, "max_position_embeddings": 64}, tok)
    assert bart.config._attn_implementation == "sdpa"
    eager = build_from_config(TINY, tok)
    eager.set_attn_implementation("eager")
    assert lean_attention(eager).config._attn_implementation == "eager"


def test_decoding_steps_of_many_rows_take_matmuls_and_answer_as_sdpa_does(tok, monkeypatch
                                                                         ) -> None:
    from decaqa import network
    from decaqa.answer import greedy_shrinking
    from decaqa.network import _MATMUL_FROM, NetworkSettings, build_network

    torch.manual_seed(0)
    lean = build_network(NetworkSettings(config={**TINY, "num_layers": 2}, copy="context"),
                         tok).eval()
    stock = stock_twin(lean)
    words = TEXT[0].split()
    texts = [" ".join(words[: 2 + i % 9]) for i in range(_MATMUL_FROM // TINY["num_heads"])]
    batch = tok(texts, return_tensors="pt", padding=True)  # rows x heads = the threshold
    taken = []
    real = network._one_query
    monkeypatch.setattr(network, "_one_query", lambda *a: taken.append(a[0].shape) or real(*a))
    steps = torch.tensor([[tok.pad_token_id, 5]] * len(texts))
    with torch.no_grad():
        cache_free = [net(**batch, decoder_input_ids=steps[:, :1]).logits for net in (lean, stock)]
        torch.testing.assert_close(*cache_free, rtol=1e-5, atol=1e-5)  # float32: to rounding
        answers = [greedy_shrinking(net, batch.input_ids, batch.attention_mask, 8)
                   for net in (lean, stock)]
    assert answers[0] == answers[1]
    assert taken and all(q[0] * q[1] >= _MATMUL_FROM and q[2] == 1 for q in taken)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # bf16: near, not equal
        a, b = (net(**batch, decoder_input_ids=steps[:, :1]).logits for net in (lean, stock))
    assert (a - b).abs().max() < 0.1


# -- beam search keeps the cross-attention's keys where they are ---------------------------------
@pytest.mark.parametrize("arch", ["t5", "t5+copy", "bart"])
def test_beam_search_leaves_the_cross_attention_cache_alone_and_answers_as_generate(
        tok, arch) -> None:
    import copy as copying

    from transformers.cache_utils import DynamicLayer

    from decaqa import copying as copying_head
    from decaqa import network
    from decaqa.network import NetworkSettings, beam_search_rows, build_network

    # 4 heads: 2 questions x 4 beams x 4 heads = 32 one-query rows, the matmuls' threshold
    config = ({**TINY, "num_layers": 2, "num_heads": 4, "d_kv": 8, "dropout_rate": 0.0}
              if arch != "bart" else
              {"model_type": "bart", "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
               "encoder_attention_heads": 2, "decoder_attention_heads": 2,
               "encoder_ffn_dim": 64, "decoder_ffn_dim": 64, "max_position_embeddings": 64,
               "dropout": 0.0})
    torch.manual_seed(0)
    lean = build_network(NetworkSettings(config=config, copy="context+question"
                                         if arch == "t5+copy" else None), tok).eval()
    assert "_reorder_cache" in vars(lean)
    stock = copying.deepcopy(lean)
    del stock._reorder_cache                     # transformers' own: every cache follows
    batch = tok(["who founded Bousti Bank ?", "Krir Shakeitrourt founded Bousti Bank in 1986 ."
                 " He was 42 years old in 2016 ."], return_tensors="pt", padding=True)
    gathered = []
    real = DynamicLayer.reorder_cache
    with pytest.MonkeyPatch.context() as mp, torch.no_grad():
        mp.setattr(DynamicLayer, "reorder_cache",
                   lambda layer, idx: gathered.append(layer.keys.shape[2]) or real(layer, idx))
        grouped = []  # the calls that read a question's source once for its beams
        one_query, matmul = network._one_query, copying_head._matmul
        mp.setattr(network, "_one_query", lambda *a: (a[5] > 1 and grouped.append("attention"))
                   or one_query(*a))
        mp.setattr(copying_head, "_matmul", lambda a, b, shared, transpose=False: (
            shared > 1 and grouped.append("pointer")) or matmul(a, b, shared, transpose))
        out = {}
        for name, net, rows in (("stock", stock, 1), ("lean", lean, 1), ("grouped", lean, 4)):
            gathered.clear()
            with beam_search_rows(rows):  # 4: the beams of a question read its source once
                out[name] = net.generate(**batch, num_beams=4, num_return_sequences=4,
                                         max_new_tokens=8, output_scores=True,
                                         return_dict_in_generate=True)
            out[name + "_gathered"] = list(gathered)
    if arch == "t5":
        assert set(grouped) == {"attention"}
    elif arch == "t5+copy":
        assert set(grouped) == {"attention", "pointer"}
    else:
        assert not grouped  # BART's attention is transformers' own
    for name in ("lean", "grouped"):
        assert torch.equal(out[name].sequences, out["stock"].sequences)
        torch.testing.assert_close(out[name].sequences_scores, out["stock"].sequences_scores,
                                   rtol=0 if name == "lean" else 1e-6,
                                   atol=0 if name == "lean" else 1e-6)
    source = batch.input_ids.shape[1]
    assert source > 8 + 1                        # longer than any decoder cache here
    # stock gathers the decoder's own cache (as long as the answer so far) and the
    # cross-attention's (as long as the source) in both layers at every step; lean gathers
    # only the decoder's own
    steps = len(out["lean_gathered"]) // 2
    assert steps >= 3 and max(out["lean_gathered"]) < source
    assert sorted(out["stock_gathered"]) == sorted(out["lean_gathered"] + [source] * 2 * steps)


def test_each_questions_first_beam_is_copied_once_per_beam_search() -> None:
    from decaqa.network import beam_search_rows, first_rows

    t = torch.arange(24.0).view(6, 2, 2)  # 3 questions x 2 beams
    with torch.inference_mode():          # as evaluate answers: no version counter to read
        u = torch.arange(24.0).view(6, 2, 2)
        with beam_search_rows(2):
            once = first_rows(t, 2)
            assert torch.equal(once, t[::2]) and once.is_contiguous()
            assert first_rows(t, 2) is once              # kept: no copy per decoding step
            assert torch.equal(first_rows(t, 3), t[::3])  # another width: made anew
            assert torch.equal(first_rows(u, 2), u[::2]) and first_rows(u, 2) is not once
        with beam_search_rows(2):                         # the next generate: made anew
            assert torch.equal(first_rows(t, 2), t[::2]) and first_rows(t, 2) is not once
    outside = first_rows(t, 2)                            # outside beam search: not kept
    assert torch.equal(outside, t[::2]) and first_rows(t, 2) is not outside
