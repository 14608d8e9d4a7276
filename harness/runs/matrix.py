"""Run matrices: a folder of run bundles that should cover script × mode × seed.

The subject (workspace config or demo registry) names the folder and the grid it must cover::

    [tool.falsify.subjects.my-runs]
    kind = "run-matrix"
    path = "runs/"                      # one bundle folder per run, any names
    scripts = ["nqo", "latn"]
    modes = ["baseline", "trajectory", "tar", "ttt"]
    seeds = [0, 1, 2]

A bundle's cell is what its results.json says (script, mode, seed), not its folder name. A cell
is *missing* when no bundle claims it, and *incomplete* when the bundle that claims it does not
read cleanly (an artifact missing, no row-level predictions, any malformed row; see
:func:`harness.runs.bundle.read_bundle`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.runs.bundle import read_bundle
from harness.runs.validation import BundleError
from harness.workspace import SubjectSpec, SubjectUnavailable, Workspace, WorkspaceError

__all__ = ["Cell", "CellProblem", "MatrixReport", "RunMatrix", "load_run_matrix"]


@dataclass(frozen=True, order=True)
class Cell:
    script: str
    mode: str
    seed: int

    def __str__(self) -> str:
        return f"{self.script} × {self.mode} × seed {self.seed}"


@dataclass(frozen=True)
class CellProblem:
    """Why a cell is incomplete: the bundle folder and its problems (first few, and a count)."""

    cell: Cell
    folder: Path
    problems: tuple[str, ...]
    total: int

    def __str__(self) -> str:
        more = f" (+{self.total - len(self.problems)} more)" if self.total > len(
            self.problems) else ""
        return f"{self.cell} ({self.folder.name}): {'; '.join(self.problems)}{more}"


@dataclass(frozen=True)
class MatrixReport:
    expected: tuple[Cell, ...]
    complete: tuple[Cell, ...]
    missing: tuple[Cell, ...]
    incomplete: tuple[CellProblem, ...]
    unplaced: tuple[str, ...]  # folders that claim no cell of the grid, or the same cell twice


@dataclass(frozen=True)
class RunMatrix:
    root: Path
    scripts: tuple[str, ...]
    modes: tuple[str, ...]
    seeds: tuple[int, ...]

    @property
    def expected(self) -> tuple[Cell, ...]:
        return tuple(Cell(s, m, k) for s in self.scripts for m in self.modes for k in self.seeds)

    def check(self, shown: int = 3) -> MatrixReport:
        """Place every bundle folder in the grid and read each placed bundle in full."""
        placed, unplaced = self._place()
        complete: list[Cell] = []
        incomplete: list[CellProblem] = []
        for cell in self.expected:
            folder = placed.get(cell)
            if folder is None:
                continue
            try:
                read_bundle(folder)
                complete.append(cell)
            except (BundleError, SubjectUnavailable) as exc:
                found = [str(p) for p in getattr(exc, "problems", ())] or [str(exc)]
                incomplete.append(CellProblem(cell, folder, tuple(found[:shown]), len(found)))
        missing = tuple(c for c in self.expected if c not in placed)
        return MatrixReport(self.expected, tuple(complete), missing, tuple(incomplete),
                            tuple(unplaced))

    def _place(self) -> tuple[dict[Cell, Path], list[str]]:
        placed: dict[Cell, Path] = {}
        unplaced: list[str] = []
        grid = set(self.expected)
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            cell = _cell_of(folder)
            if cell is None or cell not in grid:
                what = "no readable results.json" if cell is None else f"{cell} is not in the grid"
                unplaced.append(f"{folder.name}: {what}")
            elif cell in placed:
                unplaced.append(f"{folder.name}: {cell} already held by {placed[cell].name}")
            else:
                placed[cell] = folder
        return placed, unplaced


def _cell_of(folder: Path) -> Cell | None:
    try:
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        return Cell(str(data["script"]), str(data["mode"]), int(data["seed"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _axis(spec: SubjectSpec, key: str, kind: type) -> tuple[Any, ...]:
    value = spec.options.get(key)
    ok = isinstance(value, Sequence) and not isinstance(value, str) and value and all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value)
    if not ok:
        msg = (f"subject {spec.id!r} (run-matrix) needs {key} = a non-empty list of "
               f"{kind.__name__}s, e.g. {key} = {_EXAMPLE[key]}")
        raise WorkspaceError(msg)
    return tuple(value)  # type: ignore[arg-type]


_EXAMPLE: Mapping[str, str] = {"scripts": '["nqo", "latn"]', "modes": '["baseline", "tar"]',
                               "seeds": "[0, 1, 2]"}


def load_run_matrix(spec: SubjectSpec, workspace: Workspace) -> RunMatrix:
    """Workspace loader for kind ``run-matrix``: options path, scripts, modes, seeds."""
    root = spec.path()
    if not root.is_dir():
        msg = f"run-matrix folder {root} does not exist"
        raise SubjectUnavailable(msg)
    return RunMatrix(root, _axis(spec, "scripts", str), _axis(spec, "modes", str),
                     _axis(spec, "seeds", int))
