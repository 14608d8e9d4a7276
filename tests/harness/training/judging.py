"""The training claims as a project binds them, and a helper that measures a log and judges it
with the real contract machinery (harness.verdict.judge), as the falsifiers do."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.contracts import Claim, ContractSet, load_contracts
from harness.evidence import Evidence
from harness.records import Status
from harness.runs.curves import MEASURES
from harness.runs.logs import RunLog
from harness.verdict import Verdict, judge

SUBJECT = "run"
BINDING = """\
area: training
title: Training runs
uses:
""" + "".join(f"""\
  - claim: {claim_id}
    subjects: [{SUBJECT}]
    controls: [{{subject: broken-run, expect: FAIL}}]
""" for claim_id in sorted(MEASURES))


@cache
def contracts() -> ContractSet:
    folder = Path(tempfile.mkdtemp(prefix="training-contracts-"))
    (folder / "training.yaml").write_text(BINDING, encoding="utf-8")
    return load_contracts(folder)


@dataclass(frozen=True)
class Judged:
    verdict: Verdict
    evidence: Evidence

    @property
    def status(self) -> Status:
        return self.verdict.status

    def value(self, name: str) -> float:
        (m,) = [m for m in self.evidence.measurements if m.name == name]
        return m.value

    def measured(self, name: str) -> bool:
        return any(m.name == name for m in self.evidence.measurements)

    @property
    def notes(self) -> str:
        return "\n".join(self.evidence.notes)


def evidence_for(claim: Claim) -> Evidence:
    ref = claim.subject(SUBJECT)
    assert ref is not None
    return Evidence(claim, ref, Path.cwd())


def judged(claim_id: str, log: RunLog) -> Judged:
    """Measure ``log`` with the claim's function and judge it with the claim."""
    claim = contracts()[claim_id]
    evidence = evidence_for(claim)
    MEASURES[claim_id](evidence, log)
    return Judged(judge(claim, SUBJECT, evidence.measurements), evidence)
