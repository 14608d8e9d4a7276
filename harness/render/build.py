"""What ``falsify render`` produces for a workspace, and the places it owns."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.render.output import Rendered, Scope
from harness.render.paper import render_paper
from harness.render.plots import PlotPlan, plot_plan, read_source_hash
from harness.render.readme import render_readmes
from harness.render.site import MARKER, render_site
from harness.render.view import EvidenceView

__all__ = ["PARTS", "Layout", "LayoutError", "SiteError", "committed", "paused_gc",
           "reusable_plots", "site"]

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


def committed(view: EvidenceView, layout: Layout, parts: Iterable[str] = PARTS,
              plans: PlotPlan | None = None) -> tuple[Rendered, Scope]:
    """The READMEs and/or the paper's generated files, and the scope they own."""
    chosen = set(parts)
    for area in view.areas:
        if (layout.evidence_dir / area.area).resolve() == layout.ledger_dir.resolve():
            msg = (f"contract area {area.area!r} would render into the ledger folder "
                   f"{layout.ledger_dir}; rename the area (the `area:` key of its contract file)")
            raise LayoutError(msg)
    rendered, scope = Rendered(), Scope(ledger_dir=layout.ledger_dir)
    if "readmes" in chosen:
        plans = plot_plan(view) if plans is None else plans
        rendered = rendered.merged(render_readmes(view, layout.evidence_dir, plans))
        scope = Scope(layout.evidence_dir, layout.ledger_dir)
    if "paper" in chosen:
        rendered = rendered.merged(render_paper(view, layout.paper_generated))
        scope = Scope(scope.evidence_dir, layout.ledger_dir, layout.paper_generated)
    return rendered, scope


def site(view: EvidenceView, site_dir: Path,
         plans: PlotPlan | None = None) -> tuple[Rendered, Scope]:
    """The site's pages and plots; SiteError when ``site_dir`` holds foreign files."""
    if site_dir.exists() and any(site_dir.iterdir()) and not (site_dir / MARKER).is_file():
        msg = (f"{site_dir} is not empty and is not a falsify site (no {MARKER}); pass an empty "
               f"or new folder to --site")
        raise SiteError(msg)
    plans = plot_plan(view) if plans is None else plans
    return render_site(view, site_dir, plans), Scope(owned_dir=site_dir)


def reusable_plots(rendered: Rendered) -> dict[str, Path]:
    """Plots already drawn on disk, by source hash: the site copies them instead of drawing."""
    found: dict[str, Path] = {}
    for path, spec in rendered.plots.items():
        if read_source_hash(path) == spec.source_hash:
            found[spec.source_hash] = path
    return found
