"""The summary index: per segment, only what ``latest()`` and ``falsify status`` need.

Parsing every line of a 100,000-record ledger costs about a second; ``status`` and ``gate`` must
answer in less. Each segment therefore gets a cache file under ``<cache>/ledger-index/`` holding,
per record, the id, kind, claim, subject, verdict, created, claim hash, role, expect, hypothesis,
amended id, input hashes, code identity (``provenance.code``: falsifier files and harness hash),
byte offset and length, as dictionary-coded columns (few distinct claims and subjects, many
records).

Verification. An index is built only from bytes that passed ``falsify verify``'s checks of that
segment (``harness.ledger.verify.check_segment``: JSON, schema, hash, canonical form, chain, tail,
and any extra :class:`~harness.ledger.verify.SegmentCheck`); a segment with a problem raises
:class:`~harness.ledger.trust.LedgerTampered` and is never indexed. The same pass that checks a
line indexes it: no line is parsed twice.

Validity: an index is used as-is when its segment key (``harness.ledger.trust.segment_key``:
device, inode, size, mtime_ns and ctime_ns, plus the content hash while the segment is recent)
and the extra checks' fingerprint match; otherwise the segment is read and, when its first
``size`` bytes still hash to the indexed prefix (append-only growth, or a fresh checkout that only
changed the stat), only the new bytes are checked and indexed, the chain resuming from the
indexed last hash. Anything else re-checks and rebuilds the whole segment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import msgspec

from harness.atomic import write_atomic
from harness.ledger.segment import (
    LedgerError,
    Tail,
    is_live,
    line_hash_ok,
    verify_hint,
)
from harness.ledger.trust import LedgerTampered, fingerprint
from harness.ledger.verify import (
    LIVE_TAIL,
    Chain,
    Found,
    SegmentCheck,
    check_segment,
    vouched_lines,
)
from harness.records import (
    RECORD_SCHEMA_VERSION,
    RecordFormatError,
    Status,
    migrate,
)

__all__ = ["CODED", "RAW", "SegmentIndex", "Summary", "check_tail", "is_cached", "load_index",
           "parse_line"]

_FORMAT = 1
# Dictionary-coded columns (few distinct values) and raw ones (one value per record).
CODED = ("kind", "claim", "subject", "verdict", "claim_sha256", "role", "expect", "hypothesis",
         "inputs", "code")
RAW = ("id", "created", "amends", "offset", "length")


def parse_line(raw: bytes, path: Path, line: int) -> dict[str, Any]:
    """One line as a record dict; LedgerError naming ``path:line`` when it is not one."""
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise LedgerError(verify_hint(path, line, f"not valid JSON ({exc})")) from None
    if not isinstance(data, dict):
        raise LedgerError(verify_hint(path, line, "a record must be a JSON object"))
    return _migrated(data, path, line)


def _migrated(data: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
    if data.get("schema") != RECORD_SCHEMA_VERSION:
        try:
            data = migrate(data)
        except RecordFormatError as exc:
            msg = f"{path}:{line}: {exc}"
            raise LedgerError(msg) from None
    return data


def check_tail(path: Path, tail: Tail) -> dict[str, Any] | None:
    """The record on a segment's newline-less tail when complete; None while a live writer is
    writing it; LedgerError when its writer died mid-append."""
    data = line_hash_ok(tail.data)
    if data is not None:
        return parse_line(tail.data, path, tail.line)
    if is_live(path):
        return None
    problem = "torn last line: its writer was killed mid-append"
    raise LedgerError(verify_hint(path, tail.line, problem))


CodeKey = tuple[tuple[str, str, str], ...]


def _code_key(provenance: Any) -> CodeKey | None:
    """``provenance.code`` as a vocabulary value, in the shape of an input set: one
    ``("falsifier", path, sha256)`` per file, then ``("harness", version, sha256)``. Few distinct
    values (one per falsifier module and harness build); tuples, as JSON costs 7x more here."""
    code = provenance.get("code") if isinstance(provenance, dict) else None
    if not isinstance(code, dict):
        return None
    try:
        files = tuple(("falsifier", str(f["path"]), str(f["sha256"]))
                      for f in code["falsifier"])
        harness = code["harness"]
        return (*files, ("harness", str(harness["version"]), str(harness["sha256"])))
    except (KeyError, TypeError):
        return None  # not the schema's shape; verification reports the record


def _code_dict(key: list[list[str]] | None) -> dict[str, Any] | None:
    if key is None:
        return None
    return {"falsifier": [{"path": a, "sha256": b} for kind, a, b in key if kind == "falsifier"],
            "harness": next({"version": a, "sha256": b} for kind, a, b in key
                            if kind == "harness")}


def _hashable(value: Any) -> Hashable:
    return tuple(tuple(i) for i in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Summary:
    """What the index knows of one record; ``Ledger.load(summary)`` gives the full Record.

    ``amends`` is the id of the amended record (``Record.amends`` is ``{"record", "why"}``);
    ``inputs`` holds each input's path, kind and sha256; ``code`` is ``Record.code``.
    """

    id: str
    kind: str
    claim: str
    subject: str
    verdict: Status
    created: str
    claim_sha256: str
    role: str
    expect: str | None
    hypothesis: str | None
    amends: str | None
    inputs: tuple[dict[str, Any], ...]
    code: dict[str, Any] | None
    segment: Path
    line: int
    offset: int
    length: int

    @property
    def where(self) -> str:
        return f"{self.segment}:{self.line}"

    def to_json(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)},
                "verdict": self.verdict.value, "segment": str(self.segment),
                "inputs": [dict(i) for i in self.inputs]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        return cls(**{**data, "verdict": Status(data["verdict"]), "segment": Path(data["segment"]),
                      "inputs": tuple(data["inputs"])})


class SegmentIndex:
    """Columnar summaries of one segment. Rows are records in line order (row r is line r+1)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        # str, None, or an input set ([[path, kind, sha256], ...]) or code ([[kind, a, b], ...])
        self.vocab: list[Any] = []
        self.cols: dict[str, list[Any]] = {k: [] for k in CODED + RAW}
        self._columns = [self.cols[k] for k in CODED + RAW]
        self.key = ""  # the segment key (harness.ledger.trust) of the bytes indexed
        self.checks = ""  # the extra checks' fingerprint the bytes passed
        self.chain = Chain()  # where the checked, indexed complete lines end
        self.prefix_sha256 = hashlib.sha256(b"").hexdigest()
        self._codes: dict[Hashable, int] = {}
        self._parsed: dict[int, dict[str, Any] | None] = {}

    def __len__(self) -> int:
        return len(self.cols["id"])

    @property
    def size(self) -> int:
        """Bytes covered by the checked, newline-terminated lines."""
        return self.chain.size

    def code(self, value: Hashable) -> int:
        """The code of a vocabulary value (a string, None, or an input set as tuples)."""
        found = self._codes.get(value)
        if found is None:
            found = self._codes[value] = len(self.vocab)
            self.vocab.append([list(i) for i in value] if isinstance(value, tuple) else value)
        return found

    def lookup(self, value: str | None) -> int | None:
        """The code of ``value``, or None when no row holds it."""
        return self._codes.get(value)

    def value(self, column: str, row: int) -> Any:
        raw = self.cols[column][row]
        return self.vocab[raw] if column in CODED else raw

    def _code(self, row: int) -> dict[str, Any] | None:
        """The row's code identity, parsed once per distinct value (shared, read-only)."""
        raw = self.cols["code"][row]
        if raw not in self._parsed:
            self._parsed[raw] = _code_dict(self.vocab[raw])
        return self._parsed[raw]

    def summary(self, row: int) -> Summary:
        v = self.value
        try:
            verdict = Status(v("verdict", row))
        except ValueError:
            problem = f"unknown verdict {v('verdict', row)!r}"
            raise LedgerError(verify_hint(self.path, row + 1, problem)) from None
        return Summary(
            id=v("id", row), kind=v("kind", row), claim=v("claim", row),
            subject=v("subject", row), verdict=verdict, created=v("created", row),
            claim_sha256=v("claim_sha256", row), role=v("role", row), expect=v("expect", row),
            hypothesis=v("hypothesis", row), amends=v("amends", row),
            inputs=tuple({"path": p, "kind": k, "sha256": s} for p, k, s in v("inputs", row)),
            code=self._code(row), segment=self.path, line=row + 1, offset=v("offset", row),
            length=v("length", row))

    def add(self, data: dict[str, Any], offset: int, length: int, line: int) -> None:
        for column, value in zip(self._columns, self._row(data, offset, length, line),
                                 strict=True):
            column.append(value)

    def _row(self, data: dict[str, Any], offset: int, length: int,
             line: int) -> tuple[Any, ...]:
        """One record's column values. The hot loop of a cold read (a million records): one
        dict lookup per coded value, and rows transposed into the columns in C (add_found)."""
        try:
            amends = data["amends"]
            coded = (data["kind"], data["claim"], data["subject"], data["verdict"],
                     data["claim_sha256"], data["role"], data.get("expect"),
                     data.get("hypothesis"),
                     tuple([(i["path"], i["kind"], i["sha256"]) for i in data["inputs"]]),
                     _code_key(data.get("provenance")))
            get = self._codes.get
            codes = [get(value) for value in coded]
            raw = (data["id"], data["created"], amends["record"] if amends else None, offset,
                   length)
        except (KeyError, TypeError, AttributeError) as exc:
            problem = f"record lacks a well-formed field ({exc!r})"
            raise LedgerError(verify_hint(self.path, line, problem)) from None
        if None in codes:
            codes = [self.code(value) for value in coded]
        return (*codes, *raw)

    def add_found(self, found: list[Found]) -> None:
        """Index records that passed the checks (migrated to this schema version first)."""
        path = self.path
        rows = [self._row(_migrated(f.data, path, f.line), f.offset, f.length, f.line)
                for f in found]
        if rows:
            for column, values in zip(self._columns, zip(*rows, strict=True), strict=True):
                column.extend(values)

    def to_json(self) -> dict[str, Any]:
        c = self.chain
        return {"format": _FORMAT, "segment": str(self.path.resolve()), "key": self.key,
                "checks": self.checks, "chain": [c.size, c.lines, c.last_hash, c.intact],
                "prefix_sha256": self.prefix_sha256, "vocab": self.vocab, "cols": self.cols}

    @classmethod
    def from_json(cls, path: Path, data: Any) -> SegmentIndex | None:
        """The index in ``data`` when it is one for ``path`` in this format, else None."""
        if (not isinstance(data, dict) or data.get("format") != _FORMAT
                or data.get("segment") != str(path.resolve())):
            return None
        index = cls(path)
        index.vocab = list(data["vocab"])
        index._codes = {_hashable(v): i for i, v in enumerate(index.vocab)}
        index.cols = {k: list(data["cols"][k]) for k in CODED + RAW}
        index._columns = [index.cols[k] for k in CODED + RAW]
        index.key, index.checks = str(data["key"]), str(data["checks"])
        size, lines, last, intact = data["chain"]
        index.chain = Chain(int(size), int(lines), None if last is None else str(last),
                            bool(intact))
        index.prefix_sha256 = str(data["prefix_sha256"])
        return index


