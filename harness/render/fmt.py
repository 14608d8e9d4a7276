"""Numbers, measurements, dates and ages as text: the same rules for every rendered format.

A value keeps ``digits`` significant digits (an integer value prints whole); a CI prints as
``[a, b]`` in the measurement's unit; a non-finite value prints as ``nan``/``inf`` and is never
dropped. Dates are the records' own UTC stamps; ages are measured against the newest record in
the ledger, never against the clock, so a render is a function of the ledger alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from harness.records import Measurement
from harness.vectors import describe_values

__all__ = [
    "DEFAULT_DIGITS",
    "age",
    "day",
    "latex_measurement",
    "latex_number",
    "measurement_text",
    "number",
    "short_sha",
    "stamp",
    "unit_suffix",
]

DEFAULT_DIGITS = 4
# Units whose name adds nothing next to the number.
_SILENT_UNITS = frozenset({"1", "count"})


def number(value: float, digits: int = DEFAULT_DIGITS) -> str:
    """``value`` with ``digits`` significant digits; whole numbers whole; no exponent below 1e15."""
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.{max(digits, 1)}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


def unit_suffix(unit: str) -> str:
    """`` nats``, `` %``; nothing for a count or a bare number."""
    if unit in _SILENT_UNITS:
        return ""
    return " %" if unit == "percent" else f" {unit}"


def measurement_text(m: Measurement, digits: int = DEFAULT_DIGITS, *, with_name: bool = True,
                     with_n: bool = True) -> str:
    """``val_nll 4.21 nats [4.1, 4.3] (n=12000)`` for Markdown, HTML and terminals; a vector
    as its length, range and largest element (``delta_l2 6 values: min ...``)."""
    if m.values is not None:
        text = describe_values(m.values, m.unit, max(digits, 1))
        if with_n and m.n is not None:
            text += f" (n={m.n} each)"
        return f"{m.name} {text}" if with_name else text
    text = number(m.value, digits) + unit_suffix(m.unit)
    if m.ci is not None:
        text += f" [{number(m.ci[0], digits)}, {number(m.ci[1], digits)}]"
    if with_n and m.n is not None:
        text += f" (n={m.n})"
    return f"{m.name} {text}" if with_name else text


# --- LaTeX ------------------------------------------------------------------------------------

def latex_number(value: float, digits: int = DEFAULT_DIGITS) -> str:
    """``1{,}234{,}567``, ``3.412``, ``$1.2\\times10^{-5}$``, ``\\textit{nan}``."""
    if not math.isfinite(value):
        return r"\textit{" + number(value) + "}"
    text = number(value, digits)
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"${mantissa}\\times10^{{{int(exponent)}}}$"
    whole, dot, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits_only = whole.lstrip("-")
    if len(digits_only) > 4:
        groups = [digits_only[max(i - 3, 0):i] for i in range(len(digits_only), 0, -3)]
        digits_only = "{,}".join(reversed(groups))
    return f"{sign}{digits_only}{dot}{frac}"


def latex_unit(unit: str) -> tuple[float, str]:
    """(scale, suffix): a ratio prints as a percentage, a count and a bare number plain."""
    from harness.render.escape import latex

    if unit in _SILENT_UNITS:
        return 1.0, ""
    if unit in ("ratio", "percent"):
        return (100.0 if unit == "ratio" else 1.0), r"\,\%"
    return 1.0, r"\," + latex(unit)


def latex_measurement(m: Measurement, digits: int = DEFAULT_DIGITS, *,
                      ci: bool = True) -> str:
    """``3.41\\,nats [3.35, 3.47]``: the value, its CI when known and ``ci``, in its unit; a
    vector as ``6 values, 0.01 to 5.73, largest at [5]``."""
    scale, suffix = latex_unit(m.unit)
    if m.values is not None:
        return latex_vector(m.values, scale, digits) + suffix
    text = latex_number(m.value * scale, digits)
    if ci and m.ci is not None:
        lo, hi = (latex_number(v * scale, digits) for v in m.ci)
        text += f"~[{lo}, {hi}]"
    return text + suffix


def latex_vector(values: Sequence[float], scale: float = 1.0,
                 digits: int = DEFAULT_DIGITS) -> str:
    """A vector in a table cell: its length, range and where its largest magnitude sits."""
    finite = [(v * scale, i) for i, v in enumerate(values) if math.isfinite(v)]
    if not finite:
        return f"{len(values)} values, none finite"
    lo, hi = min(finite)[0], max(finite)[0]
    at = max(finite, key=lambda p: (abs(p[0]), -p[1]))[1]
    bad = len(values) - len(finite)
    tail = f", {bad} non-finite" if bad else ""
    return (f"{len(values)} values, {latex_number(lo, digits)} to {latex_number(hi, digits)}, "
            f"largest at [{at}]{tail}")


def latex_ci(m: Measurement, digits: int = DEFAULT_DIGITS) -> str | None:
    """``[3.35, 3.47]\\,nats``, or None when the measurement has no CI."""
    if m.ci is None:
        return None
    scale, suffix = latex_unit(m.unit)
    lo, hi = (latex_number(v * scale, digits) for v in m.ci)
    return f"[{lo}, {hi}]{suffix}"


# --- dates --------------------------------------------------------------------------------------

def stamp(created: str) -> str:
    """A record's ``created`` as ``2026-11-21 19:14 UTC``."""
    return f"{created[:10]} {created[11:16]} UTC"


def day(created: str) -> str:
    return created[:10]


def age(created: datetime, newest: datetime) -> str:
    """How much older than the ledger's newest record: ``0 s``, ``5 min``, ``3.2 h``, ``12 d``."""
    seconds = max((newest - created).total_seconds(), 0.0)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{round(seconds):g} s"


def short_sha(sha: object, width: int = 12) -> str:
    return str(sha)[:width] if sha else "—"
