"""Asking a trained model questions: ``qa = decaqa.load(path); qa.ask(question, context)``.

Light enough for a notebook: no Lightning, no `datasets`; every answer goes through
`decaqa.answer`, the one batched answering path that validation and evaluate use too.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from decaqa import store
from decaqa.answer import CHOICE_MODES, answer, task_beams, task_cap
from decaqa.errors import DataError
from decaqa.example import clip_ids, format_input
from decaqa.tasks import get_task, iter_examples


class QA:
    """A trained model with its tokenizer, input format, precision and decoding settings.

    Every setting comes from the run's export (``decaqa.json``), so an answer here is the
    answer `decaqa evaluate` and the run's validation gave for the same input.
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 info: store.ExportInfo | Mapping[str, Any] | None = None, adapters: Any = None):
        self.info = (info if isinstance(info, store.ExportInfo)
                     else store.ExportInfo.from_dict(info or {}))
        self.adapters = adapters  # decaqa.adapters.Adapters: each task's own, if any
        self.precision = self.info.precision
        if self.precision == "bf16-true":
            model = model.to(torch.bfloat16)
        self.model, self.tokenizer = model.eval(), tokenizer
        self.input_format = self.info.input_format
        self.max_source_tokens = self.info.max_source_tokens
        self.max_new_tokens = self.info.generation.max_new_tokens
        self.num_beams = self.info.generation.num_beams
        self.task_beams = dict(self.info.generation.task_beams)  # {task: beams}: its own
        self.batch_size = self.info.eval_batch_size
        self.max_tokens = self.info.eval_max_tokens
        self.truncated = 0  # inputs cut to max_source_tokens so far, reported on stderr

    @property
    def tasks(self) -> list[str]:
        """The tasks the model was trained on (from the export's decaqa.json)."""
        return self.info.trained_tasks

    def _tasks_of(self, task: str | Sequence[str | None] | None, n: int,
                  questions: Sequence[str] = ()) -> list[str | None]:
        """One task per question. A question asked without one that is one of a known task's
        questions is that task's (`store.ExportInfo.task_of`: its cap, its adapter); with
        adapters a task names the adapter that answers (a task they were not trained on, or
        none, goes to the base; one neither knows is one sentence, now)."""
        tasks = [task] * n if task is None or isinstance(task, str) else list(task)
        if len(tasks) != n:
            raise DataError(f"Give one task per question ({n} questions, {len(tasks)} tasks).")
        tasks = [t if t is not None or not questions else self.info.task_of(questions[i])
                 for i, t in enumerate(tasks)]
        if self.adapters is not None:
            for t in set(tasks):
                self.adapters.adapter_for(t)
        return tasks

    def answered_by(self, task: str | None) -> str:
        """Who answers ``task``: ``model``, or with adapters ``adapter <name>`` or ``base``."""
        return "model" if self.adapters is None else self.adapters.answered_by(task)

    def cap(self, task: str | None) -> int:
        """How many tokens an answer of ``task`` may have (without one: the longest cap of any
        task, `decaqa.answer.task_cap`)."""
        return task_cap(task, self.info.caps, self.max_new_tokens)

    def beams(self, task: str | None) -> int:
        """How many beams answer a question of ``task`` (`decaqa.answer.task_beams`)."""
        return task_beams(task, self.task_beams, self.num_beams)

    def ask(self, question: str, context: str, task: str | None = None,
            choices: Sequence[str] | None = None, rank: str = "rank") -> str:
        """Answer one question about one context; with ``choices``, the most likely one."""
        return self.ask_batch([(question, context)], task=task,
                              choices=[choices] if choices is not None else None, rank=rank)[0]

    def ask_batch(self, pairs: Sequence[tuple[str, str]],
                  task: str | Sequence[str | None] | None = None,
                  choices: Sequence[Sequence[str] | None] | None = None,
                  rank: str = "rank") -> list[str]:
        """Answer many (question, context) pairs through the one batched path; order is kept.

        ``task``: one task name or one per pair (sets each answer's length cap and, with
        adapters, who answers); left out, a pair whose question is a known task's question
        is that task's.
        ``choices``: one list of answer choices per pair (None for a pair to generate),
        ranked by likelihood (``rank``: summed, or ``rank_mean`` per token) instead of
        generating.
        """
        return [a["answer"] for a in self.ask_many(pairs, task, choices, rank)]

    def ask_many(self, pairs: Sequence[tuple[str, str]],
                 task: str | Sequence[str | None] | None = None,
                 choices: Sequence[Sequence[str] | None] | None = None,
                 rank: str = "rank") -> list[dict[str, Any]]:
        """`ask_batch` with what a caller serving answers reports beside each one:
        ``{"answer", "task" (as given or found from the question), "truncated" (the input was
        cut to max_source_tokens), "answered_by"}``."""
        if not pairs:
            return []
        check_pairs(pairs)
        tasks = self._tasks_of(task, len(pairs), [q for q, _ in pairs])
        sources, cut = self._encode(pairs)
        if choices is not None:
            if rank not in CHOICE_MODES[1:]:
                raise DataError(f"Unknown ranking '{rank}'; use rank or rank_mean.")
            if len(choices) != len(pairs) or any(c is not None and not c for c in choices):
                raise DataError("Give one non-empty list of choices per question (None for "
                                "one to generate).")
        mode = rank if choices is not None and any(choices) else "generate"
        answers = self._answer(sources, tasks, choices, mode)
        return [{"answer": a, "task": t, "truncated": c, "answered_by": self.answered_by(t)}
                for a, t, c in zip(answers, tasks, cut)]

    def _answer(self, sources: list[list[int]], tasks: Sequence[str | None],
                choices: Sequence[Sequence[str] | None] | None, mode: str) -> list[str]:
        """The one answering path (`decaqa.answer.answer`) with this model's settings."""
        self._check_beams()
        return answer(self.model, self.tokenizer, sources, tasks, caps=self.info.caps,
                      default_cap=self.max_new_tokens, num_beams=self.num_beams,
                      beams=self.task_beams, choices=choices, mode=mode,
                      max_rows=self.batch_size, max_tokens=self.max_tokens,
                      precision=self.precision,
                      adapters=self.adapters)

    def _check_beams(self) -> None:
        """``num_beams`` and ``task_beams`` as a user may have set them: whole widths of at
        least 1, and tasks this model or decaqa knows (a misspelt name would be answered
        without its beams, and without a word)."""
        store.check_beams({"qa.num_beams": self.num_beams,
                           **{f"qa.task_beams[{t!r}]": b for t, b in self.task_beams.items()}})
        store.check_task_beams(self.task_beams, known=self.tasks, setting="qa.task_beams",
                               by="this model")

    def encode(self, pairs: Sequence[tuple[str, str]]) -> list[list[int]]:
        """Format and tokenize, clipping to max_source_tokens (counted, said on stderr)."""
        return self._encode(pairs)[0]

    def _encode(self, pairs: Sequence[tuple[str, str]]) -> tuple[list[list[int]], list[bool]]:
        """`encode`, and whether each input was cut."""
        texts = [format_input(q, c, self.input_format) for q, c in pairs]
        ids = self.tokenizer(texts)["input_ids"]
        limit = self.max_source_tokens
        cut = [len(x) > limit for x in ids]
        if any(cut):
            self.truncated += sum(cut)
            print(f"decaqa: {sum(cut)} input(s) longer than {limit} tokens were truncated.",
                  file=sys.stderr)
        return [clip_ids(x, limit) for x in ids], cut

    def predict(self, task: str, rows: Iterable[Mapping[str, Any]],
                tasks_dir: Sequence[str] | None = None,
                choices: str = "generate") -> list[dict[str, Any]]:
        """Convert raw data-set rows with the task's converter and answer them
        (``choices="rank"`` ranks the task's answer choices instead of generating)."""
        spec = get_task(task, tasks_dir)
        examples = list(iter_examples(spec, rows))
        if choices not in CHOICE_MODES:
            raise DataError(f"Unknown choices mode '{choices}'; use one of "
                            f"{', '.join(CHOICE_MODES)}.")
        pairs = [(ex.question, ex.context) for ex in examples]
        check_pairs(pairs)
        tasks = self._tasks_of(task, len(pairs))
        preds = self._answer(self.encode(pairs), tasks, [spec.choices] * len(pairs), choices)
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
         adapters: str | Path | None = None, base: str | Path | None = None,
         other_base: bool = False, num_beams: int | None = None) -> QA:
    """Load a decaqa export folder (runs/<name>/model), any HF seq2seq model, or a .ckpt.

    ``adapters``: a folder of adapters a run wrote (runs/<name>/adapters) to put over the
    base ``path``; each task is then answered by its own adapter (``ask(..., task=...)``),
    and a task without one (or no task) by the base. An adapters folder given as ``path``
    goes over ``base``, else the base it recorded. A base whose weights differ from those
    the adapters were trained over is refused unless ``other_base=True``.

    A model that asks to run code of its own (its config's auto_map) is refused unless
    ``trust_remote_code=True``: that code would run with your rights.

    ``num_beams``: answer every task with this many beams (1: greedy) instead of the run's
    own decoding (`store.Generation.with_beams`).
    """
    store.check_num_beams(num_beams)  # a bad width: one sentence, before the model loads
    loaded = store.load(path, trust_remote_code, adapters, base, other_base)
    model = loaded.model.to(device) if device else loaded.model
    info = replace(loaded.info, generation=loaded.info.generation.with_beams(num_beams))
    return QA(model, loaded.tokenizer, info, loaded.adapters)
