"""The CI gate policy: fresh PASS for every required claim, expected verdicts for every control.

Exit codes: 0 when everything required holds; 1 with a table of what is missing, failing,
suspect, stale, powerless or unverifiable; 2 on a usage error (an unknown claim or milestone).

Inputs policy (``--inputs``). ``verified`` (the default, locally and in CI): evidence with an
input that cannot be hashed here (not built, not fetched) is a problem, ``unverifiable``, so a
fresh clone is red until ``falsify verify --inputs --rebuild`` has rebuilt the demo inputs.
``allow-unverifiable``: such evidence passes, and the summary says how much of it there was.
An input the claim declares external (``external_inputs``) is never a problem; it is shown.

Dirty policy (``--dirty``), for evidence whose provenance says ``git.dirty: true`` (recorded with
uncommitted changes, so no commit reproduces it). ``refuse`` (the default when the environment
says CI, ``CI=true``, read as for ``--require-signed``): such a record does not count as passing;
the gate names each claim and subject with its record's file:line. ``warn`` (the default
elsewhere): it passes, with a warning naming each. ``allow``: it passes; the summary counts them.
The fix is always the same: commit, then re-run the falsifiers.

Decision criteria. A claim bound with ``criterion: true`` states a kill or success criterion of a
research plan; a fresh FAIL on one of its subjects is the evidence a decision (``falsify
decide``) rests on, not a broken build. Such a row has no problem here; the summary lists it
(``GateResult.criteria``). Missing, stale, errored or suspect evidence and powerless controls of
a criterion claim are problems as for any claim.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import ContractSet
from harness.render.terminal import shorten
from harness.status import Row, StatusReport

__all__ = ["DIRTY_POLICIES", "INPUT_POLICIES", "GateResult", "GateUsageError", "dirty_default",
           "evaluate_gate", "gate_problem", "required_claims"]

INPUT_POLICIES = ("verified", "allow-unverifiable")
DIRTY_POLICIES = ("refuse", "warn", "allow")

_FIX = {
    "missing": "run its falsifier: pytest falsifiers/ -m live -k '{claim} and {subject}'",
    "stale": "re-run its falsifier to refresh the evidence",
    "powerless": "the falsifier cannot tell this known-bad subject apart: strengthen it",
    "failing": "the claim is false on this subject: fix the model/run or amend the claim",
    "error": "the falsifier raised or measured nothing usable: read the reasons",
    "suspect": "a methodology guard failed: fix the evaluation (sample size, data, units)",
    "inconclusive": "the evidence cannot decide: more data or a guard is failing",
    "skipped": "the subject was not available: make it available where the gate runs",
    "family": "it passed alone, not after its family's correction (harness/family.py): more "
              "data or a smaller family",
    "unverifiable": "rebuild or fetch its inputs: falsify verify --inputs --rebuild",
    "dirty": "commit your changes, then re-run its falsifier: "
             "pytest falsifiers/ -m live -k '{claim} and {subject}'",
}


class GateUsageError(ValueError):
    """An unknown claim or milestone on the command line (exit 2)."""


def dirty_default() -> str:
    """``refuse`` when the environment says CI (``CI=true``, as for ``--require-signed``), else
    ``warn``."""
    return "refuse" if os.environ.get("CI", "").strip().lower() == "true" else "warn"


def _check_policy(kind: str, policy: str, choices: tuple[str, ...]) -> None:
    if policy not in choices:
        msg = f"unknown {kind} policy {policy!r}; choose one of {', '.join(choices)}"
        raise GateUsageError(msg)


def gate_problem(row: Row, inputs: str = "verified", dirty: str = "allow") -> str | None:
    """The row's own problem; else, when it would pass, ``dirty`` (made with uncommitted
    changes, under ``dirty="refuse"``) or ``unverifiable`` (an input cannot be checked here,
    under ``inputs="verified"``)."""
    _check_policy("inputs", inputs, INPUT_POLICIES)
    _check_policy("dirty", dirty, DIRTY_POLICIES)
    if row.problem is not None:
        return row.problem
    if row.dirty and dirty == "refuse":
        return "dirty"
    if row.unverifiable and inputs == "verified":
        return "unverifiable"
    return None


def _place(where: str | None) -> str:
    """A record's file:line, relative to the current folder when it lies below it."""
    if where is None:
        return "?"
    try:
        return str(Path(where).relative_to(Path.cwd()))
    except ValueError:
        return where


