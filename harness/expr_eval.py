"""Evaluation of parsed contract expressions: nodes, units, intervals and three-valued truth.

The parser (:mod:`harness.expr`) builds trees of these nodes. Numeric nodes evaluate to
:class:`~harness.units.Quantity`, so units convert (bits against nats) or refuse (nats against a
count, a bare number beside nats or beside a ratio or percentage). With ``use_ci=True`` a
comparison with a confidence interval on a side is decided on the whole interval, and
and/or/not follow Kleene's three-valued logic. With ``check=True`` (a contract being loaded,
on sample values) only units are judged: value-dependent problems (a division by zero, the log
of zero) are left to the real measurements, so every unit problem of every part is found.
"""

from __future__ import annotations

import enum
import itertools
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields

from harness.units import (
    DIMENSIONLESS,
    AmbiguousNumber,
    Quantity,
    Unit,
    UnitError,
    parse_unit,
)
from harness.vectors import QuantityVector

__all__ = ["ExprError", "Outcome", "Truth"]

_NATS, _BITS, _RATIO = parse_unit("nats"), parse_unit("bits"), parse_unit("ratio")


class ExprError(ValueError):
    """An expression that does not parse, or that cannot be evaluated on the values given."""


class Truth(enum.Enum):
    """A three-valued truth: UNKNOWN when a confidence interval straddles the threshold."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, value: bool) -> Truth:
        return cls.TRUE if value else cls.FALSE

    def negate(self) -> Truth:
        return {Truth.TRUE: Truth.FALSE, Truth.FALSE: Truth.TRUE}.get(self, Truth.UNKNOWN)

    @classmethod
    def all_of(cls, truths: Iterable[Truth]) -> Truth:
        """Kleene and: FALSE wins, then UNKNOWN."""
        seen = set(truths)
        return cls.FALSE if cls.FALSE in seen else cls.UNKNOWN if cls.UNKNOWN in seen else cls.TRUE

    @classmethod
    def any_of(cls, truths: Iterable[Truth]) -> Truth:
        """Kleene or: TRUE wins, then UNKNOWN."""
        return cls.all_of(t.negate() for t in truths).negate()


@dataclass(frozen=True)
class Outcome:
    """A truth and its reason in words, quoting every number with its unit."""

    truth: Truth
    text: str


# ----------------------------------------------------------------------------------- nodes

@dataclass(frozen=True)
class _Ctx:
    env: Mapping[str, Quantity | QuantityVector]
    use_ci: bool
    text: str
    check: bool = False  # units only: value-dependent problems are left to real measurements
    sizes: Mapping[str, int] = field(default_factory=dict)  # each measurement's n, quoted
    index: int | None = None  # inside all()/any() or a reduction: the element being evaluated
    sample: bool = False  # unit checks of one comparison: a vector stands for its first element


@dataclass(frozen=True)
class _Node:
    src: str
    pos: int

    def children(self) -> Iterator[_Node]:
        for f in fields(self):
            value = getattr(self, f.name)
            yield from (v for v in (value if isinstance(value, tuple) else (value,))
                        if isinstance(v, _Node))

    def walk(self) -> Iterator[_Node]:
        """This node and every node below it."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children())

    def names(self) -> frozenset[str]:
        return frozenset(node.name for node in self.walk() if isinstance(node, _Name))


@dataclass(frozen=True)
class _Num(_Node):
    def value(self, ctx: _Ctx) -> Quantity:
        raise NotImplementedError


@dataclass(frozen=True)
class _Cond(_Node):
    def decide(self, ctx: _Ctx) -> Outcome:
        raise NotImplementedError


@dataclass(frozen=True)
class _Literal(_Num):
    quantity: Quantity

    def value(self, ctx: _Ctx) -> Quantity:
        return self.quantity


@dataclass(frozen=True)
class _Name(_Num):
    name: str

    def value(self, ctx: _Ctx) -> Quantity:
        if self.name not in ctx.env:
            known = ", ".join(sorted(ctx.env)) or "nothing"
            msg = f"unknown name {self.name!r}; known: {known} (in {ctx.text!r})"
            raise ExprError(msg)
        q = element(ctx, self, ctx.env[self.name])
        return q if ctx.use_ci or q.ci is None else Quantity(q.value, q.unit)


