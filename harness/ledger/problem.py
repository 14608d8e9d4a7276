"""``Problem``: one thing wrong with the ledger, as every check (bytes, chain, signature)
reports it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Problem"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the ledger: where, which record, what, and the fix."""

    path: Path
    line: int | None
    record_id: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = str(self.path) if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message} (fix: {self.fix})"
