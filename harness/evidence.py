"""The `evidence` a falsifier collects, and the record it becomes once judged."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.contracts import Claim, SubjectRef
from harness.records import Measurement, Record, canonical_json
from harness.support import check_measure_args
from harness.units import Quantity, parse_unit
from harness.verdict import Verdict

__all__ = ["Evidence", "new_id", "utc_now"]


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    """A record id: UTC time to the microsecond plus 48 random bits, sortable by time."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") + "-" + secrets.token_hex(6)


class Evidence:
    """What one falsifier run measured, declared and noted for one (claim, subject)."""

    def __init__(self, claim: Claim, subject: SubjectRef, root: Path,
                 hash_input: Any = None,
                 implied: Callable[[Path], Iterable[Path]] | None = None) -> None:
        self.claim = claim
        self._implied = implied
        self.subject = subject
        self._root = root
        self._hash_input = hash_input
        self._measurements: dict[str, Measurement] = {}
        self._inputs: dict[str, dict[str, Any]] = {}
        self._notes: list[str] = []
        self._attachments: dict[str, Any] = {}

    def measure(self, name: str, value: float | int, unit: str, *, n: int | None = None,
                ci: Sequence[float | Quantity] | None = None,
                ci_level: float | None = None) -> Measurement:
        """Record one measured quantity. Units are checked now; thresholds are the contract's.

        ``n`` is the sample the value was measured on (rows, tokens); ``ci`` its confidence
        interval, in the value's unit. Whether they support the value (n = 0, an interval that
        does not hold its value) is judged with the claim: see :mod:`harness.support`.
        """
        if name in self._measurements:
            msg = f"{name!r} was measured twice for {self.claim.id} on {self.subject.id}"
            raise ValueError(msg)
        canonical = parse_unit(unit).name
        count, interval = check_measure_args(name, canonical, n, ci)
        level = ci_level if ci is None or ci_level is not None else self.claim.statistics.confidence
        m = Measurement(name, float(value), canonical, count, interval,
                        None if ci is None else level)
        self._measurements[name] = m
        return m

    def measure_vector(self, name: str, values: Sequence[float], unit: str, *,
                       n: int | None = None,
                       cis: Sequence[Sequence[float | Quantity] | None] | None = None,
                       labels: Sequence[str] | None = None,
                       ci_level: float | None = None) -> Measurement:
        """Record one value per element (per layer, per seed): a vector measurement.

        ``n`` is the sample each element was measured on; ``cis`` optional per-element
        intervals (None for an element without one); ``labels`` optional per-element names
        ("layer 3", "seed 2"). NaN and inf elements are kept; the claim judges them."""
        if name in self._measurements:
            msg = f"{name!r} was measured twice for {self.claim.id} on {self.subject.id}"
            raise ValueError(msg)
        canonical = parse_unit(unit).name
        floats = tuple(float(v) for v in values)
        count, _ = check_measure_args(name, canonical, n, None)
        intervals = None
        if cis is not None:
            if len(cis) != len(floats):
                msg = (f"measurement {name}: {len(cis)} intervals for {len(floats)} values; "
                       f"give one per element (None where an element has none)")
                raise ValueError(msg)
            intervals = tuple(None if c is None else check_measure_args(name, canonical, None, c)[1]
                              for c in cis)
        if labels is not None and len(labels) != len(floats):
            msg = f"measurement {name}: {len(labels)} labels for {len(floats)} values"
            raise ValueError(msg)
        level = (ci_level if cis is None or ci_level is not None
                 else self.claim.statistics.confidence)
        m = Measurement.vector_of(name, floats, canonical, n=count, cis=intervals,
                                  ci_level=None if cis is None else level,
                                  labels=None if labels is None else tuple(map(str, labels)))
        self._measurements[name] = m
        return m

    def input(self, path: str | Path) -> dict[str, Any]:
        """Declare a file or folder the evidence depends on; its sha256 goes into provenance.

        Files that chose this one are declared with it (``Workspace.implied_inputs``: the Hub
        cache's ``refs/main`` beside a snapshot resolved through it), so that evidence goes stale
        when the subject's name comes to mean another snapshot."""
        p = Path(path)
        if not p.exists():
            msg = f"declared input {p} does not exist"
            raise FileNotFoundError(msg)
        for extra in self._implied(p) if self._implied is not None else ():
            self.input(extra)
        if self._hash_input is None:
            entry = {"path": self._display(p)}
        else:  # the hasher writes the path (cache paths under the cache prefix)
            entry = dict(self._hash_input(p))
        self._inputs[entry["path"]] = entry
        return entry

    def note(self, text: str) -> None:
        self._notes.append(str(text))

    def attach(self, name: str, value: Any) -> None:
        """Small structured data (curves, matrices, row lists); must be JSON without NaN."""
        canonical_json(value)  # refuses what could not be persisted, now rather than later
        self._attachments[name] = value

    def _display(self, p: Path) -> str:
        resolved = p.resolve()
        try:
            return str(resolved.relative_to(self._root))
        except ValueError:
            return str(resolved)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(self._notes)

    @property
    def measurements(self) -> tuple[Measurement, ...]:
        return tuple(self._measurements.values())

    def has_nonfinite(self) -> bool:
        return any(not m.finite for m in self._measurements.values())

    def to_record(self, verdict: Verdict, *, node_id: str, session: str,
                  provenance: dict[str, Any], timing: dict[str, Any], kind: str = "claim",
                  hypothesis: str | None = None) -> Record:
        return Record(
            id=new_id(), kind=kind, claim=self.claim.id, claim_sha256=self.claim.sha256,
            subject=self.subject.id, role=self.subject.role,
            expect=None if self.subject.expect is None else self.subject.expect.value,
            verdict=verdict.status, reasons=verdict.reasons, measurements=self.measurements,
            guards=verdict.guards, inputs=tuple(self._inputs[k] for k in sorted(self._inputs)),
            provenance=provenance, timing=timing, node_id=node_id, session=session,
            created=utc_now(), hypothesis=hypothesis, notes=tuple(self._notes),
            attachments=dict(self._attachments),
        )
