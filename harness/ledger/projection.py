"""What readers need of a signed line, decoded without building the rest of the record.

A cold read of a million records spends most of its time making (and then freeing) the Python
objects of fields no reader indexes: measurements, guards, reasons, attachments, environment.
msgspec decodes a line into :class:`Projection`, a ``TypedDict`` of the fields the index, the
chain and the checks across segments use, and skips every other field while still parsing it
(the whole line must be valid JSON): 4.6 us a record against 13.4 us for ``orjson.loads`` and
dropping the result (``docs/BENCHMARKS.md``).

Only lines a trusted signature covers are read this way (``harness.ledger.verify``). A line that
does not decode into the projection (another schema version, a field of another type, a string
msgspec refuses) returns None, and the caller checks it in full.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

import msgspec

__all__ = ["Projection", "project"]


class _Input(TypedDict):
    path: str
    kind: str
    sha256: str


class _File(TypedDict):
    path: str
    sha256: str


class _Harness(TypedDict):
    version: str
    sha256: str


class _Code(TypedDict):
    falsifier: list[_File]
    harness: _Harness


class _Provenance(TypedDict):
    code: NotRequired[_Code]


class _Amends(TypedDict):
    record: str


class Projection(TypedDict):
    """The indexed fields of a record (``harness.ledger.index.SegmentIndex.add``), its chain
    fields (``hash``, ``prev``) and its schema version; every key is required in a record."""

    schema: int
    id: str
    kind: str
    claim: str
    claim_sha256: str
    subject: str
    role: str
    expect: str | None
    verdict: str
    hypothesis: str | None
    amends: _Amends | None
    inputs: list[_Input]
    provenance: _Provenance
    created: str
    hash: str
    prev: str | None


_DECODER = msgspec.json.Decoder(Projection)


def project(raw: bytes) -> dict[str, Any] | None:
    """The projection of one line, or None when it is not one (the caller checks it in full)."""
    try:
        return _DECODER.decode(raw)  # type: ignore[return-value]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
