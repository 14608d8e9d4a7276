"""Signed segments: every forgery a hash chain cannot see is named, and fails a gate that
requires signatures; honest ledgers (and merges of them) verify clean."""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.ledger import Ledger, LedgerWriter, merge, verify
from harness.ledger.keys import Signer, new_signer, open_envelope
from harness.ledger.segment import segment_paths, split_lines
from harness.ledger.signing import (
    PAYLOAD_TYPE,
    Head,
    check_signatures,
    gate_problems,
    segment_trust,
    sig_path,
)
from harness.records import Record
from tests.harness.ledger_factory import BASE_TIME, make_record

ALICE = new_signer("alice")
MALLORY = new_signer("mallory")
TRUSTED = {ALICE.keyid: ALICE.public}
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def write_segment(folder: Path, n: int, signer: Signer | None, *, worker: str = "w",
                  start: int = 0, verdict: str = "FAIL") -> Path:
    """``n`` records (claims C0..C2 on one subject) signed by ``signer``."""
    with LedgerWriter(folder, f"session-{worker}-{start}", worker, signer=signer) as writer:
        for i in range(n):
            writer.append(make_record(f"C{i % 3}", "subj", verdict=verdict,
                                      created=BASE_TIME + timedelta(seconds=start + i)))
    assert writer.path is not None
    return writer.path


@contextmanager
def ledger(sizes: tuple[int, ...]) -> Iterator[tuple[Path, list[Path]]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = [write_segment(folder, n, ALICE, worker=f"w{i}", start=100 * i)
                 for i, n in enumerate(sizes)]
        yield folder, paths


def records_of(path: Path) -> list[Record]:
    lines, _, _ = split_lines(path.read_bytes())
    return [Record.from_line(raw.decode()) for raw in lines]


def rewrite(path: Path, records: list[Record]) -> None:
    """Records re-sealed into one consistent chain: what a forger with the code can do."""
    prev, out = None, []
    for r in records:
        sealed = r.sealed(prev)
        out.append(sealed.to_line())
        prev = sealed.hash
    path.write_text("".join(out))


def forged_pass(claim: str = "C0", offset: int = 10_000) -> Record:
    return make_record(claim, "subj", verdict="PASS",
                       created=BASE_TIME + timedelta(seconds=offset))


def relied(folder: Path) -> list[tuple[Path, int, str]]:
    """What a gate reads: the latest record of every (claim, subject)."""
    return [(s.segment, s.line, s.id) for s in Ledger(folder).latest().values()]


def gate_fails(folder: Path) -> bool:
    errors, _ = gate_problems(folder, TRUSTED, relied(folder))
    return bool(errors)


def messages(folder: Path, require: bool = True) -> str:
    return "\n".join(str(p) for p in check_signatures(folder, TRUSTED, require=require))


sizes = st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple)


# --- honest ledgers -----------------------------------------------------------------------------

@SETTINGS
@given(sizes=sizes)
def test_honest_signed_ledger_is_clean(sizes: tuple[int, ...]) -> None:
    """Every record of an honest signed ledger is covered, and the gate finds nothing."""
    with ledger(sizes) as (folder, paths):
        assert check_signatures(folder, TRUSTED) == []
        assert verify(folder, None, TRUSTED, require_signed=True) == []
        assert [segment_trust(p, TRUSTED).signed for p in paths] == list(sizes)
        assert not gate_fails(folder)


def test_signature_is_dsse_over_the_segment_head(tmp_path: Path) -> None:
    """The .sig is a DSSE envelope whose head names the segment, its count, size and bytes."""
    path = write_segment(tmp_path, 3, ALICE)
    opened = open_envelope(json.loads(sig_path(path).read_bytes()), PAYLOAD_TYPE, TRUSTED)
    head = Head.from_payload(opened.payload)
    assert opened.valid
    assert opened.keyid == ALICE.keyid
    assert (head.segment, head.count, head.size) == (path.name, 3, path.stat().st_size)
    assert head.head == records_of(path)[-1].hash


def test_burst_of_appends_is_signed_whole_at_close(tmp_path: Path) -> None:
    """Re-signing is throttled during a burst; the signature at close covers every record."""
    with LedgerWriter(tmp_path, "s", "w", signer=ALICE) as writer:
        for i in range(50):
            writer.append(forged_pass(offset=i))
    assert writer.path is not None
    assert segment_trust(writer.path, TRUSTED).signed == 50
    assert check_signatures(tmp_path, TRUSTED) == []


def test_writer_without_key_leaves_an_unsigned_segment(tmp_path: Path) -> None:
    path = write_segment(tmp_path, 2, None)
    assert not sig_path(path).exists()
    assert "unsigned segment: 2 record(s)" in messages(tmp_path)
    assert messages(tmp_path, require=False) == ""


