"""The pointer-generator head (decaqa.copying): the mixture's two ends, generation, batching,
export and reload, both architectures, the segments, and that it learns to copy."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

import decaqa
from decaqa.answer import choice_scores, generate_answers
from decaqa.copying import COPY_MODES, segment_marker, segments
from decaqa.errors import ConfigError
from decaqa.example import DEFAULT_FORMAT, format_input
from decaqa.network import NetworkSettings, build_network
from decaqa.tokenizer import train_tokenizer

T5 = {"d_model": 32, "d_ff": 64, "num_layers": 1, "num_decoder_layers": 1, "num_heads": 2,
      "d_kv": 16}
BART = {"model_type": "bart", "d_model": 32, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64,
        "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
        "decoder_attention_heads": 2, "max_position_embeddings": 128}
ARCHS = {"t5": T5, "bart": BART}
PAIRS = [("Who founded Bousti Bank?", "Krir Shak founded Bousti Bank in 1986."),
         ("Where does Ana Bel live?", "Ana Bel lives in Olmora with Tavo."),
         ("Is this review negative or positive?", "a dull film , but brilliant at the end ."),
         ("Who?", "Tavo Brenik was born in Olmora. He works for Kestrel Mills.")]
TEXT = [format_input(q, c) for q, c in PAIRS] * 30


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXT, 200)


def encode(tok, pairs=PAIRS):
    texts = [format_input(q, c) for q, c in pairs]
    return tok(texts, return_tensors="pt", padding=True)


def model_for(tok, arch: str, copy: str | None, seed: int = 0):
    torch.manual_seed(seed)
    return build_network(NetworkSettings(None, ARCHS[arch], copy), tok).eval()


def set_gate(model, value: float) -> None:
    """Force g: the gate's weights to 0, its bias to +-40 (sigmoid = 1 or 0 in float32)."""
    with torch.no_grad():
        model.copy_head.gate.zero_()
        model.copy_head.gate_bias[0] = 40.0 if value == 1 else -40.0


# -- the mixture's two ends ----------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["t5", "bart"])
@pytest.mark.parametrize("copy", COPY_MODES)
def test_gate_one_is_the_plain_model(tok, arch: str, copy: str) -> None:
    copying = model_for(tok, arch, copy)
    set_gate(copying, 1)
    plain = model_for(tok, arch, None)
    missing = plain.load_state_dict({k: v for k, v in copying.state_dict().items()
                                     if not k.startswith("copy_head.")}, strict=False)
    assert not missing.missing_keys
    batch = encode(tok)
    labels = tok(["Krir Shak", "Olmora", "positive", "Olmora"], return_tensors="pt",
                 padding=True).input_ids
    with torch.no_grad():
        ours = copying(**batch, labels=labels)
        theirs = plain(**batch, labels=labels)
    assert torch.allclose(ours.logits, torch.log_softmax(theirs.logits, -1), atol=1e-4)
    # same answers, greedy and beam
    for beams in (1, 3):
        with torch.no_grad():
            a = copying.generate(**batch, max_new_tokens=6, num_beams=beams, do_sample=False)
            b = plain.generate(**batch, max_new_tokens=6, num_beams=beams, do_sample=False)
        assert torch.equal(a, b)


@pytest.mark.parametrize("arch", ["t5", "bart"])
@pytest.mark.parametrize("copy", COPY_MODES)
def test_gate_zero_answers_only_with_source_tokens(tok, arch: str, copy: str) -> None:
    model = model_for(tok, arch, copy)
    set_gate(model, 0)
    batch = encode(tok)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=8, do_sample=False)
    marker, _ = segment_marker(DEFAULT_FORMAT, tok)
    for row, ids in zip(batch.input_ids.tolist(), out.tolist()):
        allowed = set(row)
        if copy == "context":  # the context only: after the marker
            at = next(i for i in range(len(row)) if row[i:i + len(marker)] == marker)
            allowed = set(row[at + len(marker):])
        written = [i for i in ids[1:] if i != tok.pad_token_id]
        assert written and set(written) <= allowed, (tok.convert_ids_to_tokens(written),)


