"""The ledger writer: own segments, one write per record, chains, kills, concurrency, merge."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.ledger import (
    Ledger,
    LedgerError,
    LedgerWriter,
    is_live,
    merge,
    repair_torn_tail,
    segment_paths,
    verify,
)
from harness.records import RECORD_SCHEMA_VERSION, Measurement, Record
from tests.harness import ledger_factory
from tests.harness.ledger_factory import append_many, make_record

SEGMENT_NAME = re.compile(r"^\d{8}T\d{12}Z-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.jsonl$")


def test_no_append_leaves_no_segment(tmp_path: Path) -> None:
    """A session that records nothing leaves no file (not even the ledger folder)."""
    with LedgerWriter(tmp_path / "ledger", "session1") as writer:
        assert writer.path is None
    assert not (tmp_path / "ledger").exists()


def test_segment_name_and_chain(tmp_path: Path) -> None:
    """Records are sealed onto a chain and written one canonical line each."""
    with LedgerWriter(tmp_path, "0123456789abcdef", "gw3") as writer:
        sealed = [writer.append(make_record(f"C-{i}")) for i in range(3)]
        path = writer.path
    assert path is not None
    assert SEGMENT_NAME.match(path.name)
    assert path.name.endswith("-01234567-gw3.jsonl")
    assert [r.prev for r in sealed] == [None, sealed[0].hash, sealed[1].hash]
    assert all(r.hash == r.compute_hash() for r in sealed)
    assert path.read_text(encoding="utf-8") == "".join(r.to_line() for r in sealed)


def test_unsafe_session_and_worker_names_are_sanitised(tmp_path: Path) -> None:
    """Slashes or spaces in ids never escape the ledger folder."""
    with LedgerWriter(tmp_path, "../../x y", "w/1") as writer:
        writer.append(make_record())
        assert writer.path is not None
        assert writer.path.parent == tmp_path
        assert SEGMENT_NAME.match(writer.path.name)


def test_writer_holds_the_lock_until_close(tmp_path: Path) -> None:
    """The segment is locked while its writer is open, and released by close()."""
    writer = LedgerWriter(tmp_path, "s1")
    writer.append(make_record())
    assert writer.path is not None
    assert is_live(writer.path)
    writer.close()
    assert not is_live(writer.path)
    writer.close()  # idempotent


def test_writers_never_share_a_segment(tmp_path: Path) -> None:
    """Two writers with the same session and worker, in the same microsecond, get two files."""
    a, b = LedgerWriter(tmp_path, "same", "main"), LedgerWriter(tmp_path, "same", "main")
    for _ in range(5):
        a.append(make_record())
        b.append(make_record())
    a.close()
    b.close()
    assert a.path != b.path
    assert len(segment_paths(tmp_path)) == 2
    assert verify(tmp_path) == []


def test_closed_writer_refuses_to_append(tmp_path: Path) -> None:
    """Appending after close() is an error that says what to do."""
    writer = LedgerWriter(tmp_path, "s1")
    writer.close()
    with pytest.raises(LedgerError, match="open a new one"):
        writer.append(make_record())


def test_record_that_cannot_be_serialised_writes_nothing(tmp_path: Path) -> None:
    """A raw NaN outside a Measurement is refused before any byte is written."""
    writer = LedgerWriter(tmp_path, "s1")
    with pytest.raises(LedgerError, match="cannot be written"):
        writer.append(make_record(attachments={"curve": [1.0, math.nan]}))
    assert writer.path is None
    ok = writer.append(make_record(measurements=(Measurement("val_nll", math.nan, "nats"),)))
    writer.close()
    assert ok.prev is None
    assert verify(tmp_path) == []


def test_fsync_per_record_mode(tmp_path: Path) -> None:
    """fsync='record' writes the same bytes; a bad mode or empty session is refused."""
    with LedgerWriter(tmp_path, "s1", fsync="record") as writer:
        writer.append(make_record())
    assert verify(tmp_path) == []
    with pytest.raises(ValueError, match="fsync"):
        LedgerWriter(tmp_path, "s1", fsync="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="session"):
        LedgerWriter(tmp_path, "")


# --- killed mid-append ------------------------------------------------------------------------

def _kill_mid_write(ledger: Path, size: int, deadline: float) -> Path:
    """Start a child appending `size`-byte records; SIGKILL it when a write is seen in flight."""
    child = subprocess.Popen(
        # -P: the script's folder (tests/harness) must not shadow stdlib modules in the child
        [sys.executable, "-P", ledger_factory.__file__, "append-forever", str(ledger), str(size)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        path, boundaries = _watch(ledger, deadline)
        while time.monotonic() < deadline:
            now = path.stat().st_size
            if now not in boundaries and (now - boundaries[0]) % boundaries[1] != 0:
                break  # the kernel is copying a record into the file right now
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    return path


def _watch(ledger: Path, deadline: float) -> tuple[Path, tuple[int, int]]:
    """The child's segment and its first two record boundaries, once two records are in."""
    while time.monotonic() < deadline:
        found = segment_paths(ledger)
        if found:
            lines = found[0].read_bytes().split(b"\n")
            if len(lines) >= 3:
                first = len(lines[0]) + 1
                return found[0], (first, len(lines[1]) + 1)
        time.sleep(0.001)
    pytest.fail("the child never wrote two records")


