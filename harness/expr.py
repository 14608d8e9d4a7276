"""The predicate and guard language of contracts.

A hand-written tokenizer and recursive-descent parser (no ``eval``) for expressions such as
``val_nll < ln(vocab_size)`` or ``n_examples >= min_examples and cer between 0 % and 5 %``.
Numeric subexpressions evaluate to :class:`~harness.units.Quantity`, so units convert (bits
against nats) or refuse (nats against a count, a bare number beside nats). With ``use_ci=True``
a comparison with a confidence interval on a side is decided on the whole interval, and
and/or/not follow Kleene's three-valued logic.

Grammar, loosest binding first::

    or      := and ('or' and)*
    and     := not ('and' not)*
    not     := 'not'* compare
    compare := sum (CMP sum)* | sum 'between' sum 'and' sum
    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/') unary)*
    unary   := '-'* atom
    atom    := NUMBER [UNIT] | NAME | NAME '(' or (',' or)* ')' | '(' or ')'
"""

from __future__ import annotations

import enum
import itertools
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import NoReturn

from harness.units import DIMENSIONLESS, Quantity, Unit, UnitError, known_units, parse_unit

__all__ = ["Expr", "ExprError", "Outcome", "Truth", "parse"]

_MAX_TOKENS = 256  # bounds the tree depth, so evaluation can never hit the recursion limit
_MAX_NESTING = 32
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


