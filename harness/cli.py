"""The `falsify` command.

Exit codes everywhere: 0 all good, 1 the check found problems, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.contracts import ContractError, ContractSet, load_contracts
from harness.records import Record
from harness.render.terminal import shorten
from harness.workspace import Workspace, WorkspaceError

__all__ = ["main"]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class UsageFailure(Exception):
    """A usage or configuration error: printed, exit 2."""


def _workspace(args: argparse.Namespace) -> Workspace:
    try:
        return Workspace.discover(Path(args.root) if args.root else None)
    except WorkspaceError as exc:
        raise UsageFailure(str(exc)) from None


def _contracts(ws: Workspace) -> ContractSet:
    try:
        return load_contracts(ws.contracts_dir, ws.cache_dir / "contracts")
    except ContractError as exc:
        msg = "contracts do not load:\n" + "\n".join(f"  {p}" for p in exc.problems)
        raise UsageFailure(msg) from None


def _ledger_dir(ws: Workspace, args: argparse.Namespace) -> Path:
    """The ledger folder to read: checked (harness.ledger.paths), its notes said once."""
    from harness.ledger.paths import LedgerPathError, ledger_path

    checked = getattr(args, "_ledger_dir", None)
    if checked is not None:
        return Path(checked)
    given = getattr(args, "ledger", None)
    try:
        named = "--ledger" if given else (
            f"`ledger` in {ws.config_path}" if "ledger" in ws.config else None)
        found = ledger_path(Path(given) if given else ws.ledger_dir, ws.root, named_by=named)
    except (LedgerPathError, WorkspaceError) as exc:
        raise UsageFailure(str(exc)) from None
    for note in found.notes:
        print(f"falsify {args.command}: {note}", file=sys.stderr)
    args._ledger_dir = found.folder
    return found.folder


def _ledger(ws: Workspace, args: argparse.Namespace) -> Any:
    from harness.ledger import Ledger

    return Ledger(_ledger_dir(ws, args), ws.cache_dir / "ledger-index",
                  checks=_checks(ws, args))


def _checks(ws: Workspace, args: argparse.Namespace) -> tuple[Any, ...]:
    """Extra per-segment checks every reader runs (SegmentCheck): the signatures, so that a
    segment whose signature shows tampering makes every reader refuse."""
    from harness.ledger.signed_reads import SignatureCheck
    from harness.signing_cli import trusted_keys

    return (SignatureCheck(trusted_keys(ws, args)),)


def _refuse_or_usage(exc: Exception) -> UsageFailure:
    """A LedgerError as a usage error, except a ledger that does not verify: re-raised, so that
    ``main`` refuses with exit 1 and every problem's file:line."""
    from harness.ledger import LedgerTampered

    if isinstance(exc, LedgerTampered):
        raise exc
    return UsageFailure(str(exc))


def _hasher(ws: Workspace, strict: bool | None = None) -> Any:
    """Input hashes for staleness; ``strict=True`` re-reads every byte (the gate's answers)."""
    from harness.provenance import InputHasher

    return InputHasher(ws.cache_dir / "hashes.json", root=ws.root, strict=strict,
                       aliases=ws.input_aliases())


def _status_report(ws: Workspace, args: argparse.Namespace, claim_ids: Sequence[str] | None,
                   contracts: ContractSet | None = None, strict: bool | None = None) -> Any:
    from harness.codeid import CodeNow
    from harness.ledger import LedgerError
    from harness.status import compute_status

    contracts = contracts or _contracts(ws)
    machine = None
    if getattr(args, "machine", "here") == "here":
        from harness.machine import machine_kind
        from harness.provenance import env_info

        machine = machine_kind(env_info())
    try:
        return compute_status(contracts, _ledger(ws, args), hasher=_hasher(ws, strict),
                              claim_ids=claim_ids, code=CodeNow(ws.root), machine=machine)
    except LedgerError as exc:
        raise _refuse_or_usage(exc) from None


