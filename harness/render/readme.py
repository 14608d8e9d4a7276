"""Evidence READMEs: ``evidence/README.md`` (index) and ``evidence/<area>/README.md``.

Everything comes from an :class:`EvidenceView` (the ledger and the contracts) plus, verbatim, a
hand-written ``notes.md`` beside an area README, which is never written by the renderer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.render import cells
from harness.render.decisions import decisions_markdown
from harness.render.escape import md_code, md_fence, md_text
from harness.render.examples import contamination_table, simulated_lines
from harness.render.family import families_markdown
from harness.render.fmt import number, short_sha, stamp
from harness.render.liveruns import live_commands, live_table
from harness.render.memo import cached, key
from harness.render.output import MD_MARK
from harness.render.plots import PlotPlan, PlotSpec
from harness.render.seeds import seeds_table
from harness.render.templating import markdown_env, md_table, safe
from harness.render.view import AreaView, ClaimView, EvidenceView

__all__ = ["HISTORY_ROWS", "history_key", "readme_part", "readme_plots"]

HISTORY_ROWS = 20
_VERDICTS = ("PASS", "FAIL", "SUSPECT", "INCONCLUSIVE", "ERROR", "SKIPPED", "MISSING")


def _percent(value: float) -> str:
    return f"{value:.0f} %"


def milestone_table(view: EvidenceView, names: Iterable[str] | None = None) -> Markup | None:
    wanted = None if names is None else set(names)
    rows = [[safe(md_code(n, cell=True)), f"{p}/{t}", _percent(pct)]
            for n, p, t, pct in view.milestones if wanted is None or n in wanted]
    if not rows:
        return None
    return md_table(["milestone", "claims at fresh PASS", "ship %"], rows)


def _intro(view: EvidenceView, n_claims: int, n_records: int) -> str:
    if view.n_records == 0:
        return (f"No evidence yet: the ledger ({view.ledger_label}) holds no records. Run the "
                f"falsifiers (`pytest falsifiers/ -m live`), then `falsify render`.")
    newest = view.newest.strftime("%Y-%m-%d %H:%M UTC") if view.newest else "—"
    return (f"Rendered by `falsify render` from the ledger ({md_text(view.ledger_label)}) and "
            f"the contracts alone: {n_claims} claim(s), {n_records} record(s); the newest record "
            f"in the ledger is from {newest}. Ages and max-age staleness are measured against "
            f"that record, not the clock; `falsify status` adds input-hash staleness.")


# --- one claim ---------------------------------------------------------------------------------

def _rows_table(c: ClaimView, newest: Any) -> Markup:
    rows = [[safe(md_code(rv.ref.id, cell=True)), cells.role_text(rv), cells.verdict_text(rv),
             cells.measures_text(rv.record, c.key_measures, c.digits),
             cells.recorded_text(rv.record), cells.age_text(rv, newest),
             "; ".join(rv.row.why)]
            for rv in c.rows]
    return md_table(["subject", "role", "verdict", "key measurements", "recorded",
                     "age", "why"], rows)


def _controls_table(c: ClaimView) -> Markup | None:
    rows = [[safe(md_code(rv.ref.id, cell=True)), rv.row.expect or "FAIL",
             cells.verdict_text(rv), cells.role_text(rv).rpartition(": ")[2]
             if rv.record is not None else "—", rv.ref.why]
            for rv in c.rows if rv.ref.role == "control"]
    if not rows:
        return None
    return md_table(["control", "must get", "latest verdict", "holds", "why"], rows)


def _hypotheses_table(c: ClaimView) -> Markup | None:
    rows = []
    for hv in c.hypotheses:
        h = hv.hypothesis
        results = "; ".join(f"{r.subject}: {r.verdict!s} ({stamp(r.created)})"
                            for r in hv.results) or "not probed yet"
        rows.append([safe(md_code(h.id, cell=True)), h.statement, h.probe or "—",
                     h.intervention or "—", results])
    if not rows:
        return None
    return md_table(["hypothesis", "statement", "probe", "intervention", "latest result"], rows)


def _history_table(c: ClaimView) -> Markup | None:
    if not c.history:
        return None
    return cached(lambda: history_key("md-history", c, HISTORY_ROWS),
                  lambda: _history_rows(c), str, Markup)


def history_key(namespace: str, c: ClaimView, shown: int) -> str:
    """The memo key of a claim's newest ``shown`` history rows: they name their records."""
    return key(namespace, [c.id, ",".join(c.key_measures), str(c.digits), str(shown),
                           *(e.hash for e in c.history[-shown:])])


