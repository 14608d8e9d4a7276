"""``falsify ledger merge|repair`` and ``falsify amend``: tools that write to the ledger by
hand, outside a falsifier run (merge another ledger's segments, move a torn last line aside,
append a correction naming the record it amends)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness import cli

__all__ = ["add_parsers", "cmd_amend", "cmd_ledger_merge", "cmd_ledger_repair"]


def cmd_ledger_merge(args: argparse.Namespace) -> int:
    from harness.ledger import LedgerError, merge
    from harness.ledger.paths import LedgerPathError, ledger_path

    ws = cli._workspace(args)
    try:
        source = ledger_path(Path(args.source), ws.root, named_by="the merge source").folder
        report = merge(source, ws.ledger_dir)
    except (LedgerPathError, LedgerError) as exc:
        raise cli.UsageFailure(str(exc)) from None
    print(report)
    return cli.EXIT_OK


def cmd_ledger_repair(args: argparse.Namespace) -> int:
    from harness.ledger import LedgerError, repair_torn_tail

    try:
        done = repair_torn_tail(Path(args.segment))
    except (LedgerError, OSError) as exc:
        raise cli.UsageFailure(str(exc)) from None
    if done.action == "moved":
        print(f"{done.segment}:{done.line}: torn line moved to {done.moved_to}; "
              f"every complete record is intact")
    elif done.action == "newline":
        print(f"{done.segment}:{done.line}: the last record lacked only its newline; added")
    else:
        print(f"{done.segment}: no torn line; nothing to do")
    return cli.EXIT_OK


def cmd_amend(args: argparse.Namespace) -> int:
    """Append a correction naming the record it amends and why; never edits the record."""
    import uuid
    from dataclasses import replace

    from harness.evidence import new_id, utc_now
    from harness.ledger import LedgerError, LedgerWriter
    from harness.provenance import collect
    from harness.records import Status

    ws = cli._workspace(args)
    verdict = Status.parse(args.verdict)
    if verdict not in (Status.FAIL, Status.SUSPECT, Status.INCONCLUSIVE, Status.ERROR):
        raise cli.UsageFailure("an amendment may set FAIL, SUSPECT, INCONCLUSIVE or ERROR; only a "
                           "falsifier run can record a PASS")
    ledger = cli._ledger(ws, args)
    try:
        original = ledger.get(args.record)
    except (KeyError, LedgerError) as exc:
        cli._refuse_or_usage(exc)
        raise cli.UsageFailure(f"no record {args.record!r} in {ledger.ledger_dir}: {exc}") from None
    session = uuid.uuid4().hex
    amendment = replace(
        original, id=new_id(), kind="amendment", verdict=verdict,
        reasons=(f"amended by hand: {args.why}", *original.reasons),
        amends={"record": original.id, "why": args.why}, created=utc_now(), session=session,
        node_id="falsify amend", timing={}, prev=None, hash="",
        # the evidence is still the original's, made by the original's code
        provenance={**collect(ws.root), **({"code": original.code} if original.code else {})})
    writer = LedgerWriter(ledger.ledger_dir, session, "amend")
    try:
        sealed = writer.append(amendment)
    except LedgerError as exc:
        raise cli.UsageFailure(str(exc)) from None
    finally:
        writer.close()
    print(f"record {sealed.id} amends {original.id} ({original.claim} on {original.subject}): "
          f"{original.verdict} → {verdict}: {args.why}")
    return cli.EXIT_OK


def add_parsers(sub: Any) -> None:
    ledger = sub.add_parser("ledger", help="ledger tools")
    lsub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    merge = lsub.add_parser("merge", help="copy another ledger's segments into this one")
    merge.add_argument("source", help="ledger folder to merge from")
    cli._add_common(merge, ledger=False)
    merge.set_defaults(func=cmd_ledger_merge)
    repair = lsub.add_parser("repair", help="move a torn last line (a writer killed mid-append) "
                             "aside into SEGMENT.torn; every complete record stays")
    repair.add_argument("segment", help="the segment file that verify reported")
    repair.set_defaults(func=cmd_ledger_repair)
    amend = sub.add_parser("amend", help="append a correction naming the record it amends")
    amend.add_argument("record", help="id of the record to amend (see falsify show CLAIM)")
    amend.add_argument("--why", required=True, help="why the record no longer stands")
    amend.add_argument("--verdict", default="ERROR",
                       help="the corrected verdict: FAIL, SUSPECT, INCONCLUSIVE or ERROR")
    cli._add_common(amend)
    amend.set_defaults(func=cmd_amend)
