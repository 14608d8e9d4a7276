"""``falsify cluster run``: the selected falsifiers as Ray tasks (:mod:`harness.cluster`)."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from harness.cli import EXIT_OK, EXIT_PROBLEMS, UsageFailure, _ledger_dir, _workspace

__all__ = ["add_parsers"]


def cmd_cluster_run(args: argparse.Namespace) -> int:
    from harness.cluster import ClusterError, run

    ws = _workspace(args)
    if args.ledger:  # a writer, as pytest --ledger: it creates the folder it records into
        Path(args.ledger).mkdir(parents=True, exist_ok=True)
    ledger = _ledger_dir(ws, args)
    pytest_args = list(args.pytest_args)
    if pytest_args[:1] == ["--"]:
        pytest_args = pytest_args[1:]
    if not pytest_args:
        pytest_args = [str(ws.falsifiers_dir.relative_to(ws.root)), "-m", "live"]
    where = args.address or "a local Ray started for this run"
    print(f"falsify cluster: pytest {' '.join(pytest_args)} on {where}; records into {ledger}")
    try:
        report = run(ws.root, ledger, pytest_args, address=args.address, retries=args.retries,
                     ship=args.ship)
    except ClusterError as exc:
        raise UsageFailure(str(exc)) from None
    if not report.items:
        print("falsify cluster: no claim-bound item selected; nothing to run")
        return EXIT_OK
    counts = Counter(v["verdict"] for v in report.verdicts.values())
    if report.lost:
        counts["ERROR"] += len(report.lost)
    shown = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    retried = sum(1 for a in report.attempts if not a["ok"])
    print(f"falsify cluster: {report.items} item(s) in {report.groups} task(s) ({retried} failed "
          f"attempt(s)): {shown}; {len(report.segments)} segment(s) merged into {ledger}")
    for nodeid, cause in sorted(report.lost.items()):
        print(f"  ERROR {nodeid}: {cause}")
    bad = [v for v in report.verdicts.values() if not _as_it_must_be(v)]
    return EXIT_PROBLEMS if bad or report.lost else EXIT_OK


def _as_it_must_be(v: dict[str, Any]) -> bool:
    """A subject PASSes; a control gets its expected verdict (pytest's green, per item)."""
    if v.get("role") == "control":
        return bool(v.get("verdict") == v.get("expect"))
    return v.get("verdict") == "PASS"


def add_parsers(sub: Any) -> None:
    """Add ``falsify cluster run``."""
    cluster = sub.add_parser("cluster", help="run the falsifiers as tasks on a Ray cluster")
    csub = cluster.add_subparsers(dest="cluster_command", required=True)
    p = csub.add_parser(
        "run", help="run the selected (claim, subject) items as Ray tasks, one per subject, each "
        "with the resources its subject declares; every task's segment is merged into the ledger",
        description="Everything after the options is given to pytest (default: "
        "'falsifiers/ -m live'); put -- before pytest options, e.g. "
        "`falsify cluster run --address ray://head:10001 -- falsifiers/ -m live "
        "--falsify-select=stale`.")
    p.add_argument("--address", help="Ray address: ray://HOST:10001 (Ray client), HOST:6379 or "
                   "auto (an existing cluster); default: start a local Ray for this run")
    p.add_argument("--retries", type=int, default=1, metavar="N",
                   help="resubmit a task whose node or process died this many times, then "
                   "record its items ERROR with the causes (default 1)")
    p.add_argument("--ship", action="store_true",
                   help="upload the workspace to the nodes (Ray runtime_env working_dir); "
                   "default: the nodes see the workspace at the same path (a shared filesystem)")
    p.add_argument("--root", help="workspace root (default: found from the current folder)")
    p.add_argument("--ledger", help="ledger folder to merge into (default: evidence/ledger)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="pytest arguments")
    p.set_defaults(func=cmd_cluster_run)

