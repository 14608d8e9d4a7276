"""Falsifier of the bisection claim (library claims/bisect.yaml): the confusion matrix of hypothesis
bisection over a suite of planted faults, each a live faulty subject of the suite's claim."""

from __future__ import annotations

from typing import Any

import pytest

from harness.bisect.confusion import FaultRow, confusion
from harness.contracts import load_contracts

pytestmark = pytest.mark.live


@pytest.fixture(scope="session")
def bisected() -> dict[tuple[str, str], FaultRow]:
    """Bisection rows by (claim, faulty subject), shared by suites that contain the same fault."""
    return {}


def _model_path(workspace: Any, subject_id: str) -> Any:
    spec = workspace.spec(subject_id)
    model = spec.options.get("model")
    return workspace.spec(model).path() if model else spec.path()


@pytest.mark.claim("HYPOTHESIS-BISECTION-DIAGONAL")
def test_bisection_diagonal(evidence, subject, workspace, bisected):
    """Bisect the suite's claim on every faulty subject; planted against named causes."""
    suite = workspace.resolve(subject.id)
    for faulty, _ in suite.faults:
        evidence.input(_model_path(workspace, faulty))
    result = confusion(workspace, load_contracts(workspace.contracts_dir), suite, done=bisected)
    evidence.measure("faults", len(result.rows), unit="count")
    evidence.measure("claim_failed", sum(r.baseline == "FAIL" for r in result.rows), unit="count")
    evidence.measure("diagonal", result.diagonal, unit="count")
    evidence.measure("off_diagonal", result.off_diagonal, unit="count")
    evidence.measure("unexplained", result.unexplained, unit="count")
    evidence.attach("confusion", result.attachment())
    evidence.attach("rows", [{"subject": r.subject, "planted": r.planted, "baseline": r.baseline,
                              "causes": list(r.causes), "findings": dict(r.findings)}
                             for r in result.rows])
    evidence.note(f"{result.claim}: {len(result.rows)} faulty subjects bisected over "
                  f"{len(result.hypotheses)} hypotheses")
