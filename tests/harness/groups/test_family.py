"""Claim families: the correction, its contract syntax, and how status and gate show it."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from harness.contracts import ContractError, ContractSet, load_contracts
from harness.family import adjust
from harness.gate import evaluate_gate
from harness.ledger import Ledger, LedgerWriter
from harness.records import Measurement
from harness.status import compute_status
from tests.harness.ledger_factory import make_record

P_VALUES = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=30)


def holm_by_hand(p: list[float]) -> list[float]:
    """Holm's step-down adjustment written out from its definition (Holm 1979)."""
    m, order = len(p), np.argsort(p, kind="stable")
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


@settings(max_examples=60, deadline=None)
@given(P_VALUES)
def test_holm_matches_its_definition_and_statsmodels(p: list[float]) -> None:
    """The family's holm is Holm's step-down procedure, as statsmodels computes it."""
    got = adjust(p, "holm", 0.05)
    assert np.allclose(got, holm_by_hand(p))
    assert np.allclose(got, multipletests(p, method="holm")[1])


@settings(max_examples=60, deadline=None)
@given(P_VALUES, st.sampled_from(["holm", "bh"]))
def test_adjusted_p_never_below_raw_and_keeps_the_order(p: list[float], correction: str) -> None:
    """An adjustment only raises a p-value, never above 1, and never reorders two tests."""
    got = adjust(p, correction, 0.05)
    assert all(raw - 1e-12 <= adj <= 1.0 for raw, adj in zip(p, got, strict=True))
    for i in range(len(p)):
        for j in range(len(p)):
            if p[i] < p[j]:
                assert got[i] <= got[j] + 1e-12


@settings(max_examples=40, deadline=None)
@given(P_VALUES)
def test_bh_is_never_stricter_than_holm(p: list[float]) -> None:
    """Benjamini-Hochberg controls the false discovery rate: it rejects at least what Holm does."""
    assert all(b <= h + 1e-12 for b, h in zip(adjust(p, "bh", 0.05), adjust(p, "holm", 0.05),
                                               strict=True))


TWO_CLAIMS = """\
area: fam
title: Family toy
claims:
  - id: FAM-A
    title: a beats b
    statement: a is better than b.
    max_age: 30d
    measures:
      delta: {unit: ratio}
      p_value: {unit: ratio}
    params:
      max_delta: 0 ratio
    predicate: delta < max_delta
    subjects: [s1, s2]
    controls:
      - {subject: bad, expect: FAIL, why: reversed}
  - id: FAM-B
    title: c beats d
    statement: c is better than d.
    max_age: 30d
    measures:
      delta: {unit: ratio}
      p_value: {unit: ratio}
    params:
      max_delta: 0 ratio
    predicate: delta < max_delta
    subjects: [s1]
    controls:
      - {subject: bad, expect: FAIL, why: reversed}
families:
  - id: toy-family
    correction: %s
    alpha: 0.05
    claims: [FAM-A, FAM-B]
"""


def contracts_at(tmp_path: Path, text: str) -> ContractSet:
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "fam.yaml").write_text(textwrap.dedent(text), "utf-8")
    return load_contracts(folder)


def test_family_loads_from_the_contract(tmp_path: Path) -> None:
    fam = contracts_at(tmp_path, TWO_CLAIMS % "holm").families["toy-family"]
    assert (fam.correction, fam.alpha, fam.claims, fam.p_value) == (
        "holm", 0.05, ("FAM-A", "FAM-B"), "p_value")


@pytest.mark.parametrize(("edit", "message"), [
    (("correction: holm", "correction: bonferroni"), "correction"),
    (("claims: [FAM-A, FAM-B]", "claims: [FAM-A, FAM-C]"), "unknown claim 'FAM-C'"),
    (("      p_value: {unit: ratio}\n    params:\n      max_delta: 0 ratio\n"
      "    predicate: delta < max_delta\n    subjects: [s1]\n",
      "    params:\n      max_delta: 0 ratio\n    predicate: delta < max_delta\n"
      "    subjects: [s1]\n"), "claim FAM-B declares no measure 'p_value'"),
    (("alpha: 0.05", "alpha: 5"), "alpha"),
])
def test_bad_family_is_refused_naming_file_and_fix(tmp_path: Path, edit: tuple[str, str],
                                                   message: str) -> None:
    text = (TWO_CLAIMS % "holm").replace(*edit)
    with pytest.raises(ContractError) as err:
        contracts_at(tmp_path, text)
    assert message in str(err.value)
    assert "fam.yaml" in str(err.value)