# -- generation paths agree ----------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["t5", "bart"])
def test_batched_and_beam_answers_agree_with_one_by_one(tok, arch: str) -> None:
    model = model_for(tok, arch, "context+question", seed=1)
    sources = [tok(format_input(q, c))["input_ids"] for q, c in PAIRS]
    batched = generate_answers(model, tok, sources, 6, max_rows=4)
    alone = [generate_answers(model, tok, [s], 6)[0] for s in sources]
    assert batched == alone
    beam_batched = generate_answers(model, tok, sources, 6, num_beams=3, max_rows=4)
    beam_alone = [generate_answers(model, tok, [s], 6, num_beams=3)[0] for s in sources]
    assert beam_batched == beam_alone
    # a beam of one is greedy search
    assert generate_answers(model, tok, sources, 6, num_beams=1, max_rows=4) == batched


def test_beam_search_finds_a_likelier_answer_than_greedy(tok) -> None:
    """Beam search ranks by the mixture's log-probabilities: its answer is never less likely,
    under the model's own loss, than greedy's."""
    model = model_for(tok, "t5", "context+question", seed=2)
    batch = encode(tok, PAIRS[:1])
    with torch.no_grad():
        greedy = model.generate(**batch, max_new_tokens=5, do_sample=False)
        beam = model.generate(**batch, max_new_tokens=5, num_beams=4, do_sample=False)

    def logp(seq: torch.Tensor) -> float:
        labels = seq[:, 1:].clone()
        labels[labels == tok.pad_token_id] = -100
        with torch.no_grad():
            out = model(**batch, labels=labels)
        return -out.loss.item() * int((labels != -100).sum())

    assert logp(beam) >= logp(greedy) - 1e-4


def test_rank_classification_scores_are_the_mixtures_log_likelihood(tok) -> None:
    model = model_for(tok, "t5", "context+question", seed=3)
    source = tok(format_input(*PAIRS[2]))["input_ids"]
    scores = choice_scores(model, tok, [source], [["negative", "positive"]])[0]
    batch = encode(tok, PAIRS[2:3])
    for choice, score in zip(["negative", "positive"], scores):
        labels = tok([choice], return_tensors="pt").input_ids
        with torch.no_grad():
            loss = model(**batch, labels=labels).loss.item()
        assert score == pytest.approx(-loss * labels.size(1), abs=1e-4)


def test_bf16_autocast_mixes_in_float32(tok) -> None:
    model = model_for(tok, "t5", "context", seed=4)
    batch = encode(tok)
    labels = tok(["Krir", "Ana", "dull", "Tavo"], return_tensors="pt", padding=True).input_ids
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(**batch, labels=labels)
    assert out.logits.dtype == torch.float32 and torch.isfinite(out.loss)
    assert torch.allclose(out.logits.exp().sum(-1), torch.ones(1), atol=1e-3)


# -- saved and loaded like any model -------------------------------------------------------------
@pytest.mark.parametrize("arch", ["t5", "bart"])
def test_export_reloads_with_identical_generations(tok, arch: str, tmp_path: Path) -> None:
    model = model_for(tok, arch, "context+question", seed=5)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert type(again) is type(model) and again.config.model_type == f"decaqa-copy-{arch}"
    batch = encode(tok)
    with torch.no_grad():
        for beams in (1, 3):
            assert torch.equal(model.generate(**batch, max_new_tokens=6, num_beams=beams),
                               again.generate(**batch, max_new_tokens=6, num_beams=beams))
    qa = decaqa.load(str(tmp_path))
    sources = [tok(format_input(q, c))["input_ids"] for q, c in PAIRS]
    assert qa.ask_batch(PAIRS) == generate_answers(model, tok, sources, qa.max_new_tokens)




