"""Bad run logs are a RunLogError naming the file and the line, row or record: never a library's
traceback, never a silent partial read. Corrupted files are generated: truncation at every kind
of byte offset, a flipped byte, random bad lines and rows in otherwise good logs."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.runs.logs import RunLogError, read_run_log
from tests.harness.runlogs.writers import ASR_LOG, event_file_bytes

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
GOOD_JSONL = "".join(json.dumps({"step": s, "loss": 3.0 - s / 4, "lr": 1e-3}) + "\n"
                     for s in range(6))
GOOD_CSV = "epoch,step,train_loss,val_loss\n" + "".join(
    f"0,{s},{3.0 - s / 4},{'' if s % 2 else 2.5 - s / 8}\n" for s in range(6))


def read_bytes_as(name: str, data: bytes, fmt: str) -> object:
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / name
        file.write_bytes(data)
        return read_run_log(file, format=fmt)


def outcome(name: str, data: bytes, fmt: str) -> object:
    """The log read, or the RunLogError's message."""
    try:
        return read_bytes_as(name, data, fmt)
    except RunLogError as exc:
        return str(exc)


def refused(name: str, data: bytes, fmt: str, where: str) -> str:
    with pytest.raises(RunLogError) as info:
        read_bytes_as(name, data, fmt)
    text = str(info.value)
    assert name in text
    assert where in text
    assert info.value.__cause__ is None  # one clear error, not a chained library traceback
    return text


def record_ends(data: bytes) -> set[int]:
    """The byte offsets where a TFRecord ends (test-side walk of the framing)."""
    ends, at = {0}, 0
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at:at + 8])
        at += 8 + 4 + length + 4
        ends.add(at)
    return ends


# -- TensorBoard ----------------------------------------------------------------------------

@SETTINGS
@given(st.data())
def test_truncated_event_file(data: st.DataObject) -> None:
    good = event_file_bytes()
    cut = data.draw(st.integers(0, len(good) - 1), label="cut")
    if cut in record_ends(good):  # a cut between records is a shorter run: indistinguishable
        full = read_bytes_as("events.out.tfevents.1.h", good, "tensorboard")
        short = outcome("events.out.tfevents.1.h", good[:cut], "tensorboard")
        if isinstance(short, str):  # the cut left no scalar at all
            assert "no scalar summaries" in short
            return
        for name, series in short.all_series.items():  # type: ignore[attr-defined]
            whole = full.all_series[name].points  # type: ignore[attr-defined]
            assert series.points == whole[:len(series.points)]
        return
    refused("events.out.tfevents.1.h", good[:cut], "tensorboard", "record ")


@SETTINGS
@given(st.data())
def test_damaged_event_file(data: st.DataObject) -> None:
    good = bytearray(event_file_bytes())
    at = data.draw(st.integers(0, len(good) - 1), label="at")
    good[at] ^= data.draw(st.integers(1, 255), label="xor")
    refused("events.out.tfevents.1.h", bytes(good), "tensorboard", "record ")


def test_no_event_file(tmp_path: Path) -> None:
    with pytest.raises(RunLogError, match=r"no events\.out\.tfevents"):
        read_run_log(tmp_path, format="tensorboard")


# -- JSON Lines -----------------------------------------------------------------------------

BAD_JSON_LINES = st.sampled_from([
    "[1, 2]", "3.5", '"loss"', "null", "{not json", '{"loss": 1.0}',
    '{"step": 1, "loss": "high"}', '{"step": 1, "loss": true}', '{"step": -1, "loss": 1}',
    '{"step": 1.5, "loss": 1}', '{"step": 1, "loss": [1]}', '{"step": 1, "loss": null}',
])


@SETTINGS
@given(st.integers(0, 5), BAD_JSON_LINES)
@example(2, "[1, 2]")
@example(0, '{"step": 1, "loss": "high"}')
def test_bad_json_line(index: int, bad: str) -> None:
    lines = GOOD_JSONL.splitlines(keepends=True)
    lines[index] = bad + "\n"
    refused("log.jsonl", "".join(lines).encode(), "jsonl", f"line {index + 1}")


