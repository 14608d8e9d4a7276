"""Reading the ledger: order, latest with amendments, history, the summary index, staleness."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.ledger import (
    Ledger,
    LedgerError,
    LedgerTampered,
    LedgerWriter,
    Summary,
    is_stale,
    staleness,
)
from harness.provenance import InputHasher
from harness.records import Record, Status
from tests.harness.ledger_factory import BASE_TIME, claim_sha, make_record


def at(minutes: float) -> datetime:
    return BASE_TIME + timedelta(minutes=minutes)


def write(folder: Path, *records: Record, session: str = "s") -> list[Record]:
    with LedgerWriter(folder, session) as writer:
        return [writer.append(r) for r in records]


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "ledger-index"


def ids(found: dict[tuple[str, str], Summary]) -> dict[tuple[str, str], str]:
    return {k: v.id for k, v in found.items()}


def test_records_are_ordered_by_created_across_segments(tmp_path: Path) -> None:
    """Two sessions whose records interleave in time read back in time order."""
    a = write(tmp_path, make_record(created=at(0)), make_record(created=at(2)), session="a")
    b = write(tmp_path, make_record(created=at(1)), make_record(created=at(3)), session="b")
    got = [r.id for r in Ledger(tmp_path).records()]
    assert got == [a[0].id, b[0].id, a[1].id, b[1].id]


def test_latest_per_claim_and_subject(tmp_path: Path, index_dir: Path) -> None:
    """The newest claim record per (claim, subject); hypothesis records stay out."""
    old, new, other = write(tmp_path, make_record("C1", "m", created=at(0), verdict="FAIL"),
                            make_record("C1", "m", created=at(5)),
                            make_record("C1", "n", created=at(1)))
    hyp = write(tmp_path, make_record("C1", "m", kind="hypothesis", hypothesis="H1",
                                      verdict="CONFIRMED", created=at(9)), session="h")[0]
    ledger = Ledger(tmp_path, index_dir)
    assert ids(ledger.latest()) == {("C1", "m"): new.id, ("C1", "n"): other.id}
    assert ledger.latest()[("C1", "m")].verdict is Status.PASS
    assert {k: v.id for k, v in ledger.latest_hypotheses().items()} == {("C1", "m", "H1"): hyp.id}
    assert ids(ledger.latest("hypothesis")) == {("C1", "m"): hyp.id}
    assert old.id not in {s.id for s in ledger.latest().values()}
    with pytest.raises(ValueError, match="kind"):
        ledger.latest("amendment")


def test_an_amendment_supersedes_the_record_it_names(tmp_path: Path, index_dir: Path) -> None:
    """Amending the latest record replaces it; a later amendment of it wins over an earlier."""
    first, last = write(tmp_path, make_record("C", "m", created=at(0)),
                        make_record("C", "m", created=at(1), verdict="FAIL"))
    fix1 = write(tmp_path, make_record("C", "m", kind="amendment", amends=last.id,
                                       verdict="ERROR", created=at(2)), session="x")[0]
    assert ids(Ledger(tmp_path, index_dir).latest()) == {("C", "m"): fix1.id}
    fix2 = write(tmp_path, make_record("C", "m", kind="amendment", amends=last.id,
                                       verdict="INCONCLUSIVE", created=at(3)), session="y")[0]
    assert ids(Ledger(tmp_path, index_dir).latest()) == {("C", "m"): fix2.id}
    assert first.id != fix2.id


def test_amending_old_evidence_does_not_beat_newer_evidence(tmp_path: Path) -> None:
    """A correction of an old record stands where that record stood, not at its own time."""
    old, new = write(tmp_path, make_record("C", "m", created=at(0), verdict="FAIL"),
                     make_record("C", "m", created=at(1)))
    write(tmp_path, make_record("C", "m", kind="amendment", amends=old.id, created=at(2)),
          session="fix")
    assert ids(Ledger(tmp_path).latest()) == {("C", "m"): new.id}


def test_amendment_chain_and_missing_target(tmp_path: Path) -> None:
    """An amendment of an amendment follows the chain; one naming no record makes readers
    refuse (a segment was lost or not merged), naming its file:line, as verify does."""
    base = write(tmp_path, make_record("C", "m", created=at(0)))[0]
    a1 = write(tmp_path, make_record("C", "m", kind="amendment", amends=base.id,
                                     created=at(1)), session="a")[0]
    a2 = write(tmp_path, make_record("C", "m", kind="amendment", amends=a1.id,
                                     created=at(2)), session="b")[0]
    assert ids(Ledger(tmp_path).latest()) == {("C", "m"): a2.id}
    write(tmp_path, make_record("D", "m", kind="amendment", amends="no-such-record",
                                created=at(3)), session="c")
    with pytest.raises(LedgerTampered, match=r"-c-main\.jsonl:1: amends record no-such-record"):
        Ledger(tmp_path).latest()


def test_history_and_get(tmp_path: Path, index_dir: Path) -> None:
    """history() is every record of a claim in order; get() finds one by id."""
    recs = write(tmp_path, make_record("C", "m", created=at(2)),
                 make_record("C", "n", created=at(1)), make_record("D", "m", created=at(0)))
    ledger = Ledger(tmp_path, index_dir)
    assert ledger.history("C") == [recs[1], recs[0]]
    assert ledger.history("C", "m") == [recs[0]]
    assert ledger.history("Z") == []
    assert ledger.get(recs[2].id) == recs[2]
    with pytest.raises(LedgerError, match="no record 'nope'"):
        ledger.get("nope")
    latest = ledger.latest()[("C", "m")]
    assert ledger.load(latest) == recs[0]
    assert latest.where == f"{ledger.segments()[0]}:1"


def test_summaries_match_records(tmp_path: Path, index_dir: Path) -> None:
    """Each summary carries the record's fields, inputs included, and its place on disk."""
    inputs = ({"path": "data/eng.dev", "kind": "file", "sha256": "a" * 64, "bytes": 3},)
    rec = write(tmp_path, make_record("C", "m", role="control", expect="FAIL", verdict="FAIL",
                                      inputs=inputs))[0]
    (summary,) = Ledger(tmp_path, index_dir).summaries()
    assert (summary.id, summary.claim, summary.subject, summary.role, summary.expect) == (
        rec.id, "C", "m", "control", "FAIL")
    assert summary.inputs == ({"path": "data/eng.dev", "kind": "file", "sha256": "a" * 64},)
    assert (summary.line, summary.offset) == (1, 0)


