"""Tests of the predicate and guard language (harness.expr)."""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harness.expr import Expr, ExprError, Outcome, Truth, parse
from harness.units import Quantity, UnitError

Q = Quantity.of


def run(text: str, use_ci: bool = False, **env: Quantity) -> Outcome:
    return parse(text).evaluate(env, use_ci=use_ci)


def truth(text: str, use_ci: bool = False, **env: Quantity) -> Truth:
    return run(text, use_ci, **env).truth


# ------------------------------------------------------------------------------ the unit traps

def test_nats_against_bits_converts() -> None:
    """11.55 nats < 17.21 bits holds: 17.21 bits is 11.93 nats."""
    outcome = run("11.55 nats < 17.21 bits")
    assert outcome.truth is Truth.TRUE
    assert outcome.text == "11.55 nats < 17.21 bits = 11.93 nats: true"


def test_bare_number_beside_nats_is_refused() -> None:
    """The field's trap: a raw 17.21 (really bits) against a loss in nats raises."""
    with pytest.raises(UnitError) as info:
        run("val_loss < 17.21", val_loss=Q(11.55, "nats"))
    message = str(info.value)
    assert "val_loss (nats) < 17.21 (dimensionless)" in message
    assert "a bare number cannot stand beside nats" in message
    assert "'17.21 nats'" in message


def test_nats_against_count_is_refused() -> None:
    with pytest.raises(UnitError, match=r"val_loss \(nats\) < n_tokens \(count\)"):
        run("val_loss < n_tokens", val_loss=Q(3, "nats"), n_tokens=Q(10, "count"))


def test_ln_of_vocab_is_nats() -> None:
    """ln(151643 count) is 11.93 nats, the uniform baseline of a 151,643-token vocabulary."""
    outcome = run("val_loss < ln(vocab)", val_loss=Q(11.55, "nats"), vocab=Q(151643, "count"))
    assert outcome.truth is Truth.TRUE
    assert outcome.text == "val_loss 11.55 nats < ln(vocab) 11.93 nats: true"
    assert truth("ln(151643 count) > 11.929 nats and ln(151643 count) < 11.93 nats") is Truth.TRUE


def test_log2_is_bits_and_compares_after_conversion() -> None:
    assert truth("log2(151643) > 17.21 bits and log2(151643) < 17.211 bits") is Truth.TRUE
    outcome = run("val_loss < log2(vocab)", val_loss=Q(11.55, "nats"), vocab=Q(151643, "count"))
    assert outcome.truth is Truth.TRUE
    assert "log2(vocab) 17.21 bits = 11.93 nats" in outcome.text
    # 12 nats is above 11.93 nats even though 12 < 17.21: the raw comparison would lie.
    assert truth("v < log2(151643)", v=Q(12, "nats")) is Truth.FALSE


def test_bare_number_beside_count_is_allowed() -> None:
    assert truth("n >= 100", n=Q(120, "count")) is Truth.TRUE


def test_guard_text_quotes_numbers_and_units() -> None:
    outcome = run("n_examples >= min_examples", n_examples=Q(4, "count"),
                  min_examples=Q(100, "count"))
    assert outcome == Outcome(Truth.FALSE, "n_examples 4 count >= min_examples 100 count: false")


# --------------------------------------------------------------------------------- the grammar

