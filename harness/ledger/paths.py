"""Which folder a command reads as its ledger, and what it must say about it.

A reading command given a ledger that is not there must not answer as if it were empty and
intact: ``falsify verify --ledger /tmp/typo`` would otherwise say "intact" and exit 0. So a ledger
named on the command line (``--ledger``) or in the config (``ledger = ...``) must be an existing
folder, else a usage error naming the path and the fix. Only the default place
(``evidence/ledger``) may be absent: a new project has recorded nothing yet, and readers say so.
A ledger outside the project is used, and said so in the output, never silently. Writers (the
pytest plugin's ``--ledger`` for a scratch ledger, ``falsify bisect``) create their folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["LedgerPath", "LedgerPathError", "ledger_path"]


class LedgerPathError(ValueError):
    """The ledger path cannot be read as a ledger: names the path and the fix."""


@dataclass(frozen=True)
class LedgerPath:
    """The ledger folder to read and what to tell the user about it (``notes``)."""

    folder: Path
    notes: tuple[str, ...]


def ledger_path(folder: Path, root: Path, *, named_by: str | None) -> LedgerPath:
    """Check ``folder`` for reading. ``named_by``: where the user named it (``--ledger`` or the
    config file), or None for the default place."""
    where = Path(folder).expanduser()
    shown = where.resolve()
    if where.exists() and not where.is_dir():
        msg = (f"ledger {shown} is not a folder (a ledger is a folder of *.jsonl segments); pass "
               f"the folder that holds the segments"
               + (f" with {named_by}" if named_by else "") + f", e.g. {shown.parent}")
        raise LedgerPathError(msg)
    notes: list[str] = []
    if not where.exists():
        if named_by is not None:
            msg = (f"ledger {shown} (from {named_by}) does not exist; pass an existing ledger "
                   f"folder, or create an empty one with `mkdir -p {shown}` (a pytest run with "
                   f"`--ledger {shown}` creates it when it records)")
            raise LedgerPathError(msg)
        notes.append(f"ledger: {shown} does not exist yet: nothing recorded")
    if not shown.is_relative_to(Path(root).resolve()):
        notes.append(f"ledger: {shown} (outside the project {Path(root).resolve()})")
    return LedgerPath(where, tuple(notes))
