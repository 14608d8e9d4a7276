"""The training-curve measurements on logs written by the real libraries: a Trainer run,
torch's SummaryWriter, Lightning's CSVLogger and JSON Lines, judged by the real contracts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.records import Status
from harness.runs.logs import RunLogError, read_run_log
from harness.workspace import Workspace
from tests.harness.runlogs.writers import trainer_run
from tests.harness.training.judging import judged
from tests.harness.training.writers import (
    csv_logger_curves,
    jsonl_curves,
    noisy,
    summary_writer_curves,
)

NATS = {"loss": "nats", "eval_loss": "nats", "train_loss": "nats", "val_loss": "nats"}


@pytest.fixture(scope="module")
def trainer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trainer_run(tmp_path_factory.mktemp("trainer") / "out")


def test_a_trainer_run_is_finite(trainer_folder: Path) -> None:
    result = judged("TRAIN-LOSS-FINITE", read_run_log(trainer_folder, units=NATS))
    assert result.status is Status.PASS
    assert result.value("n_nonfinite") == 0
    assert not result.measured("first_nonfinite_step")


def test_the_trainer_runs_vocab_size_comes_from_its_config(trainer_folder: Path) -> None:
    log = read_run_log(trainer_folder, units=NATS)
    result = judged("VAL-BELOW-UNIFORM-AT-BEST", log)
    evals = log.series("eval_loss")
    best = min(evals.points, key=lambda p: p.value)
    assert result.value("vocab_size") == 64
    assert result.value("best_val_step") == best.step
    assert result.value("best_val_loss") == pytest.approx(best.value)
    assert result.status in {Status.PASS, Status.FAIL}
    assert "config.json" in result.notes


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_tensorboard_loss_that_turns_non_finite_fails_naming_the_step(
        tmp_path: Path, bad: float) -> None:
    losses = [4.0, 3.5, 3.2, 3.0, bad, bad, 2.0]
    folder = summary_writer_curves(tmp_path, {"train/loss": losses}, stride=25)
    result = judged("TRAIN-LOSS-FINITE", read_run_log(folder))
    assert result.status is Status.FAIL
    assert result.value("first_nonfinite_step") == 100
    assert result.value("n_nonfinite") == 2
    assert "at step 100" in result.notes
    assert "the last finite train/loss was 3 at step 75" in result.notes


def test_a_nan_gradient_norm_fails_when_the_loss_stays_finite(tmp_path: Path) -> None:
    """The Trainer's NaN filter logs finite losses while the gradient norm is NaN."""
    folder = summary_writer_curves(tmp_path, {"train/loss": [4.0, 3.9, 3.9, 3.9],
                                              "train/grad_norm": [1.0, 0.5, math.nan, math.nan]})
    result = judged("TRAIN-LOSS-FINITE", read_run_log(folder))
    assert result.status is Status.FAIL
    assert result.value("first_nonfinite_step") == 2
    assert "train/grad_norm is nan at step 2" in result.notes


def test_a_descending_lightning_curve_passes(tmp_path: Path) -> None:
    folder = csv_logger_curves(tmp_path, noisy(7.6, 5.5, 60, 0.1))
    result = judged("TRAIN-LOSS-DESCENDS", read_run_log(folder, units=NATS))
    assert result.status is Status.PASS
    assert result.value("window_points") == 15
    assert result.value("last_window_mean") < result.value("first_window_mean")


def test_a_flat_lightning_curve_fails(tmp_path: Path) -> None:
    folder = csv_logger_curves(tmp_path, noisy(7.6, 7.6, 60, 0.02))
    result = judged("TRAIN-LOSS-DESCENDS", read_run_log(folder, units=NATS))
    assert result.status is Status.FAIL


def test_a_climbing_lightning_curve_fails(tmp_path: Path) -> None:
    folder = csv_logger_curves(tmp_path, noisy(7.6, 40.0, 60, 1.0))
    result = judged("TRAIN-LOSS-DESCENDS", read_run_log(folder, units=NATS))
    assert result.status is Status.FAIL
    assert result.value("relative_drop") < 0


def test_a_drop_within_the_noise_is_undecided(tmp_path: Path) -> None:
    """A 5 % drop buried in 10 % batch noise: the interval straddles the threshold."""
    folder = csv_logger_curves(tmp_path, noisy(7.6, 7.6 * 0.95, 40, 0.8, seed=3))
    result = judged("TRAIN-LOSS-DESCENDS", read_run_log(folder, units=NATS))
    assert result.status is Status.INCONCLUSIVE


def test_a_loss_in_bits_is_converted_before_the_windows_are_compared(tmp_path: Path) -> None:
    bits = noisy(11.0, 8.0, 40, 0.05)
    log = read_run_log(jsonl_curves(tmp_path / "log.jsonl", {"loss": bits}),
                       units={"loss": "bits"})
    result = judged("TRAIN-LOSS-DESCENDS", log)
    assert result.value("first_window_mean") == pytest.approx(
        sum(bits[:10]) / 10 * math.log(2.0))


