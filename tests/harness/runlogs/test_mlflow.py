"""The mlflow run-log reader on file stores written by MLflow itself (mlflow.start_run and
log_metric with a file: tracking URI): series, NaN kept, params and tags, the files read, the
run chosen by id or by experiment and name, the subject kind, and MLflow imported only when an
MLflow log is read."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config_schema import config_problems
from harness.runs.logs import RunLog, RunLogError, detect_format, read_run_log
from harness.units import parse_unit
from harness.workspace import Workspace
from tests.harness.runlogs.writers import jsonl_run, mlflow_run

pytest.importorskip("mlflow", reason="the mlflow extra: pip install -e '.[mlflow]'")

NATS = parse_unit("nats")
UNITS = {"loss": "nats", "val/loss": "nats"}
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three runs: run-a (loss NaN at step 2) and run-b in 'tiny', and a second run-a in
    'other'."""
    root = tmp_path_factory.mktemp("mlflow") / "mlruns"
    mlflow_run(root, run_name="run-a", nan_at=2)
    mlflow_run(root, run_name="run-b")
    mlflow_run(root, experiment="other", run_name="run-a")
    return root


def run_id_of(store: Path, experiment: str, run_name: str) -> str:
    return str(read_run_log(store, run={"experiment": experiment,
                                        "run_name": run_name}).metadata["run_id"])


def test_series_as_logged(store: Path) -> None:
    log = read_run_log(store, units=UNITS, run={"experiment": "tiny", "run_name": "run-b"})
    assert log.format == "mlflow"
    assert log.names == ["loss", "val/loss"]
    assert log.series("loss").steps == [0, 1, 2, 3, 4, 5]
    assert log.series("loss").values == [3.0 - 0.5 * s for s in range(6)]
    assert log.series("val/loss").steps == [1, 3, 5]
    assert log.series("val/loss").values == [2.5 - 0.25 * s for s in (1, 3, 5)]
    assert log.unit("val/loss") == NATS


def test_wall_time_is_the_timestamp_in_seconds(store: Path) -> None:
    log = read_run_log(store, units=UNITS, run={"experiment": "tiny", "run_name": "run-b"})
    start, end = log.metadata["start_time"], log.metadata["end_time"]
    times = [p.wall_time for p in log.series("loss").points]
    assert all(t is not None and start <= t <= end for t in times)
    assert times == sorted(times)  # type: ignore[type-var]


def test_nan_is_kept_as_logged(store: Path) -> None:
    log = read_run_log(store, units=UNITS, run={"experiment": "tiny", "run_name": "run-a"})
    point = log.series("loss").first_non_finite()
    assert point is not None
    assert point.step == 2
    assert math.isnan(point.value)
    assert log.series("loss").values[3] == 1.5  # the points after it are read too


def test_params_tags_and_run_info_are_metadata(store: Path) -> None:
    meta = read_run_log(store, run={"experiment": "tiny", "run_name": "run-b"}).metadata
    assert meta["params"] == {"lr": "0.001", "layers": "2"}  # MLflow stores params as text
    assert meta["tags"]["purpose"] == "test"
    assert meta["tags"]["mlflow.runName"] == "run-b"
    assert meta["run_name"] == "run-b"
    assert meta["experiment"] == "tiny"
    assert meta["status"] == "FINISHED"
    assert meta["lifecycle_stage"] == "active"


def test_every_file_read_is_listed(store: Path) -> None:
    log = read_run_log(store, run={"experiment": "tiny", "run_name": "run-b"})
    run_dir = store / log.metadata["experiment_id"] / log.metadata["run_id"]
    names = {f.relative_to(run_dir).as_posix() if run_dir in f.parents else f.name
             for f in log.files}
    assert names >= {"meta.yaml", "metrics/loss", "metrics/val/loss", "params/lr",
                     "params/layers", "tags/purpose", "tags/mlflow.runName"}
    assert store / log.metadata["experiment_id"] / "meta.yaml" in log.files
    assert all(f.is_file() for f in log.files)
    assert log.all_series["loss"].source == run_dir / "metrics" / "loss"


def test_select_by_run_id(store: Path) -> None:
    run_id = run_id_of(store, "other", "run-a")
    log = read_run_log(store, run={"run_id": run_id})
    assert log.metadata["experiment"] == "other"
    assert log.metadata["run_id"] == run_id


def test_a_run_folder_is_read_as_its_run(store: Path) -> None:
    run_id = run_id_of(store, "tiny", "run-b")
    (folder,) = store.glob(f"*/{run_id}")
    assert detect_format(folder) == "mlflow"
    assert detect_format(store) == "mlflow"
    assert read_run_log(folder).metadata["run_name"] == "run-b"


