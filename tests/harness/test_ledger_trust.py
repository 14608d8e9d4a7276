"""Readers answer only from verified bytes, and no cache ever answers for bytes it was not built
from: the ledger is mutated between reads (flipped bytes, deleted, swapped and duplicated lines,
verdicts edited with and without a recomputed hash, truncation, appends, copied and removed
segments, mtimes restored with ``os.utime``) and every warm answer must equal a cold read of the
bytes, or both refuse naming the same file:line problems as ``falsify verify``."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.ledger import Chain, Ledger, LedgerTampered, LedgerWriter, Problem, trust, verify
from harness.ledger.segment import body_hash, segment_paths
from harness.ledger.verify import LIVE_TAIL
from harness.records import canonical_json
from harness.render.history import history_entries
from tests.harness.ledger_factory import BASE_TIME, make_record


def _write(folder: Path, session: str, minutes: int, specs: list[dict[str, Any]]) -> list[str]:
    ids = []
    with LedgerWriter(folder, session) as writer:
        for i, spec in enumerate(specs):
            created = BASE_TIME + timedelta(minutes=minutes + i)
            ids.append(writer.append(make_record(created=created, **spec)).id)
    return ids


def build(folder: Path) -> None:
    """Three segments: subjects, a negative control at FAIL, a hypothesis, an amendment."""
    first = _write(folder, "aaaa", 0, [
        {"claim": "C1", "subject": "m"}, {"claim": "C1", "subject": "ctl", "role": "control",
                                          "expect": "FAIL", "verdict": "FAIL"},
        {"claim": "C2", "subject": "m", "verdict": "FAIL"}, {"claim": "C1", "subject": "n"}])
    _write(folder, "bbbb", 10, [
        {"claim": "C2", "subject": "m"}, {"claim": "C1", "subject": "m", "kind": "hypothesis",
                                          "hypothesis": "H1", "verdict": "CONFIRMED"},
        {"claim": "C1", "subject": "ctl", "role": "control", "expect": "FAIL",
         "verdict": "FAIL"}])
    _write(folder, "cccc", 20, [
        {"claim": "C1", "subject": "n", "kind": "amendment", "amends": first[3],
         "verdict": "ERROR"}, {"claim": "C2", "subject": "n"}])


Answer = tuple[Any, ...]


def answer(folder: Path, index_dir: Path | None, history_cache: Path | None) -> Answer:
    """Everything a reader can ask, or the refusal's problems by (segment, line)."""
    ledger = Ledger(folder, index_dir)
    try:
        latest = ledger.latest()
        return ("answered",
                {k: (s.id, s.verdict.value, s.segment.name, s.line) for k, s in latest.items()},
                {k: (s.id, s.verdict.value) for k, s in ledger.latest_hypotheses().items()},
                {k: ledger.load(s).verdict.value for k, s in latest.items()},
                [(r.id, r.verdict.value) for r in ledger.records()],
                [(r.id, r.verdict.value) for r in ledger.history("C1")],
                [(e.id, e.verdict) for e in history_entries(folder, history_cache,
                                                             ledger.verified_keys())])
    except LedgerTampered as exc:
        refusal = exc
    assert refusal.problems, "a refusal names its problems"
    assert all(f"{p.path}" in str(refusal) for p in refusal.problems[:20])
    return ("refused", sorted({(p.path.name, p.line) for p in refusal.problems}))


def verify_finds(folder: Path) -> set[tuple[str, int | None]]:
    """What `falsify verify` finds, as (segment, line)."""
    return {(p.path.name, p.line) for p in verify(folder) if p.message != LIVE_TAIL}


# --- mutations --------------------------------------------------------------------------------

def _lines(seg: Path) -> list[bytes]:
    return seg.read_bytes().split(b"\n")


def _put(seg: Path, parts: list[bytes]) -> None:
    seg.write_bytes(b"\n".join(parts))


def _reseal(raw: bytes, prev: str | None, **changes: Any) -> bytes:
    data = json.loads(raw)
    data.update(changes)
    if prev is not None or "prev" in changes:
        data["prev"] = prev
    data["hash"] = body_hash(data)
    return canonical_json(data).encode()


def flip(seg: Path, a: int, b: int) -> None:
    data = bytearray(seg.read_bytes())
    if data:
        data[a % len(data)] ^= 1 << (b % 8)
        seg.write_bytes(bytes(data))


def delete_line(seg: Path, a: int, b: int) -> None:
    parts = _lines(seg)
    if len(parts) > 1:
        del parts[a % (len(parts) - 1)]
        _put(seg, parts)


def swap_lines(seg: Path, a: int, b: int) -> None:
    parts = _lines(seg)
    n = len(parts) - 1
    if n > 1:
        i, j = a % n, b % n
        parts[i], parts[j] = parts[j], parts[i]
        _put(seg, parts)


