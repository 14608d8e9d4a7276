"""The Lightning callback and the plain-loop interface (an MLX loop) on real runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.runs.live import FalsifyLightningCallback, LiveClaims, RunKilled
from tests.harness.live.trainings import (
    mlx_loop,
    records,
    train_lightning,
    verify,
    workspace,
)

STEPS = 12


@pytest.fixture(scope="module")
def lightning_run(
        tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FalsifyLightningCallback]:
    root = workspace(tmp_path_factory.mktemp("lightning"))
    callback = FalsifyLightningCallback("tiny-lightning", root=root)
    train_lightning(root / "runs" / "tiny-lightning", [callback], steps=STEPS)
    return root, callback


def test_lightning_run_loss_is_finite_at_every_logged_step(
        lightning_run: tuple[Path, FalsifyLightningCallback]) -> None:
    root, _ = lightning_run
    found = [r for r in records(root / "evidence" / "ledger") if r["claim"] == "TRAIN-LOSS-FINITE"]
    assert {r["attachments"]["live"]["step"] for r in found} == set(range(1, STEPS + 1))
    assert {r["verdict"] for r in found} == {"PASS"}


def test_lightning_run_ends_with_every_claim_pass(
        lightning_run: tuple[Path, FalsifyLightningCallback]) -> None:
    root, _ = lightning_run
    last = {r["claim"]: r["verdict"] for r in records(root / "evidence" / "ledger")}
    assert last == dict.fromkeys(
        ("TRAIN-LOSS-FINITE", "TRAIN-LOSS-DESCENDS", "VAL-BELOW-UNIFORM-AT-BEST"), "PASS")


def test_lightning_callback_learns_the_validation_series(
        lightning_run: tuple[Path, FalsifyLightningCallback]) -> None:
    _, callback = lightning_run
    log = callback.live.run_log()
    assert log.series("val_loss").steps == [4, 8, 12]
    assert log.series("train_loss").steps == list(range(1, STEPS + 1))


def test_lightning_run_ledger_verifies(
        lightning_run: tuple[Path, FalsifyLightningCallback]) -> None:
    code, out = verify(lightning_run[0])
    assert code == 0, out


def test_lightning_nan_kill_sets_should_stop(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    callback = FalsifyLightningCallback("tiny-lightning", root=root)
    trainer = train_lightning(root / "runs" / "tiny-lightning", [callback], lr=1e3,
                              optimizer="sgd", steps=STEPS)
    stop = callback.live.stopped
    assert stop is not None
    assert trainer.global_step == stop.step
    assert trainer.global_step < STEPS


def test_mlx_loop_completes_with_every_record_pass(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with LiveClaims("tiny-mlx", root=root) as live:
        last = mlx_loop(live, lr=0.5)
    assert last == 30
    assert {r["verdict"] for r in records(root / "evidence" / "ledger")} == {"PASS"}


def test_mlx_loop_kill_raises_run_killed(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with pytest.raises(RunKilled) as caught, \
            LiveClaims("tiny-mlx", root=root, raise_on_kill=True) as live:
        mlx_loop(live, lr=1e4)
    assert caught.value.stop.claim == "TRAIN-LOSS-FINITE"
    assert "is FAIL at step" in str(caught.value)


def test_mlx_killed_run_ledger_verifies(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with LiveClaims("tiny-mlx", root=root) as live:
        last = mlx_loop(live, lr=1e4)
    assert live.stopped is not None
    assert last == live.stopped.step
    code, out = verify(root)
    assert code == 0, out
