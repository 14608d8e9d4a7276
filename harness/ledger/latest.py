"""``latest()``: the newest record per key, amendments applied, remembered between runs.

Order. Records are ordered by (created, segment name, row). A record that amends another stands
in the place of the record it corrects: its order is the original's position followed by its
own, so it beats the original and every other correction made before it, but not evidence newer
than the original. The amended record drops out.

Cache. The result is saved beside the segment indexes together with each segment's key (the key the
ledger verified the segment under, ``harness.ledger.trust``: it changes with any byte of the
segment, so a saved answer never outlives the bytes it came from). When the ledger has only gained
new segments since, and none of their records amends anything, only the new segments are read and
merged into the saved result: ``falsify status`` after a session costs the new segment, not the
ledger. Anything else recomputes from the indexes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.ledger.index import SegmentIndex, Summary

__all__ = ["Amendments", "latest"]

_FORMAT = 3  # 3: summaries carry ``code``
Order = tuple[Any, ...]
Key = tuple[Any, ...]
Winners = dict[Key, tuple[Order, Summary]]


class Amendments:
    """Which records are superseded, and where each amended record sits."""

    def __init__(self, indexes: list[SegmentIndex], superseded: set[str] | None = None) -> None:
        self.indexes = indexes
        self.superseded: set[str] = {t for ix in indexes for t in ix.cols["amends"] if t}
        self.superseded |= superseded or set()
        self.pos: dict[str, tuple[int, int]] = {}
        if self.superseded:
            for i, ix in enumerate(indexes):
                for r, rid in enumerate(ix.cols["id"]):
                    if rid in self.superseded:
                        self.pos[rid] = (i, r)

    def root(self, i: int, r: int) -> tuple[int, int] | None:
        """The first record of the amendment chain through (i, r); None when it is missing."""
        seen: set[str] = set()
        while (target := self.indexes[i].cols["amends"][r]) is not None:
            if target in seen or target not in self.pos:
                return None
            seen.add(target)
            i, r = self.pos[target]
        return i, r

    def origin(self, i: int, r: int, kind: str) -> Order | None:
        """Where the amending record (i, r) stands: its original's position, when it counts
        as ``kind`` (an amendment counts as the kind of the record it corrects)."""
        ixs = self.indexes
        own_kind = ixs[i].value("kind", r)
        root = self.root(i, r)
        if root is None:  # the corrected record is not here: verify reports it
            return (ixs[i].cols["created"][r], ixs[i].name, r) if own_kind == kind else None
        ri, rr = root
        effective = own_kind if own_kind != "amendment" else ixs[ri].value("kind", rr)
        if effective != kind:
            return None
        return ixs[ri].cols["created"][rr], ixs[ri].name, rr


def _segment_best(ix: SegmentIndex, i: int, kind: str, amend: Amendments,
                  columns: list[list[int]]) -> list[tuple[int, Order]]:
    """Segment ``i``'s best row per key among rows standing for ``kind``, with their order."""
    code, amendment = ix.lookup(kind), ix.lookup("amendment")
    if code is None and amendment is None:
        return []
    kinds, ids, created, amends = (ix.cols[c] for c in ("kind", "id", "created", "amends"))
    superseded, name = amend.superseded, ix.name
    plain: dict[tuple[int, ...], int] = {}  # key codes -> row: the hot loop, kept lean
    amending: list[tuple[int, Order]] = []
    for r in range(len(ix)):
        if superseded and ids[r] in superseded:
            continue
        if amends[r] is None:
            if kinds[r] == code:
                k = tuple(col[r] for col in columns)
                seen = plain.get(k)
                if seen is None or created[r] >= created[seen]:
                    plain[k] = r
            continue
        origin = amend.origin(i, r, kind)
        if origin is not None:
            amending.append((r, (*origin, created[r], name, r)))
    return [(r, (created[r], name, r)) for r in plain.values()] + amending


def _scan(ixs: list[SegmentIndex], kind: str, key: tuple[str, ...],
          amend: Amendments) -> Winners:
    best: dict[Key, tuple[Order, int, int]] = {}
    for i, ix in enumerate(ixs):
        columns = [ix.cols[c] for c in key]
        for r, order in _segment_best(ix, i, kind, amend, columns):
            k = tuple(ix.vocab[col[r]] for col in columns)
            current = best.get(k)
            if current is None or order > current[0]:
                best[k] = (order, i, r)
    return {k: (order, ixs[i].summary(r)) for k, (order, i, r) in best.items()}


def _merge(into: Winners, more: Winners) -> Winners:
    for k, (order, summary) in more.items():
        current = into.get(k)
        if current is None or order > current[0]:
            into[k] = (order, summary)
    return into


@dataclass(frozen=True)
class _Saved:
    segments: dict[str, str]
    superseded: set[str]
    winners: Winners


def _read(cache: Path | None, tag: str) -> _Saved | None:
    if cache is None:
        return None
    try:
        data = json.loads(cache.read_bytes())
        if data.get("format") != _FORMAT or data.get("tag") != tag:
            return None
        return _Saved({str(n): str(k) for n, k in data["segments"].items()},
                      set(data["superseded"]),
                      {tuple(k): (tuple(o), Summary.from_json(s)) for k, o, s in data["winners"]})
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a cache, not evidence: recomputed


def _save(cache: Path, tag: str, saved: _Saved) -> None:
    data = {"format": _FORMAT, "tag": tag, "segments": saved.segments,
            "superseded": sorted(saved.superseded),
            "winners": [[list(k), list(o), s.to_json()] for k, (o, s) in saved.winners.items()]}
    write_atomic(cache, json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())


def latest(paths: list[Path], keys: dict[str, str], load: Callable[[Path], SegmentIndex],
           kind: str, key: tuple[str, ...], cache: Path | None) -> dict[Key, Summary]:
    """The newest record of ``kind`` per ``key`` (index column names) over the segments, whose
    verified keys are ``keys`` (segment name -> key)."""
    tag = f"{kind}:{','.join(key)}"
    saved = _read(cache, tag)
    if saved is not None and all(keys.get(n) == k for n, k in saved.segments.items()):
        fresh = [load(p) for p in paths if p.name not in saved.segments]
        if not any(t for ix in fresh for t in ix.cols["amends"]):
            found = _scan(fresh, kind, key, Amendments(fresh, saved.superseded))
            winners = _merge(dict(saved.winners), found)
            if cache is not None and fresh:
                _save(cache, tag, _Saved(dict(keys), saved.superseded, winners))
            return {k: s for k, (_, s) in winners.items()}
    ixs = [load(p) for p in paths]
    amend = Amendments(ixs)
    winners = _scan(ixs, kind, key, amend)
    if cache is not None:
        _save(cache, tag, _Saved(dict(keys), amend.superseded, winners))
    return {k: s for k, (_, s) in winners.items()}