def duplicate_line(seg: Path, a: int, b: int) -> None:
    parts = _lines(seg)
    if len(parts) > 1:
        i = a % (len(parts) - 1)
        parts.insert(i, parts[i])
        _put(seg, parts)


def edit_verdict(seg: Path, a: int, b: int) -> None:
    """FAIL -> PASS (or PASS -> FAIL) in place, hash left as it was: same size."""
    parts = _lines(seg)
    if len(parts) > 1:
        i = a % (len(parts) - 1)
        old = parts[i]
        parts[i] = (old.replace(b'"verdict":"FAIL"', b'"verdict":"PASS"') if b"FAIL" in old
                    else old.replace(b'"verdict":"PASS"', b'"verdict":"FAIL"'))
        _put(seg, parts)


def forge_verdict(seg: Path, a: int, b: int) -> None:
    """A verdict edited and the record's hash recomputed; with b odd, the chain after it is
    rebuilt too (a forgery `verify` cannot see without signatures: answers must still equal a
    cold read)."""
    parts = _lines(seg)
    n = len(parts) - 1
    if n < 1:
        return
    i = a % n
    try:
        data = json.loads(parts[i])
        verdict = "PASS" if data["verdict"] != "PASS" else "FAIL"
        parts[i] = _reseal(parts[i], data["prev"], verdict=verdict)
        prev = json.loads(parts[i])["hash"]
        for j in range(i + 1, n if b % 2 else i + 1):
            parts[j] = _reseal(parts[j], prev)
            prev = json.loads(parts[j])["hash"]
    except (ValueError, KeyError, TypeError):
        return
    _put(seg, parts)


def truncate(seg: Path, a: int, b: int) -> None:
    size = seg.stat().st_size
    if size:
        os.truncate(seg, a % size)


def append_valid(seg: Path, a: int, b: int) -> None:
    """A well-formed record appended to the chain, as a writer would."""
    parts = _lines(seg)
    try:
        prev = json.loads(parts[-2])["hash"] if len(parts) > 1 else None
    except (ValueError, KeyError, TypeError):
        prev = None
    rec = make_record("C1", "m", verdict="FAIL" if b % 2 else "PASS",
                      created=BASE_TIME + timedelta(hours=1, minutes=a % 50)).sealed(prev)
    with seg.open("ab") as fh:
        fh.write(rec.to_line().encode())


def append_garbage(seg: Path, a: int, b: int) -> None:
    with seg.open("ab") as fh:
        fh.write(b'{"verdict":"PASS"}\n' if b % 2 else b'{"verdict":"PA')


def copy_segment(seg: Path, a: int, b: int) -> None:
    copy = seg.with_name(f"29991231T000000000000Z-copy{a % 7}-main.jsonl")
    if copy != seg:  # a copy chosen to copy onto itself changes nothing
        shutil.copy2(seg, copy)


def remove_segment(seg: Path, a: int, b: int) -> None:
    seg.unlink()


def touch(seg: Path, a: int, b: int) -> None:
    os.utime(seg, ns=(10**18 + a, 10**18 + b))


MUTATIONS: dict[str, Callable[[Path, int, int], None]] = {f.__name__: f for f in (
    flip, delete_line, swap_lines, duplicate_line, edit_verdict, forge_verdict, truncate,
    append_valid, append_garbage, copy_segment, remove_segment, touch)}

steps = st.lists(st.tuples(st.sampled_from(sorted(MUTATIONS)), st.integers(0, 2),
                           st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=4)


def mutate(folder: Path, name: str, which: int, a: int, b: int) -> None:
    """Apply one mutation to segment ``which``, then put its mtime back (as an attacker would)."""
    segs = segment_paths(folder)
    if not segs:
        return
    seg = segs[which % len(segs)]
    st_before = seg.stat()
    MUTATIONS[name](seg, a, b)
    if seg.exists() and name != "touch":
        os.utime(seg, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))


def check_reads(folder: Path, cache: Path, mutations: list[tuple[str, int, int, int]],
                pause: float) -> None:
    index_dir, history = cache / "ledger-index", cache / "render-history"
    answer(folder, index_dir, history)  # warm every cache
    for name, which, a, b in mutations:
        time.sleep(pause)
        mutate(folder, name, which, a, b)
        warm = answer(folder, index_dir, history)
        cold = answer(folder, None, None)
        assert warm == cold, f"after {name}: a cache answered for bytes it was not built from"
        found = verify_finds(folder)
        assert (cold[0] == "refused") == bool(found), f"after {name}: readers and verify differ"
        if cold[0] == "refused":  # verify may list more (cross-segment checks of the rest)
            assert set(cold[1]) <= found
        assert answer(folder, index_dir, history) == cold  # and again, with the caches refilled


