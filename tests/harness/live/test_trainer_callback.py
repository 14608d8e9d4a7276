"""FalsifyCallback on real Trainer runs: one that passes, one that the NaN kill criterion stops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.runs.live import FalsifyCallback
from tests.harness.live.trainings import DIVERGING, records, train_hf, verify, workspace

STEPS = 12
FINITE = "TRAIN-LOSS-FINITE"
CLAIMS = {FINITE, "TRAIN-LOSS-DESCENDS", "VAL-BELOW-UNIFORM-AT-BEST"}


def of(run: Run, claim: str) -> list[dict[str, Any]]:
    return [r for r in run.records if r["claim"] == claim]


def last_verdicts(run: Run) -> dict[str, str]:
    """Each claim's verdict in its run's last record (the one ``latest()`` reads)."""
    return {r["claim"]: r["verdict"] for r in run.records}


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


def test_healthy_run_ends_with_every_claim_pass(healthy: Run) -> None:
    assert last_verdicts(healthy) == dict.fromkeys(CLAIMS, "PASS")


def test_healthy_run_loss_is_finite_at_every_check(healthy: Run) -> None:
    assert {r["verdict"] for r in of(healthy, FINITE)} == {"PASS"}


def test_descends_is_not_a_pass_on_the_first_few_points(healthy: Run) -> None:
    first = of(healthy, "TRAIN-LOSS-DESCENDS")[0]
    assert first["verdict"] != "PASS"
    assert any("enough-points" in reason for reason in first["reasons"])


def test_val_claim_is_first_recorded_at_the_first_evaluation(healthy: Run) -> None:
    first = of(healthy, "VAL-BELOW-UNIFORM-AT-BEST")[0]
    assert first["attachments"]["live"]["step"] == 4


def test_the_vocabulary_comes_from_the_model_config(healthy: Run) -> None:
    last = of(healthy, "VAL-BELOW-UNIFORM-AT-BEST")[-1]
    vocab = next(m for m in last["measurements"] if m["name"] == "vocab_size")
    assert vocab["value"] == healthy.trainer.model.config.vocab_size


def test_healthy_run_records_every_logging_step(healthy: Run) -> None:
    steps = {r["attachments"]["live"]["step"] for r in of(healthy, FINITE)}
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
    first = of(healthy, FINITE)[0]
    assert first["claim"] == "TRAIN-LOSS-FINITE"
    assert first["subject"] == "tiny-run"
    assert first["node_id"] == "live::tiny-run::TRAIN-LOSS-FINITE"
    assert "env" in first["provenance"]
    assert first["provenance"]["code"]["falsifier"][0]["path"].endswith("harness/runs/curves.py")


def test_the_measured_count_grows_with_the_run(healthy: Run) -> None:
    counts = [next(m for m in r["measurements"] if m["name"] == "n_values")["value"]
              for r in of(healthy, FINITE)]
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


def test_every_claim_last_record_shows_the_stop(diverging: Run) -> None:
    stop = diverging.callback.live.stopped
    assert stop is not None
    lasts = {r["claim"]: r for r in diverging.records}
    marks = {c: r["attachments"]["stopped_run"]["marks"][0]["x"] for c, r in lasts.items()}
    assert marks == dict.fromkeys(CLAIMS, stop.step)


def test_a_claim_with_only_nan_evaluations_ends_as_error(diverging: Run) -> None:
    assert last_verdicts(diverging)["VAL-BELOW-UNIFORM-AT-BEST"] == "ERROR"


def test_records_before_the_fault_pass(diverging: Run) -> None:
    stop = diverging.callback.live.stopped
    assert stop is not None
    before = {r["verdict"] for r in of(diverging, FINITE)
              if r["attachments"]["live"]["step"] < stop.step}
    assert before == {"PASS"}


def test_the_diverging_run_is_recorded_as_the_control_it_is(diverging: Run) -> None:
    assert {(r["role"], r["expect"]) for r in diverging.records} == {("control", "FAIL")}


def test_diverging_run_ledger_verifies(diverging: Run) -> None:
    code, out = verify(diverging.root)
    assert code == 0, out
