"""decaqa compare (decaqa.compare): every row runs at smoke scale and writes its keys; a frozen
base with adapters answers the old tasks exactly as the base does; the merged adapter is
peft's merge of the same weights; a killed compare resumes by its finished rows; bad settings
and methods that cannot apply are one sentence."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import decaqa
from decaqa import store
from decaqa.adapters import Adapters, AdapterSettings
from decaqa.cli import run
from decaqa.compare import METHODS, Compare, CompareSettings, merge_lora

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
BART = {"model_type": "bart", "d_model": 64, "encoder_layers": 1, "decoder_layers": 1,
        "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 128,
        "decoder_ffn_dim": 128, "max_position_embeddings": 512}
OLD, NEW = ["sst2", "squad"], ["rte", "boolq"]
SMALL = {"steps_per_task": 3, "sweep_steps_per_task": 2, "heldout": 6, "val_limit": 4,
         "old_val_limit": 4, "batch_size": 4, "max_tokens": None, "max_target_tokens": 32}
ROW_KEYS = {"trainable_pct", "disk_bytes_all_tasks", "train_s", "new_tasks_score",
            "old_decascore_before", "old_decascore_after", "lr", "new_scores", "old_scores",
            "trainable", "ms_per_question", "forgetting", "seconds"}


def fit_base(folder: Path, config: dict | None) -> Path:
    """A tiny model trained a few steps on the old tasks: the base to add tasks to."""
    args = ["fit", "--config", str(SMOKE), "--run_dir", str(folder / "base"),
            "--data.tasks", json.dumps(OLD), "--trainer.max_steps", "6",
            "--trainer.val_check_interval", "6", "--data.val_limit", "4",
            "--trainer.enable_progress_bar", "false"]
    if config is not None:
        (folder / "net.yaml").write_text("model:\n  config: " + json.dumps(config) + "\n")
        args[3:3] = ["--config", str(folder / "net.yaml")]
    assert run(args) == 0
    return folder / "base" / "model"


@pytest.fixture(scope="module")
def bart(tmp_path_factory) -> Path:
    """A tiny BART (bias terms, so every adapter method applies)."""
    return fit_base(tmp_path_factory.mktemp("compare_bart"), BART)


def config(folder: Path, base: Path, **settings) -> Path:
    file = folder / "compare.yaml"
    file.write_text(yaml.safe_dump({"base": str(base), "new_tasks": NEW, "old_tasks": OLD,
                                    **SMALL, **settings}))
    return file


# -- every row -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_every_row_runs_and_writes_its_keys(bart: Path, tmp_path: Path) -> None:
    rates = {g: [1e-3] for g in ("full", "ia3", "prefix", "prompt", "ln_tuning", "bitfit",
                                 "houlsby", "adapterbias")}
    rates["lora"] = [1e-3, 1e-2]  # one row sweeps: two rates scored on the held-out rows
    said: list[str] = []
    out = tmp_path / "out"
    doc = Compare(CompareSettings.read(config(tmp_path, bart, learning_rates=rates)), out,
                  say=said.append).run()
    rows = doc["methods"]
    assert list(rows) == list(METHODS)
    for name, row in rows.items():
        assert set(row) == ROW_KEYS, name
        assert set(row["new_scores"]) == set(NEW) and set(row["old_scores"]) == set(OLD)
        assert row["old_decascore_before"] == rows["zero_shot"]["old_decascore_after"]
    base_bytes = doc["base_bytes"]
    assert rows["zero_shot"]["disk_bytes_all_tasks"] == base_bytes
    assert rows["full_per_task"]["disk_bytes_all_tasks"] == 2 * base_bytes   # two copies
    assert rows["full_per_task"]["trainable_pct"] == pytest.approx(200.0, abs=0.01)
    assert rows["sequential"]["trainable_pct"] == pytest.approx(100.0, abs=0.01)
    zero = [json.loads(line) for line in (out / "rows" / "zero_shot_old.jsonl").open()]
    for name in ("lora", "ia3", "prefix", "prompt", "ln_tuning", "bitfit", "houlsby",
                 "adapterbias", "lora_shared", "lora_routed", "lora_merged_ties",
                 "lora_merged_cat"):
        row = rows[name]
        assert base_bytes < row["disk_bytes_all_tasks"] < 1.5 * base_bytes, name
        assert 0 < row["trainable_pct"] < 100, name
        # a frozen base with adapters forgets nothing: the old tasks' very predictions
        assert row["forgetting"] == 0.0, name
        old = [json.loads(line) for line in (out / "rows" / f"{name}_old.jsonl").open()]
        assert [p["prediction"] for p in old] == [p["prediction"] for p in zero], name
    sweep = json.loads((out / "sweeps" / "lora.json").read_text())
    assert set(sweep["heldout_scores"]) == {"0.001", "0.01"} and sweep["chosen"] in (1e-3, 1e-2)
    assert rows["lora"]["lr"] == sweep["chosen"] and rows["lora_merged_linear"]["lr"] == \
        sweep["chosen"]
    held = [json.loads(line) for line in (out / "data" / "rte" / "heldout.jsonl").open()]
    train = [json.loads(line) for line in (out / "data" / "rte" / "train.jsonl").open()]
    assert len(held) == 6 and not {r["idx"] for r in held} & {r["idx"] for r in train}
    assert (out / "table.md").read_text().count("\n|") >= len(METHODS) + 1
    assert json.loads((out / "results.json").read_text())["methods"] == json.loads(
        json.dumps(rows))
    for chart in ("score_vs_bytes.png", "forgetting_vs_gain.png"):
        assert (out / chart).read_bytes().startswith(b"\x89PNG")
    assert said[0].startswith(f"compare: {len(METHODS)} rows")
    assert f"[2/{len(METHODS)}] multitask" in said
    # run again: every row finished, none trains again
    again: list[str] = []
    Compare(CompareSettings.read(config(tmp_path, bart)), out, say=again.append).run()
    assert sum("finished before, skipped" in line for line in again) == len(METHODS)


def test_the_merged_adapter_is_peft_merge_of_the_same_weights(bart: Path, tmp_path: Path) -> None:
    """Our merge, written as a shared adapter and loaded back, scores every token exactly as
    peft's model does with the merged adapter it made from the same per-task LoRAs."""
    from decaqa.example import format_input

    adapters = Adapters(AdapterSettings(method="lora"), NEW, base_tasks=OLD)
    loaded = store.load(bart)
    model = adapters.attach(loaded.model)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in adapters.keys:
                p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    info = store.ExportInfo.read(bart)
    store.write_export(tmp_path / "lora", model, loaded.tokenizer, info, adapters, str(bart))
    tok = loaded.tokenizer
    batch = tok([format_input("Is it true? yes or no?", "The door is open.")] * 2,
                return_tensors="pt")
    start = torch.full((2, 1), model.config.decoder_start_token_id)
    for combination in ("linear", "ties", "dare_ties", "cat", "svd"):
        folder = merge_lora(bart, tmp_path / "lora", tmp_path / combination / "adapters",
                            combination, density=0.5, seed=3)
        ours = decaqa.load(str(folder))
        assert ours.adapters.settings.mode == "shared" and ours.adapters.tasks == NEW
        peft_model = store.load(bart, adapters=tmp_path / "lora").model
        torch.manual_seed(3)
        peft_model.add_weighted_adapter(NEW, [0.5, 0.5] if combination == "linear" else
                                        [1.0, 1.0], "merged", combination_type=combination,
                                        density=0.5 if "ties" in combination else None)
        peft_model.set_adapter("merged")
        with torch.no_grad():
            expected = peft_model.eval()(**batch, decoder_input_ids=start).logits
            with ours.adapters.route(ours.model, ["rte", "rte"]) as extra:
                got = ours.model(**batch, decoder_input_ids=start, **extra).logits
            bare = store.load(bart).model.eval()(**batch, decoder_input_ids=start).logits
        if combination == "svd":  # an SVD is not bitwise repeatable across calls
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
        else:
            assert torch.equal(got, expected), combination
        assert not torch.allclose(got, bare), combination       # the merge is in the answers
        # and the old tasks still go to the untouched base
        assert ours.adapters.answered_by("sst2") == "base"


