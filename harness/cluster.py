"""The falsifier suite on a Ray cluster: ``falsify cluster run``.

Plan. The driver asks pytest which items to run (``--collect-only`` over the workspace with the
user's pytest arguments, so ``-m live``, ``--claim``, ``--subject`` and ``--falsify-select=stale``
all apply) and groups them by subject, as ``--dist loadgroup`` does on one machine, so that a
task loads its model once. Each group is one Ray task reserving the resources its subject
declares (``resources = {cpus, gpus, memory_gb}`` on the subject's config table; 1 CPU else).

Task. On its node, a task runs pytest on its node ids in a subprocess that writes into a fresh
ledger folder of its own (its own session, so its own segment, signed by the key the node finds
the usual way). Only when that pytest has ended does the task return the bytes of its segments
and signatures; the driver copies them into its ledger with :func:`harness.ledger.merge` (one
atomic rename per file). So no record is lost, duplicated or torn:

- a task whose node dies or whose pytest is killed returns nothing: none of its records reach
  the driver's ledger, and the driver submits it once more (``retries``, any node);
- after the last attempt, each of its items is recorded ERROR with the cause of every attempt,
  by a local pytest run with ``--falsify-lost`` (:mod:`harness.cluster_hooks`), which judges
  without loading anything and records like any run: claim hash, code identity, provenance;
- an item a finished task did not record (pytest stopped early: a usage error, an interrupt) is
  recorded ERROR the same way, with pytest's exit code and last output lines;
- a group no node of the cluster can hold (more GPUs than any node has) is ERROR at once, rather
  than waiting forever for a node that will never come.

Why Ray: scheduling on declared resources, detecting dead nodes and workers, ``ray://`` client
connections and shipping the workspace (``runtime_env`` ``working_dir``) to a cluster without a
shared filesystem are what Ray does well. What is written here is only falsify's part: which
items, grouped how, and where their records go. Ray's own task retries are not used: the
driver resubmits, so it can name the node and the cause of every failed attempt in the record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ClusterError", "ClusterReport", "Group", "collect", "groups", "run"]

# Variables the driver hands to every task's pytest: falsify's own (signing key, cache, CI
# honesty rules), the import path, and the thread counts a model's speed depends on.
_PASSED_ENV = ("PYTHONPATH", "CI", "PYTHONHASHSEED")
_TAIL = 1500  # characters of a failed pytest's output kept in the cause


class ClusterError(Exception):
    """The run cannot start (Ray missing, no address, collection failed): a usage error."""


@dataclass(frozen=True)
class Group:
    """One task: the items of one subject and what that subject declares it needs."""

    subject: str
    nodeids: tuple[str, ...]
    resources: dict[str, float]

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"num_cpus": self.resources.get("cpus", 1.0),
                                "num_gpus": self.resources.get("gpus", 0.0), "max_retries": 0}
        if self.resources.get("memory_gb"):
            opts["memory"] = int(self.resources["memory_gb"] * 2**30)
        return opts


@dataclass
class ClusterReport:
    """What a cluster run did, for the command's summary and the tests."""

    items: int = 0
    groups: int = 0
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # merged, by node id
    lost: dict[str, str] = field(default_factory=dict)  # nodeid -> cause, recorded ERROR
    attempts: list[dict[str, Any]] = field(default_factory=list)  # one row per task attempt
    segments: list[str] = field(default_factory=list)


def _pytest_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith("FALSIFY_") or k in _PASSED_ENV}
    return {**env, **(extra or {})}


def collect(root: Path, pytest_args: Sequence[str]) -> list[dict[str, str]]:
    """The claim-bound items ``pytest <pytest_args>`` would run in ``root``, without running
    them: ``[{"nodeid", "claim", "subject"}]``."""
    with tempfile.TemporaryDirectory(prefix="falsify-items-") as tmp:
        out = Path(tmp) / "items.json"
        cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
               f"--falsify-items={out}", *pytest_args]
        done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 5) or not out.exists():
            tail = (done.stdout + done.stderr)[-_TAIL:]
            msg = (f"collecting the items in {root} failed (pytest exit {done.returncode}); "
                   f"nothing was run or recorded:\n{tail}")
            raise ClusterError(msg)
        rows: list[dict[str, str]] = json.loads(out.read_text("utf-8"))
    return rows


