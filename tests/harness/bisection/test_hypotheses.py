"""Hypothesis bisection on a tiny real Qwen3 workspace: probes, interventions, table, records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.bisect.hypotheses import bisect_hypotheses
from harness.cli import main
from harness.contracts import load_contracts
from harness.ledger import Ledger, LedgerWriter, verify
from harness.probes import Finding, RegistryError, get_probe, probe
from harness.records import Status
from harness.workspace import Workspace
from tests.harness.bisection.tinylm import write_tiny_space

CLAIM = "TINY-MATCHES-REFERENCE"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_space(tmp_path_factory.mktemp("tiny"))


def test_two_faults_are_both_needed(tiny: Path, tmp_path: Path) -> None:
    """Untied head and wrong eps together: neither fix alone flips the claim, both together do."""
    ws = Workspace.discover(tiny)
    contracts = load_contracts(ws.contracts_dir)
    ledger = tmp_path / "ledger"
    with LedgerWriter(ledger, "s" * 32, "bisect") as writer:
        result = bisect_hypotheses(ws, contracts, contracts[CLAIM], "both-pair", writer=writer)
    assert result.baseline.verdict is Status.FAIL
    findings = {p.hypothesis.id: p.status for p in result.probes}
    assert findings == {"H-TIE": Status.CONFIRMED, "H-EPS": Status.CONFIRMED,
                        "H-LAYOUT": Status.REFUTED, "H-RESIDUAL": Status.REFUTED}
    assert result.trial("H-TIE").verdict is Status.FAIL
    assert result.trial("H-EPS").verdict is Status.FAIL
    assert result.trial("H-TIE", "H-EPS").verdict is Status.PASS
    assert result.causes == ("H-TIE", "H-EPS")
    assert result.needed("H-TIE") is True
    records = Ledger(ledger).records()
    kinds = [(r.kind, r.hypothesis, r.verdict.value) for r in records]
    assert kinds[0] == ("claim", None, "FAIL")  # the baseline, as loaded
    assert ("hypothesis", "H-LAYOUT", "REFUTED") in kinds
    concluded = [r for r in records if r.attachments.get("stage") == "intervention"]
    assert {(r.hypothesis, r.verdict.value) for r in concluded} == {
        ("H-TIE", "CONFIRMED"), ("H-EPS", "CONFIRMED")}
    assert concluded[0].measurement("max_logit_abs_diff") is not None
    assert not verify(ledger, {CLAIM})


def test_cli_names_the_single_cause(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The untied load alone: tied_weights confirmed, retie_head flips it, exit 0."""
    code = main(["bisect", "hypotheses", CLAIM, "--subject", "untied-pair", "--root", str(tiny),
                 "--no-record", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["causes"] == ["H-TIE"]
    assert data["baseline"]["verdict"] == "FAIL"
    row = next(r for r in data["table"] if r["hypothesis"] == "H-TIE")
    assert row == {"hypothesis": "H-TIE", "probe": "tied_weights", "finding": "CONFIRMED",
                   "intervention": "retie_head", "claim_alone": "PASS", "needed": True,
                   "cause": True}


def test_unknown_probe_names_the_registered_ones() -> None:
    with pytest.raises(RegistryError, match=r"registered: .*tied_weights"):
        get_probe("no_such_probe")


def test_probe_names_are_unique() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        probe("tied_weights")(lambda ctx, ev: Finding.refuted("x"))
