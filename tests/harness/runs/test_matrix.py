"""Run-matrix completeness: cells placed by results.json, missing and incomplete cells named."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.runs.matrix import Cell, RunMatrix, load_run_matrix
from harness.workspace import SubjectSpec, SubjectUnavailable, Workspace, WorkspaceError
from tests.harness.runs.kit import PAIRS, make_bundle

SCRIPTS, MODES, SEEDS = ("nqo", "latn"), ("baseline", "tar"), (0, 1)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for s in SCRIPTS:
        for m in MODES:
            for k in SEEDS:
                make_bundle(tmp_path / "runs" / f"run-{s}-{m}-{k}", PAIRS[:3], script=s, mode=m,
                            seed=k)
    return tmp_path / "runs"


def matrix(root: Path) -> RunMatrix:
    return RunMatrix(root, SCRIPTS, MODES, SEEDS)


def test_complete_matrix(root: Path) -> None:
    report = matrix(root).check()
    assert len(report.complete) == len(report.expected) == 8
    assert report.missing == report.incomplete == report.unplaced == ()


def test_missing_cell_is_named(root: Path) -> None:
    import shutil
    shutil.rmtree(root / "run-latn-tar-1")
    report = matrix(root).check()
    assert report.missing == (Cell("latn", "tar", 1),)
    assert str(report.missing[0]) == "latn × tar × seed 1"


def test_incomplete_cell_names_the_problem(root: Path) -> None:
    (root / "run-nqo-baseline-0" / "checkpoint.json").unlink()
    (root / "run-nqo-tar-1" / "test_predictions.jsonl").write_text("")
    report = matrix(root).check()
    named = {p.cell: str(p) for p in report.incomplete}
    assert set(named) == {Cell("nqo", "baseline", 0), Cell("nqo", "tar", 1)}
    assert "checkpoint.json:-: missing" in named[Cell("nqo", "baseline", 0)]
    assert "no rows" in named[Cell("nqo", "tar", 1)] or "test_rows" in named[Cell("nqo", "tar", 1)]


def test_folders_outside_the_grid_or_doubled_are_unplaced(root: Path) -> None:
    make_bundle(root / "zz-extra", PAIRS[:2], script="nqo", mode="ttt")
    make_bundle(root / "zz-double", PAIRS[:2], script="nqo", mode="tar", seed=0)
    (root / "zz-empty").mkdir()
    report = matrix(root).check()
    assert sorted(u.split(":")[0] for u in report.unplaced) == ["zz-double", "zz-empty",
                                                                  "zz-extra"]
    assert len(report.complete) == 8


def test_loader_validates_axes(root: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    spec = SubjectSpec("m", "run-matrix", {"path": str(root), "scripts": ["nqo"],
                                           "modes": ["tar"], "seeds": [0]})
    assert load_run_matrix(spec, ws).expected == (Cell("nqo", "tar", 0),)
    bad = SubjectSpec("m", "run-matrix", {"path": str(root), "scripts": "nqo",
                                          "modes": ["tar"], "seeds": [0]})
    with pytest.raises(WorkspaceError, match="scripts = a non-empty list of strs"):
        load_run_matrix(bad, ws)
    gone = SubjectSpec("m", "run-matrix", {"path": str(tmp_path / "no"), "scripts": ["a"],
                                           "modes": ["b"], "seeds": [0]})
    with pytest.raises(SubjectUnavailable):
        load_run_matrix(gone, ws)
