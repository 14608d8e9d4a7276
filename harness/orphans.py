"""Orphans both ways: claims no falsifier measures, falsifiers naming unknown claims.

Falsifier modules are read with ``ast`` (never imported), so a check costs no model loads. A
claim used from the library (``uses:``) is measured by its library module, which must hold its
falsifier; a project falsifier that measures a used library claim as well is a problem (two
records per subject): copy the claim (``falsify init --copy``) to change its falsifier.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import ContractSet

__all__ = ["Orphans", "find_orphans", "scan_falsifiers"]


def _claim_ids(decorator: ast.expr) -> list[str]:
    """The id of a ``@pytest.mark.claim("ID", ...)`` or ``@mark.claim("ID")`` decorator."""
    if not isinstance(decorator, ast.Call):
        return []
    func = decorator.func
    if not (isinstance(func, ast.Attribute) and func.attr == "claim"):
        return []
    if decorator.args and isinstance(decorator.args[0], ast.Constant):
        value = decorator.args[0].value
        if isinstance(value, str):
            return [value]
    return []


def scan_falsifiers(folder: Path) -> dict[str, list[str]]:
    """claim id -> ["file:line", ...] for every claim-marked test under ``folder``."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                for dec in node.decorator_list:
                    for claim_id in _claim_ids(dec):
                        found.setdefault(claim_id, []).append(f"{path}:{dec.lineno}")
    return found


@dataclass(frozen=True)
class Orphans:
    unmeasured: tuple[str, ...]  # claims no falsifier names
    unknown: tuple[tuple[str, str], ...]  # (claim id, file:line) naming no contract
    twice: tuple[tuple[str, str], ...] = ()  # (library claim id, file:line) measured here too

    @property
    def problems(self) -> list[str]:
        out = [f"claim {c} has no falsifier: add a test marked @pytest.mark.claim({c!r}) "
               f"under falsifiers/" for c in self.unmeasured]
        out += [f"{where}: falsifier names unknown claim {c!r}: add it to contracts/ or fix "
                f"the id" for c, where in self.unknown]
        out += [f"{where}: falsifier measures {c}, which the contracts use from the claim "
                f"library (its falsifier runs already): remove this test, or replace the uses: "
                f"entry with a copy (falsify init --copy {c})" for c, where in self.twice]
        return out


def find_orphans(contracts: ContractSet, falsifiers_dir: Path) -> Orphans:
    scanned = scan_falsifiers(falsifiers_dir) if falsifiers_dir.is_dir() else {}
    library = {c.id for c in contracts.claims.values() if c.library is not None}
    if library:
        from harness.library import LIBRARY_DIR

        shipped = scan_falsifiers(LIBRARY_DIR / "falsifiers")
    else:
        shipped = {}
    measured = set(scanned) | (set(shipped) & library)
    unmeasured = tuple(sorted(c for c in contracts.claims if c not in measured))
    unknown = tuple(sorted((c, w) for c, places in scanned.items() if c not in contracts
                           for w in places))
    twice = tuple(sorted((c, w) for c, places in scanned.items() if c in library
                         for w in places))
    return Orphans(unmeasured, unknown, twice)
