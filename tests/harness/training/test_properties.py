"""Properties over generated curves, each written as JSON Lines and read back by the reader:

- any loss or gradient norm series with a non-finite value at any position fails
  TRAIN-LOSS-FINITE, and the notes name the first non-finite step;
- a validation loss logged in bits whose nats value lies between ln|V| and log2|V| fails
  VAL-BELOW-UNIFORM-AT-BEST, and passes under either confusion (a nats value recorded as bits,
  which the units-agree guard then marks SUSPECT, or the threshold ln|V| written as the number
  log2|V|: "ln(151643) = 17.21"); a good run
  logged in bits fails when its bits are read as nats;
- a flat or rising training loss, with any noise and length, never passes TRAIN-LOSS-DESCENDS.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import replace
from functools import cache
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.contracts import Claim, load_contracts
from harness.records import Measurement, Status
from harness.runs.logs import RunLog, read_run_log
from harness.units import Quantity
from harness.verdict import judge
from tests.harness.training.judging import SUBJECT, judged
from tests.harness.training.writers import jsonl_curves

SETTINGS = settings(max_examples=60, deadline=None)
FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
BAD = st.sampled_from([math.nan, math.inf, -math.inf])
STRIDE = 10


def _jsonl(series: dict[str, list[float]], units: dict[str, str] | None = None,
           vocab: int | None = None) -> RunLog:
    with tempfile.TemporaryDirectory() as tmp:
        log = read_run_log(jsonl_curves(Path(tmp) / "log.jsonl", series, stride=STRIDE),
                           units=units)
    if vocab is None:
        return log
    return RunLog(log.path, log.format, log.all_series, log.files, {"vocab_size": vocab})


@st.composite
def broken_series(draw: st.DrawFn) -> tuple[list[float], int, float]:
    values = draw(st.lists(FINITE, min_size=1, max_size=40))
    at = draw(st.integers(0, len(values)))
    bad = draw(BAD)
    tail = draw(st.lists(st.one_of(FINITE, BAD), max_size=10))
    return [*values[:at], bad, *values[at:], *tail], at, bad


@SETTINGS
@given(case=broken_series(), role=st.sampled_from(["loss", "grad_norm", "eval_loss"]))
@example(case=([math.nan], 0, math.nan), role="loss")
def test_a_non_finite_value_anywhere_fails_naming_its_step(
        case: tuple[list[float], int, float], role: str) -> None:
    values, at, bad = case
    series = {"loss": [2.0] * len(values)} if role != "loss" else {}
    series[role] = values
    result = judged("TRAIN-LOSS-FINITE", _jsonl(series))
    step = at * STRIDE
    assert result.status is Status.FAIL
    assert result.value("first_nonfinite_step") == step
    assert f"{role} is {bad} at step {step}:" in result.notes


@SETTINGS
@given(values=st.lists(FINITE, min_size=1, max_size=40))
def test_finite_series_pass(values: list[float]) -> None:
    result = judged("TRAIN-LOSS-FINITE", _jsonl({"loss": values, "grad_norm": values}))
    assert result.status is Status.PASS
    assert result.value("n_values") == 2 * len(values)


# ----------------------------------------------------------------------- unit confusion

@st.composite
def above_uniform_below_log2(draw: st.DrawFn) -> tuple[int, float]:
    """|V| and a loss in nats strictly between ln|V| and log2|V| (not at their rounding)."""
    vocab = draw(st.integers(2, 300_000))
    low, high = math.log(vocab), math.log2(vocab)
    t = draw(st.floats(0.01, 0.99))
    return vocab, low + t * (high - low)


@cache
def threshold_written_as_a_number() -> Claim:
    """The same measurement against a hand-typed uniform loss, as tools that write
    "ln(151643) = 17.21" do: the subject's param ``uniform`` holds log2|V| in nats."""
    folder = Path(tempfile.mkdtemp(prefix="confused-"))
    (folder / "confused.yaml").write_text("""\
claims:
  - id: VAL-BELOW-TYPED-UNIFORM
    title: Best validation loss below a typed uniform loss
    statement: best_val_loss below the uniform loss typed in as a number.
    measures:
      best_val_loss: {unit: nats}
    params:
      uniform: 1 nats
    predicate: best_val_loss < uniform
    subjects: [run]
    controls: [{subject: broken-run, expect: FAIL}]
""", encoding="utf-8")
    return load_contracts(folder)["VAL-BELOW-TYPED-UNIFORM"]


