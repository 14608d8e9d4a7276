"""Real evidence records for tests of the ledger and of anything that reads it.

``make_record(...)`` builds a complete, schema-valid :class:`Record` (unsealed: a LedgerWriter
seals it). ``stamp(dt)`` formats a ``created`` value. Importable from any test under
``tests/harness`` as ``from tests.harness.ledger_factory import make_record``.

Run as a script (``python ledger_factory.py append-forever DIR SIZE``) it appends records with a
SIZE-byte attachment to a LedgerWriter segment under DIR until it is killed: the child of the
SIGKILL test.
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.records import GuardResult, Measurement, Record, Status

__all__ = ["BASE_TIME", "PROVENANCE", "append_many", "make_record", "stamp"]

BASE_TIME = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
PROVENANCE: dict[str, Any] = {
    "git": {"commit": "0" * 40, "branch": "main", "dirty": False,
            "diff_sha256": hashlib.sha256(b"").hexdigest(), "root": "/work", "why": None},
    "env": {"python": "3.11.9", "implementation": "CPython", "platform": "Linux-x86_64",
            "machine": "x86_64", "packages": {"torch": None, "numpy": "2.1.0"},
            "device": "cpu", "device_name": None},
}


def stamp(when: datetime) -> str:
    """``when`` as a record's ``created`` value."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claim_sha(claim: str, version: int = 0) -> str:
    return hashlib.sha256(f"{claim}#{version}".encode()).hexdigest()


def make_record(claim: str = "LM-VAL-BELOW-UNIFORM", subject: str = "demo-torch", *,
                kind: str = "claim", verdict: Status | str = Status.PASS,
                created: datetime | str | None = None, record_id: str | None = None,
                session: str = "0123456789abcdef", role: str = "subject",
                expect: str | None = None, hypothesis: str | None = None,
                amends: str | None = None, why: str = "corrected by hand",
                inputs: tuple[dict[str, Any], ...] = (), contract_version: int = 0,
                attachments: dict[str, Any] | None = None,
                measurements: tuple[Measurement, ...] | None = None) -> Record:
    """A complete, unsealed record; every argument has a realistic default."""
    if created is None:
        created = datetime.now(UTC)
    if isinstance(verdict, str):
        verdict = Status.parse(verdict)
    if measurements is None:
        measurements = (Measurement("val_nll", 4.21, "nats", n=12_000, ci=(4.1, 4.3),
                                    ci_level=0.95),
                        Measurement("vocab_size", 2048.0, "count"))
    return Record(
        id=record_id or uuid.uuid4().hex, kind=kind, claim=claim,
        claim_sha256=claim_sha(claim, contract_version), subject=subject, role=role,
        expect=expect, verdict=verdict,
        reasons=("val_nll 4.21 nats < ln(vocab_size) 7.62 nats",),
        measurements=measurements,
        guards=(GuardResult("enough-tokens", True, "n_tokens 12000 ≥ 1000"),),
        inputs=inputs, provenance=PROVENANCE,
        timing={"started": "2026-11-01T12:00:00.000000Z", "duration_s": 1.25},
        node_id=f"falsifiers/test_lm.py::test_val_below_uniform[{subject}]", session=session,
        created=created if isinstance(created, str) else stamp(created),
        hypothesis=hypothesis,
        amends=None if amends is None else {"record": amends, "why": why},
        notes=("built by ledger_factory",), attachments=attachments or {},
    )


def append_many(ledger_dir: str, session: str, worker: str, count: int) -> list[str]:
    """Append ``count`` records through one LedgerWriter; their ids (a spawn-pool target)."""
    from harness.ledger import LedgerWriter

    ids = []
    with LedgerWriter(Path(ledger_dir), session, worker) as writer:
        for i in range(count):
            rec = make_record(f"CLAIM-{i % 7}", f"subject-{worker}",
                              created=BASE_TIME + timedelta(seconds=i))
            ids.append(writer.append(rec).id)
    return ids


def _append_forever(ledger_dir: str, size: int) -> None:
    from harness.ledger import LedgerWriter

    writer = LedgerWriter(Path(ledger_dir), "killed0000", "victim")
    payload = "x" * size
    print("ready", flush=True)
    while True:
        writer.append(make_record(attachments={"payload": payload}))


if __name__ == "__main__":
    if sys.argv[1] == "append-forever":
        _append_forever(sys.argv[2], int(sys.argv[3]))
