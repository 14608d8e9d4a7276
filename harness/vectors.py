"""Vector quantities: one value per element (per layer, per seed), all in one unit.

A vector measurement (``Measurement.values``) enters the contract language as a
:class:`QuantityVector`: each element is a :class:`~harness.units.Quantity` with its own optional
confidence interval, so ``all(cer_delta < 0 %)`` decides each seed on its own interval exactly as
a scalar comparison would. Nothing here reduces a vector to a number: that is written in the
contract (``max(v)``, ``argmax(v)``, ``all(...)``), where a reader sees it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.units import Quantity, Unit

__all__ = ["QuantityVector", "describe_values"]


@dataclass(frozen=True)
class QuantityVector:
    """Elements in one unit, with optional labels ("layer 3", "seed 2")."""

    items: tuple[Quantity, ...]
    unit: Unit
    labels: tuple[str, ...] | None = None

    @classmethod
    def of(cls, values: Sequence[float], unit: Unit,
           cis: Sequence[tuple[float, float] | None] | None = None,
           labels: Sequence[str] | None = None) -> QuantityVector:
        intervals = list(cis) if cis is not None else [None] * len(values)
        items = tuple(Quantity(float(v), unit, None if c is None else (float(c[0]), float(c[1])))
                      for v, c in zip(values, intervals, strict=True))
        return cls(items, unit, None if labels is None else tuple(labels))

    def __len__(self) -> int:
        return len(self.items)

    def to(self, unit: Unit) -> QuantityVector:
        return QuantityVector(tuple(q.to(unit) for q in self.items), unit, self.labels)

    def plain(self) -> QuantityVector:
        """The elements without their intervals (a predicate not decided on CIs)."""
        return QuantityVector(tuple(Quantity(q.value, q.unit) for q in self.items), self.unit,
                              self.labels)

    def label(self, i: int) -> str:
        return self.labels[i] if self.labels is not None and i < len(self.labels) else f"[{i}]"

    def format(self) -> str:
        return describe_values([q.value for q in self.items], self.unit.name)


def describe_values(values: Sequence[float], unit: str, digits: int = 4) -> str:
    """A vector in one line: its length, range and where its largest magnitude sits.

    ``12 values in nats: min -0.31 [4], max 5.73 [11], largest |v| at [11]``; non-finite
    elements are counted, never hidden."""
    u = "" if unit in ("1", "scalar") else f" in {unit}"
    n = len(values)
    if n == 0:
        return f"0 values{u}"
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    bad = n - len(finite)
    tail = f", {bad} non-finite" if bad else ""
    if not finite:
        return f"{n} values{u}: all non-finite"
    lo, hi = min(finite), max(finite)
    big = max(finite, key=lambda p: (abs(p[0]), -p[1]))
    return (f"{n} values{u}: min {lo[0]:.{digits}g} [{lo[1]}], max {hi[0]:.{digits}g} [{hi[1]}], "
            f"largest |v| at [{big[1]}]{tail}")
