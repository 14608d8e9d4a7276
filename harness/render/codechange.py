"""Falsifier code that changed between a git ref and now, for ``falsify pr --base REF``.

A claim is listed for a falsifier source file (its module, a conftest or a helper it uses, as
its latest records name them in ``provenance.code``; the module from the pytest node id for
records made before that) whose bytes at REF differ from the file now, while some of the
claim's latest records were not made by the file as it is now: the change has no new evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.codeid import CodeNow
from harness.render.gitstate import sha256s_at

__all__ = ["FalsifierChange", "falsifier_changes"]


@dataclass(frozen=True)
class FalsifierChange:
    """``path`` of ``claim``'s falsifier differs at the base and now; ``rows`` of the claim's
    latest records were made by other bytes of it. A None sha256: no such file there."""

    claim: str
    path: str
    base_sha256: str | None
    now_sha256: str | None
    rows: int


def _recorded(summary: Any) -> dict[str, str | None]:
    """Path -> recorded sha256 of the falsifier files a record names (None: not recorded)."""
    code = summary.code
    if code is not None:
        return {str(f["path"]): f.get("sha256") for f in code.get("falsifier", ())}
    module = str(getattr(summary, "node_id", "") or "").split("::")[0]
    return {module: None} if module else {}


def falsifier_changes(root: Path, ref: str, latest: Mapping[tuple[str, str], Any],
                      code: CodeNow, node_ids: Mapping[str, str] | None = None
                      ) -> list[FalsifierChange]:
    """Changes per (claim, file), sorted; ``latest`` as ``Ledger.latest()`` returns it and
    ``node_ids`` (record id -> pytest node id) for records that carry no code identity."""
    per_claim: dict[str, list[dict[str, str | None]]] = {}
    for (claim, _), summary in sorted(latest.items()):
        recorded = _recorded(summary)
        if not recorded and node_ids and summary.id in node_ids:
            recorded = {node_ids[summary.id].split("::")[0]: None}
        per_claim.setdefault(claim, []).append(recorded)
    paths = {p for rows in per_claim.values() for rec in rows for p in rec}
    at_base = _base_hashes(root, ref, paths, code.root)
    out = []
    for claim, rows in sorted(per_claim.items()):
        for path in sorted({p for rec in rows for p in rec}):
            now = code.sha256(path)
            if at_base[path] == now:
                continue
            behind = sum(1 for rec in rows if path in rec and rec[path] != now)
            if behind:
                out.append(FalsifierChange(claim, path, at_base[path], now, behind))
    return out


def _base_hashes(root: Path, ref: str, paths: Iterable[str],
                 ws_root: Path) -> dict[str, str | None]:
    absolute = {p: (Path(p) if Path(p).is_absolute() else ws_root / p) for p in paths}
    found = sha256s_at(root, ref, absolute.values())
    return {p: found[a] for p, a in absolute.items()}
