"""Real Trainer runs of the demo's card script (harness/demo/cardrun.py) on a tiny recipe, run
once per session: one that ranks eval_loss as the Trainer does, one with greater_is_better=True
(its faulty step), and one whose README counts the planned shards."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from harness.contracts import ContractSet, load_contracts
from harness.demo.cardrun import CardRecipe, train

ROOT = Path(__file__).resolve().parents[3]
# Seven shards planned, the last too short for a window; four epochs, patience 2.
TINY = CardRecipe(full_shards=6, dev_windows=8, hidden_size=16, intermediate_size=32,
                  batch_size=12, lr=3e-2, max_epochs=4, patience=2)


def _run(out: Path, greater_is_better: bool | None, readme_count: str) -> Path:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        train(out, TINY, greater_is_better, readme_count)
    return out


@pytest.fixture(scope="session")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("card") / "good", None, "processed")


@pytest.fixture(scope="session")
def wrong_best_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("card") / "wrong-best", True, "processed")


@pytest.fixture(scope="session")
def planned_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("card") / "planned", None, "planned")


@pytest.fixture(scope="session")
def contracts() -> ContractSet:
    return load_contracts(ROOT / "contracts")