@pytest.mark.parametrize(("text", "expected"), [
    ("1 < 2", Truth.TRUE),
    ("2 <= 2", Truth.TRUE),
    ("2 > 3", Truth.FALSE),
    ("3 >= 3.0", Truth.TRUE),
    ("1e3 == 1000", Truth.TRUE),
    ("2.5E-1 == .25", Truth.TRUE),
    ("1 != 1", Truth.FALSE),
    ("1 < 2 < 3", Truth.TRUE),
    ("1 < 3 < 2", Truth.FALSE),
    ("1 < 2 and 2 < 1", Truth.FALSE),
    ("1 < 2 or 2 < 1", Truth.TRUE),
    ("not 1 < 2", Truth.FALSE),
    ("not not 1 < 2", Truth.TRUE),
    ("1 < 2 or 2 < 1 and 3 < 1", Truth.TRUE),  # and binds tighter than or
    ("(1 < 2 or 2 < 1) and 3 < 1", Truth.FALSE),
    ("1 + 2 * 3 == 7", Truth.TRUE),
    ("(1 + 2) * 3 == 9", Truth.TRUE),
    ("10 - 4 - 3 == 3", Truth.TRUE),  # left-associative
    ("12 / 3 / 2 == 2", Truth.TRUE),
    ("-2 * -3 == 6", Truth.TRUE),
    ("--2 == 2", Truth.TRUE),
    ("abs(-4) == 4", Truth.TRUE),
    ("min(3, 1, 2) == 1 and max(3, 1, 2) == 3", Truth.TRUE),
    ("exp(0) == 1", Truth.TRUE),
    ("exp(ln(5)) > 4.999 and exp(ln(5)) < 5.001", Truth.TRUE),
    ("5 between 1 and 10", Truth.TRUE),
    ("10 between 1 and 10", Truth.TRUE),  # inclusive
    ("11 between 1 and 10", Truth.FALSE),
    ("5 between 1 and 10 and 1 > 2", Truth.FALSE),  # the first 'and' belongs to between
    ("5 between 1 and 10 and 3 > 2", Truth.TRUE),
    ("not 5 between 6 and 10", Truth.TRUE),
    ("5 between 1 + 1 and 2 * 3", Truth.TRUE),
])
def test_grammar(text: str, expected: Truth) -> None:
    assert truth(text) is expected


@pytest.mark.parametrize(("text", "value", "unit"), [
    ("x == 11.93 nats", 11.93, "nats"),
    ("x == 17.21 bits", 17.21, "bits"),
    ("x == 1.2 bits/byte", 1.2, "bits/byte"),
    ("x == 5 %", 5, "percent"),
    ("x == 5%", 5, "percent"),
    ("x == 100 count", 100, "count"),
    ("x == 30 s", 30, "seconds"),
    ("x == 250 ms", 250, "ms"),
    ("x == 12 tokens/s", 12, "tokens/s"),
    ("x == 3nats", 3, "nats"),
])
def test_number_units(text: str, value: float, unit: str) -> None:
    assert truth(text, x=Q(value, unit)) is Truth.TRUE


def test_units_convert_across_a_dimension() -> None:
    assert truth("x == 30 s", x=Q(0.5, "minutes")) is Truth.TRUE
    assert truth("x < 1 GiB", x=Q(1023, "MiB")) is Truth.TRUE
    assert truth("x > 4 %", x=Q(0.05, "ratio")) is Truth.TRUE


def test_unit_with_slash_falls_back_to_division() -> None:
    """'3 nats/n' is not a unit: it is 3 nats divided by the name n."""
    assert truth("3 nats/n == 1.5 nats", n=Q(2)) is Truth.TRUE


def test_names() -> None:
    expr = parse("val_nll < ln(vocab_size) and n.tokens >= min_tokens or not x between a and b")
    assert expr.names() == {"val_nll", "vocab_size", "n.tokens", "min_tokens", "x", "a", "b"}
    assert parse("ln(3) < 2 nats").names() == frozenset()


def test_function_names_are_names_without_parentheses() -> None:
    assert parse("min < max").names() == {"min", "max"}


def test_parse_keeps_the_text() -> None:
    expr = parse("a < b")
    assert isinstance(expr, Expr)
    assert expr.text == "a < b"


# --------------------------------------------------------------------------- arithmetic units

