"""Commit bisection: which commit between a good and a bad one made a claim fail?

Every probed commit is checked out in its own ``git worktree`` (detached, removed afterwards) and
the claim's falsifier runs there in a fresh interpreter::

    python -m pytest <the claim's falsifier nodes> -m live --ledger <LEDGER> -p no:cacheprovider

with the worktree as the working directory, so the record's git provenance is that commit and the
code under test is that commit's code. The verdict is read back from the ledger. PASS is good,
FAIL is bad; any other verdict (ERROR, SKIPPED, SUSPECT, INCONCLUSIVE), a collection error or a
missing falsifier means the falsifier could not tell, and the commit is skipped as
``git bisect skip`` would.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.bisect.search import Outcome, SearchResult, bisect_first_bad, run_bound
from harness.records import Record, Status
from harness.workspace import demo_cache_dir

__all__ = ["BisectError", "CommitBisection", "CommitRun", "bisect_commits", "falsifier_args",
           "falsifier_nodes"]


class BisectError(ValueError):
    """Bisection cannot start or its evidence cannot be trusted: says why and the fix."""


@dataclass(frozen=True)
class CommitRun:
    """The falsifier's verdicts at one commit and what they mean for the search."""

    sha: str
    summary: str
    outcome: Outcome
    verdicts: tuple[tuple[str, str], ...]  # (subject, verdict)
    reasons: tuple[str, ...]
    records: tuple[str, ...]
    seconds: float


@dataclass(frozen=True)
class CommitBisection:
    claim: str
    subjects: tuple[str, ...]
    good: str
    bad: str
    commits: tuple[str, ...]  # oldest first; the last is ``bad``
    runs: tuple[CommitRun, ...]  # in the order they ran
    search: SearchResult

    @property
    def first_bad(self) -> str | None:
        index = self.search.first_bad
        return None if index is None else self.commits[index]

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(self.commits[i] for i in self.search.candidates)

    @property
    def bound(self) -> int:
        return run_bound(len(self.commits))

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim, "subjects": list(self.subjects), "good": self.good,
                "bad": self.bad, "commits": len(self.commits), "first_bad": self.first_bad,
                "candidates": list(self.candidates), "runs": len(self.runs), "bound": self.bound,
                "probes": [{"commit": r.sha, "summary": r.summary, "outcome": r.outcome.value,
                            "verdicts": dict(r.verdicts), "reasons": list(r.reasons),
                            "records": list(r.records), "seconds": r.seconds}
                           for r in self.runs]}


# --- falsifier nodes ---------------------------------------------------------------------------


def _claim_kwargs(decorator: ast.expr, claim_id: str) -> dict[str, Any] | None:
    """The keyword arguments of ``@...claim("CLAIM_ID", ...)``, or None for another decorator."""
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "claim" and decorator.args):
        return None
    first = decorator.args[0]
    if not (isinstance(first, ast.Constant) and first.value == claim_id):
        return None
    return {k.arg: k.value.value for k in decorator.keywords
            if k.arg and isinstance(k.value, ast.Constant)}


def _marked(body: Sequence[ast.stmt], claim_id: str,
            prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for node in body:
        if isinstance(node, ast.ClassDef):
            yield from _marked(node.body, claim_id, f"{prefix}{node.name}::")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for dec in node.decorator_list:
                kwargs = _claim_kwargs(dec, claim_id)
                if kwargs is not None:
                    yield f"{prefix}{node.name}", kwargs


def falsifier_nodes(root: Path, falsifiers_dir: Path, claim_id: str,
                    subjects: Sequence[str]) -> list[str]:
    """pytest node ids (relative to ``root``) of the claim's falsifiers, one per subject.

    Read with ``ast``, never imported. A falsifier bound to one subject
    (``claim("ID", subject="S")``) has no ``[S]`` in its node id.
    """
    nodes: list[str] = []
    for path in sorted(falsifiers_dir.rglob("test_*.py")) if falsifiers_dir.is_dir() else []:
        try:
            tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError):
            continue  # pytest reports it; the commit is then skipped
        rel = path.relative_to(root).as_posix()
        for name, kwargs in _marked(tree.body, claim_id, f"{rel}::"):
            only = kwargs.get("subject")
            if only is not None:
                nodes += [name] if only in subjects else []
            else:
                nodes += [f"{name}[{s}]" for s in subjects]
    return nodes


