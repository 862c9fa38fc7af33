"""The run's files (decaqa.store): decaqa.json as a versioned dataclass, checkpoints read as
data only, exports any transformers user loads, and the files of the previous release."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import decaqa
from conftest import SMOKE
from decaqa.errors import CheckpointError
from decaqa.store import (ADAPTERS, EXPORT_FILE, FORMAT_VERSION, INFO, RNG, TOKENIZER, ExportInfo,
                          Generation, checkpoint_info, checkpoint_rng, load_tokenizer_of,
                          read_checkpoint)


def test_export_loads_with_plain_transformers(smoke_run: Path) -> None:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    model = AutoModelForSeq2SeqLM.from_pretrained(smoke_run / "model")
    tok = AutoTokenizer.from_pretrained(smoke_run / "model")
    ids = tok("question: Who? context: Ana Bel.", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=4)
    assert out.shape[0] == 1 and isinstance(tok.decode(out[0]), str)


def test_model_path_that_is_not_a_model(tmp_path: Path, fails) -> None:
    fails(["ask", "--model", str(tmp_path), "--question", "q", "--context", "c"],
           "not a model folder")
    fails(["evaluate", "--model", str(tmp_path / "nope")], "does not exist")


def test_corrupt_and_truncated_checkpoints(smoke_run: Path, tmp_path: Path, fails) -> None:
    good = (smoke_run / "checkpoints" / "best.ckpt").read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    for bad in (truncated, garbage):
        fails(["evaluate", "--model", str(bad)], "corrupt or truncated")
        fails(["fit", "--config", str(SMOKE), "--ckpt_path", str(bad),
                        "--run_dir", str(tmp_path / "r")], "corrupt or truncated")


def test_checkpoint_with_a_pickled_payload_is_refused_unrun(tmp_path: Path, fails) -> None:
    """A checkpoint is data: one carrying a pickled object is refused, and its code never runs."""
    import os

    import torch

    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    bad = tmp_path / "payload.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload()}}, bad)
    for argv in (["evaluate", "--model", str(bad)],
                 ["ask", "--model", str(bad), "--question", "Who?", "--context", "Ana."]):
        fails(argv, "holds Python objects", "decaqa fit")
    assert not marker.exists()


# -- decaqa.json: a typed, versioned file ------------------------------------------------------
PREVIOUS = Path(__file__).parent / "fixtures" / "previous_release"


@pytest.mark.parametrize("path", ["model", "last.ckpt"])
def test_the_previous_release_files_load_and_answer_as_it_did(path: str) -> None:
    """An export and a checkpoint written before the store (format 1, no version key) load,
    keep every setting they recorded, and answer what that release answered."""
    recorded = json.loads((PREVIOUS / "answers.json").read_text())
    qa = decaqa.load(str(PREVIOUS / path))
    assert qa.info.format_version == 1
    assert qa.max_source_tokens == 128 and qa.batch_size == 16 and qa.max_new_tokens == 12
    assert qa.info.caps == {"sst2": 4, "cnn_dailymail": 10}
    assert qa.tasks == ["sst2", "cnn_dailymail"]
    pairs = [tuple(p) for p in recorded["pairs"]]
    assert qa.ask_batch(pairs, task=recorded["tasks"]) == recorded["answers"]


def test_export_info_round_trips_and_keeps_what_it_does_not_know(tmp_path: Path) -> None:
    info = ExportInfo(max_source_tokens=300, tasks={"sst2": {"max_new_tokens": 4}},
                      precision="bf16-mixed", generation=Generation(20, 2),
                      extra={"from_a_later_release": [1, 2]})
    info.write(tmp_path)
    raw = json.loads((tmp_path / EXPORT_FILE).read_text())
    assert raw["format_version"] == FORMAT_VERSION and raw["from_a_later_release"] == [1, 2]
    assert "adapter" not in raw                       # only an adapters folder records them
    back = ExportInfo.read(tmp_path)
    assert back == info
    assert back.caps == {"sst2": 4} and back.generation.num_beams == 2
    assert ExportInfo.read(tmp_path / "elsewhere") == ExportInfo()   # decaqa did not write it


def test_a_newer_or_broken_decaqa_json_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / EXPORT_FILE).write_text(json.dumps({"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(CheckpointError, match="written by a newer decaqa"):
        ExportInfo.read(tmp_path)
    (tmp_path / EXPORT_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="is not valid JSON"):
        ExportInfo.read(tmp_path)


def test_a_fit_checkpoint_holds_decaqa_keys_and_reads_back(smoke_run: Path) -> None:
    """What `decaqa fit` writes beside Lightning's keys, read through the store's readers."""
    ckpt = read_checkpoint(smoke_run / "checkpoints" / "last.ckpt")
    assert {TOKENIZER, INFO, RNG} <= set(ckpt) and ADAPTERS not in ckpt
    assert ckpt[INFO]["format_version"] == FORMAT_VERSION
    info = checkpoint_info(ckpt)
    export = ExportInfo.read(smoke_run / "model")
    assert info.generation == export.generation == Generation(16, 1)   # the smoke config's
    assert info.tasks == export.tasks and info.max_source_tokens == 256
    assert checkpoint_rng(ckpt, rank=5) == ckpt[RNG][0]       # a rank it lacks: rank zero's
    tokenizer, from_ckpt = load_tokenizer_of(smoke_run / "checkpoints" / "last.ckpt")
    same, from_export = load_tokenizer_of(smoke_run / "model")
    assert tokenizer("Ana Bel lives in Olmora.")["input_ids"] == \
        same("Ana Bel lives in Olmora.")["input_ids"]
    assert from_ckpt.trained_tasks == from_export.trained_tasks


def test_a_question_names_its_task_only_when_one_task_asks_it() -> None:
    from decaqa.store import ExportInfo

    info = ExportInfo(tasks={
        "cnn_dailymail": {"question": "What is the summary?",
                          "paraphrases": ["How would you summarize this article?"]},
        "multinli": {"question": 'Hypothesis: "{hypothesis}" -- entailment, neutral, or '
                                 "contradiction?"},
        "squad": {"question": None},
        "a": {"question": "Same?"}, "b": {"question": "Same?"}})
    assert info.task_of("What is the summary?") == "cnn_dailymail"
    assert info.task_of("  how would  you summarize this ARTICLE? ") == "cnn_dailymail"
    assert info.task_of('Hypothesis: "The cat sleeps." -- entailment, neutral, or '
                        "contradiction?") == "multinli"
    assert info.task_of("What is the summary of it?") is None  # not the question itself
    assert info.task_of("Who founded Bousti Bank?") is None    # squad: each row its own
    assert info.task_of("Same?") is None                       # two tasks ask it: no guess
