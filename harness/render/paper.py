"""The paper's numbers: ``paper/generated/tables/<table>.tex`` and ``paper/generated/evidence.tex``.

A claim opts in with a ``paper`` binding (``table``, ``caption``, ``measurements``, ``digits``).
Each table gets one row per subject of each claim bound to it (controls stay out of tables; their
numbers are still citable), one column per bound measurement, and a verdict column, in booktabs
style. Every cell ends with a LaTeX comment naming the record it comes from.

``evidence.tex`` defines one macro per bound number: the key is ``CLAIM.measure@subject`` for every
subject and control, plus ``CLAIM.measure`` for the claim's first subject, and ``<key>/ci`` for
the interval; and two per decision, ``DECISION.outcome`` and ``DECISION.decided`` (a flagged
decision's outcome says so in the macro's value); and per claim family (harness.family)
``FAMILY.correction``, ``FAMILY.tests``, ``FAMILY.alpha`` and, per test,
``FAMILY.adjusted_p@CLAIM@subject`` and ``FAMILY.raw_p@CLAIM@subject``. ``\\ev{key}`` looks
the value up with ``\\csname`` so ids with dashes, dots and underscores work; an unknown key
prints ``??`` and warns.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from harness.records import Measurement, Record
from harness.render.decisions import decision_macros
from harness.render.escape import latex, oneline
from harness.render.family import family_macros
from harness.render.fmt import latex_ci, latex_measurement, latex_number, latex_unit, latex_vector
from harness.render.output import TEX_MARK, Rendered
from harness.render.templating import latex_env
from harness.render.view import ClaimView, EvidenceView, RowView

__all__ = ["KEY_CHARS", "Macro", "evidence_macros", "paper_key", "render_paper"]

KEY_CHARS = re.compile(r"^[A-Za-z0-9._:+@/-]+$")
_UNIT_HEAD = {"ratio": "\\%", "percent": "\\%", "count": "", "1": ""}


@dataclass(frozen=True)
class Macro:
    key: str
    value: str  # LaTeX
    note: str  # one line, written as a LaTeX comment


def paper_key(claim: str, measure: str, subject: str | None = None) -> str:
    return f"{claim}.{measure}" + (f"@{subject}" if subject else "")


def _bound(view: ClaimView) -> tuple[str, ...]:
    return tuple(str(m) for m in (view.claim.paper or {}).get("measurements", ()))


def _note(rv: RowView) -> str:
    if rv.record is None:
        return f"{rv.ref.id}: no evidence yet"
    return oneline(f"record {rv.record.id}, {rv.row.shown_verdict}, {rv.record.created}")


def _macros_for(view: ClaimView) -> list[Macro]:
    out: list[Macro] = []
    first = view.claim.subjects[0].id if view.claim.subjects else None
    for measure in _bound(view):
        for rv in view.rows:
            m = rv.record.measurement(measure) if rv.record is not None else None
            full = paper_key(view.id, measure, rv.ref.id)
            value = (latex_measurement(m, view.digits, ci=False) if m is not None
                     else r"\falsifynoevidence{" + full + "}")
            ci = (latex_ci(m, view.digits) or r"\falsifynoci{" + full + "}" if m is not None
                  else r"\falsifynoevidence{" + full + "}")
            keys = [full] + ([paper_key(view.id, measure)] if rv.ref.id == first else [])
            note = _note(rv)
            for key in keys:
                out.append(Macro(key, value, note))
                out.append(Macro(f"{key}/ci", ci, note))
                if m is not None and m.values is not None:
                    out += [Macro(f"{key}/{part}", text, note)
                            for part, text in _vector_parts(m, view.digits)]
                elif m is None and _declared_vector(view, measure):
                    # No record yet: the summary parts exist (as "no evidence"); an element's
                    # index is only known once a record gives the length.
                    out += [Macro(f"{key}/{part}", value, note) for part in VECTOR_SUMMARY]
    return out


VECTOR_SUMMARY = ("len", "max", "min", "argmax", "argmin")


def _declared_vector(view: ClaimView, measure: str) -> bool:
    spec = view.claim.measures.get(measure)
    return bool(spec is not None and getattr(spec, "vector", False))


def _vector_parts(m: Measurement, digits: int) -> list[tuple[str, str]]:
    """A vector's own macros: ``/len``, ``/max``, ``/min``, ``/argmax``, ``/argmin`` and one
    per element (``/0``, ``/1``...), each in the vector's unit, so a paper cites an element
    ("layer 5 moved by \\falsify{...delta_l2/5}") rather than copying it."""
    assert m.values is not None
    scale, suffix = latex_unit(m.unit)
    parts = [("len", str(len(m.values)))]
    finite = [(v, i) for i, v in enumerate(m.values) if math.isfinite(v)]
    if finite:
        hi, lo = max(finite), min(finite)
        parts += [("max", latex_number(hi[0] * scale, digits) + suffix),
                  ("min", latex_number(lo[0] * scale, digits) + suffix),
                  ("argmax", str(hi[1])), ("argmin", str(lo[1]))]
    parts += [(str(i), latex_number(v * scale, digits) + suffix) for i, v in enumerate(m.values)]
    return parts


def evidence_macros(view: EvidenceView) -> list[Macro]:
    """Every macro ``evidence.tex`` defines, sorted by key; keys TeX cannot carry are left out."""
    macros = [m for c in view.claims for m in _macros_for(c) if KEY_CHARS.match(m.key)]
    macros += [Macro(k, v, n) for k, v, n in decision_macros(view.decisions)
               if KEY_CHARS.match(k)]
    macros += [Macro(k, latex(v), oneline(n)) for k, v, n in family_macros(view.report.families)
               if KEY_CHARS.match(k)]
    return sorted(macros, key=lambda m: m.key)


def _evidence_tex(view: EvidenceView) -> str:
    """The template writes the preamble; the macro lines (tens of thousands) are joined here."""
    lines = "\n".join(f"\\falsifydef{{{m.key}}}{{{m.value}}}% {m.note}"
                     for m in evidence_macros(view))
    return latex_env().get_template("evidence.tex.j2").render(mark=Markup(TEX_MARK),
                                                               macros=Markup(lines))


# --- tables ------------------------------------------------------------------------------------

def _column_head(name: str, view: ClaimView) -> str:
    spec = view.claim.measures.get(name)
    unit = "" if spec is None else _UNIT_HEAD.get(spec.unit, latex(spec.unit))
    return latex(name) + (f" ({unit})" if unit else "")


def _cell(record: Record | None, name: str, digits: int) -> dict[str, Markup]:
    m: Measurement | None = record.measurement(name) if record is not None else None
    if m is None or record is None:
        return {"text": Markup("--"), "note": Markup("no evidence" if record is None
                                                     else f"record {record.id} lacks {name}")}
    scale = 100.0 if m.unit == "ratio" else 1.0
    if m.values is not None:
        return {"text": Markup(latex_vector(m.values, scale, digits)),
                "note": Markup(oneline(f"record {record.id}"))}
    shown = Measurement(m.name, m.value * scale, "1", m.n,
                        None if m.ci is None else (m.ci[0] * scale, m.ci[1] * scale))
    return {"text": Markup(latex_measurement(shown, digits)),
            "note": Markup(oneline(f"record {record.id}"))}


def _verdict_cell(rv: RowView) -> dict[str, Markup]:
    text = "no evidence" if rv.record is None else rv.row.shown_verdict
    return {"text": Markup(latex(text)), "note": Markup(oneline(_note(rv)))}


def _table_tex(name: str, views: list[ClaimView]) -> str:
    columns: list[str] = []
    for v in views:
        columns += [m for m in _bound(v) if m not in columns]
    several = len(views) > 1
    heads = ["claim"] if several else []
    heads += ["subject"]
    heads_tex = [latex(h) for h in heads]
    heads_tex += [_column_head(c, next(v for v in views if c in _bound(v))) for c in columns]
    heads_tex.append("verdict")
    rows = []
    for v in views:
        for rv in v.rows:
            if rv.ref.role == "control":
                continue
            lead = (latex(v.id) + " & " if several else "") + latex(rv.ref.id)
            cells = [_cell(rv.record, c, v.digits) if c in _bound(v)
                     else {"text": Markup("--"), "note": Markup("not bound")} for c in columns]
            cells.append(_verdict_cell(rv))
            rows.append({"lead": Markup(lead), "note": Markup(_note(rv)), "cells": cells})
    caption = next((str(v.claim.paper.get("caption")) for v in views
                    if v.claim.paper and v.claim.paper.get("caption")), f"Evidence: {name}")
    colspec = "l" * len(heads) + "r" * len(columns) + "l"
    return latex_env().get_template("table.tex.j2").render(
        mark=Markup(TEX_MARK), name=Markup(name), claims=", ".join(v.id for v in views),
        caption=caption, colspec=Markup(colspec), header=Markup(" & ".join(heads_tex)),
        rows=rows)


def tables(view: EvidenceView) -> dict[str, list[ClaimView]]:
    out: dict[str, list[ClaimView]] = {}
    for c in view.claims:
        name = (c.claim.paper or {}).get("table")
        if name:
            out.setdefault(str(name), []).append(c)
    return dict(sorted(out.items()))


def render_paper(view: EvidenceView, generated_dir: Path) -> Rendered:
    """``evidence.tex`` and one ``tables/<name>.tex`` per table under ``generated_dir``."""
    texts = {generated_dir / "evidence.tex": _evidence_tex(view).encode()}
    for name, views in tables(view).items():
        texts[generated_dir / "tables" / f"{name}.tex"] = _table_tex(name, views).encode()
    return Rendered(texts)
