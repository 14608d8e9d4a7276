"""Quantities with units.

Every measurement and every threshold carries a unit. Quantities of the same dimension convert
(nats and bits are both information; 17.21 bits is 11.93 nats); quantities of different
dimensions refuse to compare (nats against a count raises :class:`UnitError`).

A bare number (unit ``1``) is dimensionless: it may stand beside a count or a perplexity, where
it has one reading, but never beside nats, bits, seconds or bytes, where a raw comparison is the
exact trap this module exists to close ("val_loss 11.55 < 17.21" with the 17.21 in bits).

Ratio and percent are one dimension, 1 ratio = 100 %. A bare number beside either is refused
(:class:`AmbiguousNumber`): ``0.9`` beside a percentage could be 0.9 % or 0.9 ratio = 90 %, and a
number must never change meaning with its neighbour. Zero alone is accepted: it reads the same
either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "DIMENSIONLESS",
    "AmbiguousNumber",
    "Quantity",
    "Unit",
    "UnitError",
    "known_units",
    "parse_quantity",
    "parse_unit",
    "two_readings",
]


class UnitError(ValueError):
    """Two quantities cannot be compared or combined, or a unit name is unknown."""


class AmbiguousNumber(UnitError):
    """A bare number beside a ratio or percentage: it has two readings (0.9 % or 90 %).

    ``operand`` is the text that gave the bare number (a literal, or a param's name) and
    ``context`` says where it stood; both are empty when unknown.
    """

    def __init__(self, bare: float, other: Unit, *, operand: str = "",
                 context: str = "") -> None:
        self.bare, self.other, self.operand, self.context = bare, other, operand, context
        v = _fmt(bare, 6)
        who = f"{operand} is a bare {v}" if operand and operand != v else f"a bare {v}"
        msg = (f"{context + ': ' if context else ''}{who} beside {other.name}, with two "
               f"readings: {two_readings(bare)}; write its unit ('{v} %' or '{v} ratio')")
        super().__init__(msg)


def two_readings(value: float) -> str:
    """``0.9 read as 0.9 % or as 0.9 ratio = 90 %``: the two meanings of a bare number."""
    v = _fmt(value, 6)
    return f"{v} read as {v} % or as {v} ratio = {_fmt(value * 100, 6)} %"


@dataclass(frozen=True)
class Unit:
    """A unit: its canonical name, its dimension, and its factor to the dimension's base unit."""

    name: str
    dimension: str
    factor: float = 1.0

    def __str__(self) -> str:
        return self.name


# Dimensions whose members a bare number may stand beside: it has one reading there.
_SCALAR_FRIENDLY = frozenset({"count", "perplexity", "scalar"})

_UNITS: dict[str, Unit] = {}
_ALIASES: dict[str, str] = {}


def _register(name: str, dimension: str, factor: float = 1.0, *aliases: str) -> Unit:
    unit = Unit(name, dimension, factor)
    _UNITS[name] = unit
    for alias in (name, *aliases):
        _ALIASES[alias.lower()] = name
    return unit


DIMENSIONLESS = _register("1", "scalar", 1.0, "scalar", "dimensionless")
_register("nats", "information", 1.0, "nat", "nats/token")
_register("bits", "information", math.log(2.0), "bit", "bits/token")
_register("bits/byte", "information_per_byte", math.log(2.0), "bpb", "bit/byte")
_register("nats/byte", "information_per_byte", 1.0)
_register("perplexity", "perplexity", 1.0, "ppl")
_register("ratio", "ratio", 1.0, "fraction")
_register("percent", "ratio", 0.01, "%", "pct")
_register("count", "count", 1.0, "n", "tokens", "examples", "rows", "items")
_register("seconds", "time", 1.0, "s", "sec", "second")
_register("ms", "time", 1e-3, "milliseconds")
_register("minutes", "time", 60.0, "min")
_register("hours", "time", 3600.0, "h")
_register("days", "time", 86400.0, "d")
_register("bytes", "bytes", 1.0, "byte", "B")
_register("KiB", "bytes", 1024.0)
_register("MiB", "bytes", 1024.0**2)
_register("GiB", "bytes", 1024.0**3)
_register("tokens/s", "throughput", 1.0, "tokens/second")
_register("records/s", "record_rate", 1.0)


def known_units() -> list[str]:
    """Canonical names of every unit, sorted."""
    return sorted(_UNITS)


def parse_unit(text: str) -> Unit:
    """The unit named ``text`` (canonical name or alias, case-insensitive)."""
    key = str(text).strip().lower()  # YAML may hand over a number: `unit: 1`
    if key in _ALIASES:
        return _UNITS[_ALIASES[key]]
    msg = f"unknown unit {text!r}; known units: {', '.join(known_units())}"
    raise UnitError(msg)


def _coerce(unit: Unit | str) -> Unit:
    return unit if isinstance(unit, Unit) else parse_unit(unit)


@dataclass(frozen=True)
class Quantity:
    """A value in a unit, with an optional confidence interval in the same unit."""

    value: float
    unit: Unit
    ci: tuple[float, float] | None = None

    @classmethod
    def of(cls, value: float, unit: Unit | str = DIMENSIONLESS,
           ci: tuple[float, float] | None = None) -> Quantity:
        interval = None if ci is None else (float(ci[0]), float(ci[1]))
        return cls(float(value), _coerce(unit), interval)

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)

    def to(self, unit: Unit | str) -> Quantity:
        """This quantity in ``unit``; raises UnitError across dimensions."""
        target = _coerce(unit)
        if target == self.unit:
            return self
        if target.dimension != self.unit.dimension:
            msg = (f"cannot convert {self} to {target.name}: "
                   f"{self.unit.dimension} is not {target.dimension}")
            raise UnitError(msg)
        scale = self.unit.factor / target.factor
        ci = None if self.ci is None else (self.ci[0] * scale, self.ci[1] * scale)
        return Quantity(self.value * scale, target, ci)

    def common_unit(self, other: Quantity) -> Unit:
        """The unit in which ``self`` and ``other`` are compared, or UnitError."""
        a, b = self.unit, other.unit
        if a.dimension == b.dimension:
            return a
        if a.dimension == "scalar" and b.dimension in _SCALAR_FRIENDLY:
            return b
        if b.dimension == "scalar" and a.dimension in _SCALAR_FRIENDLY:
            return a
        bare, unit = (self, b) if a.dimension == "scalar" else (other, a)
        if bare.unit.dimension == "scalar" and unit.dimension == "ratio":
            if bare.value == 0 and bare.ci is None:  # 0 % is 0 ratio: one reading
                return unit
            raise AmbiguousNumber(bare.value, unit)
        msg = (f"unit mismatch: {self} ({a.dimension}) against {other} ({b.dimension}); "
               f"give both sides units of one dimension")
        raise UnitError(msg)

    def aligned(self, other: Quantity) -> tuple[Quantity, Quantity]:
        """Both quantities expressed in their common unit."""
        unit = self.common_unit(other)
        return self._as(unit), other._as(unit)

    def _as(self, unit: Unit) -> Quantity:
        if self.unit.dimension == "scalar":
            return Quantity(self.value, unit, self.ci)
        return self.to(unit)

    def format(self, digits: int = 4) -> str:
        """Human text: ``11.93 nats``, ``12.5 %``, ``4 count``, ``CI [a, b]`` when known."""
        text = _fmt(self.value, digits)
        if self.unit.name == "percent":
            text += " %"
        elif self.unit.name != "1":
            text += f" {self.unit.name}"
        if self.ci is not None:
            text += f" (CI [{_fmt(self.ci[0], digits)}, {_fmt(self.ci[1], digits)}])"
        return text

    def __str__(self) -> str:
        return self.format()


def _fmt(value: float, digits: int) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.{digits - 1}e}"


def parse_quantity(text: str | float | int) -> Quantity:
    """``"1000 count"``, ``"11.93 nats"``, ``"5 %"``, or a bare number (dimensionless)."""
    if isinstance(text, bool):
        msg = f"expected a number with a unit, got boolean {text!r}"
        raise UnitError(msg)
    if isinstance(text, int | float):
        return Quantity(float(text), DIMENSIONLESS)
    text = text.strip()
    if text.endswith("%") and not text.endswith(" %"):  # "5%" reads as "5 %"
        text = f"{text[:-1]} %"
    parts = text.split(None, 1)
    if not parts:
        msg = "expected a number with a unit, got an empty string"
        raise UnitError(msg)
    try:
        value = float(parts[0])
    except ValueError:
        msg = f"expected a number with a unit such as '100 count', got {text!r}"
        raise UnitError(msg) from None
    unit = parse_unit(parts[1]) if len(parts) > 1 else DIMENSIONLESS
    return Quantity(value, unit)
