"""judge(): measurements of one (claim, subject) to a verdict with reasons in words.

The table (DESIGN "Verdicts"):

==========  ==========  =========================  ============
predicate   guards      statistics                 verdict
==========  ==========  =========================  ============
holds       all hold    CI clear, or no CI asked   PASS
violated    all hold    CI clear, or no CI asked   FAIL
holds       one fails   any                        SUSPECT
violated    one fails   any                        INCONCLUSIVE
any         all hold    CI straddles threshold     INCONCLUSIVE
raised, bad input, no measurement, n = 0, a CI    ERROR
that does not hold its value (harness.support)
subject not available                              SKIPPED
==========  ==========  =========================  ============

A guard that cannot be decided counts as failing: methodology that cannot be shown is suspect.
Besides the contract's guards, a measure with a declared ``min_n`` gets the tool's own guard
``min_n.<measure>`` (harness.support).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.contracts import Claim
from harness.expr import ExprError, Truth
from harness.records import GuardResult, Measurement, Status
from harness.support import min_n_guards, support_problem
from harness.units import Quantity, UnitError, parse_unit
from harness.vectors import QuantityVector

__all__ = ["Verdict", "judge", "judge_error", "judge_skipped"]


@dataclass(frozen=True)
class Verdict:
    status: Status
    reasons: tuple[str, ...]
    guards: tuple[GuardResult, ...] = ()

    def format(self) -> str:
        return f"{self.status}: " + "; ".join(self.reasons)


def judge_error(reason: str) -> Verdict:
    return Verdict(Status.ERROR, (reason,))


def judge_skipped(reason: str) -> Verdict:
    return Verdict(Status.SKIPPED, (reason,))


Env = dict[str, Quantity | QuantityVector]


def _environment(claim: Claim, subject_id: str,
                 measurements: Sequence[Measurement]) -> Env | Verdict:
    """Measurements and params by name; an ERROR verdict when a measurement is unusable."""
    if not measurements:
        return judge_error("no measurement was recorded; a falsifier must measure something "
                           "(a record with zero measurements is never a pass)")
    env: Env = {}
    for m in measurements:
        spec = claim.measures.get(m.name)
        if spec is None:
            return judge_error(f"measured {m.name!r}, which claim {claim.id} does not declare; "
                               f"add it under measures in {claim.source}")
        if spec.vector != m.is_vector:
            shape = ("a vector (evidence.measure_vector)" if m.is_vector
                     else "a number (evidence.measure)")
            declared = "vector: true" if spec.vector else "a number (no vector: true)"
            return judge_error(f"measurement {m.name} was recorded as {shape}, but {claim.source} "
                               f"declares it {declared}; record it as declared or fix the "
                               f"declaration")
        if not m.finite:
            return judge_error(_nonfinite_reason(m))
        problem = support_problem(m)
        if problem is not None:
            return judge_error(problem)
        try:
            declared_unit = parse_unit(spec.unit)
            same = parse_unit(m.unit) == declared_unit
            if m.values is not None:
                env[m.name] = m.vector if same else m.vector.to(declared_unit)
            else:
                env[m.name] = m.quantity if same else m.quantity.to(declared_unit)
        except UnitError as exc:
            return judge_error(f"measurement {m.name}: {exc} (the contract declares {spec.unit})")
    env.update(claim.params_for(subject_id))
    return env


def _nonfinite_reason(m: Measurement) -> str:
    if m.values is None:
        return (f"measurement {m.name} is {m.value} {m.unit}: a non-finite value is an error, "
                f"never a pass or a fail")
    bad = [i for i, v in enumerate(m.values) if not math.isfinite(v)]
    shown = ", ".join(f"[{i}] = {m.values[i]}" for i in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return (f"measurement {m.name} has {len(bad)} non-finite of {len(m.values)} elements "
            f"({shown}{more}): a non-finite value is an error, never a pass or a fail")


def _evaluate_guards(claim: Claim, env: Env,
                     sizes: dict[str, int]) -> tuple[GuardResult, ...]:
    results = []
    for guard in claim.guards:
        outcome = guard.check.evaluate(env, use_ci=False, sizes=sizes)
        holds = {Truth.TRUE: True, Truth.FALSE: False, Truth.UNKNOWN: None}[outcome.truth]
        results.append(GuardResult(guard.id, holds, outcome.text))
    return tuple(results)


def _table(predicate: Truth, guards_hold: bool) -> Status:
    if predicate is Truth.UNKNOWN:
        return Status.INCONCLUSIVE
    if predicate is Truth.TRUE:
        return Status.PASS if guards_hold else Status.SUSPECT
    return Status.FAIL if guards_hold else Status.INCONCLUSIVE


def judge(claim: Claim, subject_id: str, measurements: Sequence[Measurement]) -> Verdict:
    """The verdict of ``claim`` on ``subject_id`` given what its falsifier measured."""
    env = _environment(claim, subject_id, measurements)
    if isinstance(env, Verdict):
        return env
    support = min_n_guards({m.name: m.min_n for m in claim.measures.values()
                            if m.min_n is not None}, measurements)
    if isinstance(support, str):
        return judge_error(support)
    try:
        sizes = {m.name: m.n for m in measurements if m.n is not None}
        guards = support + _evaluate_guards(claim, env, sizes)
        outcome = claim.predicate.evaluate(env, use_ci=claim.statistics.decide_on_ci,
                                           sizes=sizes)
    except (ExprError, UnitError) as exc:
        return judge_error(f"cannot evaluate claim {claim.id}: {exc}")
    except (ZeroDivisionError, ValueError, OverflowError) as exc:
        return judge_error(f"cannot evaluate claim {claim.id}: {type(exc).__name__}: {exc}")
    failed = [g for g in guards if g.holds is not True]
    status = _table(outcome.truth, not failed)
    reasons = [_predicate_reason(outcome.truth, outcome.text)]
    reasons += [f"guard {g.id} {'undecided' if g.holds is None else 'failed'}: {g.reason}"
                for g in failed]
    return Verdict(status, tuple(reasons), guards)


def _predicate_reason(truth: Truth, text: str) -> str:
    text = text.removesuffix(": true").removesuffix(": false")
    if truth is Truth.TRUE:
        return f"holds: {text}"
    if truth is Truth.FALSE:
        return f"violated: {text}"
    return f"undecided: {text}"