@pytest.mark.parametrize(("text", "expected"), [
    ("1 nats + 1 bits > 1.69 nats", Truth.TRUE),
    ("1 nats + 1 bits < 1.7 nats", Truth.TRUE),
    ("2 bits - 1 nats > 0.55 bits and 2 bits - 1 nats < 0.56 bits", Truth.TRUE),
    ("3 nats * 2 == 6 nats", Truth.TRUE),
    ("2 * 3 nats == 6 nats", Truth.TRUE),
    ("3 nats / 2 == 1.5 nats", Truth.TRUE),
    ("6 nats / 3 nats == 2 ratio", Truth.TRUE),
    ("2 bits / 1 nats > 1.38 ratio and 2 bits / 1 nats < 139 %", Truth.TRUE),
    ("200 count * 5 % == 10 count", Truth.TRUE),
    ("2 * 5 % == 10 %", Truth.TRUE),
    ("2 * 5 % > 8 %", Truth.TRUE),  # 10 %, never a bare 0.1 read as 0.1 %
    ("5 % * 50 % == 2.5 %", Truth.TRUE),
    ("1 / 5 % == 20 ratio", Truth.TRUE),
    ("-(5 %) == -5 %", Truth.TRUE),
    ("10 count + 5 == 15 count", Truth.TRUE),
    ("min(2, 3 count) == 2 count", Truth.TRUE),
    ("max(1 nats, 1 bits) == 1 nats", Truth.TRUE),
])
def test_arithmetic_units(text: str, expected: Truth) -> None:
    assert truth(text) is expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("1 nats + 1 < 3 nats", "cannot combine 1 nats (nats) + 1 (dimensionless)"),
    ("1 nats + 1 count < 3 nats", "information and count do not mix"),
    ("2 nats * 3 count > 0 nats", "cannot combine 2 nats (nats) * 3 count (count)"),
    ("2 nats * 3 nats > 0 nats", "only a bare number or a ratio may scale a quantity"),
    ("1 / 2 s > 0", "cannot combine 1 (dimensionless) / 2 s (seconds)"),
    ("ln(3 nats) < 1 nats", "ln() needs a count or a dimensionless number, got 3 nats (nats)"),
    ("log2(1 s) < 1 bits", "log2() needs a count or a dimensionless number"),
    ("exp(3 count) > 1", "exp() needs nats, bits or a dimensionless number, got 3 count"),
    ("min(1 nats, 2 count) > 0 nats", "min() needs arguments of one dimension: 2 count (count)"),
    ("1 s < 1 bytes", "cannot compare 1 s (seconds) < 1 bytes (bytes)"),
])
def test_unit_errors(text: str, fragment: str) -> None:
    with pytest.raises(UnitError) as info:
        run(text)
    assert fragment in str(info.value)


def test_exp_of_bits_converts_to_nats_first() -> None:
    assert truth("exp(1 bits) > 1.999 and exp(1 bits) < 2.001") is Truth.TRUE


def test_exp_overflow_is_infinite_not_an_error() -> None:
    assert truth("exp(1000 nats) > 1e300") is Truth.TRUE


# ------------------------------------------------------------------------ confidence intervals

def test_ci_wholly_below_is_true() -> None:
    outcome = run("delta < 0 ratio", True, delta=Q(-0.02, "ratio", ci=(-0.03, -0.01)))
    assert outcome.truth is Truth.TRUE
    assert outcome.text == "delta -0.02 ratio (CI [-0.03, -0.01]) < 0 ratio: true"


def test_ci_wholly_above_is_false() -> None:
    assert truth("delta < 0 ratio", True, delta=Q(0.015, "ratio", ci=(0.01, 0.02))) is Truth.FALSE


def test_ci_straddling_is_unknown_and_says_so() -> None:
    outcome = run("delta < 0 ratio", True, delta=Q(0.005, "ratio", ci=(-0.01, 0.02)))
    assert outcome.truth is Truth.UNKNOWN
    assert "CI [-0.01, 0.02] straddles 0" in outcome.text


def test_without_use_ci_only_points_count() -> None:
    outcome = run("delta < 0 ratio", False, delta=Q(-0.005, "ratio", ci=(-0.01, 0.02)))
    assert outcome.truth is Truth.TRUE
    assert "CI" not in outcome.text


def test_two_overlapping_cis_are_unknown() -> None:
    env = {"a": Q(1, "nats", ci=(0.5, 1.5)), "b": Q(1.2, "nats", ci=(1.0, 2.0))}
    outcome = parse("a < b").evaluate(env, use_ci=True)
    assert outcome.truth is Truth.UNKNOWN
    assert "CIs [0.5, 1.5] and [1, 2] overlap" in outcome.text


def test_ci_converts_with_its_unit() -> None:
    """A CI in bits against a threshold in nats is compared after conversion."""
    loss = Q(10, "bits", ci=(9, 11))  # 6.24 .. 7.62 nats
    assert truth("loss < 8 nats", True, loss=loss) is Truth.TRUE
    assert truth("loss < 7 nats", True, loss=loss) is Truth.UNKNOWN