def test_killed_writer_leaves_its_last_record_unsigned(tmp_path: Path) -> None:
    """A writer killed between appending a record and signing it: the tail is named."""
    with LedgerWriter(tmp_path, "s", "w", signer=ALICE, fsync="record") as writer:
        for i in range(3):
            writer.append(forged_pass(offset=i))
        assert writer.path is not None
        signed_at_3 = sig_path(writer.path).read_bytes()
        writer.append(forged_pass(offset=4))
    sig_path(writer.path).write_bytes(signed_at_3)
    text = messages(tmp_path)
    assert f"{writer.path}:4: 1 record(s) after the signed head are not signed" in text
    assert check_signatures(tmp_path, TRUSTED, require=False) == []  # not tampering
    assert segment_trust(writer.path, TRUSTED).signed == 3


# --- forgeries ----------------------------------------------------------------------------------

@SETTINGS
@given(sizes=sizes, which=st.integers(0, 2))
@example(sizes=(3,), which=0)
def test_appended_forgery_is_named_and_fails_the_gate(sizes: tuple[int, ...], which: int) -> None:
    """A forged PASS appended with a recomputed hash and chain: unsigned, and the gate relies
    on it (it is the newest), so the gate fails."""
    with ledger(sizes) as (folder, paths):
        path = paths[which % len(paths)]
        rewrite(path, [*records_of(path), forged_pass()])
        assert verify(folder) == []  # the chain alone cannot see it
        n = len(records_of(path))
        assert f"{path}:{n}: 1 record(s) after the signed head are not signed" in messages(folder)
        assert gate_fails(folder)


@SETTINGS
@given(sizes=sizes, which=st.integers(0, 2), at=st.integers(0, 5))
@example(sizes=(4,), which=0, at=1)
def test_inserted_forgery_with_rebuilt_chain_is_named(sizes: tuple[int, ...], which: int,
                                                       at: int) -> None:
    with ledger(sizes) as (folder, paths):
        path = paths[which % len(paths)]
        records = records_of(path)
        at = at % len(records)
        rewrite(path, [*records[:at], forged_pass(offset=100 * which + at), *records[at:]])
        assert verify(folder) == []
        assert "are not the bytes alice signed" in messages(folder)
        assert gate_fails(folder)


@SETTINGS
@given(sizes=sizes, which=st.integers(0, 2), k=st.integers(1, 6))
@example(sizes=(2, 3), which=1, k=1)
def test_dropped_trailing_records_are_named(sizes: tuple[int, ...], which: int, k: int) -> None:
    """Cutting k whole lines off the end keeps the chain intact; the signed count does not."""
    with ledger(sizes) as (folder, paths):
        path = paths[which % len(paths)]
        lines = path.read_bytes().splitlines(keepends=True)
        k = min(k, len(lines))
        path.write_bytes(b"".join(lines[:len(lines) - k]))
        assert verify(folder) == []
        assert f"{k} trailing record(s) dropped" in messages(folder)
        assert gate_fails(folder)


@SETTINGS
@given(sizes=sizes, signer=st.sampled_from([None, MALLORY]), n=st.integers(1, 4))
@example(sizes=(2,), signer=None, n=1)
@example(sizes=(2,), signer=MALLORY, n=1)
def test_new_forged_segment_is_named(sizes: tuple[int, ...], signer: Signer | None,
                                     n: int) -> None:
    """A whole new segment of newer PASS records: unsigned, or signed by an unknown key."""
    with ledger(sizes) as (folder, _):
        forged = write_segment(folder, n, signer, worker="forger", start=50_000, verdict="PASS")
        text = messages(folder)
        if signer is None:
            assert f"{forged}: unsigned segment" in text
        else:
            assert f"{forged}: signed by a key that is not trusted" in text
            assert f"{forged}: signed by a key" in messages(folder, require=False)
        assert gate_fails(folder)


def _edit_payload(field: str) -> Callable[[dict[str, object]], None]:
    def edit(env: dict[str, object]) -> None:
        head = json.loads(base64.b64decode(str(env["payload"])))
        head[field] = {"count": 99, "size": 1, "head": "0" * 64, "sha256": "f" * 64,
                       "segment": "other.jsonl"}[field]
        env["payload"] = base64.b64encode(json.dumps(head).encode()).decode()
    return edit


def _flip_sig(env: dict[str, object]) -> None:
    sigs = env["signatures"]
    assert isinstance(sigs, list)
    raw = bytearray(base64.b64decode(sigs[0]["sig"]))
    raw[0] ^= 1
    sigs[0]["sig"] = base64.b64encode(bytes(raw)).decode()


def _other_keyid(env: dict[str, object]) -> None:
    sigs = env["signatures"]
    assert isinstance(sigs, list)
    sigs[0]["keyid"] = MALLORY.keyid


EDITS = {"count": _edit_payload("count"), "size": _edit_payload("size"),
         "head": _edit_payload("head"), "sha256": _edit_payload("sha256"),
         "segment": _edit_payload("segment"), "sig": _flip_sig, "keyid": _other_keyid}


