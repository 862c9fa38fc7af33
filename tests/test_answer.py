"""The one answering path: batching invariants, order, caps, precision, rank classification,
and the same answer whichever way a question is asked (ask, ask_batch, predict, evaluate)."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import torch

import decaqa
from decaqa.answer import (SHED_SHARE, answer, beam_shrinking, choice_scores,
                           generate_answers, greedy_shrinking, plain_decoding, plan_batches,
                           rank_choices, task_cap)
from decaqa.network import beam_search_rows, lean, questions_once
from decaqa.sampling import pad
from decaqa.cli import run
from decaqa.mini_decathlon import read_rows
from decaqa.tasks import get_task, iter_examples

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


# -- plan_batches -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_tokens", [None, 300])
def test_plan_batches_invariants(seed: int, max_tokens: int | None) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 300)
    lengths = [rng.randint(1, 120) for _ in range(n)]
    caps = [rng.choice([3, 16, 90]) for _ in range(n)]
    batches = plan_batches(lengths, max_rows=32, max_tokens=max_tokens, caps=caps)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(n))                      # none lost, none twice
    for b in batches:
        assert 1 <= len(b) <= 32
        assert len({caps[i] for i in b}) == 1                  # one generation cap per batch
        longest = max(lengths[i] for i in b)
        assert lengths[b[0]] == longest                        # longest first
        if max_tokens is not None and len(b) > 1:
            assert longest * len(b) <= max_tokens              # within the token budget


# -- the smoke model, fitted once ---------------------------------------------------------------
def mini_rows(task: str, n: int) -> list[dict]:
    return read_rows(task, "validation")[:n]


def test_answers_come_back_in_input_order(smoke: Path) -> None:
    qa = decaqa.load(str(smoke / "model"))
    rows = mini_rows("squad", 12) + mini_rows("sst2", 12)
    pairs = [(r.get("question", "Is this review negative or positive?"),
              r.get("context", r.get("sentence"))) for r in rows]
    alone = [qa.ask(q, c) for q, c in pairs]
    shuffled = list(range(len(pairs)))
    random.Random(0).shuffle(shuffled)
    batched = qa.ask_batch([pairs[i] for i in shuffled])
    assert batched == [alone[i] for i in shuffled]             # order kept, answers unchanged


def test_per_task_caps_come_from_the_training_answers(smoke: Path) -> None:
    info = json.loads((smoke / "model" / "decaqa.json").read_text())
    caps = {name: t["max_new_tokens"] for name, t in info["tasks"].items()}
    assert all(isinstance(c, int) and c >= 3 for c in caps.values()), caps
    assert caps["sst2"] < 8 < caps["cnn_dailymail"] <= 64      # a label vs a summary
    qa = decaqa.load(str(smoke / "model"))
    assert qa.cap("sst2") == caps["sst2"]
    assert qa.cap(None) == max(qa.max_new_tokens, *caps.values())  # no task: the longest
    tokenizer = qa.tokenizer
    (answer,) = qa.ask_batch([("Is this review negative or positive?", "dull .")], task="sst2")
    assert len(tokenizer(answer, add_special_tokens=False)["input_ids"]) <= caps["sst2"]


def test_ask_equals_evaluate_for_the_same_input(smoke: Path, tmp_path: Path) -> None:
    """The export's recorded settings make `ask` answer exactly as `decaqa evaluate` does."""
    preds = tmp_path / "preds.jsonl"
    assert run(["evaluate", "--model", str(smoke / "model"), "--tasks", "squad,sst2,wikisql",
                "--limit", "10", "--predictions", str(preds)]) == 0
    evaluated = {(r["task"], r["id"]): r["prediction"]
                 for r in map(json.loads, preds.read_text().splitlines())}
    qa = decaqa.load(str(smoke / "model"))
    for task in ("squad", "sst2", "wikisql"):
        for row in qa.predict(task, mini_rows(task, 10)):
            assert row["prediction"] == evaluated[(task, row["id"])], (task, row["id"])