# ---------------------------------------------------------------------------------- tokens

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_UNIT_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)?")
_KEYWORDS = frozenset({"and", "or", "not", "between"})
_OPERATORS = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "(", ")", ",")
_BAD_CHARS = {"=": "'=' is not an operator; write '==' to test equality",
              "!": "'!' is not an operator; write '!=' or 'not'",
              "%": "'%' must follow a number, as in '5 %'"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, name, kw, op, end
    text: str
    pos: int
    end: int
    quantity: Quantity | None = None


def _fail(problem: str, text: str, pos: int) -> NoReturn:
    line = "".join(" " if c.isspace() else c for c in text)
    msg = f"{problem} at column {pos + 1}:\n  {line}\n  {' ' * pos}^"
    raise ExprError(msg)


def _skip_space(text: str, i: int) -> int:
    return len(text) - len(text[i:].lstrip()) if i < len(text) else i


def _tokens(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = _skip_space(text, 0)
    while i < len(text):
        if len(toks) >= _MAX_TOKENS:
            _fail(f"expression too long (more than {_MAX_TOKENS} tokens)", text, i)
        toks.append(_next_token(text, i))
        i = _skip_space(text, toks[-1].end)
    return [*toks, _Tok("end", "", len(text), len(text))]


def _next_token(text: str, i: int) -> _Tok:
    if m := _NUMBER.match(text, i):
        return _number(text, m)
    if m := _NAME.match(text, i):
        return _Tok("kw" if m.group() in _KEYWORDS else "name", m.group(), i, m.end())
    for op in _OPERATORS:
        if text.startswith(op, i):
            return _Tok("op", op, i, i + len(op))
    _fail(_BAD_CHARS.get(text[i], f"unexpected character {text[i]!r}"), text, i)


def _number(text: str, m: re.Match[str]) -> _Tok:
    value = float(m.group())
    if not math.isfinite(value):
        _fail(f"number {m.group()!r} is too large", text, m.start())
    unit, end = _unit_after(text, m.end())
    return _Tok("num", text[m.start():end], m.start(), end, Quantity(value, unit))


def _unit_after(text: str, i: int) -> tuple[Unit, int]:
    """The unit written right after a number ending at ``i``; a word there must be a unit."""
    j = _skip_space(text, i)
    if text.startswith("%", j):
        return parse_unit("%"), j + 1
    m = _UNIT_WORD.match(text, j)
    if m is None or m.group().split("/")[0] in _KEYWORDS:
        return DIMENSIONLESS, i
    head = m.group().split("/")[0]
    for word in (m.group(), head):
        try:
            return parse_unit(word), j + len(word)
        except UnitError:
            continue
    _fail(f"{head!r} after a number is not a known unit (known units: "
          f"{', '.join(known_units())})", text, j)


# ----------------------------------------------------------------------------------- nodes

@dataclass(frozen=True)
class _Ctx:
    env: Mapping[str, Quantity]
    use_ci: bool
    text: str


@dataclass(frozen=True)
class _Node:
    src: str
    pos: int

    def children(self) -> Iterator[_Node]:
        for f in fields(self):
            value = getattr(self, f.name)
            yield from (v for v in (value if isinstance(value, tuple) else (value,))
                        if isinstance(v, _Node))

    def names(self) -> frozenset[str]:
        found, stack = set(), [self]
        while stack:
            node = stack.pop()
            found.update([node.name] if isinstance(node, _Name) else [])
            stack.extend(node.children())
        return frozenset(found)


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
        q = ctx.env[self.name]
        return q if ctx.use_ci or q.ci is None else Quantity(q.value, q.unit)


@dataclass(frozen=True)
class _Arith(_Num):
    op: str
    left: _Num
    right: _Num

    def value(self, ctx: _Ctx) -> Quantity:
        unit, a, b = _arith_units(self, ctx, self.left.value(ctx), self.right.value(ctx))
        if self.op == "/":
            return _divide(self, a, b, unit)
        return _apply(_ARITH[self.op], (a, b), unit)


@dataclass(frozen=True)
class _Call(_Num):
    func: str
    args: tuple[_Num, ...]

    def value(self, ctx: _Ctx) -> Quantity:
        return _FUNCS[self.func][1](self, [arg.value(ctx) for arg in self.args])


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
    return UnitError(f"cannot {verb} {ln.src} ({_unit_name(lq)}) {op} {rn.src} "
                     f"({_unit_name(rq)}) in {ctx.text!r}: {hint or _hint(lq, rq)}")


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


def _divide(node: _Arith, a: Quantity, b: Quantity, unit: Unit) -> Quantity:
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

def _logarithm(node: _Call, q: Quantity, unit: Unit, base: float) -> Quantity:
    if q.unit.dimension not in ("scalar", "count", "ratio", "perplexity"):
        msg = (f"{node.func}() needs a count or a dimensionless number, got "
               f"{node.args[0].src} ({_unit_name(q)}) in {node.src!r}")
        raise UnitError(msg)
    x = _plain(q)
    if x.value <= 0:
        msg = f"{node.func}() of a number that is not positive: {node.args[0].src} is {q.format()}"
        raise ExprError(msg)
    return _apply(lambda v: -math.inf if v <= 0 else math.log(v) / base, (x,), unit,
                  monotone=True)


def _exponential(node: _Call, qs: list[Quantity]) -> Quantity:
    q = qs[0]
    if q.unit.dimension == "information":
        q = q.to(_NATS)
    elif q.unit.dimension != "scalar":
        msg = (f"exp() needs nats, bits or a dimensionless number, got "
               f"{node.args[0].src} ({_unit_name(q)}) in {node.src!r}")
        raise UnitError(msg)
    return _apply(lambda v: math.inf if v > 709.0 else math.exp(v), (q,), DIMENSIONLESS,
                  monotone=True)  # exp(710) overflows


def _absolute(node: _Call, qs: list[Quantity]) -> Quantity:
    q = qs[0]
    if q.ci is None:
        return Quantity(abs(q.value), q.unit)
    lo, hi = q.ci
    ci = (0.0, max(-lo, hi)) if lo <= 0 <= hi else (min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))
    return Quantity(abs(q.value), q.unit, ci)


def _extreme(node: _Call, qs: list[Quantity], fn: Callable[..., float]) -> Quantity:
    unit = qs[0].unit
    for arg, q in zip(node.args[1:], qs[1:], strict=True):
        try:
            unit = Quantity(0.0, unit).common_unit(q)
        except UnitError:
            msg = (f"{node.func}() needs arguments of one dimension: {arg.src} "
                   f"({_unit_name(q)}) does not go with {unit.name} in {node.src!r}")
            raise UnitError(msg) from None
    aligned = [q.aligned(Quantity(0.0, unit))[0] for q in qs]
    return _apply(fn, aligned, unit, monotone=True)


_FuncImpl = Callable[[_Call, list[Quantity]], Quantity]
_FUNCS: dict[str, tuple[int | None, _FuncImpl]] = {  # name: (arity, None if one or more)
    "ln": (1, lambda node, qs: _logarithm(node, qs[0], _NATS, 1.0)),
    "log2": (1, lambda node, qs: _logarithm(node, qs[0], _BITS, math.log(2.0))),
    "exp": (1, _exponential),
    "abs": (1, _absolute),
    "min": (None, lambda node, qs: _extreme(node, qs, lambda *v: min(v))),
    "max": (None, lambda node, qs: _extreme(node, qs, lambda *v: max(v))),
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


def _side(node: _Num, original: Quantity, aligned: Quantity) -> str:
    text = original.format() if isinstance(node, _Literal) else f"{node.src} {original.format()}"
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
        if math.isnan(q.value):
            msg = f"{node.src} is nan in {ctx.text!r}; a NaN cannot be compared"
            raise ExprError(msg)
    truth = _interval_truth(op, _base(lq, rq), _base(rq, lq))
    note = f" ({_straddle(la, ra)})" if truth is Truth.UNKNOWN else ""
    return Outcome(truth, f"{_side(ln, lq, la)} {op} {_side(rn, rq, ra)}: {truth.value}{note}")


# --------------------------------------------------------------------------------- parser

@dataclass(frozen=True)
class Expr:
    """A parsed condition: a claim's predicate or a guard's check."""

    text: str
    root: _Cond

    def names(self) -> frozenset[str]:
        """The measurement and param names the expression uses."""
        return self.root.names()

    def evaluate(self, env: Mapping[str, Quantity], *, use_ci: bool = False) -> Outcome:
        """The truth on ``env``; with ``use_ci``, decided on whole confidence intervals."""
        return self.root.decide(_Ctx(env, use_ci, self.text))


def parse(text: str) -> Expr:
    """Parse a predicate or guard; raises :class:`ExprError` pointing at the problem."""
    if not isinstance(text, str):
        msg = f"an expression must be text, got {type(text).__name__} {text!r}"
        raise ExprError(msg)
    if not text.strip():
        msg = "empty expression; write a condition such as 'n_examples >= 100 count'"
        raise ExprError(msg)
    parser = _Parser(text)
    node = parser.parse_or()
    if parser.tok.kind != "end":
        parser.fail(f"unexpected {parser.tok.text!r} after a complete expression")
    return Expr(text, parser.cond(node))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.toks, self.k, self.depth = text, _tokens(text), 0, 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.k]

    def advance(self) -> _Tok:
        self.k += 1
        return self.toks[self.k - 1]

    def at(self, kind: str, *texts: str) -> bool:
        return self.tok.kind == kind and self.tok.text in texts

    def fail(self, problem: str, pos: int | None = None) -> NoReturn:
        _fail(problem, self.text, self.tok.pos if pos is None else pos)

    def src(self, start: int) -> str:
        return self.text[start:self.toks[self.k - 1].end]

    def nest(self, tok: _Tok) -> None:
        """Count one more level of nesting; deep nesting is refused, never a RecursionError."""
        self.depth += 1
        if self.depth > _MAX_NESTING:
            self.fail(f"expression nested more than {_MAX_NESTING} deep", tok.pos)

    def found(self) -> str:
        return "the end of the expression" if self.tok.kind == "end" else repr(self.tok.text)

    def cond(self, node: _Node) -> _Cond:
        if not isinstance(node, _Cond):
            self.fail(f"expected a condition, but {node.src!r} is a number; compare it, "
                      f"as in '{node.src} < ...'", node.pos)
        return node

    def num(self, node: _Node) -> _Num:
        if not isinstance(node, _Num):
            self.fail(f"expected a number, but {node.src!r} is a condition", node.pos)
        return node

    def parse_or(self) -> _Node:
        return self.parse_bool("or")

    def parse_bool(self, op: str) -> _Node:
        start = self.tok.pos
        parts = [self.parse_bool("and") if op == "or" else self.parse_not()]
        while self.at("kw", op):
            self.advance()
            parts.append(self.parse_bool("and") if op == "or" else self.parse_not())
        if len(parts) == 1:
            return parts[0]
        return _BoolOp(self.src(start), start, op, tuple(self.cond(p) for p in parts))

    def parse_not(self) -> _Node:
        start, count = self.tok.pos, 0
        while self.at("kw", "not"):
            self.nest(self.advance())
            count += 1
        node = self.parse_compare()
        for _ in range(count):
            node = _Not(self.src(start), start, self.cond(node))
        self.depth -= count
        return node

    def parse_compare(self) -> _Node:
        start, first = self.tok.pos, self.parse_arith("+-")
        if self.at("kw", "between"):
            return self.parse_between(start, first)
        operands, ops = [first], []
        while self.tok.kind == "op" and self.tok.text in _COMPARE:
            ops.append(self.advance().text)
            operands.append(self.parse_arith("+-"))
        if not ops:
            return first
        return _Compare(self.src(start), start, tuple(self.num(n) for n in operands), tuple(ops))

    def parse_between(self, start: int, subject: _Node) -> _Node:
        """``x between a and b`` is the chain ``a <= x <= b``; its 'and' binds to it."""
        self.advance()
        low = self.parse_arith("+-")
        if not self.at("kw", "and"):
            self.fail(f"'between' needs 'and' between its bounds, as in 'x between 1 and 2'; "
                      f"found {self.found()}")
        self.advance()
        high = self.parse_arith("+-")
        operands = tuple(self.num(n) for n in (low, subject, high))
        return _Compare(self.src(start), start, operands, ("<=", "<="))

    def parse_arith(self, ops: str) -> _Node:
        start, node = self.tok.pos, self.parse_operand(ops)
        while self.tok.kind == "op" and self.tok.text in ops:
            op = self.advance().text
            right = self.parse_operand(ops)
            node = _Arith(self.src(start), start, op, self.num(node), self.num(right))
        return node

    def parse_operand(self, ops: str) -> _Node:
        return self.parse_arith("*/") if ops == "+-" else self.parse_unary()

    def parse_unary(self) -> _Node:
        start, count = self.tok.pos, 0
        while self.at("op", "-"):
            self.nest(self.advance())
            count += 1
        node = self.parse_atom()
        self.depth -= count
        for _ in range(count):
            num = self.num(node)
            if isinstance(num, _Literal):  # -3 nats stays a literal, quoted as written
                q = num.quantity
                node = _Literal(self.src(start), start, Quantity(-q.value, q.unit))
            else:
                node = _Arith(self.src(start), start, "*", _MINUS_ONE, num)
        return node

    def parse_atom(self) -> _Node:
        tok = self.tok
        if tok.kind == "num" and tok.quantity is not None:
            self.advance()
            return _Literal(tok.text, tok.pos, tok.quantity)
        if tok.kind == "name":
            return self.parse_name()
        if not self.at("op", "("):
            self.fail(f"expected a number, a name or '(', found {self.found()}")
        return self.parse_group(self.advance(), several=False)[0]

    def parse_name(self) -> _Node:
        tok = self.advance()
        if not self.at("op", "("):
            return _Name(tok.text, tok.pos, tok.text)
        if tok.text not in _FUNCS:
            self.fail(f"unknown function {tok.text!r}; known: {', '.join(sorted(_FUNCS))}", tok.pos)
        if self.toks[self.k + 1].text == ")":
            self.fail(f"{tok.text}() needs an argument", self.toks[self.k + 1].pos)
        args = tuple(self.num(a) for a in self.parse_group(self.advance(), several=True))
        arity = _FUNCS[tok.text][0]
        if arity is not None and len(args) != arity:
            self.fail(f"{tok.text}() takes {arity} argument, got {len(args)}", tok.pos)
        return _Call(self.src(tok.pos), tok.pos, tok.text, args)

    def parse_group(self, opening: _Tok, *, several: bool) -> list[_Node]:
        """One expression (or, with ``several``, a comma list) up to the ')' closing ``opening``."""
        self.nest(opening)
        items = [self.parse_or()]
        while several and self.at("op", ","):
            self.advance()
            items.append(self.parse_or())
        if not self.at("op", ")"):
            self.fail(f"expected ')' to close the '(' at column {opening.pos + 1}, "
                      f"found {self.found()}")
        self.advance()
        self.depth -= 1
        return items
