"""Adapters over one frozen base (decaqa.adapters): every method trains, saves, reloads and
answers; only adapter weights train and are written; a fresh adapter leaves the base as it
was; sizes on disk; routing by task, mixed batches, unknown tasks; generate agrees with the
forward pass for every method."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import decaqa
from decaqa.adapters import METHODS, Adapters, AdapterSettings, file_bytes
from decaqa.answer import generate_answers
from decaqa.cli import run
from decaqa.errors import ConfigError, DataError
from decaqa.example import format_input
from decaqa.network import build_from_config, load_pretrained
from decaqa.tokenizer import train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
TASKS = ["sst2", "squad", "woz"]
BART = {"model_type": "bart", "d_model": 64, "encoder_layers": 1, "decoder_layers": 1,
        "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 128,
        "decoder_ffn_dim": 128, "max_position_embeddings": 512}
PAIRS = [("Is this review negative or positive?", "a fine , moving film ."),
         ("Who founded Bousti Bank?", "Krir Shak founded Bousti Bank in 1986."),
         ("What is the change in state?", "I want cheap thai food in the north.")]
SMALL = ["--data.tasks", json.dumps(TASKS), "--trainer.max_steps", "6",
         "--trainer.val_check_interval", "6", "--data.val_limit", "4",
         "--trainer.enable_progress_bar", "false"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny BART (it has bias terms, for BitFit), trained a few steps: the frozen base."""
    folder = tmp_path_factory.mktemp("adapters")
    (folder / "bart.yaml").write_text("model:\n  config: " + json.dumps(BART) + "\n")
    assert run(["fit", "--config", str(SMOKE), "--config", str(folder / "bart.yaml"),
                "--run_dir", str(folder / "base"), *SMALL]) == 0
    return folder / "base" / "model"


def fit_adapters(base: Path, run_dir: Path, method: str, mode: str = "per_task",
                 *extra: str) -> Path:
    adapter = json.dumps({"method": method, "mode": mode})
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(run_dir),
                "--model.model", str(base), "--model.config", "null",
                "--model.adapter", adapter, *SMALL, *extra]) == 0
    return run_dir


