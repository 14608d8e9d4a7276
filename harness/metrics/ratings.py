"""Rating sheets: human (or labelled simulated) Likert ratings of paired system outputs.

A subject of kind ``rating-sheet`` names a sheet and what to compare::

    [tool.falsify.subjects.human-eval]
    kind = "rating-sheet"
    path = "eval/ratings.xlsx"     # or .csv: columns rater, item, system, dimension, score
    tuned = "finetuned"            # the system label of the fine-tuned system
    baseline = "base"              # ... and of the system it is compared with
    dimension = "fluency"          # the dimension the claim is about
    scale = [1, 5]                 # optional: the Likert scale (default 1 to 5)
    simulated = "how they were made"  # only for ratings not made by people: shown everywhere

Every row is checked: a missing column, a score that is not a whole number on the scale, a row
rated twice, or a rater who rated an item for one of the two systems but not the other is an
error naming the file, the row (as a spreadsheet numbers it: the header is row 1) and the fix.
XLSX is read with openpyxl (its first sheet); CSV as UTF-8, comma separated.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.workspace import SubjectSpec, Workspace, WorkspaceError

__all__ = ["COLUMNS", "Rating", "RatingSheet", "agreement_alpha", "load_rating_sheet",
           "paired_differences", "read_ratings"]

COLUMNS = ("rater", "item", "system", "dimension", "score")
MAX_ROWS = 1_000_000  # a rating sheet is thousands of rows; a million is a wrong file


@dataclass(frozen=True)
class Rating:
    row: int  # the spreadsheet row (header = 1)
    rater: str
    item: str
    system: str
    dimension: str
    score: int


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _rows(path: Path) -> Iterable[tuple[int, list[str]]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile, KeyError, InvalidFileException
            msg = f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {exc})"
            raise WorkspaceError(msg) from exc
        try:
            for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), 1):
                yield number, [_cell(v) for v in values]
        finally:
            book.close()
        return
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        msg = f"cannot read rating sheet {path}: {exc}"
        raise WorkspaceError(msg) from exc
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text ({exc}); save the sheet as CSV UTF-8 or as .xlsx"
        raise WorkspaceError(msg) from exc
    try:
        for number, values in enumerate(csv.reader(io.StringIO(text, newline="")), 1):
            yield number, [v.strip() for v in values]
    except csv.Error as exc:
        msg = f"{path}: not a CSV file ({exc})"
        raise WorkspaceError(msg) from exc


def read_ratings(path: Path, scale: tuple[int, int] = (1, 5)) -> list[Rating]:
    """Every rating in the sheet, each row checked; errors name the file and the row."""
    rows = iter(_rows(path))
    header = next(rows, None)
    names = [v.lower() for v in header[1]] if header else []
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        msg = (f"{path}: row 1 must name the columns {', '.join(COLUMNS)}; missing "
               f"{', '.join(missing)} (found {names[:8]})")
        raise WorkspaceError(msg)
    at = {c: names.index(c) for c in COLUMNS}
    low, high = scale
    out: list[Rating] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for number, values in rows:
        if not any(values):
            continue
        if number > MAX_ROWS:
            msg = f"{path}: more than {MAX_ROWS} rows; is this a rating sheet?"
            raise WorkspaceError(msg)
        cells = {c: values[i] if i < len(values) else "" for c, i in at.items()}
        where = f"{path}: row {number}"
        empty = [c for c in COLUMNS if not cells[c]]
        if empty:
            msg = f"{where}: empty {', '.join(empty)}; every rating names {', '.join(COLUMNS)}"
            raise WorkspaceError(msg)
        try:
            score = int(cells["score"])
        except ValueError:
            msg = (f"{where}: score {cells['score']!r} is not a whole number; a Likert score is "
                   f"one of {low}..{high}")
            raise WorkspaceError(msg) from None
        if not low <= score <= high:
            msg = f"{where}: score {score} is off the scale {low}..{high}"
            raise WorkspaceError(msg)
        key = (cells["rater"], cells["item"], cells["system"], cells["dimension"])
        if key in seen:
            msg = (f"{where}: rater {key[0]!r} rated item {key[1]!r} of system {key[2]!r} on "
                   f"{key[3]!r} twice (first in row {seen[key]}); keep one row")
            raise WorkspaceError(msg)
        seen[key] = number
        out.append(Rating(number, *key, score))
    if not out:
        msg = f"{path}: no ratings below the header"
        raise WorkspaceError(msg)
    return out


@dataclass(frozen=True)
class RatingSheet:
    id: str
    path: Path
    tuned: str
    baseline: str
    dimension: str
    scale: tuple[int, int]
    simulated: str | None  # how simulated ratings were made; None for ratings by people

    def ratings(self) -> list[Rating]:
        """The sheet's ratings on the claim's dimension for the two systems, checked."""
        every = read_ratings(self.path, self.scale)
        systems = {r.system for r in every}
        for label, role in ((self.tuned, "tuned"), (self.baseline, "baseline")):
            if label not in systems:
                msg = (f"{self.path}: no rating of system {label!r} (the subject's {role}); the "
                       f"sheet's systems are {sorted(systems)}")
                raise WorkspaceError(msg)
        dims = {r.dimension for r in every}
        if self.dimension not in dims:
            msg = (f"{self.path}: no rating on dimension {self.dimension!r}; the sheet's "
                   f"dimensions are {sorted(dims)}")
            raise WorkspaceError(msg)
        return [r for r in every if r.dimension == self.dimension
                and r.system in (self.tuned, self.baseline)]


def paired_differences(sheet: RatingSheet, ratings: Sequence[Rating]) -> dict[str, float]:
    """Per item: the mean over raters of (tuned score - baseline score). A rater who rated an
    item for one system and not the other is an error naming the row."""
    by: dict[tuple[str, str], dict[str, Rating]] = {}
    for r in ratings:
        by.setdefault((r.rater, r.item), {})[r.system] = r
    diffs: dict[str, list[int]] = {}
    for (rater, item), pair in sorted(by.items()):
        if len(pair) != 2:
            (only,) = pair.values()
            other = sheet.baseline if only.system == sheet.tuned else sheet.tuned
            msg = (f"{sheet.path}: row {only.row}: rater {rater!r} rated item {item!r} for "
                   f"{only.system!r} but not for {other!r} on {sheet.dimension!r}; a paired "
                   f"comparison needs both")
            raise WorkspaceError(msg)
        diffs.setdefault(item, []).append(pair[sheet.tuned].score - pair[sheet.baseline].score)
    return {item: float(np.mean(d)) for item, d in diffs.items()}


def agreement_alpha(ratings: Sequence[Rating]) -> float:
    """Krippendorff's alpha (ordinal) of the raters over every (item, system) they scored."""
    import krippendorff

    raters = sorted({r.rater for r in ratings})
    units = sorted({(r.item, r.system) for r in ratings})
    col = {u: i for i, u in enumerate(units)}
    data = np.full((len(raters), len(units)), np.nan)
    for r in ratings:
        data[raters.index(r.rater), col[(r.item, r.system)]] = r.score
    if len(raters) < 2 or len(np.unique(data[~np.isnan(data)])) < 2:
        return float("nan")  # one rater, or one value: agreement is undefined
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))


