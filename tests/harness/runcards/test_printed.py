"""Printed numbers: every common form read with the precision it states, and agreement decided
at that precision (harness.printed, shared by run docs and the paper check)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from harness.printed import agrees, parse_printed


@pytest.mark.parametrize(("text", "value", "exponent"), [
    ("126", 126.0, 0),
    ("20.57", 20.57, -2),
    ("1,234", 1234.0, 0),
    ("1,234,567.5", 1234567.5, -1),
    ("2.1e-3", 0.0021, -4),
    ("2.90e+10", 2.9e10, 8),
    ("\u22123.5", -3.5, -1),
    ("1\u202f234", 1234.0, 0),
    ("1{,}024", 1024.0, 0),
    (".5", 0.5, -1),
    ("0.50", 0.5, -2),
])
def test_each_common_form_reads_with_its_precision(text: str, value: float,
                                                   exponent: int) -> None:
    printed = parse_printed(text)
    assert printed.value == pytest.approx(value, rel=1e-12)
    assert printed.exponent == exponent


@pytest.mark.parametrize("text", ["", "12a", "1,23", "nan", "inf", "1.2.3", "--1", "1e"])
def test_what_is_not_a_printed_number_is_refused_with_the_fix(text: str) -> None:
    with pytest.raises(ValueError, match="not a printed number"):
        parse_printed(text)


_FORMS = ["plain", "grouped", "fixed", "sci"]


def _printed(mantissa: int, places: int, form: str) -> str:
    """A number with ``places`` printed decimals (or significant digits after the point for
    ``sci``), in one of the common forms."""
    value = Decimal(mantissa).scaleb(-places)
    if form == "plain":
        return f"{value:f}"
    if form == "grouped":
        return f"{value:,f}"
    if form == "fixed":
        return f"{value:.{places}f}"
    return f"{value:.{places}e}" if value else "0"


@given(mantissa=st.integers(-10**9, 10**9), places=st.integers(0, 6),
       form=st.sampled_from(_FORMS))
def test_a_printed_number_reads_back_its_value(mantissa: int, places: int, form: str) -> None:
    text = _printed(mantissa, places, form)
    assert parse_printed(text).value == pytest.approx(float(Decimal(text.replace(",", ""))),
                                                      rel=1e-12, abs=1e-300)


@given(mantissa=st.integers(-10**9, 10**9), places=st.integers(0, 6),
       form=st.sampled_from(_FORMS), delta=st.floats(-1e4, 1e4, allow_nan=False))
def test_a_value_agrees_exactly_when_within_half_the_last_printed_place(
        mantissa: int, places: int, form: str, delta: float) -> None:
    printed = parse_printed(_printed(mantissa, places, form))
    half = 0.5 * 10.0 ** printed.exponent
    shift = delta * half
    assume(abs(abs(shift) - half) > 1e-6 * half)  # off the exact edge of the interval
    assume(abs(printed.value) < 1e12 * half)  # the shift survives float addition
    assert agrees(printed, [printed.value + shift]) == (abs(shift) < half)


def test_a_non_finite_value_never_agrees() -> None:
    printed = parse_printed("3.5")
    assert not agrees(printed, [float("nan"), float("inf")])
