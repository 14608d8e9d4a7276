"""Appending to the ledger: one segment per writer, one ``write`` per record.

Layout. Each writer (a pytest session, an xdist worker, a CI job) creates its own segment
``evidence/ledger/<UTC YYYYMMDDTHHMMSSffffffZ>-<session[:8]>-<worker>.jsonl`` on its first append
(a session that records nothing leaves no file) with ``O_CREAT | O_EXCL``, and holds an exclusive
``flock`` on it until ``close()``. No writer ever opens an existing segment, so no two writers
share a file and segments from many machines merge by union without conflicts.

Chain. The first record of a segment has ``prev = None``; each later one names the hash of the
record before it in the same segment (``Record.sealed``).

Durability. A record is encoded completely first, then written with a single ``os.write`` on an
``O_APPEND`` descriptor (no user-space buffer). A process killed at any moment, SIGKILL included,
leaves every earlier record intact and at most one torn last line, which ``verify`` reports and
``repair_torn_tail`` moves aside. The modes:

- ``fsync="close"`` (the default): records reach the OS page cache as they are appended and
  survive the process dying; ``close()`` fsyncs the segment and its folder, so a session that
  ended cleanly also survives a power loss. A power loss during the session can lose that
  session's records, which a re-run recreates.
- ``fsync="record"``: fsync after every record (and of the folder when the segment is created):
  each returned record is on disk, at the cost of one disk flush per record.

Signature. A writer with a key (``signer``; by default the one :func:`keys.default_signer`
finds, else none and the segment stays unsigned) re-signs its segment's head into
``<segment>.sig`` (:mod:`harness.ledger.signing`) after an append when half a second has passed
since it last signed, after every append with ``fsync="record"``, and at ``close()``. A writer
killed at any moment leaves unsigned at most the records of its last half second (a falsifier
takes longer than that per record, so in practice its last record), which ``verify`` names.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

from harness.ledger.keys import Signer, default_signer
from harness.ledger.schema import record_schema
from harness.ledger.segment import (
    SEGMENT_SUFFIX,
    LedgerError,
    is_live,
    line_hash_ok,
    safe_name,
    segment_paths,
    split_lines,
)
from harness.ledger.signing import Head, HeadTracker, sig_path, signed_size, write_signature
from harness.records import Record

__all__ = ["Durability", "LedgerWriter", "MergeReport", "Repair", "merge", "repair_torn_tail"]

Durability = Literal["close", "record"]
# Re-signing replaces the .sig (a rename, which some filesystems make cost a data flush), so a
# burst of appends is signed at most twice a second, and every head at close.
SIGN_EVERY_S = 0.5
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC


def _fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes a rename or create in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


class LedgerWriter:
    """Appends sealed records to this writer's own segment under ``ledger_dir``."""

    def __init__(self, ledger_dir: Path, session: str, worker: str = "main", *,
                 fsync: Durability = "close",
                 signer: Signer | Literal["default"] | None = "default") -> None:
        if fsync not in ("close", "record"):
            msg = f"fsync must be 'close' or 'record', not {fsync!r}"
            raise ValueError(msg)
        if not session:
            msg = "a LedgerWriter needs a non-empty session id"
            raise ValueError(msg)
        self.ledger_dir = Path(ledger_dir)
        self.session = session
        self.worker = worker
        self.fsync: Durability = fsync
        self.path: Path | None = None
        self.count = 0
        self._fd: int | None = None
        self._prev: str | None = None
        self._closed = False
        self._broken: str | None = None
        self._lock = threading.Lock()
        self._signer = signer
        self._head: HeadTracker | None = None
        self._pending: Head | None = None  # appended, not yet signed
        self._signed_at = -SIGN_EVERY_S

    @property
    def signer(self) -> Signer | None:
        """The key this writer signs with (found on first use), or None: unsigned."""
        if self._signer == "default":
            self._signer = default_signer()
        return self._signer

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def last_hash(self) -> str | None:
        """The hash the next record will name as ``prev``."""
        return self._prev

    def append(self, record: Record) -> Record:
        """Seal ``record`` onto this segment's chain, write it as one line, return it sealed."""
        with self._lock:
            self._check_usable()
            signer = self.signer  # found before anything is written: a key error writes nothing
            sealed, data = self._encode(record)
            fd = self._fd if self._fd is not None else self._open()
            self._write(fd, data, sealed)
            if self.fsync == "record":
                os.fsync(fd)
            if signer is not None:
                self._sign(signer, data, sealed)
            self._prev = sealed.hash
            self.count += 1
            return sealed

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise LedgerError(self._broken)
        if self._closed:
            msg = "this LedgerWriter is closed; open a new one to append (it gets a new segment)"
            raise LedgerError(msg)

    def _encode(self, record: Record) -> tuple[Record, bytes]:
        try:
            sealed = record.sealed(self._prev)
            line = sealed.to_line()
        except ValueError as exc:
            msg = (f"record {record.id} ({record.claim} on {record.subject}) cannot be written: "
                   f"{exc}; a non-finite number belongs in a Measurement (recorded as "
                   f"'nonfinite'), never as a raw float in provenance, timing or attachments")
            raise LedgerError(msg) from None
        # Readers trust a signed line without re-deriving it (harness.ledger.verify), so no
        # line that is not schema-valid is ever written, signed or not.
        errors = record_schema().errors(json.loads(line))
        if errors:
            msg = (f"record {record.id} ({record.claim} on {record.subject}) is not valid against "
                   f"the record schema, so it is not written: {'; '.join(errors[:3])}")
            raise LedgerError(msg)
        return sealed, line.encode("utf-8")

    def _open(self) -> int:
        self.ledger_dir.mkdir(parents=True, exist_ok=True)
        tag = f"{safe_name(self.session[:8])}-{safe_name(self.worker)}{SEGMENT_SUFFIX}"
        while True:
            path = self.ledger_dir / f"{_stamp()}-{tag}"
            try:
                fd = os.open(path, _OPEN_FLAGS, 0o644)
            except FileExistsError:  # same microsecond, session and worker: take the next stamp
                continue
            break
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh O_EXCL file: never contended
        if self.fsync == "record":
            _fsync_path(self.ledger_dir)
        self._fd, self.path = fd, path
        return fd

    def _write(self, fd: int, data: bytes, record: Record) -> None:
        view = memoryview(data)
        try:
            while view:  # one call for a regular file; the loop only guards a short write
                view = view[os.write(fd, view):]
        except OSError as exc:
            self._broken = (f"{self.path}: appending record {record.id} failed ({exc}); the "
                            f"records before it are intact; fix the cause (disk space?) and "
                            f"re-run, which opens a new segment")
            self._release()
            raise LedgerError(self._broken) from exc

    def _sign(self, signer: Signer, data: bytes, record: Record) -> None:
        path = self.path
        if path is None:
            return
        if self._head is None:
            self._head = HeadTracker(path.name, self.session, self.worker)
        self._pending = self._head.add(data, record.hash)
        now = time.monotonic()
        if self.fsync == "record" or now - self._signed_at >= SIGN_EVERY_S:
            self._write_signature(signer, path, fsync=self.fsync == "record")
            self._signed_at = now

    def _write_signature(self, signer: Signer, path: Path, *, fsync: bool) -> None:
        head = self._pending
        if head is None:
            return
        try:
            write_signature(path, head, signer, fsync=fsync)
        except OSError as exc:
            self._broken = (f"{sig_path(path)}: signing {path.name} up to record {head.count} "
                            f"failed ({exc}); its records are written but unsigned; fix the "
                            f"cause (disk space?) and re-run, which opens a new segment")
            self._release()
            raise LedgerError(self._broken) from exc
        self._pending = None

    def close(self) -> None:
        """Sign the final head, fsync the segment, its signature and its folder, and drop the
        lock. Idempotent."""
        with self._lock:
            if self._fd is not None:
                try:
                    os.fsync(self._fd)
                    signer, path = self._signer, self.path
                    if self._pending is not None and isinstance(signer, Signer) and path:
                        self._write_signature(signer, path, fsync=True)
                    elif self._head is not None and path is not None:
                        _fsync_path(sig_path(path))
                finally:
                    self._release()
                _fsync_path(self.ledger_dir)
            self._closed = True

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


