"""The triple every task is recast into: (context, question, answer).

A QAExample is the only thing that travels from converters to the model and metrics, so it
carries the task name (for routing and per-task scoring) and a stable id (for de-duplicating
distributed evaluation and for lining predictions up with references).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Answer = str | list[str]


@dataclass(frozen=True)
class QAExample:
    """One (context, question, answer) triple of one task.

    ``answer`` is one string or a list of acceptable strings (the first is the one trained on).
    ``choices`` lists the closed answer set for classification tasks, when there is one.
    ``meta`` holds what a metric needs beyond the answer text (a WikiSQL table header, a
    dialogue id and turn), as plain JSON-able data.
    ``questions`` holds every phrasing of this example's question, the canonical one first
    (the task's paraphrases, filled in for this row); one phrasing when the row brings its
    own question (SQuAD), so there is nothing to paraphrase.
    """

    context: str
    question: str
    answer: Answer
    task: str
    id: str
    choices: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    questions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.questions:
            object.__setattr__(self, "questions", (self.question,))

    @property
    def paraphrases(self) -> tuple[str, ...]:
        """The other phrasings of the question (held out of training by default)."""
        return self.questions[1:]

    @property
    def answers(self) -> list[str]:
        """All acceptable answers, the training target first."""
        return [self.answer] if isinstance(self.answer, str) else list(self.answer)

    @property
    def target(self) -> str:
        """The answer the model is trained to produce."""
        return self.answers[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON lines and `datasets` rows."""
        d = asdict(self)
        d["choices"] = list(self.choices) if self.choices is not None else None
        d["questions"] = list(self.questions)
        return d


# -- the model's input text: with the triple, so answering needs neither Lightning nor datasets --
DEFAULT_FORMAT = "question: {question} context: {context}"


def format_input(question: str, context: str, template: str = DEFAULT_FORMAT) -> str:
    """The model's input text; the one place the (question, context) layout is decided."""
    return template.format(question=question, context=context)


def clip_ids(ids: list[int], limit: int) -> list[int]:
    """Truncate keeping the final </s>, so the model still sees where the text ends."""
    return ids if len(ids) <= limit else ids[:limit - 1] + ids[-1:]
