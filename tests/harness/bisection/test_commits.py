"""Commit bisection over a real git history: worktrees, subprocess falsifier runs, the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from harness.bisect import Outcome, bisect_commits, run_bound
from harness.bisect.commits import falsifier_nodes
from harness.cli import main
from harness.ledger import Ledger
from tests.harness.bisection.gitrepo import make_history

# The falsifier runs in a fresh interpreter per commit; the plugins the toy falsifier does not
# use cost seconds of start-up each on a loaded CI machine.
FAST = "-p no:hypothesispytest -p no:benchmark -p no:xdist -p no:anyio"


@pytest.fixture(autouse=True)
def _fast_subprocess_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", FAST)


def _bisect(root: Path, shas: list[str], **kwargs: object) -> object:
    return bisect_commits(root, "TOY-DOUBLE", shas[0], shas[-1], ["toy-double"],
                          ledger_dir=root.parent / "ledger", cache_dir=root.parent / "cache",
                          **kwargs)  # type: ignore[arg-type]


def test_names_the_planted_commit_within_the_bound(tmp_path: Path) -> None:
    """20 commits, a regression planted in the 13th: named after at most ceil(log2 20) + 1 runs."""
    root = tmp_path / "repo"
    shas = make_history(root, n=20, regression=13)
    result = _bisect(root, shas)
    assert result.first_bad == shas[13]
    assert len(result.runs) <= run_bound(20) == 6
    assert {r.outcome for r in result.runs} == {Outcome.GOOD, Outcome.BAD}
    records = Ledger(tmp_path / "ledger").records()
    assert len(records) == len(result.runs)
    assert {r.provenance["git"]["commit"] for r in records} == {r.sha for r in result.runs}
    assert all(r.provenance["git"]["dirty"] is False for r in records)
    by_commit = {r.provenance["git"]["commit"]: r.verdict.value for r in records}
    assert by_commit[shas[13]] == "FAIL"
    assert by_commit[shas[-1]] == "FAIL"
    with git.Repo(root) as repo:
        assert len(repo.git.worktree("list").splitlines()) == 1  # every worktree removed


def test_commit_where_the_falsifier_errors_is_skipped(tmp_path: Path) -> None:
    """A commit that does not import is skipped like `git bisect skip`; a neighbour is tried."""
    root = tmp_path / "repo"
    shas = make_history(root, n=10, regression=6, broken=range(7, 8))
    result = _bisect(root, shas)
    assert result.first_bad == shas[6]
    skipped = [r for r in result.runs if r.outcome is Outcome.SKIP]
    assert [r.sha for r in skipped] == [shas[7]]
    assert skipped[0].verdicts == (("toy-double", "ERROR"),)


def test_skips_next_to_the_regression_leave_candidates(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """When only skipped commits separate good from bad, every possibility is named; exit 1."""
    root = tmp_path / "repo"
    shas = make_history(root, n=4, regression=3, broken=range(2, 3))
    code = main(["bisect", "commits", "TOY-DOUBLE", "--good", shas[0], "--bad", shas[-1],
                 "--subject", "toy-double", "--root", str(root), "--ledger",
                 str(tmp_path / "ledger"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["first_bad"] is None
    assert data["candidates"] == [shas[2], shas[3]]


def test_falsifier_nodes_per_subject(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_history(root, n=1)
    nodes = falsifier_nodes(root, root / "falsifiers", "TOY-DOUBLE", ["toy-double", "toy-half"])
    assert nodes == ["falsifiers/test_toy.py::test_double[toy-double]",
                     "falsifiers/test_toy.py::test_double[toy-half]"]
    assert falsifier_nodes(root, root / "falsifiers", "OTHER", ["toy-double"]) == []


def test_good_must_be_an_ancestor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "repo"
    shas = make_history(root, n=2)
    code = main(["bisect", "commits", "TOY-DOUBLE", "--good", shas[-1], "--bad", shas[0],
                 "--root", str(root)])
    assert code == 2
    assert "is not an ancestor of --bad" in capsys.readouterr().err
