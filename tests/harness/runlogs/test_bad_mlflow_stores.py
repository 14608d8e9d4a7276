"""Damaged MLflow file stores are a RunLogError naming the file (and the line, where there is
one): never MLflow's bare traceback, never a silent partial read. The stores are written by
MLflow, then damaged: a metric file or meta.yaml cut at any byte, a flipped byte, bad lines."""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.runs.logs import Point, RunLog, RunLogError, read_run_log
from tests.harness.runlogs.writers import mlflow_store_files

pytest.importorskip("mlflow", reason="the mlflow extra: pip install -e '.[mlflow]'")

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
# what MLflow writes per value; a test-side statement of the format, to say what a damaged
# file must read as when it still reads at all
LINE = re.compile(r"(-?[0-9]+) (\S+) ([0-9]+)\n")


def run_folder() -> str:
    """The store-relative path of the store's one run folder: <experiment id>/<run id>."""
    (meta,) = [p for p in mlflow_store_files() if p.count("/") == 2 and p.endswith("/meta.yaml")]
    return meta.rsplit("/", 1)[0]


def original(rel: str) -> bytes:
    """The bytes MLflow wrote to the run's file ``rel`` (relative to the run folder)."""
    return mlflow_store_files()[f"{run_folder()}/{rel}"]


def read_with(changes: dict[str, bytes | None]) -> RunLog:
    """Write the store with ``changes`` to the run's files (path relative to the run folder ->
    new bytes, or None to delete) and read its run by id."""
    run = run_folder()
    files = {**mlflow_store_files(), **{f"{run}/{rel}": data for rel, data in changes.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mlruns"
        (store / ".trash").mkdir(parents=True)
        (store / run / "artifacts").mkdir(parents=True)  # empty, so not among the files
        for rel, data in files.items():
            if data is not None:
                (store / rel).parent.mkdir(parents=True, exist_ok=True)
                (store / rel).write_bytes(data)
        return read_run_log(store, run={"run_id": run.split("/")[1]})


def refused(changes: dict[str, bytes | None], file: str, where: str) -> str:
    with pytest.raises(RunLogError) as info:
        read_with(changes)
    text = str(info.value)
    assert file in text
    assert where in text
    assert info.value.__cause__ is None  # one clear error, not a chained library traceback
    return text


def same_points(a: tuple[Point, ...], b: list[Point]) -> bool:
    """Equal points, a NaN equal to a NaN."""
    def key(p: Point) -> tuple[int, str, float | None]:
        return p.step, "nan" if math.isnan(p.value) else repr(p.value), p.wall_time
    return [key(p) for p in a] == [key(p) for p in b]


def outcome(changes: dict[str, bytes | None]) -> RunLog | RunLogError:
    """The run read, or the RunLogError it raised."""
    try:
        return read_with(changes)
    except RunLogError as exc:
        return exc


def expected_points(data: bytes) -> list[Point] | None:
    """What a metric file reads as when every line is 'timestamp value step', else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.splitlines(keepends=True)
    matches = [LINE.fullmatch(line) for line in lines]
    if not lines or not all(matches):
        return None
    points = []
    for m in matches:
        assert m is not None
        try:
            value = float(m[2])
        except ValueError:
            return None
        points.append(Point(int(m[3]), value, int(m[1]) / 1000))
    return sorted(points, key=lambda p: p.step)


LOSS = "metrics/loss"
META = "meta.yaml"


# -- metric files ---------------------------------------------------------------------------

@SETTINGS
@given(st.data())
def test_truncated_metric_file(data: st.DataObject) -> None:
    good = original(LOSS)
    cut = data.draw(st.integers(0, len(good) - 1), label="cut")
    head = good[:cut]
    if cut == 0:
        refused({LOSS: head}, "metrics/loss", "empty")
    elif head.endswith(b"\n"):  # a cut at a line end is a shorter run, read whole
        full = read_with({}).all_series["loss"].points
        short = read_with({LOSS: head}).all_series["loss"].points
        assert short == full[:head.count(b"\n")]
    else:
        line = head.count(b"\n") + 1
        refused({LOSS: head}, "metrics/loss", f"line {line}")


@SETTINGS
@given(st.data())
def test_damaged_metric_file(data: st.DataObject) -> None:
    good = bytearray(original(LOSS))
    at = data.draw(st.integers(0, len(good) - 1), label="at")
    good[at] ^= data.draw(st.integers(1, 255), label="xor")
    check_damaged(bytes(good))


def check_damaged(damaged: bytes) -> None:
    """A damaged metric file reads exactly as its bytes say, or is refused naming a line."""
    expected = expected_points(damaged)
    if expected is None:
        refused({LOSS: damaged}, "metrics/loss", "line ")
        return
    got = read_with({LOSS: damaged}).all_series["loss"].points
    assert same_points(got, expected)


@pytest.mark.parametrize("damage", [
    pytest.param(lambda b: b.replace(b"\n", b"7", 1), id="line-end-to-digit"),
    pytest.param(lambda b: b.replace(b"\n", b" ", 1), id="line-end-to-space"),
    pytest.param(lambda b: b.replace(b"\n", b"\x0c", 1), id="line-end-to-form-feed"),
    pytest.param(lambda b: b.replace(b" ", b"\x0c", 1), id="space-to-form-feed"),
    pytest.param(lambda b: b.replace(b"\n", b"\r\n", 1), id="crlf"),
])
def test_damaged_line_ends(damage: Callable[[bytes], bytes]) -> None:
    """The damage MLflow itself reads silently: joined lines, split lines, a stray CR."""
    damaged = damage(original(LOSS))
    assert expected_points(damaged) is None
    refused({LOSS: damaged}, "metrics/loss", "line 1")


BAD_LINES = st.sampled_from([
    "", "1796000000000 2.5", "1796000000000 2.5 3 4", "x 2.5 3", "1796000000000 high 3",
    "1796000000000 2.5 x", "1796000000000 2.5 -3", "1796000000000  2.5 3",
    " 1796000000000 2.5 3", "1796000000000 2.5 3 ", "1796000000000.5 2.5 3",
    "1796000000000 2.5 3.0", "1796000000000 2.5 31796000000001 2.0 4",
])


@SETTINGS
@given(st.integers(0, 5), BAD_LINES)
@example(2, "1796000000000 2.5")  # two fields: MLflow reads it as step 0
@example(0, "")
def test_bad_metric_line(index: int, bad: str) -> None:
    lines = original(LOSS).decode().splitlines(keepends=True)
    lines[index] = bad + "\n"
    refused({LOSS: "".join(lines).encode()}, "metrics/loss", f"line {index + 1}")


def test_empty_metric_file_is_an_empty_series() -> None:
    refused({LOSS: b""}, "metrics/loss", "empty: the series has no value")


def test_a_param_that_is_not_utf8() -> None:
    refused({"params/lr": b"0.0\xff1"}, "params/lr", "line 1: not UTF-8")


# -- meta.yaml ------------------------------------------------------------------------------

def test_missing_meta_yaml() -> None:
    refused({META: None}, "meta.yaml", "missing; MLflow keeps a run's id")


@SETTINGS
@given(st.data())
def test_truncated_meta_yaml(data: st.DataObject) -> None:
    good = original(META)
    cut = data.draw(st.integers(0, len(good) - 1), label="cut")
    refused({META: good[:cut]}, f"{run_folder()}/meta.yaml", "meta.yaml")


@pytest.mark.parametrize("key", ["start_time", "end_time"])
def test_a_run_time_that_is_not_a_number(key: str) -> None:
    """MLflow passes a damaged time on as text; found by flipping bytes of meta.yaml."""
    text = re.sub(rf"^{key}: 1", f"{key}: c", original(META).decode(), flags=re.M)
    refused({META: text.encode()}, "meta.yaml", f"{key} 'c")


@settings(SETTINGS, max_examples=80)
@given(st.data())
def test_damaged_meta_yaml(data: st.DataObject) -> None:
    """A flipped byte in meta.yaml is refused naming it, or changes the run's info only: the
    series are read from the metric files, as they were."""
    good = bytearray(original(META))
    at = data.draw(st.integers(0, len(good) - 1), label="at")
    good[at] ^= data.draw(st.integers(1, 255), label="xor")
    log = outcome({META: bytes(good)})
    if isinstance(log, RunLogError):
        assert "meta.yaml" in str(log)
        assert log.__cause__ is None
        return
    whole = read_with({})
    assert log.names == whole.names
    for name in whole.names:
        assert same_points(log.all_series[name].points, list(whole.all_series[name].points))
