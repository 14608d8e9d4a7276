"""The gate's policy on evidence recorded with uncommitted changes (``git.dirty: true``).

Generated ledgers mixing clean, dirty and git-less records across claims are gated through the
real command under each ``--dirty`` policy and under ``CI=true`` or not; a real git repository
shows a falsifier run over an uncommitted change producing a record the gate refuses in CI.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.cli import main
from tests.harness.ledger_factory import PROVENANCE, make_record
from tests.harness.toyspace import CONTRACT, FALSIFIER, write_toyspace

CLAIMS = ("TOY-A", "TOY-B", "TOY-C")
# (subject, role): two subjects and a control (expects FAIL) per claim
REFS = (("short-lines", "subject"), ("few-lines", "subject"), ("long-lines", "control"))
MANY = "area: toy\ntitle: Toy claims\nclaims:\n" + "".join(
    CONTRACT.split("claims:\n", 1)[1].replace("TOY-TEXT-NOT-TINY", claim) for claim in CLAIMS)
ALL_PASS = FALSIFIER.replace('"few-lines": (3, 20)', '"few-lines": (30, 20)')

# one row of a generated ledger: (verdict is the one the row needs to pass, dirty flag)
row_state = st.tuples(st.booleans(), st.sampled_from([False, True, None]))


def _gate(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # only the gate's own output
    code = main(["gate", "--root", str(root), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _write_ledger(root: Path, states: list[tuple[bool, bool | None]]) -> dict[tuple[str, str],
                                                                               tuple[str, int]]:
    """One record per (claim, subject) in ``states`` order; their (id, line) by key."""
    from harness.contracts import load_contracts
    from harness.ledger import LedgerWriter

    contracts = load_contracts(root / "contracts")
    placed = {}
    with LedgerWriter(root / "evidence" / "ledger", "s") as writer:
        keys = [(c, s, role) for c in CLAIMS for s, role in REFS]
        for line, ((claim, subject, role), (good, dirty)) in enumerate(
                zip(keys, states, strict=True), start=1):
            passing = "FAIL" if role == "control" else "PASS"
            verdict = passing if good else ("PASS" if role == "control" else "FAIL")
            record = make_record(claim, subject, role=role, verdict=verdict,
                                 expect="FAIL" if role == "control" else None)
            git = {**PROVENANCE["git"], "dirty": dirty}
            sealed = writer.append(replace(record, claim_sha256=contracts[claim].sha256,
                                           provenance={**PROVENANCE, "git": git}))
            placed[(claim, subject)] = (sealed.id, line)
    return placed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(states=st.lists(row_state, min_size=9, max_size=9),
       policy=st.sampled_from([None, "refuse", "warn", "allow"]), ci=st.booleans())
@example(states=[(True, False)] * 8 + [(True, True)], policy=None, ci=True)  # the case
@example(states=[(True, False)] * 8 + [(True, True)], policy=None, ci=False)
@example(states=[(True, True)] * 9, policy="allow", ci=True)
@example(states=[(False, True)] + [(True, None)] * 8, policy="refuse", ci=False)
def test_gate_dirty_policy_over_generated_ledgers(
        states: list[tuple[bool, bool | None]], policy: str | None, ci: bool,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A record made with uncommitted changes never passes unnoticed: refused (naming claim,
    subject, record file:line and the fix) under refuse and by default under CI=true, a
    warning naming each under warn and by default elsewhere, counted under allow; a record
    outside git (dirty unknown) and a clean one are judged as before."""
    with tempfile.TemporaryDirectory() as tmp:
        root = write_toyspace(Path(tmp), contract=MANY)
        placed = _write_ledger(root, states)
        if ci:
            monkeypatch.setenv("CI", "true")
        else:
            monkeypatch.delenv("CI", raising=False)
        args = ["--allow-unsigned"] + ([f"--dirty={policy}"] if policy else [])
        code, out, err = _gate(root, capsys, *args)
        effective = policy or ("refuse" if ci else "warn")
        keys = [(c, s) for c in CLAIMS for s, _ in REFS]
        dirty = [k for k, (good, d) in zip(keys, states, strict=True) if good and d is True]
        bad = [k for k, (good, _) in zip(keys, states, strict=True) if not good]
        refused = dirty if effective == "refuse" else []
        assert code == (1 if bad or refused else 0), out + err
        assert ("gate: PASS" in out) == (code == 0)
        for claim, subject in dirty:
            record, line = placed[(claim, subject)]
            named = f"{claim} on {subject}: record {record} at "
            where = f".jsonl:{line} was made with uncommitted changes; commit, then re-run"
            if effective == "refuse":
                assert named in out
                assert where in out
                assert "warning (--dirty=warn)" not in err
            elif effective == "warn":
                assert named in err
                assert where in err
                assert "under CI=true the gate refuses" in err
            else:
                assert named not in out + err
        if dirty and effective != "refuse" and not bad:
            assert f"{len(dirty)} record(s) made with uncommitted changes " \
                   f"(--dirty={effective})" in out
        if refused:
            assert f"{len(refused)} dirty" in out
        if not dirty:
            assert "uncommitted" not in out + err


