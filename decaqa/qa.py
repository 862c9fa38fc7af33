"""Asking a trained model questions: ``qa = decaqa.load(path); qa.ask(question, context)``.

Light enough for a notebook: no Lightning, no `datasets`; every answer goes through
`decaqa.answer`, the one batched answering path that validation and evaluate use too.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from decaqa.answer import CHOICE_MODES, generate_answers, rank_choices
from decaqa.example import DEFAULT_FORMAT, clip_ids, format_input
from decaqa.errors import CheckpointError, DataError
from decaqa.tasks import get_task, iter_examples

EXPORT_INFO = "decaqa.json"


class QA:
    """A trained model with its tokenizer, input format, precision and decoding settings.

    Every setting comes from the run's export (``decaqa.json``), so an answer here is the
    answer `decaqa evaluate` and the run's validation gave for the same input.
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 info: Mapping[str, Any] | None = None, adapters: Any = None):
        self.info = dict(info or {})
        self.adapters = adapters  # decaqa.adapters.Adapters: each task's own, if any
        self.precision = str(self.info.get("precision", "32-true"))
        if self.precision == "bf16-true":
            model = model.to(torch.bfloat16)
        self.model, self.tokenizer = model.eval(), tokenizer
        self.input_format = self.info.get("input_format", DEFAULT_FORMAT)
        self.max_source_tokens = int(self.info.get("max_source_tokens", 512))
        gen = self.info.get("generation", {})
        self.max_new_tokens = int(gen.get("max_new_tokens", 64))
        self.num_beams = int(gen.get("num_beams", 1))
        self.batch_size = int(self.info.get("eval_batch_size", 64))
        self.max_tokens = self.info.get("eval_max_tokens")
        self.truncated = 0  # inputs cut to max_source_tokens so far, reported on stderr

    @property
    def tasks(self) -> list[str]:
        """The tasks the model was trained on (from the export's decaqa.json)."""
        return [n for n, t in self.info.get("tasks", {}).items() if t.get("trained", True)]

    def _tasks_of(self, task: str | Sequence[str | None] | None, n: int) -> list[str | None]:
        """One task per question; with adapters a task names the adapter that answers, so
        one is needed (unless a single adapter serves every task)."""
        tasks = [task] * n if task is None or isinstance(task, str) else list(task)
        if len(tasks) != n:
            raise DataError(f"Give one task per question ({n} questions, {len(tasks)} tasks).")
        if self.adapters is not None:
            for t in tasks:
                if t is None and self.adapters.settings.mode != "shared":
                    raise DataError("This model answers through one adapter per task; say "
                                    "which with task= (adapters here: "
                                    f"{', '.join(self.adapters.tasks)}).")
                if t is not None:
                    self.adapters.adapter_for(t)  # an unknown task: one sentence, now
        return tasks

    def cap(self, task: str | None) -> int:
        """How many tokens an answer of ``task`` may have (the model's default without one)."""
        if task is None:
            return self.max_new_tokens
        return int(self.info.get("tasks", {}).get(task, {}).get("max_new_tokens")
                   or self.max_new_tokens)

    def ask(self, question: str, context: str, task: str | None = None,
            choices: Sequence[str] | None = None, rank: str = "rank") -> str:
        """Answer one question about one context; with ``choices``, the most likely one."""
        return self.ask_batch([(question, context)], task=task,
                              choices=[choices] if choices is not None else None, rank=rank)[0]

    def ask_batch(self, pairs: Sequence[tuple[str, str]],
                  task: str | Sequence[str | None] | None = None,
                  choices: Sequence[Sequence[str]] | None = None,
                  rank: str = "rank") -> list[str]:
        """Answer many (question, context) pairs through the one batched path; order is kept.

        ``task``: one task name or one per pair (sets each answer's length cap).
        ``choices``: one list of answer choices per pair, ranked by likelihood (``rank``:
        summed, or ``rank_mean`` per token) instead of generating.
        """
        check_pairs(pairs)
        tasks = self._tasks_of(task, len(pairs))
        sources = self.encode(pairs)
        batching = dict(max_rows=self.batch_size, max_tokens=self.max_tokens,
                        precision=self.precision, tasks=tasks, adapters=self.adapters)
        if choices is not None:
            if rank not in CHOICE_MODES[1:]:
                raise DataError(f"Unknown ranking '{rank}'; use rank or rank_mean.")
            if len(choices) != len(pairs) or any(not c for c in choices):
                raise DataError("Give one non-empty list of choices per question.")
            return rank_choices(self.model, self.tokenizer, sources, choices,
                                normalize=rank == "rank_mean", **batching)
        return generate_answers(self.model, self.tokenizer, sources,
                                [self.cap(t) for t in tasks], self.num_beams, **batching)

    def encode(self, pairs: Sequence[tuple[str, str]]) -> list[list[int]]:
        """Format and tokenize, clipping to max_source_tokens (counted, said on stderr)."""
        texts = [format_input(q, c, self.input_format) for q, c in pairs]
        ids = self.tokenizer(texts)["input_ids"]
        limit = self.max_source_tokens
        cut = sum(len(x) > limit for x in ids)
        if cut:
            self.truncated += cut
            print(f"decaqa: {cut} input(s) longer than {limit} tokens were truncated.",
                  file=sys.stderr)
        return [clip_ids(x, limit) for x in ids]

    def predict(self, task: str, rows: Iterable[Mapping[str, Any]],
                tasks_dir: Sequence[str] | None = None,
                choices: str = "generate") -> list[dict[str, Any]]:
        """Convert raw data-set rows with the task's converter and answer them
        (``choices="rank"`` ranks the task's answer choices instead of generating)."""
        spec = get_task(task, tasks_dir)
        examples = list(iter_examples(spec, rows))
        pairs = [(ex.question, ex.context) for ex in examples]
        if choices != "generate" and spec.choices:
            preds = self.ask_batch(pairs, task=task, choices=[spec.choices] * len(pairs),
                                   rank=choices)
        else:
            preds = self.ask_batch(pairs, task=task)
        return [{"id": ex.id, "task": ex.task, "question": ex.question, "prediction": p,
                 "answers": ex.answers} for ex, p in zip(examples, preds)]