def groups(items: Sequence[dict[str, str]],
           resources: Callable[[str], dict[str, float]]) -> list[Group]:
    """Items grouped by subject (one model load per task), in the order pytest collected them."""
    by: dict[str, list[str]] = {}
    for row in items:
        by.setdefault(row["subject"], []).append(row["nodeid"])
    return [Group(s, tuple(ids), resources(s)) for s, ids in by.items()]


def run_group(root: str, nodeids: Sequence[str], pytest_args: Sequence[str],
              env: dict[str, str]) -> dict[str, Any]:
    """The task body, on a cluster node: pytest over ``nodeids`` into a private ledger folder;
    the segments and signatures it wrote come back as bytes once it has ended.

    A pytest killed by a signal raises (the driver retries); any other end returns."""
    import ray

    from harness.procs import preexec

    node = ray.get_runtime_context().get_node_id()
    here = Path(root if root != "." else os.getcwd())
    with tempfile.TemporaryDirectory(prefix="falsify-task-") as tmp:
        ledger = Path(tmp) / "ledger"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               f"--ledger={ledger}", *pytest_args, *nodeids]
        child_env = {**os.environ, **env, "FALSIFY_CLUSTER_NODE": node}
        done = subprocess.run(cmd, cwd=here, capture_output=True, text=True, check=False,
                              env=child_env, preexec_fn=preexec())
        tail = (done.stdout + done.stderr)[-_TAIL:]
        if done.returncode < 0:
            name = signal.Signals(-done.returncode).name
            msg = f"pytest was killed by {name} on node {node[:12]}"
            raise RuntimeError(msg)
        files = {p.name: p.read_bytes() for p in sorted(ledger.glob("*")) if p.is_file()}
    return {"node": node, "returncode": done.returncode, "files": files, "tail": tail}


