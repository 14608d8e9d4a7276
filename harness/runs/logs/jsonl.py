"""Plain JSON Lines run logs: one object per logged step, ``{"step": 10, "loss": 2.3, ...}``.

An optional ``time`` (or ``wall_time``) key is the wall time in seconds; every other key is a
series and its value must be a number (JSON ``NaN`` and ``Infinity`` are numbers here). Blank
lines are skipped; a line that is not a JSON object, has no ``step``, or holds a non-numeric
metric is a :class:`RunLogError` naming the file and the line.
"""

from __future__ import annotations

import json
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

__all__ = ["read_jsonl"]

_TIME_KEYS = ("wall_time", "time", "timestamp")


def _log_file(path: Path) -> Path:
    if path.is_file():
        return path
    found = sorted(path.glob("*.jsonl"))
    if len(found) != 1:
        msg = (f"{path}: {len(found)} .jsonl files here; point the subject's path at the one "
               f"log file")
        raise RunLogError(msg)
    return found[0]


def read_jsonl(path: Path, units: dict[str, Unit]) -> RunLog:
    """Read a JSON Lines run log (a file, or a folder holding exactly one ``.jsonl``)."""
    file = _log_file(path)
    data = require_file(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = data[:exc.start].count(b"\n") + 1
        msg = f"{file}: line {at}: not UTF-8; the log is damaged, write it again"
        raise RunLogError(msg) from None
    whole_lines(text, file)
    raw: dict[str, list[Point]] = defaultdict(list)
    lines = text.split("\n")
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{file}: line {n}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            last = n == len(lines) or (n == len(lines) - 1 and not lines[-1])
            hint = ("the last line is cut short: the log was truncated; drop the partial line"
                    if last and not text.endswith("\n") else "write one JSON object per line")
            msg = f"{where}: not valid JSON ({exc.msg}, column {exc.colno}); {hint}"
            raise RunLogError(msg) from None
        if not isinstance(entry, dict):
            msg = (f"{where}: a JSON {type(entry).__name__}, not an object; write one object "
                   f"per step, e.g. {{\"step\": 10, \"loss\": 2.3}}")
            raise RunLogError(msg)
        if "step" not in entry:
            msg = f"{where}: no 'step' key; each line carries the step it was logged at"
            raise RunLogError(msg)
        step = step_of(entry["step"], where)
        wall = next((number(entry[k], f"{where}.{k}") for k in _TIME_KEYS if k in entry), None)
        for key, value in entry.items():
            if key != "step" and key not in _TIME_KEYS:
                raw[key].append(Point(step, number(value, f"{where}.{key}"), wall))
    series = nonempty(build_series(raw, units, file), file, "metric lines")
    return RunLog(path, "jsonl", series, (file,), {})
