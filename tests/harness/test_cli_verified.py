"""Every reading command over a real workspace answers only from a ledger that verifies, and
only from a ledger folder that exists: the tamper cases of issue 11 and its ledger-path cases."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main
from harness.ledger.segment import body_hash
from harness.records import canonical_json
from tests.harness.test_cli import ALL_PASS, run
from tests.harness.toyspace import write_toyspace


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private FALSIFY_CACHE: these tests delete their ledger caches, never a shared one."""
    private = tmp_path / "private-cache"
    monkeypatch.setenv("FALSIFY_CACHE", str(private))
    return private


@pytest.fixture
def green(pytester: pytest.Pytester, cache: Path) -> Path:
    write_toyspace(pytester.path, falsifier=ALL_PASS)
    pytester.runpytest("falsifiers")
    return pytester.path


def _segment(root: Path) -> Path:
    (segment,) = (root / "evidence" / "ledger").glob("*.jsonl")
    return segment


def _rewrite(segment: Path, change: Callable[[list[bytes]], list[bytes]]) -> None:
    """Edit the segment's lines and put its mtime back, as someone hiding an edit would."""
    st = segment.stat()
    lines = segment.read_bytes().split(b"\n")
    segment.write_bytes(b"\n".join(change(lines[:-1])) + b"\n")
    os.utime(segment, ns=(st.st_atime_ns, st.st_mtime_ns))


def _flip(lines: list[bytes]) -> list[bytes]:
    raw = bytearray(lines[1])
    raw[raw.index(b'"n_lines"') + 2] ^= 0x01  # one bit of one byte of line 2
    return [lines[0], bytes(raw), *lines[2:]]


def _control_line(lines: list[bytes]) -> int:
    return next(i for i, raw in enumerate(lines) if b'"role":"control"' in raw)


def _edit_control(lines: list[bytes]) -> list[bytes]:
    i = _control_line(lines)
    return [*lines[:i], lines[i].replace(b'"verdict":"FAIL"', b'"verdict":"PASS"'),
            *lines[i + 1:]]