def record(contracts: ContractSet, claim: str, subject: str, p: float, verdict: str = "PASS"):
    rec = make_record(claim, subject, verdict=verdict, created=datetime.now(UTC),
                      measurements=(Measurement("delta", -0.01, "ratio"),
                                    Measurement("p_value", p, "ratio", n=1000)))
    return replace(rec, claim_sha256=contracts[claim].sha256)


def status_with(tmp_path: Path, correction: str, ps: dict[tuple[str, str], float]):
    contracts = contracts_at(tmp_path, TWO_CLAIMS % correction)
    ledger_dir = tmp_path / "ledger"
    with LedgerWriter(ledger_dir, "famsession", signer=None) as writer:
        for (claim, subject), p in ps.items():
            writer.append(record(contracts, claim, subject, p))
    return compute_status(contracts, Ledger(ledger_dir), now=datetime.now(UTC))


def test_a_pass_the_family_does_not_carry_is_shown_inconclusive(tmp_path: Path) -> None:
    """Three PASSes, each at raw p 0.03: Holm adjusts all three to 3 x 0.03 = 0.09 >= 0.05, so
    status and the gate show each INCONCLUSIVE (FAMILY), while the record's verdict is kept."""
    report = status_with(tmp_path, "holm", {("FAM-A", "s1"): 0.03, ("FAM-A", "s2"): 0.03,
                                            ("FAM-B", "s1"): 0.03})
    rows = {(r.claim, r.subject): r for r in report.rows if r.role == "subject"}
    for row in rows.values():
        assert row.verdict == "PASS"  # the record's own verdict is kept...
        assert row.held_back  # ...but it does not count as a pass
        assert not row.ok
        assert row.shown_verdict.startswith("INCONCLUSIVE (FAMILY")
        assert row.problem == "family"
        assert "adjusted p 0.09 >= 0.05 (holm over 3 tests; raw p 0.03)" in row.family[0]
    gate = evaluate_gate(report, inputs="allow-unverifiable", dirty="allow")
    assert not gate.ok
    assert "family" in gate.table()
    test = report.families[0].tests[0]
    assert (test.raw_p, round(test.adjusted_p, 6)) == (0.03, 0.09)


def test_passes_the_family_carries_stay_passes(tmp_path: Path) -> None:
    report = status_with(tmp_path, "bh", {("FAM-A", "s1"): 0.001, ("FAM-A", "s2"): 0.02,
                                          ("FAM-B", "s1"): 0.03})
    assert all(not r.held_back for r in report.rows)
    assert [round(t.adjusted_p, 6) for t in report.families[0].tests] == [0.003, 0.03, 0.03]


def test_a_member_without_evidence_counts_as_p_one(tmp_path: Path) -> None:
    """A missing test keeps its place in the family: the family never looks smaller."""
    report = status_with(tmp_path, "holm", {("FAM-A", "s1"): 0.02, ("FAM-B", "s1"): 0.02})
    tests = {(t.claim, t.subject): t for t in report.families[0].tests}
    assert tests[("FAM-A", "s2")].raw_p is None
    assert tests[("FAM-A", "s1")].n_tests == 3
    assert round(tests[("FAM-A", "s1")].adjusted_p, 6) == 0.06
    assert tests[("FAM-A", "s1")].held_back


def test_readme_and_paper_show_raw_and_adjusted_p(tmp_path: Path) -> None:
    """The area README has a Claim families section with each test's raw and adjusted p, and a
    held-back PASS shows INCONCLUSIVE (FAMILY) in the verdict tables; the paper gets macros."""
    from harness.render.paper import evidence_macros
    from harness.render.readme import area_readme
    from harness.render.view import build_view

    status_with(tmp_path, "holm", {("FAM-A", "s1"): 0.03, ("FAM-A", "s2"): 0.03,
                                   ("FAM-B", "s1"): 0.03})
    contracts = load_contracts(tmp_path / "contracts")
    view = build_view(contracts, Ledger(tmp_path / "ledger"), ledger_label="ledger")
    text = area_readme(view, view.area("fam"), {}, None)
    assert "## Claim families" in text
    assert "Holm-Bonferroni (holm) over 3 tests at alpha 0.05" in text
    assert "| `FAM-A` | `s1` | PASS | 0.03 | 0.09 | no | INCONCLUSIVE (FAMILY) |" in text
    macros = {m.key: m.value for m in evidence_macros(view)}
    assert macros["toy-family.adjusted_p@FAM-A@s1"] == "0.09"
    assert macros["toy-family.tests"] == "3"
