"""Vector measurements end to end: the contract language, judging, records, the ledger, renders.

The class of failure: a per-layer (or per-seed) result read as one number, or decided on the
wrong elements. The properties below generate vectors, slices and thresholds and check every
answer of the language against numpy; records carrying vectors round-trip through JSON and the
record schema; old (version 1) records still read; a live pytest run records a vector measured
from real files, and status, the README and the paper macros show it.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.contracts import ContractError, load_contracts
from harness.expr import ExprError, Truth, parse
from harness.ledger import Ledger
from harness.ledger.schema import record_schema
from harness.records import RECORD_SCHEMA_VERSION, Measurement, Record, RecordFormatError, Status
from harness.units import Quantity, parse_unit
from harness.vectors import QuantityVector
from harness.verdict import judge
from tests.harness.ledger_factory import make_record
from tests.harness.toyspace import write_toyspace

ONE = parse_unit("1")
COUNT = parse_unit("count")
values_st = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=12)


def env_of(values: list[float], **scalars: float) -> dict[str, Quantity | QuantityVector]:
    env: dict[str, Quantity | QuantityVector] = {"v": QuantityVector.of(values, ONE)}
    env.update({k: Quantity(float(x), COUNT if k in ("k", "j") else ONE)
                for k, x in scalars.items()})
    return env


def truth(text: str, env: dict[str, Quantity | QuantityVector], use_ci: bool = False) -> Truth:
    return parse(text).evaluate(env, use_ci=use_ci).truth


# ------------------------------------------------------------------------- the language

@given(values=values_st, t=st.floats(-1e6, 1e6))
def test_all_and_any_agree_with_numpy(values: list[float], t: float) -> None:
    env = env_of(values, t=t)
    arr = np.array(values)
    assert truth("all(v < t)", env) is Truth.of(bool(np.all(arr < t)))
    assert truth("any(v >= t)", env) is Truth.of(bool(np.any(arr >= t)))
    assert truth("all(abs(v) <= t)", env) is Truth.of(bool(np.all(np.abs(arr) <= t)))
    assert truth("not any(v >= t)", env) is truth("all(v < t)", env)


@given(values=values_st, data=st.data())
def test_slices_and_indexes_agree_with_python(values: list[float], data: st.DataObject) -> None:
    n = len(values)
    lo = data.draw(st.integers(0, n))
    hi = data.draw(st.integers(lo, n))
    i = data.draw(st.integers(-n, n - 1))
    t = data.draw(st.floats(-1e6, 1e6))
    env = env_of(values, k=lo, j=hi, t=t)
    part = values[lo:hi]
    expected = Truth.of(all(x < t for x in part)) if part else Truth.UNKNOWN
    assert truth("all(v[k:j] < t)", env) is expected  # over 0 elements: never a vacuous pass
    if lo < n:
        assert truth("all(v[k:] == v[k:])", env) is Truth.TRUE
    assert parse("len(v[k:j]) == j - k").evaluate(env).truth is Truth.TRUE
    assert parse("v[i] == x").evaluate(
        {**env, "i": Quantity(float(i), COUNT), "x": Quantity(values[i], ONE)}).truth is Truth.TRUE


@given(values=values_st)
def test_reductions_agree_with_numpy(values: list[float]) -> None:
    env = env_of(values)
    arr = np.array(values)

    def value(text: str) -> Quantity:
        node = parse(f"{text} >= {text}").root  # the left operand of a comparison with itself
        return node.operands[0].value(_ctx(env))  # type: ignore[attr-defined,no-any-return]

    assert value("argmax(v)").value == int(np.argmax(arr))  # the first of equal maxima
    assert value("argmin(v)").value == int(np.argmin(arr))
    assert value("len(v)").value == len(values)
    assert value("max(v)").value == arr.max()
    assert value("min(v)").value == arr.min()
    assert math.isclose(value("sum(v)").value, math.fsum(values), rel_tol=1e-12, abs_tol=1e-9)
    assert math.isclose(value("mean(v)").value, math.fsum(values) / len(values),
                        rel_tol=1e-12, abs_tol=1e-9)
    assert value("argmax(v)").unit == COUNT


def _ctx(env: dict[str, Quantity | QuantityVector]) -> object:
    from harness.expr_eval import _Ctx

    return _Ctx(env, use_ci=False, text="")


@given(values=st.lists(st.floats(-10, 10), min_size=2, max_size=8), data=st.data())
def test_an_element_whose_interval_straddles_is_undecided(values: list[float],
                                                          data: st.DataObject) -> None:
    """With decide_on_ci each element is decided on its own interval, as a scalar would be."""
    i = data.draw(st.integers(0, len(values) - 1))
    threshold = 20.0
    cis = [(v - 1.0, v + 1.0) for v in values]
    cis[i] = (values[i] - 1.0, threshold + 1.0)  # this one reaches over the threshold
    env: dict[str, Quantity | QuantityVector] = {
        "v": QuantityVector.of(values, ONE, cis), "t": Quantity(threshold, ONE)}
    outcome = parse("all(v < t)").evaluate(env, use_ci=True)
    assert outcome.truth is Truth.UNKNOWN
    assert f"undecided at [{i}]" in outcome.text
    assert parse("all(v < t)").evaluate(env, use_ci=False).truth is Truth.TRUE


def test_reasons_name_the_elements_that_decided_with_their_labels() -> None:
    env: dict[str, Quantity | QuantityVector] = {
        "d": QuantityVector.of([0.0, 0.01, 3.0, 5.7], ONE,
                               labels=[f"layer {i}" for i in range(4)]),
        "tol": Quantity(0.1, ONE)}
    text = parse("all(abs(d) <= tol)").evaluate(env).text
    assert "false at [2] (layer 2), [3] (layer 3)" in text
    assert "abs(d) 3 <= tol 0.1" in text


@pytest.mark.parametrize(("text", "fragment"), [
    ("d < 3", "d is a vector of 4 values where a number is needed"),
    ("d[0:2] < 3", "d[0:2] is a vector of 2 values where a number is needed"),
    ("all(t > 1)", "all() needs a vector inside"),
    ("t[0] > 1", "t is a number, not a vector"),
    ("d[4] > 1", "index d[4] is out of range: d has 4 elements"),
    ("all(d[1:9] > 1)", "slice d[1:9] is out of range"),
    ("d[t] > 1", "index t is 0.5, not a whole number"),
])
def test_misuse_is_an_error_that_says_what_to_write(text: str, fragment: str) -> None:
    env: dict[str, Quantity | QuantityVector] = {
        "d": QuantityVector.of([1.0, 2.0, 3.0, 4.0], ONE), "t": Quantity(0.5, ONE)}
    with pytest.raises(ExprError, match=fragment.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        parse(text).evaluate(env)


@pytest.mark.parametrize(("text", "fragment"), [
    ("all(1 < 2", "expected ')' to close"),
    ("v[1", "expected ']' to close"),
    ("v[]", "an index needs a number"),
    ("all(v)", "all() takes a condition"),
    ("argmax(v, v) > 1", "argmax() takes one vector"),
])
def test_parse_errors_for_vector_syntax(text: str, fragment: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    assert fragment in str(info.value)


def test_vectors_of_different_lengths_do_not_broadcast() -> None:
    env: dict[str, Quantity | QuantityVector] = {"a": QuantityVector.of([1.0, 2.0], ONE),
                                                 "b": QuantityVector.of([1.0, 2.0, 3.0], ONE)}
    with pytest.raises(ExprError, match="vectors of different lengths"):
        parse("all(a < b)").evaluate(env)


def test_units_convert_and_refuse_element_by_element() -> None:
    nats = QuantityVector.of([0.5, 0.6], parse_unit("nats"))
    env: dict[str, Quantity | QuantityVector] = {"v": nats, "b": Quantity(1.0, parse_unit("bits")),
                                                 "c": Quantity(1.0, COUNT)}
    assert parse("all(v < b)").evaluate(env).truth is Truth.TRUE  # 0.6 nats < 0.693 nats
    assert parse("all(v < b)").unit_problems(env) == []
    assert parse("all(v < c)").unit_problems(env)  # nats against a count: refused


# ------------------------------------------------------------------- records and ledger

element_st = st.one_of(st.floats(-1e9, 1e9), st.sampled_from([math.nan, math.inf, -math.inf]))


@given(values=st.lists(element_st, max_size=10), with_ci=st.booleans(),
       with_labels=st.booleans(), n=st.none() | st.integers(1, 10**6))
@settings(max_examples=60)
def test_vector_measurements_round_trip_and_meet_the_schema(
        values: list[float], with_ci: bool, with_labels: bool, n: int | None) -> None:
    cis = tuple((v - 1, v + 1) if math.isfinite(v) and i % 2 else None
                for i, v in enumerate(values)) if with_ci else None
    labels = tuple(f"layer {i}" for i in range(len(values))) if with_labels else None
    m = Measurement.vector_of("delta_l2", tuple(values), "1", n=n, cis=cis,
                              ci_level=0.95 if with_ci else None, labels=labels)
    rec = make_record(measurements=(m, Measurement("n_layers", 3.0, "count"))).sealed(None)
    line = rec.to_line()
    back = Record.from_line(line)
    got = back.measurement("delta_l2")
    assert got is not None
    assert got.values is not None
    assert len(got.values) == len(values)
    for a, b in zip(got.values, values, strict=True):
        assert (math.isnan(a) and math.isnan(b)) or a == b
    assert got.cis == cis
    assert got.labels == labels
    assert got.n == n
    assert back.compute_hash() == rec.hash
    assert back.schema == RECORD_SCHEMA_VERSION == 2
    assert record_schema().errors(json.loads(line)) == []


def test_a_scalar_record_of_schema_1_still_reads_and_verifies(tmp_path: Path) -> None:
    """Records written before vectors (schema 1) keep their bytes, hash and meaning."""
    committed = Path(__file__).resolve().parents[2] / "evidence" / "ledger"
    line = next(seg.read_text("utf-8").splitlines()[0]
                for seg in sorted(committed.rglob("*.jsonl")))
    data = json.loads(line)
    assert data["schema"] == 1
    rec = Record.from_line(line)
    assert rec.schema == 1
    assert rec.compute_hash() == data["hash"]
    assert record_schema().errors(data) == []
    assert all(not m.is_vector for m in rec.measurements)


def test_a_schema_1_record_holding_a_vector_is_refused() -> None:
    m = Measurement.vector_of("v", (1.0, 2.0), "1")
    data = make_record(measurements=(m,)).sealed(None).to_json()
    data["schema"] = 1
    with pytest.raises(RecordFormatError, match="vectors came with version 2"):
        Record.from_json(data)


def test_a_scalar_and_a_vector_shape_cannot_be_mixed_in_json() -> None:
    data = make_record().sealed(None).to_json()
    data["measurements"] = [{"name": "v", "unit": "1", "value": 1.0, "values": [1.0]}]
    assert record_schema().errors(data)


# ----------------------------------------------------------------- contracts and judging

VECTOR_CONTRACT = """\
area: scan
title: Scans
claims:
  - id: FROZEN
    title: Early layers did not move
    statement: The layers before the first adapted one changed by at most tol.
    measures:
      delta: {unit: "1", vector: true, doc: per-layer change}
      first_adapted: {unit: count}
    params:
      tol: 0.1
    predicate: all(abs(delta[0:first_adapted]) <= tol) and argmax(abs(delta)) >= first_adapted
    statistics: {decide_on_ci: true}
    subjects: [tuned]
    controls:
      - subject: everything-tuned