def _typed_uniform_verdict(best_nats: float, uniform: float) -> Status:
    claim = threshold_written_as_a_number()
    claim = replace(claim, params={"uniform": Quantity.of(uniform, "nats")})
    return judge(claim, SUBJECT, [Measurement("best_val_loss", best_nats, "nats")]).status


@SETTINGS
@given(case=above_uniform_below_log2(), evals=st.integers(1, 6))
@example(case=(151643, 14.0), evals=3)
def test_bits_between_ln_and_log2_fail_and_each_confusion_passes_them(
        case: tuple[int, float], evals: int) -> None:
    vocab, nats = case
    bits = [nats / math.log(2.0) + 0.5 * k for k in range(evals)]  # best first, then worse
    log = _jsonl({"val_loss": bits}, units={"val_loss": "bits"}, vocab=vocab)
    right = judged("VAL-BELOW-UNIFORM-AT-BEST", log)
    assert right.status is Status.FAIL
    assert math.isclose(right.value("best_val_loss"), nats, rel_tol=1e-9)
    # confusion 1: the value converted to nats, then recorded in the log's unit (bits)
    claim = right.evidence.claim
    relabelled = [Measurement(m.name, m.value, "bits" if m.name == "best_val_loss" else m.unit,
                              m.n) for m in right.evidence.measurements]
    assert judge(replace(claim, guards=()), SUBJECT, relabelled).status is Status.PASS
    # ... which the claim's units-agree guard refuses to call a PASS
    caught = judge(claim, SUBJECT, relabelled)
    assert caught.status is Status.SUSPECT
    assert any("units-agree" in r for r in caught.reasons)
    # confusion 2: the uniform loss typed as log2|V| "nats"
    assert _typed_uniform_verdict(nats, math.log2(vocab)) is Status.PASS
    assert _typed_uniform_verdict(nats, math.log(vocab)) is Status.FAIL


@st.composite
def below_uniform_above_in_bits(draw: st.DrawFn) -> tuple[int, float]:
    """|V| and a loss in nats below ln|V| whose value in bits is above ln|V|."""
    vocab = draw(st.integers(2, 300_000))
    high, low = math.log(vocab), math.log(vocab) * math.log(2.0)
    t = draw(st.floats(0.01, 0.99))
    return vocab, low + t * (high - low)


@SETTINGS
@given(case=below_uniform_above_in_bits())
def test_a_good_run_in_bits_passes_and_fails_when_its_bits_are_read_as_nats(
        case: tuple[int, float]) -> None:
    vocab, nats = case
    bits = [nats / math.log(2.0)]
    right = _jsonl({"val_loss": bits}, units={"val_loss": "bits"}, vocab=vocab)
    wrong = _jsonl({"val_loss": bits}, units={"val_loss": "nats"}, vocab=vocab)
    assert judged("VAL-BELOW-UNIFORM-AT-BEST", right).status is Status.PASS
    assert judged("VAL-BELOW-UNIFORM-AT-BEST", wrong).status is Status.FAIL


# ------------------------------------------------------------------------ descending loss

@SETTINGS
@given(start=st.floats(0.1, 50.0), rise=st.floats(0.0, 5.0),
       noise=st.lists(st.floats(-0.05, 0.05), min_size=12, max_size=60))
def test_a_loss_that_does_not_fall_never_passes(start: float, rise: float,
                                                noise: list[float]) -> None:
    """Flat or rising curves (any noise, any length) never PASS TRAIN-LOSS-DESCENDS."""
    n = len(noise)
    values = [start * (1.0 + rise * i / n + e) for i, e in enumerate(noise)]
    result = judged("TRAIN-LOSS-DESCENDS", _jsonl({"loss": values}, units={"loss": "nats"}))
    assert result.status is not Status.PASS
