"""Numbers, measurements, dates and ages as text: the same rules for every rendered format.

A value keeps ``digits`` significant digits (an integer value prints whole); a CI prints as
``[a, b]`` in the measurement's unit; a non-finite value prints as ``nan``/``inf`` and is never
dropped. Dates are the records' own UTC stamps; ages are measured against the newest record in
the ledger, never against the clock, so a render is a function of the ledger alone.
"""

from __future__ import annotations

import math
from datetime import datetime

from harness.records import Measurement

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
    """``val_nll 4.21 nats [4.1, 4.3] (n=12000)`` for Markdown, HTML and terminals."""
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


def _latex_unit(unit: str) -> tuple[float, str]:
    """(scale, suffix): a ratio prints as a percentage, a count and a bare number plain."""
    from harness.render.escape import latex

    if unit in _SILENT_UNITS:
        return 1.0, ""
    if unit in ("ratio", "percent"):
        return (100.0 if unit == "ratio" else 1.0), r"\,\%"
    return 1.0, r"\," + latex(unit)


def latex_measurement(m: Measurement, digits: int = DEFAULT_DIGITS, *,
                      ci: bool = True) -> str:
    """``3.41\\,nats [3.35, 3.47]``: the value, its CI when known and ``ci``, in its unit."""
    scale, suffix = _latex_unit(m.unit)
    text = latex_number(m.value * scale, digits)
    if ci and m.ci is not None:
        lo, hi = (latex_number(v * scale, digits) for v in m.ci)
        text += f"~[{lo}, {hi}]"
    return text + suffix


def latex_ci(m: Measurement, digits: int = DEFAULT_DIGITS) -> str | None:
    """``[3.35, 3.47]\\,nats``, or None when the measurement has no CI."""
    if m.ci is None:
        return None
    scale, suffix = _latex_unit(m.unit)
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
