"""Decision records (kind ``decision``) and what later evidence does to them.

``falsify decide`` reads each cited (claim, subject) from a :class:`StatusReport`, judges the
decision's rule on it, and appends one record: subject ``*``, the decision id in the claim
column, the outcome and the evidence chain in ``attachments["decision"]`` (the record schema's
``$defs/decision``). The record's verdict grades the evidence it was decided on: PASS when every
cited piece was fresh with a decisive verdict (PASS or FAIL), SUSPECT otherwise, and then every
flag is written into the record's notes and ``flags``: a decision is never made on STALE,
SUSPECT, ERROR or missing evidence without the record saying so.

Fresh, for a decision, is stricter than a status row's: the row is not STALE, no input is
UNVERIFIABLE (as the gate's default), and the claim's negative controls hold, since a PASS from a
falsifier that cannot tell a known-bad subject apart says nothing.

:func:`decision_statuses` compares the latest decision records with the evidence now: a cited
record that has been replaced by newer evidence or amended, evidence that went stale, a decision
whose rule changed, or a rule that now gives another outcome is flagged; ``falsify status``, the
evidence README, the PR report and the paper macros all show those flags.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.decisions import Decision, EvidenceState
from harness.records import Record, Status
from harness.status import Row, StatusReport

__all__ = ["KIND", "NODE", "SUBJECT", "Decided", "DecisionStatus", "decide", "decision_record",
           "decision_statuses"]

KIND = "decision"
SUBJECT = "*"
NODE = "falsify decide"
_DECISIVE = ("PASS", "FAIL")


@dataclass(frozen=True)
class Decided:
    """A decision judged on the evidence: outcome, clause (None: default), the chain, flags."""

    decision: Decision
    outcome: str
    clause: int | None
    evidence: tuple[dict[str, Any], ...]
    flags: tuple[str, ...]

    @property
    def rule_text(self) -> str:
        if self.clause is None:
            return f"default: {self.decision.default}"
        clause = self.decision.clauses[self.clause - 1]
        return f"rule[{self.clause - 1}]: when {clause.text()} then {clause.outcome}"


def _rows(report: StatusReport) -> dict[tuple[str, str], Row]:
    return {(r.claim, r.subject): r for r in report.rows}


def _controls(report: StatusReport, claim: str) -> list[Row]:
    return [r for r in report.rows if r.claim == claim and r.role == "control"]


def state_of(row: Row | None, controls: list[Row]) -> EvidenceState:
    """What the rule reads of a cited row: its verdict, fresh only when the row is fresh, its
    inputs checked, and every control of its claim holds."""
    if row is None or row.record is None:
        return EvidenceState("MISSING", False)
    fresh = row.fresh and not row.unverifiable and all(c.ok for c in controls)
    return EvidenceState(row.verdict, fresh)


def states_now(decision: Decision, report: StatusReport) -> dict[str, EvidenceState]:
    rows = _rows(report)
    return {c.key: state_of(rows.get((c.claim, c.subject)), _controls(report, c.claim))
            for c in decision.cites}


def _flags(key: str, row: Row | None, controls: list[Row]) -> list[str]:
    if row is None or row.record is None:
        return [f"MISSING: no evidence for {key}"]
    out = [f"STALE: {key}: {why}" for why in row.stale]
    out += [f"UNVERIFIABLE: {key}: {why}" for why in row.unverifiable]
    if row.verdict not in _DECISIVE:
        out.append(f"{row.verdict}: {key}: {'; '.join(row.reasons) or 'no reason recorded'}")
    for c in controls:
        if not c.ok:
            out.append(f"CONTROL: {key}: control {c.subject} of {c.claim} is {c.shown_verdict}, "
                       f"must be {c.expect} (fresh): the claim's falsifier is not shown to fail")
    return out


def _run_ids(record: Record) -> list[str]:
    """Run ids the record names in its attachments (a bundle's ``run_id``), one level deep."""
    found: set[str] = set()
    for value in record.attachments.values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, Mapping):
                rid = item.get("run_id")
                if isinstance(rid, str):
                    found.add(rid)
    return sorted(found)


def _entry(key: str, claim: str, subject: str, row: Row | None, record: Record | None,
           controls: list[Row], state: EvidenceState,
           reproduce: Callable[[Record], str | None]) -> dict[str, Any]:
    return {
        "claim": claim, "subject": subject, "key": key,
        "record": None if record is None else record.id,
        "record_hash": None if record is None else record.hash,
        "created": None if record is None else record.created,
        "verdict": state.verdict, "fresh": state.fresh,
        "stale": [] if row is None else list(row.stale),
        "marks": [] if row is None else list(row.marks),
        "metrics": [] if record is None else [m.to_json() for m in record.measurements],
        "inputs": [] if record is None else [dict(i) for i in record.inputs],
        "runs": {"session": None if record is None else record.session,
                 "run_ids": [] if record is None else _run_ids(record)},
        "reproduce": None if record is None else reproduce(record),
        "controls": [{"subject": c.subject, "record": c.record, "verdict": c.verdict,
                      "expect": c.expect, "holds": c.ok} for c in controls],
    }