@pytest.mark.parametrize(("text", "expected"), [
    ("a - b < 0 nats", Truth.TRUE),       # [1, 2] - [3, 4] = [-3, -1]
    ("a - b < -2 nats", Truth.UNKNOWN),
    ("a + b between 4 nats and 6 nats", Truth.TRUE),
    ("-a < -0.5 nats", Truth.TRUE),       # [-2, -1]
    ("a * 2 >= 2 nats", Truth.TRUE),
    ("b / a > 1 ratio", Truth.TRUE),           # [1.5, 4]
    ("b / a > 200 %", Truth.UNKNOWN),
    ("abs(a - b) >= 1 nats", Truth.TRUE),
    ("abs(b - a - 2 nats) <= 1 nats", Truth.TRUE),  # [-1, 1] -> [0, 1]
    ("max(a, b) > 2.5 nats", Truth.TRUE),
    ("min(a, b) > 1.5 nats", Truth.UNKNOWN),
    ("exp(a) > 2.7", Truth.TRUE),
    ("ln(n) > 0 nats", Truth.UNKNOWN),     # n's CI reaches 0
    ("a == b", Truth.FALSE),
    ("a != b", Truth.TRUE),
    ("a == 1.5 nats", Truth.UNKNOWN),
    ("a / r > 0 nats", Truth.UNKNOWN),    # the divisor's CI reaches 0: unbounded
    ("a / r < 1e300 nats", Truth.UNKNOWN),
])
def test_interval_arithmetic(text: str, expected: Truth) -> None:
    env = {"a": Q(1.5, "nats", ci=(1, 2)), "b": Q(3.5, "nats", ci=(3, 4)),
           "n": Q(1, "count", ci=(0, 2)), "r": Q(1, ci=(0, 2))}
    assert parse(text).evaluate(env, use_ci=True).truth is expected


def test_point_equality_with_ci_on() -> None:
    assert truth("a == 2 nats", True, a=Q(2, "nats")) is Truth.TRUE


# ------------------------------------------------------------------------ three-valued logic

KLEENE_AND = {
    (Truth.TRUE, Truth.TRUE): Truth.TRUE, (Truth.TRUE, Truth.UNKNOWN): Truth.UNKNOWN,
    (Truth.TRUE, Truth.FALSE): Truth.FALSE, (Truth.UNKNOWN, Truth.UNKNOWN): Truth.UNKNOWN,
    (Truth.UNKNOWN, Truth.FALSE): Truth.FALSE, (Truth.FALSE, Truth.FALSE): Truth.FALSE,
}
# a literal comparison for each truth value, under use_ci=True and u = 0 ratio, CI [-1, 1]
CONDITION = {Truth.TRUE: "1 < 2", Truth.FALSE: "2 < 1", Truth.UNKNOWN: "u < 0 ratio"}


@pytest.mark.parametrize(("pair", "expected"), list(KLEENE_AND.items()))
def test_kleene_and_or(pair: tuple[Truth, Truth], expected: Truth) -> None:
    env = {"u": Q(0, "ratio", ci=(-1, 1))}
    for left, right in (pair, pair[::-1]):
        text = f"{CONDITION[left]} and {CONDITION[right]}"
        assert parse(text).evaluate(env, use_ci=True).truth is expected
        negated = f"not ({CONDITION[left].replace('<', '>=')} or " \
                  f"{CONDITION[right].replace('<', '>=')})"
        assert parse(negated).evaluate(env, use_ci=True).truth is expected  # De Morgan


def test_kleene_not() -> None:
    env = {"u": Q(0, "ratio", ci=(-1, 1))}
    results = {t: parse(f"not {c}").evaluate(env, use_ci=True).truth for t, c in CONDITION.items()}
    assert results == {Truth.TRUE: Truth.FALSE, Truth.FALSE: Truth.TRUE,
                       Truth.UNKNOWN: Truth.UNKNOWN}


def test_and_or_text_joins_the_parts() -> None:
    outcome = run("n >= 100 and (loss < 3 nats or loss < 2 nats)",
                  n=Q(4, "count"), loss=Q(2.5, "nats"))
    assert outcome.truth is Truth.FALSE
    assert outcome.text == ("n 4 count >= 100: false and (loss 2.5 nats < 3 nats: true or "
                            "loss 2.5 nats < 2 nats: false)")


