"""The CI gate policy: fresh PASS for every required claim, expected verdicts for every control.

Exit codes: 0 when everything required holds; 1 with a table of what is missing, failing,
suspect, stale or powerless; 2 on a usage error (an unknown claim or milestone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tabulate import tabulate

from harness.contracts import ContractSet
from harness.render.terminal import shorten
from harness.status import Row, StatusReport

__all__ = ["GateResult", "GateUsageError", "evaluate_gate", "required_claims"]

_FIX = {
    "missing": "run its falsifier: pytest falsifiers/ -m live -k '{claim} and {subject}'",
    "stale": "re-run its falsifier to refresh the evidence",
    "powerless": "the falsifier cannot tell this known-bad subject apart: strengthen it",
    "failing": "the claim is false on this subject: fix the model/run or amend the claim",
    "error": "the falsifier raised or measured nothing usable: read the reasons",
    "suspect": "a methodology guard failed: fix the evaluation (sample size, data, units)",
    "inconclusive": "the evidence cannot decide: more data or a guard is failing",
    "skipped": "the subject was not available: make it available where the gate runs",
}


class GateUsageError(ValueError):
    """An unknown claim or milestone on the command line (exit 2)."""


@dataclass(frozen=True)
class GateResult:
    claims: tuple[str, ...]
    problems: tuple[Row, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def table(self) -> str:
        rows = [[r.claim, r.subject, r.role, r.problem, r.shown_verdict,
                 shorten("; ".join(r.stale or r.reasons), 70),
                 _FIX[str(r.problem)].format(claim=r.claim, subject=r.subject)]
                for r in self.problems]
        table: str = tabulate(rows, headers=["claim", "subject", "role", "problem", "verdict",
                                             "why", "fix"], tablefmt="simple")
        return table

    def summary(self) -> str:
        if self.ok:
            return f"gate: PASS — {len(self.claims)} claim(s) with fresh evidence, controls hold"
        counts: dict[str, int] = {}
        for r in self.problems:
            counts[str(r.problem)] = counts.get(str(r.problem), 0) + 1
        parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        return f"gate: FAIL — {parts} across {len(self.claims)} required claim(s)"


def required_claims(contracts: ContractSet, milestones: Sequence[str] = (),
                    claims: Sequence[str] = ()) -> list[str]:
    """All claims by default; --milestone and --claim narrow (their union)."""
    if not milestones and not claims:
        return sorted(contracts.claims)
    known_milestones = contracts.milestones()
    chosen: set[str] = set()
    for name in milestones:
        if name not in known_milestones:
            msg = f"unknown milestone {name!r}; known: {', '.join(known_milestones) or 'none'}"
            raise GateUsageError(msg)
        chosen.update(known_milestones[name])
    for claim_id in claims:
        if claim_id not in contracts:
            msg = f"unknown claim {claim_id!r}; known: {', '.join(sorted(contracts.claims))}"
            raise GateUsageError(msg)
        chosen.add(claim_id)
    return sorted(chosen)


def evaluate_gate(report: StatusReport) -> GateResult:
    problems = tuple(r for r in report.rows if r.problem is not None)
    return GateResult(tuple(c.claim.id for c in report.claims), problems)