def test_index_is_reused_extended_and_rebuilt(tmp_path: Path, index_dir: Path) -> None:
    """A warm index answers; a growing segment is parsed from its tail; an edited one is
    refused, never answered from the index; a corrupt index file is ignored."""
    ledger_dir = tmp_path / "ledger"
    writer = LedgerWriter(ledger_dir, "live")
    first = writer.append(make_record("C", "m", created=at(0)))
    assert ids(Ledger(ledger_dir, index_dir).latest()) == {("C", "m"): first.id}
    second = writer.append(make_record("C", "m", created=at(1)))
    assert ids(Ledger(ledger_dir, index_dir).latest()) == {("C", "m"): second.id}
    writer.close()
    assert writer.path is not None
    text = writer.path.read_bytes()
    writer.path.write_bytes(text.replace(b'"subject":"m"', b'"subject":"q"'))
    with pytest.raises(LedgerTampered, match=rf"{writer.path}:1: record .* was altered"):
        Ledger(ledger_dir, index_dir).latest()
    writer.path.write_bytes(text)
    for f in index_dir.iterdir():
        f.write_text("{broken")
    assert ids(Ledger(ledger_dir, index_dir).latest()) == {("C", "m"): second.id}


def test_mtime_only_change_reuses_the_index(tmp_path: Path, index_dir: Path) -> None:
    """A fresh checkout changes mtimes, not content: the index is kept by its prefix hash."""
    rec = write(tmp_path / "l", make_record("C", "m"))[0]
    Ledger(tmp_path / "l", index_dir).latest()
    (seg,) = Ledger(tmp_path / "l").segments()
    os.utime(seg, ns=(10**18, 10**18))
    assert ids(Ledger(tmp_path / "l", index_dir).latest()) == {("C", "m"): rec.id}


def test_new_segments_merge_into_the_saved_latest(tmp_path: Path, index_dir: Path) -> None:
    """After a new session, latest() reads the new segment and gives the full answer."""
    old = write(tmp_path, make_record("C", "m", created=at(0)),
                make_record("D", "m", created=at(0)), session="a")
    Ledger(tmp_path, index_dir).latest()
    new = write(tmp_path, make_record("C", "m", created=at(1)), session="b")[0]
    assert ids(Ledger(tmp_path, index_dir).latest()) == {("C", "m"): new.id,
                                                         ("D", "m"): old[1].id}
    fix = write(tmp_path, make_record("D", "m", kind="amendment", amends=old[1].id,
                                      created=at(2)), session="c")[0]
    assert ids(Ledger(tmp_path, index_dir).latest()) == {("C", "m"): new.id, ("D", "m"): fix.id}


