"""LiveClaims: a training run checks the claims bound to it while it trains, and records each check.

The run logs its metrics (``log(step, loss=...)``) into an in-memory :class:`RunLog`, the same
type the run-log readers return, with the units the subject's config declares. At each logging
or evaluation step, ``check(step)`` measures every claim the contracts bind to the run's subject
with the claim's measure function (:mod:`harness.runs.live.measures`), judges it with the
contract (:func:`harness.verdict.judge`), and appends one record per claim to the ledger: one
segment per run, the records, chain and provenance of a pytest session, the step in
``attachments["live"]`` and ``timing``.

A claim the contract marks ``kill: true`` (or one named in ``kill=``) is a kill criterion: its
first FAIL sets :attr:`LiveClaims.should_stop` (the callbacks stop the Trainer), notes why on the
record, and attaches the curve up to that step with a mark where the run stopped.

While the run goes on, a claim whose measure finds the log lacking what it reads (a validation
loss before the first evaluation) is not recorded but kept pending, with a warning the first time;
at :meth:`LiveClaims.close` every claim is recorded, whatever it finds, so a missing series ends
as an ERROR record, never as silence.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.contracts import Claim, ContractSet, SubjectRef, load_contracts
from harness.evidence import Evidence
from harness.records import Status
from harness.runs.live.measures import MeasureFn, measures, preload
from harness.runs.logs import Point, RunLog, RunLogError, Series
from harness.units import Unit, parse_unit
from harness.verdict import Verdict, judge, judge_error
from harness.workspace import SubjectNotConfigured, Workspace

__all__ = ["LIVE_WORKER", "Check", "LiveClaims", "LiveError", "RunKilled", "Stop"]

LIVE_WORKER = "live-"  # a run's ledger writer is live-<run id>: harness.render.liveruns finds it

_CURVE_POINTS = 400  # the kill record's curve is thinned to about this many points per series


class LiveError(ValueError):
    """Live checks cannot start as asked: names the contract, claim or subject and the fix."""


@dataclass(frozen=True)
class Stop:
    """Why a run was stopped: the kill criterion, the step, the verdict's reasons, the record."""

    claim: str
    step: int
    reasons: tuple[str, ...]
    record: str | None

    def format(self) -> str:
        return f"kill criterion {self.claim} is FAIL at step {self.step}: {'; '.join(self.reasons)}"


class RunKilled(RuntimeError):
    """Raised by ``check`` (when ``raise_on_kill=True``) once a kill criterion is FAIL."""

    def __init__(self, stop: Stop) -> None:
        super().__init__(stop.format())
        self.stop = stop


@dataclass(frozen=True)
class Check:
    """One claim judged at one step, and the record it became (None: not recorded)."""

    claim: str
    step: int
    status: Status
    reasons: tuple[str, ...]
    record: str | None


def _scalar(value: Any, name: str, step: int) -> float:
    """A logged value as a float: Python numbers, numpy, torch and MLX scalars."""
    if isinstance(value, bool | str | bytes):
        msg = f"log(step={step}): {name}={value!r} is not a number; log the metric's value"
        raise LiveError(msg)
    try:
        return float(value)
    except (TypeError, ValueError):
        msg = (f"log(step={step}): {name} is a {type(value).__name__}, not a scalar; log one "
               f"number per metric (e.g. loss.item())")
        raise LiveError(msg) from None