def test_bf16_run_answers_alike_in_ask_and_evaluate(smoke: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "bf16"
    # with gradient clipping, as the quickstart: Lightning cannot clip a fused optimizer's
    # gradients under mixed precision, so such a run must take the plain kernel
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(run_dir),
                "--trainer.precision", "bf16-mixed", "--trainer.gradient_clip_val", "1.0"]) == 0
    qa = decaqa.load(str(run_dir / "model"))
    assert qa.precision == "bf16-mixed"                        # one recorded setting
    preds = tmp_path / "p.jsonl"
    assert run(["evaluate", "--model", str(run_dir / "model"), "--tasks", "squad",
                "--limit", "8", "--predictions", str(preds)]) == 0
    evaluated = {r["id"]: r["prediction"] for r in map(json.loads, preds.read_text().splitlines())}
    for row in qa.predict("squad", mini_rows("squad", 8)):
        assert row["prediction"] == evaluated[row["id"]]
    validated = {r["id"]: r["prediction"]                       # inside fit, under its autocast
                 for r in map(json.loads, (run_dir / "predictions.jsonl").read_text().splitlines())
                 if r["task"] == "squad"}
    assert len(validated) == 8 and validated == evaluated


def test_a_cpu_answers_in_float32_whatever_the_run_trained_in(smoke: Path) -> None:
    """Under bf16 autocast a CPU rounds a row's scores differently at another batch shape, so
    near ties could go one way asked alone and the other in a batch. On a CPU the answering
    path sets the autocast aside: a bf16-mixed run's scores and answers are float32's to the
    bit, inside an outer autocast (as in validation under Lightning) too."""
    qa = decaqa.load(str(smoke / "model"))
    model, tok = qa.model, qa.tokenizer
    sources = qa.encode([("Is this review negative or positive?", "a fine film ."),
                         ("Who?", "Ana Bel lives in Rome."),
                         ("Where does Ana Bel live?", "Ana Bel lives in Rome. Tom lives in Oslo.")])
    choices = [["negative", "positive"], ["Ana Bel", "Rome"], ["Rome", "Oslo", "Ana Bel"]]
    exact = choice_scores(model, tok, sources, choices)
    texts = generate_answers(model, tok, sources, 12)
    rome = tok("Rome")["input_ids"]                            # its tokens and </s>
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # what it sets aside
        half = model(input_ids=torch.tensor([sources[1]]), labels=torch.tensor([rome])).loss
    assert -half.item() * len(rome) != pytest.approx(exact[1][1], abs=1e-6)  # bf16 differs
    assert choice_scores(model, tok, sources, choices, precision="bf16-mixed") == exact
    assert generate_answers(model, tok, sources, 12, precision="bf16-mixed") == texts
    with torch.autocast("cpu", dtype=torch.bfloat16):          # validation's, under Lightning
        assert choice_scores(model, tok, sources, choices) == exact
        assert generate_answers(model, tok, sources, 12) == texts


# -- rank classification ------------------------------------------------------------------------
def test_rank_scores_are_the_choice_log_likelihoods(smoke: Path) -> None:
    qa = decaqa.load(str(smoke / "model"))
    model, tok = qa.model, qa.tokenizer
    sources = qa.encode([("Is this review negative or positive?", "a fine film ."),
                         ("Who?", "Ana Bel lives in Rome.")])
    choices = [["negative", "positive"], ["Ana Bel", "Rome", "nobody at all"]]
    summed = choice_scores(model, tok, sources, choices)
    mean = choice_scores(model, tok, sources, choices, normalize=True)
    for i, (src, opts) in enumerate(zip(sources, choices)):
        for k, choice in enumerate(opts):
            labels = torch.tensor([tok(choice)["input_ids"]])
            with torch.no_grad():
                out = model(input_ids=torch.tensor([src]), labels=labels)
            n = labels.numel()                                  # tokens and the closing </s>
            assert summed[i][k] == pytest.approx(-out.loss.item() * n, abs=1e-3)
            assert mean[i][k] == pytest.approx(-out.loss.item(), abs=1e-4)


def test_rank_always_returns_one_of_the_choices(smoke: Path) -> None:
    qa = decaqa.load(str(smoke / "model"))
    rng = random.Random(1)
    for _ in range(20):
        opts = rng.sample(["yes", "no", "maybe", "entailment", "the green drawer", "x"], 3)
        answer = qa.ask("Which one?", "some text " * rng.randint(1, 30), choices=opts)
        assert answer in opts
        assert qa.ask("Which one?", "text", choices=opts, rank="rank_mean") in opts
    rows = qa.predict("sst2", mini_rows("sst2", 16), choices="rank")
    assert all(r["prediction"] in ("negative", "positive") for r in rows)


