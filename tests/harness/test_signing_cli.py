"""Signed sessions end to end: `falsify keys`, the plugin signing its segments (with and without
xdist), `verify` and `gate` naming forgeries, the CI default, and no private key in the repo."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from harness.cli import main
from harness.ledger.segment import segment_paths
from harness.ledger.signing import segment_trust, sig_path
from harness.records import Record
from tests.harness.ledger_factory import make_record
from tests.harness.toyspace import FALSIFIER, write_toyspace

ALL_PASS = FALSIFIER.replace('"few-lines": (3, 20)', '"few-lines": (30, 20)')
REPO = Path(__file__).resolve().parents[2]


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args, "--root", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def keyed(pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> Path:
    """A toy workspace with a key made by `falsify keys new` (private key in FALSIFY_KEY_DIR)."""
    write_toyspace(pytester.path, falsifier=ALL_PASS)
    code, out = run(pytester.path, capsys, "keys", "new", "--name", "alice")
    assert code == 0, out
    return pytester.path


def ledger_dir(root: Path) -> Path:
    return root / "evidence" / "ledger"


def test_keys_new_writes_private_0600_outside_and_public_inside(
        keyed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private = Path(os.environ["FALSIFY_KEY_DIR"]) / "alice.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes()
    assert (keyed / "evidence" / "keys" / "alice.pub").read_bytes().startswith(
        b"-----BEGIN PUBLIC KEY")
    code, out = run(keyed, capsys, "keys", "new", "--name", "alice")
    assert code == 2
    assert "already exists" in out
    code, out = run(keyed, capsys, "keys", "list")
    assert code == 0
    assert "alice" in out
    assert "signing key: alice" in out


@pytest.mark.parametrize("xdist", [[], ["-n", "0"], ["-n", "2"]], ids=["plain", "n0", "n2"])
def test_plugin_signs_every_segment(keyed: Path, pytester: pytest.Pytester,
                                    capsys: pytest.CaptureFixture[str], xdist: list[str]) -> None:
    """Each writer (the session, or each xdist worker) signs its own segment."""
    result = pytester.runpytest("falsifiers", *xdist)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*3 evidence record(s) appended to *, signed by key alice (*"])
    segments = segment_paths(ledger_dir(keyed))
    assert segments
    assert all(sig_path(p).is_file() for p in segments)
    if xdist == ["-n", "2"]:
        assert len(segments) == 2
    code, out = run(keyed, capsys, "verify", "--require-signed")
    assert code == 0, out
    code, out = run(keyed, capsys, "gate", "--require-signed")
    assert code == 0, out


def _append_forged_pass(segment: Path) -> None:
    """A forged record with a recomputed hash and chain, appended by someone without the key."""
    last = Record.from_line(segment.read_text().splitlines()[-1])
    forged = make_record("TOY-TEXT-NOT-TINY", "long-lines", role="control", expect="FAIL",
                         verdict="PASS").sealed(last.hash)
    with segment.open("a") as fh:
        fh.write(forged.to_line())


def test_forged_record_is_named_and_fails_a_required_gate(
        keyed: Path, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.runpytest("falsifiers")
    segment = segment_paths(ledger_dir(keyed))[0]
    _append_forged_pass(segment)
    code, out = run(keyed, capsys, "verify", "--require-signed")
    assert code == 1
    assert f"{segment}:4: 1 record(s) after the signed head are not signed" in out
    code, out = run(keyed, capsys, "gate", "--require-signed")
    assert code == 1
    assert f"{segment}:4: the gate relies on 1 record(s) here (line 4)" in out
    monkeypatch.setenv("CI", "true")  # CI requires signatures by default
    assert run(keyed, capsys, "gate")[0] == 1
    code, out = run(keyed, capsys, "gate", "--allow-unsigned")
    assert "not signed" in out


def test_unsigned_evidence_gate_says_how_to_add_a_key(
        pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write_toyspace(pytester.path, falsifier=ALL_PASS)
    pytester.runpytest("falsifiers").stdout.fnmatch_lines(["*, unsigned (no signing key;*"])
    code, out = run(pytester.path, capsys, "gate")
    assert code == 0  # outside CI, unsigned evidence is allowed
    code, out = run(pytester.path, capsys, "gate", "--require-signed")
    assert code == 1
    assert "falsify keys new" in out
    code, out = run(pytester.path, capsys, "verify")
    assert code == 0
    assert "warning: " in out
    assert "unsigned segment" in out


def test_scratch_key_trusted_only_with_keys_option(
        keyed: Path, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI's pattern: an ephemeral key, its .pub outside the repo, trusted with --keys."""
    scratch_keys, scratch = tmp_path / "pub", tmp_path / "ledger"
    code, _ = run(keyed, capsys, "keys", "new", "--name", "ci", "--key-dir",
                  str(tmp_path / "priv"), "--pub-dir", str(scratch_keys))
    assert code == 0
    monkeypatch.setenv("FALSIFY_SIGNING_KEY", str(tmp_path / "priv" / "ci.key"))
    pytester.runpytest("falsifiers", "--ledger", str(scratch))
    code, out = run(keyed, capsys, "gate", "--ledger", str(scratch), "--require-signed")
    assert code == 1
    assert "not trusted" in out
    code, out = run(keyed, capsys, "gate", "--ledger", str(scratch), "--require-signed",
                    "--keys", str(scratch_keys))
    assert code == 0, out
    segment = segment_paths(scratch)[0]
    assert segment_trust(segment, {}).tampered


def test_amend_signs_its_segment(keyed: Path, pytester: pytest.Pytester,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    pytester.runpytest("falsifiers")
    record = json.loads(segment_paths(ledger_dir(keyed))[0].read_text().splitlines()[0])
    code, out = run(keyed, capsys, "amend", record["id"], "--why", "bad data")
    assert code == 0, out
    amend = [p for p in segment_paths(ledger_dir(keyed)) if p.name.endswith("-amend.jsonl")]
    assert len(amend) == 1
    assert sig_path(amend[0]).is_file()
    assert run(keyed, capsys, "verify", "--require-signed")[0] == 0


def test_no_private_key_is_committed() -> None:
    """No tracked file of this repository holds a private key, and .gitignore refuses them."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                             check=True).stdout.split(b"\0")
    pem = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
    leaks = [name for name in tracked if name and (REPO / name.decode()).is_file()
             and pem.search((REPO / name.decode()).read_bytes())]
    assert leaks == []
    def ignored(path: str) -> bool:
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False)
        return done.returncode == 0

    assert ignored("evidence/keys/alice.key")
    assert ignored("some/where/ci.key")
    assert ignored("evidence/keys/alice")
    assert not ignored("evidence/keys/alice.pub")


def test_bad_key_options_are_usage_errors(keyed: Path, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    """A --keys path that does not exist, or a .pub that is not a key: exit 2 naming it."""
    code, out = run(keyed, capsys, "gate", "--keys", str(tmp_path / "typo"))
    assert code == 2
    assert f"--keys {tmp_path / 'typo'}: no such folder" in out
    bad = keyed / "evidence" / "keys" / "broken.pub"
    bad.write_text("not a key\n")
    code, out = run(keyed, capsys, "verify")
    assert code == 2
    assert f"{bad}: not an Ed25519 public key" in out