def _label(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        msg = f"{where}: a rating-sheet needs {key} = \"<label>\", got {value!r}"
        raise WorkspaceError(msg)
    return value


def load_rating_sheet(spec: SubjectSpec, workspace: Workspace) -> RatingSheet:
    """Workspace loader for ``kind = "rating-sheet"``."""
    where = spec.where(workspace)
    path = Path(_label(where, "path", spec.options.get("path")))
    tuned = _label(where, "tuned", spec.options.get("tuned"))
    baseline = _label(where, "baseline", spec.options.get("baseline"))
    dimension = _label(where, "dimension", spec.options.get("dimension"))
    if tuned == baseline:
        msg = f"{where}: tuned and baseline are both {tuned!r}; name two systems"
        raise WorkspaceError(msg)
    scale = spec.options.get("scale", [1, 5])
    ok = (isinstance(scale, list) and len(scale) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in scale)
          and scale[0] < scale[1])
    if not ok:
        msg = f"{where}: scale must be [lowest, highest] whole numbers, e.g. [1, 5]; got {scale!r}"
        raise WorkspaceError(msg)
    simulated = spec.options.get("simulated")
    if simulated is not None and (not isinstance(simulated, str) or not simulated.strip()):
        msg = f"{where}: simulated must say how the ratings were made, got {simulated!r}"
        raise WorkspaceError(msg)
    return RatingSheet(spec.id, path if path.is_absolute() else workspace.root / path, tuned,
                       baseline, dimension, (scale[0], scale[1]), simulated)
