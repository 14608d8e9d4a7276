"""Mutation testing of one claim: baseline, mutants, outcomes, and the score.

1. Baseline: the claim's falsifier runs once on every subject and control (in this process, to a
   scratch ledger). Rows that meet their expectation (a subject at PASS, a control at its
   expected verdict) are the green suite the mutants are tried against.
2. Contract and measurement mutants re-judge the baseline's real measurements (no new run).
3. Input mutants run the falsifier again, live, on a mutated copy of a passing subject (the
   first one; every one with ``every_subject``), in a workspace whose config points the subject
   at the copy. Loaded models are shared with the baseline's workspace, so each loads once.

Nothing here writes to a ledger: :func:`harness.mutate.record.summary_record` turns the report
into the one record that does, and the mutants' own runs stay in their scratch ledgers.
"""

from __future__ import annotations

import enum
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bisect.falsifier import fresh_workspace, run_falsifiers
from harness.contracts import Claim, SubjectRef
from harness.mutate.inputs import InputMutant, input_kinds, input_mutants
from harness.mutate.operators import Layer, Mutant, contract_mutants, measurement_mutants
from harness.records import Record, Status
from harness.verdict import judge
from harness.workspace import Workspace

__all__ = ["MutantResult", "MutationReport", "Outcome", "limitations", "mutate_claim"]


class Outcome(enum.StrEnum):
    KILLED = "killed"
    SURVIVED = "survived"
    NOT_APPLICABLE = "not applicable"
    ERROR = "error"


@dataclass(frozen=True)
class MutantResult:
    mutant: Mutant
    outcome: Outcome
    verdicts: tuple[tuple[str, str], ...]  # (subject, verdict under the mutant)
    why: str
    limitation: str | None = None  # the contract's reason, when a survivor is documented

    def to_json(self) -> dict[str, Any]:
        return {"id": self.mutant.id, "operator": self.mutant.operator,
                "layer": self.mutant.layer.value, "description": self.mutant.description,
                "outcome": self.outcome.value, "why": self.why,
                "verdicts": [{"subject": s, "verdict": v} for s, v in self.verdicts],
                "limitation": self.limitation}


@dataclass(frozen=True)
class MutationReport:
    claim: Claim
    baseline: tuple[Record, ...]
    results: tuple[MutantResult, ...]
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    error: str | None = None  # the baseline could not be run

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)

    @property
    def survivors(self) -> tuple[MutantResult, ...]:
        return tuple(r for r in self.results if r.outcome is Outcome.SURVIVED)

    @property
    def undocumented(self) -> tuple[MutantResult, ...]:
        return tuple(r for r in self.survivors if r.limitation is None)

    @property
    def score(self) -> float | None:
        """killed / (killed + survived); None when no mutant could be decided."""
        decided = self.count(Outcome.KILLED) + self.count(Outcome.SURVIVED)
        return self.count(Outcome.KILLED) / decided if decided else None

    @property
    def status(self) -> Status:
        """FAIL: an undocumented survivor; ERROR: a baseline or mutant that could not run;
        INCONCLUSIVE: no mutant applied; PASS: every survivor is a documented limitation."""
        if self.undocumented:
            return Status.FAIL
        if self.error is not None or self.count(Outcome.ERROR):
            return Status.ERROR
        return Status.INCONCLUSIVE if self.score is None else Status.PASS

    def reasons(self) -> tuple[str, ...]:
        if self.error is not None:
            return (f"baseline could not be run: {self.error}",)
        killed, survived = self.count(Outcome.KILLED), self.count(Outcome.SURVIVED)
        score = "—" if self.score is None else f"{100 * self.score:.0f} %"
        out = [f"mutation score {killed}/{killed + survived} ({score})"]
        out += [f"survived undocumented: {r.mutant.id}: {r.mutant.description}; {r.why}"
                for r in self.undocumented]
        out += [f"survived, documented limitation: {r.mutant.id}: {r.limitation}"
                for r in self.survivors if r.limitation is not None]
        out += [f"mutant could not be run: {r.mutant.id}: {r.why}"
                for r in self.results if r.outcome is Outcome.ERROR]
        return tuple(out)