# --- merge ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MergeReport:
    """What ``merge`` did, segment names in each list."""

    copied: tuple[str, ...]
    extended: tuple[str, ...]
    unchanged: tuple[str, ...]


def _plan(src: Path, dst: Path) -> str:
    """'copy', 'extend' or 'keep' for one segment; LedgerError when the copies diverge."""
    if is_live(src):
        msg = (f"{src}: a writer is still appending to this segment; merge after its session "
               f"ends")
        raise LedgerError(msg)
    if not dst.exists():
        return "copy"
    a, b = src.read_bytes(), dst.read_bytes()
    if a == b or b.startswith(a):
        return "keep"
    if a.startswith(b):
        return "extend"
    msg = (f"{dst.name}: differs between {src.parent} and {dst.parent} and neither copy extends "
           f"the other; segments are append-only, so one copy was edited; run `falsify verify` "
           f"on both ledgers to find the altered record")
    raise LedgerError(msg)


def _copy_atomic(src: Path, dst: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".merge-", suffix=".tmp")
    with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
        shutil.copyfileobj(inp, out)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, dst)


def _merge_signature(src: Path, dst: Path) -> None:
    """Bring the source segment's signature along unless the destination's covers as much."""
    src_sig, dst_sig = sig_path(src), sig_path(dst)
    if src_sig.is_file() and (not dst_sig.exists() or signed_size(dst_sig) < signed_size(src_sig)):
        _copy_atomic(src_sig, dst_sig)