@dataclass(frozen=True)
class GateResult:
    claims: tuple[str, ...]
    problems: tuple[Row, ...]
    policy: str = "verified"
    unverified: tuple[Row, ...] = ()  # rows with an input not checked here (any policy)
    dirty_policy: str = "allow"
    dirty: tuple[Row, ...] = ()  # rows whose record was made with uncommitted changes
    criteria: tuple[Row, ...] = ()  # fresh FAILs of decision criteria: reported, not counted

    def problem(self, row: Row) -> str | None:
        return gate_problem(row, self.policy, self.dirty_policy)

    @property
    def dirty_passing(self) -> tuple[Row, ...]:
        """Dirty rows that would pass but for being dirty: refused, warned of, or allowed."""
        return tuple(r for r in self.dirty if r.problem is None)

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
            problem = str(self.problem(r))
            why = r.stale or {"unverifiable": r.unverifiable, "family": r.family,
                              "dirty": (f"recorded with uncommitted changes ({_place(r.where)})",)
                              }.get(problem, r.reasons)
            rows.append([r.claim, r.subject, r.role, problem, r.shown_verdict,
                         shorten("; ".join(why), 70),
                         _FIX[problem].format(claim=r.claim, subject=r.subject)])
        table: str = tabulate(rows, headers=["claim", "subject", "role", "problem", "verdict",
                                             "why", "fix"], tablefmt="simple",
                                   disable_numparse=True)  # all text: numparse costs 0.2 s
        return table

    def dirty_lines(self) -> list[str]:
        """One line per passing row whose record was made with uncommitted changes, naming
        its record's file:line and the fix (none under ``allow``)."""
        if self.dirty_policy == "allow":
            return []
        head = "dirty" if self.dirty_policy == "refuse" else "warning (--dirty=warn)"
        tail = ("" if self.dirty_policy == "refuse" else
                "; under CI=true the gate refuses it")
        return [f"{head}: {r.claim} on {r.subject}: record {r.record} at {_place(r.where)} was "
                f"made with uncommitted changes; commit, then re-run its falsifier: pytest "
                f"falsifiers/ -m live -k '{r.claim} and {r.subject}'{tail}"
                for r in self.dirty_passing]

    def summary(self) -> str:
        unchecked = ""
        if self.unverified:
            unchecked = (f"; {len(self.unverified)} record(s) rest on inputs not checked here "
                         f"(--inputs={self.policy})")
        if self.criteria:
            met = ", ".join(f"{r.claim} on {r.subject}" for r in self.criteria)
            unchecked += (f"; {len(self.criteria)} decision criterion FAIL(s), evidence for a "
                          f"decision, not counted ({met}; falsify decide)")
        if self.dirty_passing and self.dirty_policy != "refuse":
            unchecked += (f"; {len(self.dirty_passing)} record(s) made with uncommitted changes "
                          f"(--dirty={self.dirty_policy})")
        if self.ok:
            return (f"gate: PASS — {len(self.claims)} claim(s) with fresh evidence, controls "
                    f"hold{unchecked}")
        counts: dict[str, int] = {}
        for r in self.problems:
            problem = str(self.problem(r))
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


def evaluate_gate(report: StatusReport, inputs: str = "verified",
                  dirty: str | None = None) -> GateResult:
    """Every row with a problem; under ``inputs="verified"`` an unverifiable input is one, under
    ``dirty="refuse"`` a record made with uncommitted changes (``None``: :func:`dirty_default`)."""
    dirty = dirty_default() if dirty is None else dirty
    problems = tuple(r for r in report.rows if gate_problem(r, inputs, dirty) is not None)
    unverified = tuple(r for r in report.rows if r.record is not None and r.unverifiable)
    made_dirty = tuple(r for r in report.rows if r.record is not None and r.dirty)
    criteria = tuple(r for r in report.rows
                     if r.criterion_fail and gate_problem(r, inputs, dirty) is None)
    return GateResult(tuple(c.claim.id for c in report.claims), problems, inputs, unverified,
                      dirty, made_dirty, criteria)
