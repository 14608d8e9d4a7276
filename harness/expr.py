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
    unary   := '-'* postfix
    postfix := atom ('[' sum ']' | '[' [sum] ':' [sum] ']')*
    atom    := NUMBER [UNIT] | NAME | NAME '(' or (',' or)* ')' | '(' or ')'

A vector measurement (one value per layer or seed) is indexed, sliced, quantified with
``all(...)``/``any(...)`` or reduced (``argmax``, ``len``, ``max``, ``mean``...): see
:mod:`harness.expr_vec`.
"""


from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from harness.expr_eval import (
    _COMPARE,
    _FUNCS,
    _MINUS_ONE,
    ExprError,
    Outcome,
    Truth,
    _Arith,
    _BoolOp,
    _Call,
    _Compare,
    _Cond,
    _Ctx,
    _Literal,
    _Name,
    _Node,
    _Not,
    _Num,
)
from harness.expr_vec import REDUCERS, _Index, _Quantifier, _Reduce
from harness.units import DIMENSIONLESS, Quantity, Unit, UnitError, known_units, parse_unit
from harness.vectors import QuantityVector

__all__ = ["Expr", "ExprError", "Outcome", "Truth", "parse"]

_KNOWN_FUNCS = frozenset(_FUNCS) | REDUCERS | {"all", "any"}
_MAX_TOKENS = 256  # bounds the tree depth, so evaluation can never hit the recursion limit
_MAX_NESTING = 32


# ---------------------------------------------------------------------------------- tokens

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_UNIT_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)?")
_KEYWORDS = frozenset({"and", "or", "not", "between"})
_OPERATORS = ("<=", ">=", "==", "!=", "<", ">", "+", "-", "*", "/", "(", ")", ",", "[", "]", ":")
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


# --------------------------------------------------------------------------------- parser

@dataclass(frozen=True)
class Expr:
    """A parsed condition: a claim's predicate or a guard's check."""

    text: str
    root: _Cond

    def names(self) -> frozenset[str]:
        """The measurement and param names the expression uses."""
        return self.root.names()

    def evaluate(self, env: Mapping[str, Quantity | QuantityVector], *, use_ci: bool = False,
                 sizes: Mapping[str, int] | None = None) -> Outcome:
        """The truth on ``env``; with ``use_ci``, decided on whole confidence intervals.

        ``sizes``: the sample size n of measurements that have one, quoted in the reason
        (``cer 0.2 ratio (n=1240) < 5 %``)."""
        return self.root.decide(_Ctx(env, use_ci, self.text, sizes=sizes or {}))

    def unit_problems(self, env: Mapping[str, Quantity | QuantityVector]) -> list[UnitError]:
        """Every comparison's unit problem on ``env`` (AmbiguousNumber for a bare number beside
        a ratio or percentage); value-dependent problems are not judged here."""
        ctx = _Ctx(env, use_ci=True, text=self.text, check=True, sample=True)
        problems = []
        for node in self.root.walk():
            try:
                if isinstance(node, _Compare):
                    node.decide(ctx)
            except UnitError as exc:
                problems.append(exc)
            except ExprError:
                pass  # a shape problem: shape_problem reports it
        return problems


    def shape_problem(self, env: Mapping[str, Quantity | QuantityVector]) -> str | None:
        """Why the expression misuses a vector on ``env`` (a vector where a number is needed,
        all() around no vector, an index into a number), or None. Values are samples: only
        shapes are judged."""
        try:
            self.root.decide(_Ctx(env, use_ci=True, text=self.text, check=True))
        except ExprError as exc:
            return str(exc)
        except UnitError:
            return None  # unit_problems reports these, each once
        return None


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
            node = self.parse_name()
        elif self.at("op", "("):
            node = self.parse_group(self.advance(), several=False)[0]
        else:
            self.fail(f"expected a number, a name or '(', found {self.found()}")
        while self.at("op", "["):
            node = self.parse_index(tok.pos, self.num(node))
        return node

    def parse_index(self, start: int, base: _Num) -> _Node:
        """``base[i]`` or ``base[lo:hi]`` (either bound may be left out)."""
        opening = self.advance()
        self.nest(opening)
        if self.at("op", "]"):
            self.fail("an index needs a number, as in 'v[0]', 'v[-1]' or 'v[0:k]'")
        first = None if self.at("op", ":") else self.num(self.parse_arith("+-"))
        is_slice = self.at("op", ":")
        second = None
        if is_slice:
            self.advance()
            second = None if self.at("op", "]") else self.num(self.parse_arith("+-"))
        if not self.at("op", "]"):
            self.fail(f"expected ']' to close the '[' at column {opening.pos + 1}, "
                      f"found {self.found()}")
        self.advance()
        self.depth -= 1
        return _Index(self.src(start), start, base, first, second, is_slice)

    def parse_name(self) -> _Node:
        tok = self.advance()
        if not self.at("op", "("):
            return _Name(tok.text, tok.pos, tok.text)
        if tok.text not in _KNOWN_FUNCS:
            self.fail(f"unknown function {tok.text!r}; known: {', '.join(sorted(_KNOWN_FUNCS))}",
                      tok.pos)
        if self.toks[self.k + 1].text == ")":
            self.fail(f"{tok.text}() needs an argument", self.toks[self.k + 1].pos)
        if tok.text in ("all", "any"):
            items = self.parse_group(self.advance(), several=True)
            if len(items) != 1:
                self.fail(f"{tok.text}() takes one condition, got {len(items)}", tok.pos)
            if not isinstance(items[0], _Cond):
                self.fail(f"{tok.text}() takes a condition, as in '{tok.text}(v < 1 nats)', "
                          f"but {items[0].src!r} is a number", items[0].pos)
            return _Quantifier(self.src(tok.pos), tok.pos, tok.text, items[0])
        args = tuple(self.num(a) for a in self.parse_group(self.advance(), several=True))
        if tok.text in REDUCERS or (tok.text in ("max", "min") and len(args) == 1):
            if len(args) != 1:
                self.fail(f"{tok.text}() takes one vector, got {len(args)} arguments", tok.pos)
            return _Reduce(self.src(tok.pos), tok.pos, tok.text, args[0])
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