# Bump when the cached layout changes: a cache of another layout is then never read, only rebuilt.
INDEX_FORMAT = 5  # 4: the code column (provenance.code); 5: code as tuples, not JSON text


def _cache_file(index_dir: Path, segment: Path) -> Path:
    tag = hashlib.sha256(str(segment.resolve()).encode()).hexdigest()[:16]
    return index_dir / f"{tag}-{segment.stem}.v{INDEX_FORMAT}.json"


def _read_cached(index_dir: Path | None, segment: Path) -> SegmentIndex | None:
    if index_dir is None:
        return None
    try:
        data = msgspec.json.decode(_cache_file(index_dir, segment).read_bytes())
        return SegmentIndex.from_json(segment, data)
    except (OSError, ValueError, KeyError, TypeError, msgspec.DecodeError):
        return None  # a cache, not evidence: rebuilt from the segment


def _save(index_dir: Path, index: SegmentIndex) -> None:
    write_atomic(_cache_file(index_dir, index.path), msgspec.json.encode(index.to_json()))


def is_cached(index_dir: Path | None, segment: Path) -> bool:
    """Whether the segment has a saved index (of any key): cheap, no read."""
    return index_dir is not None and _cache_file(index_dir, segment).exists()


def load_index(segment: Path, index_dir: Path | None, key: str, data: bytes | None = None,
               checks: Sequence[SegmentCheck] = ()) -> SegmentIndex:
    """The index of the segment whose key is ``key`` (``harness.ledger.trust.segment_key``; its
    bytes ``data`` when already read): cached when saved under that key, else its new bytes
    checked and indexed (and saved). LedgerTampered when a check fails."""
    tag = fingerprint(checks)
    cached = _read_cached(index_dir, segment)
    if cached is not None and cached.key == key and cached.checks == tag:
        return cached
    data = segment.read_bytes() if data is None else data
    index = SegmentIndex(segment)
    if (cached is not None and cached.checks == tag and len(data) >= cached.size
            and hashlib.sha256(data[:cached.size]).hexdigest() == cached.prefix_sha256):
        index = cached
    result = check_segment(segment, data, index.chain, checks,
                           vouched_lines(segment, data, checks))
    problems = [p for p in result.problems if p.message != LIVE_TAIL]
    if problems:
        raise LedgerTampered(problems)
    index.add_found(result.found)
    index.chain = result.chain
    index.prefix_sha256 = hashlib.sha256(data[:result.chain.size]).hexdigest()
    index.key, index.checks = key, tag
    if index_dir is not None:
        _save(index_dir, index)
    return index
