"""Asking a trained model questions: ``qa = decaqa.load(path); qa.ask(question, context)``.

Light enough for a notebook: no Lightning trainer, no data module; one batched answering
path (`ask_batch`) that `ask` and `predict` go through.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from decaqa.data import DEFAULT_FORMAT, clip_ids, format_input
from decaqa.tasks import TaskError, get_task, iter_examples

EXPORT_INFO = "decaqa.json"


class QA:
    """A trained model with its tokenizer, input format and decoding settings."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 info: Mapping[str, Any] | None = None, batch_size: int = 32):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.info = dict(info or {})
        self.input_format = self.info.get("input_format", DEFAULT_FORMAT)
        self.max_source_tokens = int(self.info.get("max_source_tokens", 512))
        gen = self.info.get("generation", {})
        self.max_new_tokens = int(gen.get("max_new_tokens", 64))
        self.num_beams = int(gen.get("num_beams", 1))
        self.batch_size = batch_size
        self.truncated = 0  # inputs cut to max_source_tokens so far, reported on stderr

    @property
    def tasks(self) -> list[str]:
        """The tasks the model was trained on (from the export's decaqa.json)."""
        return [n for n, t in self.info.get("tasks", {}).items() if t.get("trained", True)]

    def ask(self, question: str, context: str) -> str:
        """Answer one question about one context."""
        return self.ask_batch([(question, context)])[0]

    def ask_batch(self, pairs: Sequence[tuple[str, str]]) -> list[str]:
        """Answer many (question, context) pairs, batched by length; order is kept."""
        check_pairs(pairs)
        texts = [format_input(q, c, self.input_format) for q, c in pairs]
        ids = self.tokenizer(texts)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        answers: list[str] = [""] * len(ids)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            for i, answer in zip(chunk, self._generate([ids[i] for i in chunk])):
                answers[i] = answer
        return answers

    def predict(self, task: str, rows: Iterable[Mapping[str, Any]],
                tasks_dir: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Convert raw data-set rows with the task's converter and answer them."""
        examples = list(iter_examples(get_task(task, tasks_dir), rows))
        preds = self.ask_batch([(ex.question, ex.context) for ex in examples])
        return [{"id": ex.id, "task": ex.task, "question": ex.question, "prediction": p,
                 "answers": ex.answers} for ex, p in zip(examples, preds)]

    @torch.no_grad()
    def _generate(self, batch_ids: list[list[int]]) -> list[str]:
        limit = self.max_source_tokens
        clipped = [clip_ids(x, limit) for x in batch_ids]
        cut = sum(len(x) > limit for x in batch_ids)
        if cut:
            self.truncated += cut
            print(f"decaqa: {cut} input(s) longer than {limit} tokens were truncated.",
                  file=sys.stderr)
        width = max(len(x) for x in clipped)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(clipped), width), pad, dtype=torch.long)
        for i, x in enumerate(clipped):
            input_ids[i, :len(x)] = torch.tensor(x)
        device = next(self.model.parameters()).device
        out = self.model.generate(input_ids=input_ids.to(device),
                                  attention_mask=input_ids.ne(pad).long().to(device),
                                  max_new_tokens=self.max_new_tokens, num_beams=self.num_beams,
                                  do_sample=False)
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


def check_pairs(pairs: Sequence[tuple[str, str]]) -> None:
    """An empty question or context is a user error, said in one sentence."""
    for i, (question, context) in enumerate(pairs):
        if not isinstance(question, str) or not question.strip():
            raise TaskError(f"Question {i} is empty; ask a question in words.")
        if not isinstance(context, str) or not context.strip():
            raise TaskError(f"The context of question {i} is empty; give the text the "
                            "question is about.")


def load(path: str | Path, device: str | None = None) -> QA:
    """Load a decaqa export folder (runs/<name>/model), any HF seq2seq model, or a .ckpt."""
    from decaqa.model import load_pretrained
    from decaqa.tokenizer import load_tokenizer

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep stdout/stderr to the answer and real messages
    path = Path(path)
    if path.suffix == ".ckpt":
        model, tokenizer, info = load_checkpoint(path)
    else:
        check_model_path(path)
        model = load_pretrained(str(path))
        tokenizer = load_tokenizer(str(path))
        info_file = path / EXPORT_INFO
        info = json.loads(info_file.read_text()) if info_file.exists() else {}
    if device:
        model = model.to(device)
    return QA(model, tokenizer, info)


def check_model_path(path: Path) -> None:
    """Fail early, in one sentence, on a path that cannot be a model."""
    looks_local = path.is_absolute() or len(path.parts) > 2 or str(path).startswith(".")
    hint = "give a folder written by decaqa fit (runs/<name>/model), a .ckpt file or a hub name"
    if not path.exists() and looks_local:
        raise TaskError(f"Model path {path} does not exist; {hint}.")
    if path.is_dir() and not (path / "config.json").exists():
        raise TaskError(f"{path} is not a model folder (it has no config.json); {hint}.")
    if path.is_file():
        raise TaskError(f"{path} is a file, not a model folder; {hint}.")


def load_checkpoint(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict]:
    """Rebuild the network from a Lightning checkpoint (weights, hparams, tokenizer)."""
    from tokenizers import Tokenizer

    from decaqa.model import build_from_config, load_pretrained
    from decaqa.tokenizer import EOS, PAD, UNK

    ckpt = read_checkpoint(path)
    hp = ckpt.get("hyper_parameters", {})
    if "decaqa_tokenizer" in ckpt:
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=Tokenizer.from_str(ckpt["decaqa_tokenizer"]),
            pad_token=PAD, eos_token=EOS, unk_token=UNK)
    else:
        from decaqa.tokenizer import load_tokenizer
        tokenizer = load_tokenizer(hp.get("tokenizer") or hp["model"])
    model = load_pretrained(hp["model"]) if hp.get("model") else build_from_config(
        hp.get("config"), tokenizer)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(state)
    generation = {"max_new_tokens": hp.get("max_new_tokens", 64),
                  "num_beams": hp.get("num_beams", 1)}
    return model, tokenizer, {"generation": generation}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """torch.load with one clear sentence for a missing, corrupt or truncated file."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"Checkpoint {path} does not exist; check the path (runs/<name>/"
                        "checkpoints/best.ckpt).")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise TaskError(f"Checkpoint {path} is corrupt or truncated ({type(err).__name__}); "
                        "use another checkpoint (e.g. last.ckpt) or re-run training.") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise TaskError(f"{path} is not a Lightning checkpoint (no state_dict); give a .ckpt "
                        "written by decaqa fit.")
    return ckpt