def _history_rows(c: ClaimView) -> Markup:
    rows = []
    for r in reversed(c.history[-HISTORY_ROWS:]):
        amends = f" (amends {r.amends}: {r.amends_why})" if r.amends else ""
        rows.append([stamp(r.created), safe(md_code(r.subject, cell=True)), str(r.verdict),
                     cells.measures_text(r, c.key_measures, c.digits),
                     safe(md_code(short_sha(r.commit, 10), cell=True)),
                     safe(md_code(r.id, cell=True) + md_text(amends))])
    return md_table(["recorded", "subject", "verdict", "key measurements", "commit", "record"],
                    rows)


def _mutation_cells(record: Any) -> list[str]:
    """Score, killed, survived, undocumented survivors of a ``falsify mutate`` record."""
    def value(name: str) -> float | None:
        m = record.measurement(name)
        return None if m is None else m.value

    score = value("mutation_score")
    return ["—" if score is None else _percent(100 * score),
            *(number(value(n) or 0) for n in ("killed", "survived", "undocumented_survivors"))]


def _mutation_table(area: AreaView) -> Markup | None:
    """One row per claim of the area: its latest mutation score (``falsify mutate``)."""
    if not any(c.mutation is not None for c in area.claims):
        return None
    rows = []
    for c in area.claims:
        link = safe(f"[{md_code(c.id, cell=True)}](#{cells.slug(c.id)})")
        r = c.mutation
        if r is None:
            rows.append([link, "not run", "—", "—", "—", "—", "—"])
            continue
        rows.append([link, str(r.verdict), *_mutation_cells(r), stamp(r.created)])
    return md_table(["claim", "verdict", "mutation score", "killed", "survived",
                     "undocumented", "recorded"], rows)


def _survivors_table(c: ClaimView) -> Markup | None:
    record = c.mutation
    if record is None:
        return None
    rows = [[safe(md_code(m["id"], cell=True)), m["layer"], m["description"],
             m["limitation"] or "undocumented: a missing guard"]
            for m in record.attachments.get("mutants", []) if m["outcome"] == "survived"]
    if not rows:
        return None
    return md_table(["surviving mutant", "layer", "defect", "limitation"], rows)


def _mutation_context(c: ClaimView) -> dict[str, Any] | None:
    r = c.mutation
    if r is None:
        return None
    score, killed, survived, _ = _mutation_cells(r)
    mutants = r.attachments.get("mutants", [])
    return {"verdict": str(r.verdict), "score": score, "killed": killed, "survived": survived,
            "total": number(len(mutants)), "recorded": stamp(r.created),
            "record": r.id, "survivors": _survivors_table(c)}


def _reproduce(c: ClaimView) -> Markup | None:
    commands = sorted({cmd for rv in c.rows if rv.record is not None
                       if (cmd := cells.reproduce_command(rv.record))})
    return Markup(md_fence("\n".join(commands), "sh")) if commands else None


def _params_table(c: ClaimView) -> Markup | None:
    claim = c.claim
    if not claim.params:
        return None
    rows = []
    for name, q in claim.params.items():
        overrides = "; ".join(f"{ref.id}: {ref.params[name]}" for ref in claim.all_subjects
                              if name in ref.params)
        rows.append([safe(md_code(name, cell=True)), str(q), overrides or "—"])
    return md_table(["param", "default", "per subject"], rows)


def _measures_table(c: ClaimView) -> Markup:
    rows = [[safe(md_code(name, cell=True)), spec.unit, spec.doc]
            for name, spec in c.claim.measures.items()]
    return md_table(["measure", "unit", "meaning"], rows)


def _claim_context(c: ClaimView, newest: Any, plots: Mapping[str, PlotSpec]) -> dict[str, Any]:
    claim = c.claim
    own = [{"file": name, "alt": spec.title} for name, spec in plots.items()
           if name.startswith(f"{c.id}.")]
    return {
        "id": claim.id, "title": " ".join(claim.title.split()), "statement": claim.statement,
        "verdict": cells.claim_verdict_text(c),
        "milestones": ", ".join(claim.milestones) or "—",
        "source": f"contracts/{claim.source.name}",
        "max_age": None if claim.max_age_s is None else _duration(claim.max_age_s),
        "predicate": cells.expr_words(claim.predicate_text),
        "guards": [{"id": g.id, "check": cells.expr_words(g.text), "doc": g.doc}
                   for g in claim.guards],
        "params": _params_table(c), "measures": _measures_table(c),
        "rows": _rows_table(c, newest), "controls": _controls_table(c),
        "hypotheses": _hypotheses_table(c), "history": _history_table(c),
        "history_note": cells.history_note(c, HISTORY_ROWS), "plots": own,
        "provenance": cells.provenance_info(c),
        "reproduce": _reproduce(c), "mutation": _mutation_context(c),
        "seeds": seeds_table(c.rows), "contamination": contamination_table(c.rows),
        "simulated": simulated_lines(c.rows),
    }


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{number(seconds / size)} {unit}"
    return f"{number(seconds)} s"


