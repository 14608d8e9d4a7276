"""The state of every claim, read from the ledger and the contracts alone.

One row per (claim, subject or control): the latest verdict, whether it is STALE and why, and its
code drift (the harness code that made it differs from this one's: shown, not stale). Ship %
per milestone counts claims at fresh PASS: every subject's latest verdict is a fresh PASS and every
negative control's latest verdict is fresh and the one it must get.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath, PureWindowsPath
from typing import Any

from harness.contracts import Claim, ContractSet, SubjectRef

__all__ = ["ClaimState", "Row", "StatusReport", "compute_status", "declared_input_marks",
           "machine_reason", "made_dirty"]


@dataclass(frozen=True)
class Row:
    """The latest evidence of one subject (or control) of one claim."""

    claim: str
    subject: str
    role: str
    expect: str | None
    verdict: str  # a verdict, or "MISSING" when no record exists
    stale: tuple[str, ...]
    unverifiable: tuple[str, ...]
    record: str | None
    created: str | None
    reasons: tuple[str, ...]
    drift: tuple[str, ...] = ()
    external: tuple[str, ...] = ()  # inputs the claim declares external and unverifiable by design
    dirty: bool = False  # the record's provenance says it was made with uncommitted changes
    where: str | None = None  # the record's segment file:line
    criterion: bool = False  # the claim is a decision criterion (harness.decisions)
    # A PASS its claim family's correction does not carry (harness.family): why, else empty.
    family: tuple[str, ...] = ()

    @property
    def held_back(self) -> bool:
        """A subject's PASS whose family-adjusted p is not below the family's alpha."""
        return bool(self.family) and self.role == "subject" and self.verdict == "PASS"

    @property
    def criterion_fail(self) -> bool:
        """A fresh FAIL of a decision criterion on a subject: evidence for a decision (a kill
        criterion met), which the gate reports but does not count as a failing claim."""
        return self.criterion and self.role == "subject" and self.fresh and self.verdict == "FAIL"

    @property
    def fresh(self) -> bool:
        return self.record is not None and not self.stale

    @property
    def ok(self) -> bool:
        """Counts toward the claim: fresh PASS, or a control with its expected verdict."""
        if not self.fresh:
            return False
        if self.role == "control":
            return self.verdict == self.expect
        return self.verdict == "PASS" and not self.held_back

    @property
    def problem(self) -> str | None:
        """The gate's category for this row, or None when it is fine."""
        if self.record is None:
            return "missing"
        if self.stale:
            return "stale"
        if self.role == "control":
            if self.verdict in ("ERROR", "SKIPPED"):
                return self.verdict.lower()
            return None if self.verdict == self.expect else "powerless"
        if self.criterion_fail:
            return None
        if self.held_back:
            return "family"
        return {"PASS": None, "FAIL": "failing", "ERROR": "error", "SUSPECT": "suspect",
                "INCONCLUSIVE": "inconclusive", "SKIPPED": "skipped"}.get(self.verdict, "failing")

    @property
    def marks(self) -> tuple[str, ...]:
        """STALE, UNVERIFIABLE (an input cannot be checked), EXTERNAL (declared so by design)."""
        if self.record is None:
            return ()
        found = (("STALE", self.stale), ("UNVERIFIABLE", self.unverifiable),
                 ("EXTERNAL", self.external), ("FAMILY", self.family if self.held_back else ()))
        return tuple(mark for mark, reasons in found if reasons)

    @property
    def shown_verdict(self) -> str:
        """The verdict as readers see it: a held-back PASS shows INCONCLUSIVE (FAMILY)."""
        verdict = "INCONCLUSIVE" if self.held_back else self.verdict
        return f"{verdict} ({', '.join(self.marks)})" if self.marks else verdict

    @property
    def why(self) -> tuple[str, ...]:
        """Staleness, then input marks, then the verdict's own reasons."""
        return self.stale + self.unverifiable + self.external + self.family + self.reasons

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim, "subject": self.subject, "role": self.role,
                "expect": self.expect, "verdict": self.verdict, "stale": list(self.stale),
                "unverifiable": list(self.unverifiable), "external": list(self.external),
                "fresh": self.fresh, "ok": self.ok,
                "problem": self.problem, "record": self.record, "created": self.created,
                "reasons": list(self.reasons), "drift": list(self.drift), "dirty": self.dirty,
                "where": self.where, "criterion": self.criterion, "family": list(self.family),
                "held_back": self.held_back}