@SETTINGS
@given(st.data())
def test_truncated_jsonl(data: st.DataObject) -> None:
    good = GOOD_JSONL.encode()
    cut = data.draw(st.integers(0, len(good) - 1), label="cut")
    head = good[:cut]
    if cut == 0:
        refused("log.jsonl", head, "jsonl", "no metric lines")
    elif head.endswith(b"\n"):  # a cut at a line end is a shorter run, read whole
        log = read_bytes_as("log.jsonl", head, "jsonl")
        assert len(log.all_series["loss"].points) == head.count(b"\n")  # type: ignore[attr-defined]
    else:
        line = head.count(b"\n") + 1
        refused("log.jsonl", head, "jsonl", f"line {line}")


# -- Lightning CSV --------------------------------------------------------------------------

@SETTINGS
@given(st.integers(1, 6), st.sampled_from(["drop", "extra", "text", "nostep", "badstep"]))
@example(3, "drop")
def test_bad_csv_row(row: int, fault: str) -> None:
    lines = GOOD_CSV.splitlines(keepends=True)
    cells = lines[row].rstrip("\n").split(",")
    if fault == "drop":
        cells.pop()
    elif fault == "extra":
        cells.append("1.0")
    elif fault == "text":
        cells[2] = "high"
    elif fault == "nostep":
        cells[1] = ""
    else:
        cells[1] = "x"
    lines[row] = ",".join(cells) + "\n"
    refused("metrics.csv", "".join(lines).encode(), "csv", f"line {row + 1}")


def test_csv_without_a_step_column() -> None:
    text = GOOD_CSV.replace("epoch,step,", "epoch,iteration,", 1)
    refused("metrics.csv", text.encode(), "csv", "line 1: no 'step' column")


@SETTINGS
@given(st.data())
def test_truncated_csv(data: st.DataObject) -> None:
    good = GOOD_CSV.encode()
    cut = data.draw(st.integers(0, len(good) - 1), label="cut")
    head = good[:cut]
    if head.endswith(b"\n") and head.count(b"\n") >= 2:
        log = read_bytes_as("metrics.csv", head, "csv")
        assert log.all_series["train_loss"].steps == list(range(head.count(b"\n") - 1))  # type: ignore[attr-defined]
    elif head.endswith(b"\n"):  # the header alone
        refused("metrics.csv", head, "csv", "no metric rows")
    else:
        refused("metrics.csv", head, "csv", "line ")


# -- ASR train.log --------------------------------------------------------------------------

@SETTINGS
@given(st.integers(1, 4), st.sampled_from(["val_loss: high", "val_bpb=?", "val_loss: 1.2.3"]))
def test_bad_asr_value(index: int, bad: str) -> None:
    lines = ASR_LOG.splitlines(keepends=True)
    lines[index] = lines[index].rstrip("\n") + " " + bad + "\n"
    refused("train.log", "".join(lines).encode(), "asr-train-log", f"line {index + 1}")


@SETTINGS
@given(st.data())
def test_truncated_asr_log(data: st.DataObject) -> None:
    good = ASR_LOG.encode()
    cut = data.draw(st.integers(0, len(good) - 1), label="cut")
    head = good[:cut]
    got = outcome("train.log", head, "asr-train-log")
    if isinstance(got, str):
        assert "train.log" in got
        assert "line " in got or "no metric lines" in got
        return
    assert head.endswith(b"\n")  # only a cut at a line end reads, as the shorter run it is


# -- Trainer --------------------------------------------------------------------------------

STATE = json.dumps({"best_metric": 2.0, "best_model_checkpoint": "out/checkpoint-2",
                    "global_step": 2, "log_history": [
                        {"loss": 3.0, "step": 1, "epoch": 0.5},
                        {"eval_loss": 2.0, "step": 2, "epoch": 1.0}]}, indent=2)


@SETTINGS
@given(st.integers(0, len(STATE) - 2))
def test_truncated_trainer_state(cut: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "trainer_state.json").write_text(STATE[:cut], encoding="utf-8")
        with pytest.raises(RunLogError, match=r"trainer_state.json: line \d+, column \d+"):
            read_run_log(tmp, format="trainer")


@pytest.mark.parametrize(("entry", "where"), [
    ("[1]", "log_history[1]: list is not an object"),
    ('{"loss": 1.0}', "log_history[1]: no 'step' key"),
    ('{"loss": "nan?", "step": 3}', "log_history[1].loss: 'nan?' is not a number"),
])
def test_bad_trainer_entry(tmp_path: Path, entry: str, where: str) -> None:
    state = json.loads(STATE)
    state["log_history"][1] = json.loads(entry)
    (tmp_path / "trainer_state.json").write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(RunLogError, match=__import__("re").escape(where)):
        read_run_log(tmp_path, format="trainer")
