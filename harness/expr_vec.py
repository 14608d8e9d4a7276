"""Vectors in contract expressions: indexing, slicing, all()/any() and reductions.

A vector measurement (one value per layer, per seed) is never read as a number. The contract
says how it is used:

* ``v[3]``, ``v[-1]``: one element (a number); ``v[0:k]``, ``v[k:]``: a slice (a vector);
* ``all(cond)``, ``any(cond)``: ``cond`` is decided once per element, every vector in it read
  at that element and every number broadcast; the vectors must have one length;
* ``argmax(v)``, ``argmin(v)``, ``len(v)``: counts; ``max(v)``, ``min(v)``, ``mean(v)``,
  ``sum(v)``: numbers in ``v``'s unit. Arithmetic and ``abs``/``ln``/``exp`` apply element-wise.

Evaluation reads one element at a time (``_Ctx.index``), so every comparison keeps the scalar
rules: units convert or refuse, and under ``decide_on_ci`` an element with an interval is decided
on the whole interval. ``all()`` over zero elements decides nothing (UNKNOWN, never a vacuous
pass). Out-of-range indexes and slices are errors, never clamped; while a contract is checked on
sample values they are clamped, so the check judges units and shapes only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from harness.expr_eval import (
    ExprError,
    Outcome,
    Truth,
    _apply,
    _Cond,
    _Ctx,
    _Name,
    _Node,
    _Num,
)
from harness.units import Quantity, UnitError, parse_unit
from harness.vectors import QuantityVector

__all__ = ["REDUCERS", "length"]

_COUNT = parse_unit("count")
REDUCERS = frozenset({"argmax", "argmin", "len", "mean", "sum"})  # max/min reduce with one argument
_SHOWN = 5  # failing elements named in a reason


def length(ctx: _Ctx, node: _Node) -> int | None:
    """How many elements ``node`` has on ``ctx.env``; None for a number."""
    if isinstance(node, _Name):
        value = ctx.env.get(node.name)
        return len(value) if isinstance(value, QuantityVector) else None
    if isinstance(node, _Index):
        return node.length(ctx)
    if isinstance(node, _Reduce | _Quantifier):
        return None
    found: dict[int, str] = {}
    for child in node.children():
        n = length(ctx, child)
        if n is not None:
            found.setdefault(n, child.src)
    if len(found) > 1 and not ctx.check:
        parts = ", ".join(f"{src} has {n}" for n, src in found.items())
        msg = f"vectors of different lengths in {node.src!r} ({parts}) in {ctx.text!r}"
        raise ExprError(msg)
    return min(found) if found else None


def _whole(ctx: _Ctx, node: _Num, what: str) -> int:
    """A count (an index or a slice bound) as an int; errors name the node."""
    q = node.value(replace(ctx, index=None, sample=False))
    if q.unit.dimension not in ("count", "scalar"):
        msg = (f"{what} {node.src} must be a count or a bare whole number, got {q.format()} "
               f"in {ctx.text!r}")
        raise UnitError(msg)
    if not math.isfinite(q.value) or not float(q.value).is_integer():
        if ctx.check:
            return 1
        msg = f"{what} {node.src} is {q.format()}, not a whole number, in {ctx.text!r}"
        raise ExprError(msg)
    return int(q.value)


@dataclass(frozen=True)
class _Index(_Num):
    """``base[i]`` (``stop`` None, ``is_slice`` False) or ``base[start:stop]``."""

    base: _Num
    start: _Num | None
    stop: _Num | None
    is_slice: bool

    def _base_len(self, ctx: _Ctx) -> int:
        n = length(ctx, self.base)
        if n is None:
            msg = f"{self.base.src} is a number, not a vector: it cannot be indexed in {ctx.text!r}"
            raise ExprError(msg)
        return n

    def _bounds(self, ctx: _Ctx) -> tuple[int, int]:
        n = self._base_len(ctx)
        lo = 0 if self.start is None else _whole(ctx, self.start, "slice start")
        hi = n if self.stop is None else _whole(ctx, self.stop, "slice end")
        lo, hi = (lo + n if lo < 0 else lo), (hi + n if hi < 0 else hi)
        if ctx.check:
            lo = min(max(lo, 0), n)
            return lo, min(max(hi, lo), n)
        if not 0 <= lo <= hi <= n:
            msg = (f"slice {self.src} is out of range: {self.base.src} has {n} elements, the "
                   f"slice asks for [{lo}:{hi}] in {ctx.text!r}")
            raise ExprError(msg)
        return lo, hi

    def _position(self, ctx: _Ctx) -> int:
        n = self._base_len(ctx)
        assert self.start is not None
        i = _whole(ctx, self.start, "index")
        j = i + n if i < 0 else i
        if 0 <= j < n:
            return j
        if ctx.check:
            return 0
        msg = (f"index {self.src} is out of range: {self.base.src} has {n} elements "
               f"(0 to {n - 1}, or -{n} to -1) in {ctx.text!r}")
        raise ExprError(msg)

    def length(self, ctx: _Ctx) -> int | None:
        if not self.is_slice:
            return None
        lo, hi = self._bounds(ctx)
        return hi - lo

    def value(self, ctx: _Ctx) -> Quantity:
        if not self.is_slice:
            return self.base.value(replace(ctx, index=self._position(ctx)))
        lo, hi = self._bounds(ctx)
        if ctx.index is not None:
            return self.base.value(replace(ctx, index=lo + ctx.index))
        if ctx.sample:
            return self.base.value(replace(ctx, index=lo if hi > lo else None, sample=True))
        msg = (f"{self.src} is a vector of {hi - lo} values where a number is needed in "
               f"{ctx.text!r}; compare it inside all(...) or any(...), or reduce it (max(), "
               f"mean(), argmax(), len())")
        raise ExprError(msg)


def elements(ctx: _Ctx, node: _Num) -> list[Quantity]:
    """Every element of ``node`` (a number is one element)."""
    n = length(ctx, node)
    if n is None:
        return [node.value(ctx)]
    if ctx.check and n == 0:
        return [node.value(replace(ctx, sample=True))]
    return [node.value(replace(ctx, index=i, sample=False)) for i in range(n)]


@dataclass(frozen=True)
class _Reduce(_Num):
    """``argmax(v)``, ``len(v)``, ``mean(v)``, ``max(v)`` ...: a vector to one number."""

    func: str
    arg: _Num

    def value(self, ctx: _Ctx) -> Quantity:
        inner = replace(ctx, index=None)
        if self.func == "len":
            n = length(inner, self.arg)
            return Quantity(float(1 if n is None else n), _COUNT)
        qs = elements(inner, self.arg)
        if not qs:
            msg = f"{self.func}() of an empty vector: {self.arg.src} has 0 elements in {ctx.text!r}"
            raise ExprError(msg)
        if self.func in ("argmax", "argmin"):
            values = [q.value for q in qs]
            if any(math.isnan(v) for v in values):
                msg = f"{self.func}() of a vector holding NaN: {self.arg.src} in {ctx.text!r}"
                raise ExprError(msg)
            pick = max if self.func == "argmax" else min
            return Quantity(float(pick(range(len(values)), key=values.__getitem__)), _COUNT)
        return _apply(_FOLDS[self.func], qs, qs[0].unit, monotone=True)


_FOLDS: dict[str, Callable[..., float]] = {
    "max": lambda *v: max(v), "min": lambda *v: min(v),
    "sum": lambda *v: math.fsum(v), "mean": lambda *v: math.fsum(v) / len(v)}


@dataclass(frozen=True)
class _Quantifier(_Cond):
    """``all(cond)`` / ``any(cond)``: ``cond`` decided at each element, Kleene-combined."""

    func: str
    cond: _Cond

    def decide(self, ctx: _Ctx) -> Outcome:
        inner = replace(ctx, index=None)
        n = length(inner, self.cond)
        if n is None:
            msg = (f"{self.func}() needs a vector inside, but {self.cond.src!r} holds none in "
                   f"{ctx.text!r}; compare the number directly")
            raise ExprError(msg)
        if n == 0:
            if ctx.check:
                return self.cond.decide(replace(inner, sample=True))
            return Outcome(Truth.UNKNOWN, f"{self.func}({self.cond.src}) over 0 elements "
                                          f"decides nothing")
        outcomes = [self.cond.decide(replace(inner, index=i, sample=False)) for i in range(n)]
        combine = Truth.all_of if self.func == "all" else Truth.any_of
        truth = combine(o.truth for o in outcomes)
        return Outcome(truth, self._reason(truth, outcomes, self._labels(inner)))

    def _labels(self, ctx: _Ctx) -> Sequence[str] | None:
        """The labels of the first labelled vector read directly or through one slice."""
        n = length(ctx, self.cond)
        for node in self.cond.walk():
            base, lo = node, 0
            if isinstance(node, _Index) and node.is_slice:
                base, lo = node.base, node._bounds(ctx)[0]
            value = ctx.env.get(base.name) if isinstance(base, _Name) else None
            if isinstance(value, QuantityVector) and value.labels is not None and n is not None:
                labels = value.labels[lo:lo + n]
                if len(labels) == n:
                    return labels
        return None

    def _reason(self, truth: Truth, outcomes: list[Outcome], labels: Sequence[str] | None) -> str:
        def name(i: int) -> str:
            return f"[{i}] ({labels[i]})" if labels is not None else f"[{i}]"
        head = f"{self.func}({self.cond.src}) over {len(outcomes)} elements"
        # The elements that decided: the false ones for all(), the true ones for any().
        deciding = Truth.FALSE if self.func == "all" else Truth.TRUE
        which = [i for i, o in enumerate(outcomes) if o.truth is truth]
        if truth is Truth.UNKNOWN or truth is deciding:
            shown = ", ".join(name(i) for i in which[:_SHOWN])
            more = f" and {len(which) - _SHOWN} more" if len(which) > _SHOWN else ""
            word = {Truth.UNKNOWN: "undecided", Truth.TRUE: "true", Truth.FALSE: "false"}[truth]
            first = _bare(outcomes[which[0]].text)
            return f"{head}: {word} at {shown}{more}; first: {first}: {truth.value}"
        every = "true for every element" if self.func == "all" else "false for every element"
        return f"{head}: {every}; e.g. {name(0)}: {_bare(outcomes[0].text)}: {truth.value}"


def _bare(text: str) -> str:
    """An element's reason without its own trailing truth (the quantifier states the truth)."""
    for suffix in (": true", ": false", ": unknown"):
        if text.endswith(suffix):
            return text[:-len(suffix)]
    return text.replace(": unknown (", " (undecided: ", 1)
