"""Number formatting shared by every renderer."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from harness.records import Measurement
from harness.render.fmt import (
    age,
    latex_ci,
    latex_measurement,
    latex_number,
    measurement_text,
    number,
)
from harness.render.history import Entry, _raw
from tests.harness.render.space import BASE_TIME


def test_numbers() -> None:
    assert number(3.41234) == "3.412"
    assert number(12000.0) == "12000"
    assert number(1.5e-7) == "1.5e-7"
    assert number(math.nan) == "nan"
    assert number(-math.inf) == "-inf"


def test_latex_numbers_and_units() -> None:
    assert latex_number(1234567.0) == "1{,}234{,}567"
    assert latex_number(1234.0) == "1234"
    assert latex_number(0.00001234) == "$1.234\\times10^{-5}$"
    assert latex_number(math.nan) == "\\textit{nan}"
    nll = Measurement("val_nll", 3.41234, "nats", ci=(3.35, 3.47), ci_level=0.95)
    assert latex_measurement(nll) == "3.412~[3.35, 3.47]\\,nats"
    assert latex_measurement(nll, 3, ci=False) == "3.41\\,nats"
    assert latex_ci(nll) == "[3.35, 3.47]\\,nats"
    assert latex_measurement(Measurement("r", 0.125, "ratio")) == "12.5\\,\\%"
    assert latex_measurement(Measurement("n", 5.0, "count")) == "5"
    assert latex_measurement(Measurement("b", 1.1, "bits/byte")) == "1.1\\,bits/byte"


def test_ages_are_relative_to_the_newest_record() -> None:
    assert age(BASE_TIME, BASE_TIME) == "0 s"
    assert age(BASE_TIME, BASE_TIME + timedelta(minutes=5)) == "5 min"
    assert age(BASE_TIME, BASE_TIME + timedelta(hours=36)) == "1.5 d"


FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)


@given(FLOAT, st.none() | st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)),
       st.none() | st.integers(0, 10**9), st.sampled_from(["nats", "count", "ratio", "percent"]),
       st.integers(1, 8))
def test_history_entry_measurement_round_trips(value: float, ci: tuple[float, float] | None,
                                               n: int | None, unit: str, digits: int) -> None:
    """A measurement kept in history's flat form comes back as the record's, to the text."""
    m = Measurement("x", value, unit, n, ci, 0.95 if ci else None)
    entry = Entry("id", "claim", "C", "s", "subject", "PASS", "2026-01-01T00:00:00Z", None, None,
                  None, None, (_raw(m.to_json()),), "hash")
    back = entry.measurement("x")
    assert back is not None
    assert measurement_text(back, digits) == measurement_text(m, digits)
    assert (back.unit, back.n, back.ci, back.ci_level) == (m.unit, m.n, m.ci, m.ci_level)