def test_not_text() -> None:
    assert run("not 1 < 2").text == "not (1 < 2: true)"


def test_chain_and_between_text() -> None:
    assert run("0 < x <= 10", x=Q(5)).text == "0 < x 5: true and x 5 <= 10: true"
    assert run("cer between 0 % and 5 %", cer=Q(7, "%")).text == (
        "0 % <= cer 7 %: true and cer 7 % <= 5 %: false")


# ----------------------------------------------------------------------------- error paths

@pytest.mark.parametrize(("text", "fragment", "column"), [
    ("val_loss < 3 foo", "'foo' after a number is not a known unit", 14),
    ("x < 3 count count", "unexpected 'count' after a complete expression", 13),
    ("x < ", "expected a number, a name or '(', found the end of the expression", 5),
    ("x < )", "expected a number, a name or '(', found ')'", 5),
    ("(x < 3", "expected ')' to close the '(' at column 1", 7),
    ("x = 3", "'=' is not an operator; write '==' to test equality", 3),
    ("x ! 3", "write '!=' or 'not'", 3),
    ("x % 3 < 1", "'%' must follow a number", 3),
    ("x < 3 $", "unexpected character '$'", 7),
    ("x < 3 ∧ y", "unexpected character '∧'", 7),
    ("foo(x) < 3", "unknown function 'foo'; known: abs, all, any, argmax, argmin, exp, len, "
                   "ln, log2, max, mean, min, sum", 1),
    ("ln(1, 2) < 3 nats", "ln() takes 1 argument, got 2", 1),
    ("max() < 3", "max() needs an argument", 5),
    ("x", "expected a condition, but 'x' is a number; compare it", 1),
    ("x + 1", "expected a condition, but 'x + 1' is a number", 1),
    ("x < 1 and y", "expected a condition, but 'y' is a number", 11),
    ("not x", "expected a condition, but 'x' is a number", 5),
    ("(x < 1) + 2 < 3", "expected a number, but 'x < 1' is a condition", 2),
    ("-(x < 1) < 3", "expected a number, but 'x < 1' is a condition", 3),
    ("ln(x < 1) < 3", "expected a number, but 'x < 1' is a condition", 4),
    ("x between 1 or 2", "'between' needs 'and' between its bounds", 13),
    ("x < 1e999", "number '1e999' is too large", 5),
    ("x and < 3", "expected a number, a name or '(', found '<'", 7),
    ("x < 3 %%", "'%' must follow a number", 8),
])
def test_parse_errors(text: str, fragment: str, column: int) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    message = str(info.value)
    assert fragment in message
    assert f"at column {column}:" in message
    assert text in message  # the expression is quoted ...
    assert message.endswith("\n  " + " " * (column - 1) + "^")  # ... with a caret under it


def test_empty_expression() -> None:
    with pytest.raises(ExprError, match="empty expression"):
        parse("   ")


def test_not_text_is_refused() -> None:
    with pytest.raises(ExprError, match="an expression must be text, got int"):
        parse(3)  # type: ignore[arg-type]


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(ExprError, match="nested more than 32 deep"):
        parse("(" * 40 + "1 < 2" + ")" * 40)
    with pytest.raises(ExprError, match="nested more than 32 deep"):
        parse("not " * 40 + "1 < 2")
    with pytest.raises(ExprError, match="nested more than 32 deep"):
        parse("-" * 40 + "x < 2")


def test_very_long_expression_is_refused() -> None:
    with pytest.raises(ExprError, match="expression too long"):
        parse(" + ".join(["1"] * 200) + " > 0")


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ExprError) as info:
        run("loss < x", loss=Q(1, "nats"), y=Q(2, "nats"))
    assert str(info.value) == "unknown name 'x'; known: loss, y (in 'loss < x')"


def test_unknown_name_with_an_empty_environment() -> None:
    with pytest.raises(ExprError, match="unknown name 'x'; known: nothing"):
        run("x < 1")


def test_division_by_zero() -> None:
    with pytest.raises(ExprError, match=r"division by zero: n is 0 count in 'a / n'"):
        run("a / n > 1", a=Q(3, "count"), n=Q(0, "count"))