def merge(src_dir: Path, dst_dir: Path) -> MergeReport:
    """Union of two ledgers into ``dst_dir``: copy the segments it lacks (``falsify ledger merge``)
    and their signatures.

    A segment present in both is kept when identical, replaced when the source copy is the
    destination's copy plus appended records, and refused when the two diverge. Every conflict
    is found before anything is copied.
    """
    plan = {p.name: _plan(p, dst_dir / p.name) for p in segment_paths(Path(src_dir))}
    dst_dir.mkdir(parents=True, exist_ok=True)
    for name, action in plan.items():
        if action != "keep":
            _copy_atomic(Path(src_dir) / name, dst_dir / name)
        _merge_signature(Path(src_dir) / name, dst_dir / name)
    _fsync_path(dst_dir)
    by = {a: tuple(n for n, act in plan.items() if act == a) for a in ("copy", "extend", "keep")}
    return MergeReport(by["copy"], by["extend"], by["keep"])


# --- repair -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Repair:
    """What ``repair_torn_tail`` did: 'none', 'newline' (a complete record lacked only its
    newline, which was appended) or 'moved' (the torn bytes went to ``moved_to``)."""

    segment: Path
    action: Literal["none", "newline", "moved"]
    line: int | None = None
    moved_to: Path | None = None


def repair_torn_tail(segment: Path) -> Repair:
    """Mend a segment whose writer died mid-append (``falsify ledger repair``).

    A torn line is not a record (its hash never covered it), so moving its bytes into
    ``<segment>.torn`` removes no evidence; the complete records before it are untouched.
    """
    fd = os.open(segment, os.O_RDWR | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = f"{segment}: a writer is still appending to this segment; repair after it ends"
            raise LedgerError(msg) from None
        return _repair_locked(segment, fd)
    finally:
        os.close(fd)


def _repair_locked(segment: Path, fd: int) -> Repair:
    _, _, tail = split_lines(segment.read_bytes())
    if tail is None:
        return Repair(segment, "none")
    if line_hash_ok(tail.data) is not None:
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, b"\n")
        os.fsync(fd)
        return Repair(segment, "newline", tail.line)
    aside = segment.with_name(segment.name + ".torn")
    if aside.exists():
        msg = f"{aside} already exists; move it away, then repair {segment} again"
        raise LedgerError(msg)
    aside.write_bytes(tail.data)
    os.truncate(fd, tail.offset)
    os.fsync(fd)
    _fsync_path(segment.parent)
    return Repair(segment, "moved", tail.line, aside)
