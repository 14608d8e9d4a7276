"""A measurement is evidence only with its support (DESIGN rule 13): n and confidence intervals.

A value over n = 0 rows, or a confidence interval that is reversed or does not contain its own
value, is an ERROR naming the measurement, by the tool itself and without a guard in the
contract; an n below the claim's declared ``min_n`` fails the tool's guard ``min_n.<measure>``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harness.contracts import Claim, load_contracts
from harness.evidence import Evidence
from harness.records import Measurement, Status
from harness.units import Quantity, UnitError
from harness.verdict import judge

CONTRACT = """\
claims:
  - id: RATES
    title: Rates and losses
    statement: CER is low; NLL is below the uniform loss.
    measures:
      cer: {unit: ratio}
      wer: {unit: ratio, min_n: 100}
      nll: {unit: nats}
    predicate: cer < 5 % and nll < 12 nats and wer < 50 %
    statistics: {decide_on_ci: true}
    subjects: [model]
    controls:
      - subject: broken
"""


@pytest.fixture(scope="module")
def claim(tmp_path_factory: pytest.TempPathFactory) -> Claim:
    folder: Path = tmp_path_factory.mktemp("support") / "contracts"
    folder.mkdir()
    (folder / "rates.yaml").write_text(CONTRACT)
    return load_contracts(folder)["RATES"]


def verdict(claim: Claim, cer: Measurement | None = None, nll: Measurement | None = None,
            wer: Measurement | None = None) -> tuple[Status, str]:
    ms = [cer or Measurement("cer", 0.01, "ratio", n=500),
          nll or Measurement("nll", 10.0, "nats", n=500),
          wer or Measurement("wer", 0.1, "ratio", n=500)]
    v = judge(claim, "model", ms)
    return v.status, "; ".join(v.reasons)


def test_baseline_passes(claim: Claim) -> None:
    assert verdict(claim)[0] is Status.PASS


# ------------------------------------------------------------------------------- n = 0

@given(value=st.floats(-10, 10), name=st.sampled_from(["cer", "nll", "wer"]),
       with_ci=st.booleans())
@example(value=0.0, name="cer", with_ci=False)  # measure("cer", 0.0, n=0): was PASS
def test_a_value_over_n_0_is_an_error(claim: Claim, value: float, name: str,
                                      with_ci: bool) -> None:
    unit = "nats" if name == "nll" else "ratio"
    ci = (value - 1, value + 1) if with_ci else None
    status, reasons = verdict(claim, **{name: Measurement(name, value, unit, n=0, ci=ci)})
    assert status is Status.ERROR
    assert f"measurement {name}" in reasons
    assert "n = 0" in reasons


# ------------------------------------------------------------------------------- min_n

@given(n=st.integers(1, 300), holds=st.booleans())
@example(n=99, holds=True)
@example(n=100, holds=True)
def test_n_below_the_declared_min_n_fails_the_tools_own_guard(claim: Claim, n: int,
                                                              holds: bool) -> None:
    wer = Measurement("wer", 0.1 if holds else 0.9, "ratio", n=n)
    status, reasons = verdict(claim, wer=wer)
    enough = n >= 100
    expected = {(True, True): Status.PASS, (True, False): Status.SUSPECT,
                (False, True): Status.FAIL, (False, False): Status.INCONCLUSIVE}[holds, enough]
    assert status is expected, reasons
    if not enough:
        assert f"guard min_n.wer failed: wer n = {n} < min_n 100" in reasons


def test_a_declared_min_n_without_n_is_an_error(claim: Claim) -> None:
    status, reasons = verdict(claim, wer=Measurement("wer", 0.1, "ratio"))
    assert status is Status.ERROR
    assert "wer was recorded without n" in reasons
    assert "min_n 100" in reasons


def test_min_n_must_be_a_positive_whole_number(tmp_path: Path) -> None:
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "rates.yaml").write_text(CONTRACT.replace("min_n: 100", "min_n: 0"))
    with pytest.raises(ValueError, match=r"claim RATES: key claims/0/measures/wer"):
        load_contracts(folder)


# --------------------------------------------------------------------------------- CIs

finite = st.floats(-1e6, 1e6, allow_nan=False)


@st.composite
def contradicting(draw: st.DrawFn) -> tuple[float, tuple[float, float]]:
    """A value and an interval that reversed, or that does not contain the value."""
    lo, hi = sorted((draw(finite), draw(finite)))
    if draw(st.booleans()) and lo < hi:
        value = draw(st.floats(lo, hi))
        return value, (hi, lo)  # reversed ends
    gap = draw(st.floats(1e-3, 1e3))
    value = hi + gap * max(1.0, abs(hi)) if draw(st.booleans()) else lo - gap * max(1.0, abs(lo))
    return value, (lo, hi)


@given(case=contradicting(), name=st.sampled_from(["cer", "nll", "wer"]))
@example(case=(20.0, (1.0, 2.0)), name="nll")    # decided on the CI alone: was PASS
@example(case=(11.0, (13.0, 10.0)), name="nll")  # reversed: was INCONCLUSIVE
def test_an_interval_that_contradicts_its_value_is_an_error(
        claim: Claim, case: tuple[float, tuple[float, float]], name: str) -> None:
    value, ci = case
    unit = "nats" if name == "nll" else "ratio"
    status, reasons = verdict(claim, **{name: Measurement(name, value, unit, n=500, ci=ci)})
    assert status is Status.ERROR, reasons
    assert f"measurement {name}: its confidence interval" in reasons


@given(lo=st.floats(0, 11.9), width=st.floats(0, 1), at=st.floats(0, 1))
def test_an_interval_holding_its_value_is_decided_on(claim: Claim, lo: float, width: float,
                                                     at: float) -> None:
    hi = lo + width
    value = min(hi, lo + at * width)
    status, reasons = verdict(claim, nll=Measurement("nll", value, "nats", n=500,
                                                     ci=(lo, hi)))
    assert status is (Status.PASS if hi < 12 else Status.INCONCLUSIVE), reasons


@pytest.mark.parametrize("ci", [(math.nan, 2.0), (1.0, math.inf), (-math.inf, 1.0)])
def test_measure_refuses_non_finite_ends(claim: Claim, tmp_path: Path,
                                         ci: tuple[float, float]) -> None:
    ev = Evidence(claim, claim.subjects[0], tmp_path)
    with pytest.raises(ValueError, match="measurement nll: confidence interval end"):
        ev.measure("nll", 1.5, unit="nats", ci=ci)


def test_measure_refuses_an_interval_in_another_unit(claim: Claim, tmp_path: Path) -> None:
    ev = Evidence(claim, claim.subjects[0], tmp_path)
    with pytest.raises(UnitError, match=r"measurement nll: .* is not in nats"):
        ev.measure("nll", 11.0, unit="nats", ci=(Quantity.of(15, "bits"), Quantity.of(16, "bits")))
    m = ev.measure("nll", 11.0, unit="nats", ci=(Quantity.of(10, "nats"), 12.0))
    assert m.ci == (10.0, 12.0)


@pytest.mark.parametrize("n", [-1, 2.5, True, "100"])
def test_measure_refuses_an_n_that_is_not_a_sample_size(claim: Claim, tmp_path: Path,
                                                        n: object) -> None:
    ev = Evidence(claim, claim.subjects[0], tmp_path)
    with pytest.raises(ValueError, match="measurement cer: n must be a whole number"):
        ev.measure("cer", 0.1, unit="ratio", n=n)  # type: ignore[arg-type]


def test_a_falsifier_computing_a_rate_over_nothing_gets_error(pytester: pytest.Pytester) -> None:
    """`errors / n if n else 0.0` recorded with n=0, and nll=20 with CI (1, 2): ERROR records."""
    from tests.harness.toyspace import write_toyspace

    contract = CONTRACT.replace("subjects: [model]", "subjects: [model, reversed]")
    falsifier = '''\
import pytest

pytestmark = pytest.mark.live
CASES = {"model": (0.0, 0, 10.0, None), "reversed": (0.01, 500, 11.0, (13.0, 10.0)),
         "broken": (0.01, 500, 20.0, (1.0, 2.0))}


@pytest.mark.claim("RATES")
def test_rates(evidence, subject):
    cer, n, nll, ci = CASES[subject.id]
    evidence.measure("cer", cer, unit="ratio", n=n)
    evidence.measure("nll", nll, unit="nats", n=500, ci=ci)
    evidence.measure("wer", 0.1, unit="ratio", n=500)
'''
    write_toyspace(pytester.path, contract=contract, falsifier=falsifier)
    result = pytester.runpytest("falsifiers", "-m", "live")
    result.assert_outcomes(errors=3)
    out = result.stdout.str()
    assert "measurement cer is 0 ratio over n = 0" in out
    assert "measurement nll: its confidence interval [13, 10] nats has its ends reversed" in out
    assert "interval [1, 2] nats does not contain its value 20" in out


def test_reasons_quote_the_n_of_each_measurement(claim: Claim) -> None:
    status, reasons = verdict(claim, cer=Measurement("cer", 0.01, "ratio", n=1240))
    assert status is Status.PASS
    assert "cer 0.01 ratio (n=1240) < 5 %" in reasons