def limitations(claim: Claim) -> dict[str, str]:
    """The claim's documented surviving mutants: ``mutation: {limitations: [{mutant, why}]}``."""
    section = claim.raw.get("mutation") or {}
    return {str(item["mutant"]): " ".join(str(item["why"]).split())
            for item in section.get("limitations", [])}


# --- the green suite ------------------------------------------------------------------------


def _meets(ref: SubjectRef, verdict: Status) -> bool:
    return verdict == (ref.expect if ref.role == "control" else Status.PASS)


def _green(claim: Claim, baseline: dict[str, Record]) -> list[tuple[SubjectRef, Record]]:
    return [(ref, baseline[ref.id]) for ref in claim.all_subjects
            if ref.id in baseline and _meets(ref, baseline[ref.id].verdict)]


def _expectation(ref: SubjectRef) -> str:
    return f"control must get {ref.expect}" if ref.role == "control" else "subject must PASS"


def _decide(mutant: Mutant, rows: list[tuple[SubjectRef, Status]]) -> MutantResult:
    verdicts = tuple((ref.id, v.value) for ref, v in rows)
    missed = [f"{ref.id}: {v} ({_expectation(ref)})" for ref, v in rows if not _meets(ref, v)]
    if missed:
        return MutantResult(mutant, Outcome.KILLED, verdicts, "detected by " + "; ".join(missed))
    shown = ", ".join(f"{ref.id} {v}" for ref, v in rows)
    return MutantResult(mutant, Outcome.SURVIVED, verdicts, f"no row noticed: {shown}")


def _not_applicable(mutant: Mutant, why: str) -> MutantResult:
    return MutantResult(mutant, Outcome.NOT_APPLICABLE, (), why)


def _contract_results(claim: Claim, green: list[tuple[SubjectRef, Record]]) -> list[MutantResult]:
    out = []
    for mutant, mutated in contract_mutants(claim):
        if not green:
            out.append(_not_applicable(mutant, "no subject or control met its expectation"))
            continue
        rows = [(ref, judge(mutated, ref.id, rec.measurements).status) for ref, rec in green]
        out.append(_decide(mutant, rows))
    return out


def _measurement_results(claim: Claim,
                         green: list[tuple[SubjectRef, Record]]) -> list[MutantResult]:
    passing = [(ref, rec) for ref, rec in green if ref.role == "subject"]
    out = []
    for mutant, transform in measurement_mutants(claim):
        if not passing:
            out.append(_not_applicable(mutant, "no subject PASSed at baseline"))
            continue
        rows = [(ref, judge(claim, ref.id, transform(rec.measurements)).status)
                for ref, rec in passing]
        out.append(_decide(mutant, rows))
    return out


# --- input mutants ----------------------------------------------------------------------------


def _mutant_workspace(base: Workspace, overrides: dict[str, dict[str, Any]],
                      replaced: Sequence[str]) -> Workspace:
    """``base``'s project with ``overrides`` as configured subjects; every subject ``base``
    already loaded and the mutant does not replace is shared, not loaded again."""
    config = dict(base.config)
    config["subjects"] = {**dict(base.config.get("subjects", {})), **overrides}
    mutated = Workspace(base.root, config, base.config_path)
    # Workspace keeps loaded subjects in _live (a per-process cache); sharing it is the point.
    shared = {k: v for k, v in base._live.items() if k not in replaced}
    mutated._live.update(shared)
    return mutated


def _run_input(base: Workspace, claim: Claim, im: InputMutant) -> MutantResult:
    from harness.bisect.commits import BisectError

    ref = claim.subject(im.subject)
    if ref is None:  # input_mutants is only asked about the claim's own subjects
        msg = f"{im.subject} is not a subject of {claim.id}"
        raise LookupError(msg)
    with tempfile.TemporaryDirectory(prefix="falsify-mutant-") as scratch:
        try:
            overrides = im.make(Path(scratch))
            ws = _mutant_workspace(base, overrides, im.replaced)
            record = run_falsifiers(ws, claim, [im.subject])[im.subject]
        except (BisectError, OSError, ValueError, KeyError) as exc:
            return MutantResult(im.mutant, Outcome.ERROR, (), f"{type(exc).__name__}: {exc}")
    result = _decide(im.mutant, [(ref, record.verdict)])
    first = record.reasons[0] if record.reasons else ""
    return MutantResult(result.mutant, result.outcome, result.verdicts,
                        f"{result.why}; {record.verdict}: {first}")