def test_a_run_folder_with_another_run_id_is_refused(store: Path) -> None:
    run_id = run_id_of(store, "tiny", "run-b")
    (folder,) = store.glob(f"*/{run_id}")
    with pytest.raises(RunLogError, match=rf"folder of run '{run_id}', not run_id 'abc'"):
        read_run_log(folder, run={"run_id": "abc"})


def test_an_unknown_run_id_names_the_runs_there(store: Path) -> None:
    with pytest.raises(RunLogError) as info:
        read_run_log(store, run={"run_id": "0123456789abcdef"})
    text = str(info.value)
    assert "no run '0123456789abcdef'" in text
    assert run_id_of(store, "tiny", "run-b") in text
    assert "(experiment 'other', run 'run-a')" in text


def test_a_run_name_in_two_experiments_is_ambiguous(store: Path) -> None:
    with pytest.raises(RunLogError, match=r"run_name = 'run-a' matches 2 runs") as info:
        read_run_log(store, run={"run_name": "run-a"})
    assert run_id_of(store, "other", "run-a") in str(info.value)
    assert run_id_of(store, "tiny", "run-a") in str(info.value)


def test_a_store_of_several_runs_needs_a_selection(store: Path) -> None:
    with pytest.raises(RunLogError, match=r"holds 3 runs and no run_id, experiment or run_name"):
        read_run_log(store)


def test_a_selection_matching_nothing_names_the_runs_there(store: Path) -> None:
    with pytest.raises(RunLogError, match=r"experiment = 'tiny', run_name = 'run-z' matches "
                                          r"none; it holds .*run 'run-b'"):
        read_run_log(store, run={"experiment": "tiny", "run_name": "run-z"})


def test_a_store_of_one_run_needs_no_selection(tmp_path: Path) -> None:
    run_id = mlflow_run(tmp_path / "mlruns")
    assert read_run_log(tmp_path / "mlruns").metadata["run_id"] == run_id


def test_a_run_read_while_it_is_logging(tmp_path: Path) -> None:
    """A run still running is read as far as it has logged, its status RUNNING."""
    import mlflow

    from tests.harness.runlogs.writers import file_store

    store = tmp_path / "mlruns"
    with file_store(store), mlflow.start_run(
            experiment_id=mlflow.create_experiment("live"), run_name="live"):
        mlflow.log_metric("loss", 2.0, step=0)
        mlflow.log_metric("loss", 1.5, step=1)
        log = read_run_log(store, units={"loss": "nats"})
    assert log.series("loss").values == [2.0, 1.5]
    assert log.metadata["status"] == "RUNNING"


def test_selectors_are_refused_for_a_one_run_format(tmp_path: Path) -> None:
    jsonl_run(tmp_path / "log.jsonl")
    with pytest.raises(RunLogError, match=r"run_id pick a run in an MLflow store; a jsonl log"):
        read_run_log(tmp_path / "log.jsonl", run={"run_id": "abc"})


def test_the_read_leaves_the_environment_as_it_was(store: Path) -> None:
    before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    read_run_log(store, run={"experiment": "tiny", "run_name": "run-b"})
    assert os.environ.get("MLFLOW_ALLOW_FILE_STORE") == before


def test_subject_kind(store: Path) -> None:
    config = {"subjects": {"run": {
        "kind": "run-log", "path": str(store), "format": "mlflow", "experiment": "tiny",
        "run_name": "run-a", "units": {"loss": "nats"}}}}
    assert config_problems(config, store.parent / "falsify.toml") == []
    ws = Workspace(store.parent, config, store.parent / "falsify.toml")
    log = ws.resolve("run")
    assert isinstance(log, RunLog)
    assert log.metadata["run_name"] == "run-a"
    assert log.series("loss").unit == NATS


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, check=False)


def test_without_mlflow_the_error_names_the_extra(store: Path) -> None:
    code = ("import sys; sys.modules['mlflow'] = None\n"  # import mlflow now raises ImportError
            "from harness.runs.logs import RunLogError, read_run_log\n"
            "try:\n"
            f"    read_run_log({str(store)!r}, run={{'run_name': 'run-b'}})\n"
            "except RunLogError as exc:\n"
            "    print(exc)\n")
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert "pip install 'falsify[mlflow]'" in done.stdout
    assert str(store) in done.stdout


def test_mlflow_is_imported_only_to_read_an_mlflow_log(tmp_path: Path) -> None:
    jsonl_run(tmp_path / "log.jsonl")
    code = ("import json, sys\n"
            "from pathlib import Path\n"
            "import harness.api\n"
            "from harness.runs.logs import detect_format, read_run_log\n"
            f"read_run_log({str(tmp_path / 'log.jsonl')!r})\n"
            f"detect_format(Path({str(tmp_path)!r}))\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow')))\n")
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []

