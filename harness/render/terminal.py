"""Plain-text tables for the terminal: the pytest summary and the CLI."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["shorten", "verdict_table"]


def shorten(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def verdict_table(results: Iterable[Any]) -> str:
    """One row per (claim, subject): verdict, role and the first reason."""
    from tabulate import tabulate  # here: `falsify gate`/`status` import this module, not it

    rows = []
    for r in sorted(results, key=lambda r: (r.claim, r.role != "subject", r.subject)):
        role = "control" if r.role == "control" else ""
        if r.role == "control":
            ok = "ok" if r.status == r.expect else "NO POWER"
            role = f"control→{r.expect} {ok}" if r.status not in ("ERROR", "SKIPPED") else role
        rows.append([r.claim, r.subject, r.status, role, shorten("; ".join(r.reasons))])
    table: str = tabulate(rows, headers=["claim", "subject", "verdict", "role", "reasons"],
                          tablefmt="simple")
    return table
