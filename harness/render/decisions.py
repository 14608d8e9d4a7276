"""Decisions as the evidence README, the PR report and the paper show them.

A decision is rendered from its latest ``decision`` record (``falsify decide``) and the flags that
:func:`harness.decision_records.decision_statuses` finds against the evidence now: its outcome, the
rule clause that gave it, and its evidence chain (each cited claim and subject with the record it
rested on, that record's verdict, metrics with units, input hashes, run and reproduction command).
A flagged decision says so in every place it appears.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from harness.decision_records import DecisionStatus
from harness.records import Measurement
from harness.render.escape import latex, md_code, md_fence, md_text, oneline
from harness.render.fmt import short_sha, stamp
from harness.render.templating import md_table, safe

__all__ = ["decision_macros", "decisions_markdown", "decisions_summary_table"]

_METRICS = 4


def _code(text: object) -> Markup:
    return safe(md_code(text, cell=True))


def _outcome(s: DecisionStatus) -> str:
    if s.record is None:
        return f"not decided (the rule now gives {s.outcome_now})"
    return f"{s.outcome} (FLAGGED)" if s.flagged else str(s.outcome)


def decisions_summary_table(found: Sequence[DecisionStatus]) -> Markup | None:
    """One row per decision: outcome, when, on what evidence, and its flags."""
    rows = []
    for s in found:
        graded = "—" if s.record is None else (
            "clean" if str(s.record.verdict) == "PASS" else "decided on flagged evidence")
        rows.append([_code(s.decision.id), s.decision.title, _outcome(s),
                     "—" if s.record is None else stamp(s.record.created), graded,
                     "; ".join(s.flags) or "—"])
    if not rows:
        return None
    return md_table(["decision", "title", "outcome", "decided", "evidence", "flags"], rows)


def _metrics(entry: Mapping[str, Any]) -> str:
    shown = []
    for m in entry.get("metrics", [])[:_METRICS]:
        if "values" in m:
            shown.append(Measurement.from_json(m).format())
            continue
        value = m.get("value")
        text = m.get("nonfinite") if value is None else f"{value:.6g}"
        shown.append(f"{m['name']} {text} {m['unit']}")
    return "; ".join(shown) or "—"


def _inputs(entry: Mapping[str, Any]) -> str:
    return "; ".join(f"{i['path']} ({short_sha(i.get('sha256'))})"
                     for i in entry.get("inputs", [])) or "—"


def _chain_table(body: Mapping[str, Any]) -> Markup:
    rows = []
    for e in body.get("evidence", []):
        runs = e.get("runs", {})
        run = ", ".join([*(runs.get("run_ids") or []), f"session {runs.get('session') or '—'}"])
        fresh = "fresh" if e.get("fresh") else "NOT FRESH"
        rows.append([_code(e["key"]), _code(e["claim"]), _code(e["subject"]),
                     f"{e['verdict']} ({fresh})", _code(e.get("record") or "—"), _metrics(e),
                     _inputs(e), run])
    return md_table(["cited", "claim", "subject", "verdict then", "record", "metrics",
                     "inputs (sha256)", "run"], rows)


def _reproduce(body: Mapping[str, Any]) -> str | None:
    commands = sorted({e["reproduce"] for e in body.get("evidence", []) if e.get("reproduce")})
    return md_fence("\n".join(commands), "sh") if commands else None


def _one(s: DecisionStatus) -> list[str]:
    d = s.decision
    out = [f"### {md_text(d.id)}: {md_text(d.title)}", ""]
    if d.statement:
        out += [md_text(d.statement), ""]
    outcomes = ", ".join(f"{o} (success)" if o in d.success else o for o in d.outcomes)
    out += [f"Outcomes: {md_text(outcomes)}; default {md_code(d.default)}. "
            f"Source: {md_code('contracts/' + d.source.name)}.", ""]
    if s.record is None:
        out += [f"Not decided yet: `falsify decide {d.id}` records it. On the evidence now the "
                f"rule gives {md_code(s.outcome_now)}.", ""]
        return out
    body = s.body
    out += [f"**{md_text(str(s.outcome))}**, decided {stamp(s.record.created)} by "
            f"{md_code(body.get('rule', ''))} (record {md_code(s.record.id)}).", ""]
    if s.flags:
        out += ["> FLAGGED: this decision no longer stands on the evidence as it was decided:",
                *(f"> - {md_text(f)}" for f in s.flags), ""]
    out += ["Evidence chain:", "", str(_chain_table(body)), ""]
    fence = _reproduce(body)
    if fence:
        out += ["Reproduce the evidence:", "", fence, ""]
    return out


def decisions_markdown(found: Sequence[DecisionStatus]) -> Markup | None:
    """The README's decisions section body: the summary table, then each decision's chain."""
    table = decisions_summary_table(found)
    if table is None:
        return None
    lines = [str(table), ""]
    for s in found:
        lines += _one(s)
    return Markup("\n".join(lines).rstrip("\n"))


def decision_macros(found: Sequence[DecisionStatus]) -> list[tuple[str, str, str]]:
    """(key, LaTeX value, note) per decision: ``<key>.outcome`` and ``<key>.decided``, where the
    key is the decision's ``paper.key`` (its id by default). A flagged or undecided decision
    shows so in the value itself, so the paper cannot quote it as settled."""
    out = []
    for s in found:
        key = s.decision.paper_key
        if s.record is None:
            value, decided = r"\falsifynoevidence{" + key + "}", r"\falsifynoevidence{" + key + "}"
            note = f"decision {s.decision.id}: not decided yet"
        else:
            value = latex(str(s.outcome)) + (r" (\textbf{flagged})" if s.flags else "")
            decided = latex(s.record.created[:10])
            note = oneline(f"decision record {s.record.id}" +
                           (f", flagged: {'; '.join(s.flags)}" if s.flags else ""))
        out += [(f"{key}.outcome", value, note), (f"{key}.decided", decided, note)]
    return out
