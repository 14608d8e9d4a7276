"""Hypothesis bisection: why does a claim fail on a subject?

1. The claim's falsifier runs on the subject as loaded (the baseline, recorded as a claim record).
2. Every hypothesis's probe looks at the live subject: CONFIRMED, REFUTED or INCONCLUSIVE, with
   what it measured, recorded as a ``hypothesis`` record.
3. Each confirmed hypothesis's intervention removes its condition from a freshly loaded subject
   and the falsifier runs again on the changed model. With several confirmed, they are tried
   alone, all together and (three or more) all but one, so the table can say which are needed.

A hypothesis is called a cause only when removing its condition flips the claim to PASS: alone,
or as a member of the confirmed set without which that set no longer flips it. Each confirmed
hypothesis gets a second record concluding it (CONFIRMED: a cause; REFUTED: present but not the
cause; INCONCLUSIVE: its intervention could not run), carrying the claim's measurements on the
intervened model and the whole table as attachments.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.bisect.falsifier import fresh_workspace, measurements_json, run_falsifier
from harness.contracts import Claim, ContractSet, Hypothesis, SubjectRef
from harness.evidence import Evidence
from harness.probes import (
    Finding,
    InterventionError,
    ProbeContext,
    ProbeUnsupported,
    get_intervention,
    get_probe,
)
from harness.records import Record, Status
from harness.verdict import Verdict
from harness.workspace import Workspace

__all__ = ["HypothesisBisection", "ProbeResult", "Trial", "bisect_hypotheses"]

NODE = "falsify bisect hypotheses"


@dataclass(frozen=True)
class ProbeResult:
    hypothesis: Hypothesis
    status: Status
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Trial:
    """The falsifier on a fresh load with some hypotheses' conditions removed."""

    hypotheses: tuple[str, ...]
    verdict: Status
    reasons: tuple[str, ...]
    changes: tuple[str, ...]
    record: Record | None = None

    @property
    def flips(self) -> bool:
        return self.verdict is Status.PASS

    def to_json(self) -> dict[str, Any]:
        return {"hypotheses": list(self.hypotheses), "claim_verdict": self.verdict.value,
                "reasons": list(self.reasons), "changes": list(self.changes),
                "measurements": {} if self.record is None else measurements_json(self.record)}


@dataclass(frozen=True)
class HypothesisBisection:
    claim: str
    subject: str
    baseline: Record
    probes: tuple[ProbeResult, ...]
    trials: tuple[Trial, ...]
    records: tuple[str, ...] = field(default=())

    def trial(self, *ids: str) -> Trial | None:
        return next((t for t in self.trials if set(t.hypotheses) == set(ids)), None)

    @property
    def tested(self) -> tuple[str, ...]:
        """Confirmed hypotheses whose interventions were tried."""
        return tuple(t.hypotheses[0] for t in self.trials if len(t.hypotheses) == 1)

    def needed(self, h: str) -> bool | None:
        """Does the confirmed set stop flipping the claim without ``h``? None: not decidable."""
        tested = self.tested
        if h not in tested:
            return None
        if len(tested) == 1:
            alone = self.trial(h)
            return None if alone is None else alone.flips
        together = self.trial(*tested)
        without = self.trial(*(x for x in tested if x != h))
        if together is None or without is None or not together.flips:
            return None
        return not without.flips

    def is_cause(self, h: str) -> bool:
        alone = self.trial(h)
        return alone is not None and (alone.flips or bool(self.needed(h)))

    @property
    def causes(self) -> tuple[str, ...]:
        return tuple(h for h in self.tested if self.is_cause(h))

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for p in self.probes:
            h = p.hypothesis.id
            alone = self.trial(h)
            out.append({"hypothesis": h, "probe": p.hypothesis.probe, "finding": p.status.value,
                        "intervention": p.hypothesis.intervention if alone else None,
                        "claim_alone": alone.verdict.value if alone else None,
                        "needed": self.needed(h), "cause": self.is_cause(h)})
        return out

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim, "subject": self.subject,
                "baseline": {"verdict": self.baseline.verdict.value,
                             "reasons": list(self.baseline.reasons)},
                "probes": [{"hypothesis": p.hypothesis.id, "status": p.status.value,
                            "reasons": list(p.reasons)} for p in self.probes],
                "trials": [t.to_json() for t in self.trials], "table": self.rows(),
                "causes": list(self.causes), "records": list(self.records)}


