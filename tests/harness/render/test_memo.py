"""Render caches: the memo of record-only pieces and the kept latest records never change what
a render writes, are used when their inputs are unchanged, and are rebuilt when they are not."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from harness.render import build, parallel, plots
from harness.render.memo import Memo
from harness.render.view import build_view
from tests.harness.render.space import Space, lm_ms, populated


def _render(space: Space, cache: Path | None, memo_file: Path | None) -> build.Renders:
    view = build_view(space.contracts, space.ledger(), ledger_label="evidence/ledger",
                      cache_dir=cache)
    layout = build.Layout(space.root / "evidence", space.ledger_dir, space.root / "paper")
    return build.render(view, layout, site_dir=space.root / "site", workers=1,
                        memo_file=memo_file)


def _same(a: build.Renders, b: build.Renders) -> None:
    assert a.committed.texts == b.committed.texts
    assert a.committed.plots == b.committed.plots
    assert {p: s.source_hash for p, s in a.committed.plots.items()} == {
        p: s.source_hash for p, s in b.committed.plots.items()}
    assert a.site is not None
    assert b.site is not None
    assert a.site.texts == b.site.texts


def test_memo_is_used_and_changes_nothing(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    space = populated(tmp_path)
    cache, memo_file = tmp_path / "cache", tmp_path / "memo.marshal"
    plain = _render(space, None, None)
    first = _render(space, cache, memo_file)
    _same(plain, first)
    kept = Memo(memo_file).old
    assert any(k.startswith("plots:") for k in kept)
    assert any(k.startswith("md-history:") for k in kept)
    assert any(k.startswith("html-history:") for k in kept)
    with monkeypatch.context() as m:  # every piece is in the memo: none is computed again
        m.setattr(parallel, "area_plots", lambda area: pytest.fail("plots computed again"))
        second = _render(space, cache, memo_file)
    _same(plain, second)


def test_a_new_record_changes_the_key_and_the_output(tmp_path: Path) -> None:
    """The memo never serves a piece whose records changed: a new record's plot and history
    rows appear exactly as in a render without any cache."""
    space = populated(tmp_path)
    cache, memo_file = tmp_path / "cache", tmp_path / "memo.marshal"
    _render(space, cache, memo_file)
    space.append(space.record("LM-LOSS", "demo-torch", hours=6, measurements=lm_ms(3.3)))
    with_memo = _render(space, cache, memo_file)
    _same(_render(space, None, None), with_memo)
    readme = with_memo.committed.texts[space.root / "evidence" / "lm" / "README.md"].decode()
    assert "3.3 nats" in readme


def test_unreadable_caches_are_rebuilt(tmp_path: Path) -> None:
    space = populated(tmp_path)
    cache, memo_file = tmp_path / "cache", tmp_path / "memo.marshal"
    plain = _render(space, None, None)
    _render(space, cache, memo_file)
    records = cache / "latest-records.pickle"
    assert records.is_file()
    for junk in (b"", b"not marshal or pickle", pickle.dumps(("other", {"x": 1}))):
        memo_file.write_bytes(junk)
        records.write_bytes(junk)
        _same(plain, _render(space, cache, memo_file))


def test_kept_records_equal_the_ledger(tmp_path: Path) -> None:
    space = populated(tmp_path)
    cache = tmp_path / "cache"
    ledger = space.ledger()
    build_view(space.contracts, ledger, ledger_label="l", cache_dir=cache)
    view = build_view(space.contracts, ledger, ledger_label="l", cache_dir=cache)
    for c in view.claims:
        for rv in c.rows:
            if rv.record is not None:
                summary = ledger.latest()[(c.id, rv.ref.id)]
                assert rv.record == ledger.load(summary)


def test_plot_hash_kept_in_the_memo_is_the_hash_of_its_data(tmp_path: Path) -> None:
    """A plot read back from the memo carries the hash its data has (checked recomputed)."""
    space = populated(tmp_path)
    cache, memo_file = tmp_path / "cache", tmp_path / "memo.marshal"
    _render(space, cache, memo_file)
    again = _render(space, cache, memo_file)
    for spec in again.committed.plots.values():
        fresh = plots.PlotSpec(spec.kind, spec.title, spec.data)
        assert spec.source_hash == fresh.source_hash
