"""``falsify pr --base REF``: what a change does to the evidence, as Markdown for a PR comment.

Before is the contracts and the ledger at REF (read from git, nothing checked out); after is the
working tree. Both are judged at the same instant; the after state also hashes inputs, as the gate
does, while inputs at REF cannot be hashed and are not. The text holds a one-line headline, ship
% per milestone before → after, claims whose verdict changed (with the reasons), new evidence,
claims gone stale, the negative controls, and what the gate would say; when they apply, the claims
whose falsifier code changed since the base without new evidence (``harness.render.codechange``)
and the code drift of the current evidence (made by other harness code: shown, not stale).
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from harness.decision_records import DecisionStatus
from harness.gate import GateResult
from harness.keywords import paired_fields
from harness.records import Record
from harness.render.codechange import FalsifierChange
from harness.render.decisions import decisions_summary_table
from harness.render.escape import md_code
from harness.render.fmt import stamp
from harness.render.templating import markdown_env, md_table, safe
from harness.status import Row, StatusReport

__all__ = ["NEW_ROWS", "PrChange", "pr_markdown"]

NEW_ROWS = 50


@paired_fields
@dataclass(frozen=True, kw_only=True)
class PrChange:
    base: str
    base_commit: str
    before: StatusReport
    after: StatusReport
    new_records: tuple[Record, ...]
    gate: GateResult
    problems: tuple[str, ...] = ()
    falsifiers: tuple[FalsifierChange, ...] = ()
    decisions: tuple[DecisionStatus, ...] = ()


def _rows(report: StatusReport) -> dict[tuple[str, str], Row]:
    return {(r.claim, r.subject): r for r in report.rows}


def _code(text: str) -> Markup:
    return safe(md_code(text, cell=True))


def _changes(change: PrChange) -> list[tuple[tuple[str, str], Row | None, Row | None]]:
    before, after = _rows(change.before), _rows(change.after)
    out = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if (b and b.shown_verdict) != (a and a.shown_verdict):
            out.append((key, b, a))
    return out


def _shown(row: Row | None) -> str:
    return "—" if row is None else row.shown_verdict


def _role(before: Row | None, after: Row | None) -> str:
    row = after or before
    return "" if row is None else row.role


def _why(row: Row | None) -> str:
    if row is None:
        return "no longer in the contracts"
    return "; ".join(row.stale or row.reasons)


def _changes_table(change: PrChange) -> Markup | None:
    rows = [[_code(k[0]), _code(k[1]), _role(b, a), _shown(b), _shown(a), _why(a)]
            for k, b, a in _changes(change)]
    if not rows:
        return None
    return md_table(["claim", "subject", "role", "before", "after", "why"], rows)


def _stale_table(change: PrChange) -> Markup | None:
    before = _rows(change.before)
    rows = [[_code(r.claim), _code(r.subject), r.shown_verdict, "; ".join(r.stale)]
            for r in change.after.rows
            if r.stale and not (before.get((r.claim, r.subject)) or r).stale]
    return md_table(["claim", "subject", "verdict", "why stale"], rows) if rows else None


def _sizes(record: Record) -> str:
    """``cer_a n=1240; cer_b n=1288``: the sample each measurement rests on (DESIGN rule 13)."""
    return "; ".join(f"{m.name} n={m.n}" for m in record.measurements if m.n is not None) or "—"


def _new_table(change: PrChange) -> Markup | None:
    records = change.new_records[-NEW_ROWS:]
    rows = [[stamp(r.created), _code(r.claim), _code(r.subject), r.kind,
             str(r.verdict) + (f" ({r.hypothesis})" if r.hypothesis else ""), _sizes(r),
             _code(r.id)]
            for r in reversed(records)]
    return md_table(["recorded", "claim", "subject", "kind", "verdict", "n", "record"],
                    rows) if rows else None


def _controls_table(change: PrChange) -> Markup | None:
    before = _rows(change.before)
    rows = []
    for r in change.after.rows:
        if r.role != "control":
            continue
        b = before.get((r.claim, r.subject))
        holds = "holds" if r.ok else ("NO POWER" if r.problem == "powerless" else r.problem)
        rows.append([_code(r.claim), _code(r.subject), r.expect or "FAIL", _shown(b),
                     r.shown_verdict, holds or "—"])
    return md_table(["claim", "control", "must get", "before", "after", "holds"],
                    rows) if rows else None


def _milestones(change: PrChange) -> Markup | None:
    names = sorted(set(change.before.milestones) | set(change.after.milestones))
    rows = []
    for name in names:
        cells = []
        for report in (change.before, change.after):
            if name in report.milestones:
                p, t = report.milestones[name]
                cells.append(f"{report.ship_percent(name):.0f} % ({p}/{t})")
            else:
                cells.append("—")
        rows.append([_code(name), *cells])
    return md_table(["milestone", "before", "after"], rows) if rows else None


def _sha(value: str | None) -> str:
    return f"{value[:12]}…" if value else "none"


def _falsifiers_table(change: PrChange) -> Markup | None:
    rows = [[_code(c.claim), _code(c.path), f"{_sha(c.base_sha256)} → {_sha(c.now_sha256)}",
             str(c.rows)] for c in change.falsifiers]
    return md_table(["claim", "falsifier file", f"sha256 at {change.base} → now",
                     "latest records made by other code"], rows) if rows else None


def _drift_table(change: PrChange) -> Markup | None:
    counts: dict[str, int] = {}
    for r in change.after.rows:
        for reason in r.drift:
            counts[reason] = counts.get(reason, 0) + 1
    rows = [[reason, str(n)] for reason, n in sorted(counts.items())]
    return md_table(["drift", "rows"], rows) if rows else None


def _gate_table(change: PrChange) -> Markup | None:
    rows = [[_code(r.claim), _code(r.subject), r.role, str(change.gate.problem(r)),
             r.shown_verdict]
            for r in change.gate.problems]
    return md_table(["claim", "subject", "role", "problem", "verdict"], rows) if rows else None


def _ship_text(change: PrChange) -> str:
    parts = []
    for name in sorted(change.after.milestones):
        before = (f"{change.before.ship_percent(name):.0f} %" if name in change.before.milestones
                  else "new")
        parts.append(f"{name} {before} → {change.after.ship_percent(name):.0f} %")
    return "; ship " + ", ".join(parts) if parts else ""


def headline(change: PrChange) -> str:
    verdict = "PASS" if change.gate.ok else "FAIL"
    n_changed = len(_changes(change))
    n_stale = sum(1 for r in change.after.rows if r.stale)
    n_flagged = sum(1 for d in change.decisions if d.flagged)
    flagged = f", {n_flagged} decision(s) flagged" if n_flagged else ""
    return (f"falsify gate {verdict}: {n_changed} verdict change(s), "
            f"{len(change.new_records)} new record(s), {n_stale} stale{flagged}"
            f"{_ship_text(change)} (against {change.base})")


def pr_markdown(change: PrChange) -> str:
    """The PR comment."""
    new_note = (f"{len(change.new_records)} new record(s)"
                + (f"; the newest {NEW_ROWS} are listed" if len(change.new_records) > NEW_ROWS
                   else ""))
    return markdown_env().get_template("pr.md.j2").render(
        headline=headline(change), base=change.base, commit=change.base_commit[:12],
        problems=list(change.problems), milestones=_milestones(change),
        changes=_changes_table(change), new=_new_table(change), new_note=new_note,
        stale=_stale_table(change), controls=_controls_table(change),
        gate=_gate_table(change), gate_summary=change.gate.summary(),
        dirty=change.gate.dirty_lines() if change.gate.dirty_policy == "warn" else [],
        falsifiers=_falsifiers_table(change), drift=_drift_table(change),
        decisions=decisions_summary_table(change.decisions),
        flagged=sum(1 for d in change.decisions if d.flagged), rerun=_rerun_text(change))


def _rerun_text(change: PrChange) -> Markup:
    """How much a stale-only run would execute after this change (harness.select)."""
    from harness.select import plan

    selection = plan(change.after)
    total = len(selection.run) + len(selection.keep)
    command = md_code("pytest falsifiers/ -m live --falsify-select=stale")
    return safe(f"A stale-only run ({command}) would execute {len(selection.run)} of {total} "
                f"(claim, subject) item(s).")

