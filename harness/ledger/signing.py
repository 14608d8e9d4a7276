"""Signed segments: who wrote a segment, and that nothing was cut off its end.

A hash chain proves a segment is consistent with itself, not who wrote it: anyone can append a
record with a recomputed hash, rebuild the chain around an inserted one, write a new segment, or
drop trailing lines. So each writer signs the *head* of its segment with its Ed25519 key
(:mod:`harness.ledger.keys`) after every append, into ``<segment>.sig`` (replaced atomically):
a DSSE envelope whose payload is the canonical JSON

    {"count": N, "format": 1, "head": "<hash of record N>", "segment": "<file name>",
     "session": "...", "sha256": "<sha256 of the segment's first SIZE bytes>", "size": SIZE,
     "worker": "..."}

``sha256`` covers every byte of the N signed lines, so the check needs no chain walk: bytes
altered, inserted or removed anywhere before the head, or a ``.sig`` moved to another segment,
fail it. A segment longer than SIZE has an *unsigned tail* (records appended after signing, or a
writer killed between its last append and signing it); a shorter one lost trailing records.

What is trusted: a record is *signed* when a key in the trusted set (``evidence/keys/*.pub``
plus ``--keys``) made a valid signature whose head covers its line. Everything else is named by
:func:`check_signatures`; see :func:`gate_problems` for what the gate makes of it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.ledger.keys import (
    HOW_TO_ADD,
    PublicKey,
    Signer,
    SigningError,
    envelope,
    open_envelope,
)
from harness.ledger.problem import Problem
from harness.ledger.segment import SEGMENT_SUFFIX, is_live, segment_paths, split_lines
from harness.records import canonical_json

__all__ = [
    "PAYLOAD_TYPE",
    "SIG_SUFFIX",
    "Head",
    "HeadTracker",
    "SegmentTrust",
    "check_signatures",
    "gate_problems",
    "segment_trust",
    "sig_path",
    "signature_problems",
    "signed_size",
    "write_signature",
]

PAYLOAD_TYPE = "application/vnd.falsify.segment-head.v1+json"
SIG_SUFFIX = ".sig"
_FORMAT = 1
_RESTORE = ("restore the segment and its .sig from git (`git log -p -- {path}`); records are "
            "only ever appended by a writer that holds a trusted key")


def sig_path(segment: Path) -> Path:
    return segment.with_name(segment.name + SIG_SUFFIX)


@dataclass(frozen=True)
class Head:
    """What a signature vouches for: the segment's first ``size`` bytes, ``count`` records."""

    segment: str
    count: int
    size: int
    sha256: str
    head: str | None
    session: str
    worker: str

    def payload(self) -> bytes:
        return canonical_json({"format": _FORMAT, "segment": self.segment, "count": self.count,
                               "size": self.size, "sha256": self.sha256, "head": self.head,
                               "session": self.session, "worker": self.worker}).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> Head:
        try:
            data = json.loads(payload)
            if data.get("format") != _FORMAT:
                msg = f"segment head format {data.get('format')!r}; this falsify reads {_FORMAT}"
                raise SigningError(msg)
            head = cls(str(data["segment"]), int(data["count"]), int(data["size"]),
                       str(data["sha256"]), data["head"], str(data["session"]),
                       str(data["worker"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            msg = f"the signed payload is not a segment head ({exc})"
            raise SigningError(msg) from None
        return head


class HeadTracker:
    """A writer's running head: bytes hashed as they are appended, never re-read."""

    def __init__(self, segment: str, session: str, worker: str) -> None:
        self.segment, self.session, self.worker = segment, session, worker
        self._sha = hashlib.sha256()
        self.size = 0
        self.count = 0
        self.last: str | None = None

    def add(self, data: bytes, record_hash: str) -> Head:
        self._sha.update(data)
        self.size += len(data)
        self.count += 1
        self.last = record_hash
        return Head(self.segment, self.count, self.size, self._sha.hexdigest(), self.last,
                    self.session, self.worker)


def write_signature(segment: Path, head: Head, signer: Signer, *, fsync: bool = False) -> None:
    """Sign ``head`` into ``<segment>.sig``, replacing it atomically (a reader sees the old
    signature or the new one)."""
    data = (json.dumps(envelope(PAYLOAD_TYPE, head.payload(), signer), sort_keys=True) + "\n")
    fd, tmp = tempfile.mkstemp(dir=segment.parent, prefix=f".{segment.name}-", suffix=".sig.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode())
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, sig_path(segment))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def signed_size(sig: Path) -> int:
    """The byte count a ``.sig`` claims to cover, unchecked (-1 when unreadable); for choosing
    between two copies of a signature, never for trusting one."""
    try:
        env = json.loads(sig.read_bytes())
        return Head.from_payload(base64.b64decode(env["payload"])).size
    except (OSError, ValueError, KeyError, TypeError):
        return -1


# --- checking ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SegmentTrust:
    """How much of one segment a trusted signature covers, and what is wrong with the rest.

    ``signed``: its first ``signed`` records are vouched for (0 when none). ``tampered``: a
    problem that an honest writer never leaves (a bad or foreign signature, records dropped or
    altered); an unsigned segment or unsigned tail alone is not tampering, but is not trusted.
    """

    path: Path
    records: int
    signed: int
    key: PublicKey | None
    problems: tuple[Problem, ...]
    tampered: bool


def _unsigned(path: Path, n: int) -> SegmentTrust:
    problem = Problem(path, None, None, f"unsigned segment: {n} record(s) and no "
                      f"{sig_path(path).name}, so nothing shows who wrote them or that none "
                      f"was cut off its end", f"re-record this evidence with a signing key: "
                      f"{HOW_TO_ADD}")
    return SegmentTrust(path, n, 0, None, (problem,), False)


def _bad(path: Path, n: int, message: str, fix: str | None = None,
         line: int | None = None, key: PublicKey | None = None) -> SegmentTrust:
    problem = Problem(path, line, None, message, fix or _RESTORE.format(path=path))
    return SegmentTrust(path, n, 0, key, (problem,), True)


def _open(path: Path, n: int, trusted: dict[str, PublicKey]) -> tuple[Head, PublicKey] | \
        SegmentTrust:
    sig = sig_path(path)
    try:
        opened = open_envelope(json.loads(sig.read_bytes()), PAYLOAD_TYPE, trusted)
        head = Head.from_payload(opened.payload)
    except (ValueError, OSError) as exc:
        return _bad(path, n, f"{sig.name} is not a valid segment signature ({exc})")
    if opened.signer is None:
        return _bad(path, n, f"signed by a key that is not trusted (keyid {opened.keyid[:16]}…): "
                    f"its public key is not in evidence/keys/ nor given with --keys",
                    f"if this key may write evidence, commit its .pub to evidence/keys/ "
                    f"(`falsify keys list` shows fingerprints); else remove the segment: "
                    f"{HOW_TO_ADD}")
    if not opened.valid:
        return _bad(path, n, f"{sig.name}: the signature of key {opened.signer.name} does not "
                    f"verify: the signature or its head was edited or forged", key=opened.signer)
    if head.segment != path.name:
        return _bad(path, n, f"{sig.name} signs segment {head.segment}, not this one: signature "
                    f"files were swapped or copied", key=opened.signer)
    return head, opened.signer


def segment_trust(path: Path, trusted: dict[str, PublicKey],
                  data: bytes | None = None) -> SegmentTrust:
    """Check one segment's signature against ``trusted`` (fingerprint -> key); ``data``: its
    bytes when already read."""
    data = path.read_bytes() if data is None else data
    lines, offsets, _ = split_lines(data)
    n = len(lines)
    if not sig_path(path).exists():
        return _unsigned(path, n)
    opened = _open(path, n, trusted)
    if isinstance(opened, SegmentTrust):
        return opened
    head, key = opened
    if len(data) < head.size:
        lost = head.count - n
        return _bad(path, n, f"{max(lost, 1)} trailing record(s) dropped: {key.name} signed "
                    f"{head.count} record(s) ({head.size} bytes), the segment now holds {n} "
                    f"({len(data)} bytes)", line=n + 1, key=key)
    if hashlib.sha256(data[:head.size]).hexdigest() != head.sha256:
        return _bad(path, n, f"the first {head.count} record(s) are not the bytes {key.name} "
                    f"signed: a record was altered, inserted, removed or forged with a "
                    f"recomputed hash", line=_first_change(lines, head), key=key)
    return _covered(path, n, offsets, head, key)


def _first_change(lines: list[bytes], head: Head) -> int | None:
    """The signed head's line when its record is not the one signed (else unknown: verify's
    chain check names the line)."""
    if head.count < 1 or head.count > len(lines):
        return None
    try:
        stored = json.loads(lines[head.count - 1]).get("hash")
    except (ValueError, AttributeError):
        return head.count
    return head.count if stored != head.head else None


def _covered(path: Path, n: int, offsets: list[int], head: Head, key: PublicKey) -> SegmentTrust:
    signed = sum(1 for off in offsets if off < head.size)
    if signed == n or is_live(path):  # a live writer signs each record right after writing it
        return SegmentTrust(path, n, signed, key, (), False)
    problem = Problem(path, signed + 1, None, f"{n - signed} record(s) after the signed head "
                      f"are not signed (lines {signed + 1}-{n}): appended by something without "
                      f"the key, or the writer was killed before it signed them",
                      "do not rely on them; re-run their falsifiers to record them signed")
    return SegmentTrust(path, n, signed, key, (problem,), False)


def _orphans(ledger_dir: Path) -> list[Problem]:
    """``.sig`` files whose segment is gone: a signed segment was deleted."""
    if not ledger_dir.is_dir():
        return []
    return [Problem(p, None, None, f"signature without its segment: "
                    f"{p.name.removesuffix(SIG_SUFFIX)} was deleted", "restore the segment from "
                    "git; segments are never deleted (a correction is an amending record)")
            for p in sorted(ledger_dir.glob(f"*{SEGMENT_SUFFIX}{SIG_SUFFIX}"))
            if not p.with_name(p.name.removesuffix(SIG_SUFFIX)).is_file()]


def trust_all(ledger_dir: Path, trusted: dict[str, PublicKey]) -> dict[str, SegmentTrust]:
    return {p.name: segment_trust(p, trusted) for p in segment_paths(Path(ledger_dir))}


def signature_problems(ledger_dir: Path, trusted: dict[str, PublicKey],
                       trusts: dict[str, SegmentTrust] | None = None,
                       ) -> tuple[list[Problem], list[Problem]]:
    """(tampering, unsigned): every signature problem under ``ledger_dir``, split into what an
    honest writer never leaves and what is merely not vouched for (an unsigned segment or
    tail). ``trusts``: :func:`trust_all`'s answer when already known (a cached one)."""
    tampered = _orphans(Path(ledger_dir))
    unsigned: list[Problem] = []
    if trusts is None:
        trusts = trust_all(Path(ledger_dir), trusted)
    for t in trusts.values():
        (tampered if t.tampered else unsigned).extend(t.problems)
    return tampered, unsigned


def check_signatures(ledger_dir: Path, trusted: dict[str, PublicKey], *,
                     require: bool = True) -> list[Problem]:
    """Every signature problem under ``ledger_dir``; with ``require=False`` unsigned segments and
    unsigned tails (not trusted, but not tampering either) are left out."""
    tampered, unsigned = signature_problems(ledger_dir, trusted)
    return tampered + unsigned if require else tampered


def gate_problems(ledger_dir: Path, trusted: dict[str, PublicKey],
                  relied: Iterable[tuple[Path, int, str]],
                  trusts: dict[str, SegmentTrust] | None = None,
                  ) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for a gate that requires signed evidence.

    The rule: the gate fails on any tampering anywhere in the ledger (a dropped record can make
    an older verdict the latest one in *another* segment), and on any record it relies on
    (``relied``: segment, line, record id of each latest verdict it reads) that no trusted
    signature covers. An unsigned segment none of whose records the gate uses, such as legacy
    evidence from before signing, is a warning. ``trusts``: as in :func:`signature_problems`.
    """
    if trusts is None:
        trusts = trust_all(Path(ledger_dir), trusted)
    errors = _orphans(Path(ledger_dir))
    if not trusted:
        errors.append(Problem(Path(ledger_dir), None, None, "signed evidence is required and no "
                              "key is trusted (evidence/keys/ holds no .pub)", HOW_TO_ADD))
    warnings: list[Problem] = []
    for t in trusts.values():
        (errors if t.tampered else warnings).extend(t.problems)
    uncovered: dict[Path, list[tuple[int, str]]] = {}
    for segment, line, rid in relied:
        found = trusts.get(Path(segment).name)
        if found is not None and not found.tampered and line > found.signed:
            uncovered.setdefault(Path(segment), []).append((line, rid))
    for segment, rows in sorted(uncovered.items()):
        rows.sort()
        lines = ", ".join(str(n) for n, _ in rows[:8]) + (", …" if len(rows) > 8 else "")
        errors.append(Problem(segment, rows[0][0], rows[0][1] if len(rows) == 1 else None,
                              f"the gate relies on {len(rows)} record(s) here (line {lines}) "
                              f"that no trusted signature covers", "re-run their falsifiers "
                              f"with a signing key; {HOW_TO_ADD}"))
    return errors, warnings