def check_pairs(pairs: Sequence[tuple[str, str]]) -> None:
    """An empty question or context is a user error, said in one sentence."""
    for i, (question, context) in enumerate(pairs):
        if not isinstance(question, str) or not question.strip():
            raise DataError(f"Question {i} is empty; ask a question in words.")
        if not isinstance(context, str) or not context.strip():
            raise DataError(f"The context of question {i} is empty; give the text the "
                            "question is about.")


def load(path: str | Path, device: str | None = None, trust_remote_code: bool = False,
         adapters: str | Path | None = None) -> QA:
    """Load a decaqa export folder (runs/<name>/model), any HF seq2seq model, or a .ckpt.

    ``adapters``: a folder of adapters a run wrote (runs/<name>/adapters) to put over the
    base ``path``; each task is then answered by its own adapter (``ask(..., task=...)``).
    An adapters folder given as ``path`` finds its base by the name it recorded.

    A model that asks to run code of its own (its config's auto_map) is refused unless
    ``trust_remote_code=True``: that code would run with your rights.
    """
    from decaqa.network import load_pretrained
    from decaqa.tokenizer import load_tokenizer

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep stdout/stderr to the answer and real messages
    path = Path(path)
    own = export_info(path) if adapters is None and path.is_dir() else {}
    if "adapter" in own:  # an adapters folder, over the base it names
        adapters, path = path, Path(own["base"])
    if path.suffix == ".ckpt":
        model, tokenizer, info, adapted = load_checkpoint(path)
    else:
        check_model_path(path)
        model = load_pretrained(str(path), trust_remote_code=trust_remote_code)
        tokenizer = load_tokenizer(str(path), trust_remote_code)
        info, adapted = export_info(path), None
    if adapters is not None:
        from decaqa.adapters import Adapters

        folder = Path(adapters)
        adapted = Adapters.read(folder)
        model = adapted.load(model, folder)
        info = {**info, **export_info(folder)}  # the adapters' run: its tasks, caps, format
    if device:
        model = model.to(device)
    return QA(model, tokenizer, info, adapted)