# -- resuming a killed compare ---------------------------------------------------------------------
@pytest.mark.slow
def test_a_killed_compare_resumes_by_its_finished_rows(bart: Path, tmp_path: Path) -> None:
    cfg = config(tmp_path, bart, methods=["zero_shot", "sequential", "lora", "ia3", "houlsby"],
                 learning_rates={"full": [1e-3], "lora": [1e-3], "ia3": [1e-3],
                                 "houlsby": [1e-3]}, steps_per_task=40)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "decaqa.cli", "compare", "--config", str(cfg), "--out",
           str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 240  # bounded: kill once two rows are written, or give up
    while time.time() < deadline and proc.poll() is None:
        if (out / "rows" / "sequential.json").exists():
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the compare ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    finished = sorted(p.stem for p in (out / "rows").glob("*.json"))
    assert "zero_shot" in finished and "houlsby" not in finished
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for name in finished:
        assert f"{name}: finished before, skipped" in done.stderr
    assert "[5/5] houlsby\n" in done.stderr
    rows = json.loads((out / "results.json").read_text())["methods"]
    assert list(rows) == ["zero_shot", "sequential", "lora", "ia3", "houlsby"]


# -- one sentence ----------------------------------------------------------------------------------
def test_bad_settings_are_one_sentence(bart: Path, tmp_path: Path, capsys) -> None:
    cfg = config(tmp_path, bart)
    cases = [(["--methods", "lorax"], "Unknown compare method 'lorax'; use any of zero_shot, "
                                       "multitask"),
             (["--steps-per-task", "0"], "steps_per_task must be at least 1, got 0.")]
    for extra, needle in cases:
        assert run(["compare", "--config", str(cfg), "--out", str(tmp_path / "x"),
                    *extra]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"base": str(bart), "new_tasks": NEW, "rows": 3}))
    assert run(["compare", "--config", str(bad)]) == 2
    assert "bad.yaml has unknown keys rows; known:" in capsys.readouterr().err
    bad.write_text(yaml.safe_dump({"new_tasks": NEW}))
    assert run(["compare", "--config", str(bad)]) == 2
    assert "compare needs a base" in capsys.readouterr().err
    bad.write_text(yaml.safe_dump({"base": str(bart), "new_tasks": ["sst2"], "old_tasks": OLD}))
    assert run(["compare", "--config", str(bad)]) == 2
    assert "sst2 is in both new_tasks and old_tasks" in capsys.readouterr().err


