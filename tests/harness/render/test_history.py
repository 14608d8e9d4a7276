"""History entries: the ledger's order and fields, cached per segment, never trusted blindly."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.ledger import LedgerError
from harness.render.history import history_entries
from tests.harness.render.space import lm_ms, populated


def test_entries_follow_the_ledger(tmp_path: Path) -> None:
    space = populated(tmp_path)
    records = space.ledger().records()
    entries = history_entries(space.ledger_dir, tmp_path / "cache")
    assert [e.id for e in entries] == [r.id for r in records]
    for e, r in zip(entries, records, strict=True):
        assert (e.claim, e.subject, e.role, e.verdict, e.created, e.kind) == (
            r.claim, r.subject, r.role, str(r.verdict), r.created, r.kind)
        assert e.commit == r.provenance["git"]["commit"]
        assert [e.measurement(m.name) for m in r.measurements] == list(r.measurements)


def test_cache_is_used_refreshed_and_rebuilt(tmp_path: Path) -> None:
    space = populated(tmp_path)
    cache = tmp_path / "cache"
    first = history_entries(space.ledger_dir, cache)
    files = sorted(cache.iterdir())
    assert len(files) == 1
    assert history_entries(space.ledger_dir, cache) == first
    for junk in (b"{broken", b"", __import__("marshal").dumps(("other", 1, 2, []))):
        files[0].write_bytes(junk)
        assert history_entries(space.ledger_dir, cache) == first  # a cache, rebuilt
    extra = space.append(space.record("LM-LOSS", "demo-torch", hours=9, measurements=lm_ms(3.1)))
    again = history_entries(space.ledger_dir, cache)
    assert [e.id for e in again] == [e.id for e in first] + [extra[0].id]


def test_a_corrupt_line_fails_with_its_place(tmp_path: Path) -> None:
    space = populated(tmp_path)
    segment = next(space.ledger_dir.glob("*.jsonl"))
    segment.write_bytes(segment.read_bytes() + b'{"schema": 1}\n')
    with pytest.raises(LedgerError, match=f"{segment.name}:14: not a valid record"):
        history_entries(space.ledger_dir, tmp_path / "cache")
