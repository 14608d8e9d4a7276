"""The persisted vocabulary: verdicts, measurements and evidence records.

Everything here is a frozen dataclass with a ``to_json``/``from_json`` pair. The JSON form is the
one ``contracts/schema/record.schema.json`` describes; ``RECORD_SCHEMA_VERSION`` is written first in
every record, and :func:`migrate` is the single place where an older version is brought forward.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

from harness.units import Quantity, parse_unit
from harness.vectors import QuantityVector, describe_values

__all__ = [
    "RECORD_SCHEMA_VERSION",
    "GuardResult",
    "Measurement",
    "Record",
    "RecordFormatError",
    "Status",
    "canonical_json",
    "migrate",
    "sha256_text",
]

# 2: a measurement may be a vector ("values", "cis", "labels" instead of "value", "ci"). Records
# of version 1 hold scalars only and read unchanged; their stored "schema" stays 1, so their
# hashes still verify.
RECORD_SCHEMA_VERSION = 2


class RecordFormatError(ValueError):
    """A record that cannot be read: bad JSON, a newer schema, a missing field."""


class Status(enum.StrEnum):
    """Verdicts of claims, and the three outcomes of hypothesis probes."""

    PASS = "PASS"
    FAIL = "FAIL"
    SUSPECT = "SUSPECT"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"
    SKIPPED = "SKIPPED"
    CONFIRMED = "CONFIRMED"
    REFUTED = "REFUTED"

    @classmethod
    def parse(cls, text: str) -> Status:
        try:
            return cls(text.upper())
        except ValueError:
            msg = f"unknown verdict {text!r}; expected one of {', '.join(s.value for s in cls)}"
            raise ValueError(msg) from None


CLAIM_VERDICTS = (Status.PASS, Status.FAIL, Status.SUSPECT, Status.INCONCLUSIVE,
                  Status.ERROR, Status.SKIPPED)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 text, NaN refused."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _nonfinite_tag(value: float) -> str | None:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return None


Interval = tuple[float, float]


@dataclass(frozen=True)
class Measurement:
    """One measured quantity. A non-finite value is kept (as ``nonfinite``), never dropped.

    A vector measurement (one value per layer, per seed) has ``values`` (and optionally
    per-element ``cis`` and ``labels``); its ``value`` is NaN and never read: use
    :attr:`vector`. ``n`` is then the sample each element was measured on.
    """

    name: str
    value: float
    unit: str
    n: int | None = None
    ci: Interval | None = None
    ci_level: float | None = None
    values: tuple[float, ...] | None = None
    cis: tuple[Interval | None, ...] | None = None
    labels: tuple[str, ...] | None = None

    @classmethod
    def vector_of(cls, name: str, values: tuple[float, ...], unit: str, *, n: int | None = None,
                  cis: tuple[Interval | None, ...] | None = None,
                  ci_level: float | None = None,
                  labels: tuple[str, ...] | None = None) -> Measurement:
        return cls(name, math.nan, unit, n, None, ci_level, tuple(float(v) for v in values),
                   cis, labels)

    @property
    def is_vector(self) -> bool:
        return self.values is not None

    @property
    def quantity(self) -> Quantity:
        if self.values is not None:
            msg = f"measurement {self.name} is a vector of {len(self.values)} values, not a number"
            raise TypeError(msg)
        return Quantity.of(self.value, parse_unit(self.unit), self.ci)

    @property
    def vector(self) -> QuantityVector:
        if self.values is None:
            msg = f"measurement {self.name} is a number, not a vector"
            raise TypeError(msg)
        return QuantityVector.of(self.values, parse_unit(self.unit), self.cis, self.labels)

    @property
    def finite(self) -> bool:
        if self.values is not None:
            return all(math.isfinite(v) for v in self.values)
        return math.isfinite(self.value)

    def format(self) -> str:
        if self.values is not None:
            text = f"{self.name} {describe_values(self.values, self.unit)}"
        else:
            text = f"{self.name} {self.quantity.format()}"
        return text if self.n is None else f"{text} (n={self.n})"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "unit": self.unit}
        if self.values is not None:
            out["values"] = [_finite_or_none(v) for v in self.values]
            tags = {str(i): t for i, v in enumerate(self.values)
                    if (t := _nonfinite_tag(v)) is not None}
            if tags:
                out["nonfinite"] = tags
            if self.cis is not None:
                out["cis"] = [None if c is None else [c[0], c[1]] for c in self.cis]
            if self.labels is not None:
                out["labels"] = list(self.labels)
        else:
            out["value"] = _finite_or_none(self.value)
            tag = _nonfinite_tag(self.value)
            if tag is not None:
                out["nonfinite"] = tag
        if self.n is not None:
            out["n"] = self.n
        if self.ci is not None:
            out["ci"] = [self.ci[0], self.ci[1]]
        if self.ci_level is not None:
            out["ci_level"] = self.ci_level
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        if "values" in data:
            return cls._vector_from_json(data)
        value = data["value"]
        if value is None:
            value = _NONFINITE[data["nonfinite"]]
        ci = data.get("ci")
        return cls(name=data["name"], value=float(value), unit=data["unit"], n=data.get("n"),
                   ci=None if ci is None else (float(ci[0]), float(ci[1])),
                   ci_level=data.get("ci_level"))

    @classmethod
    def _vector_from_json(cls, data: dict[str, Any]) -> Measurement:
        tags = data.get("nonfinite") or {}
        values = tuple(_NONFINITE[tags[str(i)]] if v is None else float(v)
                       for i, v in enumerate(data["values"]))
        cis = data.get("cis")
        labels = data.get("labels")
        return cls.vector_of(
            data["name"], values, data["unit"], n=data.get("n"),
            cis=None if cis is None else tuple(None if c is None else (float(c[0]), float(c[1]))
                                               for c in cis),
            ci_level=data.get("ci_level"),
            labels=None if labels is None else tuple(str(x) for x in labels))


_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@dataclass(frozen=True)
class GuardResult:
    """A methodology precondition: held (True), failed (False) or could not be decided (None)."""

    id: str
    holds: bool | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "holds": self.holds, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GuardResult:
        return cls(data["id"], data["holds"], data["reason"])


@dataclass(frozen=True)
class Record:
    """One immutable evidence entry. ``hash`` covers every other field, ``prev`` included."""

    id: str
    kind: str  # "claim" | "hypothesis" | "amendment" | "mutation" | "decision"
    claim: str
    claim_sha256: str
    subject: str
    role: str  # "subject" | "control"
    expect: str | None
    verdict: Status
    reasons: tuple[str, ...]
    measurements: tuple[Measurement, ...]
    guards: tuple[GuardResult, ...]
    inputs: tuple[dict[str, Any], ...]
    provenance: dict[str, Any]
    timing: dict[str, Any]
    node_id: str
    session: str
    created: str  # UTC ISO-8601, "2026-11-21T19:14:00.123456Z"
    prev: str | None = None
    hash: str = ""
    hypothesis: str | None = None
    amends: dict[str, str] | None = None
    notes: tuple[str, ...] = ()
    attachments: dict[str, Any] = field(default_factory=dict)
    schema: int = RECORD_SCHEMA_VERSION

    @property
    def code(self) -> dict[str, Any] | None:
        """``provenance["code"]``: the falsifier files and harness identity that made the record
        (harness.codeid); None for records made before falsify recorded it."""
        code = self.provenance.get("code")
        return code if isinstance(code, dict) else None

    def measurement(self, name: str) -> Measurement | None:
        for m in self.measurements:
            if m.name == name:
                return m
        return None

    def body_json(self) -> dict[str, Any]:
        """Every field but ``hash``: what the hash covers."""
        return {
            "schema": self.schema, "id": self.id, "kind": self.kind, "claim": self.claim,
            "claim_sha256": self.claim_sha256, "subject": self.subject, "role": self.role,
            "expect": self.expect, "verdict": self.verdict.value, "reasons": list(self.reasons),
            "measurements": [m.to_json() for m in self.measurements],
            "guards": [g.to_json() for g in self.guards], "inputs": [dict(i) for i in self.inputs],
            "provenance": self.provenance, "timing": self.timing, "node_id": self.node_id,
            "session": self.session, "created": self.created, "prev": self.prev,
            "hypothesis": self.hypothesis, "amends": self.amends, "notes": list(self.notes),
            "attachments": self.attachments,
        }

    def compute_hash(self) -> str:
        return sha256_text(canonical_json(self.body_json()))

    def sealed(self, prev: str | None) -> Record:
        """This record chained after ``prev``, with its hash filled in."""
        chained = replace(self, prev=prev, hash="")
        return replace(chained, hash=chained.compute_hash())

    def to_json(self) -> dict[str, Any]:
        return {**self.body_json(), "hash": self.hash}

    def to_line(self) -> str:
        return canonical_json(self.to_json()) + "\n"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        data = migrate(data)
        try:
            return cls(
                schema=data["schema"], id=data["id"], kind=data["kind"], claim=data["claim"],
                claim_sha256=data["claim_sha256"], subject=data["subject"], role=data["role"],
                expect=data.get("expect"), verdict=Status.parse(data["verdict"]),
                reasons=tuple(data["reasons"]),
                measurements=tuple(Measurement.from_json(m) for m in data["measurements"]),
                guards=tuple(GuardResult.from_json(g) for g in data["guards"]),
                inputs=tuple(data["inputs"]), provenance=data["provenance"],
                timing=data["timing"], node_id=data["node_id"], session=data["session"],
                created=data["created"], prev=data.get("prev"), hash=data["hash"],
                hypothesis=data.get("hypothesis"), amends=data.get("amends"),
                notes=tuple(data.get("notes", ())), attachments=data.get("attachments", {}),
            )
        except KeyError as exc:
            msg = f"record is missing field {exc.args[0]!r}"
            raise RecordFormatError(msg) from None

    @classmethod
    def from_line(cls, line: str) -> Record:
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            msg = f"not valid JSON ({exc.msg} at column {exc.colno})"
            raise RecordFormatError(msg) from None
        if not isinstance(data, dict):
            msg = "a record must be a JSON object"
            raise RecordFormatError(msg)
        return cls.from_json(data)


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a record of an older schema forward; refuse a newer one. The one place for this."""
    version = data.get("schema")
    if not isinstance(version, int):
        msg = "record has no integer 'schema' field"
        raise RecordFormatError(msg)
    if version > RECORD_SCHEMA_VERSION:
        msg = (f"unable to read record schema version {version}: this falsify reads version "
               f"{RECORD_SCHEMA_VERSION} and older; upgrade falsify")
        raise RecordFormatError(msg)
    if version < 2 and any(isinstance(m, dict) and "values" in m
                           for m in data.get("measurements") or ()):
        msg = ("record of schema version 1 holds a vector measurement ('values'); vectors "
               "came with version 2, so this record was not written by falsify")
        raise RecordFormatError(msg)
    return data