@dataclass
class _Plan:
    inputs: list[InputMutant] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _input_plan(ws: Workspace, claim: Claim, green: list[tuple[SubjectRef, Record]],
                every_subject: bool) -> _Plan:
    plan = _Plan()
    passing = [ref.id for ref, _ in green if ref.role == "subject"]
    for subject_id in passing if every_subject else passing[:1]:
        kind, found = input_mutants(ws, subject_id)
        if not found:
            plan.notes.append(f"no input operator for {subject_id} (kind {kind}); input "
                              f"mutants exist for kinds {', '.join(input_kinds())}")
        plan.inputs += found
    if not passing:
        plan.notes.append("no subject PASSed at baseline: no input mutant was run")
    return plan


# --- one claim --------------------------------------------------------------------------------

Progress = Callable[[str], None]


def mutate_claim(ws: Workspace, claim: Claim, *, every_subject: bool = False,
                 recorded: dict[str, Record] | None = None,
                 progress: Progress | None = None,
                 planned: Callable[[int], None] | None = None) -> MutationReport:
    """Run every applicable mutant of ``claim``; ``progress`` hears each step's name,
    ``planned`` how many steps there are (the baseline, then one per input mutant).

    ``recorded``: the claim's latest records by subject, judged as the baseline instead of a
    fresh run; input mutants, which need live subjects, are then left out (and said so).
    """
    from harness.bisect.commits import BisectError

    start = time.monotonic()
    step = progress or (lambda _: None)
    base = fresh_workspace(ws)
    if recorded is not None:
        records = _recorded_baseline(claim, recorded)
    else:
        try:
            records = run_falsifiers(base, claim, [r.id for r in claim.all_subjects])
        except BisectError as exc:
            step(f"{claim.id}: baseline")
            return MutationReport(claim, (), (), error=str(exc),
                                  seconds=time.monotonic() - start)
    step(f"{claim.id}: baseline")
    green = _green(claim, records)
    results = _contract_results(claim, green) + _measurement_results(claim, green)
    plan = _Plan(notes=["baseline from the ledger's latest records (--from-ledger): no input "
                        "mutant was run"]) if recorded is not None else \
        _input_plan(ws, claim, green, every_subject)
    if planned is not None:
        planned(len(plan.inputs))
    for im in plan.inputs:
        results.append(_run_input(base, claim, im))
        step(f"{claim.id}: {im.mutant.id} on {im.subject}")
    documented = limitations(claim)
    results = [_documented(r, documented) for r in results]
    notes = plan.notes + [f"limitation names {mid}, which did not survive here"
                          for mid in sorted(documented)
                          if not any(r.mutant.id == mid and r.outcome is Outcome.SURVIVED
                                     for r in results)]
    baseline = tuple(records[r.id] for r in claim.all_subjects if r.id in records)
    return MutationReport(claim, baseline, tuple(results), tuple(notes),
                          time.monotonic() - start)


def _recorded_baseline(claim: Claim, recorded: dict[str, Record]) -> dict[str, Record]:
    """The latest records, re-judged by today's contract (the recorded verdict may predate it)."""
    from dataclasses import replace

    return {sid: replace(r, verdict=judge(claim, sid, r.measurements).status)
            for sid, r in recorded.items() if claim.subject(sid) is not None}


def _documented(result: MutantResult, documented: dict[str, str]) -> MutantResult:
    if result.outcome is not Outcome.SURVIVED or result.mutant.id not in documented:
        return result
    return MutantResult(result.mutant, result.outcome, result.verdicts, result.why,
                        documented[result.mutant.id])


def layer_counts(report: MutationReport) -> dict[str, tuple[int, int]]:
    """(killed, survived) per layer, for the summary table."""
    out: dict[str, tuple[int, int]] = {}
    for layer in Layer:
        mine = [r for r in report.results if r.mutant.layer is layer]
        out[layer.value] = (sum(r.outcome is Outcome.KILLED for r in mine),
                            sum(r.outcome is Outcome.SURVIVED for r in mine))
    return out
