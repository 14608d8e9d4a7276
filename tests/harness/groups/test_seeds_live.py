"""ASR-NKO-BEATS-LATIN-ACROSS-SEEDS end to end (pytester): the demo's three seeds PASS, the group
whose third seed was decoded with the wrong error model FAILs, and both are recorded with their
per-seed vectors and the ASO bound."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.contracts import load_contracts
from harness.ledger import Ledger

REPO = Path(__file__).resolve().parents[3]
CLAIM = "ASR-NKO-BEATS-LATIN-ACROSS-SEEDS"


def test_seed_group_passes_and_the_reversed_seed_fails(pytester: pytest.Pytester) -> None:
    (pytester.path / "contracts").mkdir()
    (pytester.path / "falsifiers").mkdir()
    shutil.copy(REPO / "contracts" / "asr.yaml", pytester.path / "contracts")
    (pytester.path / "pyproject.toml").write_text('[project]\nname = "ws"\nversion = "0"\n')
    result = pytester.runpytest("falsifiers", "-m", "live", "--claim", CLAIM, "-p",
                                "no:cacheprovider")
    result.assert_outcomes(passed=2)
    contracts = load_contracts(pytester.path / "contracts")
    ledger = Ledger(pytester.path / "evidence" / "ledger")
    latest = ledger.latest()
    subject = ledger.load(latest[(CLAIM, "demo-nqo-vs-latn-seeds")])
    control = ledger.load(latest[(CLAIM, "demo-nqo-vs-latn-seeds-one-reversed")])
    assert str(subject.verdict) == "PASS", subject.reasons
    assert str(control.verdict) == "FAIL", control.reasons
    for record in (subject, control):
        delta = record.measurement("cer_delta")
        assert delta.labels == ("seed 0", "seed 1", "seed 2")
        assert len(delta.cis) == 3
        assert record.claim_sha256 == contracts[CLAIM].sha256
    # the first two seeds are the same runs in both groups; the third reverses in the control
    s, c = subject.measurement("cer_delta").values, control.measurement("cer_delta").values
    assert s[:2] == c[:2]
    assert max(s) < 0 < c[2]
    assert subject.measurement("aso_epsilon_min").value < 0.2 < \
        control.measurement("aso_epsilon_min").value
