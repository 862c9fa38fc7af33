"""decaNLP's answer formats (decaqa.formats), written by the converters and read by the
metrics: WOZ's state changes, WikiSQL's queries, SQuAD's rows."""
from __future__ import annotations

from decaqa.formats import WozDelta, format_woz_answer, parse_woz_answer


def test_parse_and_format_woz_answer():
    assert parse_woz_answer("food: thai, area: north; phone, address") == WozDelta(
        {"food": "thai", "area": "north"}, ("phone", "address"))
    assert parse_woz_answer("price range: cheap;") == WozDelta({"price range": "cheap"}, ())
    assert parse_woz_answer("; phone") == WozDelta({}, ("phone",))
    assert parse_woz_answer("None") == WozDelta({}, ())
    assert parse_woz_answer("food: thai") == WozDelta({}, ())  # no ';' -> no change (decaNLP)
    assert format_woz_answer({"food": "thai", "area": "north"}, ["phone"]) == \
        "food: thai, area: north; phone"
    assert format_woz_answer([("food", "thai")]) == "food: thai;"
    assert format_woz_answer({}, ["phone"]) == "; phone"
    assert format_woz_answer({}) == "None"
