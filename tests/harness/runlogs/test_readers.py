"""Each run-log reader on files written by the real library: a Trainer run, torch's
SummaryWriter, Lightning's CSVLogger, JSON Lines and an ASR train.log; and the subject kind."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.runs.logs import RunLog, RunLogError, detect_format, read_run_log
from harness.units import parse_unit
from harness.workspace import Workspace
from tests.harness.runlogs.writers import (
    ASR_LOG,
    csv_logger_run,
    jsonl_run,
    summary_writer_run,
    trainer_run,
)

NATS = parse_unit("nats")


@pytest.fixture(scope="module")
def trainer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trainer_run(tmp_path_factory.mktemp("trainer") / "out")


def test_trainer_folder(trainer_folder: Path) -> None:
    assert detect_format(trainer_folder) == "trainer"
    log = read_run_log(trainer_folder, units={"loss": "nats", "eval_loss": "nats"})
    assert log.format == "trainer"
    loss, evals = log.series("loss"), log.series("eval_loss")
    assert loss.steps == [1, 2, 3, 4, 5, 6]
    assert loss.unit == NATS
    assert evals.steps == [2, 4, 6]
    assert all(math.isfinite(v) for v in evals.values)
    best = min(evals.points, key=lambda p: p.value)
    meta = log.metadata
    assert meta["best_metric"] == best.value
    assert Path(meta["best_model_checkpoint"]).name == f"checkpoint-{best.step}"
    assert meta["checkpoints"] == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    assert meta["global_step"] == 6
    assert meta["config"]["model_type"] == "qwen3"
    assert [f.name for f in log.files] == ["trainer_state.json", "config.json"]


def test_trainer_state_from_the_latest_checkpoint(trainer_folder: Path, tmp_path: Path) -> None:
    """Without save_state() the output folder has no trainer_state.json: the last checkpoint's."""
    folder = tmp_path / "out"
    for ckpt in ("checkpoint-2", "checkpoint-6"):
        (folder / ckpt).mkdir(parents=True)
        for name in ("trainer_state.json", "config.json"):
            (folder / ckpt / name).write_bytes((trainer_folder / ckpt / name).read_bytes())
    log = read_run_log(folder)
    assert log.files[0] == folder / "checkpoint-6" / "trainer_state.json"
    assert log.all_series["loss"].steps == [1, 2, 3, 4, 5, 6]


def test_trainer_tensorboard_events(trainer_folder: Path) -> None:
    """The Trainer's TensorBoard callback logs the same losses as its log_history."""
    tb = read_run_log(trainer_folder / "runs", units={"train/loss": "nats"})
    state = read_run_log(trainer_folder)
    assert tb.format == "tensorboard"
    assert tb.series("train/loss").steps == state.all_series["loss"].steps
    for a, b in zip(tb.series("train/loss").values, state.all_series["loss"].values,
                    strict=True):
        assert a == pytest.approx(b, rel=1e-6)  # float32 in the event file
    assert all(p.wall_time is not None for p in tb.series("train/loss").points)


def test_summary_writer(tmp_path: Path) -> None:
    log = read_run_log(summary_writer_run(tmp_path), units={"loss": "nats",
                                                             "val_bpb": "bits/byte"})
    assert log.series("loss").values == [4.0 - 0.25 * s for s in range(8)]
    assert log.series("val_bpb").steps == [0, 2, 4, 6]
    assert str(log.unit("val_bpb")) == "bits/byte"
    assert len(log.files) == 1
    assert log.files[0].name.startswith("events.out.tfevents.")


def test_lightning_csv_logger(tmp_path: Path) -> None:
    folder = csv_logger_run(tmp_path)
    assert detect_format(folder) == "csv"
    log = read_run_log(folder, units={"train_loss": "nats", "val_loss": "nats"})
    assert log.series("train_loss").values == [3.0 - 0.5 * s for s in range(6)]
    assert log.series("val_loss").steps == [1, 3, 5]
    assert log.metadata["hparams"] == {"lr": 0.001, "layers": 2}
    assert [f.name for f in log.files] == ["metrics.csv", "hparams.yaml"]


def test_jsonl(tmp_path: Path) -> None:
    log = read_run_log(jsonl_run(tmp_path / "log.jsonl"), units={"loss": "nats"})
    assert log.format == "jsonl"
    assert log.series("loss").steps == [0, 10, 20, 30, 40]
    assert [p.wall_time for p in log.series("loss").points] == [100.0, 101.0, 102.0, 103.0,
                                                                 104.0]


def test_asr_train_log(tmp_path: Path) -> None:
    (tmp_path / "train.log").write_text(ASR_LOG, encoding="utf-8")
    log = read_run_log(tmp_path, units={"val_bpb": "bits/byte", "val_loss": "nats"})
    assert log.format == "asr-train-log"
    assert log.series("val_bpb").points[1].value == 1.1
    assert log.series("val_loss").steps == [100, 200]
    assert log.all_series["train_loss"].values == [2.3104, 1.9]


def test_nan_is_kept_as_logged(tmp_path: Path) -> None:
    file = tmp_path / "log.jsonl"
    file.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": NaN}\n', encoding="utf-8")
    point = read_run_log(file, units={"loss": "nats"}).series("loss").first_non_finite()
    assert point is not None
    assert point.step == 2


def test_series_without_a_unit_is_refused(tmp_path: Path) -> None:
    log = read_run_log(jsonl_run(tmp_path / "log.jsonl"))
    with pytest.raises(RunLogError, match=r"series 'loss' has no unit; declare it"):
        log.series("loss")
    with pytest.raises(RunLogError, match=r"no series 'eval_loss'; it has loss"):
        log.series("eval_loss")


def test_empty_series_is_refused(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("step,loss,val_loss\n0,1.5,\n1,1.2,\n",
                                          encoding="utf-8")
    log = read_run_log(tmp_path, units={"val_loss": "nats"})
    with pytest.raises(RunLogError, match=r"metrics.csv: series 'val_loss' is empty"):
        log.series("val_loss")


def test_subject_kind(tmp_path: Path) -> None:
    summary_writer_run(tmp_path / "tb")
    ws = Workspace(tmp_path, {"subjects": {"run": {
        "kind": "run-log", "path": "tb", "units": {"loss": "nats", "val_bpb": "bits/byte"}}}},
        tmp_path / "falsify.toml")
    log = ws.resolve("run")
    assert isinstance(log, RunLog)
    assert log.format == "tensorboard"
    assert log.series("loss").unit == NATS


def test_subject_with_an_unknown_unit_is_refused(tmp_path: Path) -> None:
    jsonl_run(tmp_path / "log.jsonl")
    ws = Workspace(tmp_path, {"subjects": {"run": {
        "kind": "run-log", "path": "log.jsonl", "units": {"loss": "nuts"}}}},
        tmp_path / "falsify.toml")
    with pytest.raises(RunLogError, match=r"subject 'run': units.loss: unknown unit 'nuts'"):
        ws.resolve("run")