def perturbed(adapters: Adapters, model: torch.nn.Module, seed: int = 0,
              scale: float = 0.5) -> torch.nn.Module:
    """Adapters made different from each other and from fresh (as training would)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in adapters.keys:
                p.add_(torch.randn(p.shape, generator=gen) * scale)
    return model.eval()


# -- every method, end to end --------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_saves_reloads_and_answers(base: Path, tmp_path: Path,
                                                       method: str) -> None:
    run_dir = fit_adapters(base, tmp_path / method, method)
    folder = run_dir / "adapters"
    assert not (run_dir / "model").exists()                  # no second copy of the base
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == sorted(TASKS)
    info = json.loads((folder / "decaqa.json").read_text())
    assert info["adapter"]["settings"]["method"] == method and Path(info["base"]) == base
    # the checkpoint holds the adapters alone, never the frozen base
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    saved = set(ckpt["state_dict"])
    qa = decaqa.load(str(folder))                            # finds its base by name
    assert saved == {f"model.{k}" for k in qa.adapters.keys}
    assert file_bytes(run_dir / "checkpoints" / "last.ckpt") < file_bytes(base)
    # answers, each task by its adapter; and the same through decaqa.load(base, adapters=)
    answers = qa.ask_batch(PAIRS, task=TASKS)
    assert all(isinstance(a, str) for a in answers)
    assert decaqa.load(str(base), adapters=str(folder)).ask_batch(PAIRS, task=TASKS) == answers
    # and the checkpoint answers like the export
    assert decaqa.load(str(run_dir / "checkpoints" / "last.ckpt")).ask_batch(
        PAIRS, task=TASKS) == answers


@pytest.mark.parametrize("mode", ["shared", "routed"])
def test_shared_and_routed_modes(base: Path, tmp_path: Path, mode: str) -> None:
    folder = fit_adapters(base, tmp_path / mode, "lora", mode) / "adapters"
    assert [p.name for p in folder.iterdir() if p.is_dir()] == [mode]  # one for all tasks
    qa = decaqa.load(str(folder))
    assert len(qa.ask_batch(PAIRS, task=TASKS)) == 3
    if mode == "routed":  # Poly answers greedily: beams asked of it are one sentence
        with pytest.raises(ConfigError, match="A routed \\(Poly\\) adapter answers greedily"):
            decaqa.load(str(folder), num_beams=2).ask_batch(PAIRS, task=TASKS)


def test_resume_from_an_adapter_checkpoint(base: Path, tmp_path: Path) -> None:
    run_dir = fit_adapters(base, tmp_path / "r", "lora")
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(run_dir),
                "--model.model", str(base), "--model.config", "null",
                "--model.adapter", '{"method": "lora"}', *SMALL,
                "--trainer.max_steps", "8", "--ckpt_path", "last"]) == 0
    doc = json.loads((run_dir / "metrics.json").read_text())
    assert doc["provenance"]["global_step"] == 8


def test_evaluate_routes_each_task_to_its_adapter(base: Path, tmp_path: Path) -> None:
    folder = fit_adapters(base, tmp_path / "e", "houlsby") / "adapters"
    preds = tmp_path / "p.jsonl"
    assert run(["evaluate", "--model", str(folder), "--limit", "4",
                "--predictions", str(preds)]) == 0
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    qa = decaqa.load(str(folder))
    for row in rows:
        assert qa.ask(row["question"], row["context"], task=row["task"]) == row["prediction"]


# -- what trains, what a fresh adapter does ------------------------------------------------------
def tiny(tok, config=BART):
    torch.manual_seed(0)
    return build_from_config(config, tok)


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer([format_input(q, c) for q, c in PAIRS] * 20, 300)


@pytest.mark.parametrize("method", METHODS)
def test_only_the_adapters_train(tok, method: str) -> None:
    adapters = Adapters(AdapterSettings(method=method), TASKS)
    model = adapters.attach(tiny(tok))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD([p for n, p in model.named_parameters() if n in adapters.keys],
                          lr=0.5)
    batch = tok([format_input(*PAIRS[1])], return_tensors="pt")
    labels = tok(["Krir Shak"], return_tensors="pt").input_ids
    with adapters.route(model, ["squad"]) as extra:
        model(**batch, labels=labels, **extra).loss.backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= adapters.keys                 # nothing of the base moved
    assert {adapters.owner[n] for n in changed} == {"squad"}    # only the task's own adapter
    assert all(not p.requires_grad for n, p in model.named_parameters()
               if n not in adapters.keys)


@pytest.mark.parametrize("method", ["lora", "ia3", "ln_tuning", "bitfit", "houlsby",
                                    "adapterbias"])
def test_a_fresh_adapter_leaves_the_base_as_it_was(tok, method: str) -> None:
    """Exactly for these (prefix and prompt tuning add virtual tokens: a fresh one changes
    the answer, as in peft)."""
    batch = tok([format_input(q, c) for q, c in PAIRS], return_tensors="pt", padding=True)
    labels = tok(["positive", "Krir Shak", "food: thai;"], return_tensors="pt",
                 padding=True).input_ids
    plain = tiny(tok).eval()
    adapters = Adapters(AdapterSettings(method=method), TASKS)
    adapted = adapters.attach(tiny(tok)).eval()
    with torch.no_grad(), adapters.route(adapted, ["sst2"] * 3) as extra:
        ours = adapted(**batch, labels=labels, **extra).logits
        theirs = plain(**batch, labels=labels).logits
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()


def test_bitfit_on_a_model_without_biases_says_so(tok) -> None:
    t5 = tiny(tok, {"d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "d_kv": 16})
    with pytest.raises(ConfigError, match="no bias terms.*ln_tuning or ia3"):
        Adapters(AdapterSettings(method="bitfit"), TASKS).attach(t5)


def test_bad_adapter_settings_are_one_sentence(tmp_path: Path, capsys) -> None:
    for adapter, needle in (('{"method": "lorax"}', "Unknown adapter method 'lorax'"),
                            ('{"method": "ia3", "mode": "routed"}', "use method lora"),
                            ('{"method": "lora", "rank": 4}', "unknown keys rank")):
        assert run(["fit", "--config", str(SMOKE), "--run_dir", str(tmp_path / "x"),
                    "--model.model", "somewhere", "--model.adapter", adapter]) == 2
        assert needle in capsys.readouterr().err
    assert run(["fit", "--config", str(SMOKE), "--run_dir", str(tmp_path / "x"),
                "--model.adapter", '{"method": "lora"}']) == 2
    assert "frozen pretrained base: set model.model" in capsys.readouterr().err


# -- routing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,mode", [("lora", "per_task"), ("houlsby", "per_task"),
                                         ("prefix", "per_task"), ("lora", "routed")])
def test_a_mixed_batch_answers_as_each_task_alone(tok, method: str, mode: str) -> None:
    adapters = Adapters(AdapterSettings(method=method, mode=mode), TASKS)
    model = perturbed(adapters, adapters.attach(tiny(tok)), scale=2.0)
    sources = [tok(format_input(q, c))["input_ids"] for q, c in PAIRS]
    mixed = generate_answers(model, tok, sources, 6, tasks=TASKS, adapters=adapters)
    alone = [generate_answers(model, tok, [s], 6, tasks=[t], adapters=adapters)[0]
             for s, t in zip(sources, TASKS)]
    assert mixed == alone
    if mode == "per_task":  # and with beam search (peft routes LoRA's rows in beams too)
        beams = generate_answers(model, tok, sources, 6, num_beams=3, tasks=TASKS,
                                 adapters=adapters)
        assert beams == [generate_answers(model, tok, [s], 6, num_beams=3, tasks=[t],
                                          adapters=adapters)[0]
                         for s, t in zip(sources, TASKS)]
    # routing matters: the same questions through another task's adapter answer otherwise
    through = {t: tuple(generate_answers(model, tok, sources, 6, tasks=[t] * 3,
                                         adapters=adapters)) for t in TASKS}
    assert len(set(through.values())) > 1, through


@pytest.mark.parametrize("method", METHODS)
def test_generate_agrees_with_the_forward_pass(tok, method: str) -> None:
    """Greedy `generate` equals decoding step by step through the adapted model's forward:
    the adapter is in the answers (peft's prefix once went missing in generate)."""
    adapters = Adapters(AdapterSettings(method=method, mode="shared"), TASKS)
    model = perturbed(adapters, adapters.attach(tiny(tok)), seed=3)
    batch = tok([format_input(q, c) for q, c in PAIRS], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=6, do_sample=False, min_new_tokens=5)
        steps = torch.full((len(PAIRS), 1), model.config.decoder_start_token_id)
        for _ in range(5):
            logits = model(**batch, decoder_input_ids=steps).logits[:, -1]
            logits[:, tok.eos_token_id] = float("-inf")          # as min_new_tokens does
            steps = torch.cat([steps, logits.argmax(-1, keepdim=True)], 1)
    assert torch.equal(out[:, :steps.size(1)], steps)


def test_an_unknown_task_lists_the_adapters_and_the_base(base: Path, tmp_path: Path,
                                                         capsys) -> None:
    folder = fit_adapters(base, tmp_path / "u", "ia3", "per_task", "--data.tasks",
                          '["sst2"]') / "adapters"
    capsys.readouterr()
    assert run(["ask", "--model", str(folder), "--task", "sst3", "--question", "Q?",
                "--context", "C."]) == 2
    err = capsys.readouterr().err
    assert ("No adapter for task 'sst3', and the base was not trained on it (adapters here: "
            "sst2; the base answers squad, woz)") in err
    assert err.count("\n") == 1


# -- a task without an adapter: the base answers it ---------------------------------------------
@pytest.mark.parametrize("method,mode", [(m, "per_task") for m in METHODS]
                         + [("lora", "shared"), ("lora", "routed")])
def test_the_base_answers_a_task_without_an_adapter(tok, method: str, mode: str) -> None:
    """Adapters for sst2 alone over a base that knows all three tasks: squad and woz rows
    get the bare base's answers (in a batch of their own, or mixed with sst2's rows where
    the method mixes them), sst2's rows their adapter's, which differ."""
    import copy

    bare = tiny(tok).eval()
    adapters = Adapters(AdapterSettings(method=method, mode=mode), ["sst2"], base_tasks=TASKS)
    model = perturbed(adapters, adapters.attach(copy.deepcopy(bare)), scale=2.0)
    assert [adapters.answered_by(t) for t in TASKS] == [
        f"adapter {'sst2' if mode == 'per_task' else mode}", "base", "base"]
    sources = [tok(format_input(q, c))["input_ids"] for q, c in PAIRS]
    plain = generate_answers(bare, tok, sources, 6)
    mixed = generate_answers(model, tok, sources, 6, tasks=TASKS, adapters=adapters)
    assert mixed[1:] == plain[1:]
    assert mixed[0] == generate_answers(model, tok, sources[:1], 6, tasks=["sst2"],
                                        adapters=adapters)[0]
    # with no task at all: the base too (a shared adapter answers everything)
    untasked = generate_answers(model, tok, sources, 6, tasks=[None] * 3, adapters=adapters)
    assert untasked == (plain if mode != "shared" else generate_answers(
        model, tok, sources, 6, tasks=["sst2"] * 3, adapters=adapters))
    # the base's rows get the bare base's scores exactly; sst2's adapter really changes them
    batch = tok([format_input(q, c) for q, c in PAIRS], return_tensors="pt", padding=True)
    start = torch.full((3, 1), model.config.decoder_start_token_id)
    with torch.no_grad():
        expected = bare(**batch, decoder_input_ids=start).logits
        with adapters.route(model, ["squad"] * 3) as extra:
            assert torch.equal(model(**batch, decoder_input_ids=start, **extra).logits, expected)
        with adapters.route(model, ["sst2"] * 3) as extra:
            adapted = model(**batch, decoder_input_ids=start, **extra).logits
    assert not torch.allclose(adapted, expected), method


def test_evaluate_says_who_answered_each_task(base: Path, tmp_path: Path) -> None:
    folder = fit_adapters(base, tmp_path / "b", "lora", "per_task", "--data.tasks",
                          '["sst2"]') / "adapters"
    out, preds = tmp_path / "r.json", tmp_path / "p.jsonl"
    assert run(["evaluate", "--model", str(folder), "--tasks", "sst2,squad", "--limit", "4",
                "--output", str(out), "--predictions", str(preds)]) == 0
    tasks = json.loads(out.read_text())["tasks"]
    assert {t: r["answered_by"] for t, r in tasks.items()} == {"sst2": "adapter sst2",
                                                               "squad": "base"}
    base_qa, qa = decaqa.load(str(base)), decaqa.load(str(folder))
    for row in map(json.loads, preds.read_text().splitlines()):
        if row["task"] == "squad":  # the base's answer, at the base's cap for squad
            assert row["prediction"] == base_qa.ask(row["question"], row["context"], "squad")
        assert row["prediction"] == qa.ask(row["question"], row["context"], task=row["task"])
    assert qa.cap("squad") == base_qa.cap("squad")


# -- the adapters' base: by path and by fingerprint ----------------------------------------------
def test_a_moved_base_is_named_and_can_be_given(base: Path, tmp_path: Path, capsys) -> None:
    import shutil

    folder = fit_adapters(base, tmp_path / "m", "lora") / "adapters"
    info = json.loads((folder / "decaqa.json").read_text())
    assert Path(info["base"]) == base and len(info["base_fingerprint"]) == 16
    moved, copied = tmp_path / "elsewhere" / "adapters", tmp_path / "elsewhere" / "base"
    shutil.copytree(folder, moved)
    shutil.copytree(base, copied)
    info["base"] = "/no/such/machine/runs/quickstart/model"  # as on another machine
    (moved / "decaqa.json").write_text(json.dumps(info))
    assert run(["ask", "--model", str(moved), "--question", "Q?", "--context", "C."]) == 2
    err = capsys.readouterr().err
    assert (f"The adapters in {moved} were trained over the base /no/such/machine/runs/"
            f"quickstart/model (fingerprint {info['base_fingerprint']}), which is not there; "
            f"give the base with decaqa.load(BASE, adapters='{moved}') or --base BASE") in err
    expected = decaqa.load(str(folder)).ask_batch(PAIRS, task=TASKS)
    assert decaqa.load(str(moved), base=str(copied)).ask_batch(PAIRS, task=TASKS) == expected
    assert decaqa.load(str(copied), adapters=str(moved)).ask_batch(PAIRS, task=TASKS) == expected
    assert run(["ask", "--model", str(moved), "--base", str(copied), "--task", "squad",
                "--question", PAIRS[1][0], "--context", PAIRS[1][1]]) == 0
    assert capsys.readouterr().out.strip() == expected[1]


def test_another_base_is_refused_unless_asked_for(base: Path, tmp_path: Path, capsys) -> None:
    import shutil

    folder = fit_adapters(base, tmp_path / "o", "lora") / "adapters"
    other = tmp_path / "other"
    shutil.copytree(base, other)
    model = load_pretrained(str(other))
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    model.save_pretrained(other)
    capsys.readouterr()
    assert run(["evaluate", "--model", str(folder), "--base", str(other), "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{other} is not the base the adapters in {folder} were trained over" in err
    assert "--allow-other-base" in err and err.count("\n") == 1
    with pytest.raises(decaqa.errors.CheckpointError, match="is not the base"):
        decaqa.load(str(other), adapters=str(folder))
    assert len(decaqa.load(str(folder), base=str(other), other_base=True).ask_batch(
        PAIRS, task=TASKS)) == 3
    assert run(["evaluate", "--model", str(folder), "--base", str(other), "--limit", "2",
                "--allow-other-base"]) == 0


def test_base_is_not_read_as_baseline(capsys) -> None:
    """argparse's prefix matching once read --base as --baseline; it is off."""
    assert run(["evaluate", "--base", "somewhere"]) == 2
    assert "Nothing to evaluate; pass --model PATH" in capsys.readouterr().err


# -- sizes on disk -------------------------------------------------------------------------------
def test_adapters_are_small_beside_the_base(tmp_path: Path) -> None:
    """The experiment's base size (a BART of 128 wide, 2+2 layers, 4,000 pieces), measured
    from the files: each adapter at most 5% of the base (every method), ten per-task adapters
    and the base under 1.5x the base alone."""
    texts = [format_input(q, c) for q, c in PAIRS] * 50 + [f"w{i} x{i}" for i in range(6000)]
    tok = train_tokenizer(texts, 4000)
    config = {"model_type": "bart", "d_model": 128, "encoder_layers": 2, "decoder_layers": 2,
              "encoder_attention_heads": 4, "decoder_attention_heads": 4,
              "encoder_ffn_dim": 512, "decoder_ffn_dim": 512, "max_position_embeddings": 512}
    build_from_config(config, tok).save_pretrained(tmp_path / "base")
    base_bytes = file_bytes(tmp_path / "base" / "model.safetensors")
    ten = [f"task{i}" for i in range(10)]
    for method in METHODS:
        adapters = Adapters(AdapterSettings(method=method), ten)
        model = adapters.attach(load_pretrained(str(tmp_path / "base")))
        adapters.save(model, tmp_path / method)
        each = [file_bytes(tmp_path / method / t) for t in ten]
        total = (base_bytes + sum(each)) / base_bytes
        print(f"{method}: {max(each) / base_bytes:.2%} of the base each, ten + base "
              f"{total:.2f}x")
        assert max(each) <= 0.05 * base_bytes, method
        assert total < 1.5, method


def test_one_more_adapter_is_added_to_a_running_model(tok, tmp_path: Path) -> None:
    """`Adapters.add`: the 4th adapter, saved by another run, joins a model holding three and
    answers as it does in a model of its own; a name taken, a missing file and a method that
    cannot are one sentence each."""
    three = Adapters(AdapterSettings(method="lora"), TASKS)
    model = perturbed(three, three.attach(tiny(tok)), seed=0, scale=2.0)
    one = Adapters(AdapterSettings(method="lora"), ["extra"])
    alone = perturbed(one, one.attach(tiny(tok)), seed=1, scale=2.0)
    one.save(alone, tmp_path)
    sources = [tok(format_input(q, c))["input_ids"] for q, c in PAIRS]
    before = generate_answers(model, tok, sources, 6, tasks=TASKS, adapters=three)
    three.add(model, tmp_path, "extra")
    assert three.tasks == [*TASKS, "extra"]
    assert generate_answers(model, tok, sources, 6, tasks=["extra"] * 3, adapters=three) == \
        generate_answers(alone, tok, sources, 6, tasks=["extra"] * 3, adapters=one)
    assert generate_answers(model, tok, sources, 6, tasks=TASKS, adapters=three) == before
    assert {three.owner[n] for n in three.keys} == {*TASKS, "extra"}
    with pytest.raises(ConfigError, match="already"):
        three.add(model, tmp_path, "extra")
    with pytest.raises(decaqa.errors.CheckpointError, match="does not exist"):
        three.add(model, tmp_path, "missing")
    houlsby = Adapters(AdapterSettings(method="houlsby"), TASKS)
    with pytest.raises(ConfigError, match="one at a time"):
        houlsby.add(houlsby.attach(tiny(tok)), tmp_path, "extra")
