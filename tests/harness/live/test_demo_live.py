"""``falsify demo live``: the demo NaN Trainer run, trained again, is stopped by its kill rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.ledger import Ledger
from harness.render.liveruns import live_runs

REPO = Path(__file__).resolve().parents[3]


def _falsify(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def nan_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ledger = tmp_path_factory.mktemp("ledger")
    done = _falsify("demo", "live", "--subject", "demo-trainer-nan", "--ledger", str(ledger))
    assert done.returncode == 0, done.stdout + done.stderr
    return ledger, done.stdout


def test_the_nan_run_is_stopped_by_train_loss_finite(nan_run: tuple[Path, str]) -> None:
    (run,) = live_runs(Ledger(nan_run[0]))
    assert run.stop is not None
    assert run.stop.claim == "TRAIN-LOSS-FINITE"


def test_the_nan_run_stops_long_before_its_80_steps(nan_run: tuple[Path, str]) -> None:
    (run,) = live_runs(Ledger(nan_run[0]))
    assert run.stopped_at is not None
    assert run.stopped_at < 80


def test_the_report_names_the_first_nan_step(nan_run: tuple[Path, str]) -> None:
    assert "is nan at step" in nan_run[1]


def test_the_control_record_is_the_fail_it_must_get(nan_run: tuple[Path, str]) -> None:
    (run,) = live_runs(Ledger(nan_run[0]))
    record = run.final["TRAIN-LOSS-FINITE"]
    assert (record.role, record.expect, str(record.verdict)) == ("control", "FAIL", "FAIL")


def test_an_unknown_subject_is_refused_with_the_choices(tmp_path: Path) -> None:
    done = _falsify("demo", "live", "--subject", "demo-lm", "--ledger", str(tmp_path))
    assert done.returncode == 2
    assert "choose from demo-trainer-run, demo-trainer-nan" in done.stderr
