"""What ``falsify render`` produces for a workspace, and the places it owns."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.render.memo import Memo
from harness.render.output import Rendered, Scope
from harness.render.parallel import Part, Progress, Targets, plots_key, render_parts
from harness.render.plots import PlotSpec, read_source_hash
from harness.render.readme import readme_plots
from harness.render.site import MARKER, site_plots
from harness.render.view import EvidenceView

__all__ = ["PARTS", "Layout", "LayoutError", "Renders", "SiteError", "committed", "paused_gc",
           "render", "reusable_plots"]

PARTS = ("readmes", "paper")


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a render holds the whole ledger in memory.

    With 100,000 records alive, every collection walks millions of objects: parsing and
    rendering run about three times faster without it. Reference counting still frees memory.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class SiteError(ValueError):
    """The site folder holds files falsify did not write."""


class LayoutError(ValueError):
    """A rendered file would land where it must not (the ledger folder)."""


@dataclass(frozen=True)
class Layout:
    """Where the committed renders live."""

    evidence_dir: Path
    ledger_dir: Path
    paper_dir: Path

    @property
    def paper_generated(self) -> Path:
        return self.paper_dir / "generated"


def _check_layout(view: EvidenceView, layout: Layout) -> None:
    for area in view.areas:
        if (layout.evidence_dir / area.area).resolve() == layout.ledger_dir.resolve():
            msg = (f"contract area {area.area!r} would render into the ledger folder "
                   f"{layout.ledger_dir}; rename the area (the `area:` key of its contract file)")
            raise LayoutError(msg)


def _check_site(site_dir: Path) -> None:
    if site_dir.exists() and any(site_dir.iterdir()) and not (site_dir / MARKER).is_file():
        msg = (f"{site_dir} is not empty and is not a falsify site (no {MARKER}); pass an empty "
               f"or new folder to --site")
        raise SiteError(msg)


@dataclass(frozen=True)
class Renders:
    """A whole render: the committed files (READMEs and/or paper) and, when asked, the site."""

    committed: Rendered
    scope: Scope
    site: Rendered | None = None
    site_scope: Scope | None = None
    drawn: Mapping[str, bytes] = field(default_factory=dict)  # plots drawn on the way


def render(view: EvidenceView, layout: Layout, parts: Iterable[str] = PARTS,
           site_dir: Path | None = None, workers: int = -1,
           memo_file: Path | None = None, draw: bool = False,
           progress: Progress | None = None) -> Renders:
    """Everything ``falsify render`` writes, rendered on ``workers`` processes (-1: one per
    core; see :mod:`harness.render.parallel`). LayoutError or SiteError up front.

    ``memo_file``: where pieces that depend on immutable records only are kept between
    renders (:mod:`harness.render.memo`); None computes everything. ``draw``: draw the plots
    whose README PNG is out of date while rendering (for a write; a check never draws).
    ``progress(done, total)`` is called as parts finish."""
    chosen = set(parts)
    _check_layout(view, layout)
    if site_dir is not None:
        _check_site(site_dir)
    readmes = "readmes" in chosen
    targets = Targets(layout.evidence_dir if readmes else None, layout.paper_generated,
                      site_dir, draw)
    memo = Memo(memo_file) if memo_file is not None else None
    # The longest parts first, as the last one taken sets the finish: areas whose plots are
    # not in the memo (they may have plots to draw), then the paper, then the other areas.
    areas = [a.area for a in view.areas] if readmes or site_dir else []
    fresh = {a.area for a in view.areas if memo is None or plots_key(a) not in memo.old}
    todo = [Part("area", a) for a in areas if a in fresh]
    todo += [Part("paper")] if "paper" in chosen else []
    todo += [Part("area", a) for a in areas if a not in fresh]
    todo += [Part("readme-index")] if readmes else []
    todo += [Part("site-index")] if site_dir is not None else []
    texts: dict[str, dict[Path, bytes]] = {"readme": {}, "paper": {}, "site": {}}
    plans: dict[str, Mapping[str, PlotSpec]] = {}
    drawn: dict[str, bytes] = {}
    outputs = render_parts(view, targets, todo, workers=workers, memo=memo, progress=progress)
    for part, out in zip(todo, outputs, strict=True):
        for kind, files in out.texts.items():
            texts[kind].update(files)
        if part.area is not None:
            plans[part.area] = out.plots
        drawn.update(out.drawn)
        if memo is not None:
            memo.used.update(out.memo)
    if memo is not None:
        memo.save()
    scope = Scope(ledger_dir=layout.ledger_dir)
    plots = {}
    if readmes:
        scope = Scope(layout.evidence_dir, layout.ledger_dir)
        plots = readme_plots(view, layout.evidence_dir, plans)
    if "paper" in chosen:
        scope = Scope(scope.evidence_dir, layout.ledger_dir, layout.paper_generated)
    committed = Rendered({**texts["readme"], **texts["paper"]}, plots)
    if site_dir is None:
        return Renders(committed, scope, drawn=drawn)
    site = Rendered(texts["site"], site_plots(view, site_dir, plans))
    return Renders(committed, scope, site, Scope(owned_dir=site_dir), drawn)


def committed(view: EvidenceView, layout: Layout, parts: Iterable[str] = PARTS,
              workers: int = -1) -> tuple[Rendered, Scope]:
    """The READMEs and/or the paper's generated files, and the scope they own."""
    renders = render(view, layout, parts, workers=workers)
    return renders.committed, renders.scope


def reusable_plots(rendered: Rendered) -> dict[str, Path]:
    """Plots already drawn on disk, by source hash: the site copies them instead of drawing."""
    found: dict[str, Path] = {}
    for path, spec in rendered.plots.items():
        if read_source_hash(path) == spec.source_hash:
            found[spec.source_hash] = path
    return found