def test_a_pretrained_plain_model_gets_a_fresh_head(tok, tmp_path: Path) -> None:
    plain = model_for(tok, "t5", None, seed=7)
    plain.save_pretrained(tmp_path)
    copying = build_network(NetworkSettings(str(tmp_path), None, "context"), tok)
    assert copying.config.model_type == "decaqa-copy-t5"
    for name, value in plain.state_dict().items():
        assert torch.equal(copying.state_dict()[name], value), name
    head = copying.copy_head
    assert all(torch.isfinite(p).all() for p in head.parameters())
    assert head.query.std().item() == pytest.approx(64 ** -0.5, rel=0.3)  # its own init


def test_unknown_mode_and_architecture_are_one_sentence(tok) -> None:
    with pytest.raises(ConfigError, match="context, context\\+question or none"):
        build_network(NetworkSettings(None, T5, "everything"), tok)
    with pytest.raises(ConfigError, match="t5, bart"):
        build_network(NetworkSettings(None, {"model_type": "pegasus", "d_model": 32}, "context"), tok)


# -- segments ------------------------------------------------------------------------------------
def test_segments_split_at_the_marker() -> None:
    ids = torch.tensor([[5, 6, 7, 8, 9, 10, 1, 0],     # q q q [marker] c c </s> pad
                        [5, 7, 8, 9, 1, 0, 0, 0],      # q [marker] c </s>
                        [5, 6, 9, 10, 1, 0, 0, 0]])    # no marker: all context
    mask = (ids != 0).long()
    context, question = segments(ids, mask, [7, 8], question_first=True)
    assert context.int().tolist() == [[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 0, 0, 0],
                                      [1, 1, 1, 1, 1, 0, 0, 0]]
    assert question.int().tolist() == [[1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0],
                                       [0] * 8]
    context, question = segments(ids, mask, [7, 8], question_first=False)
    assert context[0].int().tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert question[0].int().tolist() == [0, 0, 0, 0, 1, 1, 1, 0]


def test_the_marker_comes_from_the_input_format(tok) -> None:
    marker, first = segment_marker(DEFAULT_FORMAT, tok)
    assert tok.convert_ids_to_tokens(marker) == ["▁context", ":"] and first
    marker, first = segment_marker("context: {context} question: {question}", tok)
    assert tok.convert_ids_to_tokens(marker) == ["▁question", ":"] and not first
    assert segment_marker("{question} {context}", tok) == ([], True)


# -- it learns to copy ---------------------------------------------------------------------------
def test_copying_learns_unseen_names_where_the_plain_model_cannot() -> None:
    """A few hundred steps on "who is X's friend?" with invented names: the copying model
    answers names it never saw in training; the plain model of the same size does not."""
    import random

    rng = random.Random(0)
    syll = ["ka", "ro", "mi", "tu", "sen", "dor", "lia", "vek", "pa", "zu", "no", "bri"]

    def name() -> str:
        return "".join(rng.choice(syll) for _ in range(3)).capitalize()

    def row() -> tuple[str, str, str]:
        a, b, c, d = (name() for _ in range(4))
        return (f"Who is {a}'s friend?", f"{c} knows {d}. {a} is a friend of {b}.", b)

    train = [row() for _ in range(400)]
    test = [row() for _ in range(100)]
    tok = train_tokenizer([format_input(q, c) for q, c, _ in train] + [a for *_, a in train],
                          300)
    scores = {}
    for copy in (None, "context"):
        torch.manual_seed(0)
        model = build_network(NetworkSettings(None, T5 | {"d_model": 48, "d_kv": 24}, copy), tok)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        for step in range(300):
            batch = [train[(step * 16 + k) % len(train)] for k in range(16)]
            enc = encode(tok, [(q, c) for q, c, _ in batch])
            labels = tok([a for *_, a in batch], return_tensors="pt", padding=True).input_ids
            labels[labels == tok.pad_token_id] = -100
            loss = model(**enc, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
        sources = [tok(format_input(q, c))["input_ids"] for q, c, _ in test]
        answers = generate_answers(model, tok, sources, 8, max_rows=50)
        scores[copy] = sum(p == a for p, (*_, a) in zip(answers, test)) / len(test)
    assert scores["context"] >= 0.7, scores
    assert scores["context"] >= scores[None] + 0.5, scores
