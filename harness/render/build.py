"""What ``falsify render`` produces for a workspace, and the places it owns."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.render.output import Rendered, Scope
from harness.render.parallel import Part, render_parts
from harness.render.plots import PlotPlan, plot_plan, read_source_hash
from harness.render.readme import readme_plots
from harness.render.site import MARKER, render_site, site_plots
from harness.render.view import EvidenceView

__all__ = ["PARTS", "Layout", "LayoutError", "Renders", "SiteError", "committed", "paused_gc",
           "render", "reusable_plots", "site"]

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


def render(view: EvidenceView, layout: Layout, parts: Iterable[str] = PARTS,
           plans: PlotPlan | None = None, site_dir: Path | None = None,
           workers: int = -1) -> Renders:
    """Everything ``falsify render`` writes, the text rendered on ``workers`` processes (-1:
    one per core; see :mod:`harness.render.parallel`). LayoutError or SiteError up front."""
    chosen = set(parts)
    _check_layout(view, layout)
    if site_dir is not None:
        _check_site(site_dir)
    plans = plot_plan(view) if plans is None else plans
    areas: list[str | None] = [None, *(a.area for a in view.areas)]
    todo = [Part("readme", a) for a in areas] if "readmes" in chosen else []
    todo += [Part("paper")] if "paper" in chosen else []
    todo += [Part("site", a) for a in areas] if site_dir is not None else []
    done = render_parts(view, plans, todo, evidence_dir=layout.evidence_dir,
                        paper_generated=layout.paper_generated, site_dir=site_dir,
                        workers=workers)
    texts: dict[str, dict[Path, bytes]] = {"readme": {}, "paper": {}, "site": {}}
    for part, result in zip(todo, done, strict=True):
        texts[part.kind].update(result)
    scope = Scope(ledger_dir=layout.ledger_dir)
    plots = {}
    if "readmes" in chosen:
        scope = Scope(layout.evidence_dir, layout.ledger_dir)
        plots = readme_plots(view, layout.evidence_dir, plans)
    if "paper" in chosen:
        scope = Scope(scope.evidence_dir, layout.ledger_dir, layout.paper_generated)
    committed = Rendered({**texts["readme"], **texts["paper"]}, plots)
    if site_dir is None:
        return Renders(committed, scope)
    site = Rendered(texts["site"], site_plots(view, site_dir, plans))
    return Renders(committed, scope, site, Scope(owned_dir=site_dir))


def committed(view: EvidenceView, layout: Layout, parts: Iterable[str] = PARTS,
              plans: PlotPlan | None = None) -> tuple[Rendered, Scope]:
    """The READMEs and/or the paper's generated files, and the scope they own."""
    renders = render(view, layout, parts, plans)
    return renders.committed, renders.scope


def site(view: EvidenceView, site_dir: Path,
         plans: PlotPlan | None = None) -> tuple[Rendered, Scope]:
    """The site's pages and plots; SiteError when ``site_dir`` holds foreign files."""
    _check_site(site_dir)
    plans = plot_plan(view) if plans is None else plans
    return render_site(view, site_dir, plans), Scope(owned_dir=site_dir)


def reusable_plots(rendered: Rendered) -> dict[str, Path]:
    """Plots already drawn on disk, by source hash: the site copies them instead of drawing."""
    found: dict[str, Path] = {}
    for path, spec in rendered.plots.items():
        if read_source_hash(path) == spec.source_hash:
            found[spec.source_hash] = path
    return found
