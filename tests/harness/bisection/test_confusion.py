"""The confusion matrix of hypothesis bisection: each planted fault named, nothing else blamed.

The default run covers four faults on the tiny model (the demo's own faulty steps applied to
it); the full 6 x 6 over the demo subjects is ``-m slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bisect.confusion import confusion
from harness.contracts import load_contracts
from harness.render.plots import curve_data
from harness.workspace import Workspace
from tests.harness.bisection.tinylm import write_tiny_space


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_space(tmp_path_factory.mktemp("tiny-suite"))


def test_tiny_suite_is_diagonal(tiny: Path) -> None:
    """Untied head, wrong eps, Flax-layout round trip, zero-buffer converter: 4 x 4 diagonal."""
    ws = Workspace.discover(tiny)
    contracts = load_contracts(ws.contracts_dir)
    result = confusion(ws, contracts, ws.resolve("tiny-suite"))
    assert [r.baseline for r in result.rows] == ["FAIL"] * 4
    assert result.matrix() == [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0],
                               [0, 0, 0, 1, 0]]
    assert (result.diagonal, result.off_diagonal, result.unexplained) == (4, 0, 0)
    attachment = result.attachment()
    assert attachment["columns"] == ["H-TIE", "H-EPS", "H-LAYOUT", "H-RESIDUAL", "none"]
    assert curve_data(attachment) is not None  # the evidence README draws it


@pytest.mark.slow
def test_demo_suite_is_diagonal() -> None:
    """The six demo faults (tie, layout, eps, zero branch, q/k/v bias, degenerate stream): 6 x 6."""
    ws = Workspace.discover(Path(__file__).resolve().parents[3])
    contracts = load_contracts(ws.contracts_dir)
    result = confusion(ws, contracts, ws.resolve("demo-fault-suite"))
    assert [r.baseline for r in result.rows] == ["FAIL"] * 6
    identity = [[int(i == j) for j in range(7)] for i in range(6)]
    assert result.matrix() == identity, result.table()