@dataclass(frozen=True)
class ClaimState:
    claim: Claim
    rows: tuple[Row, ...]

    @property
    def passing(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)


@dataclass(frozen=True)
class StatusReport:
    claims: tuple[ClaimState, ...]
    milestones: Mapping[str, tuple[int, int]]  # name -> (claims at fresh PASS, claims)
    unknown: tuple[tuple[str, str], ...]  # (claim, subject) in the ledger but not the contracts
    families: tuple[Any, ...] = ()  # harness.family.FamilyResult, one per contract family

    @property
    def rows(self) -> list[Row]:
        return [r for c in self.claims for r in c.rows]

    def ship_percent(self, milestone: str) -> float:
        passed, total = self.milestones[milestone]
        return 100.0 * passed / total if total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "claims": [{"id": c.claim.id, "title": c.claim.title, "area": c.claim.area,
                        "milestones": list(c.claim.milestones), "passing": c.passing,
                        "rows": [r.to_json() for r in c.rows]} for c in self.claims],
            "milestones": {name: {"passing": p, "claims": t,
                                  "ship_percent": round(self.ship_percent(name), 1)}
                           for name, (p, t) in self.milestones.items()},
            "unknown": [{"claim": c, "subject": s} for c, s in self.unknown],
            "families": [{"id": f.family.id, "correction": f.family.correction,
                          "alpha": f.family.alpha,
                          "tests": [{"claim": t.claim, "subject": t.subject, "raw_p": t.raw_p,
                                     "adjusted_p": t.adjusted_p, "held_back": t.held_back}
                                    for t in f.tests]} for f in self.families],
        }


def machine_reason(claim: Claim, provenance: Mapping[str, Any], machine: str | None) -> list[str]:
    """Why a machine-bound (speed) claim's record does not hold here: it was recorded on another
    kind of machine than ``machine`` (harness.machine.machine_kind); empty when ``machine`` is
    None (renders: the same on every machine) or the claim is not machine-bound."""
    if machine is None or not claim.machine_bound:
        return []
    from harness.machine import machine_kind

    env = provenance.get("env")
    then = machine_kind(env if isinstance(env, Mapping) else {})
    if then == machine:
        return []
    return [f"recorded on another kind of machine ({then}); this is {machine}: a speed claim "
            f"holds per machine, so re-run its falsifier here"]


def _row(claim: Claim, ref: SubjectRef, latest: Mapping[tuple[str, str], Any],
         ledger: Any, now: datetime, hasher: Any, code: Any, machine: str | None = None) -> Row:
    summary = latest.get((claim.id, ref.id))
    expect = None if ref.expect is None else ref.expect.value
    if summary is None:
        return Row(claim.id, ref.id, ref.role, expect, "MISSING", (), (), None, None,
                   ("no evidence recorded yet",), criterion=claim.criterion)
    from harness.ledger import EXTERNAL, UNVERIFIABLE, code_drift, staleness

    record = ledger.load(summary)  # the full record: a legacy one's git commit and node id
    reasons = staleness(record, claim.sha256, claim.max_age_s, now, hasher, code,
                        external=claim.external_inputs)
    reasons += machine_reason(claim, record.provenance, machine)
    if hasher is None:  # no bytes to read: what the record and the contract alone can say
        reasons += declared_input_marks(record.inputs, claim.external_inputs)
    stale = tuple(r for r in reasons if not r.startswith((UNVERIFIABLE, EXTERNAL)))
    unverifiable = tuple(r for r in reasons if r.startswith(UNVERIFIABLE))
    external = tuple(r for r in reasons if r.startswith(EXTERNAL))
    verdict = getattr(summary.verdict, "value", summary.verdict)
    drift = () if code is None else tuple(code_drift(record, code))
    return Row(claim.id, ref.id, ref.role, expect, str(verdict), stale, unverifiable,
               summary.id, summary.created, tuple(record.reasons), drift,
               external, made_dirty(record.provenance), summary.where, claim.criterion)


