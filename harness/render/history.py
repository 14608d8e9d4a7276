"""Every record's history row: what verdict tables, timelines and metric plots need of it.

A render needs the latest records in full (``Ledger.latest()`` and ``Ledger.load``) but of every
other record only a few fields: id, kind, claim, subject, role, verdict, time, commit and the
measurements. Parsing 100,000 full records on every render costs seconds, so each segment's rows are
cached (marshal, flat tuples) in ``<cache>/render-history/`` and reused while the segment's key is
unchanged: the key the ledger verified it under (``harness.ledger.trust.segment_key``), which any
write to the segment changes, so history never shows bytes other than the verified ones (a render
verifies the ledger first: ``Ledger.verified_keys``). The cache is only a cache: an unreadable one
(or one written by another Python) is rebuilt from the segment. Lines are read with the ledger's own
helpers, so a corrupt or torn line fails here exactly as it fails in ``Ledger.records()``.
"""

from __future__ import annotations

import hashlib
import marshal
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from harness.atomic import write_atomic
from harness.ledger.index import check_tail, parse_line
from harness.ledger.segment import LedgerError, segment_paths, split_lines, verify_hint
from harness.ledger.trust import segment_key
from harness.records import Measurement

__all__ = ["Entry", "RawMeasurement", "history_entries", "raw_point"]

_FORMAT = 5  # 5: vector measurements (schema 2) keep their elements
# marshal's format belongs to the interpreter: a cache written by another Python is rebuilt
_TAG = (_FORMAT, marshal.version, *sys.version_info[:2])

# A measurement as history keeps it: (name, value, unit, n, ci low, ci high, ci level,
# nonfinite); value is None when nonfinite names it. A vector keeps its elements in value (a
# tuple) and nonfinite (sorted (index, tag) pairs); its intervals and labels are not kept.
# Flat tuples load several times faster than the record's JSON objects.
RawMeasurement = tuple[str, Any, str, int | None, float | None, float | None,
                       float | None, Any]


def _raw(m: dict[str, Any]) -> RawMeasurement:
    ci = m.get("ci")
    lo, hi = (ci[0], ci[1]) if ci else (None, None)
    if "values" in m:  # tuples, not lists: entries are hashed (render memoises on them)
        tags = tuple(sorted((m.get("nonfinite") or {}).items()))
        return (m["name"], tuple(m["values"]), m["unit"], m.get("n"), lo, hi,
                m.get("ci_level"), tags)
    return (m["name"], m["value"], m["unit"], m.get("n"), lo, hi, m.get("ci_level"),
            m.get("nonfinite"))


class Entry(NamedTuple):
    """One record as history shows it; ``measurement(name)`` builds that one Measurement.

    A named tuple rather than a dataclass: 100,000 of them are built per render, and a tuple
    is built in C."""

    id: str
    kind: str
    claim: str
    subject: str
    role: str
    verdict: str
    created: str
    hypothesis: str | None
    amends: str | None
    amends_why: str | None
    commit: str | None
    raw_measurements: Sequence[RawMeasurement]
    hash: str  # the record's own hash: it covers every field, so it names the content

    def measurement(self, name: str) -> Measurement | None:
        for name_, value, unit, n, lo, hi, level, nonfinite in self.raw_measurements:
            if name_ == name and isinstance(value, tuple | list):
                return Measurement.from_json({"name": name, "values": list(value), "unit": unit,
                                              "n": n, "nonfinite": dict(nonfinite or ())})
            if name_ == name:
                if value is None:
                    value = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[
                        str(nonfinite)]
                ci = None if lo is None or hi is None else (float(lo), float(hi))
                return Measurement(name=name, value=float(value), unit=unit, n=n, ci=ci,
                                   ci_level=level)
        return None

    def point(self, name: str) -> tuple[float, float | None, float | None] | None:
        """(value, CI low, CI high) of a finite measurement, without building it; else None."""
        for raw in self.raw_measurements:
            if raw[0] == name:
                return raw_point(raw)
        return None


def raw_point(raw: RawMeasurement) -> tuple[float, float | None, float | None] | None:
    """(value, CI low, CI high) of a measurement in history's form; None when not finite."""
    value, lo, hi = raw[1], raw[4], raw[5]
    if value is None or isinstance(value, tuple | list):  # non-finite ("nonfinite"), or a vector
        return None
    if lo is None or hi is None:
        return float(value), None, None
    return float(value), float(lo), float(hi)


def _row(data: dict[str, Any], path: Path, line: int) -> tuple[Any, ...]:
    try:
        amends = data.get("amends") or {}
        git = (data.get("provenance") or {}).get("git") or {}
        return (data["id"], data["kind"], data["claim"], data["subject"], data["role"],
                data["verdict"], data["created"], data.get("hypothesis"), amends.get("record"),
                amends.get("why"), git.get("commit"),
                tuple(_raw(m) for m in data["measurements"]), data["hash"])
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        problem = f"not a valid record (missing or malformed {exc})"
        raise LedgerError(verify_hint(path, line, problem)) from None


def _parse(path: Path) -> tuple[list[tuple[Any, ...]], bool]:
    """Rows of every complete line; and whether the segment ended cleanly (cacheable)."""
    lines, _, tail = split_lines(path.read_bytes())
    rows = [_row(parse_line(raw, path, n), path, n) for n, raw in enumerate(lines, 1)]
    if tail is not None:
        data = check_tail(path, tail)
        if data is not None:
            rows.append(_row(data, path, tail.line))
    return rows, tail is None


def _cache_file(cache_dir: Path, segment: Path) -> Path:
    tag = hashlib.sha256(str(segment.resolve()).encode()).hexdigest()[:16]
    return cache_dir / f"{tag}-{segment.stem}.marshal"


def _cached(cache_dir: Path, segment: Path, key: str) -> list[tuple[Any, ...]] | None:
    try:
        data = marshal.loads(_cache_file(cache_dir, segment).read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if (not isinstance(data, tuple) or len(data) != 3 or data[0] != _TAG or data[1] != key
            or not isinstance(data[2], list)):
        return None
    rows: list[tuple[Any, ...]] = data[2]
    return rows


def _save(cache_dir: Path, segment: Path, key: str, rows: list[tuple[Any, ...]]) -> None:
    write_atomic(_cache_file(cache_dir, segment), marshal.dumps((_TAG, key, rows)))


def _segment_rows(segment: Path, cache_dir: Path | None, key: str) -> list[tuple[Any, ...]]:
    if cache_dir is not None:
        cached = _cached(cache_dir, segment, key)
        if cached is not None:
            return cached
    rows, clean = _parse(segment)
    if cache_dir is not None and clean:
        _save(cache_dir, segment, key, rows)
    return rows


def history_entries(ledger_dir: Path, cache_dir: Path | None = None,
                    keys: Mapping[str, str] | None = None) -> list[Entry]:
    """Every record's entry in ledger order: (created, segment name, line), as ``records()``.

    ``keys``: each segment's verified key (``Ledger.verified_keys()``); by default each
    segment's key now."""
    found: list[tuple[str, str, int, Entry]] = []
    make = Entry._make
    for path in segment_paths(ledger_dir):
        name = path.name
        key = keys[name] if keys is not None and name in keys else segment_key(path)[0]
        found.extend((row[6], name, n, make(row))
                     for n, row in enumerate(_segment_rows(path, cache_dir, key)))
    found.sort()  # (created, segment, line) is unique: the entries themselves never compare
    return [t[3] for t in found]