class LiveClaims:
    """The claims bound to one training run, checked as it trains and recorded in the ledger.

    ``run_id`` names this run (each run gets its own ledger segment); ``subject`` is the id the
    contracts bind claims to (default: ``run_id``). ``claims`` narrows the claims checked (each
    must be bound to the subject); ``kill`` adds kill criteria to those the contract marks.
    ``units``, ``series`` (role = series name) and ``vocab_size`` add to what the subject's
    ``run-log`` config declares; a unit declared differently in both is refused. ``root`` or
    ``workspace`` finds the project; ``ledger`` overrides its ledger folder; ``record=False``
    judges without appending. ``every``: check at most once per that many steps. ``command``:
    how to run the training again, shown beside the run in the evidence README (default: this
    process's command line).
    """

    def __init__(self, run_id: str, *, subject: str | None = None,
                 claims: Sequence[str] | None = None, kill: Sequence[str] = (),
                 units: Mapping[str, str | Unit] | None = None,
                 series: Mapping[str, str] | None = None, vocab_size: int | None = None,
                 root: Path | str | None = None, workspace: Workspace | None = None,
                 ledger: Path | str | None = None, record: bool = True, every: int = 1,
                 measures: Mapping[str, MeasureFn] | None = None,
                 raise_on_kill: bool = False, framework: str = "loop",
                 command: str | None = None) -> None:
        if not run_id:
            msg = "LiveClaims needs a run id (it names the run's ledger segment and records)"
            raise LiveError(msg)
        if every < 1:
            msg = f"every={every}: check at least once per step count of 1 or more"
            raise LiveError(msg)
        self.run_id, self.subject_id = run_id, subject or run_id
        self.workspace = workspace or Workspace.discover(Path(root) if root else None)
        self.ledger_dir = Path(ledger).resolve() if ledger else self.workspace.ledger_dir
        self.recording, self.every, self.framework = record, every, framework
        self.raise_on_kill = raise_on_kill
        self.command = command if command is not None else _command_line()
        contracts = load_contracts(self.workspace.contracts_dir,
                                   self.workspace.cache_dir / "contracts")
        self.claims, self.unchecked = self._select(contracts, claims, measures or {})
        self.kill = self._kill_ids(kill)
        self._units, self._roles, self._vocab = self._declared(units, series, vocab_size)
        self.session_id = uuid.uuid4().hex
        self._lock = threading.RLock()
        self.should_stop = False
        self.stopped: Stop | None = None
        self.checks: list[Check] = []
        self.pending: dict[str, str] = {}
        self._points: dict[str, list[Point]] = {}
        self._dirty = False
        self._last_step: int | None = None
        self._checked_at: int | None = None
        self._writer: Any = None
        self._provenance: dict[str, Any] | None = None
        self._code: dict[str, dict[str, Any]] = {}
        self._closed = False
        self._warm = threading.Thread(target=self._warm_up, name=f"falsify-live-{run_id}",
                                      daemon=True)
        self._warm.start()

    def _warm_up(self) -> None:
        """The first check's one-time costs (the measures' heavy imports, git and environment
        provenance), paid in the background while the run's first steps train."""
        preload([fn for _, _, fn in self.claims])
        if self.recording:
            with self._lock:
                self.provenance()

    # --- setup ------------------------------------------------------------------------------

    def _select(self, contracts: ContractSet, wanted: Sequence[str] | None,
                extra: Mapping[str, MeasureFn]
                ) -> tuple[list[tuple[Claim, SubjectRef, MeasureFn]], list[str]]:
        table = {**measures(), **extra}
        where = self.workspace.contracts_dir
        bound = {c.id: c for c in contracts.claims.values() if c.subject(self.subject_id)}
        for claim_id in wanted or ():
            if claim_id not in contracts:
                msg = (f"claims: {claim_id!r} is not a claim of {where}; bind it there (uses: "
                       f"- claim: {claim_id}, subjects: [{self.subject_id}]) or fix the id")
                raise LiveError(msg)
            if claim_id not in bound:
                msg = (f"claims: {claim_id} does not bind subject {self.subject_id!r} in "
                       f"{contracts[claim_id].source}; add {self.subject_id} to its subjects")
                raise LiveError(msg)
            if claim_id not in table:
                msg = (f"claims: {claim_id} has no measure function over a run log; pass "
                       f"measures={{{claim_id!r}: fn}} or check it with pytest after the run")
                raise LiveError(msg)
        ids = list(wanted) if wanted else sorted(c for c in bound if c in table)
        if not ids:
            msg = (f"no claim in {where} that can be checked during a run binds subject "
                   f"{self.subject_id!r}; bind one of {', '.join(sorted(table)) or 'none'} to it "
                   f"(uses: - claim: TRAIN-LOSS-FINITE, subjects: [{self.subject_id}], and a "
                   f"negative control)")
            raise LiveError(msg)
        chosen = []
        for claim_id in ids:
            claim = bound[claim_id]
            ref = claim.subject(self.subject_id)
            assert ref is not None  # bound claims bind it
            chosen.append((claim, ref, table[claim_id]))
        return chosen, sorted(set(bound) - set(ids))

    def _kill_ids(self, extra: Sequence[str]) -> frozenset[str]:
        ids = {claim.id for claim, _, _ in self.claims}
        for claim_id in extra:
            if claim_id not in ids:
                msg = (f"kill: {claim_id} is not among the claims checked on "
                       f"{self.subject_id!r} ({', '.join(sorted(ids))}); bind it to the subject "
                       f"or drop it from kill=")
                raise LiveError(msg)
        marked = {claim.id for claim, _, _ in self.claims if claim.raw.get("kill") is True}
        return frozenset(marked | set(extra))

    def _declared(self, units: Mapping[str, str | Unit] | None, roles: Mapping[str, str] | None,
                  vocab_size: int | None) -> tuple[dict[str, Unit], dict[str, str], int | None]:
        """Units, series roles and |V| from the subject's run-log config, then the arguments."""
        options: Mapping[str, Any] = {}
        try:
            spec = self.workspace.spec(self.subject_id)
            if spec.kind == "run-log":
                options = spec.options
        except SubjectNotConfigured:
            pass
        from harness.runs.logs import parse_units

        where = f"subject {self.subject_id!r}"
        declared = parse_units(options.get("units"), where)
        for name, unit in (units or {}).items():
            given = unit if isinstance(unit, Unit) else parse_unit(unit)
            if name in declared and declared[name] != given:
                msg = (f"units: {name} is {given.name} here but {declared[name].name} in the "
                       f"config of {where}; declare one unit, in one place")
                raise LiveError(msg)
            declared[name] = given
        merged_roles = {str(k): str(v) for k, v in (options.get("series") or {}).items()}
        merged_roles.update(roles or {})
        vocab = vocab_size if vocab_size is not None else options.get("vocab_size")
        return declared, merged_roles, vocab

    def set_vocab_size(self, vocab_size: int) -> None:
        """|V| found from the model (the callbacks read its config) when none was declared."""
        if self._vocab is None:
            self._vocab = vocab_size

    # --- logging ----------------------------------------------------------------------------

    def log(self, step: int, **metrics: Any) -> None:
        """Add one logged value per metric at ``step`` (a repeat of the last point is ignored)."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            msg = f"log(step={step!r}): the step is the global step, a non-negative integer"
            raise LiveError(msg)
        now = time.time()
        for name, raw in metrics.items():
            value = _scalar(raw, name, step)
            points = self._points.setdefault(name, [])
            if points and points[-1].step == step and _same(points[-1].value, value):
                continue  # the Trainer hands an evaluation's metrics to on_log and on_evaluate
            points.append(Point(step, value, now))
            self._dirty = True
        self._last_step = step if self._last_step is None else max(self._last_step, step)

    def run_log(self) -> RunLog:
        """The run's log so far, as the readers would give it (units as declared)."""
        source = Path(f"<run {self.run_id}, live>")
        series = {name: Series(name, tuple(sorted(points, key=lambda p: p.step)),
                               self._units.get(name), source)
                  for name, points in self._points.items()}
        metadata: dict[str, Any] = {"run": self.run_id, "series": dict(self._roles)}
        if self._vocab is not None:
            metadata["vocab_size"] = self._vocab
        return RunLog(source, "live", series, (), metadata)

    # --- checking ---------------------------------------------------------------------------

    def check(self, step: int | None = None, *, evaluation: bool = False) -> list[Check]:
        """Judge every claim on the log so far and record each verdict; [] when nothing new was
        logged since the last check or fewer than ``every`` steps have passed since it. An
        evaluation (``evaluation=True``, as the callbacks pass after one) is always checked,
        as is one logged at the step of the last check: it is new evidence."""
        step = self._step(step)
        last = self._checked_at
        due = evaluation or last is None or step == last or step - last >= self.every
        if self._closed or self.should_stop or not self._dirty or not due:
            return []  # once stopped, the run's last record is made by close()
        return self._check(step, final=False)

    def _step(self, step: int | None) -> int:
        if step is not None:
            return step
        return self._last_step if self._last_step is not None else 0

    def _check(self, step: int, *, final: bool) -> list[Check]:
        log = self.run_log()
        done = []
        for claim, ref, fn in self.claims:
            started = time.time()
            evidence = Evidence(claim, ref, self.workspace.root)
            verdict = self._measure(evidence, fn, log, step, final=final)
            if verdict is None:
                continue
            found = evidence.notes  # what the measure said (a NaN's step), before our notes
            killed = self._maybe_kill(claim, verdict, step, evidence, log)
            if not killed and self.stopped is not None:
                self._mark_stopped(evidence, log, self.stopped)
            elif final and not killed:  # the run's last record shows the whole curve
                evidence.attach("run_curve", curve_with_stop(log, None, claim.id))
            record = self._append(evidence, verdict, fn, step, started, killed=killed)
            done.append(Check(claim.id, step, verdict.status, verdict.reasons, record))
            if killed:
                self.stopped = Stop(claim.id, step, (*verdict.reasons, *found), record)
        self.checks += done
        self._dirty, self._checked_at = False, step
        if self.stopped is not None and self.raise_on_kill:
            raise RunKilled(self.stopped)
        return done

    def _measure(self, evidence: Evidence, fn: MeasureFn, log: RunLog, step: int, *,
                 final: bool) -> Verdict | None:
        """The verdict, or None while the log still lacks what the claim reads (mid-run)."""
        claim_id = evidence.claim.id
        try:
            fn(evidence, log)
        except RunLogError as exc:
            if not final:
                if claim_id not in self.pending:
                    warnings.warn(f"falsify: {claim_id} on run {self.run_id} waits at step "
                                  f"{step}: {exc} (it is checked once the log has what it "
                                  f"reads, and recorded as ERROR at the end if it never does)",
                                  stacklevel=4)
                self.pending[claim_id] = str(exc)
                return None
            self.pending.pop(claim_id, None)
            return judge_error(f"at step {step} (end of run): {exc}")
        except Exception as exc:  # the measure's own error is the verdict, as in pytest
            self.pending.pop(claim_id, None)
            return judge_error(f"measure {fn.__qualname__} raised at step {step}: "
                               f"{type(exc).__name__}: {exc}")
        self.pending.pop(claim_id, None)
        return judge(evidence.claim, evidence.subject.id, evidence.measurements)

    def _maybe_kill(self, claim: Claim, verdict: Verdict, step: int, evidence: Evidence,
                    log: RunLog) -> bool:
        if claim.id not in self.kill or verdict.status is not Status.FAIL or self.should_stop:
            return False
        self.should_stop = True
        why = "; ".join((*verdict.reasons, *evidence.notes))
        evidence.note(f"kill criterion {claim.id} is FAIL at step {step}: the run was stopped "
                      f"here ({why})")
        evidence.attach("stopped_run", curve_with_stop(log, step, claim.id))
        return True

    def _mark_stopped(self, evidence: Evidence, log: RunLog, stop: Stop) -> None:
        """A record made after the stop (the run's last) says where and why the run stopped."""
        evidence.note(f"the run was stopped at step {stop.step} by kill criterion {stop.claim} "
                      f"(record {stop.record}): {'; '.join(stop.reasons)}")
        evidence.attach("stopped_run", curve_with_stop(log, stop.step, stop.claim))

    # --- recording --------------------------------------------------------------------------

    def _append(self, evidence: Evidence, verdict: Verdict, fn: MeasureFn, step: int,
                started: float, *, killed: bool) -> str | None:
        live = {"run": self.run_id, "step": step, "framework": self.framework,
                "kill_criterion": evidence.claim.id in self.kill, "stopped": killed,
                "command": self.command}
        evidence.attach("live", live)
        if not self.recording:
            return None
        stopped = time.time()
        timing = {"start": started, "stop": stopped, "duration_s": round(stopped - started, 6),
                  "phase": "live", "step": step}
        record = evidence.to_record(
            verdict, node_id=f"live::{self.run_id}::{evidence.claim.id}",
            session=self.session_id, provenance={**self.provenance(), **self._code_of(fn)},
            timing=timing)
        from harness.ledger import LedgerWriter

        if self._writer is None:
            worker = f"{LIVE_WORKER}{self.run_id}"
            self._writer = LedgerWriter(self.ledger_dir, self.session_id, worker)
        return str(self._writer.append(record).id)

    def provenance(self) -> dict[str, Any]:
        if self._provenance is None:  # the warm-up thread may be computing it: wait for it
            with self._lock:
                return self._provenance_locked()
        return self._provenance

    def _provenance_locked(self) -> dict[str, Any]:
        if self._provenance is None:
            from harness.provenance import env_info, git_info

            self._provenance = {"git": git_info(self.workspace.root, self.ledger_dir),
                                "env": env_info()}
        return self._provenance

    def _code_of(self, fn: MeasureFn) -> dict[str, Any]:
        """``{"code": …}``: the measure function's module, as a falsifier's is recorded."""
        name = fn.__module__
        if name not in self._code:
            from harness.codeid import record_code

            module = sys.modules.get(name)
            found: dict[str, Any] = {}
            if module is not None:
                try:
                    found = record_code(module, self.workspace.falsifiers_dir,
                                        self.workspace.root)
                except (OSError, ValueError):
                    found = {}
            self._code[name] = {"code": found} if found else {}
        return self._code[name]

    @property
    def segment(self) -> Path | None:
        """The run's ledger segment, once a record has been appended."""
        return None if self._writer is None else self._writer.path

    def close(self) -> list[Check]:
        """Check once more at the last step, then close the run's segment: every claim gets a
        last record (pending ones ERROR when the log still lacks what they read), which carries
        the run's whole curve (``run_curve``) or, after a kill, the curve up to the stop."""
        if self._closed:
            return []
        try:
            self.raise_on_kill = False  # the run is over: nothing left to stop
            return self._check(self._step(None), final=True)
        finally:
            self._closed = True
            if self._writer is not None:
                self._writer.close()

    def __enter__(self) -> LiveClaims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _command_line() -> str:
    """The command that started this process, as a user would type it (the script's name)."""
    import shlex

    argv = list(sys.argv) or ["python"]
    return shlex.join([Path(argv[0]).name or "python", *argv[1:]])


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def curve_with_stop(log: RunLog, step: int | None, claim_id: str) -> dict[str, Any]:
    """The logged loss curves as a plottable attachment (``harness.render.plots``): ``x`` the
    steps, one line per series in a loss unit (non-finite values as gaps), and ``marks`` at the
    step where the run stopped (none when ``step`` is None: a run that was not stopped)."""
    steps = sorted({p.step for s in log.all_series.values() for p in s.points})
    if len(steps) > _CURVE_POINTS:
        stride = math.ceil(len(steps) / _CURVE_POINTS)
        steps = sorted(set(steps[::stride]) | {steps[-1]})
    series = {}
    for name, found in sorted(log.all_series.items()):
        if found.unit is None or found.unit.dimension != parse_unit("nats").dimension:
            continue  # the losses: learning rates and epochs on one axis would flatten them
        at = {p.step: p.value for p in found.points}
        values = [at.get(s) for s in steps]
        series[name] = [v if v is not None and math.isfinite(v) else None for v in values]
    marks = [] if step is None else [{"x": step, "label": f"stopped: {claim_id} FAIL"}]
    return {"x": steps, "x_label": "step", "y_label": "loss", "series": series, "marks": marks}
