"""``falsify keys``, and the signature policy of ``verify`` and ``gate``.

Policy. Signed evidence is required when ``--require-signed`` is given, or when the environment
says CI (``CI=true``) and ``--allow-unsigned`` is not given. Tampering (a signature that fails, a
key not trusted, records dropped or altered, a deleted signed segment) is an error either way.
When required, the gate also fails on any record it relies on that no trusted signature covers;
an unsigned segment it does not rely on (legacy evidence) is a warning. Trusted keys are
``evidence/keys/*.pub``, plus ``--keys DIR`` and ``$FALSIFY_TRUSTED_KEYS`` (for a scratch run's
ephemeral key, trusted for that run only).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from harness.cli import EXIT_OK, EXIT_PROBLEMS, UsageFailure, _ledger, _workspace
from harness.ledger import LedgerError, Problem
from harness.ledger.keys import (
    HOW_TO_ADD,
    PublicKey,
    check_name,
    default_signer,
    key_dir,
    load_trusted,
    new_signer,
    private_pem,
    public_pem,
    read_signer,
)

__all__ = ["add_parsers", "gate_signatures", "require_signed", "signature_options",
           "trusted_keys", "verify_signatures"]


def keys_dir(ws: Any) -> Path:
    return Path(ws.evidence_dir) / "keys"


def trusted_keys(ws: Any, args: argparse.Namespace) -> dict[str, PublicKey]:
    extra = [Path(k) for k in getattr(args, "keys", None) or ()]
    for path in extra:
        if not path.exists():
            raise UsageFailure(f"--keys {path}: no such folder or .pub file; give the folder "
                               f"that holds the public keys to trust")
    folders = [keys_dir(ws), *extra]
    try:
        return load_trusted(folders)
    except LedgerError as exc:
        raise UsageFailure(str(exc)) from None


def require_signed(args: argparse.Namespace) -> bool:
    if getattr(args, "require_signed", False):
        return True
    if getattr(args, "allow_unsigned", False):
        return False
    return os.environ.get("CI", "").strip().lower() == "true"


def verify_signatures(ws: Any, args: argparse.Namespace, folder: Path) -> list[Problem]:
    """Signature problems for ``falsify verify``; unsigned evidence is printed as a warning
    unless signatures are required."""
    from harness.ledger.signing import signature_problems

    trusted = trusted_keys(ws, args)
    tampered, unsigned = signature_problems(folder, trusted, _trusts(ws, folder, trusted))
    if require_signed(args):
        return tampered + unsigned
    for p in unsigned:
        print(f"warning: {p}")
    return tampered


def signed_lines(ws: Any, args: argparse.Namespace, folder: Path) -> dict[str, int] | None:
    """For ``falsify verify``: per segment, the first lines a trusted key's valid signature
    covers, which verify parses and chains rather than re-derives (harness.ledger.verify);
    None with ``--deep``: every line checked in full."""
    if getattr(args, "deep", False):
        return None
    trusts = _trusts(ws, folder, trusted_keys(ws, args))
    return {name: t.signed for name, t in trusts.items() if not t.tampered}


def _trusts(ws: Any, folder: Path, trusted: dict[str, PublicKey]) -> Any:
    """Each segment's signature trust, remembered under its segment key (a warm gate re-reads
    no segment; harness.ledger.signed_reads)."""
    import hashlib

    from harness.ledger.signed_reads import cached_trust

    tag = hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:16]
    return cached_trust(folder, trusted, Path(ws.cache_dir) / "ledger-index" /
                        f"signatures-{tag}.json")


def gate_signatures(ws: Any, args: argparse.Namespace, report: Any) -> list[str]:
    """The gate's signature errors (warnings go to stderr), as lines to print."""
    from harness.ledger.signing import gate_problems, signature_problems

    folder = Path(args.ledger) if getattr(args, "ledger", None) else ws.ledger_dir
    trusted = trusted_keys(ws, args)
    trusts = _trusts(ws, folder, trusted)
    if not require_signed(args):
        tampered, unsigned = signature_problems(folder, trusted, trusts)
        for p in unsigned:
            print(f"warning (signatures not required): {p}", file=sys.stderr)
        return [str(p) for p in tampered]
    where = {s.id: (s.segment, s.line) for s in _ledger(ws, args).latest().values()}
    relied = [(*where[r.record], r.record) for r in report.rows if r.record in where]
    errors, warnings = gate_problems(folder, trusted, relied, trusts)
    for p in warnings:
        print(f"warning (the gate does not rely on it): {p}", file=sys.stderr)
    return [str(p) for p in errors]