@dataclass
class _Recorder:
    """Turns evidence into hypothesis records and appends them (or keeps them, with no ledger)."""

    workspace: Workspace
    writer: Any  # LedgerWriter | None
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    written: list[str] = field(default_factory=list)

    def provenance(self) -> dict[str, Any]:
        from harness.provenance import collect

        return collect(self.workspace.root)

    def evidence(self, claim: Claim, ref: SubjectRef) -> Evidence:
        from harness.provenance import InputHasher

        hasher = InputHasher(self.workspace.cache_dir / "hashes.json", root=self.workspace.root,
                             aliases=self.workspace.input_aliases())
        return Evidence(claim, ref, self.workspace.root, hasher.hash)

    def append(self, record: Record) -> None:
        if self.writer is not None:
            self.written.append(str(self.writer.append(record).id))

    def hypothesis(self, ev: Evidence, h: str, finding: Finding, start: float) -> None:
        timing = {"start": start, "stop": time.time(), "duration_s": round(time.time() - start, 6),
                  "phase": "call"}
        record = ev.to_record(Verdict(finding.status, finding.reasons), node_id=f"{NODE}::{h}",
                              session=self.session, provenance=self.provenance(), timing=timing,
                              kind="hypothesis", hypothesis=h)
        self.append(record)


def _probe(ctx: ProbeContext, h: Hypothesis, ev: Evidence, extra: Sequence[str]) -> Finding:
    if h.probe is None:
        return Finding.inconclusive(f"{h.id} names no probe: it cannot be checked")
    try:
        model_path = getattr(ctx.model(), "path", None)
        if model_path is not None:
            ev.input(model_path)
    except ProbeUnsupported:
        pass
    try:
        return get_probe(h.probe, extra)(ctx, ev)
    except ProbeUnsupported as exc:
        return Finding.inconclusive(f"probe {h.probe} does not apply: {exc}")
    except Exception as exc:  # a probe that raised is an ERROR, recorded with why
        return Finding(Status.ERROR, (f"probe {h.probe} raised {type(exc).__name__}: {exc}",))


def _trial(ws: Workspace, contracts: ContractSet, claim: Claim, ref: SubjectRef,
           chosen: Sequence[Hypothesis], extra: Sequence[str]) -> Trial:
    ids = tuple(h.id for h in chosen)
    trial_ws = fresh_workspace(ws)
    ctx = ProbeContext(trial_ws, contracts, claim, ref)
    changes = []
    try:
        for h in chosen:
            changes.append(f"{h.intervention}: {get_intervention(str(h.intervention), extra)(ctx)}")
    except InterventionError as exc:
        return Trial(ids, Status.ERROR, (f"intervention could not run: {exc}",), tuple(changes))
    record = run_falsifier(trial_ws, claim, ref.id)
    return Trial(ids, record.verdict, record.reasons, tuple(changes), record)


def _combinations(ids: Sequence[Hypothesis]) -> list[tuple[Hypothesis, ...]]:
    """Alone; then (two or more) all together; then (three or more) all but one."""
    combos: list[tuple[Hypothesis, ...]] = [(h,) for h in ids]
    if len(ids) >= 2:
        combos.append(tuple(ids))
    if len(ids) >= 3:
        combos += [tuple(x for x in ids if x is not h) for h in ids]
    return combos