def element(ctx: _Ctx, node: _Num, value: Quantity | QuantityVector) -> Quantity:
    """``value`` itself, or its element ``ctx.index`` when it is a vector."""
    if isinstance(value, Quantity):
        return value
    if ctx.index is not None:
        return value.items[ctx.index]
    if ctx.sample:
        return value.items[0] if value.items else Quantity(1.0, value.unit)
    msg = (f"{node.src} is a vector of {len(value)} values where a number is needed in "
           f"{ctx.text!r}; compare it element by element inside all(...) or any(...), index it "
           f"({node.src}[0], {node.src}[-1]) or reduce it (max({node.src}), mean({node.src}), "
           f"argmax({node.src}), len({node.src}))")
    raise ExprError(msg)


@dataclass(frozen=True)
class _Arith(_Num):
    op: str
    left: _Num
    right: _Num

    def value(self, ctx: _Ctx) -> Quantity:
        unit, a, b = _arith_units(self, ctx, self.left.value(ctx), self.right.value(ctx))
        if self.op == "/":
            return _divide(ctx, self, a, b, unit)
        return _apply(_ARITH[self.op], (a, b), unit)


@dataclass(frozen=True)
class _Call(_Num):
    func: str
    args: tuple[_Num, ...]

    def value(self, ctx: _Ctx) -> Quantity:
        return _FUNCS[self.func][1](ctx, self, [arg.value(ctx) for arg in self.args])


@dataclass(frozen=True)
class _Compare(_Cond):
    operands: tuple[_Num, ...]
    ops: tuple[str, ...]

    def decide(self, ctx: _Ctx) -> Outcome:
        qs = [node.value(ctx) for node in self.operands]
        nodes = self.operands
        return _join("and", [_compare(ctx, op, (nodes[i], qs[i]), (nodes[i + 1], qs[i + 1]))
                             for i, op in enumerate(self.ops)])


@dataclass(frozen=True)
class _Not(_Cond):
    operand: _Cond

    def decide(self, ctx: _Ctx) -> Outcome:
        inner = self.operand.decide(ctx)
        return Outcome(inner.truth.negate(), f"not ({inner.text})")


@dataclass(frozen=True)
class _BoolOp(_Cond):
    op: str
    parts: tuple[_Cond, ...]

    def decide(self, ctx: _Ctx) -> Outcome:
        outcomes = [part.decide(ctx) for part in self.parts]  # all parts: errors never hide
        return _join(self.op, [
            Outcome(o.truth, f"({o.text})" if isinstance(p, _BoolOp) else o.text)
            for p, o in zip(self.parts, outcomes, strict=True)])


def _join(op: str, parts: Sequence[Outcome]) -> Outcome:
    if len(parts) == 1:
        return parts[0]
    combine = Truth.all_of if op == "and" else Truth.any_of
    return Outcome(combine(p.truth for p in parts), f" {op} ".join(p.text for p in parts))


# ------------------------------------------------------------------------ units, intervals

def _bounds(q: Quantity) -> tuple[float, float]:
    return q.ci if q.ci is not None else (q.value, q.value)


def _apply(fn: Callable[..., float], args: Sequence[Quantity], unit: Unit, *,
           monotone: bool = False) -> Quantity:
    """``fn`` on the values and, where an argument has a CI, on the intervals' corners."""
    value = fn(*(a.value for a in args))
    if all(a.ci is None for a in args):
        return Quantity(value, unit)
    bounds = [_bounds(a) for a in args]
    if monotone:  # non-decreasing in every argument: the ends map to the ends
        ends = [fn(*(b[0] for b in bounds)), fn(*(b[1] for b in bounds))]
    else:
        ends = [fn(*corner) for corner in itertools.product(*bounds)]
    if any(math.isnan(e) for e in ends):
        return Quantity(value, unit, (-math.inf, math.inf))
    return Quantity(value, unit, (min(ends), max(ends)))


def _plain(q: Quantity) -> Quantity:
    """``q`` as a bare number (5 % is 0.05)."""
    f = q.unit.factor
    ci = None if q.ci is None else (q.ci[0] * f, q.ci[1] * f)
    return Quantity(q.value * f, DIMENSIONLESS, ci)


def _unit_name(q: Quantity) -> str:
    return "dimensionless" if q.unit == DIMENSIONLESS else q.unit.name


def _hint(a: Quantity, b: Quantity) -> str:
    bare, other = (a, b) if a.unit == DIMENSIONLESS else (b, a)
    if bare.unit == DIMENSIONLESS:
        example = Quantity(bare.value, other.unit).format()
        return (f"a bare number cannot stand beside {other.unit.name}; "
                f"write its unit, as in '{example}'")
    return f"{a.unit.dimension} and {b.unit.dimension} do not mix"


