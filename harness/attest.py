"""A session's verdicts as an in-toto attestation: a Statement v1 with the Test Result predicate,
in a DSSE envelope signed by the session's key.

Statement (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md):

- ``subject``: the git commit the falsifiers ran at (``digest.gitCommit``), and each ledger
  segment of the session (``digest.sha256`` of its bytes), so the attestation names the exact
  evidence it summarises.
- ``predicateType`` ``https://in-toto.io/attestation/test-result/v0.1``; ``predicate``:
  ``result`` (PASSED, WARNED or FAILED), ``configuration`` (resource descriptors: each claim's
  canonical form and each input file or folder, with their sha256), ``passedTests``,
  ``warnedTests``, ``failedTests`` (``CLAIM[SUBJECT]``).

A test *passes* when a subject got PASS or a negative control got the verdict it must get; it
*warns* on SUSPECT, INCONCLUSIVE or SKIPPED (never a pass, not a proven failure); anything else
fails. The statement is checked with the ``in-toto-attestation`` library's protobuf bindings
(Statement and TestResult) before it is signed and when it is verified.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.ledger.keys import PublicKey, Signer, SigningError, envelope, open_envelope
from harness.records import Record, canonical_json

__all__ = ["PAYLOAD_TYPE", "PREDICATE_TYPE", "STATEMENT_TYPE", "AttestError", "Checked",
           "build_statement", "check_statement", "sign_statement", "verify_envelope"]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
_RESULTS = ("PASSED", "WARNED", "FAILED")


class AttestError(ValueError):
    """An attestation cannot be made or does not check: says what and the fix."""


def _outcome(record: Record) -> str:
    verdict = record.verdict.value
    if record.role == "control":
        if verdict == record.expect:
            return "passed"
        return "warned" if verdict == "SKIPPED" else "failed"
    if verdict == "PASS":
        return "passed"
    return "warned" if verdict in ("SUSPECT", "INCONCLUSIVE", "SKIPPED") else "failed"


def _test_name(record: Record) -> str:
    name = f"{record.claim}[{record.subject}]"
    return f"{name}/{record.hypothesis}" if record.hypothesis else name


def _configuration(records: list[Record]) -> list[dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        found.setdefault((f"claim:{r.claim}", r.claim_sha256), {
            "name": f"claim:{r.claim}", "digest": {"sha256": r.claim_sha256},
            "mediaType": "application/vnd.falsify.claim+json"})
        for item in r.inputs:
            path, sha = str(item.get("path")), item.get("sha256")
            if isinstance(sha, str):
                found.setdefault((path, sha), {"name": path, "digest": {"sha256": sha},
                                               "annotations": {"kind": str(item.get("kind"))}})
    return [found[k] for k in sorted(found)]


def _subjects(records: list[Record], segments: Iterable[Path]) -> list[dict[str, Any]]:
    commits = sorted({str((r.provenance.get("git") or {}).get("commit") or "") for r in records})
    if "" in commits:
        msg = ("a record of this session has no git commit in its provenance: run the falsifiers "
               "inside a git checkout to attest them")
        raise AttestError(msg)
    git = {(r.provenance.get("git") or {}).get("commit"): r.provenance["git"] for r in records}
    subjects = [{"name": f"git commit {c[:12]}", "digest": {"gitCommit": c},
                 "annotations": {"branch": str(git[c].get("branch")),
                                 "dirty": bool(git[c].get("dirty"))}} for c in commits]
    subjects += [{"name": f"ledger/{p.name}", "digest": {"sha256": _sha256(p)}}
                 for p in sorted(segments)]
    return subjects


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_statement(records: list[Record], segments: Iterable[Path]) -> dict[str, Any]:
    """The in-toto Statement of ``records`` (one session's), read from ``segments``."""
    if not records:
        msg = "the session holds no records: nothing to attest"
        raise AttestError(msg)
    tests: dict[str, list[str]] = {"passed": [], "warned": [], "failed": []}
    for r in records:
        tests[_outcome(r)].append(_test_name(r))
    result = "FAILED" if tests["failed"] else "WARNED" if tests["warned"] else "PASSED"
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": _subjects(records, segments),
        "predicateType": PREDICATE_TYPE,
        "predicate": {"result": result, "configuration": _configuration(records),
                      "passedTests": sorted(tests["passed"]),
                      "warnedTests": sorted(tests["warned"]),
                      "failedTests": sorted(tests["failed"])},
    }
    check_statement(statement)
    return statement


def check_statement(statement: Any) -> None:
    """Raise AttestError unless ``statement`` is an in-toto Statement v1 with a well-formed
    Test Result predicate (checked by the in-toto-attestation bindings)."""
    from google.protobuf import json_format
    from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    if not isinstance(statement, dict):
        msg = "the payload is not a JSON object"
        raise AttestError(msg)
    try:
        pb = json_format.ParseDict(statement, statement_pb2.Statement())
        Statement.copy_from_pb(pb).validate()
        if statement.get("predicateType") != PREDICATE_TYPE:
            msg = f"predicateType is {statement.get('predicateType')!r}, not {PREDICATE_TYPE}"
            raise ValueError(msg)
        predicate = json_format.ParseDict(statement["predicate"],
                                          test_result_pb2.TestResult())
    except (json_format.ParseError, ValueError, KeyError, TypeError) as exc:
        msg = f"not a well-formed in-toto Test Result statement: {exc}"
        raise AttestError(msg) from None
    if predicate.result not in _RESULTS:
        msg = f"predicate result {predicate.result!r} is not one of {', '.join(_RESULTS)}"
        raise AttestError(msg)


def sign_statement(statement: dict[str, Any], signer: Signer) -> dict[str, Any]:
    return envelope(PAYLOAD_TYPE, canonical_json(statement).encode(), signer)


@dataclass(frozen=True)
class Checked:
    """A verified attestation: its statement and the trusted key that signed it."""

    statement: dict[str, Any]
    key: PublicKey


def verify_envelope(data: bytes, trusted: dict[str, PublicKey], where: str) -> Checked:
    """Check a DSSE envelope: a trusted key's signature over PAE, then the statement's form."""
    try:
        opened = open_envelope(json.loads(data), PAYLOAD_TYPE, trusted)
    except (ValueError, SigningError) as exc:
        msg = f"{where}: not a DSSE attestation envelope ({exc})"
        raise AttestError(msg) from None
    if opened.signer is None:
        msg = (f"{where}: signed by a key that is not trusted (keyid {opened.keyid[:16]}…); "
               f"trust it by committing its .pub to evidence/keys/ or pass --keys DIR")
        raise AttestError(msg)
    if not opened.valid:
        msg = (f"{where}: the signature of key {opened.signer.name} does not verify: the "
               f"envelope was altered after signing")
        raise AttestError(msg)
    try:
        statement = json.loads(opened.payload)
    except ValueError as exc:
        msg = f"{where}: the signed payload is not JSON ({exc})"
        raise AttestError(msg) from None
    try:
        check_statement(statement)
    except AttestError as exc:
        raise AttestError(f"{where}: {exc}") from None
    return Checked(statement, opened.signer)
