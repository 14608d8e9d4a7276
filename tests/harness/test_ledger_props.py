"""Properties: the record line format round-trips, and latest() equals a brute-force answer."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.ledger import Ledger, LedgerWriter, verify
from harness.ledger.segment import line_hash_ok
from harness.records import GuardResult, Measurement, Record, Status
from tests.harness.ledger_factory import BASE_TIME, make_record, stamp

# --- round trip -------------------------------------------------------------------------------

text = st.text(max_size=30)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | finite | text
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(text, inner, max_size=4), max_leaves=12)

# ci_level only with a ci: Measurement.to_json writes the level beside the interval only.
intervals = st.none() | st.tuples(st.tuples(finite, finite), st.none() | st.floats(0.01, 0.99))
measurements = st.builds(
    lambda name, value, unit, n, ci: Measurement(name, value, unit, n, *(ci or (None, None))),
    name=text.filter(bool), value=st.floats(), n=st.none() | st.integers(0, 10**9), ci=intervals,
    unit=st.sampled_from(["nats", "bits", "count", "perplexity", "%"]))

records = st.builds(
    Record, id=text.filter(bool), kind=st.sampled_from(["claim", "hypothesis", "amendment"]),
    claim=text, claim_sha256=text, subject=text, role=st.sampled_from(["subject", "control"]),
    expect=st.none() | text, verdict=st.sampled_from(list(Status)),
    reasons=st.lists(text, max_size=3).map(tuple),
    measurements=st.lists(measurements, max_size=4).map(tuple),
    guards=st.lists(st.builds(GuardResult, id=text, holds=st.none() | st.booleans(),
                              reason=text), max_size=3).map(tuple),
    inputs=st.lists(st.dictionaries(text, json_value, max_size=3), max_size=2).map(tuple),
    provenance=st.dictionaries(text, json_value, max_size=3),
    timing=st.dictionaries(text, json_value, max_size=3), node_id=text, session=text,
    created=text, prev=st.none() | text, hash=text, hypothesis=st.none() | text,
    amends=st.none() | st.fixed_dictionaries({"record": text, "why": text}),
    notes=st.lists(text, max_size=3).map(tuple),
    attachments=st.dictionaries(text, json_value, max_size=3))


def _same_measurement(a: Measurement, b: Measurement) -> bool:
    same_value = (math.isnan(a.value) and math.isnan(b.value)) or a.value == b.value
    return same_value and (a.name, a.unit, a.n, a.ci, a.ci_level) == (
        b.name, b.unit, b.n, b.ci, b.ci_level)


@settings(max_examples=60, deadline=None)
@given(records)
@example(make_record(measurements=(Measurement("val_nll", math.nan, "nats"),
                                   Measurement("ppl", -math.inf, "perplexity", n=0))))
@example(make_record("ߒߞߏ-CLAIM", "modèle\u2028\n\"x\"", attachments={"ߒ": ["\x00", 1e308]}))
def test_record_line_round_trip(record: Record) -> None:
    """to_line/from_line is the identity, non-finite values and any unicode included; the
    line is one line (no raw newline inside) and its sealed hash recomputes."""
    line = record.to_line()
    assert line.endswith("\n")
    assert line.count("\n") == 1
    back = Record.from_line(line)
    assert back.to_line() == line
    assert all(_same_measurement(a, b)
               for a, b in zip(record.measurements, back.measurements, strict=True))
    if all(m.finite for m in record.measurements):
        assert back == record
    sealed = record.sealed("f" * 64)
    assert line_hash_ok(sealed.to_line().encode()) is not None


# --- latest() against brute force ---------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    segment: int
    claim: str
    subject: str
    kind: str
    minute: int
    amend: int | None  # index of an earlier op whose record this one amends


ops = st.lists(st.builds(
    Op, segment=st.integers(0, 3), claim=st.sampled_from(["A", "B"]),
    subject=st.sampled_from(["m", "n"]), kind=st.sampled_from(["claim", "claim", "hypothesis"]),
    minute=st.integers(0, 6), amend=st.none() | st.none() | st.integers(0, 30)),
    min_size=1, max_size=25)


@dataclass(frozen=True)
class Written:
    record: Record
    segment: str
    line: int


def _write(folder: Path, plan: list[Op], start: int,
           earlier: list[Written] | None = None) -> list[Written]:
    """Append each op's record through one writer per segment number; return what was
    written with where it landed. Amendments copy the claim and subject they amend."""
    writers: dict[int, LedgerWriter] = {}
    done: list[Written] = []
    pool = list(earlier or [])
    for op in plan:
        writer = writers.setdefault(op.segment, LedgerWriter(folder, f"seg{start}x{op.segment}"))
        target = pool[op.amend].record if op.amend is not None and op.amend < len(pool) else None
        rec = make_record(op.claim, op.subject, kind=op.kind,
                          hypothesis="H1" if op.kind == "hypothesis" else None,
                          verdict="CONFIRMED" if op.kind == "hypothesis" else "PASS",
                          created=BASE_TIME + timedelta(minutes=op.minute))
        if target is not None:
            rec = make_record(target.claim, target.subject, kind="amendment",
                              amends=target.id, created=rec.created)
        sealed = writer.append(rec)
        assert writer.path is not None
        done.append(Written(sealed, writer.path.name, writer.count))
        pool.append(done[-1])
    for writer in writers.values():
        writer.close()
    return done


def brute_latest(written: list[Written], kind: str) -> dict[tuple[str, str], str]:
    """latest() from its definition, over every record at once."""
    by_id = {w.record.id: w for w in written}
    superseded = {w.record.amends["record"] for w in written if w.record.amends}

    def pos(w: Written) -> tuple[Any, ...]:
        return (w.record.created, w.segment, w.line)

    def root(w: Written) -> Written | None:
        while w.record.amends is not None:
            if w.record.amends["record"] not in by_id:
                return None
            w = by_id[w.record.amends["record"]]
        return w

    best: dict[tuple[str, str], tuple[tuple[Any, ...], str]] = {}
    for w in written:
        if w.record.id in superseded:
            continue
        origin = root(w)
        if w.record.amends is None:
            counts, order = w.record.kind == kind, pos(w)
        elif origin is None:
            counts, order = w.record.kind == kind, pos(w) + pos(w)
        else:
            effective = origin.record.kind if w.record.kind == "amendment" else w.record.kind
            counts, order = effective == kind, pos(origin) + pos(w)
        key = (w.record.claim, w.record.subject)
        if counts and (key not in best or order > best[key][0]):
            best[key] = (order, w.record.id)
    return {k: rid for k, (_, rid) in best.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=ops, second=ops)
def test_latest_equals_brute_force(first: list[Op], second: list[Op]) -> None:
    """On random histories with amendments, latest() (cold, warm and after growth) equals the
    brute-force answer, and verify finds nothing wrong."""
    with tempfile.TemporaryDirectory() as tmp:
        folder, index = Path(tmp) / "ledger", Path(tmp) / "index"
        written = _write(folder, first, 0)
        for kind in ("claim", "hypothesis"):
            want = brute_latest(written, kind)
            for _ in range(2):  # cold, then warm from the saved index and result
                got = Ledger(folder, index).latest(kind)
                assert {k: v.id for k, v in got.items()} == want
        written += _write(folder, second, 1, written)
        for kind in ("claim", "hypothesis"):
            got = Ledger(folder, index).latest(kind)
            assert {k: v.id for k, v in got.items()} == brute_latest(written, kind)
        assert [w.record.id for w in sorted(written, key=lambda w: (
            w.record.created, w.segment, w.line))] == [r.id for r in Ledger(folder).records()]
        assert verify(folder) == []


def test_stamp_is_the_created_format() -> None:
    """The factory's stamps match the schema's created pattern."""
    assert stamp(BASE_TIME) == "2026-11-01T12:00:00.000000Z"
