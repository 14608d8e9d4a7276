"""Decision rules: conditions, the refusal of rules that read anything but a fresh PASS as
success, and the errors a contract's ``decisions:`` section can raise, naming file and decision."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.contracts import ContractError, load_contracts
from harness.decisions import (
    STATES,
    VERDICTS,
    Decision,
    DecisionError,
    EvidenceState,
    compile_decision,
    parse_condition,
)
from tests.harness.toyspace import CONTRACT

SOURCE = Path("contracts/plan.yaml")
FRESH_PASS = EvidenceState("PASS", True)


def raw_decision(rule: list[dict[str, Any]], *, success: tuple[str, ...] = ("ship",),
                 default: str = "hold", keys: tuple[str, ...] = ("a", "b")) -> dict[str, Any]:
    return {"id": "SHIP-IT", "title": "Ship it",
            "rests_on": [{"claim": f"C-{k.upper()}", "subject": "s", "as": k} for k in keys],
            "outcomes": ["ship", "kill", "hold"], "success": list(success), "rule": rule,
            "default": default}


def compiled(raw: dict[str, Any]) -> Decision:
    decision, problems = compile_decision(raw, SOURCE)
    assert problems == []
    assert decision is not None
    return decision


# --- conditions ---------------------------------------------------------------------------------

def test_condition_fresh_pass_accepts_only_a_fresh_pass() -> None:
    assert parse_condition("fresh PASS").accepted == frozenset({FRESH_PASS})


def test_condition_without_freshness_accepts_stale_too() -> None:
    accepted = parse_condition("FAIL|suspect").accepted
    assert accepted == {EvidenceState(v, f) for v in ("FAIL", "SUSPECT") for f in (True, False)}


def test_condition_any_accepts_missing_evidence() -> None:
    assert EvidenceState("MISSING", False) in parse_condition("any").accepted


def test_condition_stale_never_matches_fresh() -> None:
    assert all(not s.fresh for s in parse_condition("stale FAIL|ERROR").accepted)


@pytest.mark.parametrize("text", ["", "fresh", "PAS", "fresh PASS FAIL", "new PASS", "PASS|"])
def test_bad_condition_says_what_to_write(text: str) -> None:
    with pytest.raises(DecisionError, match=r"condition|verdict"):
        parse_condition(text)


@given(st.text(max_size=40))
@example("fresh pass|FAIL")
@example("STALE missing")
def test_any_condition_text_parses_or_is_a_decision_error(text: str) -> None:
    """Fuzz: a condition either parses into a subset of the states or raises DecisionError."""
    try:
        condition = parse_condition(text)
    except DecisionError as exc:
        message = str(exc)
    else:
        assert condition.accepted <= frozenset(STATES)
        return
    assert repr(text) in message


# --- the safety rule ----------------------------------------------------------------------------

def test_rule_of_fresh_pass_everywhere_compiles() -> None:
    decision = compiled(raw_decision([{"when": {"all": "fresh PASS"}, "outcome": "ship"}]))
    assert decision.evaluate({"a": FRESH_PASS, "b": FRESH_PASS}) == ("ship", 1)


def test_stale_pass_falls_through_to_the_default() -> None:
    decision = compiled(raw_decision([{"when": {"all": "fresh PASS"}, "outcome": "ship"}]))
    assert decision.evaluate({"a": FRESH_PASS, "b": EvidenceState("PASS", False)}) == ("hold",
                                                                                        None)


def test_rule_reading_a_bare_pass_as_success_is_refused() -> None:
    _, problems = compile_decision(raw_decision([{"when": {"a": "PASS", "b": "fresh PASS"},
                                                  "outcome": "ship"}]), SOURCE)
    assert len(problems) == 1
    assert problems[0].startswith(f"{SOURCE}: decision SHIP-IT: key rule[0]: success outcome")
    assert "a is not fresh PASS" in problems[0]
    assert "write `a: fresh PASS`" in problems[0]


def test_rule_leaving_a_cited_claim_out_of_a_success_is_refused() -> None:
    _, problems = compile_decision(raw_decision([{"when": {"a": "fresh PASS"},
                                                  "outcome": "ship"}]), SOURCE)
    assert any("is reached when b is " in p and "write `b: fresh PASS`" in p for p in problems)


def test_success_default_is_refused() -> None:
    _, problems = compile_decision(raw_decision([{"when": {"all": "fresh FAIL"},
                                                  "outcome": "kill"}], default="ship"), SOURCE)
    assert any("key default: 'ship' is a success outcome" in p for p in problems)


def test_clause_that_can_never_hold_is_refused() -> None:
    _, problems = compile_decision(raw_decision([{"when": {"a": "fresh MISSING"},
                                                  "outcome": "kill"}]), SOURCE)
    assert any("can never hold" in p for p in problems)


def test_unknown_key_and_outcome_are_named() -> None:
    _, problems = compile_decision(raw_decision([{"when": {"c": "FAIL"}, "outcome": "promote"}]),
                                   SOURCE)
    assert any("rule[0].when.c: not evidence this decision rests on" in p for p in problems)
    assert any("rule[0].outcome: 'promote' is not one of the outcomes" in p for p in problems)


CONDITIONS = st.one_of(
    st.just("any"),
    st.builds(lambda q, vs: " ".join(p for p in (q, "|".join(vs)) if p),
              st.sampled_from(["", "fresh", "stale"]),
              st.lists(st.sampled_from(VERDICTS), min_size=1, max_size=3)))
CLAUSES = st.builds(
    lambda when, outcome: {"when": when, "outcome": outcome},
    st.dictionaries(st.sampled_from(["a", "b", "all"]), CONDITIONS, min_size=1, max_size=3),
    st.sampled_from(["ship", "kill", "hold"]))


@settings(max_examples=200, deadline=None)
@given(rule=st.lists(CLAUSES, min_size=1, max_size=4),
       success=st.sets(st.sampled_from(["ship", "kill"]), min_size=1),
       default=st.sampled_from(["ship", "kill", "hold"]))
@example(rule=[{"when": {"all": "fresh PASS"}, "outcome": "ship"}], success={"ship"},
         default="hold")
@example(rule=[{"when": {"a": "PASS", "b": "fresh PASS"}, "outcome": "ship"}], success={"ship"},
         default="hold")
def test_no_loaded_rule_reads_a_non_fresh_or_non_pass_verdict_as_success(
        rule: list[dict[str, Any]], success: set[str], default: str) -> None:
    """Every rule that loads gives a success outcome only when every cited piece is a fresh
    PASS, over every combination of states; a rule that could do otherwise does not load."""
    decision, problems = compile_decision(raw_decision(rule, success=tuple(sorted(success)),
                                                       default=default), SOURCE)
    if decision is None:
        assert problems
        return
    for a, b in itertools.product(STATES, repeat=2):
        outcome, _ = decision.evaluate({"a": a, "b": b})
        if outcome in decision.success:
            assert (a, b) == (FRESH_PASS, FRESH_PASS)


# --- in contract files --------------------------------------------------------------------------

DECISIONS = """
decisions:
  - id: SHIP-TOY
    title: Ship the toy
    rests_on:
      - {claim: TOY-TEXT-NOT-TINY, subject: short-lines}
    outcomes: [ship, hold]
    success: [ship]
    rule:
      - when: {TOY-TEXT-NOT-TINY@short-lines: %s}
        outcome: ship
    default: hold