def cmd_status(args: argparse.Namespace) -> int:
    from tabulate import tabulate  # here: tabulate imports importlib.metadata (~0.1 s)

    from harness.decide_cli import decision_lines, statuses

    ws = _workspace(args)
    contracts = _contracts(ws)
    report = _status_report(ws, args, None, contracts)
    decisions = statuses(contracts, report, _ledger(ws, args))
    from harness.select import plan

    rerun = plan(report)
    if args.json:
        print(json.dumps({**report.to_json(), "decisions": [d.to_json() for d in decisions],
                          "stale_only": {"run": len(rerun.run),
                                         "items": len(rerun.run) + len(rerun.keep)}},
                         indent=2, sort_keys=True))
        return EXIT_OK
    rows = [[r.claim, r.subject, "control→" + str(r.expect) if r.role == "control" else "",
             r.shown_verdict, (r.created or "")[:19],
             shorten("; ".join(r.stale or r.unverifiable + r.external or r.reasons), 80)]
            for r in report.rows]
    print(tabulate(rows, headers=["claim", "subject", "role", "verdict", "recorded (UTC)",
                                  "why"], tablefmt="simple"))
    print()
    for name, (passed, total) in report.milestones.items():
        print(f"milestone {name}: {passed}/{total} claims at fresh PASS "
              f"({report.ship_percent(name):.0f} % shipped)")
    _print_drift(report.rows)
    print(f"a stale-only run would execute {len(rerun.run)} of "
          f"{len(rerun.run) + len(rerun.keep)} (claim, subject) item(s) "
          f"(pytest falsifiers/ -m live --falsify-select=stale)")
    unchecked = sum(1 for r in report.rows if r.record is not None and r.unverifiable)
    if unchecked:
        print(f"UNVERIFIABLE: {unchecked} record(s) rest on inputs not here to hash; "
              f"`falsify verify --inputs --rebuild` rebuilds the demo inputs and checks them")
    for claim, subject in report.unknown:
        print(f"warning: the ledger has evidence for {claim} on {subject}, which no contract "
              f"names (a removed claim or subject; `falsify verify` lists the records)")
    for line in decision_lines(decisions):
        print(line)
    return EXIT_OK


def _print_drift(rows: Sequence[Any]) -> None:
    """Code drift that does not make evidence stale, one line per distinct reason."""
    counts: dict[str, int] = {}
    for row in rows:
        for reason in row.drift:
            counts[reason] = counts.get(reason, 0) + 1
    if counts:
        print("code drift (shown, not stale):")
    for reason, n in sorted(counts.items()):
        print(f"  {reason}: {n} row(s)")


