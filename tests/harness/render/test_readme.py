"""Evidence READMEs rendered from a real ledger: content, escaping, notes.md, determinism."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from harness.render import build, output
from harness.render.output import MD_MARK
from tests.harness.render.space import Space, populated

MD = MarkdownIt("commonmark").enable("table")


def render(space: Space) -> output.WriteReport:
    view = space.view()
    layout = build.Layout(space.root / "evidence", space.ledger_dir, space.root / "paper")
    return output.write(*build.committed(view, layout))


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """The cells of the first Markdown table whose header starts with ``header_start``."""
    tokens = MD.parse(text)
    rows: list[list[str]] = []
    inside, current = False, None
    for tok in tokens:
        if tok.type == "table_open":
            inside, rows = True, []
        elif tok.type == "tr_open" and inside:
            current = []
        elif tok.type == "inline" and current is not None:
            current.append("".join(c.content for c in tok.children or []))
        elif tok.type == "tr_close" and current is not None:
            rows.append(current)
            current = None
        elif tok.type == "table_close":
            if rows and rows[0][0] == header_start:
                return rows
            inside = False
    raise AssertionError(f"no table starting with {header_start!r}")


def test_area_readme_shows_the_ledger(tmp_path: Path) -> None:
    """Verdict table, claim sections, controls, hypotheses, history, provenance, reproduce."""
    space = populated(tmp_path)
    render(space)
    text = (tmp_path / "evidence" / "toy" / "README.md").read_text()
    assert text.startswith(MD_MARK + "\n")
    rows = table_rows(text, "claim")
    assert rows[0] == ["claim", "subject", "role", "verdict", "key measurements", "recorded", "age"]
    by_subject = {r[1]: r for r in rows[1:]}
    assert by_subject["short-lines"][3] == "PASS"
    assert by_subject["short-lines"][4] == "n_lines 40; mean_line_bytes 22 bytes [21, 23] (n=40)"
    assert by_subject["short-lines"][5] == "2026-11-01 14:00 UTC"
    assert by_subject["short-lines"][6] == "3 h"  # against the newest record (17:00), not now
    assert by_subject["few-lines"][3] == "SUSPECT"
    assert by_subject["long-lines"][2] == "control, must get FAIL: holds"
    assert "The text file has enough lines | and is below its byte budget" in text.replace(
        "\\|", "|")
    hyps = table_rows(text, "hypothesis")
    assert hyps[1][0] == "H1"
    assert hyps[1][4].startswith("few-lines: CONFIRMED")
    history = table_rows(text, "recorded")
    assert len(history) == 1 + 9
    assert "pytest 'falsifiers/test_toy.py::test_toy_text_not_tiny[short-lines]' -m live" in text
    assert "dirty: no" in text
    assert "![verdict timeline of toy](timeline.png)" in text
    assert "(TOY-TEXT-NOT-TINY.history.png)" in text


def test_index_readme_computes_ship_percent(tmp_path: Path) -> None:
    """core: TOY is not passing (a SUSPECT subject), LM-LOSS is: 1/2; lm: 1/1."""
    space = populated(tmp_path)
    render(space)
    text = (tmp_path / "evidence" / "README.md").read_text()
    milestones = {r[0]: r[1:] for r in table_rows(text, "milestone")[1:]}
    assert milestones == {"core": ["1/2", "50 %"], "lm": ["1/1", "100 %"]}
    areas = {r[0]: r for r in table_rows(text, "area")[1:]}
    assert areas["lm"][3] == "1"
    lm = (tmp_path / "evidence" / "lm" / "README.md").read_text()
    assert "LM-LOSS.per_layer.png" in lm
    assert (tmp_path / "evidence" / "lm" / "LM-LOSS.per_layer.png").is_file()


def test_empty_ledger_says_no_evidence_yet(tmp_path: Path) -> None:
    """An empty ledger renders, and every README says there is no evidence yet."""
    space = Space(tmp_path)
    render(space)
    for readme in ("README.md", "toy/README.md", "lm/README.md"):
        text = (tmp_path / "evidence" / readme).read_text()
        assert "No evidence yet" in text
    assert not list((tmp_path / "evidence").rglob("*.png"))
    toy = (tmp_path / "evidence" / "toy" / "README.md").read_text()
    assert table_rows(toy, "claim")[1][3] == "no evidence yet"


def test_notes_md_is_kept_and_included_verbatim(tmp_path: Path) -> None:
    """A hand-written notes.md is included as it is and never rewritten or removed."""
    space = populated(tmp_path)
    notes = tmp_path / "evidence" / "toy" / "notes.md"
    notes.parent.mkdir(parents=True)
    body = "Hand-written: *the* | pipe stays.\n\n- a list\n"
    notes.write_text(body)
    render(space)
    render(space)
    assert notes.read_text() == body
    text = (tmp_path / "evidence" / "toy" / "README.md").read_text()
    assert text.rstrip().endswith(body.rstrip())


def test_rendering_twice_gives_identical_bytes(tmp_path: Path) -> None:
    """Every rendered file, PNGs included, is byte-for-byte the same on a second render."""
    space = populated(tmp_path)
    render(space)
    files = {p: p.read_bytes() for p in (tmp_path / "evidence").rglob("*") if p.is_file()}
    for png in [p for p in files if p.suffix == ".png"]:
        png.unlink()  # force a redraw
    report = render(space)
    assert not report.written
    assert sorted(p.name for p in report.drawn) == [
        "LM-LOSS.per_layer.png", "TOY-TEXT-NOT-TINY.history.png", "timeline.png", "timeline.png"]
    assert {p: p.read_bytes() for p in files} == files


def test_stale_on_contract_change_is_marked(tmp_path: Path) -> None:
    """A contract edited after the record makes its rows STALE (from the contracts alone)."""
    space = populated(tmp_path)
    path = tmp_path / "contracts" / "lm.yaml"
    path.write_text(path.read_text().replace("below ln|V|", "below ln|V| (edited)"))
    render(space)
    text = (tmp_path / "evidence" / "lm" / "README.md").read_text()
    rows = table_rows(text, "claim")
    assert rows[1][3] == "PASS (STALE)"
    assert "contract changed since the record" in text


def test_forked_workers_render_the_same_bytes(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """READMEs, paper and site rendered on forked worker processes equal a one-process render,
    file for file and byte for byte (the pool is forced on this small workspace)."""
    from harness.render import parallel

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform: rendering stays in one process")
    space = populated(tmp_path)
    view = space.view()
    layout = build.Layout(space.root / "evidence", space.ledger_dir, space.root / "paper")
    site_dir = tmp_path / "site"
    one = build.render(view, layout, site_dir=site_dir, workers=1)
    monkeypatch.setattr(parallel, "PARALLEL_FROM_CLAIMS", 0)
    assert parallel._workers(2, len(view.claims), 5) == 2
    two = build.render(view, layout, site_dir=site_dir, workers=2)
    assert two.committed.texts == one.committed.texts
    assert two.committed.plots == one.committed.plots
    assert two.scope == one.scope
    assert two.site is not None
    assert one.site is not None
    assert two.site.texts == one.site.texts
    assert len(one.site.texts) == len(view.claims) + 2
    assert {p.name for p in one.committed.texts} >= {"README.md", "evidence.tex"}


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_counts_every_part_once_to_the_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """The progress callback sees the count of finished parts rise to the total, in one process
    and with forked workers (whose results arrive as they finish)."""
    from harness.render import parallel

    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    monkeypatch.setattr(parallel, "PARALLEL_FROM_CLAIMS", 0)
    space = populated(tmp_path)
    view = space.view()
    layout = build.Layout(space.root / "evidence", space.ledger_dir, space.root / "paper")
    calls: list[tuple[int, int]] = []
    build.render(view, layout, site_dir=tmp_path / "site", workers=workers,
                 progress=lambda done, total: calls.append((done, total)))
    total = len(view.areas) + 3  # areas, paper, README index, site index
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    if workers == 1:
        assert [d for d, _ in calls] == list(range(1, total + 1))