@SETTINGS
@given(sizes=sizes, which=st.integers(0, 2), edit=st.sampled_from(sorted(EDITS)))
@example(sizes=(3,), which=0, edit="count")
def test_edited_signature_is_named(sizes: tuple[int, ...], which: int, edit: str) -> None:
    with ledger(sizes) as (folder, paths):
        sig = sig_path(paths[which % len(paths)])
        env = json.loads(sig.read_bytes())
        EDITS[edit](env)
        sig.write_text(json.dumps(env))
        text = messages(folder, require=False)
        assert str(paths[which % len(paths)]) in text
        assert "does not verify" in text or "not trusted" in text
        assert gate_fails(folder)


@SETTINGS
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=3).map(tuple))
@example(sizes=(2, 2))
def test_swapped_signatures_are_named(sizes: tuple[int, ...]) -> None:
    with ledger(sizes) as (folder, paths):
        a, b = sig_path(paths[0]), sig_path(paths[1])
        data_a, data_b = a.read_bytes(), b.read_bytes()
        a.write_bytes(data_b)
        b.write_bytes(data_a)
        text = messages(folder, require=False)
        assert f"{paths[0]}: {a.name} signs segment {paths[1].name}, not this one" in text
        assert gate_fails(folder)


def test_deleted_signed_segment_leaves_its_signature_named(tmp_path: Path) -> None:
    path = write_segment(tmp_path, 2, ALICE)
    path.unlink()
    assert "signature without its segment" in messages(tmp_path, require=False)


# --- the gate's rule for legacy unsigned segments ----------------------------------------------

def test_legacy_unsigned_segment_the_gate_does_not_use_is_a_warning(tmp_path: Path) -> None:
    write_segment(tmp_path, 3, None, worker="legacy", start=0)
    write_segment(tmp_path, 3, ALICE, worker="new", start=1000)  # newer: the gate's records
    errors, warnings = gate_problems(tmp_path, TRUSTED, relied(tmp_path))
    assert errors == []
    assert ["unsigned segment" in w.message for w in warnings] == [True]


def test_gate_relying_on_a_legacy_unsigned_record_fails(tmp_path: Path) -> None:
    legacy = write_segment(tmp_path, 3, None, worker="legacy", start=1000)
    write_segment(tmp_path, 3, ALICE, worker="new", start=0)
    errors, _ = gate_problems(tmp_path, TRUSTED, relied(tmp_path))
    assert [str(e.path) for e in errors] == [str(legacy)]
    assert "the gate relies on 3 record(s) here (line 1, 2, 3)" in errors[0].message


def test_no_trusted_key_at_all_fails_a_required_gate(tmp_path: Path) -> None:
    write_segment(tmp_path, 1, ALICE)
    errors, _ = gate_problems(tmp_path, {}, relied(tmp_path))
    assert any("no key is trusted" in e.message for e in errors)


# --- merge ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("signed_dst", [False, True])
def test_merge_copies_signatures(tmp_path: Path, signed_dst: bool) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    path = write_segment(src, 3, ALICE)
    write_segment(dst, 2, ALICE if signed_dst else None, worker="mine")
    (dst / path.name).write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:2]))
    merge(src, dst)
    assert [p.name for p in segment_paths(dst)] == sorted([path.name, *(
        p.name for p in segment_paths(dst) if p.name != path.name)])
    assert sig_path(dst / path.name).read_bytes() == sig_path(path).read_bytes()
    assert segment_trust(dst / path.name, TRUSTED).signed == 3
    assert check_signatures(dst, TRUSTED, require=signed_dst) == []


@SETTINGS
@given(n=st.integers(1, 6), k=st.integers(0, 6), newer_in_src=st.booleans())
@example(n=3, k=1, newer_in_src=True)
@example(n=3, k=1, newer_in_src=False)
def test_merge_of_a_copy_taken_mid_session_keeps_the_fuller_signature(
        n: int, k: int, newer_in_src: bool) -> None:
    """Two ledgers hold the same segment, one copied while its writer was still at record k:
    merging either way ends with the whole segment and a signature covering all of it."""
    k = min(k, n)
    with tempfile.TemporaryDirectory() as tmp:
        full, early = Path(tmp) / "full", Path(tmp) / "early"
        snapshots: list[tuple[bytes, bytes]] = []
        with LedgerWriter(full, "s", "w", signer=ALICE, fsync="record") as writer:
            for i in range(n):
                writer.append(forged_pass(offset=i))
                assert writer.path is not None
                snapshots.append((writer.path.read_bytes(), sig_path(writer.path).read_bytes()))
        assert writer.path is not None
        early.mkdir()
        if k:
            (early / writer.path.name).write_bytes(snapshots[k - 1][0])
            sig_path(early / writer.path.name).write_bytes(snapshots[k - 1][1])
        src, dst = (full, early) if newer_in_src else (early, full)
        merge(src, dst)
        assert (dst / writer.path.name).read_bytes() == writer.path.read_bytes()
        assert segment_trust(dst / writer.path.name, TRUSTED).signed == n
        assert check_signatures(dst, TRUSTED) == []
