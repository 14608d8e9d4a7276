"""TensorBoard event files, read with the ``tensorboard`` package (the ``runs`` extra).

Each ``events.out.tfevents.*`` file under the folder is read record by record with tensorboard's
own record reader (``PyRecordReader_New``), which checks each record's length and CRC; its
``EventAccumulator`` is not used because it logs a truncated record and stops quietly, and a
silent partial read is the failure this reader exists to refuse. Scalars are the summary values
with a ``simple_value`` or a scalar tensor (``torch.utils.tensorboard`` and the Trainer's
TensorBoard callback write the former); the series name is the tag.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.runs.logs import Point, RunLog, RunLogError, build_series, nonempty
from harness.units import Unit

__all__ = ["event_files", "read_tensorboard"]


def event_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("events.out.tfevents.*") if p.is_file())


def _records(file: Path) -> list[bytes]:
    """Every record of ``file``; a RunLogError naming the record when one is cut or damaged."""
    try:
        from tensorboard.compat.tensorflow_stub import errors
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New
    except ImportError:
        msg = (f"{file}: reading TensorBoard logs needs the tensorboard package: "
               f"pip install 'falsify[runs]'")
        raise RunLogError(msg) from None
    reader = PyRecordReader_New(str(file))
    out: list[bytes] = []
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return out
        except errors.OpError as exc:
            msg = (f"{file}: record {len(out) + 1}: {exc.message}; the event file is truncated "
                   f"or damaged after {len(out)} intact records: the writer was killed "
                   f"mid-write or the copy is incomplete; copy the file again from the run")
            raise RunLogError(msg) from None
        out.append(reader.record())


def _scalar(value: Any) -> float | None:
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor"):
        from tensorboard.util import tensor_util
        array = tensor_util.make_ndarray(value.tensor)
        if array.size == 1 and array.dtype.kind in "fiu":
            return float(array.reshape(()))
    return None


def read_tensorboard(path: Path, units: dict[str, Unit]) -> RunLog:
    """Read every event file under ``path`` (or the one file ``path``)."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto.event_pb2 import Event

    files = event_files(path)
    if not files:
        msg = (f"{path}: no events.out.tfevents.* file here; point the subject's path at the "
               f"TensorBoard log directory")
        raise RunLogError(msg)
    raw: dict[str, list[Point]] = defaultdict(list)
    for file in files:
        for n, record in enumerate(_records(file), start=1):
            try:
                event = Event.FromString(record)
            except DecodeError:
                msg = (f"{file}: record {n} passes its CRC but is not an Event; this is not a "
                       f"TensorBoard event file")
                raise RunLogError(msg) from None
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                scalar = _scalar(value)
                if scalar is not None:
                    raw[value.tag].append(Point(int(event.step), scalar, float(event.wall_time)))
    series = nonempty(build_series(raw, units, files[0]), path, "scalar summaries")
    return RunLog(path, "tensorboard", series, tuple(files), {})