def test_gate_json_lists_dirty_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json carries the policy and every dirty record that would pass, with its file:line."""
    root = write_toyspace(tmp_path, contract=MANY)
    placed = _write_ledger(root, [(True, True)] + [(True, False)] * 8)
    code, out, _ = _gate(root, capsys, "--json", "--dirty=refuse")
    data = json.loads(out)
    assert code == 1
    assert not data["ok"]
    assert [p["problem"] for p in data["problems"]] == ["dirty"]
    (entry,) = data["dirty"]["records"]
    assert data["dirty"]["policy"] == "refuse"
    assert entry["record"] == placed[("TOY-A", "short-lines")][0]
    assert entry["where"].endswith(".jsonl:1")


def test_gate_rejects_an_unknown_dirty_policy(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    root = write_toyspace(tmp_path, contract=MANY)
    with pytest.raises(SystemExit) as info:
        main(["gate", "--root", str(root), "--dirty=maybe"])
    assert info.value.code == 2
    assert "refuse" in capsys.readouterr().err


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                          capture_output=True, text=True, check=True).stdout.strip()


def test_uncommitted_change_makes_a_dirty_record_the_ci_gate_refuses(
        pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A falsifier run in a git checkout with an uncommitted change records dirty: true; the
    gate under CI=true refuses it, naming the record; committed and re-run, it passes."""
    root = write_toyspace(pytester.path, falsifier=ALL_PASS)
    (root / ".gitignore").write_text(".falsify-cache/\n__pycache__/\n.pytest_cache/\n"
                                     "evidence/ledger/\nrunpytest-*\nstdout\nstderr\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "toy")
    (root / "NOTES.md").write_text("an uncommitted change\n")
    pytester.runpytest_subprocess("falsifiers", "-m", "live",
                                  timeout=120).assert_outcomes(passed=3)
    segment = next((root / "evidence" / "ledger").glob("*.jsonl"))
    assert all(json.loads(line)["provenance"]["git"]["dirty"] is True
               for line in segment.read_text().splitlines())
    monkeypatch.setenv("CI", "true")
    code, out, _ = _gate(root, capsys, "--allow-unsigned")
    assert code == 1, out
    for subject in ("short-lines", "few-lines", "long-lines"):
        assert f"dirty: TOY-TEXT-NOT-TINY on {subject}: record " in out
    assert f"{segment.name}:1 was made with uncommitted changes; commit, then re-run" in out
    assert "gate: FAIL — 3 dirty across 1 required claim(s)" in out
    capsys.readouterr()
    assert main(["pr", "--root", str(root), "--base", "HEAD"]) == 1  # the same rule in `pr`
    text = capsys.readouterr().out
    assert text.startswith("### falsify gate FAIL")
    assert "| dirty |" in text
    monkeypatch.delenv("CI")
    code, out, err = _gate(root, capsys)
    assert code == 0
    assert "3 record(s) made with uncommitted changes (--dirty=warn)" in out
    assert "warning (--dirty=warn): TOY-TEXT-NOT-TINY on short-lines" in err
    assert main(["pr", "--root", str(root), "--base", "HEAD"]) == 0
    text = capsys.readouterr().out
    assert "> warning (--dirty=warn): TOY-TEXT-NOT-TINY on few-lines" in text
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "notes")
    pytester.runpytest_subprocess("falsifiers", "-m", "live",
                                  timeout=120).assert_outcomes(passed=3)
    monkeypatch.setenv("CI", "true")
    code, out, _ = _gate(root, capsys, "--allow-unsigned")
    assert code == 0, out
    assert "uncommitted" not in out


def test_parallel_workers_do_not_see_each_others_segments_as_uncommitted_changes(
        pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Evidence is committed with the code, so the ledger folder is not ignored by git. Under
    ``-n 2`` one worker's new segment appeared as an untracked file to the other, which then
    recorded every record ``dirty: true`` and the CI gate refused a clean checkout's evidence.
    The segments being written are evidence, not a change to what was measured."""
    # gw1 records only once gw0's segment exists, as when gw1's first model loads slowly
    wait = ("    import os, time\n"
            "    from pathlib import Path\n"
            "    if os.environ.get('PYTEST_XDIST_WORKER') == 'gw1':\n"
            "        for _ in range(300):\n"
            "            if list((Path.cwd() / 'evidence' / 'ledger').glob('*.jsonl')):\n"
            "                break\n"
            "            time.sleep(0.1)\n")
    many = ALL_PASS.replace("def test_text(", "@pytest.mark.parametrize('k', range(12))\n"
                            "def test_text(k, ")
    many = many.replace("    lines, width = SPEC", wait + "    lines, width = SPEC", 1)
    root = write_toyspace(pytester.path, falsifier=many)
    (root / ".gitignore").write_text(".falsify-cache/\n__pycache__/\n.pytest_cache/\n"
                                     "runpytest-*\nstdout\nstderr\n")
    (root / "evidence" / "ledger").mkdir(parents=True)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "toy")
    pytester.runpytest_subprocess("falsifiers", "-m", "live", "-n", "2", "-p", "no:randomly",
                                  timeout=180).assert_outcomes(passed=36)
    segments = sorted((root / "evidence" / "ledger").glob("*.jsonl"))
    assert len(segments) == 2  # one per worker: each saw the other's as untracked
    flags = [json.loads(line)["provenance"]["git"]["dirty"]
             for seg in segments for line in seg.read_text().splitlines()]
    assert len(flags) == 36
    assert not any(flags)
    monkeypatch.setenv("CI", "true")
    code, out, _ = _gate(root, capsys, "--allow-unsigned")
    assert code == 0, out
    (root / "NOTES.md").write_text("an uncommitted change is still one\n")
    pytester.runpytest_subprocess("falsifiers", "-m", "live", "-n", "2", "-p", "no:randomly",
                                  timeout=180).assert_outcomes(passed=36)
    newest = set((root / "evidence" / "ledger").glob("*.jsonl")) - set(segments)
    assert newest
    assert all(json.loads(line)["provenance"]["git"]["dirty"] is True
               for seg in newest for line in seg.read_text().splitlines())
