"""`falsify attest`: a session as an in-toto Test Result statement in a signed DSSE envelope,
checked against the in-toto-attestation bindings, and `falsify verify --attestation`."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement

from harness.attest import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    AttestError,
    build_statement,
    sign_statement,
    verify_envelope,
)
from harness.cli import main
from harness.ledger.keys import new_signer, private_pem
from harness.ledger.segment import segment_paths
from tests.harness.ledger_factory import make_record
from tests.harness.toyspace import write_toyspace

CLAIM = "TOY-TEXT-NOT-TINY"


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args, "--root", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def session(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> Path:
    """A committed toy workspace, a key, and one signed session (PASS, SUSPECT, control FAIL)."""
    root = pytester.path
    write_toyspace(root)
    (root / ".gitignore").write_text(".falsify-cache/\n__pycache__/\nevidence/ledger/\n")
    git(root, "init", "-q")
    assert run(root, capsys, "keys", "new", "--name", "alice")[0] == 0
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "toy")
    pytester.runpytest("falsifiers")
    return root


def envelope_statement(path: Path) -> dict[str, object]:
    env = json.loads(path.read_text())
    statement: dict[str, object] = json.loads(base64.b64decode(env["payload"]))
    return statement


def test_attest_exports_a_valid_test_result_statement(
        session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = session / "att.json"
    code, out = run(session, capsys, "attest", "-o", str(out_file))
    assert code == 0, out
    env = json.loads(out_file.read_text())
    assert env["payloadType"] == PAYLOAD_TYPE
    statement = envelope_statement(out_file)
    # Validated against the published schema, through the in-toto-attestation bindings.
    Statement.copy_from_pb(json_format.ParseDict(statement, statement_pb2.Statement())).validate()
    predicate = json_format.ParseDict(statement["predicate"], test_result_pb2.TestResult())
    assert statement["predicateType"] == PREDICATE_TYPE
    assert predicate.result == "WARNED"
    assert list(predicate.passed_tests) == [f"{CLAIM}[long-lines]", f"{CLAIM}[short-lines]"]
    assert list(predicate.warned_tests) == [f"{CLAIM}[few-lines]"]
    assert list(predicate.failed_tests) == []
    subjects = statement["subject"]
    assert isinstance(subjects, list)
    assert subjects[0]["digest"] == {"gitCommit": git(session, "rev-parse", "HEAD")}
    segment = segment_paths(session / "evidence" / "ledger")[0]
    assert subjects[1]["name"] == f"ledger/{segment.name}"
    names = [c.name for c in predicate.configuration]
    assert f"claim:{CLAIM}" in names
    assert all(c.digest["sha256"] for c in predicate.configuration)
    assert len(names) > 1  # the inputs' digests too
    code, out = run(session, capsys, "verify", "--attestation", str(out_file))
    assert code == 0, out
    assert "signed by alice" in out


def test_envelope_signature_is_over_dsse_pae(session: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Checked here independently of harness.ledger.keys: PAE per the DSSE spec."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    run(session, capsys, "attest", "-o", str(session / "att.json"))
    env = json.loads((session / "att.json").read_text())
    payload = base64.b64decode(env["payload"])
    kind = env["payloadType"].encode()
    pae = b"DSSEv1 " + str(len(kind)).encode() + b" " + kind + b" " + \
        str(len(payload)).encode() + b" " + payload
    key = load_pem_public_key((session / "evidence" / "keys" / "alice.pub").read_bytes())
    key.verify(base64.b64decode(env["signatures"][0]["sig"]), pae)  # type: ignore[union-attr,call-arg]


def test_tampered_or_foreign_attestation_is_refused(
        session: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out_file = session / "att.json"
    run(session, capsys, "attest", "-o", str(out_file))
    env = json.loads(out_file.read_text())
    statement = envelope_statement(out_file)
    statement["predicate"]["result"] = "PASSED"  # type: ignore[index]
    env["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(env))
    code, out = run(session, capsys, "verify", "--attestation", str(forged))
    assert code == 1
    assert "does not verify" in out
    mallory = new_signer("mallory")
    (tmp_path / "mallory.key").write_bytes(private_pem(mallory))
    monkeypatch.setenv("FALSIFY_SIGNING_KEY", str(tmp_path / "mallory.key"))
    run(session, capsys, "attest", "-o", str(tmp_path / "m.json"))
    code, out = run(session, capsys, "verify", "--attestation", str(tmp_path / "m.json"))
    assert code == 1
    assert "not trusted" in out


def test_attest_refuses_evidence_that_does_not_verify(
        session: Path, capsys: pytest.CaptureFixture[str]) -> None:
    segment = segment_paths(session / "evidence" / "ledger")[0]
    segment.write_bytes(b"".join(segment.read_bytes().splitlines(keepends=True)[:-1]))
    code, out = run(session, capsys, "attest")
    assert code == 2
    assert "trailing record(s) dropped" in out


def test_malformed_statement_is_refused_even_when_signed() -> None:
    signer = new_signer("alice")
    trusted = {signer.keyid: signer.public}
    good = build_statement([make_record()], [])
    for bad in ({**good, "subject": []}, {**good, "predicateType": "x"},
                {**good, "predicate": {**good["predicate"], "result": "MAYBE"}},
                {**good, "predicate": {**good["predicate"], "passed": []}}):
        data = json.dumps(sign_statement(bad, signer)).encode()
        with pytest.raises(AttestError, match=r"well-formed|MAYBE"):
            verify_envelope(data, trusted, "att.json")
    assert verify_envelope(json.dumps(sign_statement(good, signer)).encode(), trusted, "a")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["PASS", "FAIL", "SUSPECT", "INCONCLUSIVE", "ERROR",
                                           "SKIPPED"]),
                          st.sampled_from([None, "FAIL", "SUSPECT"])), min_size=1, max_size=8))
def test_result_is_the_worst_outcome(verdicts: list[tuple[str, str | None]]) -> None:
    """Pass: a subject's PASS or a control's expected verdict; warn: SUSPECT, INCONCLUSIVE,
    SKIPPED; anything else fails; the result is the worst, and every record is listed once."""
    records = [make_record(subject=f"s{i}", verdict=v, role="control" if e else "subject",
                           expect=e) for i, (v, e) in enumerate(verdicts)]
    predicate = build_statement(records, [])["predicate"]

    def outcome(v: str, e: str | None) -> str:
        if (e is not None and v == e) or (e is None and v == "PASS"):
            return "passed"
        return "warned" if v in ("SUSPECT", "INCONCLUSIVE", "SKIPPED") and not (
            e is not None and v != "SKIPPED") else "failed"

    got = {k: len(predicate[f"{k}Tests"]) for k in ("passed", "warned", "failed")}
    want = {k: sum(1 for v, e in verdicts if outcome(v, e) == k) for k in got}
    assert got == want
    result = "FAILED" if want["failed"] else "WARNED" if want["warned"] else "PASSED"
    assert predicate["result"] == result