def _format_record(record: Record) -> list[str]:
    head = (f"{record.created[:19]}  {record.verdict}  {record.subject}  record {record.id}  "
            f"commit {str(record.provenance.get('git', {}).get('commit') or '?')[:10]}")
    lines = [head]
    lines += [f"    {m.format()}" for m in record.measurements]
    lines += [f"    reason: {r}" for r in record.reasons]
    lines += [f"    note: {n}" for n in record.notes]
    if record.amends:
        lines.append(f"    amends {record.amends.get('record')}: {record.amends.get('why')}")
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    contracts = _contracts(ws)
    if args.claim in contracts.decisions:
        from harness.decide_cli import show_decision

        return show_decision(contracts.decisions[args.claim], _ledger(ws, args), args.json)
    if args.claim not in contracts:
        raise UsageFailure(f"unknown claim {args.claim!r}; known: "
                           f"{', '.join(sorted(contracts.claims))}")
    claim = contracts[args.claim]
    history = _ledger(ws, args).history(claim.id)
    if args.json:
        print(json.dumps({"claim": dict(claim.raw), "source": str(claim.source),
                          "sha256": claim.sha256, "history": [r.to_json() for r in history]},
                         indent=2, sort_keys=True))
        return EXIT_OK
    print(f"{claim.id}: {claim.title}\n  {claim.statement}\n")
    print(f"  predicate: {claim.predicate_text}")
    for g in claim.guards:
        print(f"  guard {g.id}: {g.text}" + (f"  ({g.doc})" if g.doc else ""))
    for name, spec in claim.measures.items():
        print(f"  measures {name} [{spec.unit}]" + (f": {spec.doc}" if spec.doc else ""))
    for name, q in claim.params.items():
        print(f"  param {name} = {q}")
    for ref in claim.subjects:
        extra = ", ".join(f"{k}={v}" for k, v in ref.params.items())
        print(f"  subject {ref.id}" + (f" ({extra})" if extra else ""))
    for ref in claim.controls:
        print(f"  control {ref.id} must get {ref.expect}" + (f": {ref.why}" if ref.why else ""))
    for h in claim.hypotheses:
        print(f"  hypothesis {h.id}: {h.statement}")
    print(f"  milestones: {', '.join(claim.milestones) or '-'}; contract {claim.source}\n")
    print(f"evidence history ({len(history)} record(s)):")
    for record in history:
        print("\n".join("  " + line for line in _format_record(record)))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.ledger import verify
    from harness.signing_cli import signed_lines, verify_signatures

    ws = _workspace(args)
    if args.attestation:
        from harness.attest_cli import verify_attestation

        return verify_attestation(ws, args)
    if args.inputs:
        from harness.inputcheck import run_verify_inputs

        return run_verify_inputs(ws, _contracts(ws), _ledger(ws, args), args)
    contracts = _contracts(ws)
    known = set(contracts.claims) | set(contracts.decisions)  # decision records: their ids
    folder = _ledger_dir(ws, args)
    problems = (verify(folder, known, vouched=signed_lines(ws, args, folder))
                + verify_signatures(ws, args, folder))
    for p in problems:
        print(str(p))
    if problems:
        print(f"\nverify: {len(problems)} problem(s) in {folder}")
        return EXIT_PROBLEMS
    print(f"verify: ledger {folder} is intact")
    return EXIT_OK


def cmd_gate(args: argparse.Namespace) -> int:
    from harness.gate import GateUsageError, evaluate_gate, required_claims
    from harness.ledger import LedgerTampered

    ws = _workspace(args)
    contracts = _contracts(ws)
    try:
        wanted = required_claims(contracts, args.milestone or (), args.claim or ())
    except GateUsageError as exc:
        raise UsageFailure(str(exc)) from None
    try:
        report = _status_report(ws, args, wanted, contracts, strict=True)
    except LedgerTampered as exc:
        return _gate_refuses(exc, args.json)
    result = evaluate_gate(report, args.inputs, args.dirty)
    from harness.signing_cli import gate_signatures

    unsigned = gate_signatures(ws, args, report)  # signature errors, each with its fix
    if args.json:
        print(json.dumps({"ok": result.ok and not unsigned, "claims": list(result.claims),
                          "problems": [{**r.to_json(), "problem": result.problem(r)}
                                       for r in result.problems],
                          "inputs": args.inputs,
                          "unverified": [r.record for r in result.unverified],
                          "dirty": {"policy": result.dirty_policy, "records": [
                              {"claim": r.claim, "subject": r.subject, "record": r.record,
                               "where": r.where} for r in result.dirty_passing]},
                          "criteria": [{"claim": r.claim, "subject": r.subject,
                                        "record": r.record} for r in result.criteria],
                          "signatures": unsigned}, indent=2, sort_keys=True))
    else:
        if result.problems:
            print(result.table())
            print()
        dirty = result.dirty_lines()  # refused: part of the answer; warned of: stderr
        print("".join(f"{line}\n" for line in dirty), end="",
              file=sys.stdout if result.dirty_policy == "refuse" else sys.stderr)
        print("".join(f"{line}\n" for line in unsigned), end="")
        print(result.summary())
        if unsigned:
            print(f"gate: FAIL — {len(unsigned)} signature problem(s) listed above")
    return max(result.exit_code, EXIT_PROBLEMS if unsigned else EXIT_OK)


