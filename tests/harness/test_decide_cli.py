"""`falsify decide` on a real workspace whose ledger a real pytest run wrote, and the flags
that later evidence raises in `falsify status`, the evidence README, the paper macros and
`falsify pr`."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import git
import pytest

from harness.cli import main
from harness.contracts import load_contracts
from harness.ledger import Ledger
from harness.ledger.schema import record_schema
from harness.records import Record, Status
from harness.render.paper import evidence_macros
from harness.render.view import build_view
from tests.harness.toyspace import CONTRACT, FALSIFIER, write_toyspace

DECISIONS = """
decisions:
  - id: SHIP-TOY
    title: Ship the toy
    rests_on:
      - {claim: TOY-TEXT-NOT-TINY, subject: short-lines, as: short}
    outcomes: [ship, kill, hold]
    success: [ship]
    rule:
      - when: {short: fresh PASS}
        outcome: ship
      - when: {short: fresh FAIL}
        outcome: kill
    default: hold
  - id: SHIP-FEW
    title: Ship the few-lines file
    rests_on:
      - {claim: TOY-TEXT-NOT-TINY, subject: few-lines}
    outcomes: [ship, hold]
    success: [ship]
    rule:
      - when: {all: fresh PASS}
        outcome: ship
    default: hold
"""
ACTOR = git.Actor("Test", "test@example.org")


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args, "--root", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def space(pytester: pytest.Pytester) -> Path:
    write_toyspace(pytester.path, contract=textwrap.dedent(CONTRACT) + DECISIONS)
    pytester.runpytest("falsifiers")
    return pytester.path


def ledger(root: Path) -> Ledger:
    return Ledger(root / "evidence" / "ledger", root / ".falsify-cache" / "ledger-index")


def decisions(root: Path) -> list[Record]:
    return [r for r in ledger(root).records() if r.kind == "decision"]


def cited(root: Path, subject: str) -> Record:
    return next(r for r in ledger(root).records()
                if r.kind == "claim" and r.subject == subject)


def body(record: Record) -> dict[str, Any]:
    found: dict[str, Any] = record.attachments["decision"]
    return found


def test_decide_records_the_outcome_and_its_evidence_chain(
        space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(space, capsys, "decide", "SHIP-TOY")
    assert code == 0, out
    [record] = decisions(space)
    evidence = cited(space, "short-lines")
    [entry] = body(record)["evidence"]
    assert body(record)["outcome"] == "ship"
    assert record.verdict == Status.PASS
    assert entry["record"] == evidence.id
    assert entry["record_hash"] == evidence.hash
    assert entry["runs"]["session"] == evidence.session
    assert {"name": "n_lines", "value": 40.0, "unit": "count"} in entry["metrics"]
    assert entry["inputs"] == [dict(i) for i in evidence.inputs]
    assert entry["reproduce"].startswith("pytest ")
    assert record_schema().errors(record.to_json()) == []


def test_decided_ledger_verifies(space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(space, capsys, "decide", "SHIP-TOY")
    code, out = run(space, capsys, "verify")
    assert code == 0, out


def test_decide_on_suspect_evidence_says_so_in_the_record(
        space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(space, capsys, "decide", "SHIP-FEW")
    assert code == 1
    [record] = decisions(space)
    assert body(record)["outcome"] == "hold"
    assert record.verdict == Status.SUSPECT
    assert any(n.startswith("decided on flagged evidence: SUSPECT: TOY-TEXT-NOT-TINY@few-lines")
               for n in record.notes)
    assert "flag: SUSPECT" in out


def test_dry_run_records_nothing(space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(space, capsys, "decide", "SHIP-TOY", "--dry-run")
    assert code == 0
    assert "dry run: nothing recorded" in out
    assert decisions(space) == []


def test_unknown_decision_is_a_usage_error(space: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(space, capsys, "decide", "SHIP-NONE")
    assert code == 2
    assert "known: SHIP-FEW, SHIP-TOY" in out


def test_status_flags_a_decision_whose_evidence_was_amended(
        space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(space, capsys, "decide", "SHIP-TOY")
    run(space, capsys, "amend", cited(space, "short-lines").id, "--why", "wrong file")
    code, out = run(space, capsys, "status")
    assert code == 0
    assert "decision SHIP-TOY: ship (record" in out
    assert "FLAGGED" in out
    assert "AMENDED: short: record" in out
    assert "OUTCOME NOW: the rule on today's evidence gives 'hold'" in out


def test_status_flags_a_decision_whose_evidence_went_stale(
        space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(space, capsys, "decide", "SHIP-TOY")
    path = space / "contracts" / "toy.yaml"
    path.write_text(path.read_text().replace("its mean line is short", "its mean line is brief"))
    code, out = run(space, capsys, "status")
    assert code == 0
    assert "STALE NOW: short: contract changed since the record" in out


def test_status_of_a_clean_decision_has_no_flag(space: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run(space, capsys, "decide", "SHIP-TOY")
    _, out = run(space, capsys, "status")
    assert "FLAGGED" not in out
    assert "decision SHIP-FEW: not decided yet" in out


def test_readme_and_paper_show_the_flagged_decision(
        space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(space, capsys, "decide", "SHIP-TOY")
    run(space, capsys, "amend", cited(space, "short-lines").id, "--why", "wrong file")
    code, out = run(space, capsys, "render")
    assert code == 0, out
    readme = (space / "evidence" / "README.md").read_text("utf-8")
    assert "## Decisions" in readme
    assert "ship (FLAGGED)" in readme
    assert f"`{cited(space, 'short-lines').id}`" in readme  # the evidence chain names it
    view = build_view(load_contracts(space / "contracts"), ledger(space), ledger_label="x")
    macros = {m.key: m.value for m in evidence_macros(view)}
    assert macros["SHIP-TOY.outcome"] == r"ship (\textbf{flagged})"


def test_pr_report_flags_the_decision(space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(space, capsys, "decide", "SHIP-TOY")
    repo = git.Repo.init(space)
    repo.git.add("contracts", "evidence/ledger", "pyproject.toml", "falsifiers")
    repo.index.commit("evidence", author=ACTOR, committer=ACTOR)
    run(space, capsys, "amend", cited(space, "short-lines").id, "--why", "wrong file")
    _, out = run(space, capsys, "pr", "--base", "HEAD")
    assert "1 decision(s) flagged" in out
    assert "#### Decisions" in out
    assert "AMENDED: short" in out


# --- a kill criterion in the gate ---------------------------------------------------------------

CRITERION = """\
area: toy
title: Toy claims
claims:
  - id: TOY-TEXT-NOT-TINY
    title: The text file is below its byte budget
    statement: The mean line of the text file is short.
    %s
    measures:
      n_lines: {unit: count}
      mean_line_bytes: {unit: bytes}
    params:
      max_line_bytes: 80 bytes
    predicate: mean_line_bytes <= max_line_bytes
    subjects: [short-lines, wide-lines]
    controls:
      - subject: long-lines
        expect: FAIL
