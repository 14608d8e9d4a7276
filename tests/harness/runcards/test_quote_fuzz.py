"""The run-doc quote parser and matcher on arbitrary input: a RunDocError naming the entry, or a
match whose number is the text as printed; never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.runs.rundoc import Quote, RunDocError, find_quotes, parse_quotes

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_KEYS = st.sampled_from(["text", "series", "field", "take", "unit", "other"])
_QUOTES = st.lists(st.dictionaries(_KEYS, _VALUES | st.just("{} shards"), max_size=5)
                   | _VALUES, max_size=3)


def _parsed(raw: Any) -> tuple[tuple[Quote, ...], str | None]:
    try:
        return parse_quotes(raw, "subject 'card'"), None
    except RunDocError as exc:
        return (), str(exc)


@given(_QUOTES | _VALUES)
def test_any_quotes_value_parses_or_is_a_run_doc_error_naming_where(raw: Any) -> None:
    quotes, error = _parsed(raw)
    if error is not None:
        assert error.startswith("subject 'card'")
    else:
        assert all(q.text.count("{}") == 1 for q in quotes)


@given(st.text(max_size=40), st.text(max_size=200))
def test_any_sentence_in_any_text_matches_only_printed_numbers(sentence: str,
                                                               text: str) -> None:
    quote = Quote(sentence.replace("{}", "") + " {} ", "count", series="s")
    for found in find_quotes(text, quote):
        assert found.printed.text in text
        assert found.line >= 1