PINNED = [
    [("edit_verdict", 0, 1, 0)],    # the control's FAIL -> PASS, in place: refused warm and cold
    [("forge_verdict", 0, 3, 0)],   # the same with its hash recomputed: the cold answer, warm
    [("forge_verdict", 1, 2, 0)],   # the last record of a segment re-sealed: chain still intact
    [("forge_verdict", 0, 1, 1)],   # the chain rebuilt after the edit
    [("flip", 0, 777, 3)],          # one flipped byte
    [("delete_line", 1, 1, 0)],     # a deleted line
    [("swap_lines", 0, 1, 2)],      # two swapped lines
    [("duplicate_line", 2, 0, 0)],  # a duplicated line
    [("truncate", 0, 10**6, 0)],    # a cut in the middle of a line
    [("append_valid", 2, 0, 1), ("touch", 2, 0, 0)],
    [("copy_segment", 0, 0, 0)],
    [("flip", 0, 777, 3), ("flip", 0, 777, 3)],  # flipped and flipped back: intact again
]


def _property(mutations: list[tuple[str, int, int, int]], pause: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ledger"
        build(folder)
        check_reads(folder, Path(tmp) / "cache", mutations, pause)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
@example(PINNED[0])
@example(PINNED[1])
@example(PINNED[2])
@example(PINNED[3])
@example(PINNED[4])
@example(PINNED[5])
@example(PINNED[6])
@example(PINNED[7])
@example(PINNED[8])
@example(PINNED[9])
@example(PINNED[10])
@example(PINNED[11])
def test_warm_reads_equal_cold_reads_of_recent_segments(
        mutations: list[tuple[str, int, int, int]]) -> None:
    """Segments written within RACY_S seconds: keyed by stat and content hash."""
    _property(mutations, 0.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
@example(PINNED[0])
@example(PINNED[1])
@example(PINNED[2])
@example(PINNED[11])
def test_warm_reads_equal_cold_reads_by_stat_key_alone(
        mutations: list[tuple[str, int, int, int]]) -> None:
    """With the racy window closed (every segment counts as old), the stat key alone
    (device, inode, size, mtime_ns, ctime_ns) must still tell every mutation apart: ctime moves
    on every write, and os.utime cannot set it back. The pause steps out of the clock tick."""
    old = trust.RACY_S
    trust.RACY_S = 0.0
    try:
        _property(mutations, 0.02)
    finally:
        trust.RACY_S = old


# --- the key itself ---------------------------------------------------------------------------

def test_segment_key_changes_on_any_write_even_with_mtime_restored(tmp_path: Path) -> None:
    """Same size, mtime put back: the key still changes (ctime); a recent file adds its hash."""
    seg = tmp_path / "s.jsonl"
    seg.write_bytes(b"a" * 100)
    before, st = trust.segment_key(seg)[0], seg.stat()
    assert ":sha256=" in before  # written just now: compared by content too
    time.sleep(0.02)
    seg.write_bytes(b"b" * 100)
    os.utime(seg, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert trust.segment_key(seg)[0] != before
    old = trust.RACY_S
    trust.RACY_S = 0.0
    try:
        stat_only = trust.segment_key(seg)[0]
        assert ":sha256=" not in stat_only
        assert trust.segment_key(seg)[0] == stat_only  # nothing changed: the same key
    finally:
        trust.RACY_S = old


class _Rejects:
    """A stand-in signature check (real bytes, a real rule): refuses segments whose last record
    is a FAIL, reading one companion file."""

    def __init__(self, keyfile: Path) -> None:
        self.keyfile = keyfile

    def fingerprint(self) -> str:
        return "rejects-fail-heads:v1"

    def companions(self, path: Path) -> list[Path]:
        return [self.keyfile]

    def check(self, path: Path, data: bytes, chain: Chain) -> list[Problem]:
        if self.keyfile.exists() and self.keyfile.read_text() == "strict" and b"FAIL" in data:
            return [Problem(path, chain.lines, None, "head not signed by an allowed key",
                            "sign it")]
        return []


def test_extra_segment_checks_make_readers_refuse(tmp_path: Path) -> None:
    """A SegmentCheck (the signature hook) runs in every read and in verify, and a change of a
    companion file it reads is seen through a warm cache."""
    folder, index_dir = tmp_path / "ledger", tmp_path / "idx"
    build(folder)
    keyfile = tmp_path / "policy"
    keyfile.write_text("lax")
    check = _Rejects(keyfile)
    assert Ledger(folder, index_dir, checks=[check]).latest()
    keyfile.write_text("strict")
    with pytest.raises(LedgerTampered, match="head not signed by an allowed key"):
        Ledger(folder, index_dir, checks=[check]).latest()
    assert [p.message for p in verify(folder, checks=[check])][:1] == [
        "head not signed by an allowed key"]
    assert Ledger(folder, index_dir).latest()  # without the check: its own cache entries
