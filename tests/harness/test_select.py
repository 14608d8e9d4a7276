"""``--falsify-select=stale`` end to end, driven by pytester over a workspace of real files.

The class: a rerun that repeats fresh evidence (wasted hours on big models) or skips evidence
that no longer stands. After a full run a stale-only run executes nothing; changing one input
file re-runs exactly the items that declared it; a missing record, a control without its
expected verdict and a changed falsifier are run again; under xdist the workers run the same
selection.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.toyspace import CONTRACT, write_toyspace

FALSIFIER = '''\
import pytest

pytestmark = pytest.mark.live


@pytest.mark.claim("TOY-TEXT-NOT-TINY")
def test_text(evidence, subject, workspace):
    path = workspace.root / "data" / f"{subject.id}.txt"
    data = path.read_bytes().splitlines(keepends=True)
    evidence.input(path)
    evidence.measure("n_lines", len(data), unit="count")
    evidence.measure("mean_line_bytes", sum(map(len, data)) / len(data), unit="bytes")
'''
SHAPES = {"short-lines": (40, 20), "wide-lines": (40, 60), "long-lines": (40, 200)}


def _data(root: Path, subject: str, lines: int, width: int) -> None:
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / f"{subject}.txt").write_text(("x" * (width - 1) + "\n") * lines)


def _space(root: Path) -> None:
    write_toyspace(root, CONTRACT.replace("[short-lines, few-lines]", "[short-lines, wide-lines]"),
                   FALSIFIER)
    for subject, (lines, width) in SHAPES.items():
        _data(root, subject, lines, width)


def _recorded(root: Path) -> list[str]:
    out = []
    for seg in sorted((root / "evidence" / "ledger").glob("*.jsonl")):
        out += [json.loads(line)["subject"] for line in seg.read_text().splitlines()]
    return out


@pytest.mark.parametrize("mode", [[], ["-n", "2"]], ids=["plain", "n2"])
def test_a_stale_only_run_after_a_full_run_runs_nothing_then_only_what_changed(
        pytester: pytest.Pytester, mode: list[str]) -> None:
    _space(pytester.path)
    pytester.runpytest("falsifiers", "-m", "live", *mode).assert_outcomes(passed=3)
    assert sorted(_recorded(pytester.path)) == ["long-lines", "short-lines", "wide-lines"]

    again = pytester.runpytest("falsifiers", "-m", "live", "--falsify-select=stale", *mode)
    assert again.ret == 0  # nothing stale is a result, not pytest's "no tests collected"
    again.assert_outcomes(deselected=0 if mode else 3)  # xdist workers do not report them
    again.stdout.fnmatch_lines(["*kept  TOY-TEXT-NOT-TINY long-lines: fresh expected FAIL*",
                                "*0 of 3 (claim, subject) item(s) to run*"])
    assert len(_recorded(pytester.path)) == 3

    _data(pytester.path, "short-lines", 41, 20)  # one input changes
    third = pytester.runpytest("falsifiers", "-m", "live", "--falsify-select=stale", *mode)
    third.assert_outcomes(passed=1, deselected=0 if mode else 2)
    third.stdout.fnmatch_lines(["*run   TOY-TEXT-NOT-TINY short-lines: stale: input*"])
    assert _recorded(pytester.path)[3:] == ["short-lines"]


def test_missing_evidence_and_a_powerless_control_run_again(pytester: pytest.Pytester) -> None:
    _space(pytester.path)
    pytester.runpytest("falsifiers", "-m", "live", "--subject", "short-lines")
    _data(pytester.path, "long-lines", 40, 20)  # the control's fault is gone: it now passes
    pytester.runpytest("falsifiers", "-m", "live", "--subject", "long-lines")
    result = pytester.runpytest("falsifiers", "-m", "live", "--falsify-select=stale")
    result.stdout.fnmatch_lines([
        "*run   TOY-TEXT-NOT-TINY long-lines: powerless: a control must get FAIL, its latest is "
        "PASS*",
        "*run   TOY-TEXT-NOT-TINY wide-lines: missing: no evidence recorded yet*",
        "*kept  TOY-TEXT-NOT-TINY short-lines: fresh PASS*"])
    result.assert_outcomes(passed=1, failed=1, deselected=1)


def test_a_changed_falsifier_reruns_its_items(pytester: pytest.Pytester) -> None:
    _space(pytester.path)
    pytester.runpytest("falsifiers", "-m", "live").assert_outcomes(passed=3)
    path = pytester.path / "falsifiers" / "test_toy.py"
    path.write_text(path.read_text() + "\n# a changed falsifier\n")
    result = pytester.runpytest("falsifiers", "-m", "live", "--falsify-select=stale")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*run   TOY-TEXT-NOT-TINY short-lines: stale: falsifier*"])


def test_status_says_what_a_stale_only_run_would_execute(
        pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    _space(pytester.path)
    pytester.runpytest("falsifiers", "-m", "live", "--subject", "short-lines")
    capsys.readouterr()
    main(["status", "--root", str(pytester.path)])
    assert ("a stale-only run would execute 2 of 3 (claim, subject) item(s)"
            in capsys.readouterr().out)
    main(["status", "--json", "--root", str(pytester.path)])
    assert json.loads(capsys.readouterr().out)["stale_only"] == {"run": 2, "items": 3}
