"""A bare number never stands beside a ratio or a percentage (DESIGN rule 12).

Ratio and percent are one dimension, 1 ratio = 100 %. A bare number there has two readings
(0.9 as 0.9 % or as 90 %), so a contract that puts one there is refused when it loads, naming
the file, the claim, the key and both readings; the same expression evaluated on measurements
is an error, never a verdict.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.contracts import ContractError, load_contracts
from harness.expr import parse
from harness.records import Measurement, Status
from harness.units import AmbiguousNumber, Quantity, UnitError, two_readings
from harness.verdict import judge

CLAIM = """\
claims:
  - id: RATE-CLAIM
    title: A rate claim
    statement: A rate is low enough.
    measures:
      cer: {{unit: {cer_unit}}}
      errors: {{unit: count}}
      rows: {{unit: count}}
      nll: {{unit: nats}}
    params:
      limit: {limit}
    predicate: {predicate}
    guards:
      - id: enough-rows
        check: {guard}
    subjects: [model]
    controls:
      - subject: broken
"""

# A quantity of dimension ratio, as a contract may write it.
RATIO_SIDES = ["cer", "errors / rows", "2 * cer", "cer + 1 %", "abs(cer)", "min(cer, 5 %)",
               "(cer)"]
OPS = ["<", "<=", ">", ">=", "==", "!="]


def write(tmp_path: Path, **fields: str) -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir(parents=True, exist_ok=True)
    values = {"cer_unit": "ratio", "limit": "5 %", "predicate": "cer < limit",
              "guard": "rows >= 1 count", **fields}
    (folder / "rate.yaml").write_text(CLAIM.format(**values))
    return folder


def refusal(tmp_path: Path, **fields: str) -> str:
    with pytest.raises(ContractError) as info:
        load_contracts(write(tmp_path, **fields))
    return str(info.value)


bare_values = st.one_of(st.integers(1, 1000).map(float),
                        st.floats(0.001, 1000, allow_nan=False).map(lambda v: float(f"{v:.3g}")))


@st.composite
def ambiguous(draw: st.DrawFn) -> tuple[str, str, str, float, str]:
    """(predicate, guard, limit, the bare value, the key named): a bare number beside a ratio."""
    value = draw(bare_values)
    text = f"{value:g}"
    via_param = draw(st.booleans())
    bare = "limit" if via_param else text
    side = draw(st.sampled_from(RATIO_SIDES))
    form = draw(st.sampled_from(["cmp", "cmp-flipped", "between", "arith", "minmax"]))
    if form == "cmp":
        clause = f"{side} {draw(st.sampled_from(OPS))} {bare}"
    elif form == "cmp-flipped":
        clause = f"{bare} {draw(st.sampled_from(OPS))} {side}"
    elif form == "between":
        clause = draw(st.sampled_from([f"{side} between {bare} and 500 %",
                                       f"{side} between 0 % and {bare}"]))
    elif form == "arith":
        clause = f"{bare} {draw(st.sampled_from(['+', '-']))} {side} > 0 %"
    else:
        clause = f"{draw(st.sampled_from(['min', 'max']))}({side}, {bare}) <= 100 %"
    wrap = draw(st.sampled_from(["{c}", "not ({c})", "nll < 3 nats and {c}",
                                 "{c} or rows > 10 count"]))
    expr = wrap.format(c=clause)
    in_guard = draw(st.booleans())
    predicate, guard = ("cer < 5 %", expr) if in_guard else (expr, "rows >= 1 count")
    limit = text if via_param else "5 %"
    key = "guards.enough-rows" if in_guard else "predicate"
    return predicate, guard, limit, value, key + (" (params.limit)" if via_param else "")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=ambiguous(), unit=st.sampled_from(["ratio", "percent"]))
@example(case=("cer < 5", "rows >= 1 count", "5 %", 5.0, "predicate"), unit="ratio")
@example(case=("cer >= limit", "rows >= 1 count", "0.9", 0.9, "predicate (params.limit)"),
         unit="percent")
def test_contract_with_a_bare_number_beside_a_rate_is_refused(
        tmp_path: Path, case: tuple[str, str, str, float, str], unit: str) -> None:
    """Every such contract is refused with its file, claim, key and the two readings."""
    predicate, guard, limit, value, key = case
    text = refusal(tmp_path, cer_unit=unit, predicate=predicate, guard=guard, limit=limit)
    assert "rate.yaml: claim RATE-CLAIM: key " + key in text
    assert two_readings(value) in text


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=bare_values, written=st.sampled_from(["%", "ratio"]),
       unit=st.sampled_from(["ratio", "percent"]), measured=st.floats(0, 2))
def test_with_its_unit_written_the_number_means_what_it_says(
        tmp_path: Path, value: float, written: str, unit: str, measured: float) -> None:
    """'5 %' is 0.05 ratio beside a ratio and beside a percentage alike."""
    claim = load_contracts(write(tmp_path, cer_unit=unit, limit=f"{value:g} {written}")
                           )["RATE-CLAIM"]
    cer = measured * (100 if unit == "percent" else 1)
    verdict = judge(claim, "model", [Measurement("cer", cer, unit),
                                     Measurement("rows", 10, "count")])
    threshold = value / 100 if written == "%" else value
    assert verdict.status is (Status.PASS if measured < threshold else Status.FAIL), verdict


@given(value=bare_values, unit=st.sampled_from(["ratio", "percent"]),
       op=st.sampled_from(OPS), flipped=st.booleans())
@example(value=5.0, unit="ratio", op="<", flipped=False)
def test_evaluating_the_comparison_is_an_error_never_a_verdict(
        value: float, unit: str, op: str, flipped: bool) -> None:
    expr = parse(f"{value:g} {op} cer" if flipped else f"cer {op} {value:g}")
    with pytest.raises(AmbiguousNumber, match="two readings"):
        expr.evaluate({"cer": Quantity.of(0.2, unit)})


def test_the_issue_cases_fail_to_load(tmp_path: Path) -> None:
    """`cer < 5` on a ratio, and `acc >= min_acc` with `min_acc: 0.9` on a percentage."""
    text = refusal(tmp_path, predicate="cer < 5")
    assert "5 read as 5 % or as 5 ratio = 500 %" in text
    text = refusal(tmp_path / "b", cer_unit="percent", predicate="cer >= limit", limit="0.9")
    assert "key predicate (params.limit)" in text
    assert "0.9 read as 0.9 % or as 0.9 ratio = 90 %" in text


def test_a_subject_override_is_named_by_its_own_key(tmp_path: Path) -> None:
    text = CLAIM.format(cer_unit="ratio", limit="5 %", predicate="cer < limit",
                        guard="rows >= 1 count")
    text = text.replace("subjects: [model]", "subjects:\n      - id: model\n"
                        "        params: {limit: 0.05}")
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "rate.yaml").write_text(text)
    with pytest.raises(ContractError, match=r"key predicate \(subjects\.model\.params\.limit\)"):
        load_contracts(folder)


@pytest.mark.parametrize("text", ["cer >= 0", "cer between 0 and 5 %", "cer * 2 < 5 %",
                                  "cer / 2 < 5 %", "rows >= 10", "errors / rows < 5 %"])
def test_numbers_with_one_reading_stay_accepted(tmp_path: Path, text: str) -> None:
    """Zero reads the same as 0 % and 0 ratio; a scale factor and a count have one reading."""
    assert load_contracts(write(tmp_path, predicate=text))["RATE-CLAIM"]


def test_every_unit_problem_of_an_expression_is_reported(tmp_path: Path) -> None:
    text = refusal(tmp_path, predicate="cer < 5 and nll < 3 and cer > limit", limit="0.1")
    assert text.count("two readings") == 2
    assert "a bare number cannot stand beside nats" in text


def test_min_and_max_convert_to_one_unit() -> None:
    """min(5 %, 0.1 ratio) is 5 %, never 0.1 read in percent."""
    outcome = parse("min(5 %, 0.1 ratio) == 5 %").evaluate({})
    assert outcome.truth.value == "true", outcome.text


def test_ambiguous_number_is_a_unit_error() -> None:
    assert issubclass(AmbiguousNumber, UnitError)