# --- one area and the index ----------------------------------------------------------------------

def _verdicts_table(area: AreaView, newest: Any) -> Markup:
    rows = []
    for c in area.claims:
        link = safe(f"[{md_code(c.id, cell=True)}](#{cells.slug(c.id)})")
        for rv in c.rows:
            rows.append([link, safe(md_code(rv.ref.id, cell=True)),
                         cells.role_text(rv), cells.verdict_text(rv),
                         cells.measures_text(rv.record, c.key_measures, c.digits),
                         cells.recorded_text(rv.record), cells.age_text(rv, newest)])
    return md_table(["claim", "subject", "role", "verdict", "key measurements",
                     "recorded", "age"], rows)


def _unknown_table(view: EvidenceView, area: str | None) -> Markup | None:
    known_areas = {c.claim.id: c.claim.area for c in view.claims}
    rows = [[safe(md_code(claim, cell=True)), safe(md_code(subject, cell=True))]
            for claim, subject in view.report.unknown
            if area is None or known_areas.get(claim) == area]
    if not rows:
        return None
    return md_table(["claim", "subject"], rows)


def area_readme(view: EvidenceView, area: AreaView, plots: Mapping[str, PlotSpec],
                notes: str | None) -> str:
    names = {m for c in area.claims for m in c.claim.milestones}
    n_records = area.n_records
    return markdown_env().get_template("area_readme.md.j2").render(
        mark=safe(MD_MARK), area=area, intro=safe(_intro(view, len(area.claims), n_records)),
        milestones=milestone_table(view, names), verdicts=_verdicts_table(area, view.newest),
        mutation=_mutation_table(area),
        families=families_markdown(view.report.families, (c.claim.id for c in area.claims)),
        live=_live_context(area, plots),
        timeline="timeline.png" if "timeline.png" in plots else None,
        claims=[_claim_context(c, view.newest, plots) for c in area.claims],
        unknown=_unknown_table(view, area.area),
        notes=None if notes is None else safe(notes.rstrip("\n")),
    )


def _live_context(area: AreaView, plots: Mapping[str, PlotSpec]) -> dict[str, Any] | None:
    table = live_table(area.live)
    if table is None:
        return None
    commands = live_commands(area.live)
    return {"table": table,
            "plots": [{"file": n, "alt": s.title} for n, s in plots.items()
                      if n.startswith("live-")],
            "reproduce": Markup(md_fence("\n".join(commands), "sh")) if commands else None}


def _counts(area: AreaView) -> list[str]:
    counts = dict.fromkeys(_VERDICTS, 0)
    for c in area.claims:
        for rv in c.rows:
            counts[rv.row.verdict] = counts.get(rv.row.verdict, 0) + 1
    return [str(counts[v]) for v in _VERDICTS]


def index_readme(view: EvidenceView) -> str:
    rows = [[safe(f"[{md_code(a.area, cell=True)}]({a.area}/README.md)"), a.title,
             str(len(a.claims)), str(sum(c.passing for c in a.claims)), *_counts(a),
             str(a.n_records)]
            for a in view.areas]
    areas = md_table(["area", "title", "claims", "claims passing", *_VERDICTS, "records"], rows)
    milestones = milestone_table(view) or md_text("No milestones are declared.")
    return markdown_env().get_template("index_readme.md.j2").render(
        mark=safe(MD_MARK), intro=safe(_intro(view, len(view.claims), view.n_records)),
        milestones=safe(milestones), areas=areas, unknown=_unknown_table(view, None),
        decisions=decisions_markdown(view.decisions))


def _read_notes(folder: Path) -> str | None:
    path = folder / "notes.md"
    return path.read_text("utf-8") if path.is_file() else None


def readme_part(view: EvidenceView, evidence_dir: Path, plans: PlotPlan,
                area: str | None) -> dict[Path, bytes]:
    """One README: the index (``area`` None) or one area's; a unit of parallel rendering."""
    if area is None:
        return {evidence_dir / "README.md": index_readme(view).encode()}
    folder = evidence_dir / area
    text = area_readme(view, view.area(area), plans[area], _read_notes(folder))
    return {folder / "README.md": text.encode()}


def readme_plots(view: EvidenceView, evidence_dir: Path,
                 plans: PlotPlan) -> dict[Path, PlotSpec]:
    """Every plot beside the area READMEs, by path."""
    return {evidence_dir / a.area / name: spec
            for a in view.areas for name, spec in plans[a.area].items()}
