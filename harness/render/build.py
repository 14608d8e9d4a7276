"""What ``falsify render`` produces for a workspace, and the places it owns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.render.output import Rendered, Scope
from harness.render.paper import render_paper
from harness.render.plots import PlotPlan, plot_plan, read_source_hash
from harness.render.readme import render_readmes
from harness.render.site import MARKER, render_site
from harness.render.view import EvidenceView

__all__ = ["PARTS", "Layout", "SiteError", "committed", "reusable_plots", "site"]

PARTS = ("readmes", "paper")


class SiteError(ValueError):
    """The site folder holds files falsify did not write."""


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
