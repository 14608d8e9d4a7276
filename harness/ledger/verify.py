"""``falsify verify``: check every line of every segment, and the ledger as a whole.

Per line: valid JSON, a schema version this falsify reads, valid against
``harness/schema/record.schema.json``, a hash that recomputes, canonical form, and a ``prev`` that
names the record before it in the segment. Per segment: a torn last line (its writer was killed
mid-append). With trusted keys, each segment's signature (``harness.ledger.signing``). Across
segments: duplicate ids, amendments naming records that do not exist or that
are about another claim or subject, and records of claims the contracts no longer hold.

Everything found is returned; nothing is changed.

Signed lines. A line inside the head of a segment signed by a trusted key (``vouched``) is the
byte-for-byte line that key's writer wrote: the signature's sha256 covers it. The writer seals
every record (hash, canonical form, chain) and refuses one that is not schema-valid
(``LedgerWriter``), so re-deriving those for each signed line would re-check what the signature
already proves, at 0.6 ms a record (10 minutes for a million). Such lines are parsed (msgspec),
read for the index and chain-linked; ``deep`` (``falsify verify --deep``) checks them like any
other. Unsigned segments and tails always get every check.

Such a line's ``Found.data`` is its projection (``harness.ledger.projection``): the fields the
index, the chain and the checks across segments read, not the whole record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.ledger.keys import PublicKey
from harness.ledger.pool import file_sizes, map_segments
from harness.ledger.problem import Problem
from harness.ledger.projection import project
from harness.ledger.schema import SCHEMA_PATH, record_schema
from harness.ledger.segment import body_hash, is_live, line_hash_ok, segment_paths, split_lines
from harness.ledger.signing import check_signatures
from harness.records import RECORD_SCHEMA_VERSION, canonical_json

__all__ = ["LIVE_TAIL", "SCHEMA_PATH", "Chain", "Found", "Problem", "Ref", "SegmentCheck",
           "SegmentResult", "check_segment", "cross_checks", "ref_of", "verify", "vouched_lines"]

LIVE_TAIL = "a live session is writing this line now"

# In canonical (sorted) order the top-level "hypothesis" is directly followed by "id".
_ID = re.compile(rb'"hypothesis":(?:null|"[^"\\]*"),"id":"([^"\\]{1,200})"')
_NODE = re.compile(rb'"node_id":"([^"\\]{1,500})"')
_MAX_SCHEMA_ERRORS = 3

_FIX_EDITED = ("records are only ever appended by falsify; restore this segment from git "
               "(`git log -p -- {path}`), and correct evidence with an amending record, never by "
               "editing a line")


@dataclass(frozen=True)
class Chain:
    """Where a segment's checked prefix ends: its bytes, its lines, and the last line's hash
    (``intact``: whether that line's own hash recomputed). Checking resumes from here when the
    segment grows."""

    size: int = 0
    lines: int = 0
    last_hash: str | None = None
    intact: bool = True


@dataclass(frozen=True)
class Found:
    """One JSON-object line of a segment: where it is, and the record as stored."""

    line: int
    offset: int
    length: int
    data: dict[str, Any]


@dataclass(frozen=True)
class SegmentResult:
    """What checking a segment's bytes from ``start`` found: the problems, every record found
    (complete lines, then a complete newline-less tail), the chain after the complete lines,
    and whether the bytes after the last newline are a live writer's line in progress."""

    problems: list[Problem]
    found: list[Found]
    chain: Chain
    live_tail: bool


class SegmentCheck(Protocol):
    """An extra check of each segment's bytes, run wherever the built-in ones run (``verify``
    and every reader): e.g. the signature over a segment's head.

    ``fingerprint()`` names the check and everything it reads besides the segment (the allowed
    keys, say): it is part of every cache key, so a change of it re-checks every segment.
    ``companions(path)``: other files the check reads for that segment (a signature file, say);
    their bytes are part of the segment's cache key. ``check(path, data, chain)`` gets the whole
    segment and the chain over its complete lines, and returns its problems.
    """

    def fingerprint(self) -> str: ...
    def companions(self, path: Path) -> list[Path]: ...
    def check(self, path: Path, data: bytes, chain: Chain) -> list[Problem]: ...


def verify(ledger_dir: Path, known_claims: set[str] | None = None,
           trusted_keys: dict[str, PublicKey] | None = None, *,
           require_signed: bool = False, checks: Sequence[SegmentCheck] = (),
           vouched: dict[str, int] | None = None) -> list[Problem]:
    """Every problem in the ledger under ``ledger_dir``, by file and line; empty when sound.

    ``known_claims``: the claim ids the contracts hold; records of any other claim are reported.
    ``trusted_keys``: check segment signatures too (:func:`signing.check_signatures`): every
    tampering, and unsigned segments or tails when ``require_signed``.
    ``checks``: extra per-segment checks (:class:`SegmentCheck`), as the readers run them.
    ``vouched``: segment name -> its first lines that a trusted signature covers (module
    docstring); None checks every line in full. Segments are checked on every core
    (:mod:`harness.ledger.pool`).
    """
    paths = segment_paths(Path(ledger_dir))
    vouched = vouched or {}
    calls = [(path, tuple(checks), vouched.get(path.name, 0)) for path in paths]
    problems: list[Problem] = []
    refs: list[Ref] = []
    for found, found_refs in map_segments(_verify_segment, calls, file_sizes(paths)):
        problems.extend(found)
        refs.extend(found_refs)
    problems.extend(cross_checks(refs, known_claims))
    if trusted_keys is not None:
        problems.extend(check_signatures(Path(ledger_dir), trusted_keys, require=require_signed))
    return sorted(problems, key=lambda p: (str(p.path), p.line or 0))


def _verify_segment(path: Path, checks: Sequence[SegmentCheck],
                    vouched: int) -> tuple[list[Problem], list[Ref]]:
    result = check_segment(path, path.read_bytes(), checks=checks, vouched=vouched)
    return result.problems, [ref_of(path, f.line, f.data) for f in result.found]


def vouched_lines(path: Path, data: bytes, checks: Sequence[SegmentCheck]) -> int:
    """How many of the segment's first lines a check vouches for (a trusted signature: its
    ``vouched(path, data)``); 0 when none does."""
    found = [c.vouched(path, data) for c in checks if hasattr(c, "vouched")]
    return max(found, default=0)


def check_segment(path: Path, data: bytes, start: Chain | None = None,
                  checks: Sequence[SegmentCheck] = (), vouched: int = 0) -> SegmentResult:
    """Check ``data`` (the whole segment) from ``start``: every complete line after it, the
    tail, and ``checks`` over the whole segment. Lines 1 to ``vouched`` are covered by a
    trusted signature (module docstring): parsed and chained, not re-derived. Records are never
    parsed twice: the result carries them for the index."""
    start = start or Chain()
    lines, offsets, tail = split_lines(data[start.size:])
    problems: list[Problem] = []
    found: list[Found] = []
    prev, prev_intact = start.last_hash, start.intact
    for i, raw in enumerate(lines):
        n = start.lines + i + 1
        if n <= vouched:
            checked = _signed_line(path, n, raw, problems)
        else:
            checked = _check_line(path, n, raw, problems)
        if checked is None:
            prev, prev_intact = None, False
            continue
        record, intact = checked
        problems.extend(_check_chain(path, n, record, prev, prev_intact))
        found.append(Found(n, start.size + offsets[i], len(raw), record))
        prev, prev_intact = record.get("hash"), intact
    size = start.size + (tail.offset if tail else len(data) - start.size)
    chain = Chain(size, start.lines + len(lines), prev if isinstance(prev, str) else None,
                  prev_intact)
    live = False
    if tail is not None:
        line = chain.lines + 1
        tail_record = line_hash_ok(tail.data)
        if tail_record is not None:
            found.append(Found(line, size, len(tail.data), tail_record))
        else:
            live = is_live(path)
        problems.extend(_check_tail(path, line, tail.data, tail_record, live))
    for check in checks:
        problems.extend(check.check(path, data, chain))
    return SegmentResult(problems, found, chain, live)


def _record_id(raw: bytes) -> str | None:
    found = _ID.search(raw)
    return found.group(1).decode("utf-8", "replace") if found else None


def _check_line(path: Path, n: int, raw: bytes,
                out: list[Problem]) -> tuple[dict[str, Any], bool] | None:
    """The record on line ``n`` when it is a JSON object, and whether its hash recomputes
    (problems found go to ``out``)."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        out.append(Problem(path, n, _record_id(raw), f"not valid JSON ({exc})",
                           _FIX_EDITED.format(path=path)))
        return None
    if not isinstance(data, dict):
        out.append(Problem(path, n, None, "a record must be a JSON object",
                           _FIX_EDITED.format(path=path)))
        return None
    rid = data.get("id") if isinstance(data.get("id"), str) else None
    version = data.get("schema")
    if isinstance(version, int) and version > RECORD_SCHEMA_VERSION:
        out.append(Problem(path, n, rid, f"unable to read record schema version {version}: this "
                           f"falsify reads version {RECORD_SCHEMA_VERSION} and older",
                           "upgrade falsify to a release that reads it"))
    else:
        out.extend(_check_schema(path, n, rid, data))
    problems, intact = _check_hash(path, n, rid, raw, data)
    out.extend(problems)
    return data, intact


def _signed_line(path: Path, n: int, raw: bytes,
                 out: list[Problem]) -> tuple[dict[str, Any], bool] | None:
    """A line a trusted signature covers: its projection (the fields readers use) when it is a
    record of this schema version, else the full check."""
    data = project(raw)
    if data is None or data["schema"] != RECORD_SCHEMA_VERSION:
        return _check_line(path, n, raw, out)
    return data, True


def _check_schema(path: Path, n: int, rid: str | None, data: dict[str, Any]) -> list[Problem]:
    errors = record_schema().errors(data)
    return [Problem(path, n, rid, f"schema: {e}", _FIX_EDITED.format(path=path))
            for e in errors[:_MAX_SCHEMA_ERRORS]]


def _check_hash(path: Path, n: int, rid: str | None, raw: bytes,
                data: dict[str, Any]) -> tuple[list[Problem], bool]:
    """Problems with the record's hash or form, and whether its hash recomputes."""
    fix = _FIX_EDITED.format(path=path)
    try:
        actual = body_hash(data)
    except (ValueError, TypeError) as exc:
        return [Problem(path, n, rid, f"record cannot be hashed ({exc})", fix)], False
    stored = data.get("hash")
    if actual != stored:
        return [Problem(path, n, rid, f"record {rid} was altered after it was written: its "
                        f"content hashes to {actual[:12]}…, its stored hash is "
                        f"{str(stored)[:12]}…", fix)], False
    if raw != canonical_json(data).encode("utf-8"):
        return [Problem(path, n, rid, "line is not in canonical JSON form (sorted keys, no "
                        "spaces): it was rewritten by another tool", fix)], True
    return [], True


def _check_chain(path: Path, n: int, data: dict[str, Any], prev: str | None,
                 prev_intact: bool) -> list[Problem]:
    rid, named = data.get("id"), data.get("prev")
    if (n == 1 and named is None) or (n > 1 and prev_intact and named == prev):
        return []  # the hot path of a million lines: no message to format
    fix = _FIX_EDITED.format(path=path)
    if n == 1:
        if named is None:
            return []
        return [Problem(path, n, rid, "the first record of a segment must have prev null; "
                        "records were removed from the start of this segment", fix)]
    if not prev_intact:
        return [Problem(path, n, rid, f"hash chain broken: the record before it (line {n - 1}) "
                        f"is not intact", fix)]
    if named != prev:
        return [Problem(path, n, rid, f"hash chain broken: prev is {str(named)[:12]}…, the "
                        f"record on line {n - 1} has hash {str(prev)[:12]}…; records were "
                        f"removed, reordered or inserted", fix)]
    return []


def _check_tail(path: Path, line: int, raw: bytes, record: dict[str, Any] | None,
                live: bool) -> list[Problem]:
    if record is not None:
        return [Problem(path, line, record.get("id"), "the last record lacks its final newline",
                        f"run `falsify ledger repair {path}`, which appends it")]
    if live:
        return [Problem(path, line, _record_id(raw), LIVE_TAIL,
                        "re-run `falsify verify` after the session ends")]
    node = _NODE.search(raw)
    rerun = f"`pytest '{node.group(1).decode('utf-8', 'replace')}'`" if node else "its falsifier"
    return [Problem(path, line, _record_id(raw),
                    f"torn last line ({len(raw)} bytes, no newline): the writer was killed "
                    f"mid-append",
                    f"the earlier records are intact; run `falsify ledger repair {path}` to move "
                    f"the torn bytes to {path.name}.torn, then append a new record by re-running "
                    f"{rerun}")]


# (segment, line, record id, claim, subject, id of the record it amends): what the checks
# across segments need of each record; the readers build them from the index.
Ref = tuple[Path, int, str | None, str, str, str | None]


def ref_of(path: Path, line: int, data: dict[str, Any]) -> Ref:
    rid = data.get("id")
    amends = data.get("amends")
    target = amends.get("record") if isinstance(amends, dict) else None
    return (path, line, rid if isinstance(rid, str) else None, str(data.get("claim")),
            str(data.get("subject")), target if isinstance(target, str) else None)


def cross_checks(refs: Iterable[Ref], known_claims: set[str] | None = None) -> list[Problem]:
    """Problems across records, in ``refs`` order: duplicate ids, amendments of records that are
    not in the ledger or are about another claim or subject, records of unknown claims."""
    ids: dict[str, tuple[Path, int]] = {}
    keys: dict[str, tuple[str, str]] = {}
    problems: list[Problem] = []
    kept: list[Ref] = []
    for ref in refs:
        path, n, rid, claim, subject, _ = ref
        if rid is None:
            continue
        first = ids.get(rid)
        if first is not None:
            problems.append(Problem(
                path, n, rid, f"duplicate record id {rid} (first at {first[0]}:{first[1]})",
                "a segment was copied under a second name or a line duplicated; keep the "
                "original segment only (segment names never change)"))
            continue
        ids[rid] = (path, n)
        keys[rid] = (claim, subject)
        kept.append(ref)
    for path, n, rid, claim, subject, target in kept:
        if target is None:
            continue
        if target not in keys:
            problems.append(Problem(path, n, rid, f"amends record {target}, which is not in the "
                            f"ledger", "merge the segment that holds it (`falsify ledger "
                            "merge`), or append a new amendment naming the right record"))
        elif keys[target] != (claim, subject):
            was = "/".join(keys[target])
            problems.append(Problem(path, n, rid, f"amends record {target} of {was}, but is "
                            f"itself about {claim}/{subject}", "append a new amendment with the "
                            "claim and subject of the record it corrects"))
    if known_claims is not None:
        for path, n, rid, claim, _, _ in kept:
            if claim not in known_claims:
                problems.append(Problem(path, n, rid, f"record of claim {claim}, which no "
                                "contract defines", f"restore claim {claim} in contracts/, or, "
                                "if it was renamed or retired, say so with an amending record; "
                                "records are never deleted"))
    return problems
