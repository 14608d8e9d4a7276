"""`falsify paper check`: citations of unknown or unproven claims, and literals that disagree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cli import main
from harness.render.papercheck import check_paper
from harness.status import compute_status
from tests.harness.render.space import Space, populated


def problems(space: Space, tex: str) -> list[str]:
    paper = space.root / "paper"
    paper.mkdir(exist_ok=True)
    (paper / "main.tex").write_text(tex)
    ledger = space.ledger()
    report = compute_status(space.contracts, ledger, now=datetime.now(UTC))
    latest = {k: ledger.load(s) for k, s in ledger.latest().items()}
    return [f"{p.line}: {p.message}" for p in check_paper(paper, space.contracts, report, latest)]


@pytest.fixture
def space(tmp_path: Path) -> Space:
    return populated(tmp_path)


def test_a_fresh_pass_with_agreeing_literals_is_clean(space: Space) -> None:
    tex = ("The loss is \\ev{LM-LOSS.val_nll} (3.41\\,nats, or 4.92~bits); the control's is\n"
           "\\ev{LM-LOSS.val_nll@demo-untied}, about 9.8 nats. The 95\\% CI is "
           "\\evci{LM-LOSS.val_nll}, so 3.4 nats\nand an upper bound of 3.46 nats are fine.\n"
           "Unknown words 3 apples and bare 3.9 are not compared with \\ev{LM-LOSS.val_nll}.\n")
    assert problems(space, tex) == []


def test_unknown_claim_measurement_subject_and_unbound(space: Space) -> None:
    tex = ("\\ev{NOPE.x}\n\\ev{LM-LOSS.nope}\n\\ev{LM-LOSS.val_nll@nobody}\n"
           "\\ev{TOY-TEXT-NOT-TINY.n_lines}\n")
    found = problems(space, tex)
    assert found[0] == "1: \\ev{NOPE.x} cites unknown claim 'NOPE'"
    assert found[1].startswith("2: \\ev{LM-LOSS.nope}: LM-LOSS measures no 'nope'")
    assert found[2] == "3: \\ev{LM-LOSS.val_nll@nobody}: LM-LOSS has no subject 'nobody'"
    assert found[3].startswith("4: \\ev{TOY-TEXT-NOT-TINY.n_lines}: n_lines is not bound")
    assert len(found) == 4


def test_citing_a_claim_that_is_not_passing_fails(space: Space) -> None:
    """TOY has a SUSPECT subject: citing it (were it bound) is refused with the reason."""
    path = space.root / "contracts" / "toy.yaml"
    path.write_text(path.read_text().replace(
        "    hypotheses:", "    paper:\n      table: toy\n      measurements: [n_lines]\n"
        "    hypotheses:"))
    space.append(space.record("TOY-TEXT-NOT-TINY", "short-lines", hours=6,
                              measurements={"n_lines": (40.0, "count")}))
    found = problems(space, "We have \\ev{TOY-TEXT-NOT-TINY.n_lines@short-lines} lines.\n")
    assert len(found) == 1
    assert "whose latest evidence is not a fresh PASS" in found[0]
    assert "few-lines: SUSPECT" in found[0]


def test_a_literal_that_disagrees_is_reported(space: Space) -> None:
    tex = ("% a comment may say 9.9 nats next to \\ev{LM-LOSS.val_nll}\n"
           "Our loss is \\ev{LM-LOSS.val_nll}, i.e. 3.6 nats (3.5 is the upper CI bound).\n"
           "Another sentence says 7 nats. It cites nothing.\n"
           "The unk share is \\ev{LM-LOSS.unk_ratio} (0.12\\,\\%), not 0.012\\,\\%.\n")
    found = problems(space, tex)
    assert len(found) == 2
    assert found[0].startswith("2: literal '3.6 nats' next to \\ev{LM-LOSS.val_nll} disagrees")
    assert "val_nll 3.412 nats" in found[0]
    assert found[1].startswith("4: literal '0.12\\,\\%' next to \\ev{LM-LOSS.unk_ratio}")


def test_cli_exit_codes(space: Space, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(space.root)
    (space.root / "paper").mkdir()
    (space.root / "paper" / "main.tex").write_text("Loss \\ev{LM-LOSS.val_nll}.\n")
    assert main(["paper", "check", "--root", root]) == 0
    (space.root / "paper" / "main.tex").write_text("Loss \\ev{LM-LOSS.val_nll}, 3.9 nats.\n")
    assert main(["paper", "check", "--root", root]) == 1
    assert "disagrees with the ledger" in capsys.readouterr().out
    (space.root / "paper" / "main.tex").unlink()
    assert main(["paper", "check", "--root", root]) == 0  # no paper: nothing to check
    assert "no paper at paper/: nothing to check" in capsys.readouterr().out
