"""The evidence README's mutation score, rendered from `mutation` records in the ledger alone."""

from __future__ import annotations

from pathlib import Path

from harness.mutate.operators import Layer, Mutant
from harness.mutate.record import summary_record
from harness.mutate.run import MutantResult, MutationReport, Outcome
from tests.harness.ledger_factory import PROVENANCE
from tests.harness.render.space import Space, populated
from tests.harness.render.test_readme import render, table_rows


def _result(mid: str, layer: Layer, outcome: Outcome,
            limitation: str | None = None) -> MutantResult:
    return MutantResult(Mutant(mid, mid.partition(":")[0], layer, f"defect {mid}"), outcome,
                        (("short-lines", "PASS"),), "why", limitation)


def _mutation(space: Space) -> None:
    claim = space.contracts["TOY-TEXT-NOT-TINY"]
    report = MutationReport(claim, (), (
        _result("drop-guard:enough-lines", Layer.CONTRACT, Outcome.KILLED),
        _result("flip:mean_line_bytes <= max_line_bytes", Layer.CONTRACT, Outcome.KILLED),
        _result("swap-unit:nats->bits", Layer.MEASUREMENT, Outcome.SURVIVED),
        _result("halve-evalset", Layer.INPUT, Outcome.SURVIVED, "any half is a fair sample"),
    ))
    space.append(summary_record(report, root=space.root, session="s" * 32,
                                provenance=PROVENANCE))


def test_area_readme_shows_each_claims_mutation_score(tmp_path: Path) -> None:
    space = populated(tmp_path)
    _mutation(space)
    render(space)
    text = (tmp_path / "evidence" / "toy" / "README.md").read_text()
    rows = table_rows(text, "claim")  # the verdicts table comes first
    assert all(r[1] != "*" for r in rows)  # a mutation record is no subject's evidence
    scores = table_rows(text, "surviving mutant")
    assert scores[1:] == [["swap-unit:nats->bits", "measurement", "defect swap-unit:nats->bits",
                           "undocumented: a missing guard"],
                          ["halve-evalset", "input", "defect halve-evalset",
                           "any half is a fair sample"]]
    assert "## Mutation score" in text
    assert "FAIL, score 50 %: 2 killed, 2 survived of 4 mutants." in text
    history = table_rows(text, "recorded")
    assert all(r[1] != "*" for r in history[1:])


def test_mutation_table_lists_every_claim_of_the_area(tmp_path: Path) -> None:
    space = populated(tmp_path)
    _mutation(space)
    render(space)
    text = (tmp_path / "evidence" / "toy" / "README.md").read_text()
    start = text.index("## Mutation score")
    table = table_rows(text[start:], "claim")
    assert table[0] == ["claim", "verdict", "mutation score", "killed", "survived",
                        "undocumented", "recorded"]
    assert table[1][:6] == ["TOY-TEXT-NOT-TINY", "FAIL", "50 %", "2", "2", "1"]


def test_no_mutation_record_no_section(tmp_path: Path) -> None:
    """Areas nobody mutated render as before."""
    render(populated(tmp_path))
    assert "Mutation" not in (tmp_path / "evidence" / "lm" / "README.md").read_text()