def _gate_refuses(exc: Any, as_json: bool) -> int:
    """The gate's answer on a ledger that does not verify: FAIL, naming every file:line."""
    if as_json:
        print(json.dumps({"ok": False, "claims": [], "problems": [], "ledger_problems": [
            {"path": str(p.path), "line": p.line, "record": p.record_id, "message": p.message,
             "fix": p.fix} for p in exc.problems]}, indent=2, sort_keys=True))
    else:
        print("\n".join(str(p) for p in exc.problems))
        print(f"\ngate: FAIL — the ledger does not verify ({len(exc.problems)} problem(s) "
              f"above); no verdict is read from it until `falsify verify` passes")
    return EXIT_PROBLEMS


def cmd_contracts_check(args: argparse.Namespace) -> int:
    from harness.orphans import find_orphans

    ws = _workspace(args)
    contracts = _contracts(ws)
    problems = find_orphans(contracts, ws.falsifiers_dir).problems
    for p in problems:
        print(p)
    n = len(contracts.claims)
    if problems:
        print(f"\ncontracts check: {len(problems)} problem(s) in {n} claim(s)")
        return EXIT_PROBLEMS
    print(f"contracts check: {n} claim(s) valid, each measured by a falsifier")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from harness.demo.build import build_demo

    if not args.root:
        try:
            Workspace.discover()
        except WorkspaceError:  # no project here yet: this folder becomes the demo project
            from harness.scaffold import write_demo_project

            print(write_demo_project(Path.cwd()).report())
    ws = _workspace(args)
    if args.action == "live":
        return _demo_live(ws, args)
    built = build_demo(ws, rebuild=args.rebuild, progress=not args.quiet)
    for name, path in sorted(built.items()):
        print(f"{name}: {path}")
    return EXIT_OK


def _demo_live(ws: Workspace, args: argparse.Namespace) -> int:
    from harness.demo.liverun import run_live_demo
    from harness.runs.live import LiveError

    ledger = _ledger_dir(ws, args)
    try:
        for run in run_live_demo(ws, args.subject, ledger=ledger):
            print(run.report(), flush=True)
    except (ValueError, LiveError) as exc:
        raise UsageFailure(str(exc)) from None
    print("render them: falsify render (the training area's README, 'Runs checked while "
          "training')")
    return EXIT_OK


def _add_verify_inputs(p: argparse.ArgumentParser) -> None:
    from harness.inputcheck import add_arguments

    add_arguments(p)


def dirty_option(p: argparse.ArgumentParser) -> None:
    """``--dirty``: what evidence recorded with uncommitted changes counts for (harness.gate)."""
    p.add_argument("--dirty", choices=("refuse", "warn", "allow"), default=None,
                   help="evidence recorded with uncommitted changes (git dirty): refuse (the "
                   "default when CI=true) does not count it as passing, warn (the default "
                   "elsewhere) passes it with a warning naming each record, allow passes it")


