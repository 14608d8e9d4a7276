"""The one ledger record a mutation run leaves per claim: kind ``mutation``, subject ``*``.

Its verdict is the report's status (PASS: every surviving mutant is a documented limitation;
FAIL: an undocumented survivor; ERROR: the baseline or a mutant could not run; INCONCLUSIVE: no
mutant applied). Its measurements are the counts and the score; its attachments every mutant's
outcome, so the evidence README renders from the ledger alone. A mutation record is never a
claim's evidence: ``Ledger.latest()`` reads kind ``claim`` only, and the mutants' own falsifier
runs never reach the ledger.
"""

from __future__ import annotations

import time
from typing import Any

from harness.contracts import SubjectRef
from harness.evidence import Evidence
from harness.mutate.operators import Layer, kill_rule
from harness.mutate.run import MutationReport, Outcome
from harness.records import Record
from harness.verdict import Verdict

__all__ = ["KIND", "NODE", "SUBJECT", "summary_record"]

KIND = "mutation"
SUBJECT = "*"
NODE = "falsify mutate"


def summary_record(report: MutationReport, *, root: Any, session: str,
                   provenance: dict[str, Any]) -> Record:
    ev = Evidence(report.claim, SubjectRef(SUBJECT), root)
    killed, survived = report.count(Outcome.KILLED), report.count(Outcome.SURVIVED)
    ev.measure("mutants", len(report.results), unit="count")
    ev.measure("killed", killed, unit="count")
    ev.measure("survived", survived, unit="count")
    ev.measure("undocumented_survivors", len(report.undocumented), unit="count")
    ev.measure("not_applicable", report.count(Outcome.NOT_APPLICABLE), unit="count")
    ev.measure("errors", report.count(Outcome.ERROR), unit="count")
    if report.score is not None:
        ev.measure("mutation_score", report.score, unit="ratio", n=killed + survived)
    ev.attach("mutants", [r.to_json() for r in report.results])
    ev.attach("baseline", [{"subject": r.subject, "role": r.role, "expect": r.expect,
                            "verdict": r.verdict.value} for r in report.baseline])
    ev.attach("kill_rules", {layer.value: kill_rule(layer) for layer in Layer})
    for note in report.notes:
        ev.note(note)
    now = time.time()
    timing = {"start": now - report.seconds, "stop": now,
              "duration_s": round(report.seconds, 3), "phase": "call"}
    return ev.to_record(Verdict(report.status, report.reasons()),
                        node_id=f"{NODE} {report.claim.id}", session=session,
                        provenance=provenance, timing=timing, kind=KIND)
