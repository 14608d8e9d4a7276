"""Numbers as people print them, and whether a printed number restates a value.

A number in prose states its own precision: "20.57" says the value is within 0.005 of 20.57,
"126" within 0.5, "2.1e-3" within 0.00005, "1,234" within 0.5. :func:`parse_printed` reads the
common forms (thousands grouped by commas or thin spaces, a decimal point, an exponent, a
Unicode minus) with :class:`decimal.Decimal`, whose exponent is exactly the place of the last
printed digit, and :func:`agrees` says whether a value (or any of several: a value and its CI
bounds) rounds to the printed number at that precision. ``falsify paper check`` and the
``DOC-NUMBERS-MATCH-LOG`` claim both decide agreement here, so a number means the same in a
paper and in a README. The pattern is written here because the parsers that exist read one
locale's grouping (babel's ``parse_decimal``) or no grouping at all (``float``, ``Decimal``),
and none reports the precision a number was printed with.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["NUMBER", "PrintedNumber", "agrees", "parse_printed", "tolerance"]

# A printed number: optional sign (ASCII or U+2212), digits grouped by threes with commas,
# thin spaces (U+2009, U+202F) or LaTeX's {,}, or plain digits; a fraction; an exponent.
NUMBER = (r"[-+\u2212]?(?:\d{1,3}(?:(?:,|\{,\}|\u2009|\u202f)\d{3})+|\d+)(?:\.\d+)?"
          r"(?:[eE][-+\u2212]?\d+)?|[-+\u2212]?\.\d+(?:[eE][-+\u2212]?\d+)?")
_WHOLE = re.compile(rf"(?:{NUMBER})")
_GROUP = re.compile(r",|\{,\}|\u2009|\u202f")


@dataclass(frozen=True)
class PrintedNumber:
    """A number as printed: its text, its value, and the power of ten of its last digit."""

    text: str
    value: float
    exponent: int

    @property
    def tolerance(self) -> float:
        return tolerance(self.exponent)


def tolerance(exponent: int) -> float:
    """Half a unit in the last printed place (a hair more, for binary rounding of the value)."""
    return 0.5 * 10.0 ** exponent * (1 + 1e-9)


def parse_printed(text: str) -> PrintedNumber:
    """``text`` (one printed number, nothing else) read with its precision; ValueError if not."""
    stripped = text.strip()
    if not _WHOLE.fullmatch(stripped):
        msg = (f"{text!r} is not a printed number; write digits with an optional sign, commas "
               f"between thousands, a decimal point and an exponent (e.g. 1,234 or 2.1e-3)")
        raise ValueError(msg)
    plain = _GROUP.sub("", stripped).replace("\u2212", "-")
    try:
        parsed = Decimal(plain)
    except InvalidOperation:  # the pattern admits only what Decimal reads; kept for safety
        msg = f"{text!r} is not a number Decimal can read"
        raise ValueError(msg) from None
    exponent = parsed.as_tuple().exponent
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN or infinity, excluded above
        msg = f"{text!r} is not a finite number"
        raise ValueError(msg)
    return PrintedNumber(stripped, float(parsed), exponent)


def agrees(printed: PrintedNumber, values: Iterable[float]) -> bool:
    """Whether any of ``values`` rounds to ``printed`` at its printed precision."""
    return any(math.isfinite(v) and abs(v - printed.value) <= printed.tolerance for v in values)
