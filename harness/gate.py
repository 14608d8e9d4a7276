"""The CI gate policy: fresh PASS for every required claim, expected verdicts for every control.

Exit codes: 0 when everything required holds; 1 with a table of what is missing, failing,
suspect, stale, powerless or unverifiable; 2 on a usage error (an unknown claim or milestone).

Inputs policy (``--inputs``). ``verified`` (the default, locally and in CI): evidence with an
input that cannot be hashed here (not built, not fetched) is a problem, ``unverifiable``, so a
fresh clone is red until ``falsify verify --inputs --rebuild`` has rebuilt the demo inputs.
``allow-unverifiable``: such evidence passes, and the summary says how much of it there was.
An input the claim declares external (``external_inputs``) is never a problem; it is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.contracts import ContractSet
from harness.render.terminal import shorten
from harness.status import Row, StatusReport

__all__ = ["INPUT_POLICIES", "GateResult", "GateUsageError", "evaluate_gate", "input_problem",
           "required_claims"]

INPUT_POLICIES = ("verified", "allow-unverifiable")

_FIX = {
    "missing": "run its falsifier: pytest falsifiers/ -m live -k '{claim} and {subject}'",
    "stale": "re-run its falsifier to refresh the evidence",
    "powerless": "the falsifier cannot tell this known-bad subject apart: strengthen it",
    "failing": "the claim is false on this subject: fix the model/run or amend the claim",
    "error": "the falsifier raised or measured nothing usable: read the reasons",
    "suspect": "a methodology guard failed: fix the evaluation (sample size, data, units)",
    "inconclusive": "the evidence cannot decide: more data or a guard is failing",
    "skipped": "the subject was not available: make it available where the gate runs",
    "unverifiable": "rebuild or fetch its inputs: falsify verify --inputs --rebuild",
}


class GateUsageError(ValueError):
    """An unknown claim or milestone on the command line (exit 2)."""


def input_problem(row: Row, policy: str) -> str | None:
    """``unverifiable`` when the row would otherwise pass but an input cannot be checked here."""
    if policy not in INPUT_POLICIES:
        msg = f"unknown inputs policy {policy!r}; choose one of {', '.join(INPUT_POLICIES)}"
        raise GateUsageError(msg)
    if row.problem is None and row.unverifiable and policy == "verified":
        return "unverifiable"
    return row.problem


@dataclass(frozen=True)
class GateResult:
    claims: tuple[str, ...]
    problems: tuple[Row, ...]
    policy: str = "verified"
    unverified: tuple[Row, ...] = ()  # rows with an input not checked here (any policy)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def table(self) -> str:
        from tabulate import tabulate  # only a failing gate prints a table (imports ~0.1 s)

        rows = []
        for r in self.problems:
            problem = str(input_problem(r, self.policy))
            why = r.stale or (r.unverifiable if problem == "unverifiable" else r.reasons)
            rows.append([r.claim, r.subject, r.role, problem, r.shown_verdict,
                         shorten("; ".join(why), 70),
                         _FIX[problem].format(claim=r.claim, subject=r.subject)])
        table: str = tabulate(rows, headers=["claim", "subject", "role", "problem", "verdict",
                                             "why", "fix"], tablefmt="simple",
                                   disable_numparse=True)  # all text: numparse costs 0.2 s
        return table

    def summary(self) -> str:
        unchecked = ""
        if self.unverified:
            unchecked = (f"; {len(self.unverified)} record(s) rest on inputs not checked here "
                         f"(--inputs={self.policy})")
        if self.ok:
            return (f"gate: PASS — {len(self.claims)} claim(s) with fresh evidence, controls "
                    f"hold{unchecked}")
        counts: dict[str, int] = {}
        for r in self.problems:
            problem = str(input_problem(r, self.policy))
            counts[problem] = counts.get(problem, 0) + 1
        parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        return f"gate: FAIL — {parts} across {len(self.claims)} required claim(s){unchecked}"


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


def evaluate_gate(report: StatusReport, inputs: str = "verified") -> GateResult:
    """Every row with a problem; under ``inputs="verified"`` an unverifiable input is one."""
    problems = tuple(r for r in report.rows if input_problem(r, inputs) is not None)
    unverified = tuple(r for r in report.rows if r.record is not None and r.unverifiable)
    return GateResult(tuple(c.claim.id for c in report.claims), problems, inputs, unverified)
