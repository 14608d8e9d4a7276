"""``falsify bisect``: commits, hypotheses and layers (plugged into ``harness.cli``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.cli import EXIT_OK, EXIT_PROBLEMS, UsageFailure, _contracts, _workspace
from harness.render.terminal import shorten

__all__ = ["add_parsers"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", help="workspace root (default: found from the current folder)")
    p.add_argument("--ledger", help="ledger folder to record to (default: evidence/ledger)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _ledger_dir(ws: Any, args: argparse.Namespace) -> Path:
    return Path(args.ledger).resolve() if args.ledger else ws.ledger_dir


def _claim(ws: Any, claim_id: str) -> Any:
    contracts = _contracts(ws)
    if claim_id not in contracts:
        known = ", ".join(sorted(contracts.claims))
        raise UsageFailure(f"unknown claim {claim_id!r}; known: {known}")
    return contracts[claim_id]


# --- commits ---------------------------------------------------------------------------------


def _print_run(run: Any) -> None:
    verdicts = ", ".join(f"{s}={v}" for s, v in run.verdicts)
    print(f"  {run.sha[:12]}  {run.outcome.value:<4}  {verdicts}  ({run.seconds:.1f} s)  "
          f"{shorten(run.summary, 50)}", flush=True)


def cmd_commits(args: argparse.Namespace) -> int:
    from harness.bisect import BisectError, bisect_commits

    ws = _workspace(args)
    claim = _claim(ws, args.claim)
    subjects = [args.subject] if args.subject else [r.id for r in claim.subjects]
    if args.subject and claim.subject(args.subject) is None:
        raise UsageFailure(f"{args.subject!r} is not a subject of {claim.id}; its subjects: "
                           f"{', '.join(r.id for r in claim.all_subjects)}")
    if not args.json:
        print(f"bisecting {claim.id} on {', '.join(subjects)} between {args.good} and {args.bad}")
    try:
        result = bisect_commits(ws.root, claim.id, args.good, args.bad, subjects,
                                ledger_dir=_ledger_dir(ws, args), cache_dir=ws.cache_dir,
                                timeout_s=args.timeout,
                                progress=None if args.json else _print_run)
    except BisectError as exc:
        raise UsageFailure(str(exc)) from None
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        _print_commits_summary(result)
    return EXIT_OK if result.first_bad is not None else EXIT_PROBLEMS


def _print_commits_summary(result: Any) -> None:
    n = len(result.commits)
    print(f"{len(result.runs)} run(s) over {n} commit(s) (bound ceil(log2 {n}) + 1 = "
          f"{result.bound})")
    if result.first_bad is not None:
        run = next((r for r in result.runs if r.sha == result.first_bad), None)
        summary = run.summary if run is not None else ""
        print(f"first bad commit: {result.first_bad}  {summary}")
    elif not result.candidates:
        print(f"{result.claim} does not fail at --bad {result.bad[:12]}: nothing to bisect")
    else:
        print("the first bad commit is one of (skipped commits could not be judged):")
        for sha in result.candidates:
            print(f"  {sha}")


def _add_commits(sub: Any) -> None:
    p = sub.add_parser("commits", help="binary search over commits for the first one where the "
                                       "claim FAILs (each run in its own git worktree)")
    p.add_argument("claim", help="claim id")
    p.add_argument("--good", required=True, help="a commit where the claim passes")
    p.add_argument("--bad", required=True, help="a later commit where it fails")
    p.add_argument("--subject", help="bisect on this subject only (default: every subject)")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                   help="give up on one commit's run after this long (it is then skipped)")
    _common(p)
    p.set_defaults(func=cmd_commits)


def add_parsers(subparsers: Any) -> None:
    """Add ``falsify bisect {commits,hypotheses,layers}``."""
    bisect = subparsers.add_parser("bisect", help="find the commit, hypothesis or layer that "
                                                  "made a claim fail")
    sub = bisect.add_subparsers(dest="bisect_command", required=True, metavar="ACTION")
    _add_commits(sub)
