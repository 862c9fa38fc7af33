"""The LightningModule (decaqa.model.Seq2SeqQA): its settings refused in one sentence, the
learning-rate schedule by hand, the fused optimiser's rule, answers gathered in data order,
and what it puts into a checkpoint and takes back from one."""
from __future__ import annotations

import math

import pytest
import torch

from decaqa import store
from decaqa.errors import ConfigError
from decaqa.model import Seq2SeqQA, fused_allowed, gather_outputs, lr_factor
from decaqa.tokenizer import from_string, train_tokenizer

TINY = {"d_model": 16, "d_ff": 32, "num_layers": 1, "num_decoder_layers": 1, "num_heads": 2,
        "d_kv": 8}
TEXT = ["question: Is this review negative or positive? context: a fine film", "positive",
        "negative"] * 20


@pytest.mark.parametrize("settings, message", [
    ({}, "needs either `model`"),
    ({"config": TINY, "schedule": "stepwise"}, "Unknown schedule 'stepwise'"),
    ({"config": TINY, "choices": "vote"}, "Unknown choices mode 'vote'"),
    ({"config": TINY, "adapter": {"method": "lora"}}, "Adapters train over a frozen pretrained"),
    ({"config": TINY, "copy": "everything"}, "everything"),
    ({"config": TINY, "num_beams": 0}, r"model.num_beams = 0: beams are whole numbers"),
    ({"config": TINY, "task_beams": {"iwslt": 4, "cnn_dailymail": 0}},
     r"model.task_beams.cnn_dailymail = 0: beams are whole numbers of at least 1"),
    ({"model": "t5-small", "adapter": {"method": "lora", "mode": "routed"},
      "task_beams": {"iwslt": 4}}, r"A routed \(Poly\) adapter answers greedily: peft's Poly "
     r"does not follow beam search, and model.task_beams.iwslt = 4 asks for beams"),
])
def test_bad_settings_are_one_sentence(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Seq2SeqQA(**settings)


def test_the_learning_rate_schedule_by_hand() -> None:
    # 10 warm-up steps of 110: a tenth, ..., whole; then to zero at the end
    assert lr_factor(0, 10, 110, "linear") == pytest.approx(0.1)
    assert lr_factor(9, 10, 110, "linear") == pytest.approx(1.0)
    assert lr_factor(10, 10, 110, "linear") == pytest.approx(1.0)
    assert lr_factor(60, 10, 110, "linear") == pytest.approx(0.5)
    assert lr_factor(110, 10, 110, "linear") == pytest.approx(0.0)
    assert lr_factor(60, 10, 110, "cosine") == pytest.approx(0.5)
    assert lr_factor(35, 10, 110, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor(500, 10, 110, "constant") == 1.0
    assert lr_factor(500, 0, 110, "linear") == 0.0          # past the end: stays at zero


def test_the_fused_optimiser_except_where_a_gradient_scaler_must_unscale_first() -> None:
    assert fused_allowed("32-true", 1.0) and fused_allowed("bf16-mixed", None)
    assert fused_allowed("bf16-mixed", 1.0)          # clipped by the module (no scaler)
    assert not fused_allowed("16-mixed", 0.5) and fused_allowed("16-mixed", None)


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_a_bf16_run_clips_the_gradients_of_the_fused_optimiser(algorithm: str) -> None:
    """Lightning's mixed-precision plugin refuses to clip for a fused optimiser; under
    bf16-mixed the module clips itself, exactly as torch's clip functions do."""
    import types

    module = tiny_module()
    module.trainer = types.SimpleNamespace(precision="bf16-mixed")
    params = [p for p in module.model.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, fused=True)
    generator = torch.Generator().manual_seed(0)
    grads = [torch.randn(p.shape, generator=generator) * 3 for p in params]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    module.configure_gradient_clipping(opt, 0.5, algorithm)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    expected = ([g * min(1.0, 0.5 / (float(norm) + 1e-6)) for g in grads] if algorithm == "norm"
                else [g.clamp(-0.5, 0.5) for g in grads])             # torch's two rules
    for p, e in zip(params, expected):
        assert torch.allclose(p.grad, e)
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad)
                                                  for p in params]))
    if algorithm == "norm":
        assert total == pytest.approx(0.5, rel=1e-4)
    else:
        assert max(float(p.grad.abs().max()) for p in params) <= 0.5


def test_answers_are_gathered_once_each_in_data_order() -> None:
    rows = {"sst2": [(2, "c", "p2"), (0, "a", "p0"), (1, "b", "p1"), (0, "a", "again")]}
    assert gather_outputs(rows) == {"sst2": [(0, "a", "p0"), (1, "b", "p1"), (2, "c", "p2")]}


def tiny_module(**settings) -> Seq2SeqQA:
    torch.manual_seed(0)
    module = Seq2SeqQA(config=TINY, max_new_tokens=6, **settings)
    module.connect(train_tokenizer(TEXT, 80),
                   {"max_source_tokens": 64, "eval_batch_size": 4,
                    "tasks": {"sst2": {"max_new_tokens": 3, "choices": ["negative", "positive"]}}})
    module.configure_model()
    return module


def test_a_checkpoint_holds_the_tokenizer_answering_facts_and_random_state() -> None:
    module = tiny_module()
    ckpt = {"state_dict": {}, "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    assert from_string(ckpt[store.TOKENIZER])("a fine film")["input_ids"] == \
        module.tokenizer("a fine film")["input_ids"]
    info = store.checkpoint_info(ckpt)
    assert info.max_source_tokens == 64 and info.eval_batch_size == 4
    assert info.generation == store.Generation(6, 1) and info.caps == {"sst2": 3}
    expected = torch.rand(3)                              # drawn right after the save
    torch.rand(5)                                         # the stream moves on ...
    module.on_load_checkpoint(ckpt)                       # ... and a resume puts it back
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("mode", ["rank", "rank_mean"])
def test_validation_ranks_a_tasks_choices_when_asked(mode: str) -> None:
    module = tiny_module(choices=mode)
    sources = module.tokenizer(["question: Is this review negative or positive? context: "
                                "a fine film"] * 3)["input_ids"]
    answering = {"task": "sst2", "choices": ["negative", "positive"], "max_new_tokens": 3,
                 "max_rows": 2, "max_tokens": None}
    assert set(module.answer(sources, answering)) <= {"negative", "positive"}
    generated = tiny_module().answer(sources, answering)   # generate: up to the task's cap
    assert all(len(module.tokenizer(a, add_special_tokens=False)["input_ids"]) <= 3
               for a in generated)
