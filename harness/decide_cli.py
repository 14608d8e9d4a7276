"""``falsify decide DECISION``: judge a decision's rule on the evidence now and record it.

The cited claims are read as ``falsify status`` reads them (input hashes and falsifier code
checked), the outcome is printed with every flag, and one signed ``decision`` record is appended
to the ledger (``--dry-run``: printed, not recorded). Exit 0 when recorded on clean evidence, 1
when recorded on flagged evidence (the record says so), 2 on an unknown decision.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

__all__ = ["add_parsers", "cmd_decide", "decision_lines", "latest_decisions", "show_decision",
           "statuses"]


def latest_decisions(ledger: Any) -> dict[str, Any]:
    """Decision id -> its latest decision record."""
    return {claim: ledger.load(summary)
            for (claim, _subject), summary in ledger.latest("decision").items()}


def _loader(ledger: Any) -> Any:
    def load(record_id: str) -> Any:
        return ledger.get(record_id)

    return load


def statuses(contracts: Any, report: Any, ledger: Any) -> Any:
    """Every decision's status against ``report`` (which must hold every claim)."""
    from harness.decision_records import decision_statuses

    if not contracts.decisions:
        return ()
    return decision_statuses(contracts.decisions, report, latest_decisions(ledger),
                             _loader(ledger))


def decision_lines(found: Any) -> list[str]:
    """``falsify status``'s decisions section: one line per decision, one per flag."""
    lines = []
    for s in found:
        if s.record is None:
            lines.append(f"decision {s.decision.id}: not decided yet (the rule now gives "
                         f"{s.outcome_now!r}; falsify decide {s.decision.id})")
            continue
        mark = " FLAGGED" if s.flagged else ""
        lines.append(f"decision {s.decision.id}: {s.outcome} (record {s.record.id}, "
                     f"{s.record.created[:19]}){mark}")
        lines += [f"  {flag}" for flag in s.flags]
    return lines


def cmd_decide(args: argparse.Namespace) -> int:
    from harness.cli import (
        EXIT_OK,
        EXIT_PROBLEMS,
        UsageFailure,
        _contracts,
        _ledger,
        _status_report,
        _workspace,
    )
    from harness.decision_records import decide, decision_record
    from harness.ledger import LedgerError, LedgerWriter
    from harness.provenance import collect
    from harness.render.cells import reproduce_command

    started = time.time()
    ws = _workspace(args)
    contracts = _contracts(ws)
    decision = contracts.decisions.get(args.decision)
    if decision is None:
        known = ", ".join(sorted(contracts.decisions)) or "none (add a decisions: section)"
        raise UsageFailure(f"unknown decision {args.decision!r}; known: {known}")
    claim_ids = sorted({c.claim for c in decision.cites})
    report = _status_report(ws, args, claim_ids, contracts)
    ledger = _ledger(ws, args)
    decided = decide(decision, report, _loader(ledger), reproduce_command)
    session = uuid.uuid4().hex
    record = decision_record(decided, session=session, provenance=collect(ws.root),
                             started=started)
    if not args.dry_run:
        writer = LedgerWriter(ledger.ledger_dir, session, "decide")
        try:
            record = writer.append(record)
        except LedgerError as exc:
            raise UsageFailure(str(exc)) from None
        finally:
            writer.close()
    if args.json:
        print(json.dumps({**record.to_json(), "recorded": not args.dry_run}, indent=2,
                         sort_keys=True))
    else:
        _print(decided, record, args.dry_run)
    return EXIT_PROBLEMS if decided.flags else EXIT_OK


def _print(decided: Any, record: Any, dry_run: bool) -> None:
    d = decided.decision
    print(f"decision {d.id}: {decided.outcome} ({decided.rule_text})")
    for e in decided.evidence:
        fresh = "fresh" if e["fresh"] else "NOT FRESH"
        print(f"  {e['key']}: {e['verdict']} ({fresh}), record {e['record'] or '-'}")
        for m in e["metrics"][:6]:
            print(f"    {m['name']} = {m['value']} {m['unit']}")
        if e["reproduce"]:
            print(f"    reproduce: {e['reproduce']}")
    for flag in decided.flags:
        print(f"  flag: {flag}")
    if dry_run:
        print("dry run: nothing recorded")
    else:
        print(f"recorded: record {record.id} (kind decision, verdict {record.verdict})")


def show_decision(decision: Any, ledger: Any, as_json: bool) -> int:
    """``falsify show DECISION``: the rule and every decision record of it, newest last."""
    history = ledger.history(decision.id)
    if as_json:
        print(json.dumps({"decision": dict(decision.raw), "source": str(decision.source),
                          "sha256": decision.sha256,
                          "history": [r.to_json() for r in history]}, indent=2, sort_keys=True))
        return 0
    print(f"{decision.id}: {decision.title}")
    if decision.statement:
        print(f"  {decision.statement}")
    for c in decision.cites:
        print(f"  rests on {c.claim} on {c.subject} (as {c.key})")
    for i, clause in enumerate(decision.clauses):
        print(f"  rule[{i}]: when {clause.text()} then {clause.outcome}")
    print(f"  default: {decision.default}; success: {', '.join(sorted(decision.success))}; "
          f"contract {decision.source}\n")
    print(f"decision history ({len(history)} record(s)):")
    for r in history:
        body = r.attachments.get("decision", {})
        print(f"  {r.created[:19]}  {body.get('outcome')}  evidence {r.verdict}  record {r.id}")
        for flag in body.get("flags", []):
            print(f"    flag: {flag}")
    return 0


def add_parsers(sub: Any) -> None:
    from harness.cli import _add_common

    p = sub.add_parser("decide", help="judge a decision's rule on the evidence and record it",
                       description=__doc__)
    p.add_argument("decision", help="decision id (contracts/*.yaml, decisions:)")
    p.add_argument("--dry-run", action="store_true", help="print the outcome, record nothing")
    p.add_argument("--json", action="store_true", help="the record as JSON")
    _add_common(p)
    p.set_defaults(func=cmd_decide)