"""


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = tmp_path_factory.mktemp("vec") / "contracts"
    folder.mkdir()
    (folder / "scan.yaml").write_text(VECTOR_CONTRACT)
    return load_contracts(folder)


def _judge(contracts: object, delta: list[float], first: int,
           cis: list[tuple[float, float]] | None = None) -> tuple[Status, str]:
    claim = contracts["FROZEN"]  # type: ignore[index]
    ms = [Measurement.vector_of("delta", tuple(delta), "1", n=100,
                                cis=None if cis is None else tuple(cis), ci_level=0.95),
          Measurement("first_adapted", float(first), "count")]
    v = judge(claim, "tuned", ms)
    return v.status, "; ".join(v.reasons)


@given(n=st.integers(2, 12), data=st.data())
def test_judging_a_per_layer_claim(contracts: object, n: int, data: st.DataObject) -> None:
    """Freeze layers [0, k): PASS; move one of them by more than tol: FAIL, naming it."""
    k = data.draw(st.integers(1, n - 1))
    moved = data.draw(st.floats(0.2, 100.0))
    delta = [0.0] * k + [moved] * (n - k)
    assert _judge(contracts, delta, k)[0] is Status.PASS
    j = data.draw(st.integers(0, k - 1))
    broken = list(delta)
    broken[j] = data.draw(st.floats(0.11, 1e3))
    status, reasons = _judge(contracts, broken, k)
    assert status is Status.FAIL
    assert f"false at [{j}]" in reasons


def test_a_nonfinite_element_is_an_error_naming_it(contracts: object) -> None:
    status, reasons = _judge(contracts, [0.0, math.nan, 5.0], 1)
    assert status is Status.ERROR
    assert "[1] = nan" in reasons


def test_an_empty_frozen_range_decides_nothing(contracts: object) -> None:
    status, reasons = _judge(contracts, [3.0, 5.0], 0)
    assert status is Status.INCONCLUSIVE
    assert "over 0 elements decides nothing" in reasons


def test_an_element_interval_that_does_not_hold_its_value_is_an_error(contracts: object) -> None:
    status, reasons = _judge(contracts, [0.0, 5.0], 1, cis=[(1.0, 2.0), (4.0, 6.0)])
    assert status is Status.ERROR
    assert "delta[0]" in reasons
    assert "does not contain its value" in reasons


def test_recorded_shape_must_match_the_declaration(contracts: object) -> None:
    claim = contracts["FROZEN"]  # type: ignore[index]
    v = judge(claim, "tuned", [Measurement("delta", 0.0, "1"),
                               Measurement("first_adapted", 1.0, "count")])
    assert v.status is Status.ERROR
    assert "declares it vector: true" in v.reasons[0]


@pytest.mark.parametrize(("predicate", "fragment"), [
    ("abs(delta) <= tol", "delta is a vector of 3 values where a number is needed"),
    ("all(first_adapted > 0 count)", "all() needs a vector inside"),
    ("first_adapted[0] > 0 count", "first_adapted is a number, not a vector"),
])
def test_contracts_that_misuse_a_vector_are_refused_at_load(tmp_path: Path, predicate: str,
                                                            fragment: str) -> None:
    folder = tmp_path / "contracts"
    folder.mkdir()
    bad = VECTOR_CONTRACT.replace(
        "predicate: all(abs(delta[0:first_adapted]) <= tol) and argmax(abs(delta)) >= "
        "first_adapted", f"predicate: {predicate}")
    (folder / "scan.yaml").write_text(bad)
    with pytest.raises(ContractError) as info:
        load_contracts(folder)
    assert fragment in str(info.value)
    assert "scan.yaml" in str(info.value)
    assert "predicate" in str(info.value)


# ---------------------------------------------------------- live: pytest, status, render

LIVE_CONTRACT = """\
area: files
title: Per-file sizes
claims:
  - id: EARLY-FILES-SMALL
    title: The first k files are small and the largest is later
    statement: Every file before the k-th holds at most max_bytes; the largest comes after.
    milestones: [core]
    max_age: 30d
    measures:
      file_bytes: {unit: bytes, vector: true, doc: "bytes of each file, in order"}
      k: {unit: count}
    params:
      max_bytes: 100 bytes
    predicate: all(file_bytes[0:k] <= max_bytes) and argmax(file_bytes) >= k
    paper: {measurements: [file_bytes]}
    subjects: [tidy]
    controls:
      - subject: early-big
        expect: FAIL
        why: the first file is the big one
