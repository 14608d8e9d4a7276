"""Stale-only runs: the (claim, subject) items a run must execute to bring the evidence up to date.

``pytest falsifiers/ -m live --falsify-select=stale`` runs an item only when its latest evidence
is missing, STALE (contract, inputs, falsifier code, max age, or, for a machine-bound claim,
another kind of machine), not what it must be (a subject not PASS, a control without its
expected verdict: ERROR, FAIL, SUSPECT, INCONCLUSIVE, SKIPPED, no power), or rests on an input
that cannot be hashed here. Every other item is deselected with its reason, one line each. The
decision reads the ledger index and hashes inputs (cached locally, every byte re-read when
``CI=true``, as the gate does); it loads no model and imports no framework.

The pytest hooks are in :mod:`harness.select_hooks`: under pytest-xdist the controller decides
once and hands the selection to the workers, so every worker collects the same items even while
the first records of the run are being written. A run with nothing stale exits 0 (pytest would
say 5, "no tests collected"): every item was checked, and the summary lists each with the
record that stands for it. This module imports no pytest: ``falsify status`` counts with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.contracts import ContractSet
from harness.status import Row, StatusReport

__all__ = ["SELECT_CHOICES", "Item", "Selection", "evidence_report", "plan", "rerun_reason"]

SELECT_CHOICES = ("all", "stale")
Item = tuple[str, str]  # (claim, subject)


def rerun_reason(row: Row) -> str | None:
    """Why a stale-only run executes this row's item; None when its evidence stands."""
    problem = row.problem
    if problem not in (None, "family"):  # a family's correction is not changed by a rerun
        if problem == "missing":
            return "missing: no evidence recorded yet"
        why = "; ".join(row.stale or row.reasons[:1]) or row.verdict
        if problem == "powerless":
            why = f"a control must get {row.expect}, its latest is {row.verdict}"
        return f"{problem}: {why}"
    if row.unverifiable:
        return f"unverifiable: {row.unverifiable[0]}"
    return None


@dataclass(frozen=True)
class Selection:
    run: dict[Item, str]  # item -> why it runs
    keep: dict[Item, str]  # item -> why its evidence stands

    def summary(self) -> str:
        return (f"{len(self.run)} of {len(self.run) + len(self.keep)} (claim, subject) item(s) "
                f"to run; {len(self.keep)} with fresh evidence deselected")


def plan(report: StatusReport) -> Selection:
    """Every row of ``report`` sorted into run (with why) and keep (with why not)."""
    run: dict[Item, str] = {}
    keep: dict[Item, str] = {}
    for row in report.rows:
        why = rerun_reason(row)
        if why is not None:
            run[(row.claim, row.subject)] = why
        else:
            role = "expected " if row.role == "control" else ""
            keep[(row.claim, row.subject)] = (f"fresh {role}{row.verdict} (record "
                                              f"{row.record}, {(row.created or '')[:19]})")
    return Selection(run, keep)


def evidence_report(workspace: Any, contracts: ContractSet, ledger_dir: Path,
                    keys: Iterable[Path] = (), strict: bool | None = None) -> StatusReport:
    """The status the gate would compute here: signatures checked with the workspace's keys,
    inputs hashed (strict under CI), falsifier code and this machine's kind compared."""
    from harness.codeid import CodeNow
    from harness.ledger import Ledger
    from harness.ledger.keys import load_trusted
    from harness.ledger.signed_reads import SignatureCheck
    from harness.machine import machine_kind
    from harness.provenance import InputHasher, env_info
    from harness.signing_cli import keys_dir
    from harness.status import compute_status

    trusted = load_trusted([keys_dir(workspace), *keys])
    ledger = Ledger(ledger_dir, workspace.cache_dir / "ledger-index",
                    checks=(SignatureCheck(trusted),))
    hasher = InputHasher(workspace.cache_dir / "hashes.json", root=workspace.root, strict=strict,
                         aliases=workspace.input_aliases())
    try:
        return compute_status(contracts, ledger, hasher=hasher, code=CodeNow(workspace.root),
                              machine=machine_kind(env_info()))
    finally:
        hasher.save()
