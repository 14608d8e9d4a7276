"""BEST-CHECKPOINT-CONSISTENT on real Trainer runs of the demo's card script (tiny recipe), and on
trainer_state.json files written by transformers' own TrainerState for generated runs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contracts import Claim, ContractSet
from harness.evidence import Evidence
from harness.runs.logs import RunLogError, read_run_log
from harness.runs.runcards import MEASURES, ranking
from harness.verdict import Verdict, judge
from tests.harness.runlogs.writers import summary_writer_run, trainer_run

CLAIM = "BEST-CHECKPOINT-CONSISTENT"
UNITS = {"eval_loss": "nats", "eval_accuracy": "ratio"}


def _judge(claim: Claim, folder: Path, root: Path, **ranking_options: Any) -> tuple[Verdict,
                                                                                     Evidence]:
    evidence = Evidence(claim, claim.subjects[0], root)
    log = read_run_log(folder, format="trainer", units=UNITS)
    MEASURES[CLAIM](evidence, log, **ranking_options)
    return judge(claim, claim.subjects[0].id, evidence.measurements), evidence


def _value(evidence: Evidence, name: str) -> float:
    found = next(m for m in evidence.measurements if m.name == name)
    return found.value


def test_a_run_that_ranks_its_loss_as_the_trainer_does_passes(
        good_run: Path, contracts: ContractSet, tmp_path: Path) -> None:
    verdict, evidence = _judge(contracts[CLAIM], good_run, tmp_path)
    assert verdict.status == "PASS", verdict.format()
    assert _value(evidence, "best_step_offset") == 0


def test_greater_is_better_for_a_loss_fails_and_says_where_the_best_is(
        wrong_best_run: Path, contracts: ContractSet, tmp_path: Path) -> None:
    verdict, evidence = _judge(contracts[CLAIM], wrong_best_run, tmp_path)
    assert verdict.status == "FAIL", verdict.format()
    assert _value(evidence, "best_step_offset") < 0
    assert any("greater_is_better" in note for note in evidence.notes)


def test_the_researchers_ranking_decides_not_the_runs_arguments(
        wrong_best_run: Path, contracts: ContractSet, tmp_path: Path) -> None:
    """Told that a higher eval_loss is better, the same run is consistent: the option is used."""
    verdict, _ = _judge(contracts[CLAIM], wrong_best_run, tmp_path, greater_is_better=True)
    assert verdict.status == "PASS", verdict.format()


def test_the_wrong_best_run_stopped_patience_evaluations_after_its_own_best(
        wrong_best_run: Path, contracts: ContractSet, tmp_path: Path) -> None:
    _, evidence = _judge(contracts[CLAIM], wrong_best_run, tmp_path, greater_is_better=True)
    assert _value(evidence, "stopped_early") == 1
    assert _value(evidence, "evals_after_best") == _value(evidence, "patience")


def test_a_run_without_early_stopping_is_an_error_naming_the_fix(
        tmp_path: Path, contracts: ContractSet) -> None:
    folder = trainer_run(tmp_path / "run")
    with pytest.raises(RunLogError, match="EarlyStoppingCallback"):
        _judge(contracts[CLAIM], folder, tmp_path)


def test_a_log_that_is_not_a_trainer_folder_is_an_error(
        tmp_path: Path, contracts: ContractSet) -> None:
    log = read_run_log(summary_writer_run(tmp_path / "tb"), units={"val_bpb": "bits/byte"})
    evidence = Evidence(contracts[CLAIM], contracts[CLAIM].subjects[0], tmp_path)
    with pytest.raises(RunLogError, match="records no best checkpoint"):
        MEASURES[CLAIM](evidence, log, metric="val_bpb")


@pytest.mark.parametrize("metric", ["loss", "eval_loss", "accuracy", "eval_cer", "bleu"])
def test_the_default_direction_is_the_trainers_own_rule(metric: str, tmp_path: Path) -> None:
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), metric_for_best_model=metric,
                             report_to="none", use_cpu=True)
    assert ranking(metric).greater_is_better == args.greater_is_better


# --- generated runs, written by transformers' TrainerState ----------------------------------

_LOSSES = st.lists(st.floats(0.5, 9.0, allow_nan=False).map(lambda v: round(v, 3)),
                   min_size=2, max_size=12)


def _write_run(folder: Path, losses: list[float], claimed: int, patience: int,
               stopped: bool) -> Path:
    """A Trainer output folder: evaluations every 10 steps, the claimed checkpoint on disk."""
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import TrainerState

    steps = [10 * (i + 1) for i in range(len(losses))]
    history = [{"eval_loss": v, "epoch": float(i + 1), "step": s}
               for i, (s, v) in enumerate(zip(steps, losses, strict=True))]
    state = TrainerState(
        global_step=steps[-1], max_steps=steps[-1] + (10 if stopped else 0),
        log_history=history, best_metric=losses[claimed], best_global_step=steps[claimed],
        best_model_checkpoint=str(folder / f"checkpoint-{steps[claimed]}"),
        stateful_callbacks=[EarlyStoppingCallback(patience)])
    (folder / f"checkpoint-{steps[claimed]}").mkdir(parents=True)
    state.save_to_json(str(folder / "trainer_state.json"))
    return folder


def _generated_verdict(claim: Claim, losses: list[float], claimed: int, patience: int,
                       stopped: bool) -> Verdict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = _write_run(Path(tmp) / "run", losses, claimed, patience, stopped)
        verdict, _ = _judge(claim, folder, Path(tmp))
    return verdict


@settings(max_examples=60, deadline=None)
@given(losses=_LOSSES, data=st.data())
def test_any_best_pointer_off_the_lowest_loss_fails(contracts: ContractSet, losses: list[float],
                                                   data: st.DataObject) -> None:
    off = [i for i, v in enumerate(losses) if v != min(losses)]
    if not off:
        return
    claimed = data.draw(st.sampled_from(off))
    patience = data.draw(st.integers(1, 6))
    stopped = data.draw(st.booleans())
    verdict = _generated_verdict(contracts[CLAIM], losses, claimed, patience, stopped)
    assert verdict.status == "FAIL", verdict.format()


@settings(max_examples=60, deadline=None)
@given(losses=_LOSSES, patience=st.integers(1, 6))
def test_a_run_stopped_patience_evaluations_after_its_true_best_passes(
        contracts: ContractSet, losses: list[float], patience: int) -> None:
    best = losses.index(min(losses))
    kept = losses[:best + patience + 1]
    stopped = len(kept) == best + patience + 1
    verdict = _generated_verdict(contracts[CLAIM], kept, best, patience, stopped)
    assert verdict.status == "PASS", verdict.format()


@settings(max_examples=40, deadline=None)
@given(losses=_LOSSES, patience=st.integers(1, 6))
def test_a_run_that_stopped_late_or_early_fails(contracts: ContractSet, losses: list[float],
                                               patience: int) -> None:
    """The right best, but the stop came other than patience evaluations after it."""
    best = losses.index(min(losses))
    after = len(losses) - 1 - best
    if after == patience:
        return
    verdict = _generated_verdict(contracts[CLAIM], losses, best, patience, stopped=True)
    assert verdict.status == "FAIL", verdict.format()