def test_reading_a_newer_schema_fails_with_file_and_line(tmp_path: Path, index_dir: Path) -> None:
    """A record of a newer schema is refused by every reader, naming file:line."""
    from dataclasses import replace

    from harness.records import RECORD_SCHEMA_VERSION

    newer = RECORD_SCHEMA_VERSION + 1
    write(tmp_path, make_record(), replace(make_record(), schema=newer))
    (seg,) = Ledger(tmp_path).segments()
    pattern = rf"{seg}:2: unable to read record schema version {newer}"
    with pytest.raises(LedgerError, match=pattern):
        Ledger(tmp_path, index_dir).latest()
    with pytest.raises(LedgerError, match=pattern):
        Ledger(tmp_path).records()


def test_corrupt_line_fails_reading_with_file_and_line(tmp_path: Path) -> None:
    """A corrupt line is never skipped: reading names it and points at falsify verify."""
    write(tmp_path, make_record(), make_record(), make_record())
    (seg,) = Ledger(tmp_path).segments()
    lines = seg.read_bytes().split(b"\n")
    lines[1] = lines[1][:40]
    seg.write_bytes(b"\n".join(lines))
    for read in (lambda: Ledger(tmp_path).latest(), lambda: Ledger(tmp_path).records()):
        with pytest.raises(LedgerTampered, match=rf"{seg}:2: not valid JSON"):
            read()


def test_empty_or_missing_ledger(tmp_path: Path) -> None:
    """No ledger yet: nothing recorded, no error."""
    ledger = Ledger(tmp_path / "none", tmp_path / "idx")
    assert ledger.latest() == {}
    assert ledger.records() == []
    assert len(ledger) == 0


# --- staleness --------------------------------------------------------------------------------

NOW = BASE_TIME + timedelta(days=41)


def test_fresh_record_has_no_reasons(tmp_path: Path) -> None:
    """Same contract, same inputs, young enough: fresh."""
    data = tmp_path / "eng.dev"
    data.write_text("hello")
    hasher = InputHasher(None, root=tmp_path)
    rec = make_record("C", created=NOW - timedelta(days=1), inputs=(hasher.hash("eng.dev"),))
    assert staleness(rec, claim_sha("C"), 30 * 86400, NOW, hasher) == []


def test_stale_reasons_in_words(tmp_path: Path) -> None:
    """Contract changed, input changed and too old: three reasons, each in words."""
    data = tmp_path / "data" / "eng.dev"
    data.parent.mkdir()
    data.write_text("hello")
    hasher = InputHasher(None, root=tmp_path)
    rec = make_record("C", created=BASE_TIME, inputs=(hasher.hash("data/eng.dev"),))
    data.write_text("changed")
    reasons = staleness(rec, claim_sha("C", 1), 30 * 86400, NOW, hasher)
    old, new = claim_sha("C")[:12], claim_sha("C", 1)[:12]
    now_sha = hashlib.sha256(b"changed").hexdigest()[:12]
    assert reasons == [
        f"contract changed since the record: sha256 {old}… → {new}…",
        f"input data/eng.dev changed: sha256 {hashlib.sha256(b'hello').hexdigest()[:12]}… → "
        f"{now_sha}…",
        "older than max age 30 d: 41 d",
    ]
    assert is_stale(reasons)


def test_missing_input_is_unverifiable_not_stale(tmp_path: Path, index_dir: Path) -> None:
    """An input that is not here to hash is reported, but does not make the record stale."""
    inputs = ({"path": "models/big", "kind": "dir", "sha256": "b" * 64, "bytes": 1},)
    rec = write(tmp_path / "l", make_record("C", created=NOW, inputs=inputs))[0]
    summary = Ledger(tmp_path / "l", index_dir).latest()[("C", "demo-torch")]
    for evidence in (rec, summary):
        reasons = staleness(evidence, None, None, NOW, InputHasher(None, root=tmp_path))
        assert reasons == [f"unverifiable: input models/big is not here to hash (recorded "
                           f"sha256 {'b' * 12}…); rebuild or fetch it: falsify verify --inputs "
                           f"--rebuild"]
        assert not is_stale(reasons)


def test_staleness_needs_an_aware_now() -> None:
    """A naive datetime is refused rather than guessed."""
    with pytest.raises(ValueError, match="aware"):
        staleness(make_record(), None, 1.0, datetime(2026, 1, 1), None)


def test_age_under_a_day_reads_in_hours() -> None:
    """Short max ages read in hours or minutes."""
    rec = make_record(created=NOW - timedelta(hours=5))
    assert staleness(rec, None, 3600, NOW, None) == ["older than max age 1 h: 5 h"]
    assert staleness(rec, None, 6 * 3600, NOW.astimezone(UTC), None) == []