def test_log_of_a_non_positive_number() -> None:
    with pytest.raises(ExprError, match=r"ln\(\) of a number that is not positive: n is 0 count"):
        run("ln(n) > 0 nats", n=Q(0, "count"))
    with pytest.raises(ExprError, match=r"log2\(\) of a number that is not positive: -2 is -2"):
        run("log2(-2) > 0 bits")


def test_nan_is_an_error_not_a_verdict() -> None:
    with pytest.raises(ExprError, match=r"loss is nan in 'loss < 3 nats'; a NaN cannot be"):
        run("loss < 3 nats", loss=Q(math.nan, "nats"))


def test_errors_are_value_errors() -> None:
    """Both error types are ValueErrors, so callers can catch bad input in one place."""
    assert issubclass(ExprError, ValueError)
    assert issubclass(UnitError, ValueError)


def test_all_parts_are_evaluated_so_errors_never_hide() -> None:
    with pytest.raises(ExprError, match="unknown name 'missing'"):
        run("1 > 2 and missing > 1")


# ------------------------------------------------------------------------------- properties

_TOKENS = ["x", "y", "n", "(", ")", ",", "<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/",
           "and", "or", "not", "between", "ln", "log2", "exp", "abs", "min", "max", "1",
           "2.5", "1e3", "0", "nats", "bits", "count", "%", "bits/byte", "s", "foo", "=", "!"]


@given(st.text(max_size=60))
@example("x < 3 nats")
@example("((((")
@example("1e99999 < 1")
@example("5 % % 5")
@example("٣ < 4")  # a non-ASCII digit is not a number
def test_parse_raises_only_expr_error_on_any_text(text: str) -> None:
    with contextlib.suppress(ExprError):
        parse(text)


@given(st.lists(st.sampled_from(_TOKENS), max_size=25).map(" ".join))
@example("x < 1e308 * 1e308 - 1e308 * 1e308")
@example("1 / (x - x) > 0")
@example("ln(0 * x) > 0 nats")
def test_fuzzed_expressions_fail_only_with_expr_or_unit_errors(text: str) -> None:
    """Token soup parses or raises ExprError; evaluating it raises nothing else either."""
    try:
        expr = parse(text)
    except ExprError:
        return
    env = {"x": Q(1.5), "y": Q(2, "nats", ci=(1, 3)), "n": Q(7, "count")}
    for use_ci in (False, True):
        try:
            outcome = expr.evaluate(env, use_ci=use_ci)
        except (ExprError, UnitError):
            continue
        assert isinstance(outcome.truth, Truth)
        assert outcome.text


ENV_VALUES = {"x": 1.5, "y": -2.25, "z": 4.0}
ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne}

Term = tuple[str, float | None]  # the text and its value, None after a division by zero


def _binary(t: tuple[Term, str, Term]) -> Term:
    (a, av), op, (b, bv) = t
    if av is None or bv is None:
        return f"({a} {op} {b})", None
    if op == "/":
        return f"({a} / {b})", None if bv == 0 else av / bv
    return f"({a} {op} {b})", ARITH[op](av, bv)


def _unary(t: tuple[str, Term]) -> Term:
    func, (a, av) = t
    if av is None:
        return f"{func}({a})", None
    return (f"-{a}", -av) if func == "-" else (f"abs({a})", abs(av))


def _extreme(t: tuple[str, list[Term]]) -> Term:
    func, items = t
    text = f"{func}({', '.join(a for a, _ in items)})"
    values = [v for _, v in items]
    if any(v is None for v in values):
        return text, None
    return text, (min if func == "min" else max)(v for v in values if v is not None)


_leaves = st.one_of(
    st.integers(0, 99).map(lambda n: (str(n), float(n))),
    st.sampled_from([0.5, 2.25, 10.0]).map(lambda v: (repr(v), v)),
    st.sampled_from(sorted(ENV_VALUES)).map(lambda k: (k, ENV_VALUES[k])),
)
numbers: st.SearchStrategy[Term] = st.recursive(_leaves, lambda kids: st.one_of(
    st.tuples(kids, st.sampled_from(["+", "-", "*", "/"]), kids).map(_binary),
    st.tuples(st.sampled_from(["-", "abs"]), kids).map(_unary),
    st.tuples(st.sampled_from(["min", "max"]), st.lists(kids, min_size=1, max_size=3))
    .map(_extreme),
), max_leaves=8)


