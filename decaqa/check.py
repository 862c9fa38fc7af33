"""`decaqa check TASK`: is a task's data fit to train on? Checked before any training.

Three problems cost users whole runs, and none shows until the scores come back:

* an answer the tokenizer cannot write: T5's SentencePiece has no ``{``, ``<`` or ``~``
  (google-research/text-to-text-transfer-transformer #390, #657), so a SQL or code answer
  comes back changed however well the model learns; a BPE trained on other text maps unseen
  characters to ``<unk>``;
* a degenerate target: one answer for most rows (decaNLP issue #49: a custom task trained to
  answer "o" for everything), usually a converter bug;
* inputs far beyond ``max_source_tokens``, silently cut off in training.

Each answer is encoded and decoded with the run's tokenizer and compared (whitespace
normalised); the answer distribution and the length percentiles are counted over every row.
A hard failure (an answer that does not round-trip, a degenerate target) makes the command
exit 1, so a CI can run it on a new converter.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from decaqa.example import QAExample, format_input

DEGENERATE_SHARE = 0.9  # one answer for at least this share of rows is a degenerate target


@dataclass
class CheckReport:
    """What `check_examples` found; ``failures`` are hard, ``warnings`` are not."""

    task: str
    examples: int
    distinct_answers: int
    top_answers: list[tuple[str, int]]
    input_tokens: dict[str, int]
    answer_tokens: dict[str, int]
    max_source_tokens: int
    truncated: int
    not_round_trip: list[tuple[str, str]] = field(default_factory=list)
    lost_characters: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"ok": self.ok}


def _clean(text: str) -> str:
    return " ".join(text.split())


def _percentiles(lengths: Sequence[int]) -> dict[str, int]:
    if not lengths:
        return {}
    arr = np.asarray(lengths)
    return {"p50": int(np.percentile(arr, 50)), "p90": int(np.percentile(arr, 90)),
            "p99": int(np.percentile(arr, 99)), "max": int(arr.max())}


def check_examples(task: str, examples: Iterable[QAExample], tokenizer: Any,
                   max_source_tokens: int = 512, input_format: str | None = None,
                   degenerate_share: float = DEGENERATE_SHARE) -> CheckReport:
    """Check every triple of one task: round trip, answer distribution, input lengths."""
    from decaqa.example import DEFAULT_FORMAT

    examples = list(examples)
    template = input_format or DEFAULT_FORMAT
    targets = [ex.target for ex in examples]
    counts = Counter(targets)
    inputs = [format_input(ex.question, ex.context, template) for ex in examples]
    input_lengths = [len(ids) for ids in tokenizer(inputs)["input_ids"]] if inputs else []
    distinct = list(counts)
    encoded = tokenizer(distinct)["input_ids"] if distinct else []
    answer_len = dict(zip(distinct, map(len, encoded)))
    bad: list[tuple[str, str]] = []
    lost: set[str] = set()
    for answer, ids in zip(distinct, encoded):
        back = tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if _clean(back) != _clean(answer):
            bad.append((answer, back))
            lost |= set(answer) - set(back)
    truncated = sum(n > max_source_tokens for n in input_lengths)
    report = CheckReport(task=task, examples=len(examples), distinct_answers=len(counts),
                         top_answers=counts.most_common(10),
                         input_tokens=_percentiles(input_lengths),
                         answer_tokens=_percentiles([answer_len[t] for t in targets]),
                         max_source_tokens=max_source_tokens, truncated=truncated,
                         not_round_trip=bad, lost_characters=sorted(lost))
    if not examples:
        report.failures.append("the converter produced no triples; check the data and the "
                               "converter's skips")
        return report
    if bad:
        rows = sum(counts[a] for a, _ in bad)
        chars = " ".join(repr(c) for c in report.lost_characters) or "(spacing or normalisation)"
        report.failures.append(
            f"{rows} of {len(examples)} answers ({len(bad)} distinct) do not survive the "
            f"tokenizer (lost: {chars}); the model can never produce them: use a tokenizer "
            "that can write them, or rewrite the answers in the converter")
    answer, top = counts.most_common(1)[0]
    share = top / len(examples)
    if len(examples) > 1 and share >= degenerate_share:
        report.failures.append(
            f"degenerate target: {answer!r} is the answer of {top} of {len(examples)} rows "
            f"({share:.0%}); a model learns to give it always (decaNLP issue #49): check "
            "that the converter reads the answer column")
    if truncated:
        report.warnings.append(
            f"{truncated} of {len(examples)} inputs ({truncated / len(examples):.1%}) are longer "
            f"than max_source_tokens={max_source_tokens} and would be truncated")
    return report


def render(report: CheckReport, shown: Sequence[QAExample], tokenizer_name: str) -> str:
    """The report as text for the terminal."""
    lines = []
    for ex in shown:
        lines += [f"[{ex.task} {ex.id}]", f"  context:  {ex.context}",
                  f"  question: {ex.question}", f"  answer:   {ex.answers}", ""]
    lines.append(f"{report.task}: {report.examples} triples; tokenizer: {tokenizer_name}")
    top = ", ".join(f"{a!r} {n / max(report.examples, 1):.1%}"
                    for a, n in report.top_answers[:5])
    lines.append(f"  answers: {report.distinct_answers} distinct; most common: {top}")
    if report.input_tokens:
        p = report.input_tokens
        lines.append(f"  input tokens: p50 {p['p50']}, p90 {p['p90']}, p99 {p['p99']}, "
                     f"max {p['max']} (max_source_tokens {report.max_source_tokens}: "
                     f"{report.truncated} over)")
        a = report.answer_tokens
        lines.append(f"  answer tokens: p50 {a['p50']}, p90 {a['p90']}, max {a['max']}")
    if not report.not_round_trip:
        lines.append("  round trip: every answer decodes back to itself")
    else:
        for answer, back in report.not_round_trip[:3]:
            lines.append(f"  round trip: {answer!r} comes back as {back!r}")
    for w in report.warnings:
        lines.append(f"  warning: {w}")
    for f in report.failures:
        lines.append(f"  FAIL: {f}")
    lines.append("  ok" if report.ok else f"  {len(report.failures)} problem(s)")
    return "\n".join(lines)