def test_sigkill_mid_append_leaves_one_torn_line(tmp_path: Path) -> None:
    """SIGKILL in the middle of an append: verify names the torn last line, every earlier
    record is intact, and the next session appends normally."""
    deadline = time.monotonic() + 90
    for attempt in range(25):
        ledger = tmp_path / f"try{attempt}"
        path = _kill_mid_write(ledger, 8 << 20, deadline)
        if not path.read_bytes().endswith(b"\n"):
            break
    else:
        pytest.fail("25 kills never landed mid-write")
    complete = path.read_bytes().count(b"\n")
    problems = verify(ledger)
    assert [(p.path, p.line) for p in problems] == [(path, complete + 1)]
    assert "torn last line" in problems[0].message
    assert "earlier records are intact" in problems[0].fix
    assert str(problems[0]).startswith(f"{path}:{complete + 1}: torn last line")
    for raw in path.read_bytes().split(b"\n")[:complete]:
        record = Record.from_line(raw.decode())
        assert record.hash == record.compute_hash()
    with pytest.raises(LedgerError, match=rf"{re.escape(str(path))}:{complete + 1}: torn last"):
        Ledger(ledger).latest()
    with LedgerWriter(ledger, "nextsession") as writer:
        fresh = writer.append(make_record())
    assert [p.line for p in verify(ledger)] == [complete + 1]
    repair = repair_torn_tail(path)
    assert repair.action == "moved"
    assert repair.moved_to is not None
    assert verify(ledger) == []
    assert Ledger(ledger).get(fresh.id) == fresh
    assert len(Ledger(ledger).records()) == complete + 1


# --- concurrency ------------------------------------------------------------------------------

def test_eight_processes_append_at_once(tmp_path: Path) -> None:
    """8 spawned processes x 1,000 records: 8,000 valid records, chains intact, ids unique."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        ids = pool.starmap(append_many, [(str(tmp_path), "shared-session", "main", 1000)] * 8)
    assert len(segment_paths(tmp_path)) == 8
    assert verify(tmp_path) == []
    ledger = Ledger(tmp_path)
    records = ledger.records()
    assert len(records) == 8000
    assert len({r.id for r in records}) == 8000 == len({i for batch in ids for i in batch})
    for path in segment_paths(tmp_path):
        assert path.read_bytes().count(b"\n") == 1000


# --- merge and repair -------------------------------------------------------------------------

def _segment(folder: Path, session: str, n: int = 2) -> Path:
    with LedgerWriter(folder, session) as writer:
        for _ in range(n):
            writer.append(make_record())
    assert writer.path is not None
    return writer.path


def test_merge_copies_new_segments_and_keeps_identical_ones(tmp_path: Path) -> None:
    """Merging is a union of segments; merging twice changes nothing."""
    a, b = tmp_path / "a", tmp_path / "b"
    shared = _segment(a, "shared")
    (b / shared.name).parent.mkdir(parents=True)
    (b / shared.name).write_bytes(shared.read_bytes())
    only_a = _segment(a, "only-a")
    _segment(b, "only-b")
    report = merge(a, b)
    assert report.copied == (only_a.name,)
    assert report.unchanged == (shared.name,)
    assert len(segment_paths(b)) == 3
    assert verify(b) == []
    again = merge(a, b)
    assert again.copied == ()
    assert len(again.unchanged) == 2


def test_merge_takes_the_longer_copy_of_a_grown_segment(tmp_path: Path) -> None:
    """A destination copy that is a prefix of the source's is extended, never truncated."""
    a, b = tmp_path / "a", tmp_path / "b"
    seg = _segment(a, "s", n=3)
    b.mkdir()
    full = seg.read_bytes()
    lines = full.splitlines(keepends=True)
    (b / seg.name).write_bytes(b"".join(lines[:2]))
    assert merge(a, b).extended == (seg.name,)
    assert (b / seg.name).read_bytes() == full
    seg.write_bytes(b"".join(lines[:1]))
    assert merge(a, b).unchanged == (seg.name,)
    assert (b / seg.name).read_bytes() == full