def _mismatch(ctx: _Ctx, verb: str, op: str, left: tuple[_Num, Quantity],
              right: tuple[_Num, Quantity], hint: str = "") -> UnitError:
    (ln, lq), (rn, rq) = left, right
    where = (f"cannot {verb} {ln.src} ({_unit_name(lq)}) {op} {rn.src} ({_unit_name(rq)}) "
             f"in {ctx.text!r}")
    if not hint:
        try:
            lq.common_unit(rq)
        except AmbiguousNumber as amb:
            bare = ln if lq.unit == DIMENSIONLESS else rn
            return AmbiguousNumber(amb.bare, amb.other, operand=bare.src, context=where)
        except UnitError:
            pass
    return UnitError(f"{where}: {hint or _hint(lq, rq)}")


def _arith_units(node: _Arith, ctx: _Ctx, a: Quantity,
                 b: Quantity) -> tuple[Unit, Quantity, Quantity]:
    """The result's unit and both operands made ready for plain arithmetic on their values."""
    ratio_like = ("scalar", "ratio")  # 5 % scales like 0.05; a bare number scales as it is
    if node.op in "+-" or (node.op == "/" and a.unit.dimension == b.unit.dimension):
        try:
            a2, b2 = a.aligned(b)
        except UnitError:
            raise _mismatch(ctx, "combine", node.op, (node.left, a), (node.right, b)) from None
        quotient = node.op == "/" and a.unit.dimension != "scalar"
        return (_RATIO if quotient else a2.unit), a2, b2
    if node.op == "*" and a.unit == DIMENSIONLESS:
        return b.unit, a, b
    if b.unit.dimension in ratio_like:  # 1 / 5 % is the ratio 20, never a bare 20 (read as 20 %)
        return (_RATIO if a.unit == DIMENSIONLESS else a.unit), a, _plain(b)
    if node.op == "*" and a.unit.dimension in ratio_like:
        return b.unit, _plain(a), b
    hint = ("only a bare number or a ratio may scale a quantity, and a quantity may be "
            "divided by one of its own dimension")
    raise _mismatch(ctx, "combine", node.op, (node.left, a), (node.right, b), hint=hint)


def _divide(ctx: _Ctx, node: _Arith, a: Quantity, b: Quantity, unit: Unit) -> Quantity:
    if b.value == 0 and ctx.check:
        return Quantity(math.inf, unit)
    if b.value == 0:
        msg = f"division by zero: {node.right.src} is {b.format()} in {node.src!r}"
        raise ExprError(msg)
    lo, hi = _bounds(b)
    if b.ci is not None and not (lo > 0 or hi < 0):  # reaches zero: the quotient is unbounded
        return Quantity(a.value / b.value, unit, (-math.inf, math.inf))
    return _apply(operator.truediv, (a, b), unit)


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul}
_MINUS_ONE = _Literal("-", 0, Quantity(-1.0, DIMENSIONLESS))  # -x is -1 * x


# ------------------------------------------------------------------------------ functions

def _logarithm(ctx: _Ctx, node: _Call, q: Quantity, unit: Unit, base: float) -> Quantity:
    if q.unit.dimension not in ("scalar", "count", "ratio", "perplexity"):
        msg = (f"{node.func}() needs a count or a dimensionless number, got "
               f"{node.args[0].src} ({_unit_name(q)}) in {node.src!r}")
        raise UnitError(msg)
    x = _plain(q)
    if x.value <= 0 and ctx.check:
        return Quantity(math.nan, unit)
    if x.value <= 0:
        msg = f"{node.func}() of a number that is not positive: {node.args[0].src} is {q.format()}"
        raise ExprError(msg)
    return _apply(lambda v: -math.inf if v <= 0 else math.log(v) / base, (x,), unit,
                  monotone=True)


def _exponential(ctx: _Ctx, node: _Call, qs: list[Quantity]) -> Quantity:
    q = qs[0]
    if q.unit.dimension == "information":
        q = q.to(_NATS)
    elif q.unit.dimension != "scalar":
        msg = (f"exp() needs nats, bits or a dimensionless number, got "
               f"{node.args[0].src} ({_unit_name(q)}) in {node.src!r}")
        raise UnitError(msg)
    return _apply(lambda v: math.inf if v > 709.0 else math.exp(v), (q,), DIMENSIONLESS,
                  monotone=True)  # exp(710) overflows


def _absolute(ctx: _Ctx, node: _Call, qs: list[Quantity]) -> Quantity:
    q = qs[0]
    if q.ci is None:
        return Quantity(abs(q.value), q.unit)
    lo, hi = q.ci
    ci = (0.0, max(-lo, hi)) if lo <= 0 <= hi else (min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))
    return Quantity(abs(q.value), q.unit, ci)