"""


def write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "toy.yaml").write_text(textwrap.dedent(CONTRACT) + text, "utf-8")
    return folder


def test_contract_decision_loads(tmp_path: Path) -> None:
    contracts = load_contracts(write(tmp_path, DECISIONS % "fresh PASS"))
    assert list(contracts.decisions) == ["SHIP-TOY"]
    assert contracts.decisions["SHIP-TOY"].cites[0].key == "TOY-TEXT-NOT-TINY@short-lines"


def test_contract_with_unsafe_rule_is_refused_naming_file_and_decision(tmp_path: Path) -> None:
    folder = write(tmp_path, DECISIONS % "PASS|SUSPECT")
    with pytest.raises(ContractError) as info:
        load_contracts(folder)
    assert f"{folder / 'toy.yaml'}: decision SHIP-TOY: key rule[0]" in str(info.value)


def test_decision_on_a_control_is_refused(tmp_path: Path) -> None:
    text = (DECISIONS % "fresh PASS").replace("subject: short-lines", "subject: long-lines")
    text = text.replace("TOY-TEXT-NOT-TINY@short-lines", "TOY-TEXT-NOT-TINY@long-lines")
    with pytest.raises(ContractError, match="a decision rests on subjects, not controls"):
        load_contracts(write(tmp_path, text))


def test_decision_on_an_unknown_claim_is_refused(tmp_path: Path) -> None:
    text = (DECISIONS % "fresh PASS").replace("TOY-TEXT-NOT-TINY", "TOY-NONE")
    with pytest.raises(ContractError, match="unknown claim 'TOY-NONE'"):
        load_contracts(write(tmp_path, text))


def test_criterion_claim_without_a_decision_is_refused(tmp_path: Path) -> None:
    text = textwrap.dedent(CONTRACT).replace("    milestones: [core]\n",
                                             "    milestones: [core]\n    criterion: true\n")
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "toy.yaml").write_text(text, "utf-8")
    with pytest.raises(ContractError, match="key criterion: no decision rests on it"):
        load_contracts(folder)


def test_schema_refuses_a_decision_without_a_default(tmp_path: Path) -> None:
    text = (DECISIONS % "fresh PASS").replace("    default: hold\n", "")
    with pytest.raises(ContractError, match="'default' is a required property"):
        load_contracts(write(tmp_path, text))