def test_a_method_that_cannot_apply_is_skipped_with_its_reason(tmp_path: Path) -> None:
    """BitFit on a T5 (no bias terms): the row says why, in one sentence; the others run."""
    t5 = fit_base(tmp_path, None)  # the smoke config's T5
    out = tmp_path / "out"
    doc = Compare(CompareSettings.read(config(tmp_path, t5, methods=["bitfit", "lora"],
                                              learning_rates={"bitfit": [1e-3],
                                                              "lora": [1e-3]})),
                  out, say=lambda _: None).run()
    assert doc["methods"]["bitfit"] == {"skipped": (
        "This t5 model has no bias terms (T5 uses none), so BitFit has nothing to train; use "
        "ln_tuning or ia3 instead, or a model with biases such as bart.")}
    assert doc["methods"]["lora"]["new_tasks_score"] >= 0
    assert "skipped: This t5 model has no bias terms" in (out / "table.md").read_text()


def test_compare_runs_on_your_own_task_files(bart: Path, tmp_path: Path) -> None:
    """A task of the user's own (a converter in a folder of theirs, its rows in local files)
    is a new task like any other: held out, trained, scored, through `decaqa compare`."""
    from decaqa.mini_decathlon import read_rows

    tasks = tmp_path / "my_tasks"
    tasks.mkdir()
    (tasks / "door.py").write_text(
        '"""Is the door open? A yes/no task of my own."""\n'
        "from decaqa import Task\n\n"
        'task = Task(name="door", dataset="my/door", choices=["no", "yes"], metric="em")\n\n\n'
        "@task.converter\n"
        "def convert(row):\n"
        '    return {"context": row["passage"], "question": row["question"] + "?",\n'
        '            "answer": task.choices[int(row["answer"])]}\n')
    files = {}
    for split, n in (("train", 40), ("validation", 6)):
        path = tmp_path / f"door_{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in read_rows("boolq", split)[:n]))
        files[split] = [str(path)]
    cfg = config(tmp_path, bart, new_tasks=["door"], methods=["lora"],
                 learning_rates={"lora": [1e-3]}, data_files={"door": files})
    out = tmp_path / "out"
    assert run(["compare", "--config", str(cfg), "--out", str(out), "--tasks-dir",
                str(tasks)]) == 0
    rows = json.loads((out / "results.json").read_text())["methods"]
    assert set(rows["lora"]["new_scores"]) == {"door"}
    assert sum(1 for _ in open(out / "data" / "door" / "train.jsonl")) == 34   # 40 - 6 held out
    preds = [json.loads(line) for line in open(out / "runs" / "lora" / "predictions.jsonl")]
    assert len(preds) == 4 and {p["task"] for p in preds} == {"door"}     # val_limit 4