"""

LIVE_FALSIFIER = '''\
import pytest

pytestmark = pytest.mark.live
SIZES = {"tidy": [10, 20, 30, 4000, 50], "early-big": [5000, 20, 30, 40, 50]}


@pytest.mark.claim("EARLY-FILES-SMALL")
def test_files(evidence, subject, tmp_path):
    sizes = []
    for i, size in enumerate(SIZES[subject.id]):
        path = tmp_path / f"layer{i}.bin"
        path.write_bytes(b"x" * size)
        evidence.input(path)
        sizes.append(path.stat().st_size)
    evidence.measure_vector("file_bytes", sizes, unit="bytes", n=1,
                            labels=[f"file {i}" for i in range(len(sizes))])
    evidence.measure("k", 3, unit="count")
'''


def test_a_live_run_records_vectors_and_every_reader_shows_them(
        pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_toyspace(pytester.path, textwrap.dedent(LIVE_CONTRACT), LIVE_FALSIFIER)
    result = pytester.runpytest("falsifiers", "-m", "live", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    records = list(Ledger(root / "evidence" / "ledger").records())
    verdicts = {r.subject: r.verdict for r in records}
    assert verdicts == {"tidy": Status.PASS, "early-big": Status.FAIL}
    bad = next(r for r in records if r.subject == "early-big")
    assert "false at [0] (file 0)" in bad.reasons[0]
    m = bad.measurement("file_bytes")
    assert m is not None
    assert m.values == (5000.0, 20.0, 30.0, 40.0, 50.0)
    assert all(r.schema == 2 for r in records)

    assert main(["status", "--root", str(root)]) == 0
    status_out = capsys.readouterr().out
    assert "EARLY-FILES-SMALL" in status_out

    (root / "paper").mkdir()
    (root / "paper" / "main.tex").write_text("\\input{generated/evidence.tex}\n")
    assert main(["render", "--root", str(root)]) == 0
    readme = (root / "evidence" / "files" / "README.md").read_text()
    assert "file\\_bytes 5 values in bytes: min 10" in readme
    assert "max 4000" in readme
    macros = (root / "paper" / "generated" / "evidence.tex").read_text()
    assert "{EARLY-FILES-SMALL.file_bytes@tidy/argmax}{3}" in macros
    assert "{EARLY-FILES-SMALL.file_bytes@tidy/3}{4000\\,bytes}" in macros
    assert "{EARLY-FILES-SMALL.file_bytes@tidy/len}{5}" in macros
    assert main(["render", "--root", str(root), "--check"]) == 0
