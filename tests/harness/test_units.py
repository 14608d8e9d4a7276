"""Tests of quantities and units (harness.units)."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harness.units import (
    DIMENSIONLESS,
    Quantity,
    UnitError,
    known_units,
    parse_quantity,
    parse_unit,
)

Q = Quantity.of


@pytest.mark.parametrize(("alias", "name"), [
    ("nat", "nats"), ("NATS", "nats"), ("nats/token", "nats"), ("bit", "bits"),
    ("bits/token", "bits"), ("bpb", "bits/byte"), ("%", "percent"), ("pct", "percent"),
    ("n", "count"), ("tokens", "count"), ("s", "seconds"), ("sec", "seconds"),
    ("min", "minutes"), ("B", "bytes"), ("mib", "MiB"), ("ppl", "perplexity"),
    ("dimensionless", "1"), (" ratio ", "ratio"), (1, "1"),
])
def test_parse_unit_aliases(alias: str, name: str) -> None:
    assert parse_unit(alias).name == name


def test_unknown_unit_names_the_known_ones() -> None:
    with pytest.raises(UnitError) as info:
        parse_unit("furlongs")
    message = str(info.value)
    assert message.startswith("unknown unit 'furlongs'; known units: ")
    assert "nats" in message
    assert "bits/byte" in message


def test_known_units_are_sorted_canonical_names() -> None:
    names = known_units()
    assert names == sorted(names)
    assert {"nats", "bits", "count", "percent", "seconds"} <= set(names)


def test_the_uniform_baseline_in_both_units() -> None:
    """ln 151,643 is 11.93 nats; 17.21 is its log2, in bits."""
    bits = Q(math.log2(151643), "bits")
    assert bits.format() == "17.21 bits"
    assert bits.to("nats").format() == "11.93 nats"
    assert math.isclose(bits.to("nats").value, math.log(151643))


@pytest.mark.parametrize(("quantity", "unit", "value"), [
    (Q(1, "minutes"), "seconds", 60.0),
    (Q(1500, "ms"), "seconds", 1.5),
    (Q(2, "GiB"), "MiB", 2048.0),
    (Q(12.5, "%"), "ratio", 0.125),
    (Q(1, "bits/byte"), "nats/byte", math.log(2.0)),
    (Q(1, "days"), "hours", 24.0),
])
def test_conversions(quantity: Quantity, unit: str, value: float) -> None:
    assert math.isclose(quantity.to(unit).value, value)


def test_conversion_scales_the_ci() -> None:
    q = Q(1, "bits", ci=(0.5, 2)).to("nats")
    assert q.ci is not None
    assert math.isclose(q.ci[0], 0.5 * math.log(2.0))
    assert math.isclose(q.ci[1], 2 * math.log(2.0))


def test_conversion_across_dimensions_raises() -> None:
    with pytest.raises(UnitError, match="cannot convert 3 nats to count: information is not count"):
        Q(3, "nats").to("count")


def test_to_the_same_unit_is_the_same_quantity() -> None:
    q = Q(3, "nats")
    assert q.to("nats") is q


@pytest.mark.parametrize(("a", "b", "common"), [
    (Q(1, "nats"), Q(1, "bits"), "nats"),
    (Q(1, "bits"), Q(1, "nats"), "bits"),
    (Q(1, "count"), Q(1), "count"),
    (Q(1), Q(1, "count"), "count"),
    (Q(0), Q(1, "%"), "percent"),  # zero alone: 0 % is 0 ratio
    (Q(1, "perplexity"), Q(1), "perplexity"),
    (Q(1), Q(2), "1"),
])
def test_common_unit(a: Quantity, b: Quantity, common: str) -> None:
    assert a.common_unit(b).name == common


@pytest.mark.parametrize("unit", ["nats", "bits", "seconds", "bytes", "bits/byte", "tokens/s"])
def test_a_bare_number_never_stands_beside_a_physical_unit(unit: str) -> None:
    """The field's trap: "val_loss 11.55 < 17.21" with the 17.21 in bits."""
    with pytest.raises(UnitError, match="unit mismatch"):
        Q(11.55, unit).common_unit(Q(17.21))
    with pytest.raises(UnitError, match="unit mismatch"):
        Q(17.21).aligned(Q(11.55, unit))