decisions:
  - id: KEEP-WIDE
    title: Keep the wide-lines track
    rests_on:
      - {claim: TOY-TEXT-NOT-TINY, subject: wide-lines, as: wide}
    outcomes: [continue, drop, hold]
    success: [continue]
    rule:
      - when: {wide: fresh PASS}
        outcome: continue
      - when: {wide: fresh FAIL}
        outcome: drop
    default: hold
"""
WIDE = FALSIFIER.replace('"long-lines": (40, 200)}', '"long-lines": (40, 200), '
                                                     '"wide-lines": (40, 300)}')


def test_a_criterion_fail_passes_pytest_and_the_gate(
        pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write_toyspace(pytester.path, contract=CRITERION % "criterion: true", falsifier=WIDE)
    pytester.runpytest("falsifiers").assert_outcomes(passed=3)
    code, out = run(pytester.path, capsys, "gate", "--dirty", "allow")
    assert code == 0, out
    assert "1 decision criterion FAIL(s), evidence for a decision, not counted" in out
    code, out = run(pytester.path, capsys, "decide", "KEEP-WIDE")
    assert code == 0, out
    assert "decision KEEP-WIDE: drop" in out


def test_the_same_fail_without_criterion_fails_the_gate(
        pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    write_toyspace(pytester.path, contract=CRITERION % "criterion: false", falsifier=WIDE)
    pytester.runpytest("falsifiers").assert_outcomes(passed=2, failed=1)
    code, out = run(pytester.path, capsys, "gate", "--dirty", "allow")
    assert code == 1
    assert "failing" in out


def test_paper_check_refuses_a_flagged_decision(space: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run(space, capsys, "decide", "SHIP-TOY")
    (space / "paper").mkdir()
    (space / "paper" / "main.tex").write_text("We decided to \\ev{SHIP-TOY.outcome}.\n")
    code, out = run(space, capsys, "paper", "check")
    assert code == 0, out
    run(space, capsys, "amend", cited(space, "short-lines").id, "--why", "wrong file")
    code, out = run(space, capsys, "paper", "check")
    assert code == 1
    assert "cites decision SHIP-TOY, which is FLAGGED" in out


def test_show_lists_the_rule_and_the_decision_history(
        space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(space, capsys, "decide", "SHIP-TOY")
    code, out = run(space, capsys, "show", "SHIP-TOY")
    assert code == 0
    assert "rule[0]: when short: fresh PASS then ship" in out
    assert "decision history (1 record(s)):" in out
