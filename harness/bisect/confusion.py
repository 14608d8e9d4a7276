"""The confusion matrix of hypothesis bisection over a suite of planted faults.

A fault suite (subject kind ``fault-suite``) names a claim and, for each faulty subject, the one
hypothesis whose condition was planted in it. Bisection runs on each; row = the planted
hypothesis, column = the hypothesis bisection named as a cause (or ``none``). Everything on the
diagonal means bisection found each planted fault and blamed nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.bisect.hypotheses import bisect_hypotheses
from harness.contracts import ContractSet
from harness.workspace import SubjectSpec, Workspace, WorkspaceError

__all__ = ["NONE", "Confusion", "FaultRow", "FaultSuite", "confusion", "load_fault_suite"]

NONE = "none"


@dataclass(frozen=True)
class FaultSuite:
    id: str
    claim: str
    faults: tuple[tuple[str, str], ...]  # (faulty subject, planted hypothesis)


def load_fault_suite(spec: SubjectSpec, workspace: Workspace) -> FaultSuite:
    """Workspace loader for ``kind = "fault-suite"``: options ``claim`` and ``faults``
    (a table: faulty subject id -> planted hypothesis id)."""
    del workspace
    claim, faults = spec.options.get("claim"), spec.options.get("faults")
    if not isinstance(claim, str) or not isinstance(faults, Mapping) or not faults:
        msg = (f"fault suite {spec.id!r} needs claim = \"<claim id>\" and a non-empty faults "
               f"table of subject = \"<planted hypothesis id>\"")
        raise WorkspaceError(msg)
    return FaultSuite(spec.id, claim, tuple((str(s), str(h)) for s, h in faults.items()))


@dataclass(frozen=True)
class FaultRow:
    subject: str
    planted: str
    baseline: str  # the claim's verdict on the faulty subject as loaded
    causes: tuple[str, ...]
    findings: Mapping[str, str]  # hypothesis -> probe finding


@dataclass(frozen=True)
class Confusion:
    claim: str
    hypotheses: tuple[str, ...]  # the claim's hypotheses: the columns (then NONE)
    rows: tuple[FaultRow, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.hypotheses, NONE)

    def matrix(self) -> list[list[int]]:
        """Row per fault (in suite order), 1 where bisection named that column as a cause."""
        return [[int(c in r.causes) if c != NONE else int(not r.causes) for c in self.columns]
                for r in self.rows]

    @property
    def diagonal(self) -> int:
        return sum(r.planted in r.causes for r in self.rows)

    @property
    def off_diagonal(self) -> int:
        return sum(len([c for c in r.causes if c != r.planted]) for r in self.rows)

    @property
    def unexplained(self) -> int:
        return sum(not r.causes for r in self.rows)

    def attachment(self) -> dict[str, Any]:
        """The matrix as a curves attachment renders plot: x = column index, a series per row.

        ``{"x": [0, 1, ...], "columns": [...], "series": {"<planted> (<subject>)": row}}``.
        """
        legend = ", ".join(f"{i} {c}" for i, c in enumerate(self.columns))
        return {"x": list(range(len(self.columns))), "columns": list(self.columns),
                "x_label": f"named as cause ({legend})", "y_label": "named (1) or not (0)",
                "series": {f"{r.planted} ({r.subject})": row
                           for r, row in zip(self.rows, self.matrix(), strict=True)}}

    def table(self) -> list[list[str]]:
        return [[f"{r.planted} ({r.subject})", *("1" if v else "." for v in row)]
                for r, row in zip(self.rows, self.matrix(), strict=True)]


def confusion(ws: Workspace, contracts: ContractSet, suite: FaultSuite, *,
              progress: Callable[[str], None] | None = None,
              done: dict[tuple[str, str], FaultRow] | None = None) -> Confusion:
    """Bisect the suite's claim on each faulty subject (recording nothing) and tabulate.

    ``done`` remembers rows by (claim, subject) across suites that share faults.
    """
    claim = contracts[suite.claim]
    done = {} if done is None else done
    rows = []
    for subject, planted in suite.faults:
        key = (claim.id, subject)
        if key not in done:
            result = bisect_hypotheses(ws, contracts, claim, subject)
            done[key] = FaultRow(subject, planted, result.baseline.verdict.value, result.causes,
                                 {p.hypothesis.id: p.status.value for p in result.probes})
        row = done[key]
        rows.append(FaultRow(subject, planted, row.baseline, row.causes, row.findings))
        if progress is not None:
            progress(f"{subject}: planted {planted}, named {', '.join(row.causes) or NONE}")
    return Confusion(claim.id, tuple(h.id for h in claim.hypotheses), tuple(rows))