def test_nats_against_count_raises_and_names_both() -> None:
    with pytest.raises(UnitError) as info:
        Q(11.55, "nats").aligned(Q(151643, "count"))
    message = str(info.value)
    assert "11.55 nats (information)" in message
    assert "151643 count (count)" in message
    assert "give both sides units of one dimension" in message


def test_aligned_converts_the_right_side_to_the_left_unit() -> None:
    a, b = Q(11.55, "nats").aligned(Q(17.21, "bits"))
    assert (a.unit.name, b.unit.name) == ("nats", "nats")
    assert b.format() == "11.93 nats"
    bare, count = Q(5).aligned(Q(7, "count"))
    assert bare == Q(5, "count")
    assert count == Q(7, "count")


@pytest.mark.parametrize(("quantity", "text"), [
    (Q(11.929, "nats"), "11.93 nats"),
    (Q(4, "count"), "4 count"),
    (Q(12.5, "%"), "12.5 %"),
    (Q(3), "3"),
    (Q(0.0001234, "ratio"), "1.234e-04 ratio"),
    (Q(1234567.5, "nats"), "1.235e+06 nats"),
    (Q(math.inf, "nats"), "inf nats"),
    (Q(math.nan, "nats"), "nan nats"),
    (Q(-0.02, "ratio", ci=(-0.03, -0.01)), "-0.02 ratio (CI [-0.03, -0.01])"),
])
def test_format(quantity: Quantity, text: str) -> None:
    assert quantity.format() == text
    assert str(quantity) == text


def test_finite() -> None:
    assert Q(1, "nats").finite
    assert not Q(math.nan, "nats").finite
    assert not Q(math.inf, "nats").finite


@pytest.mark.parametrize(("text", "expected"), [
    ("1000 count", Q(1000, "count")),
    ("11.93 nats", Q(11.93, "nats")),
    ("5 %", Q(5, "percent")),
    ("5%", Q(5, "percent")),
    ("  2.5e-1 ratio ", Q(0.25, "ratio")),
    ("1.2 bits/byte", Q(1.2, "bits/byte")),
    ("42", Q(42)),
    (42, Q(42)),
    (0.5, Q(0.5)),
])
def test_parse_quantity(text: str | float, expected: Quantity) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "got an empty string"),
    ("   ", "got an empty string"),
    ("nats", "expected a number with a unit such as '100 count', got 'nats'"),
    ("%", "expected a number with a unit such as '100 count'"),
    ("12 furlongs", "unknown unit 'furlongs'"),
    (True, "got boolean True"),
])
def test_parse_quantity_errors(text: str | bool, fragment: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_quantity(text)
    assert fragment in str(info.value)


def test_dimensionless_is_the_bare_number() -> None:
    assert parse_quantity("3").unit is DIMENSIONLESS
    assert DIMENSIONLESS.name == "1"


_finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
_FAMILIES = [("nats", "bits"), ("bits/byte", "nats/byte"), ("seconds", "ms"), ("minutes", "days"),
             ("bytes", "GiB"), ("KiB", "MiB"), ("percent", "ratio")]


@given(_finite)
@example(11.93)
@example(0.0)
@example(-1e-300)
def test_nats_bits_round_trip(value: float) -> None:
    back = Q(value, "nats").to("bits").to("nats").value
    assert math.isclose(back, value, rel_tol=1e-12, abs_tol=1e-300)


@given(st.sampled_from(_FAMILIES), _finite, _finite, _finite)
def test_round_trips_in_every_family(family: tuple[str, str], value: float,
                                     lo: float, hi: float) -> None:
    a, b = family
    q = Q(value, a, ci=(min(lo, hi), max(lo, hi)))
    back = q.to(b).to(a)
    assert math.isclose(back.value, q.value, rel_tol=1e-12, abs_tol=1e-300)
    assert back.ci is not None
    assert q.ci is not None
    assert all(math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-300)
               for x, y in zip(back.ci, q.ci, strict=True))


@given(st.sampled_from(known_units()), _finite)
def test_format_then_parse_keeps_the_unit(unit: str, value: float) -> None:
    """A formatted quantity reads back in the same unit, within its printed precision."""
    q = Q(value, unit)
    back = parse_quantity(q.format(digits=17))
    assert back.unit == q.unit
    assert math.isclose(back.value, q.value, rel_tol=1e-15)
