"""``falsify render --site DIR``: a static HTML evidence site that works from ``file://``.

``DIR/index.html`` lists every claim with verdict badges and client-side filters (milestone,
verdict; also read from ``?milestone=...&verdict=...``), ``DIR/claims/<ID>.html`` shows one claim,
``DIR/plots/<area>/*.png`` holds the same plots as the READMEs. No CDN, no external request; the
only script is inline. Jinja autoescapes everything.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.render import cells
from harness.render.fmt import measurement_text, short_sha, stamp
from harness.render.history import Entry
from harness.render.memo import cached
from harness.render.plots import PlotPlan, PlotSpec
from harness.render.readme import history_key
from harness.render.templating import html_env
from harness.render.view import ClaimView, EvidenceView, RowView

__all__ = ["MARKER", "SITE_HISTORY_ROWS", "site_part", "site_plots"]

MARKER = ".falsify-site"
SITE_HISTORY_ROWS = 20


def _badge(rv: RowView) -> dict[str, Any]:
    verdict = rv.row.verdict
    return {"verdict": verdict, "stale": bool(rv.row.stale), "subject": rv.ref.id,
            "text": cells.verdict_text(rv), "title": cells.role_text(rv)}


def _index_row(c: ClaimView) -> dict[str, Any]:
    return {"id": c.id, "href": f"claims/{c.id}.html", "title": c.claim.title,
            "area": c.claim.area, "milestones": list(c.claim.milestones),
            "verdicts": list(c.verdicts), "badges": [_badge(rv) for rv in c.rows],
            "status": cells.claim_verdict_text(c)}


def _row(rv: RowView, c: ClaimView, newest: Any) -> dict[str, Any]:
    record = rv.record
    measurements = [] if record is None else [
        {"name": m.name, "text": measurement_text(m, c.digits)} for m in record.measurements]
    return {"subject": rv.ref.id, "role": cells.role_text(rv), "verdict": rv.row.verdict,
            "stale": bool(rv.row.stale), "text": cells.verdict_text(rv),
            "measurements": measurements, "recorded": cells.recorded_text(record),
            "age": cells.age_text(rv, newest), "record": record.id if record else "—",
            "why": "; ".join(rv.row.why)}


def _history_row(r: Entry, c: ClaimView) -> Markup:
    cols = [html.escape(v) for v in (stamp(r.created), r.subject, r.role, r.verdict,
                                cells.measures_text(r, c.key_measures, c.digits),
                                short_sha(r.commit, 10), r.id)]
    return Markup(f'<tr><td>{cols[0]}</td><td><code>{cols[1]}</code></td><td>{cols[2]}</td>'
                  f'<td><span class="badge v-{cols[3]}">{cols[3]}</span></td><td>{cols[4]}</td>'
                  f'<td><code>{cols[5]}</code></td><td><code>{cols[6]}</code></td></tr>')


def _history(c: ClaimView) -> list[Markup]:
    """History rows, built here rather than in the template: a page can hold hundreds."""
    return cached(lambda: history_key("html-history", c, SITE_HISTORY_ROWS),
                  lambda: [_history_row(r, c) for r in reversed(c.history[-SITE_HISTORY_ROWS:])],
                  lambda rows: [str(r) for r in rows], lambda kept: [Markup(r) for r in kept])


def _claim_page(c: ClaimView, view: EvidenceView, plots: Mapping[str, PlotSpec]) -> str:
    claim = c.claim
    commands = sorted({cmd for rv in c.rows if rv.record is not None
                       if (cmd := cells.reproduce_command(rv.record))})
    context = {
        "id": c.id, "title": claim.title, "statement": claim.statement, "area": claim.area,
        "verdict": cells.claim_verdict_text(c), "milestones": ", ".join(claim.milestones) or "—",
        "source": f"contracts/{claim.source.name}",
        "predicate": cells.expr_words(claim.predicate_text),
        "guards": [{"id": g.id, "check": cells.expr_words(g.text), "doc": g.doc}
                   for g in claim.guards],
        "rows": [_row(rv, c, view.newest) for rv in c.rows],
        "hypotheses": [{"id": hv.hypothesis.id, "statement": hv.hypothesis.statement,
                        "probe": hv.hypothesis.probe or "—",
                        "intervention": hv.hypothesis.intervention or "—",
                        "results": [{"subject": r.subject, "verdict": str(r.verdict)}
                                    for r in hv.results]} for hv in c.hypotheses],
        "plots": [{"src": f"../plots/{claim.area}/{name}", "alt": spec.title}
                  for name, spec in plots.items() if name.startswith(f"{c.id}.")],
        "history": _history(c), "history_note": cells.history_note(c, SITE_HISTORY_ROWS),
        "provenance": cells.provenance_info(c), "commands": commands,
    }
    return html_env().get_template("site_claim.html.j2").render(c=context)


def _index_page(view: EvidenceView) -> str:
    milestones = [{"name": n, "passed": p, "total": t, "percent": f"{pct:.0f} %"}
                  for n, p, t, pct in view.milestones]
    verdicts = sorted({v for c in view.claims for v in c.verdicts})
    intro = (f"{len(view.claims)} claim(s), {view.n_records} record(s) in {view.ledger_label}."
             if view.n_records else
             f"No evidence yet: the ledger ({view.ledger_label}) holds no records.")
    return html_env().get_template("site_index.html.j2").render(
        intro=intro, milestones=milestones, verdicts=verdicts,
        claims=[_index_row(c) for c in view.claims])


def site_part(view: EvidenceView, site_dir: Path, plans: PlotPlan,
              area: str | None) -> dict[Path, bytes]:
    """The index and marker (``area`` None) or one area's claim pages; a unit of parallel
    rendering."""
    if area is None:
        return {site_dir / MARKER: b"falsify evidence site\n",
                site_dir / "index.html": _index_page(view).encode()}
    specs = plans[area]
    return {site_dir / "claims" / f"{c.id}.html": _claim_page(c, view, specs).encode()
            for c in view.area(area).claims}


def site_plots(view: EvidenceView, site_dir: Path, plans: PlotPlan) -> dict[Path, PlotSpec]:
    """Every plot of the site, by path."""
    return {site_dir / "plots" / a.area / name: spec
            for a in view.areas for name, spec in plans[a.area].items()}