def _extreme(ctx: _Ctx, node: _Call, qs: list[Quantity],
             fn: Callable[..., float]) -> Quantity:
    # Every argument is judged against the first one with a unit, so a bare number anywhere in
    # the list meets the unit it would borrow.
    ref = next((q for q in qs if q.unit != DIMENSIONLESS), qs[0])
    unit = ref.unit
    for arg, q in zip(node.args, qs, strict=True):
        try:
            ref.common_unit(q)
        except AmbiguousNumber as amb:
            where = f"{node.func}() mixes {arg.src} with {unit.name} in {node.src!r}"
            raise AmbiguousNumber(amb.bare, amb.other, operand=arg.src, context=where) from None
        except UnitError:
            msg = (f"{node.func}() needs arguments of one dimension: {arg.src} "
                   f"({_unit_name(q)}) does not go with {unit.name} in {node.src!r}")
            raise UnitError(msg) from None
    aligned = [ref.aligned(q)[1] for q in qs]
    return _apply(fn, aligned, unit, monotone=True)


_FuncImpl = Callable[[_Ctx, _Call, list[Quantity]], Quantity]
_FUNCS: dict[str, tuple[int | None, _FuncImpl]] = {  # name: (arity, None if one or more)
    "ln": (1, lambda ctx, node, qs: _logarithm(ctx, node, qs[0], _NATS, 1.0)),
    "log2": (1, lambda ctx, node, qs: _logarithm(ctx, node, qs[0], _BITS, math.log(2.0))),
    "exp": (1, _exponential),
    "abs": (1, _absolute),
    "min": (None, lambda ctx, node, qs: _extreme(ctx, node, qs, lambda *v: min(v))),
    "max": (None, lambda ctx, node, qs: _extreme(ctx, node, qs, lambda *v: max(v))),
}


# ---------------------------------------------------------------------------- comparisons

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne}


def _base(q: Quantity, partner: Quantity) -> tuple[float, float]:
    """``q``'s interval in its dimension's base unit, whichever side it stands on."""
    factor = partner.unit.factor if q.unit == DIMENSIONLESS else q.unit.factor
    lo, hi = _bounds(q)
    return lo * factor, hi * factor


def _interval_truth(op: str, a: tuple[float, float], b: tuple[float, float]) -> Truth:
    if any(math.isnan(x) for x in (*a, *b)):
        return Truth.UNKNOWN
    if op in ("==", "!="):
        equal = (Truth.TRUE if a[0] == a[1] == b[0] == b[1]
                 else Truth.FALSE if a[1] < b[0] or b[1] < a[0] else Truth.UNKNOWN)
        return equal if op == "==" else equal.negate()
    results = {_COMPARE[op](x, y) for x in a for y in b}  # intervals are convex: corners decide
    return Truth.of(results.pop()) if len(results) == 1 else Truth.UNKNOWN


def _straddle(a: Quantity, b: Quantity) -> str:
    def interval(q: Quantity) -> str:
        lo, hi = _bounds(q)
        return f"[{Quantity(lo, DIMENSIONLESS)}, {Quantity(hi, DIMENSIONLESS)}]"
    if a.ci is not None and b.ci is not None:
        return f"CIs {interval(a)} and {interval(b)} overlap"
    ci, point = (a, b) if a.ci is not None else (b, a)
    return f"CI {interval(ci)} straddles {point.format()}"


def _side(ctx: _Ctx, node: _Num, original: Quantity, aligned: Quantity) -> str:
    text = original.format() if isinstance(node, _Literal) else f"{node.src} {original.format()}"
    if isinstance(node, _Name) and node.name in ctx.sizes:
        text += f" (n={ctx.sizes[node.name]})"
    if aligned.unit != original.unit and original.unit != DIMENSIONLESS:
        text += f" = {Quantity(aligned.value, aligned.unit).format()}"
    return text


def _compare(ctx: _Ctx, op: str, left: tuple[_Num, Quantity],
             right: tuple[_Num, Quantity]) -> Outcome:
    (ln, lq), (rn, rq) = left, right
    try:
        la, ra = lq.aligned(rq)
    except UnitError:
        raise _mismatch(ctx, "compare", op, left, right) from None
    for node, q in (left, right):
        if math.isnan(q.value) and not ctx.check:
            msg = f"{node.src} is nan in {ctx.text!r}; a NaN cannot be compared"
            raise ExprError(msg)
    truth = _interval_truth(op, _base(lq, rq), _base(rq, lq))
    note = f" ({_straddle(la, ra)})" if truth is Truth.UNKNOWN else ""
    text = f"{_side(ctx, ln, lq, la)} {op} {_side(ctx, rn, rq, ra)}"
    return Outcome(truth, f"{text}: {truth.value}{note}")
