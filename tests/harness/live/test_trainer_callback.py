"""FalsifyCallback on real Trainer runs: one that passes, one that the NaN kill criterion stops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.runs.live import FalsifyCallback
from tests.harness.live.trainings import DIVERGING, records, train_hf, verify, workspace

STEPS = 12


@dataclass
class Run:
    root: Path
    callback: FalsifyCallback
    trainer: Any
    records: list[dict[str, Any]]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = workspace(tmp_path_factory.mktemp("healthy"))
    callback = FalsifyCallback("tiny-run", root=root)
    trainer = train_hf(root / "runs" / "tiny-run", [callback], steps=STEPS)
    return Run(root, callback, trainer, records(root / "evidence" / "ledger"))


@pytest.fixture(scope="module")
def diverging(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = workspace(tmp_path_factory.mktemp("diverging"))
    callback = FalsifyCallback("tiny-run-diverging", root=root)
    trainer = train_hf(root / "runs" / "tiny-run-diverging", [callback], steps=STEPS,
                       **DIVERGING)
    return Run(root, callback, trainer, records(root / "evidence" / "ledger"))


def test_healthy_run_trains_to_the_end(healthy: Run) -> None:
    assert healthy.trainer.state.global_step == STEPS
    assert healthy.callback.live.stopped is None


def test_healthy_run_every_record_is_pass(healthy: Run) -> None:
    assert {r["verdict"] for r in healthy.records} == {"PASS"}


def test_healthy_run_records_every_logging_step(healthy: Run) -> None:
    steps = {r["attachments"]["live"]["step"] for r in healthy.records}
    assert steps == set(range(1, STEPS + 1))


def test_healthy_run_is_one_chained_segment(healthy: Run) -> None:
    ledger = healthy.root / "evidence" / "ledger"
    assert len(list(ledger.glob("*.jsonl"))) == 1
    hashes = [r["hash"] for r in healthy.records]
    assert [r["prev"] for r in healthy.records] == [None, *hashes[:-1]]


def test_healthy_run_ledger_verifies(healthy: Run) -> None:
    code, out = verify(healthy.root)
    assert code == 0, out


def test_records_carry_the_pytest_record_fields(healthy: Run) -> None:
    first = healthy.records[0]
    assert first["claim"] == "TRAIN-LOSS-FINITE"
    assert first["subject"] == "tiny-run"
    assert first["node_id"] == "live::tiny-run::TRAIN-LOSS-FINITE"
    assert "env" in first["provenance"]
    assert first["provenance"]["code"]["falsifier"][0]["path"].endswith("harness/runs/curves.py")


def test_the_measured_count_grows_with_the_run(healthy: Run) -> None:
    counts = [next(m for m in r["measurements"] if m["name"] == "n_values")["value"]
              for r in healthy.records]
    assert counts == sorted(counts)
    assert counts[0] < counts[-1]


def test_nan_kill_criterion_stops_the_trainer(diverging: Run) -> None:
    assert diverging.trainer.state.global_step < STEPS


def test_the_stop_names_the_claim_and_step(diverging: Run) -> None:
    stop = diverging.callback.live.stopped
    assert stop is not None
    assert stop.claim == "TRAIN-LOSS-FINITE"
    assert stop.step == diverging.trainer.state.global_step


def test_the_kill_record_is_fail_with_why(diverging: Run) -> None:
    stop = diverging.callback.live.stopped
    assert stop is not None
    (kill,) = [r for r in diverging.records if r["id"] == stop.record]
    assert kill["verdict"] == "FAIL"
    assert any(f"FAIL at step {stop.step}: the run was stopped" in n for n in kill["notes"])
    assert kill["attachments"]["live"]["stopped"] is True


def test_the_kill_record_names_the_first_nonfinite_step(diverging: Run) -> None:
    stop = diverging.callback.live.stopped
    assert stop is not None
    (kill,) = [r for r in diverging.records if r["id"] == stop.record]
    first = next(m for m in kill["measurements"] if m["name"] == "first_nonfinite_step")
    assert first["value"] == stop.step


def test_the_last_record_marks_the_stop_on_the_curve(diverging: Run) -> None:
    stop = diverging.callback.live.stopped
    assert stop is not None
    curve = diverging.records[-1]["attachments"]["stopped_run"]
    assert curve["marks"][0]["x"] == stop.step
    assert "loss" in curve["series"]


def test_records_before_the_fault_pass(diverging: Run) -> None:
    stop = diverging.callback.live.stopped
    assert stop is not None
    before = {r["verdict"] for r in diverging.records
              if r["attachments"]["live"]["step"] < stop.step}
    assert before == {"PASS"}


def test_the_diverging_run_is_recorded_as_the_control_it_is(diverging: Run) -> None:
    assert {(r["role"], r["expect"]) for r in diverging.records} == {("control", "FAIL")}


def test_diverging_run_ledger_verifies(diverging: Run) -> None:
    code, out = verify(diverging.root)
    assert code == 0, out