def test_evaluate_with_rank_choices(smoke: Path, tmp_path: Path) -> None:
    out, preds = tmp_path / "rank.json", tmp_path / "rank.jsonl"
    assert run(["evaluate", "--model", str(smoke / "model"), "--tasks", "sst2,multinli,squad",
                "--limit", "16", "--choices", "rank", "--output", str(out),
                "--predictions", str(preds)]) == 0
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    for row in rows:
        choices = get_task(row["task"]).choices
        if choices:
            assert row["prediction"] in choices                # always a valid label
    assert json.loads(out.read_text())["provenance"]["choices"] == "rank"


def test_generate_answers_with_no_input() -> None:
    assert generate_answers(None, None, [], 5) == []


# -- greedy decoding that drops the rows that have ended -----------------------------------------
def generate_tokens(model, ids, mask, cap: int, beams: int = 1) -> list[list[int]]:
    """What ``generate`` writes for each row: its tokens after the start token, through the
    first end token (the padding after it dropped)."""
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=cap,
                         num_beams=beams, do_sample=False)
    rows = []
    for row in out[:, 1:].tolist():
        if model.config.eos_token_id in row:
            row = row[:row.index(model.config.eos_token_id) + 1]
        rows.append(row)
    return rows


def end_rows_apart(model, ids, mask, cap: int) -> None:
    """Random weights (so rows write different things) and, as the end token, the token whose
    first appearance in the rows' greedy answers is spread over the most steps: rows end at
    different steps, some not at all."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    for config in (model.config, model.generation_config):
        config.eos_token_id = 10 ** 6                                 # none ends: see all
    with torch.no_grad():
        written = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=cap,
                                 do_sample=False)[:, 1:].tolist()
    firsts = {}
    for row in written:
        for step, token in enumerate(row):
            firsts.setdefault(token, {})
            firsts[token].setdefault(id(row), step)
    best = max(firsts, key=lambda t: len(set(firsts[t].values())))
    for config in (model.config, model.generation_config):
        config.eos_token_id = best


def batch_widths(model):
    """A hook on ``model`` that records how many rows each decoding step computes."""
    widths: list[int] = []
    hook = model.register_forward_pre_hook(
        lambda _, args, kwargs: widths.append(kwargs["decoder_input_ids"].size(0)),
        with_kwargs=True)
    return widths, hook


def check_widths(widths: list[int], shed: float, rows: int, at_share: int = 2) -> None:
    """The batch shrank as ``shed`` says: never, or only by at least ``shed`` of its rows
    (and one row) at a time; at least twice when every ended row leaves at once, and
    ``at_share`` times at a share above 0."""
    shrinks = sum(a > b for a, b in zip(widths, widths[1:]))
    assert widths[0] == rows and widths == sorted(widths, reverse=True)
    assert shrinks == 0 if shed >= 1.0 else shrinks >= (2 if shed == 0.0 else at_share)
    assert all(a - b >= max(1.0, shed * a) for a, b in zip(widths, widths[1:]) if a > b)


# shed at every ended row, at the default share, and never: the same tokens, generate's
SHEDS = [0.0, SHED_SHARE, 1.0]


@pytest.mark.parametrize("shed", SHEDS)
def test_greedy_shrinking_writes_what_generate_writes_with_the_copy_head(
        smoke: Path, shed: float) -> None:
    """Rows that end early leave the batch; every row's tokens are generate's, to the token."""
    qa = decaqa.load(str(smoke / "model"))
    pairs = [(ex.question, ex.context) for task in ("squad", "woz", "cnn_dailymail")
             for ex in iter_examples(get_task(task), mini_rows(task, 16))]
    ids, mask = pad(qa.encode(pairs), qa.tokenizer.pad_token_id, torch.device("cpu"))
    assert plain_decoding(qa.model)
    end_rows_apart(qa.model.eval(), ids, mask, 24)
    with torch.no_grad():
        expected = generate_tokens(qa.model, ids, mask, 24)
    widths, hook = batch_widths(qa.model)
    got = greedy_shrinking(qa.model, ids, mask, 24, shed_share=shed)
    hook.remove()
    assert got == expected
    assert len({len(r) for r in got}) > 2 and min(len(r) for r in got) < 24  # rows did end
    check_widths(widths, shed, len(pairs))
    caps = [(4, 9, 24)[i % 3] for i in range(len(pairs))]       # one cap per row
    got = greedy_shrinking(qa.model, ids, mask, caps, shed_share=shed)
    for cap in set(caps):
        with torch.no_grad():
            expected = generate_tokens(qa.model, ids, mask, cap)
        assert [got[i] for i in range(len(caps)) if caps[i] == cap] == \
            [expected[i] for i in range(len(caps)) if caps[i] == cap]
    assert max(len(got[i]) for i in range(len(caps)) if caps[i] == 4) == 4


@pytest.mark.parametrize("shed", SHEDS)
def test_greedy_shrinking_writes_what_generate_writes_without_the_copy_head(shed: float
                                                                             ) -> None:
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=40, d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=2,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(config).eval()
    generator = torch.Generator().manual_seed(1)
    sources = [torch.randint(2, 40, (int(n),), generator=generator).tolist()
               for n in torch.randint(3, 30, (40,), generator=generator)]
    ids, mask = pad(sources, 0, torch.device("cpu"))
    end_rows_apart(model, ids, mask, 12)
    with torch.no_grad():
        expected = generate_tokens(model, ids, mask, 12)
    widths, hook = batch_widths(model)
    got = greedy_shrinking(model, ids, mask, 12, shed_share=shed)
    hook.remove()
    assert got == expected
    assert len({len(r) for r in got}) > 2 and min(len(r) for r in got) < 12  # rows did end
    check_widths(widths, shed, len(sources))


# -- beam search that drops the questions whose answer is settled --------------------------------
def check_beams(model, ids, mask, beams: int, cap: int, shed: float) -> list[int]:
    """beam_shrinking's answers are generate's, to the token, under one cap and under a cap
    per question; returns the batch widths of the one-cap search."""
    with torch.no_grad():
        expected = generate_tokens(model, ids, mask, cap, beams)
    widths, hook = batch_widths(model)
    with beam_search_rows(beams):
        got = beam_shrinking(model, ids, mask, beams, cap, shed_share=shed)
    hook.remove()
    assert got == expected
    assert len({len(r) for r in got}) > 2 and min(len(r) for r in got) < cap  # answers ended
    caps = [(3, 7, cap)[i % 3] for i in range(ids.size(0))]
    with beam_search_rows(beams):
        got = beam_shrinking(model, ids, mask, beams, caps, shed_share=shed)
    for c in set(caps):
        with torch.no_grad():
            expected = generate_tokens(model, ids, mask, c, beams)
        assert [got[i] for i in range(len(caps)) if caps[i] == c] == \
            [expected[i] for i in range(len(caps)) if caps[i] == c]
    assert any(len(got[i]) == caps[i] < cap for i in range(len(caps)))  # cut at its own cap
    return widths


def end_beams_apart(model, ids, mask, cap: int, beams: int, **settings) -> None:
    """`end_rows_apart`, then (under the generation ``settings``), as the end token, the token
    whose beam-search answers end at the most different steps (random weights seldom settle
    a question's beams early)."""
    end_rows_apart(model, ids, mask, cap)
    for name, value in settings.items():
        setattr(model.generation_config, name, value)
    spread = {}
    for token in range(1, model.config.vocab_size):
        for config in (model.config, model.generation_config):
            config.eos_token_id = token
        with torch.no_grad():
            lengths = [len(r) for r in generate_tokens(model, ids, mask, cap, beams)]
        spread[token] = (len(set(lengths)), sum(n < cap for n in lengths))
    for config in (model.config, model.generation_config):
        config.eos_token_id = max(spread, key=spread.get)


def check_beam_widths(widths: list[int], shed: float, questions: int, beams: int) -> None:
    """Whole questions left the batch, as ``shed`` says (`check_widths`, by question: at a
    share, once is enough, as few random-weight questions settle early)."""
    assert all(w % beams == 0 for w in widths)
    check_widths([w // beams for w in widths], shed, questions, at_share=1)


@pytest.mark.parametrize("shed", SHEDS)
def test_beam_shrinking_writes_what_generate_writes_with_the_copy_head(smoke: Path,
                                                                       shed: float) -> None:
    """Questions whose answer is settled leave the batch; each question's answer is
    generate's beam search's, to the token; the encoder side is held once per question."""
    qa = decaqa.load(str(smoke / "model"))
    pairs = [(ex.question, ex.context) for task in ("squad", "iwslt", "cnn_dailymail")
             for ex in iter_examples(get_task(task), mini_rows(task, 12))]
    ids, mask = pad(qa.encode(pairs), qa.tokenizer.pad_token_id, torch.device("cpu"))
    assert plain_decoding(qa.model) and questions_once(qa.model)
    end_rows_apart(qa.model.eval(), ids, mask, 16)
    widths = check_beams(qa.model, ids, mask, 4, 16, shed)
    check_beam_widths(widths, shed, len(pairs), 4)


@pytest.mark.parametrize("once", [False, True], ids=["rows-per-beam", "rows-per-question"])
@pytest.mark.parametrize("shed", SHEDS)
def test_beam_shrinking_writes_what_generate_writes_without_the_copy_head(
        shed: float, once: bool) -> None:
    """A plain T5 (its encoder side repeated per beam, as generate does) and decaqa's lean
    one (held once per question), at two widths."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=40, d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=2,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(config).eval()
    if once:
        lean(model)
    assert questions_once(model) == once
    generator = torch.Generator().manual_seed(1)
    sources = [torch.randint(2, 40, (int(n),), generator=generator).tolist()
               for n in torch.randint(3, 30, (30,), generator=generator)]
    ids, mask = pad(sources, 0, torch.device("cpu"))
    end_beams_apart(model, ids, mask, 12, 4)
    check_beam_widths(check_beams(model, ids, mask, 4, 12, shed), shed, len(sources), 4)
    check_beams(model, ids, mask, 2, 12, shed)
    # one question alone: 4 beams x 4 heads is too few rows for the matmul path (SDPA's)
    with torch.no_grad():
        assert beam_shrinking(model, ids[:1], mask[:1], 4, 12, shed) == \
            generate_tokens(model, ids[:1], mask[:1], 12, 4)


@pytest.mark.parametrize("early, penalty", [(True, 1.0), ("never", 1.0), ("never", 0.8),
                                            (False, 0.6)])
def test_beam_shrinking_follows_the_length_penalty_and_early_stopping(early, penalty) -> None:
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=40, d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=2,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = lean(T5ForConditionalGeneration(config).eval())
    generator = torch.Generator().manual_seed(2)
    sources = [torch.randint(2, 40, (int(n),), generator=generator).tolist()
               for n in torch.randint(3, 30, (24,), generator=generator)]
    ids, mask = pad(sources, 0, torch.device("cpu"))
    end_beams_apart(model, ids, mask, 12, 3, early_stopping=early, length_penalty=penalty)
    assert plain_decoding(model)
    check_beams(model, ids, mask, 3, 12, 0.0)


def test_beams_of_a_plain_model_are_answered_by_beam_shrinking(smoke: Path,
                                                              monkeypatch) -> None:
    """The answering path takes beam_shrinking for beams (caps mixed in a batch) and
    generate where the generation config changes the scores."""
    import decaqa.answer as answering

    qa = decaqa.load(str(smoke / "model"))
    calls = []
    real = answering.beam_shrinking
    monkeypatch.setattr(answering, "beam_shrinking",
                        lambda *a, **k: calls.append(a[4]) or real(*a, **k))
    sources = qa.encode([("What is the summary?", "Ana Bel founded a bank. " * 6),
                         ("What is the translation from English to German?", "A bank.")])
    got = generate_answers(qa.model, qa.tokenizer, sources, [20, 9], num_beams=3)
    assert calls == [[20, 9]]                                      # one batch, both caps
    qa.model.generation_config.no_repeat_ngram_size = 2
    assert not plain_decoding(qa.model)
    assert generate_answers(qa.model, qa.tokenizer, sources, [20, 9], num_beams=3) == [
        qa.tokenizer.batch_decode(qa.model.generate(
            input_ids=torch.tensor([s]), max_new_tokens=c, num_beams=3),
            skip_special_tokens=True)[0].strip() for s, c in zip(sources, [20, 9])]
    assert calls == [[20, 9]] and len(got) == 2


def test_generation_settings_that_change_the_scores_go_through_generate(smoke: Path) -> None:
    qa = decaqa.load(str(smoke / "model"))
    model = qa.model
    model.generation_config.repetition_penalty = 1.5
    assert not plain_decoding(model)
    sources = qa.encode([("What is the summary?", "Ana Bel founded a bank. " * 6)])
    ids, mask = pad(sources, qa.tokenizer.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        expected = qa.tokenizer.batch_decode(
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=20),
            skip_special_tokens=True)[0].strip()
    assert generate_answers(model, qa.tokenizer, sources, 20) == [expected]


def test_a_question_without_a_task_is_cut_where_its_task_would_cut_it(smoke: Path) -> None:
    """Without task=, the cap is the longest of any trained task's (and the default)."""
    qa = decaqa.load(str(smoke / "model"))
    longest = max(qa.info.caps, key=qa.info.caps.get)
    assert qa.cap(None) == max(qa.max_new_tokens, qa.info.caps[longest])
    assert task_cap(None, {"a": 7, "b": 300}, 64) == 300
    assert task_cap(None, {"a": 7}, 64) == 64
    assert task_cap("a", {"a": 7}, 64) == 7 and task_cap("c", {"a": 7}, 64) == 64
    row = mini_rows(longest, 1)[0]
    ex = next(iter(iter_examples(get_task(longest), [row])))
    assert qa.ask(ex.question, ex.context) == qa.ask(ex.question, ex.context, task=longest)


# -- the tokenizer is the run's, restored from checkpoints ----------------------------------------
def test_an_input_far_beyond_the_limit_is_answered_and_the_cut_reported(smoke: Path,
                                                                           capsys) -> None:
    qa = decaqa.load(str(smoke / "model"))
    long = "The film was long. " * 2000                           # ~10,000 tokens
    answer = qa.ask("Is this review negative or positive?", long, task="sst2")
    assert isinstance(answer, str)
    assert qa.truncated == 1
    assert (f"1 input(s) longer than {qa.max_source_tokens} tokens were truncated"
            in capsys.readouterr().err)


def test_one_function_decides_rank_or_generate_and_the_cap(smoke: Path) -> None:
    """`answer`: a row with choices is ranked when the mode ranks, generated otherwise; a
    generated row stops at its task's cap (the default without one): what validation, ask,
    predict and the budget's estimate all call."""
    qa = decaqa.load(str(smoke / "model"))
    pairs = [("Is this review negative or positive?", "a fine film ."),
             ("What is the summary?", "Ana Bel founded a bank in Olmora in 1986. " * 8),
             ("Who founded it?", "Ana Bel founded a bank in Olmora in 1986.")]
    sources = qa.encode(pairs)
    tasks = ["sst2", "cnn_dailymail", None]
    choices = [["negative", "positive"], None, None]
    caps = qa.info.caps
    kwargs = dict(caps=caps, default_cap=qa.max_new_tokens, num_beams=qa.num_beams)
    ranked = answer(qa.model, qa.tokenizer, sources, tasks, choices=choices, mode="rank",
                    **kwargs)
    assert ranked[0] in ("negative", "positive")
    assert ranked[0] == rank_choices(qa.model, qa.tokenizer, sources[:1], choices[:1])[0]
    for i, cap in ((1, caps["cnn_dailymail"]), (2, max(qa.max_new_tokens, *caps.values()))):
        assert task_cap(tasks[i], caps, qa.max_new_tokens) == cap
        assert ranked[i] == generate_answers(qa.model, qa.tokenizer, sources[i:i + 1], cap)[0]
    generated = answer(qa.model, qa.tokenizer, sources, tasks, choices=choices,
                       mode="generate", **kwargs)
    assert generated[1:] == ranked[1:]
    assert generated[0] == generate_answers(qa.model, qa.tokenizer, sources[:1],
                                            caps["sst2"])[0]
    assert qa.ask_batch(pairs, task=tasks) == generated       # ask goes the same way


def test_tasks_with_beams_of_their_own_are_answered_as_generate_answers_them(smoke: Path
                                                                              ) -> None:
    """``task_beams``: a task's rows decode with its own beams (transformers' beam search on
    that question alone), the other rows greedily, in one call; the export carries them and
    `ask` follows them."""
    import torch

    from decaqa import store

    qa = decaqa.load(str(smoke / "model"))
    assert qa.task_beams == {} and qa.beams("cnn_dailymail") == 1     # the smoke run: greedy
    torch.manual_seed(0)  # the smoke model ends every answer at once: weights that talk
    with torch.no_grad():
        for weight in qa.model.parameters():
            weight.add_(torch.randn_like(weight))
    pairs = [("What is the summary?", "Ana Bel founded a bank in Olmora in 1986. " * 6),
             ("Is this review negative or positive?", "a fine film ."),
             ("What is the summary?", "Tavo Brenik was born in Olmora. He works for Kestrel."),
             ("Who founded it?", "Ana Bel founded a bank in Olmora in 1986.")]
    tasks = ["cnn_dailymail", "sst2", "cnn_dailymail", "squad"]
    qa.task_beams = {"cnn_dailymail": 3}
    assert [qa.beams(t) for t in tasks] == [3, 1, 3, 1] and qa.beams(None) == 1
    got = qa.ask_batch(pairs, task=tasks)
    for (q, c), task, answer_ in zip(pairs, tasks, got):
        ids = torch.tensor([qa.encode([(q, c)])[0]])
        alone = qa.model.generate(input_ids=ids, max_new_tokens=qa.cap(task),
                                  num_beams=qa.beams(task), do_sample=False)
        assert answer_ == qa.tokenizer.decode(alone[0], skip_special_tokens=True).strip()
    # the other tasks' rows answer as they do with no task beams at all; the beams' do not
    qa.task_beams = {}
    greedy = qa.ask_batch(pairs, task=tasks)
    assert [greedy[1], greedy[3]] == [got[1], got[3]]
    assert (greedy[0], greedy[2]) != (got[0], got[2]) and all(got)
    # decaqa.json carries them, and a model loaded from it answers with them
    info = store.ExportInfo.from_dict({**qa.info.to_dict(), "generation": {
        "max_new_tokens": qa.max_new_tokens, "num_beams": 1,
        "task_beams": {"cnn_dailymail": 3}}})
    assert info.to_dict()["generation"]["task_beams"] == {"cnn_dailymail": 3}
    from decaqa.qa import QA

    again = QA(qa.model, qa.tokenizer, info)
    assert again.ask_batch(pairs, task=tasks) == got


def test_num_beams_at_load_answers_every_task_with_them(smoke: Path, tmp_path: Path,
                                                         fails) -> None:
    """``decaqa.load(..., num_beams=N)`` (and ``--num-beams N`` of ask and serve, as of
    evaluate): every task with N beams, the run's task beams set aside; None keeps them."""
    import json
    import shutil

    from decaqa.errors import ConfigError

    folder = tmp_path / "model"
    shutil.copytree(smoke / "model", folder)
    info = json.loads((folder / "decaqa.json").read_text())
    info["generation"]["task_beams"] = {"cnn_dailymail": 3}
    (folder / "decaqa.json").write_text(json.dumps(info))
    own = decaqa.load(str(folder))
    assert (own.num_beams, own.task_beams) == (1, {"cnn_dailymail": 3})
    assert own.beams("cnn_dailymail") == 3 and own.beams("sst2") == 1
    two = decaqa.load(str(folder), num_beams=2)
    assert (two.num_beams, two.task_beams) == (2, {})
    assert {two.beams(t) for t in two.tasks} == {2}
    assert decaqa.load(str(folder), num_beams=1).beams("cnn_dailymail") == 1
    with pytest.raises(ConfigError, match="--num-beams = 0: beams are whole numbers of at least 1"):
        decaqa.load(str(folder), num_beams=0)
    fails(["ask", "--model", str(folder), "--question", "q", "--context", "c",
           "--num-beams", "0"], "--num-beams = 0: beams are whole numbers of at least 1 (1: greedy).")
    # set in Python after loading: refused when asked, each bad setting named
    own.task_beams = {"iwlst": 4}
    with pytest.raises(ConfigError, match="qa.task_beams names a task this model does not "
                       "know: Unknown task 'iwlst'; did you mean iwslt"):
        own.ask("q", "c")
    own.task_beams, own.num_beams = {"cnn_dailymail": 0}, 1.5
    with pytest.raises(ConfigError, match=re.escape(
            "qa.num_beams = 1.5, qa.task_beams['cnn_dailymail'] = 0: beams are whole numbers")):
        own.ask_batch([("q", "c")])
    from decaqa.tasks import registry

    other = next(t for t in registry() if t not in own.tasks)  # decaqa knows it, the model not
    own.task_beams, own.num_beams = {other: 2}, 1
    assert own.ask("q", "c") == decaqa.load(str(folder), num_beams=1).ask("q", "c")
