"""PyTorch Lightning ``CSVLogger`` folders: ``metrics.csv`` and ``hparams.yaml``.

``metrics.csv`` has a header row naming every metric ever logged plus ``step`` (and usually
``epoch``); each row is one ``log_metrics`` call, with empty cells for the metrics not logged in
it. It is read with the stdlib csv module; ``hparams.yaml`` with :mod:`harness.safeyaml`. A row
with more or fewer cells than the header, a missing ``step`` column, or a cell that is not a
number is a :class:`RunLogError` naming the file and the line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from harness.runs.logs import (
    Point,
    RunLog,
    RunLogError,
    build_series,
    nonempty,
    require_file,
    step_of,
    whole_lines,
)
from harness.safeyaml import YamlError, load_yaml
from harness.units import Unit

__all__ = ["read_csv_log"]

_TIME_KEYS = ("wall_time", "time", "timestamp")


def _float(cell: str, where: str) -> float:
    try:
        return float(cell)
    except ValueError:
        msg = f"{where}: {cell!r} is not a number; write the metric's value as a number"
        raise RunLogError(msg) from None


def read_csv_log(path: Path, units: dict[str, Unit]) -> RunLog:
    """Read a CSVLogger version folder (``metrics.csv``), or a metrics CSV file itself."""
    file = path if path.is_file() else path / "metrics.csv"
    if not file.is_file():
        msg = (f"{path}: no metrics.csv here; point the subject's path at the CSVLogger "
               f"version_N folder")
        raise RunLogError(msg)
    data = require_file(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = data[:exc.start].count(b"\n") + 1
        msg = f"{file}: line {at}: not UTF-8; the log is damaged, write it again"
        raise RunLogError(msg) from None
    whole_lines(text, file)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header:
            msg = f"{file}: line 1: no header row; the file is empty or truncated"
            raise RunLogError(msg)
        if "step" not in header:
            msg = (f"{file}: line 1: no 'step' column (columns: {', '.join(header)}); "
                   f"a CSVLogger metrics.csv has one: add it or log with the CSVLogger")
            raise RunLogError(msg)
        if len(set(header)) != len(header) or any(not h for h in header):
            msg = f"{file}: line 1: a column name is empty or repeated; fix the header row"
            raise RunLogError(msg)
        raw: dict[str, list[Point]] = {h: [] for h in header
                                       if h != "step" and h not in _TIME_KEYS}
        rows = 0
        for row in reader:
            where = f"{file}: line {reader.line_num}"
            if not row:
                continue
            if len(row) != len(header):
                msg = (f"{where}: {len(row)} cells for {len(header)} columns; the row is "
                       f"cut short or has extra cells: every row has one cell per column")
                raise RunLogError(msg)
            cells = dict(zip(header, row, strict=True))
            if not cells["step"]:
                msg = f"{where}: the 'step' cell is empty; every row carries its step"
                raise RunLogError(msg)
            step = step_of(_float(cells["step"], f"{where}: column 'step'"), where)
            wall = next((_float(cells[k], f"{where}: column {k!r}") for k in _TIME_KEYS
                         if cells.get(k)), None)
            for key, cell in cells.items():
                if key != "step" and key not in _TIME_KEYS and cell != "":
                    raw[key].append(Point(step, _float(cell, f"{where}: column {key!r}"), wall))
            rows += 1
    except csv.Error as exc:
        msg = f"{file}: line {reader.line_num}: not valid CSV ({exc}); write the file again"
        raise RunLogError(msg) from None
    series = nonempty(build_series(raw, units, file), file, "metric rows")
    files = [file]
    metadata: dict[str, Any] = {"rows": rows}
    hparams = file.parent / "hparams.yaml"
    if hparams.is_file():
        try:
            metadata["hparams"] = load_yaml(hparams)
        except YamlError as exc:
            msg = f"{hparams}: {exc}"
            raise RunLogError(msg) from None
        files.append(hparams)
    return RunLog(path, "csv", series, tuple(files), metadata)