def decide(decision: Decision, report: StatusReport, load: Callable[[str], Record],
           reproduce: Callable[[Record], str | None]) -> Decided:
    """``decision`` judged on ``report`` (which must hold its cited claims); ``load`` reads a
    record by id, ``reproduce`` gives a record's reproduction command."""
    rows = _rows(report)
    evidence, flags, states = [], [], {}
    for c in decision.cites:
        row, controls = rows.get((c.claim, c.subject)), _controls(report, c.claim)
        record = None if row is None or row.record is None else load(row.record)
        states[c.key] = state_of(row, controls)
        flags += _flags(c.key, row, controls)
        evidence.append(_entry(c.key, c.claim, c.subject, row, record, controls, states[c.key],
                               reproduce))
    outcome, clause = decision.evaluate(states)
    return Decided(decision, outcome, clause, tuple(evidence), tuple(flags))


def decision_record(decided: Decided, *, session: str, provenance: dict[str, Any],
                    started: float) -> Record:
    """The unsealed ledger record of ``decided`` (LedgerWriter.append seals and signs it)."""
    from harness.evidence import new_id, utc_now

    d = decided.decision
    verdict = Status.SUSPECT if decided.flags else Status.PASS
    reasons = [f"{d.id}: {decided.outcome} ({decided.rule_text})"]
    if decided.flags:
        reasons.append(f"decided on flagged evidence ({len(decided.flags)} flag(s)): "
                       + "; ".join(decided.flags))
    now = time.time()
    body = {"id": d.id, "title": d.title, "outcome": decided.outcome,
            "success": decided.outcome in d.success, "clause": decided.clause,
            "rule": decided.rule_text, "evidence": list(decided.evidence),
            "flags": list(decided.flags)}
    return Record(
        id=new_id(), kind=KIND, claim=d.id, claim_sha256=d.sha256, subject=SUBJECT,
        role="subject", expect=None, verdict=verdict, reasons=tuple(reasons), measurements=(),
        guards=(), inputs=(), provenance=provenance,
        timing={"start": started, "stop": now, "duration_s": round(now - started, 3)},
        node_id=f"{NODE} {d.id}", session=session, created=utc_now(),
        notes=tuple(f"decided on flagged evidence: {f}" for f in decided.flags),
        attachments={"decision": body})


@dataclass(frozen=True)
class DecisionStatus:
    """A decision's latest record (None: never decided) and what the evidence now says of it."""

    decision: Decision
    record: Record | None
    flags: tuple[str, ...]
    outcome_now: str
    clause_now: int | None

    @property
    def body(self) -> Mapping[str, Any]:
        return {} if self.record is None else self.record.attachments.get("decision", {})

    @property
    def outcome(self) -> str | None:
        return None if self.record is None else str(self.body.get("outcome"))

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.decision.id, "title": self.decision.title,
                "record": None if self.record is None else self.record.id,
                "decided": None if self.record is None else self.record.created,
                "outcome": self.outcome, "flags": list(self.flags),
                "outcome_now": self.outcome_now}


def _later(entry: Mapping[str, Any], row: Row | None,
           load: Callable[[str], Record | None]) -> list[str]:
    """What happened to one cited piece since the decision."""
    key, was = entry["key"], entry["record"]
    if row is None:
        return [f"GONE: {key} is no longer in the contracts"]
    if row.record != was:
        latest = None if row.record is None else load(row.record)
        if latest is not None and latest.amends is not None and latest.amends["record"] == was:
            return [f"AMENDED: {key}: record {was} was amended by {latest.id} "
                    f"({latest.verdict}: {latest.amends['why']})"]
        return [f"NEW EVIDENCE: {key}: record {row.record} ({row.verdict}) replaces the cited "
                f"record {was} ({entry['verdict']})"]
    if entry["fresh"] and row.stale:
        return [f"STALE NOW: {key}: {'; '.join(row.stale)}"]
    return []


def _status(decision: Decision, record: Record | None, report: StatusReport,
            load: Callable[[str], Record | None]) -> DecisionStatus:
    outcome_now, clause_now = decision.evaluate(states_now(decision, report))
    if record is None:
        return DecisionStatus(decision, None, (), outcome_now, clause_now)
    body = record.attachments.get("decision", {})
    flags: list[str] = []
    if record.claim_sha256 != decision.sha256:
        flags.append("RULE CHANGED: the decision in the contracts changed since it was recorded")
    rows = _rows(report)
    for entry in body.get("evidence", []):
        flags += _later(entry, rows.get((entry["claim"], entry["subject"])), load)
    if record.verdict != Status.PASS:
        flags.append(f"DECIDED ON FLAGGED EVIDENCE: {'; '.join(body.get('flags', []))}")
    if outcome_now != body.get("outcome"):
        flags.append(f"OUTCOME NOW: the rule on today's evidence gives {outcome_now!r}, not "
                     f"{body.get('outcome')!r}; run falsify decide {decision.id}")
    return DecisionStatus(decision, record, tuple(flags), outcome_now, clause_now)


def decision_statuses(decisions: Mapping[str, Decision], report: StatusReport,
                      latest: Mapping[str, Record], load: Callable[[str], Record | None]
                      ) -> tuple[DecisionStatus, ...]:
    """Every decision (by id) with its latest record (``latest``: decision id -> record) and
    flags; ``report`` must hold every cited claim, ``load`` reads a record by id."""
    return tuple(_status(d, latest.get(d.id), report, load)
                 for _, d in sorted(decisions.items()))
