"""decaNLP's answer formats, written once for the converters that write them and the metrics
that read them back.

* **WOZ** (dialogue state tracking): a turn's answer is the change in state,
  ``"food: thai, area: north; phone, address"`` (new informs, ``;``, requested slots), or
  ``"None"``; `format_woz_answer` writes it, `parse_woz_answer` reads it (as forgivingly as
  decaNLP's ``to_delta_state``) for ``dsem``.
* **WikiSQL**: a query is written as decaNLP's ``repr(Query)``,
  ``SELECT {agg} {col} FROM table [WHERE {col} {op} {value} AND ...]`` (`query_repr`, over
  `AGG_OPS` and `COND_OPS`); ``lfem`` parses it back against the table's header.
* **SQuAD** (1.1 and 2.0): a row becomes a triple by decaNLP's rule (`squad_triple`).

Imports nothing but the standard library, so a converter file stays light.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

UNANSWERABLE = "unanswerable"

# -- WOZ ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WozDelta:
    """One turn's change in dialogue state: slots informed (slot -> value) and slots requested."""

    inform: dict[str, str]
    request: tuple[str, ...] = ()


def format_woz_answer(inform: Mapping[str, str] | Sequence[tuple[str, str]],
                      request: Sequence[str] = ()) -> str:
    """decaNLP's WOZ answer: ``"food: thai, area: north; phone, address"``; ``"None"`` if empty."""
    pairs = inform.items() if isinstance(inform, Mapping) else inform
    text = ", ".join(f"{slot}: {value}" for slot, value in pairs) + ";"
    if request:
        text += " " + ", ".join(request)
    return text if len(text) > 1 else "None"


def parse_woz_answer(text: str) -> WozDelta:
    """Inverse of ``format_woz_answer``, as forgiving as decaNLP's ``to_delta_state``.

    A string without exactly one ';' is no change at all; an inform item without exactly one
    ':' is skipped. Both sides of dsem go through this same parser.
    """
    parts = text.strip().split(";")
    if text.strip() == "None" or len(parts) != 2:
        return WozDelta({})
    inform = {}
    for item in parts[0].split(","):
        pair = item.split(":")
        if len(pair) == 2:
            inform[pair[0].strip()] = pair[1].strip()
    return WozDelta(inform, tuple(r.strip() for r in parts[1].split(",") if r.strip()))


# -- WikiSQL --------------------------------------------------------------------------------------
# decaNLP's Query (after salesforce/WikiSQL lib/query.py): the operators as a query writes them
AGG_OPS = ("", "MAX", "MIN", "COUNT", "SUM", "AVG")
COND_OPS = ("=", ">", "<", "OP")


def sql_conditions(conds: Any) -> list[tuple[int, int, str]]:
    """(column, operator, value) triples from HF's dict of lists or a list of dicts/triples."""
    if isinstance(conds, Mapping):
        return list(zip(conds["column_index"], conds["operator_index"], conds["condition"]))
    return [(c["column_index"], c["operator_index"], c["condition"]) if isinstance(c, Mapping)
            else tuple(c) for c in conds]


def query_repr(sel: int, agg: int, header: Sequence[str],
               conds: Sequence[tuple[int, int, Any]]) -> str:
    """decaNLP's repr(Query): 'SELECT {agg} {col} FROM table [WHERE col op value AND ...]'."""
    rep = f"SELECT {AGG_OPS[agg]} {header[sel]} FROM table"
    if conds:
        rep += " WHERE " + " AND ".join(f"{header[i]} {COND_OPS[o]} {v}" for i, o, v in conds)
    return " ".join(rep.split())


# -- SQuAD ----------------------------------------------------------------------------------------
def squad_triple(row: Mapping[str, Any]) -> dict[str, Any]:
    """decaNLP's SQuAD class: question = ' '.join(q.split()); every annotator answer is
    acceptable, the first is trained on; a row without answers (SQuAD 2.0's unanswerable
    questions) gets the answer 'unanswerable' and a context with its whitespace collapsed."""
    answers = list(row["answers"]["text"])
    context = row["context"] if answers else " ".join(row["context"].split())
    return {"context": context, "question": " ".join(row["question"].split()),
            "answer": answers or UNANSWERABLE}
