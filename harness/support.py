"""The support of a measurement: its sample size n and its confidence interval (DESIGN rule 13).

A measurement is evidence only with its support. The tool itself, without a guard in the
contract, judges:

* ``n = 0`` (a rate over nothing, such as ``errors / n if n else 0.0``): ERROR, never a verdict
  on the value, because there is no measurement to judge;
* ``n`` below the ``min_n`` a claim declares for that measure (``measures: {cer: {unit: ratio,
  min_n: 100}}``): a failed guard ``min_n.<measure>``, so SUSPECT when the predicate holds and
  INCONCLUSIVE when it does not, as any methodology guard; no ``n`` at all where a ``min_n`` is
  declared is an ERROR (the falsifier did not record what the claim needs);
* a confidence interval whose ends are reversed, non-finite, or that does not contain its own
  value: ERROR naming the measurement (the interval would decide under ``decide_on_ci``).

:func:`check_measure_args` refuses, when a falsifier calls ``evidence.measure``, what could not be
persisted or read one way: an interval in another unit, non-finite ends, an ``n`` that is not a
non-negative whole number.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.records import GuardResult, Measurement
from harness.units import Quantity, UnitError, parse_unit
from harness.vectors import describe_values

__all__ = ["check_measure_args", "min_n_guards", "support_problem"]

_ROUNDING = 1e-12  # relative slack for a value on an end of its interval, after float rounding


def _num(x: float) -> str:
    return Quantity(x, parse_unit("1")).format(6)


def _interval(m: Measurement) -> str:
    lo, hi = m.ci if m.ci is not None else (math.nan, math.nan)
    unit = "" if m.unit == "1" else f" {m.unit}"
    return f"[{_num(lo)}, {_num(hi)}]{unit}"


def _ci_problem(m: Measurement) -> str | None:
    if m.ci is None:
        return None
    lo, hi = m.ci
    where = f"measurement {m.name}: its confidence interval {_interval(m)}"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{where} has a non-finite end; an interval must be two finite numbers"
    if lo > hi:
        return (f"{where} has its ends reversed (low > high); record ci=(low, high), "
                f"an interval is never decided on reversed ends")
    slack = _ROUNDING * max(1.0, abs(m.value), abs(lo), abs(hi))
    if not lo - slack <= m.value <= hi + slack:
        return (f"{where} does not contain its value {_num(m.value)}: an interval that "
                f"contradicts its value is an error, never decided on")
    if m.ci_level is not None and not 0 < m.ci_level < 1:
        return f"{where} has level {m.ci_level}; a confidence level lies between 0 and 1"
    return None


def support_problem(m: Measurement) -> str | None:
    """Why ``m``'s support makes it no measurement (an ERROR reason), or None."""
    if m.n is not None and m.n < 0:
        return f"measurement {m.name} has n = {m.n}; a sample size is never negative"
    if m.n == 0:
        shown = (describe_values(m.values, m.unit) if m.values is not None
                 else m.quantity.format())
        return (f"measurement {m.name} is {shown} over n = 0: a value over an "
                f"empty sample is no measurement (a rate over nothing is not 0), never a pass")
    if m.values is not None:
        return _vector_problem(m)
    return _ci_problem(m)


def _vector_problem(m: Measurement) -> str | None:
    """Each element's interval judged as a scalar's would be, naming the element."""
    assert m.values is not None
    if m.cis is not None and len(m.cis) != len(m.values):
        return (f"measurement {m.name} has {len(m.cis)} intervals for {len(m.values)} values; "
                f"a vector holds one interval (or none) per element")
    if m.labels is not None and len(m.labels) != len(m.values):
        return f"measurement {m.name} has {len(m.labels)} labels for {len(m.values)} values"
    for i, ci in enumerate(m.cis or ()):
        element = Measurement(f"{m.name}[{i}]", m.values[i], m.unit, m.n, ci, m.ci_level)
        problem = _ci_problem(element)
        if problem is not None:
            return problem
    return None


def min_n_guards(minimums: Mapping[str, int], measurements: Sequence[Measurement],
                 ) -> tuple[GuardResult, ...] | str:
    """One ``min_n.<measure>`` guard per declared minimum, or an ERROR reason when a measure
    with a declared minimum was recorded without its n."""
    results = []
    for m in measurements:
        need = minimums.get(m.name)
        if need is None:
            continue
        if m.n is None:
            return (f"measurement {m.name} was recorded without n, but the claim declares "
                    f"min_n {need} for it; record it with evidence.measure(..., n=...)")
        holds = m.n >= need
        sign = ">=" if holds else "<"
        results.append(GuardResult(f"min_n.{m.name}", holds,
                                   f"{m.name} n = {m.n} {sign} min_n {need} (declared under "
                                   f"measures)"))
    return tuple(results)


def _ci_end(name: str, unit: str, end: Any) -> float:
    if isinstance(end, Quantity):
        if end.unit != parse_unit(unit):
            msg = (f"measurement {name}: confidence interval end {end.format()} is not in "
                   f"{unit}, the unit of its value; convert it (Quantity.to) before recording")
            raise UnitError(msg)
        end = end.value
    if isinstance(end, bool) or not isinstance(end, numbers.Real):
        msg = f"measurement {name}: confidence interval end {end!r} is not a number"
        raise ValueError(msg)
    value = float(end)
    if not math.isfinite(value):
        msg = (f"measurement {name}: confidence interval end {value} is not finite; an "
               f"interval must be two finite numbers in {unit}")
        raise ValueError(msg)
    return value


def check_measure_args(name: str, unit: str, n: Any, ci: Any,
                       ) -> tuple[int | None, tuple[float, float] | None]:
    """``n`` and ``ci`` as a measurement holds them; ValueError/UnitError naming ``name``."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Real)
                          or not float(n).is_integer() or n < 0):
        msg = f"measurement {name}: n must be a whole number >= 0 (the sample size), got {n!r}"
        raise ValueError(msg)
    count = None if n is None else int(float(n))
    if ci is None:
        return count, None
    ends = list(ci) if isinstance(ci, Iterable) and not isinstance(ci, str | bytes) else []
    if len(ends) != 2:
        msg = f"measurement {name}: ci must be (low, high), got {ci!r}"
        raise ValueError(msg)
    lo, hi = (_ci_end(name, unit, end) for end in ends)
    return count, (lo, hi)