def _add_common(p: argparse.ArgumentParser, ledger: bool = True) -> None:
    p.add_argument("--root", help="workspace root (default: found from the current folder)")
    if ledger:
        p.add_argument("--ledger", help="ledger folder (default: evidence/ledger)")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; only ``command``'s extension modules are imported when
    it is given (see ``_EXTENSIONS``)."""
    parser = argparse.ArgumentParser(prog="falsify", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: list[tuple[str, str, Callable[[argparse.Namespace], int]]] = [
        ("status", "latest verdict of every claim and subject, STALE marks, ship %%", cmd_status),
        ("show", "one claim and its evidence history", cmd_show),
        ("verify", "check the ledger: chain, schema, torn lines, duplicates, signatures",
         cmd_verify),
        ("gate", "exit 0 only when required claims have fresh PASS evidence", cmd_gate),
    ]
    for name, text, fn in commands:
        p = sub.add_parser(name, help=text, description=text.replace("%%", "%"))
        _add_common(p)
        p.set_defaults(func=fn)
        if name in ("status", "show", "gate"):
            p.add_argument("--json", action="store_true", help="machine-readable output")
    sub.choices["show"].add_argument("claim", help="claim id")
    sub.choices["verify"].add_argument("--attestation", metavar="FILE",
                                       help="check a `falsify attest` envelope instead")
    sub.choices["gate"].add_argument("--milestone", action="append", help="require a milestone")
    sub.choices["gate"].add_argument("--claim", action="append", help="require a claim")
    sub.choices["gate"].add_argument(
        "--inputs", choices=("verified", "allow-unverifiable"), default="verified",
        help="verified (default): an input that cannot be hashed here keeps the gate red")
    dirty_option(sub.choices["gate"])
    for name in ("status", "gate"):
        sub.choices[name].add_argument(
            "--machine", choices=("here", "any"), default="here",
            help="here (default): evidence of a machine_bound (speed) claim recorded on another "
            "kind of machine is STALE; any: compare no machines (a gate over evidence whose "
            "speed was measured on the machine it was recorded on, e.g. a laptop's)")
    _add_verify_inputs(sub.choices["verify"])
    contracts = sub.add_parser("contracts", help="contract tools")
    csub = contracts.add_subparsers(dest="contracts_command", required=True, metavar="ACTION")
    check = csub.add_parser("check", help="schema-check contracts and find orphans both ways")
    _add_common(check, ledger=False)
    check.set_defaults(func=cmd_contracts_check)
    demo = sub.add_parser("demo", help="build (or rebuild) the embedded demo workspace; "
                          "`demo live` trains its Trainer runs with their claims checked live")
    demo.add_argument("action", nargs="?", choices=("build", "live"), default="build",
                      help="build (the default): build or reuse the cached demo; live: train "
                      "the demo's Trainer runs again with FalsifyCallback, recording every "
                      "check in the ledger (the NaN run is stopped by its kill criterion)")
    demo.add_argument("--subject", action="append", default=None,
                      help="live: only this run (repeatable; demo-trainer-run, demo-trainer-nan)")
    demo.add_argument("--rebuild", action="store_true", help="rebuild even when cached")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_common(demo)
    demo.set_defaults(func=cmd_demo)
    for hook in _extensions(command):
        hook(sub)
    return parser


# Modules that add subcommands (or options of the core ones), imported only when one of their
# commands is chosen, so that `falsify gate` does not pay for `mutate`'s imports (numpy, pytest);
# all of them for `falsify --help` or an unknown command: module -> the commands it adds/extends.
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "harness.render.cli": ("render", "paper", "pr"),
    "harness.bisect_cli": ("bisect",),
    "harness.mutate.cli": ("mutate",),
    "harness.signing_cli": ("keys", "verify", "gate"),
    "harness.attest_cli": ("attest",),
    "harness.scaffold": ("init",),
    "harness.decide_cli": ("decide",),
    "harness.cluster_cli": ("cluster",),
    "harness.ledger_cli": ("ledger", "amend"),
}
_CORE = ("status", "show", "verify", "gate", "contracts", "demo")


def _extensions(command: str | None) -> list[Callable[[Any], None]]:
    """The ``add_parsers`` hooks of the modules ``command`` needs (every module's when it is
    None or no module's and no core command)."""
    import importlib

    known = command in _CORE or any(command in names for names in _EXTENSIONS.values())
    hooks = []
    for module, names in _EXTENSIONS.items():
        if known and command not in names:
            continue
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        hooks.append(mod.add_parsers)
    return hooks


def main(argv: Sequence[str] | None = None) -> int:
    from harness.ledger import LedgerTampered

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except UsageFailure as exc:
        print(f"falsify {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LedgerTampered as exc:  # every reader refuses: exit 1, every problem's file:line
        print(f"falsify {args.command}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except BrokenPipeError:  # `falsify status | head` is fine
        sys.stderr.close()
        return code if "code" in locals() else EXIT_OK
    return code


# Set by the console script: commands may then leave big structures alive (and frozen for the
# collector) rather than free them, as the process ends without tearing them down.
EXITS_AT_ONCE = False


def run() -> None:
    """The console script: :func:`main`, then exit at once.

    A render, a status or a gate holds every record of the ledger in memory; at exit Python
    would free them object by object (about a third of a second per 100,000 records), after
    everything has been written and closed. Output streams are flushed first; the command's
    files are all written and closed by then, and its worker processes joined."""
    global EXITS_AT_ONCE
    EXITS_AT_ONCE = True
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