def bisect_hypotheses(ws: Workspace, contracts: ContractSet, claim: Claim, subject_id: str, *,
                      writer: Any = None, extra_modules: Sequence[str] = (),
                      progress: Callable[[str], None] | None = None) -> HypothesisBisection:
    """Probe every hypothesis of ``claim`` on ``subject_id`` and try the confirmed ones' fixes."""
    ref = claim.subject(subject_id)
    if ref is None:
        msg = (f"{subject_id!r} is not a subject or control of {claim.id}; bisect one of: "
               f"{', '.join(r.id for r in claim.all_subjects)}")
        raise LookupError(msg)
    say = progress or (lambda _: None)
    rec = _Recorder(ws, writer)
    baseline = run_falsifier(fresh_workspace(ws), claim, subject_id)
    rec.append(baseline)
    say(f"baseline: {claim.id} on {subject_id}: {baseline.verdict}")
    probes = _run_probes(ws, contracts, claim, ref, rec, extra_modules, say)
    confirmed = [p.hypothesis for p in probes
                 if p.status is Status.CONFIRMED and p.hypothesis.intervention]
    trials = []
    if baseline.verdict is not Status.PASS:
        for combo in _combinations(confirmed):
            trial = _trial(ws, contracts, claim, ref, combo, extra_modules)
            say(f"with {' + '.join(h.intervention or '' for h in combo)}: {trial.verdict}")
            trials.append(trial)
    result = HypothesisBisection(claim.id, subject_id, baseline, tuple(probes), tuple(trials))
    _conclude(result, claim, ref, rec)
    return HypothesisBisection(claim.id, subject_id, baseline, tuple(probes), tuple(trials),
                               tuple(rec.written))


def _run_probes(ws: Workspace, contracts: ContractSet, claim: Claim, ref: SubjectRef,
                rec: _Recorder, extra: Sequence[str],
                say: Callable[[str], None]) -> list[ProbeResult]:
    ctx = ProbeContext(fresh_workspace(ws), contracts, claim, ref)  # probes look, never change
    results = []
    for h in claim.hypotheses:
        start = time.time()
        ev = rec.evidence(claim, ref)
        finding = _probe(ctx, h, ev, extra)
        ev.attach("stage", "probe")
        rec.hypothesis(ev, h.id, finding, start)
        results.append(ProbeResult(h, finding.status, finding.reasons))
        say(f"{h.id} ({h.probe}): {finding.status}")
    return results


def _conclude(result: HypothesisBisection, claim: Claim, ref: SubjectRef, rec: _Recorder) -> None:
    """One record per tried hypothesis: a cause (CONFIRMED) or not (REFUTED), or INCONCLUSIVE."""
    for h in result.tested:
        alone = result.trial(h)
        if alone is None:
            continue
        ev = rec.evidence(claim, ref)
        for m in () if alone.record is None else alone.record.measurements:
            if m.values is not None:
                ev.measure_vector(m.name, m.values, m.unit, n=m.n, cis=m.cis, labels=m.labels,
                                  ci_level=m.ci_level)
            else:
                ev.measure(m.name, m.value, unit=m.unit, n=m.n, ci=m.ci, ci_level=m.ci_level)
        ev.attach("stage", "intervention")
        ev.attach("trials", [t.to_json() for t in result.trials])
        ev.attach("table", result.rows())
        rec.hypothesis(ev, h, _conclusion(result, h, claim.id), time.time())


def _conclusion(result: HypothesisBisection, h: str, claim_id: str) -> Finding:
    alone = result.trial(h)
    if alone is None or alone.verdict is Status.ERROR:
        why = "; ".join(alone.reasons) if alone else "not tried"
        return Finding.inconclusive(f"removing {h}'s condition could not be tried: {why}")
    said = (f"with {'; '.join(alone.changes)}: {claim_id} {alone.verdict}: "
            f"{'; '.join(alone.reasons)}")
    needed = result.needed(h)
    if alone.flips:
        return Finding.confirmed(f"{h} is a cause: removing it alone flips the claim to PASS", said)
    if needed:
        return Finding.confirmed(f"{h} is a cause: the confirmed set flips the claim to PASS only "
                                 f"with it", said)
    return Finding.refuted(f"{h}'s condition is present but removing it does not flip the "
                           f"claim{'' if needed is None else ', and the others flip it without'}",
                           said)