def made_dirty(provenance: Mapping[str, Any]) -> bool:
    """True only when the record's git provenance says ``dirty: true`` (uncommitted changes);
    outside git (``dirty: null``) nothing is known, and nothing is claimed."""
    git = provenance.get("git")
    return isinstance(git, Mapping) and git.get("dirty") is True


def declared_input_marks(inputs: Iterable[Mapping[str, Any]],
                         external: Iterable[Any]) -> list[str]:
    """Input marks that need no bytes, so a render is the same on every machine.

    An input the claim declares external is marked so. An input recorded by an absolute path
    lies outside the workspace and its cache: no clone can rebuild or check it, so unless it is
    declared external it is unverifiable everywhere but on the machine that recorded it.
    """
    from harness.ledger import EXTERNAL, UNVERIFIABLE
    from harness.ledger.query import external_why

    marks = []
    for item in inputs:
        path = str(item.get("path"))
        why = external_why(path, external)
        if why is not None:
            marks.append(f"{EXTERNAL} input {path} is external by design ({why})")
        elif PurePath(path).is_absolute() or PureWindowsPath(path).is_absolute():
            marks.append(f"{UNVERIFIABLE} input {path} lies outside the workspace: a clone "
                         f"cannot rebuild or check it; move it into the workspace, or declare "
                         f"it in the claim's external_inputs")
    return marks


def compute_status(contracts: ContractSet, ledger: Any, *, now: datetime | None = None,
                   hasher: Any = None, claim_ids: Iterable[str] | None = None,
                   code: Any = None, machine: str | None = None) -> StatusReport:
    """Rows for every claim (or those named), milestones, and ledger pairs no contract knows.

    ``hasher`` (an InputHasher) checks input hashes, ``code`` (a harness.codeid.CodeNow) the
    falsifier sources and harness identity, ``machine`` (harness.machine.machine_kind of this
    machine) the machine of machine-bound claims' records; None leaves that check out (renders,
    the past)."""
    now = now or datetime.now(UTC)
    latest = ledger.latest()
    wanted = set(claim_ids) if claim_ids is not None else set(contracts.claims)
    states = []
    for claim_id in sorted(wanted):
        claim = contracts[claim_id]
        rows = tuple(_row(claim, ref, latest, ledger, now, hasher, code, machine)
                     for ref in claim.all_subjects)
        states.append(ClaimState(claim, rows))
    states, families = _family_adjusted(contracts, states, latest, ledger)
    milestones = {}
    by_id = {s.claim.id: s for s in states}
    for name, ids in contracts.milestones().items():
        members = [by_id[i] for i in ids if i in by_id]
        if members:
            milestones[name] = (sum(1 for s in members if s.passing), len(members))
    known = {(c.id, r.id) for c in contracts.claims.values() for r in c.all_subjects}
    unknown = tuple(sorted(k for k in latest if k not in known))
    return StatusReport(tuple(states), milestones, unknown, families)


def _family_adjusted(contracts: ContractSet, states: list[ClaimState],
                     latest: Mapping[tuple[str, str], Any],
                     ledger: Any) -> tuple[list[ClaimState], tuple[Any, ...]]:
    """Rows of family members, with the reason where the family's correction holds a PASS back
    (harness.family: derived at read time from the members' latest records, like STALE)."""
    families = getattr(contracts, "families", {})
    if not families:
        return states, ()
    from dataclasses import replace

    from harness.family import evaluate_families, family_results

    keys = {(c, ref.id) for f in families.values() for c in f.claims if c in contracts
            for ref in contracts[c].subjects}
    records = {k: ledger.load(latest[k]) for k in keys if k in latest}
    tests = evaluate_families(families.values(), contracts.claims, records)
    out = []
    for state in states:
        rows = tuple(replace(r, family=(tests[(r.claim, r.subject)].reason,))
                     if r.role == "subject" and (r.claim, r.subject) in tests
                     and tests[(r.claim, r.subject)].held_back else r for r in state.rows)
        out.append(ClaimState(state.claim, rows))
    return out, family_results(families.values(), tests)