def test_the_lightning_runs_vocab_size_comes_from_its_hparams(tmp_path: Path) -> None:
    folder = csv_logger_curves(tmp_path, noisy(4.5, 3.5, 20, 0.05),
                               val_loss={4: 4.3, 9: 3.9, 14: 4.0, 19: 4.1},
                               hparams={"vocab_size": 64, "lr": 1e-3})
    result = judged("VAL-BELOW-UNIFORM-AT-BEST", read_run_log(folder, units=NATS))
    assert result.status is Status.PASS
    assert result.value("vocab_size") == 64
    assert result.value("best_val_loss") == pytest.approx(3.9)
    assert result.value("best_val_step") == 9
    assert result.value("train_loss_drop") > 0


def test_validation_above_uniform_while_training_falls_fails(tmp_path: Path) -> None:
    """The aprender failure: the training loss falls, every validation loss is above ln|V|."""
    folder = csv_logger_curves(tmp_path, noisy(4.5, 2.0, 20, 0.05),
                               val_loss={4: 4.4, 9: 4.9, 14: 5.6, 19: 6.3},
                               hparams={"vocab_size": 64})
    result = judged("VAL-BELOW-UNIFORM-AT-BEST", read_run_log(folder, units=NATS))
    assert result.status is Status.FAIL
    assert result.value("train_loss_drop") > 0
    assert result.value("best_val_loss") == pytest.approx(4.4)


def test_a_log_without_a_vocabulary_size_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    log = read_run_log(jsonl_curves(tmp_path / "log.jsonl", {"val_loss": [3.0, 2.5]}),
                       units={"val_loss": "nats"})
    with pytest.raises(RunLogError, match=r"set vocab_size = <\|V\|>"):
        judged("VAL-BELOW-UNIFORM-AT-BEST", log)


def test_a_loss_declared_in_a_non_loss_unit_is_an_error(tmp_path: Path) -> None:
    log = read_run_log(jsonl_curves(tmp_path / "log.jsonl", {"loss": noisy(4, 3, 20, 0.1)}),
                       units={"loss": "count"})
    with pytest.raises(RunLogError, match="declare it as nats or bits"):
        judged("TRAIN-LOSS-DESCENDS", log)


def test_a_loss_without_a_declared_unit_is_an_error(tmp_path: Path) -> None:
    log = read_run_log(jsonl_curves(tmp_path / "log.jsonl", {"loss": noisy(4, 3, 20, 0.1)}))
    with pytest.raises(RunLogError, match="declare it in the subject's config"):
        judged("TRAIN-LOSS-DESCENDS", log)


def test_a_log_without_a_loss_names_the_series_it_has(tmp_path: Path) -> None:
    log = read_run_log(jsonl_curves(tmp_path / "log.jsonl", {"lr": [1e-3, 1e-3]}))
    with pytest.raises(RunLogError, match="no loss series; the log has lr"):
        judged("TRAIN-LOSS-FINITE", log)


def test_the_subject_names_the_series_and_the_vocabulary(tmp_path: Path) -> None:
    """A run-log subject's series and vocab_size options reach the measurements."""
    jsonl_curves(tmp_path / "log.jsonl", {"objective": noisy(4.0, 3.0, 20, 0.05),
                                          "heldout": [4.2, 3.3]})
    ws = Workspace(tmp_path, {"subjects": {"run": {
        "kind": "run-log", "path": "log.jsonl",
        "units": {"objective": "nats", "heldout": "nats"},
        "series": {"loss": "objective", "val_loss": "heldout"}, "vocab_size": 64}}},
        tmp_path / "falsify.toml")
    result = judged("VAL-BELOW-UNIFORM-AT-BEST", ws.resolve("run"))
    assert result.status is Status.PASS
    assert result.value("best_val_loss") == pytest.approx(3.3)
    assert "subject option vocab_size" in result.notes


@pytest.mark.parametrize(("option", "value", "message"), [
    ("vocab_size", "2048", r"write \|V\| as an integer"),
    ("vocab_size", 1, r"write \|V\| as an integer"),
    ("series", ["loss"], "series must be a table of role = series name"),
])
def test_a_bad_subject_option_is_refused(tmp_path: Path, option: str, value: object,
                                         message: str) -> None:
    jsonl_curves(tmp_path / "log.jsonl", {"loss": [3.0, 2.0]})
    ws = Workspace(tmp_path, {"subjects": {"run": {
        "kind": "run-log", "path": "log.jsonl", option: value}}}, tmp_path / "falsify.toml")
    with pytest.raises(RunLogError, match=message):
        ws.resolve("run")


def test_a_series_option_naming_a_missing_series_lists_the_ones_there(tmp_path: Path) -> None:
    jsonl_curves(tmp_path / "log.jsonl", {"loss": [3.0, 2.0]})
    ws = Workspace(tmp_path, {"subjects": {"run": {
        "kind": "run-log", "path": "log.jsonl", "series": {"loss": "objective"}}}},
        tmp_path / "falsify.toml")
    with pytest.raises(RunLogError, match="has no series 'objective'; it has loss"):
        judged("TRAIN-LOSS-FINITE", ws.resolve("run"))
