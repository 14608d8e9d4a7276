"""``falsify attest`` (a session as a signed in-toto attestation) and
``falsify verify --attestation FILE``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.attest import AttestError, build_statement, sign_statement, verify_envelope
from harness.cli import EXIT_OK, EXIT_PROBLEMS, UsageFailure, _workspace
from harness.ledger import LedgerError, segment_paths, verify
from harness.ledger.keys import HOW_TO_ADD, default_signer
from harness.ledger.segment import split_lines
from harness.records import Record, RecordFormatError
from harness.signing_cli import signature_options, trusted_keys

__all__ = ["add_parsers", "verify_attestation"]


def _session_of(path: Path) -> str | None:
    lines, _, _ = split_lines(path.read_bytes())
    if not lines:
        return None
    try:
        session = json.loads(lines[0]).get("session")
    except (ValueError, AttributeError):
        return None
    return session if isinstance(session, str) else None


def _segments(folder: Path, args: argparse.Namespace) -> list[Path]:
    """The chosen session's segments (an xdist session has one per worker)."""
    if args.segment:
        path = Path(args.segment)
        if not path.is_file():
            raise UsageFailure(f"--segment {path}: no such segment file")
        return [path]
    paths = segment_paths(folder)
    sessions = {p: _session_of(p) for p in paths}
    if args.session:
        chosen = [p for p, s in sessions.items() if s and s.startswith(args.session)]
        found = {sessions[p] for p in chosen}
        if len(found) > 1:
            raise UsageFailure(f"--session {args.session} matches {len(found)} sessions; give "
                               f"more of its id")
    else:
        newest = next((sessions[p] for p in reversed(paths) if sessions[p]), None)
        chosen = [p for p, s in sessions.items() if newest is not None and s == newest]
    if not chosen:
        what = f"session {args.session}" if args.session else "any session"
        raise UsageFailure(f"{folder}: no segment of {what}")
    return chosen


def _records(segments: list[Path]) -> list[Record]:
    records = []
    for path in segments:
        lines, _, _ = split_lines(path.read_bytes())
        for n, raw in enumerate(lines, 1):
            try:
                records.append(Record.from_line(raw.decode("utf-8")))
            except (RecordFormatError, ValueError) as exc:
                raise UsageFailure(f"{path}:{n}: {exc}; run `falsify verify`") from None
    return records


def _check_evidence(ws: Any, args: argparse.Namespace, segments: list[Path]) -> None:
    """Refuse to vouch for evidence that does not verify, or that no trusted key signed (unless
    --allow-unsigned)."""
    names = {p.name for p in segments}
    folder = segments[0].parent
    problems = [p for p in verify(folder, None, trusted_keys(ws, args),
                                  require_signed=not args.allow_unsigned)
                if Path(p.path).name in names]
    if problems:
        listed = "\n".join(f"  {p}" for p in problems)
        raise UsageFailure(f"the session's evidence does not verify, so it is not attested:\n"
                           f"{listed}")


def cmd_attest(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    folder = Path(args.ledger) if args.ledger else ws.ledger_dir
    segments = _segments(folder, args)
    _check_evidence(ws, args, segments)
    try:
        signer = default_signer()
        if signer is None:
            raise UsageFailure(f"no signing key to sign the attestation with; {HOW_TO_ADD}")
        statement = build_statement(_records(segments), segments)
    except (AttestError, LedgerError) as exc:
        raise UsageFailure(str(exc)) from None
    text = json.dumps(sign_statement(statement, signer), indent=2, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        predicate = statement["predicate"]
        print(f"attested {len(segments)} segment(s): {predicate['result']} "
              f"({len(predicate['passedTests'])} passed, {len(predicate['warnedTests'])} "
              f"warned, {len(predicate['failedTests'])} failed), signed by {signer.name} "
              f"{signer.keyid[:16]}… -> {args.output}")
    else:
        print(text, end="")
    return EXIT_OK


def verify_attestation(ws: Any, args: argparse.Namespace) -> int:
    path = Path(args.attestation)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageFailure(f"--attestation {path}: {exc.strerror}") from None
    try:
        checked = verify_envelope(data, trusted_keys(ws, args), str(path))
    except AttestError as exc:
        print(f"verify: {exc}")
        return EXIT_PROBLEMS
    predicate = checked.statement["predicate"]
    commits = [s["digest"]["gitCommit"] for s in checked.statement["subject"]
               if "gitCommit" in s.get("digest", {})]
    print(f"verify: attestation {path} is intact: signed by {checked.key.name} "
          f"{checked.key.fingerprint[:16]}…, result {predicate['result']}, commit "
          f"{', '.join(c[:12] for c in commits) or '-'}")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    """Add ``falsify attest``."""
    p = sub.add_parser("attest", help="a session's verdicts as a signed in-toto attestation "
                       "(Test Result predicate, DSSE envelope)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--session", help="session id (or a prefix); default: the newest session")
    which.add_argument("--segment", help="one segment file")
    p.add_argument("-o", "--output", help="write the envelope here (default: stdout)")
    p.add_argument("--root", help="workspace root (default: found from the current folder)")
    p.add_argument("--ledger", help="ledger folder (default: evidence/ledger)")
    signature_options(p)
    p.set_defaults(func=cmd_attest)
