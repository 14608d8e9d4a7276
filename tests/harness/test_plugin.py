"""The pytest plugin end to end, driven by pytester: each scenario without xdist, -n 0 and -n 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.ledger import Ledger, verify
from tests.harness.toyspace import CONTRACT, FALSIFIER, write_toyspace

MODES = {"plain": [], "n0": ["-n", "0"], "n2": ["-n", "2"]}


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> list[str]:
    return MODES[request.param]


def records(root: Path) -> list[dict[str, object]]:
    out = []
    for seg in sorted((root / "evidence" / "ledger").glob("*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines()]
    return out


def test_verdict_per_subject_and_one_record_each(pytester: pytest.Pytester,
                                                 mode: list[str]) -> None:
    """Subjects get PASS and SUSPECT, the control gets its FAIL; one record per pair."""
    write_toyspace(pytester.path)
    result = pytester.runpytest("falsifiers", "-m", "live", "-v", *mode)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*falsify: verdicts*", "*TOY-TEXT-NOT-TINY*few-lines*SUSPECT*",
                                 "*3 evidence record(s) appended*"])
    recs = records(pytester.path)
    verdicts = {r["subject"]: r["verdict"] for r in recs}
    assert verdicts == {"short-lines": "PASS", "few-lines": "SUSPECT", "long-lines": "FAIL"}
    assert not verify(pytester.path / "evidence" / "ledger", {"TOY-TEXT-NOT-TINY"})


def test_xdist_writes_one_segment_per_worker_and_loses_nothing(pytester: pytest.Pytester) -> None:
    """Under -n 2 every record lands once, in the segment of the worker that ran the test."""
    many = FALSIFIER.replace("def test_text(", "@pytest.mark.parametrize('k', range(20))\n"
                             "def test_text(k, ")
    write_toyspace(pytester.path, falsifier=many)
    result = pytester.runpytest("falsifiers", "-n", "2", "-p", "no:randomly")
    result.assert_outcomes(passed=40, failed=20)
    recs = records(pytester.path)
    assert len(recs) == 60
    assert len({r["id"] for r in recs}) == 60
    assert len({r["session"] for r in recs}) == 1
    segments = list((pytester.path / "evidence" / "ledger").glob("*.jsonl"))
    assert {s.name.rsplit("-", 1)[-1] for s in segments} <= {"gw0.jsonl", "gw1.jsonl"}
    assert not verify(pytester.path / "evidence" / "ledger", None)


def test_raising_falsifier_is_error_with_record(pytester: pytest.Pytester, mode: list[str]) -> None:
    """A falsifier that raises gets an ERROR record and a pytest error, never FAIL."""
    boom = FALSIFIER.replace('    lines, width = SPEC[subject.id]',
                             '    raise RuntimeError("weights file is corrupt")')
    write_toyspace(pytester.path, falsifier=boom)
    result = pytester.runpytest("falsifiers", *mode)
    result.assert_outcomes(errors=3)
    recs = records(pytester.path)
    assert {r["verdict"] for r in recs} == {"ERROR"}
    assert all("weights file is corrupt" in r["reasons"][0] for r in recs)


def test_no_measurement_is_error(pytester: pytest.Pytester) -> None:
    """A falsifier that measures nothing is ERROR: zero measurements never pass."""
    empty = FALSIFIER.split("    lines, width")[0] + "    pass\n"
    write_toyspace(pytester.path, falsifier=empty)
    result = pytester.runpytest("falsifiers")
    result.assert_outcomes(errors=3)
    assert all("no measurement" in r["reasons"][0] for r in records(pytester.path))


def test_skip_and_unavailable_subject_are_skipped_records(pytester: pytest.Pytester,
                                                          mode: list[str]) -> None:
    """pytest.skip and an unavailable subject both record SKIPPED with the reason."""
    skipping = FALSIFIER.replace(
        '    lines, width = SPEC[subject.id]',
        '    from harness.workspace import SubjectUnavailable\n'
        '    if subject.id == "few-lines":\n'
        '        pytest.skip("no GPU here")\n'
        '    if subject.id == "long-lines":\n'
        '        raise SubjectUnavailable("gate at 127.0.0.1:9 is down")\n'
        '    lines, width = SPEC[subject.id]')
    write_toyspace(pytester.path, falsifier=skipping)
    result = pytester.runpytest("falsifiers", "-rs", *mode)
    result.assert_outcomes(passed=1, skipped=2)
    recs = {r["subject"]: r for r in records(pytester.path)}
    assert recs["few-lines"]["verdict"] == "SKIPPED"
    assert "no GPU here" in recs["few-lines"]["reasons"][0]
    assert recs["long-lines"]["verdict"] == "SKIPPED"
    assert "127.0.0.1:9 is down" in recs["long-lines"]["reasons"][0]


def test_control_without_power_fails(pytester: pytest.Pytester) -> None:
    """A negative control that passes makes its test fail: the falsifier has no power."""
    weak = CONTRACT.replace("max_line_bytes: 80 bytes", "max_line_bytes: 500 bytes")
    write_toyspace(pytester.path, contract=weak)
    result = pytester.runpytest("falsifiers")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*negative control long-lines must get FAIL but got PASS*"])


def test_no_record_judges_without_writing(pytester: pytest.Pytester) -> None:
    write_toyspace(pytester.path)
    result = pytester.runpytest("falsifiers", "--no-record")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*--no-record: verdicts judged, nothing appended*"])
    assert not (pytester.path / "evidence" / "ledger").exists()


def test_ledger_option_redirects(pytester: pytest.Pytester, tmp_path: Path) -> None:
    write_toyspace(pytester.path)
    pytester.runpytest("falsifiers", "--ledger", str(tmp_path / "elsewhere"))
    assert len(list((tmp_path / "elsewhere").glob("*.jsonl"))) == 1
    assert not (pytester.path / "evidence" / "ledger").exists()


def test_unknown_claim_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write_toyspace(pytester.path, falsifier=FALSIFIER.replace('"TOY-TEXT-NOT-TINY"', '"NOPE"'))
    result = pytester.runpytest("falsifiers")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*falsifier names unknown claim 'NOPE'*"])
    assert not (pytester.path / "evidence" / "ledger").exists()


def test_bad_contract_records_nothing(pytester: pytest.Pytester) -> None:
    """A contract that does not load stops the run before anything is measured or recorded."""
    bad = CONTRACT.replace("predicate: mean_line_bytes <= max_line_bytes",
                           "predicate: mean_line_bytes <= n_lines")
    write_toyspace(pytester.path, contract=bad)
    result = pytester.runpytest("falsifiers")
    assert result.ret != 0
    shown = "\n".join(result.outlines + result.errlines)
    assert "TOY-TEXT-NOT-TINY" in shown
    assert "predicate: unit mismatch" in shown
    assert not (pytester.path / "evidence" / "ledger").exists()


def test_record_carries_provenance_and_contract_hash(pytester: pytest.Pytester) -> None:
    write_toyspace(pytester.path)
    pytester.runpytest("falsifiers")
    ledger = Ledger(pytester.path / "evidence" / "ledger")
    rec = ledger.history("TOY-TEXT-NOT-TINY", "short-lines")[0]
    assert len(rec.claim_sha256) == 64
    assert rec.inputs
    assert len(rec.inputs[0]["sha256"]) == 64
    assert {"python", "platform"} <= set(rec.provenance["env"])
    assert "commit" in rec.provenance["git"]
    assert rec.node_id.endswith("test_text[short-lines]")
    assert rec.measurement("n_lines") is not None
    assert rec.timing["duration_s"] >= 0