def export_info(folder: str | Path) -> dict[str, Any]:
    """A model folder's decaqa.json (the run's answering settings, an adapters folder's base),
    or nothing for a folder decaqa did not write."""
    file = Path(folder) / EXPORT_INFO
    return json.loads(file.read_text()) if file.exists() else {}


def check_model_path(path: Path) -> None:
    """Fail early, in one sentence, on a path that cannot be a model."""
    looks_local = path.is_absolute() or len(path.parts) > 2 or str(path).startswith(".")
    hint = "give a folder written by decaqa fit (runs/<name>/model), a .ckpt file or a hub name"
    if not path.exists() and looks_local:
        raise CheckpointError(f"Model path {path} does not exist; {hint}.")
    if path.is_dir() and not (path / "config.json").exists():
        raise CheckpointError(f"{path} is not a model folder (it has no config.json); {hint}.")
    if path.is_file():
        raise CheckpointError(f"{path} is a file, not a model folder; {hint}.")


def load_checkpoint(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict, Any]:
    """Rebuild the network from a Lightning checkpoint (weights, hparams, tokenizer), with
    its adapters over the base it names when the run trained adapters (else None)."""
    from decaqa.network import build_network
    from decaqa.tokenizer import from_checkpoint

    ckpt = read_checkpoint(path)
    hp = ckpt.get("hyper_parameters", {})
    tokenizer = from_checkpoint(ckpt)
    model = build_network(hp.get("model"), hp.get("config"), tokenizer, hp.get("copy"),
                          ckpt.get("decaqa_info", {}).get("input_format"),
                          bool(hp.get("trust_remote_code")))
    adapters = None
    if ckpt.get("decaqa_adapters"):  # the checkpoint holds the adapters alone
        from decaqa.adapters import Adapters, AdapterSettings

        saved = ckpt["decaqa_adapters"]
        adapters = Adapters(AdapterSettings(**saved["settings"]), saved["tasks"])
        model = adapters.attach(model)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(state, strict=adapters is None)
    # decaqa_info (the run's answering settings) holds the decoding too; older checkpoints
    # have only the hyperparameters
    generation = {"max_new_tokens": hp.get("max_new_tokens", 64),
                  "num_beams": hp.get("num_beams", 1)}
    return model, tokenizer, {"generation": generation, **ckpt.get("decaqa_info", {})}, adapters


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint as data only (``weights_only=True``: tensors and plain containers,
    never an unpickled object, so a payload hidden in the file cannot run); one clear
    sentence for a missing, corrupt, truncated or unsafe file."""
    import pickle

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist; check the path (runs/<name>/"
                              "checkpoints/best.ckpt).")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        # weights_only refuses a pickled object by naming its GLOBAL; anything else is bytes
        # that are not a whole checkpoint
        if isinstance(err, pickle.UnpicklingError) and "GLOBAL" in str(err):
            raise CheckpointError(f"Checkpoint {path} holds Python objects, not only data (weights, "
                                  "numbers, strings); decaqa does not unpickle those, as they can "
                                  "run code: use a checkpoint written by decaqa fit.") from err
        raise CheckpointError(f"Checkpoint {path} is corrupt or truncated ({type(err).__name__}); "
                              "use another checkpoint (e.g. last.ckpt) or re-run training.") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict); give a .ckpt "
                              "written by decaqa fit.")
    return ckpt