# --- falsify keys ------------------------------------------------------------------------------

def _default_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in user)[:64] or "user"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def cmd_keys_new(args: argparse.Namespace) -> int:
    try:
        name = check_name(args.name or _default_name())
    except LedgerError as exc:
        raise UsageFailure(str(exc)) from None
    pub_dir = Path(args.pub_dir) if args.pub_dir else keys_dir(_workspace(args))
    priv = (Path(args.key_dir) if args.key_dir else key_dir()) / f"{name}.key"
    pub = pub_dir / f"{name}.pub"
    for path in (priv, pub):
        if path.exists():
            raise UsageFailure(f"{path} already exists; choose another --name (keys are never "
                               f"overwritten: evidence signed by the old one must still verify)")
    signer = new_signer(name)
    _write_private(priv, private_pem(signer))
    pub_dir.mkdir(parents=True, exist_ok=True)
    pub.write_bytes(public_pem(signer.public))
    print(f"key {name}: fingerprint {signer.keyid}\n  private: {priv} (mode 0600; never commit "
          f"it)\n  public:  {pub} (commit it: evidence it signs is then trusted)\n"
          f"  CI: store the private key's contents in the secret FALSIFY_SIGNING_KEY")
    return EXIT_OK


def _signing_now() -> tuple[str | None, str]:
    try:
        signer = default_signer()
    except LedgerError as exc:
        return None, f"no signing key: {exc}"
    if signer is None:
        return None, f"no signing key (none in {key_dir()}, FALSIFY_SIGNING_KEY unset)"
    return signer.keyid, f"signing key: {signer.name} {signer.keyid[:16]}… ({signer.source})"


def cmd_keys_list(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    trusted = trusted_keys(ws, args)
    signing, line = _signing_now()
    rows: list[list[str]] = [[k.name, k.fingerprint[:16] + "…", "yes", str(k.source),
                              "yes" if fp == signing else ""] for fp, k in trusted.items()]
    folder = key_dir()
    for path in sorted(folder.glob("*.key")) if folder.is_dir() else []:
        try:
            signer = read_signer(path)
        except LedgerError as exc:
            rows.append([path.name, "?", "?", str(path), str(exc)])
            continue
        if signer.keyid not in trusted:
            rows.append([signer.name, signer.keyid[:16] + "…", "NO (commit its .pub)", str(path),
                         "yes" if signer.keyid == signing else ""])
    if args.json:
        print(json.dumps({"keys": [dict(zip(["name", "fingerprint", "trusted", "file",
                                             "signing"], r, strict=True)) for r in rows]},
                         indent=2, sort_keys=True))
        return EXIT_OK
    from tabulate import tabulate

    print(tabulate(rows, headers=["name", "fingerprint", "trusted", "file", "signs now"],
                   tablefmt="simple") if rows else f"no keys; {HOW_TO_ADD}")
    print(line)
    return EXIT_OK if trusted else EXIT_PROBLEMS


def signature_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keys", action="append", metavar="DIR",
                   help="also trust the *.pub keys in DIR (e.g. a scratch run's ephemeral key)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--require-signed", action="store_true",
                      help="fail on evidence no trusted key signed (the default when CI=true)")
    mode.add_argument("--allow-unsigned", action="store_true",
                      help="report unsigned evidence as a warning, even when CI=true")


def add_parsers(sub: Any) -> None:
    """``falsify keys new|list``, and the signature options of verify and gate."""
    for name in ("verify", "gate"):
        signature_options(sub.choices[name])
    sub.choices["verify"].add_argument(
        "--deep", action="store_true",
        help="re-derive every record's schema, hash and canonical form, also where a trusted "
        "signature already covers its bytes (slow: about 0.6 ms a record)")
    keys = sub.add_parser("keys", help="signing keys: make one, list the trusted ones")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    new = ksub.add_parser("new", help="make an Ed25519 key: private key to your key folder, "
                          "public key to evidence/keys/")
    new.add_argument("--name", help="key name (default: your user name)")
    new.add_argument("--key-dir", help="private key folder (default: $FALSIFY_KEY_DIR or "
                     "~/.config/falsify/keys)")
    new.add_argument("--pub-dir", help="public key folder (default: evidence/keys)")
    new.add_argument("--root", help="workspace root (default: found from the current folder)")
    new.set_defaults(func=cmd_keys_new)
    listing = ksub.add_parser("list", help="fingerprints, which keys are trusted, which signs")
    listing.add_argument("--root", help="workspace root (default: found from the current folder)")
    listing.add_argument("--keys", action="append", metavar="DIR", help="also trust keys in DIR")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_keys_list)