def _comparison(t: tuple[Term, str, Term]) -> tuple[str, bool | None]:
    (a, av), op, (b, bv) = t
    value = None if av is None or bv is None else COMPARE[op](av, bv)
    return f"{a} {op} {b}", value


def _junction(t: tuple[tuple[str, bool | None], str, tuple[str, bool | None]]
              ) -> tuple[str, bool | None]:
    (a, av), op, (b, bv) = t
    if av is None or bv is None:
        return f"({a} {op} {b})", None
    return f"({a} {op} {b})", (av and bv) if op == "and" else (av or bv)


def _negation(t: tuple[str, bool | None]) -> tuple[str, bool | None]:
    return f"not ({t[0]})", None if t[1] is None else not t[1]


conditions = st.recursive(
    st.tuples(numbers, st.sampled_from(sorted(COMPARE)), numbers).map(_comparison),
    lambda kids: st.one_of(
        st.tuples(kids, st.sampled_from(["and", "or"]), kids).map(_junction),
        kids.map(_negation)),
    max_leaves=4)


@given(conditions)
@example(("-x * -y == x * y", True))
@example(("1 / (x - x) < 1", None))
def test_generated_expressions_match_python(case: tuple[str, bool | None]) -> None:
    """Expressions from a small grammar evaluate as the same computation done in Python."""
    text, expected = case
    env = {name: Q(value) for name, value in ENV_VALUES.items()}
    expr = parse(text)
    if expected is None:
        with pytest.raises(ExprError, match="division by zero"):
            expr.evaluate(env)
    else:
        assert expr.evaluate(env).truth is Truth.of(expected)


@given(numbers, numbers)
def test_chains_and_between_match_python(a: Term, b: Term) -> None:
    (at, av), (bt, bv) = a, b
    env = {name: Q(value) for name, value in ENV_VALUES.items()}
    if av is None or bv is None:
        return
    assert parse(f"{at} <= {bt} < 50").evaluate(env).truth is Truth.of(av <= bv < 50)
    assert parse(f"{at} between {bt} and 50").evaluate(env).truth is Truth.of(bv <= av <= 50)


_SAME_DIMENSION = st.sampled_from([("nats", "bits"), ("bits", "nats"), ("nats", "nats"),
                                   ("seconds", "ms"), ("percent", "ratio"), ("count", "1"),
                                   ("MiB", "GiB"), ("bits/byte", "nats/byte")])
_values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(_SAME_DIMENSION, _values, _values)
@example(("nats", "bits"), 11.55, 17.21)
@example(("nats", "bits"), math.log(2.0), 1.0)  # equal after conversion
def test_comparisons_are_antisymmetric(units: tuple[str, str], a: float, b: float) -> None:
    """a < b iff b > a, never both a < b and b < a, and exactly one of <, ==, > holds."""
    env = {"a": Q(a, units[0]), "b": Q(b, units[1])}

    def t(text: str) -> Truth:
        return parse(text).evaluate(env).truth

    assert t("a < b") is t("b > a")
    assert t("a <= b") is t("b >= a")
    assert t("a == b") is t("b == a")
    assert t("a != b") is t("a == b").negate()
    assert not (t("a < b") is Truth.TRUE and t("b < a") is Truth.TRUE)
    assert [t("a < b"), t("a == b"), t("a > b")].count(Truth.TRUE) == 1


@given(_values, st.floats(min_value=0, max_value=1e3), st.floats(min_value=-1e6, max_value=1e6))
def test_ci_decisions_agree_with_every_point_in_the_interval(
        centre: float, half: float, threshold: float) -> None:
    """TRUE or FALSE on a CI means the point answer is the same at both ends of it."""
    env = {"d": Q(centre, "ratio", ci=(centre - half, centre + half)), "t": Q(threshold, "ratio")}
    decided = parse("d < t").evaluate(env, use_ci=True).truth
    ends = {parse("d < t").evaluate({"d": Q(v, "ratio"), "t": env["t"]}).truth
            for v in (centre - half, centre + half)}
    if decided is Truth.UNKNOWN:
        assert len(ends) == 2
    else:
        assert ends == {decided}
