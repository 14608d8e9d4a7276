"""judge(): every row of the DESIGN verdict table, with reasons that quote numbers and units."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.contracts import Claim, load_contracts
from harness.records import Measurement, Status
from harness.verdict import judge

LOSS = """\
claims:
  - id: LOSS-BELOW-UNIFORM
    title: Held-out loss below uniform
    statement: Mean held-out NLL per token is below ln|V|.
    measures:
      val_loss: {unit: nats}
      vocab_size: {unit: count}
      n_examples: {unit: count}
      delta: {unit: ratio}
    params:
      min_examples: 100 count
    predicate: val_loss < ln(vocab_size) and delta < 0 ratio
    guards:
      - id: enough-examples
        check: n_examples >= min_examples
    statistics: {confidence: 0.95, decide_on_ci: true}
    subjects: [model]
    controls:
      - subject: untied
"""


@pytest.fixture(scope="module")
def claim(tmp_path_factory: pytest.TempPathFactory) -> Claim:
    folder: Path = tmp_path_factory.mktemp("c") / "contracts"
    folder.mkdir()
    (folder / "lm.yaml").write_text(LOSS)
    return load_contracts(folder)["LOSS-BELOW-UNIFORM"]


def ms(loss: float = 11.55, unit: str = "nats", n: int = 500,
       ci: tuple[float, float] = (-0.03, -0.01)) -> list[Measurement]:
    return [Measurement("val_loss", loss, unit), Measurement("vocab_size", 151643, "count"),
            Measurement("n_examples", n, "count"),
            Measurement("delta", (ci[0] + ci[1]) / 2, "ratio", ci=ci, ci_level=0.95)]


def test_pass_quotes_both_numbers_in_nats(claim: Claim) -> None:
    v = judge(claim, "model", ms())
    assert v.status is Status.PASS
    assert "val_loss 11.55 nats < ln(vocab_size) 11.93 nats" in v.reasons[0]


def test_fail_is_an_honest_red(claim: Claim) -> None:
    v = judge(claim, "model", ms(loss=19.80))
    assert v.status is Status.FAIL
    assert "19.8 nats" in v.reasons[0]
    assert "11.93 nats" in v.reasons[0]


def test_unit_trap_from_the_field_converts_bits(claim: Claim) -> None:
    """A loss in bits is converted, never compared raw with ln|V| in nats.

    log2(151643) = 17.2103 bits is ln(151643) = 11.9293 nats. Compared raw, 17.3 "< 11.93" would be
    false for the wrong reason and 11.55 bits "< 11.93" true for the wrong reason.
    """
    over = judge(claim, "model", ms(loss=17.3, unit="bits"))
    assert over.status is Status.FAIL
    assert "val_loss 11.99 nats < ln(vocab_size) 11.93 nats" in over.reasons[0]
    assert judge(claim, "model", ms(loss=17.2, unit="bits")).status is Status.PASS


def test_guard_failure_turns_pass_into_suspect(claim: Claim) -> None:
    v = judge(claim, "model", ms(n=4))
    assert v.status is Status.SUSPECT
    assert any("guard enough-examples failed: n_examples 4 count >= min_examples 100 count" in r
               for r in v.reasons)


def test_guard_failure_turns_fail_into_inconclusive(claim: Claim) -> None:
    assert judge(claim, "model", ms(loss=19.8, n=4)).status is Status.INCONCLUSIVE


def test_ci_straddling_is_inconclusive(claim: Claim) -> None:
    v = judge(claim, "model", ms(ci=(-0.01, 0.02)))
    assert v.status is Status.INCONCLUSIVE


def test_ci_wholly_above_is_fail(claim: Claim) -> None:
    assert judge(claim, "model", ms(ci=(0.01, 0.02))).status is Status.FAIL


def test_zero_measurements_is_error(claim: Claim) -> None:
    v = judge(claim, "model", [])
    assert v.status is Status.ERROR
    assert "no measurement" in v.reasons[0]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nonfinite_is_error(claim: Claim, bad: float) -> None:
    v = judge(claim, "model", ms(loss=bad))
    assert v.status is Status.ERROR
    assert "non-finite" in v.reasons[0]


def test_undeclared_measurement_is_error(claim: Claim) -> None:
    v = judge(claim, "model", [*ms(), Measurement("surprise", 1.0, "count")])
    assert v.status is Status.ERROR
    assert "does not declare" in v.reasons[0]


def test_wrong_dimension_is_error(claim: Claim) -> None:
    v = judge(claim, "model", ms(unit="seconds"))
    assert v.status is Status.ERROR
    assert "the contract declares nats" in v.reasons[0]


def test_missing_measurement_is_error(claim: Claim) -> None:
    v = judge(claim, "model", ms()[1:])
    assert v.status is Status.ERROR
    assert "val_loss" in v.reasons[0]