TAMPER = {  # name -> (change, 1-based line verify names)
    "flipped-byte": (_flip, 2),
    "deleted-line": (lambda ls: [ls[0], *ls[2:]], 2),
    "swapped-lines": (lambda ls: [ls[1], ls[0], *ls[2:]], 1),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_gate_and_readers_refuse_a_tampered_ledger(green: Path, case: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """What `falsify verify` finds, the gate finds: exit 1 naming file:line, warm cache or not;
    status and show refuse too (exit 1), never answering from the tampered bytes."""
    assert run(green, capsys, "gate")[0] == 0  # warms every cache
    segment = _segment(green)
    change, line = TAMPER[case]
    _rewrite(segment, change)
    code, out = run(green, capsys, "verify")
    assert code == 1
    assert f"{segment}:{line}:" in out
    code, out = run(green, capsys, "gate")
    assert code == 1
    assert f"{segment}:{line}:" in out
    assert "gate: FAIL — the ledger does not verify" in out
    for argv in (["status"], ["show", "TOY-TEXT-NOT-TINY"], ["status", "--json"]):
        code, out = run(green, capsys, *argv)
        assert code == 1, argv
        assert f"{segment}:{line}:" in out
        assert "does not verify" in out


@pytest.mark.parametrize("warm", [True, False])
def test_control_verdict_edited_fail_to_pass(green: Path, cache: Path, warm: bool,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The negative control's FAIL edited to PASS in place (same size, mtime restored): the
    gate refuses naming the line whether its caches are warm or cold; it never answers the old
    verdict from a cache, nor the forged one from the bytes."""
    assert run(green, capsys, "gate")[0] == 0
    segment = _segment(green)
    line = _control_line(segment.read_bytes().split(b"\n")) + 1
    size = segment.stat().st_size
    _rewrite(segment, _edit_control)
    assert segment.stat().st_size == size
    if not warm:
        shutil.rmtree(cache / "ledger-index")
    code, out = run(green, capsys, "gate", "--json")
    assert code == 1
    report = json.loads(out[out.index("{"):])
    assert report["ok"] is False
    assert [(p["path"], p["line"]) for p in report["ledger_problems"]] == [(str(segment), line)]
    assert "altered after it was written" in report["ledger_problems"][0]["message"]


def test_a_forged_last_record_is_answered_as_the_bytes_say(
        green: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A verdict forged with its hash recomputed on a segment's last record passes the chain
    (signatures catch it); a warm cache must then answer exactly what a cold read answers."""
    assert run(green, capsys, "gate")[0] == 0
    segment = _segment(green)

    def forge(lines: list[bytes]) -> list[bytes]:
        data = json.loads(lines[-1])
        data["verdict"] = "FAIL" if data["verdict"] == "PASS" else "PASS"
        data["hash"] = body_hash(data)
        return [*lines[:-1], canonical_json(data).encode()]

    _rewrite(segment, forge)
    warm = run(green, capsys, "status", "--json")
    shutil.rmtree(cache / "ledger-index")
    cold = run(green, capsys, "status", "--json")
    assert warm == cold
    assert warm[0] == 0


# --- ledger paths -----------------------------------------------------------------------------

READERS = [["verify"], ["status"], ["gate"], ["show", "TOY-TEXT-NOT-TINY"], ["render"],
           ["paper", "check"], ["pr", "--base", "HEAD"],
           ["amend", "0" * 32, "--why", "x"]]


@pytest.mark.parametrize("argv", READERS, ids=lambda a: a[0])
@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_ledger_path_that_is_not_a_folder_is_a_usage_error(
        green: Path, argv: list[str], kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--ledger PATH` that does not exist or is a file: exit 2 naming the path and the fix,
    never "intact" or an empty answer."""
    path = green / "no-such-ledger"
    if kind == "file":
        path = _segment(green)
    code, out = run(green, capsys, *argv, "--ledger", str(path))
    assert code == 2
    assert str(path) in out
    assert ("does not exist" if kind == "missing" else "is not a folder") in out
    assert "intact" not in out


def test_a_configured_ledger_that_does_not_exist_is_a_usage_error(
        green: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (green / "falsify.toml").write_text('ledger = "evidence/ledgr"\n')
    code, out = run(green, capsys, "gate")
    assert code == 2
    assert "evidence/ledgr" in out
    assert "falsify.toml" in out


def test_a_ledger_outside_the_project_is_shown(
        green: Path, tmp_path_factory: pytest.TempPathFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path_factory.mktemp("outside") / "ledger"
    shutil.copytree(green / "evidence" / "ledger", outside)
    for argv in (["verify"], ["gate"], ["status", "--json"]):
        code = main([*argv, "--root", str(green), "--ledger", str(outside)])
        captured = capsys.readouterr()
        assert code == 0, argv
        assert f"ledger: {outside.resolve()} (outside the project" in captured.err
    assert "outside the project" not in run(green, capsys, "gate")[1]


def test_the_default_ledger_may_not_exist_yet(pytester: pytest.Pytester, cache: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A new project has recorded nothing: readers say so and answer MISSING, not an error."""
    write_toyspace(pytester.path)
    code, out = run(pytester.path, capsys, "gate")
    assert code == 1
    assert "does not exist yet: nothing recorded" in out
    assert out.count("missing") >= 3


def test_a_scratch_ledger_for_writing_may_not_exist_yet(pytester: pytest.Pytester,
                                                        cache: Path, tmp_path: Path) -> None:
    """The pytest plugin's --ledger is a writer's: CI passes a fresh folder, created on write."""
    write_toyspace(pytester.path, falsifier=ALL_PASS)
    scratch = tmp_path / "scratch" / "ledger"
    pytester.runpytest("falsifiers", "--ledger", str(scratch)).assert_outcomes(passed=3)
    assert len(list(scratch.glob("*.jsonl"))) == 1


# --- signatures in every read -----------------------------------------------------------------

@pytest.fixture
def signed(pytester: pytest.Pytester, cache: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A toy workspace whose falsifiers ran with a key `falsify keys new` made and committed."""
    write_toyspace(pytester.path, falsifier=ALL_PASS)
    assert run(pytester.path, capsys, "keys", "new", "--name", "alice")[0] == 0
    pytester.runpytest("falsifiers")
    return pytester.path


def test_a_forgery_only_the_signature_catches_makes_every_reader_refuse(
        signed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The last record's verdict forged with its hash recomputed passes the chain; its segment's
    signature does not, and the signature check runs inside every verified read: status and show
    refuse (exit 1) naming the segment, warm cache or not, as verify and the gate do."""
    assert run(signed, capsys, "gate")[0] == 0  # warms the index and the signature cache
    segment = _segment(signed)

    def forge(lines: list[bytes]) -> list[bytes]:
        data = json.loads(lines[-1])
        data["notes"] = ["forged"]
        data["hash"] = body_hash(data)
        return [*lines[:-1], canonical_json(data).encode()]

    _rewrite(segment, forge)
    for argv in (["verify"], ["gate"], ["status"], ["show", "TOY-TEXT-NOT-TINY"]):
        code, out = run(signed, capsys, *argv)
        assert code == 1, argv
        assert str(segment) in out
        assert "are not the bytes alice signed" in out