def falsifier_args(root: Path, falsifiers_dir: Path, claim_id: str,
                   subjects: Sequence[str]) -> tuple[list[str], list[str]]:
    """(targets, options): pytest arguments that run the claim's falsifiers on ``subjects``.

    The node ids of the project's own falsifiers; or, for a claim used from the library (its
    falsifier is collected with the falsifiers folder), the folder with ``--claim`` and
    ``--subject`` selection. No targets: there is no falsifier to run."""
    nodes = falsifier_nodes(root, falsifiers_dir, claim_id, subjects)
    if nodes or not falsifiers_dir.is_dir():
        return nodes, []
    options = ["--claim", claim_id]
    for subject in subjects:
        options += ["--subject", subject]
    return [falsifiers_dir.relative_to(root).as_posix()], options


# --- one run ---------------------------------------------------------------------------------


@contextmanager
def _worktree(repo: Any, sha: str) -> Iterator[Path]:
    """``sha`` checked out, detached, in a temporary worktree that is removed afterwards."""
    holder = Path(tempfile.mkdtemp(prefix="falsify-bisect-"))
    path = holder / sha[:12]
    repo.git.worktree("add", "--detach", str(path), sha)
    try:
        yield path
    finally:
        repo.git.worktree("remove", "--force", str(path))
        shutil.rmtree(holder, ignore_errors=True)


def _new_records(ledger_dir: Path, before: set[Path], claim_id: str, sha: str) -> list[Record]:
    from harness.ledger import LedgerTampered, segment_paths
    from harness.ledger.verify import LIVE_TAIL, check_segment

    found: list[Record] = []
    for segment in segment_paths(ledger_dir):
        if segment in before:
            continue
        checked = check_segment(segment, segment.read_bytes())  # the run's own segment, verified
        problems = [p for p in checked.problems if p.message != LIVE_TAIL]
        if problems:
            raise LedgerTampered(problems)
        for f in checked.found:
            record = Record.from_json(f.data)
            if record.claim == claim_id and record.kind == "claim":
                found.append(record)
    for record in found:
        commit = record.provenance.get("git", {}).get("commit")
        if commit != sha:
            msg = (f"record {record.id} of the run at {sha[:12]} names commit {commit}: its "
                   f"provenance is not the worktree's; the falsify plugin must find the workspace "
                   f"from pytest's rootdir (the worktree)")
            raise BisectError(msg)
    return found


@dataclass(frozen=True)
class RunSettings:
    claim: str
    subjects: tuple[str, ...]
    ledger_dir: Path
    cache_dir: Path
    timeout_s: float


def _pytest_env(settings: RunSettings) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("FALSIFY_CACHE", str(settings.cache_dir))  # reuse built demo subjects
    env.setdefault("FALSIFY_DEMO_CACHE", str(demo_cache_dir()))  # where this process has them
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave the worktree clean: provenance says dirty=False
    return env


def _judge_commit(records: Sequence[Record], subjects: Sequence[str],
                  problem: str) -> tuple[Outcome, list[tuple[str, str]], list[str]]:
    by_subject = {r.subject: r for r in records}
    verdicts = [(s, by_subject[s].verdict.value if s in by_subject else "none") for s in subjects]
    reasons = [f"{s}: {'; '.join(by_subject[s].reasons)}" for s in subjects if s in by_subject]
    if not by_subject:
        reasons.append(problem)
    statuses = {v for _, v in verdicts}
    if Status.FAIL.value in statuses:
        return Outcome.BAD, verdicts, reasons
    if statuses == {Status.PASS.value}:
        return Outcome.GOOD, verdicts, reasons
    return Outcome.SKIP, verdicts, reasons