def _recorded(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """node id -> what its record says (claim, subject, role, expect, verdict)."""
    out = {}
    for name, data in files.items():
        if name.endswith(".jsonl"):
            for line in data.splitlines():
                if line.strip():
                    rec = json.loads(line)
                    out[rec["node_id"]] = {k: rec.get(k) for k in
                                           ("claim", "subject", "role", "expect", "verdict")}
    return out


def _merge_files(files: dict[str, bytes], ledger_dir: Path) -> list[str]:
    from harness.ledger import merge

    with tempfile.TemporaryDirectory(prefix="falsify-merge-") as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        report = merge(Path(tmp), ledger_dir)
    return [*report.copied, *report.extended]


def _cause(exc: BaseException) -> str:
    """The one line a failed attempt leaves in the record (Ray's errors carry tracebacks)."""
    from ray.exceptions import RayTaskError

    if isinstance(exc, RayTaskError) and exc.cause is not None:
        exc = exc.cause
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[-1] if isinstance(exc, RuntimeError) and lines else (lines[0] if lines else "")
    return f"{type(exc).__name__}: {text[:300]}"


def _placeable(group: Group, nodes: list[dict[str, Any]]) -> str | None:
    """Why no alive node can hold the group, or None."""
    need = {"CPU": group.resources.get("cpus", 1.0), "GPU": group.resources.get("gpus", 0.0)}
    if group.resources.get("memory_gb"):
        need["memory"] = group.resources["memory_gb"] * 2**30
    for node in nodes:
        have = node.get("Resources", {})
        if node.get("Alive") and all(have.get(k, 0.0) >= v for k, v in need.items() if v):
            return None
    wanted = ", ".join(f"{k}={v:g}" for k, v in group.resources.items())
    return (f"no node of the cluster can hold subject {group.subject!r} ({wanted}); lower its "
            f"resources in the config or add a node that has them")


def run(root: Path, ledger_dir: Path, pytest_args: Sequence[str], *, address: str | None,
        retries: int = 1, ship: bool = False,
        progress: Callable[[str], None] = print) -> ClusterReport:
    """Run the selected items on the Ray cluster at ``address`` (None: a local Ray started for
    this run) and merge every task's segment into ``ledger_dir``."""
    try:
        import ray
    except ImportError:
        msg = "Ray is not installed; pip install 'falsify[cluster]' (ray) on the driver and nodes"
        raise ClusterError(msg) from None
    from harness.workspace import Workspace

    workspace = Workspace.discover(root)
    items = collect(root, pytest_args)
    plan = groups(items, workspace.resources)
    report = ClusterReport(items=len(items), groups=len(plan))
    if not plan:
        return report
    extra = _task_args(pytest_args, root)
    init: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if ship:  # no shared filesystem: Ray uploads the workspace to every node
        init["runtime_env"] = {"working_dir": str(root), "excludes": [
            ".git", ".venv", "evidence/ledger", "**/__pycache__", ".falsify-cache"]}
    if address is None:
        init["include_dashboard"] = False
    ray.init(address=address, **init)
    try:
        _drive(ray, plan, root, ledger_dir, extra, retries, ship, report, progress)
    finally:
        ray.shutdown()
    if report.lost:
        _record_lost(root, ledger_dir, extra, report.lost)
    return report


def _task_args(pytest_args: Sequence[str], root: Path) -> list[str]:
    """The user's pytest arguments that say how an item runs (``-m``, ``-k``, ``-x``...). Paths
    and the selection options only decide what is collected, which the node ids now fix, and
    ``--falsify-select=stale`` would be judged against the task's empty ledger."""
    out: list[str] = []
    skip = False
    for arg in pytest_args:
        if skip:
            skip = False
            continue
        if arg in ("--falsify-select", "--ledger"):
            skip = True
            continue
        if arg.startswith(("--falsify-select=", "--ledger=")):
            continue
        if not arg.startswith("-") and (root / arg.split("::")[0]).exists():
            continue
        out.append(arg)
    return out


def _drive(ray: Any, plan: list[Group], root: Path, ledger_dir: Path, extra: list[str],
           retries: int, ship: bool, report: ClusterReport,
           progress: Callable[[str], None]) -> None:
    task = ray.remote(run_group)
    env = _pytest_env()
    where = "." if ship else str(root)
    nodes = ray.nodes()
    failures: dict[str, list[str]] = {}
    pending: dict[Any, tuple[Group, int]] = {}

    def submit(group: Group, attempt: int) -> None:
        ref = task.options(**group.options()).remote(where, group.nodeids, extra, env)
        pending[ref] = (group, attempt)

    for group in plan:
        unplaceable = _placeable(group, nodes)
        if unplaceable:
            report.lost.update(dict.fromkeys(group.nodeids, unplaceable))
            progress(f"  {group.subject}: ERROR, {unplaceable}")
        else:
            submit(group, 1)
    done_groups, started = 0, time.monotonic()
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        group, attempt = pending.pop(ready[0])
        try:
            out = ray.get(ready[0])
        except ray.exceptions.RayError as exc:
            cause = f"attempt {attempt}: {_cause(exc)}"
            failures.setdefault(group.subject, []).append(cause)
            report.attempts.append({"subject": group.subject, "attempt": attempt, "ok": False,
                                    "cause": cause})
            if attempt <= retries:
                progress(f"  {group.subject}: {cause}; retrying")
                submit(group, attempt + 1)
            else:
                why = (f"the cluster lost this item on every attempt "
                       f"({'; '.join(failures[group.subject])}); nothing of those attempts was "
                       f"recorded")
                report.lost.update(dict.fromkeys(group.nodeids, why))
                progress(f"  {group.subject}: ERROR after {attempt} attempt(s)")
            continue
        report.segments += _merge_files(out["files"], ledger_dir)
        recorded = _recorded(out["files"])
        report.verdicts.update(recorded)
        report.attempts.append({"subject": group.subject, "attempt": attempt, "ok": True,
                                "node": out["node"], "records": len(recorded),
                                "returncode": out["returncode"]})
        missing = [n for n in group.nodeids if n not in recorded]
        if missing:
            why = (f"the task's pytest on node {out['node'][:12]} ended with exit code "
                   f"{out['returncode']} before recording this item: {out['tail'][-300:]}")
            report.lost.update(dict.fromkeys(missing, why))
        done_groups += 1
        progress(f"  [{done_groups}/{len(plan)}] {group.subject}: {len(recorded)} record(s) "
                 f"from node {out['node'][:12]} (attempt {attempt}, "
                 f"{time.monotonic() - started:.0f}s into the run)")


def _record_lost(root: Path, ledger_dir: Path, extra: list[str], lost: dict[str, str]) -> None:
    """ERROR records for the lost items, judged and written by a local pytest run."""
    with tempfile.TemporaryDirectory(prefix="falsify-lost-") as tmp:
        causes = Path(tmp) / "lost.json"
        causes.write_text(json.dumps(lost), "utf-8")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               f"--ledger={ledger_dir}", f"--falsify-lost={causes}", *extra, *lost]
        subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
