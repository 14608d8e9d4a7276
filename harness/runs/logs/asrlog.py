"""The ``train.log`` of an ASR run bundle: free text with metric lines among it.

A metric line names its step or epoch and then metrics as ``name value``, ``name: value`` or
``name=value`` pairs, separated by spaces, commas or pipes::

    epoch 3 step 1200 train_loss 2.3104 lr 3e-4
    step 1200: val_loss: 2.1032 val_bpb: 1.2345
    epoch 38 | val_loss=2.10 | cer=0.2057

Lines naming neither ``step`` nor ``epoch`` are prose and skipped. The log's first metric line
fixes which of the two is the step axis (``step`` when it names one); a later metric line
without it, or a value that is not a number, is a :class:`RunLogError` naming the line. No
library reads this format: it is the training script's own ``print``, so it is parsed here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from harness.runs.logs import (
    Point,
    RunLog,
    RunLogError,
    build_series,
    nonempty,
    number,
    require_file,
    step_of,
    whole_lines,
)
from harness.units import Unit

__all__ = ["read_asr_log"]

_NAME = r"[A-Za-z_][\w/.-]*"
_AXIS = re.compile(r"(?<![\w/.-])(step|epoch)\s*[:=]?\s*[^\s,|;]+")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)"
_NUMBER = re.compile(_NUM, re.IGNORECASE)
# name: value / name=value (the value must be a number), or name value where value is a number.
_PAIR = re.compile(rf"(?<![\w/.-])({_NAME})"
                   rf"(?:\s*[:=]\s*([^\s,|;]+)|\s+((?i:{_NUM}))(?=[\s,|;:]|$))")


def _value(text: str, where: str) -> float:
    text = text.rstrip(",;")
    if not _NUMBER.fullmatch(text):
        msg = f"{where}: {text!r} is not a number; write the metric's value as a number"
        raise RunLogError(msg)
    return number(float(text), where)


def read_asr_log(path: Path, units: dict[str, Unit]) -> RunLog:
    """Read a ``train.log`` (the file, or the run bundle folder holding it)."""
    file = path if path.is_file() else path / "train.log"
    data = require_file(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = data[:exc.start].count(b"\n") + 1
        msg = f"{file}: line {at}: not UTF-8; the log is damaged, write it again"
        raise RunLogError(msg) from None
    whole_lines(text, file)
    raw: dict[str, list[Point]] = defaultdict(list)
    axis: str | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        if not _AXIS.search(line):
            continue
        where = f"{file}: line {n}"
        pairs = [(m.group(1), m.group(2) or m.group(3)) for m in _PAIR.finditer(line)]
        named = {k for k, _ in pairs}
        if axis is None:
            axis = "step" if "step" in named else "epoch"
        if axis not in named:
            msg = (f"{where}: a metric line without {axis!r}; the log's first metric line "
                   f"counts by {axis}: write {axis} N on every metric line")
            raise RunLogError(msg)
        values = {}
        for key, cell in pairs:
            if key in values:
                msg = f"{where}: {key!r} appears twice; write each metric once per line"
                raise RunLogError(msg)
            values[key] = _value(cell, f"{where}: {key}")
        step = step_of(values.pop(axis), where)
        for key, value in values.items():
            raw[key].append(Point(step, value, None))
    series = nonempty(build_series(raw, units, file), file, "metric lines (step N or epoch N)")
    return RunLog(path, "asr-train-log", series, (file,), {"axis": axis})