def run_at_commit(repo: Any, sha: str, settings: RunSettings) -> CommitRun:
    """Check ``sha`` out in a worktree and run the claim's falsifier there."""
    from harness.workspace import Workspace, WorkspaceError

    start = time.perf_counter()
    commit = repo.commit(sha)
    records: list[Record] = []
    with _worktree(repo, sha) as tree:
        try:
            falsifiers = Workspace.discover(tree).falsifiers_dir
        except WorkspaceError as exc:
            problem, nodes = f"no falsify workspace at this commit: {exc}", []
        else:
            problem = f"no falsifier of {settings.claim} at this commit"
            targets, options = falsifier_args(tree, falsifiers, settings.claim,
                                              settings.subjects)
            nodes = [*targets, *options] if targets else []
        if nodes:
            records, problem = _run_pytest(tree, nodes, sha, settings)
    outcome, verdicts, reasons = _judge_commit(records, settings.subjects, problem)
    return CommitRun(sha, commit.summary, outcome, tuple(verdicts), tuple(reasons),
                     tuple(r.id for r in records), round(time.perf_counter() - start, 3))


def _run_pytest(tree: Path, nodes: Sequence[str], sha: str,
                settings: RunSettings) -> tuple[list[Record], str]:
    from harness.ledger import segment_paths

    before = set(segment_paths(settings.ledger_dir))
    command = [sys.executable, "-m", "pytest", *nodes, "-m", "live", "--ledger",
               str(settings.ledger_dir), "-p", "no:cacheprovider", "-q", "--no-header"]
    try:
        done = subprocess.run(command, cwd=tree, env=_pytest_env(settings), capture_output=True,
                              text=True, timeout=settings.timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return [], f"the falsifier ran past {settings.timeout_s:g} s"
    records = _new_records(settings.ledger_dir, before, settings.claim, sha)
    tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    return records, f"pytest exited {done.returncode} without a verdict: {tail}"


# --- the bisection ---------------------------------------------------------------------------


def _first_parent_range(repo: Any, good: str, bad: str) -> tuple[str, str, list[str]]:
    import git

    try:
        good_sha, bad_sha = repo.commit(good).hexsha, repo.commit(bad).hexsha
    except (git.BadName, ValueError) as exc:
        msg = f"cannot resolve revision: {exc}; pass commits, tags or branches of {repo.git_dir}"
        raise BisectError(msg) from None
    if not repo.is_ancestor(good_sha, bad_sha):
        msg = (f"--good {good} ({good_sha[:12]}) is not an ancestor of --bad {bad} "
               f"({bad_sha[:12]}); pass an older good commit")
        raise BisectError(msg)
    shas = [c.hexsha for c in repo.iter_commits(f"{good_sha}..{bad_sha}", first_parent=True)]
    if not shas:
        msg = f"--good and --bad are the same commit ({good_sha[:12]}): nothing to bisect"
        raise BisectError(msg)
    return good_sha, bad_sha, shas[::-1]


def bisect_commits(root: Path, claim_id: str, good: str, bad: str, subjects: Sequence[str], *,
                   ledger_dir: Path, cache_dir: Path, timeout_s: float = 3600.0,
                   progress: Any = None) -> CommitBisection:
    """The first commit (first-parent order) after ``good`` up to ``bad`` where the claim FAILs.

    ``progress(run)`` is called after each run.
    """
    import git

    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        msg = f"{root} is not inside a git repository; commit bisection needs one"
        raise BisectError(msg) from None
    with repo:
        good_sha, bad_sha, commits = _first_parent_range(repo, good, bad)
        settings = RunSettings(claim_id, tuple(subjects), ledger_dir, cache_dir, timeout_s)
        runs: list[CommitRun] = []

        def test(index: int) -> Outcome:
            run = run_at_commit(repo, commits[index], settings)
            runs.append(run)
            if progress is not None:
                progress(run)
            return run.outcome

        try:
            result = bisect_first_bad(len(commits), test)
        finally:
            repo.git.worktree("prune")
    return CommitBisection(claim_id, tuple(subjects), good_sha, bad_sha, tuple(commits),
                           tuple(runs), result)
