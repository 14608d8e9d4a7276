"""``falsify verify``: check every line of every segment, and the ledger as a whole.

Per line: valid JSON, a schema version this falsify reads, valid against
``harness/schema/record.schema.json``, a hash that recomputes, canonical form, and a ``prev`` that
names the record before it in the segment. Per segment: a torn last line (its writer was killed
mid-append). With trusted keys, each segment's signature (``harness.ledger.signing``). Across
segments: duplicate ids, amendments naming records that do not exist or that
are about another claim or subject, and records of claims the contracts no longer hold.

Everything found is returned; nothing is skipped and nothing is changed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.ledger.keys import PublicKey
from harness.ledger.problem import Problem
from harness.ledger.schema import SCHEMA_PATH, record_schema
from harness.ledger.segment import body_hash, is_live, line_hash_ok, segment_paths, split_lines
from harness.ledger.signing import check_signatures
from harness.records import RECORD_SCHEMA_VERSION, canonical_json

__all__ = ["SCHEMA_PATH", "Problem", "verify"]

# In canonical (sorted) order the top-level "hypothesis" is directly followed by "id".
_ID = re.compile(rb'"hypothesis":(?:null|"[^"\\]*"),"id":"([^"\\]{1,200})"')
_NODE = re.compile(rb'"node_id":"([^"\\]{1,500})"')
_MAX_SCHEMA_ERRORS = 3

_FIX_EDITED = ("records are only ever appended by falsify; restore this segment from git "
               "(`git log -p -- {path}`), and correct evidence with an amending record, never by "
               "editing a line")


@dataclass
class _Seen:
    """What the per-line pass remembers for the cross-segment checks."""

    ids: dict[str, tuple[Path, int]] = field(default_factory=dict)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    amends: list[tuple[Path, int, str, str, tuple[str, str]]] = field(default_factory=list)
    claims: list[tuple[Path, int, str, str]] = field(default_factory=list)


def verify(ledger_dir: Path, known_claims: set[str] | None = None,
           trusted_keys: dict[str, PublicKey] | None = None, *,
           require_signed: bool = False) -> list[Problem]:
    """Every problem in the ledger under ``ledger_dir``, by file and line; empty when sound.

    ``known_claims``: the claim ids the contracts hold; records of any other claim are reported.
    ``trusted_keys``: check segment signatures too (:func:`signing.check_signatures`): every
    tampering, and unsigned segments or tails when ``require_signed``.
    """
    problems: list[Problem] = []
    seen = _Seen()
    for path in segment_paths(Path(ledger_dir)):
        problems.extend(_verify_segment(path, seen))
    problems.extend(_cross_checks(seen, known_claims))
    if trusted_keys is not None:
        problems.extend(check_signatures(Path(ledger_dir), trusted_keys, require=require_signed))
    return sorted(problems, key=lambda p: (str(p.path), p.line or 0))


def _verify_segment(path: Path, seen: _Seen) -> list[Problem]:
    lines, _, tail = split_lines(path.read_bytes())
    problems: list[Problem] = []
    prev: str | None = None  # the stored hash of the line before
    prev_intact = True
    for n, raw in enumerate(lines, 1):
        checked = _check_line(path, n, raw, problems)
        if checked is None:
            prev, prev_intact = None, False
            continue
        data, intact = checked
        problems.extend(_check_chain(path, n, data, prev, prev_intact))
        _remember(seen, path, n, data, problems)
        prev, prev_intact = data.get("hash"), intact
    if tail is not None:
        problems.extend(_check_tail(path, tail.line, tail.data, seen))
    return problems


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


def _check_tail(path: Path, line: int, raw: bytes, seen: _Seen) -> list[Problem]:
    data = line_hash_ok(raw)
    if data is not None:
        problems = [Problem(path, line, data.get("id"), "the last record lacks its final newline",
                            f"run `falsify ledger repair {path}`, which appends it")]
        _remember(seen, path, line, data, problems)
        return problems
    if is_live(path):
        return [Problem(path, line, _record_id(raw), "a live session is writing this line now",
                        "re-run `falsify verify` after the session ends")]
    node = _NODE.search(raw)
    rerun = f"`pytest '{node.group(1).decode('utf-8', 'replace')}'`" if node else "its falsifier"
    return [Problem(path, line, _record_id(raw),
                    f"torn last line ({len(raw)} bytes, no newline): the writer was killed "
                    f"mid-append",
                    f"the earlier records are intact; run `falsify ledger repair {path}` to move "
                    f"the torn bytes to {path.name}.torn, then append a new record by re-running "
                    f"{rerun}")]


def _remember(seen: _Seen, path: Path, n: int, data: dict[str, Any],
              out: list[Problem]) -> None:
    rid = data.get("id")
    if not isinstance(rid, str):
        return
    first = seen.ids.get(rid)
    if first is not None:
        out.append(Problem(path, n, rid, f"duplicate record id {rid} (first at "
                           f"{first[0]}:{first[1]})",
                           "a segment was copied under a second name or a line duplicated; "
                           "keep the original segment only (segment names never change)"))
        return
    seen.ids[rid] = (path, n)
    key = (str(data.get("claim")), str(data.get("subject")))
    seen.keys[rid] = key
    seen.claims.append((path, n, rid, key[0]))
    amends = data.get("amends")
    if isinstance(amends, dict) and isinstance(amends.get("record"), str):
        seen.amends.append((path, n, rid, amends["record"], key))


def _cross_checks(seen: _Seen, known_claims: set[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    for path, n, rid, target, key in seen.amends:
        if target not in seen.keys:
            problems.append(Problem(path, n, rid, f"amends record {target}, which is not in the "
                            f"ledger", "merge the segment that holds it (`falsify ledger "
                            "merge`), or append a new amendment naming the right record"))
        elif seen.keys[target] != key:
            was = "/".join(seen.keys[target])
            problems.append(Problem(path, n, rid, f"amends record {target} of {was}, but is "
                            f"itself about {'/'.join(key)}", "append a new amendment with the "
                            "claim and subject of the record it corrects"))
    if known_claims is not None:
        for path, n, rid, claim in seen.claims:
            if claim not in known_claims:
                problems.append(Problem(path, n, rid, f"record of claim {claim}, which no "
                                "contract defines", f"restore claim {claim} in contracts/, or, "
                                "if it was renamed or retired, say so with an amending record; "
                                "records are never deleted"))
    return problems