def test_merge_refuses_diverged_copies_before_copying_anything(tmp_path: Path) -> None:
    """Same name, different content: an error naming the segment, and nothing copied."""
    a, b = tmp_path / "a", tmp_path / "b"
    seg = _segment(a, "s")
    _segment(a, "zz-later")
    b.mkdir()
    (b / seg.name).write_bytes(seg.read_bytes().replace(b"PASS", b"FAIL", 1))
    with pytest.raises(LedgerError, match=re.escape(seg.name)):
        merge(a, b)
    assert len(segment_paths(b)) == 1


def test_merge_refuses_a_live_segment(tmp_path: Path) -> None:
    """A segment still being written is not copied half-done."""
    writer = LedgerWriter(tmp_path / "a", "live")
    writer.append(make_record())
    with pytest.raises(LedgerError, match="still appending"):
        merge(tmp_path / "a", tmp_path / "b")
    writer.close()


def test_repair_appends_a_missing_newline(tmp_path: Path) -> None:
    """A complete last record that lacks only its newline gets it back; nothing moves."""
    seg = _segment(tmp_path, "s")
    seg.write_bytes(seg.read_bytes()[:-1])
    assert [p.message for p in verify(tmp_path)] == ["the last record lacks its final newline"]
    with pytest.raises(LedgerError, match=rf"{re.escape(str(seg))}:2: the last record lacks"):
        Ledger(tmp_path).records()  # a cut at the end is never read as if nothing were cut
    assert repair_torn_tail(seg).action == "newline"
    assert verify(tmp_path) == []
    assert len(Ledger(tmp_path).records()) == 2
    assert repair_torn_tail(seg).action == "none"


def test_repair_refuses_a_live_segment(tmp_path: Path) -> None:
    """Repair never races a running writer."""
    writer = LedgerWriter(tmp_path, "live")
    writer.append(make_record())
    assert writer.path is not None
    with pytest.raises(LedgerError, match="still appending"):
        repair_torn_tail(writer.path)
    writer.close()


def test_torn_tail_of_a_live_writer_is_a_write_in_progress(tmp_path: Path) -> None:
    """Readers leave out the unfinished last line of a locked segment instead of failing."""
    writer = LedgerWriter(tmp_path, "live")
    first = writer.append(make_record())
    assert writer.path is not None
    half = make_record().sealed(first.hash).to_line().encode()[:100]
    fd = os.open(writer.path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, half)
    os.close(fd)
    assert [r.id for r in Ledger(tmp_path).records()] == [first.id]
    assert "live session" in verify(tmp_path)[0].message
    writer.close()
    with pytest.raises(LedgerError, match=":2: torn last line"):
        Ledger(tmp_path).records()


def test_segments_are_plain_jsonl(tmp_path: Path) -> None:
    """Every line of a segment is a JSON object with the schema version first in meaning."""
    seg = _segment(tmp_path, "s")
    for line in seg.read_text(encoding="utf-8").splitlines():
        assert json.loads(line)["schema"] == RECORD_SCHEMA_VERSION
