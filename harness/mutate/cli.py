"""``falsify mutate CLAIM... | --all``: mutation testing of the falsifiers (plugged into
``harness.cli``).

Exit 0 when every surviving mutant of every claim is a documented limitation, 1 when a mutant
survived undocumented or could not run, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.cli import EXIT_OK, EXIT_PROBLEMS, UsageFailure, _contracts, _workspace
from harness.records import Status

__all__ = ["add_parsers"]


class _Bar:
    """A tqdm bar on a terminal (total grows as each claim's input mutants are planned)."""

    def __init__(self, enabled: bool, claims: int) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=claims, unit="run", file=sys.stderr, leave=False)

    def planned(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total += n
            self.bar.refresh()

    def step(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(text[:60])
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_report(report: Any) -> None:
    from harness.mutate.run import Outcome

    score = "—" if report.score is None else f"{100 * report.score:.0f} %"
    print(f"{report.claim.id}: {report.status}  score {score}  killed "
          f"{report.count(Outcome.KILLED)}  survived {report.count(Outcome.SURVIVED)} "
          f"({len(report.undocumented)} undocumented)  n/a "
          f"{report.count(Outcome.NOT_APPLICABLE)}  errors {report.count(Outcome.ERROR)}  "
          f"({report.seconds:.1f} s)")
    if report.error is not None:
        print(f"  baseline could not be run: {report.error}")
    rows = [[r.mutant.id, r.mutant.layer.value, r.outcome.value,
             "documented" if r.limitation else "", r.why[:90]]
            for r in report.results if r.outcome is not Outcome.KILLED]
    if rows:
        print(tabulate(rows, headers=["mutant", "layer", "outcome", "", "why"],
                       tablefmt="simple"))
    for note in report.notes:
        print(f"  note: {note}")


def cmd_mutate(args: argparse.Namespace) -> int:
    from harness.mutate.run import mutate_claim

    ws = _workspace(args)
    contracts = _contracts(ws)
    if args.all == bool(args.claims):
        raise UsageFailure("name the claims to mutate, or pass --all (not both)")
    ids = sorted(contracts.claims) if args.all else args.claims
    for claim_id in ids:
        if claim_id not in contracts:
            raise UsageFailure(f"unknown claim {claim_id!r}; known: "
                               f"{', '.join(sorted(contracts.claims))}")
    writer = None
    if not args.no_record:
        from harness.ledger import LedgerWriter

        ledger = Path(args.ledger).resolve() if args.ledger else ws.ledger_dir
        writer = LedgerWriter(ledger, uuid.uuid4().hex, "mutate")
    bar = _Bar(sys.stderr.isatty() and not args.quiet and not args.json, len(ids))
    reports = []
    try:
        for claim_id in ids:
            recorded = _recorded(ws, args, claim_id) if args.from_ledger else None
            report = mutate_claim(ws, contracts[claim_id], every_subject=args.every_subject,
                                  recorded=recorded, progress=bar.step, planned=bar.planned)
            reports.append(report)
            if writer is not None:
                _append(writer, ws, report)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if args.json:
        print(json.dumps([_json(r) for r in reports], indent=2, sort_keys=True))
    else:
        for report in reports:
            _print_report(report)
    bad = [r for r in reports if r.status in (Status.FAIL, Status.ERROR)]
    return EXIT_PROBLEMS if bad else EXIT_OK


def _recorded(ws: Any, args: argparse.Namespace, claim_id: str) -> dict[str, Any]:
    """The claim's latest records by subject, from the workspace's ledger (or --ledger)."""
    from harness.ledger import Ledger

    folder = Path(args.ledger).resolve() if args.ledger else ws.ledger_dir
    ledger = Ledger(folder, ws.cache_dir / "ledger-index")
    found = {subject: ledger.load(summary)
             for (claim, subject), summary in ledger.latest().items() if claim == claim_id}
    if not found:
        raise UsageFailure(f"--from-ledger: no record of {claim_id} in {folder}; run its "
                           f"falsifier first, or drop --from-ledger")
    return found


def _append(writer: Any, ws: Any, report: Any) -> None:
    from harness.mutate.record import summary_record
    from harness.provenance import collect

    writer.append(summary_record(report, root=ws.root, session=writer.session,
                                 provenance=collect(ws.root)))


def _json(report: Any) -> dict[str, Any]:
    return {"claim": report.claim.id, "status": report.status.value, "score": report.score,
            "reasons": list(report.reasons()), "notes": list(report.notes),
            "seconds": round(report.seconds, 3),
            "mutants": [r.to_json() for r in report.results]}


def add_parsers(subparsers: Any) -> None:
    """Add ``falsify mutate``."""
    p = subparsers.add_parser(
        "mutate", help="mutation testing: apply realistic defects to a claim's contract, "
                       "measurements and inputs, and report the mutants that still PASS")
    p.add_argument("claims", nargs="*", metavar="CLAIM", help="claim ids to mutate")
    p.add_argument("--all", action="store_true", help="every claim of the workspace")
    p.add_argument("--every-subject", action="store_true",
                   help="input mutants on every passing subject (default: the first)")
    p.add_argument("--from-ledger", action="store_true",
                   help="judge the ledger's latest records instead of a fresh run (contract and "
                        "measurement mutants only; no live subject is loaded)")
    p.add_argument("--no-record", action="store_true",
                   help="append no mutation record to the ledger")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--root", help="workspace root (default: found from the current folder)")
    p.add_argument("--ledger", help="ledger folder to record to (default: evidence/ledger)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_mutate)
