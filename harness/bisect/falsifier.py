"""Run a claim's falsifier in this process, on a workspace whose live subjects we hold.

Hypothesis bisection changes a loaded model in memory (an intervention) and asks the falsifier
again; a fresh interpreter would reload the files and lose the change. So the falsifier runs
through ``pytest.main`` here, with the ``workspace`` fixture answered by the workspace the
intervention was applied in, and its evidence recorded to a scratch ledger. The caller reads the
judged record back and decides what, if anything, goes into the real ledger: the falsifier stays
the only code that measures the claim, and the contract the only place that judges it.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.bisect.commits import BisectError, falsifier_args
from harness.contracts import Claim
from harness.records import Record
from harness.workspace import Workspace

__all__ = ["fresh_workspace", "run_falsifier", "run_falsifiers"]


def fresh_workspace(ws: Workspace) -> Workspace:
    """The same project with nothing loaded yet: its subjects load again from their files."""
    return Workspace(ws.root, ws.config, ws.config_path)


class _WorkspaceFixture:
    """Answers the ``workspace`` fixture with the given workspace (registered after the plugin,
    so its fixture is the one pytest uses)."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    @pytest.fixture(scope="session")
    def workspace(self) -> Workspace:
        return self._workspace


class _Installer:
    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def pytest_configure(self, config: pytest.Config) -> None:
        config.pluginmanager.register(_WorkspaceFixture(self._workspace), "falsify-bisect-ws")


@contextlib.contextmanager
def _forgetting_test_modules(workspace: Workspace) -> Iterator[None]:
    """Drop the falsifier and conftest modules a run imported, when it ends.

    pytest names a falsifier module by its file's stem; a later run in another workspace with
    a file of the same name would otherwise find this one in ``sys.modules`` and refuse it.
    Library modules stay: a second copy of a class would break isinstance on live objects.
    """
    before = set(sys.modules)
    falsifiers = workspace.falsifiers_dir.resolve()
    try:
        yield
    finally:
        for name in set(sys.modules) - before:
            file = getattr(sys.modules[name], "__file__", None)
            if file is None:
                continue
            path = Path(file).resolve()
            if path.is_relative_to(falsifiers) or path.name == "conftest.py":
                del sys.modules[name]


def _read(ledger_dir: Path) -> list[Record]:
    """Every record of the run's private ledger, read as every reader reads: verified first."""
    from harness.ledger import Ledger

    return Ledger(ledger_dir).records()


def run_falsifier(workspace: Workspace, claim: Claim, subject_id: str) -> Record:
    """The judged claim record of the claim's falsifier on ``subject_id`` in ``workspace``."""
    return run_falsifiers(workspace, claim, [subject_id])[subject_id]


def run_falsifiers(workspace: Workspace, claim: Claim,
                   subject_ids: Sequence[str]) -> dict[str, Record]:
    """The judged claim record of the claim's falsifier on each of ``subject_ids``, from one
    in-process pytest session (a model two subjects share loads once)."""
    nodes, options = falsifier_args(workspace.root, workspace.falsifiers_dir, claim.id,
                                    subject_ids)
    if not nodes:
        msg = (f"no falsifier of {claim.id} under {workspace.falsifiers_dir}: write a test marked "
               f"@pytest.mark.claim({claim.id!r})")
        raise BisectError(msg)
    with tempfile.TemporaryDirectory(prefix="falsify-scratch-") as scratch:
        args = [*(str(workspace.root / node) for node in nodes), *options]
        args += ["-m", "live", "--ledger", scratch, "--rootdir", str(workspace.root),
                 "--falsify-root", str(workspace.root), "-p", "no:cacheprovider", "-q",
                 "--no-header", "-p", "no:xdist", "--capture=no"]
        # No capture: pytest's capture files close when the run ends, and a library that set up
        # its log handler during the run (transformers does) would then write to a closed file.
        output = io.StringIO()
        with contextlib.redirect_stdout(output), _forgetting_test_modules(workspace):
            code = pytest.main(args, plugins=[_Installer(workspace)])
        records = [r for r in _read(Path(scratch)) if r.claim == claim.id]
    found: dict[str, Record] = {}
    for subject_id in subject_ids:
        mine = [r for r in records if r.subject == subject_id]
        if len(mine) != 1:
            tail = " | ".join(output.getvalue().strip().splitlines()[-6:])
            msg = (f"the falsifier of {claim.id} on {subject_id} left {len(mine)} record(s) "
                   f"(pytest exit {int(code)}): {tail}")
            raise BisectError(msg)
        found[subject_id] = mine[0]
    return found


def measurements_json(record: Record) -> dict[str, Any]:
    """A record's measurements as ``{name: {"value", "unit"}}`` for attachments (a vector's
    elements under ``"values"``, a non-finite value or element as None)."""
    def finite(v: float) -> float | None:
        return v if math.isfinite(v) else None
    return {m.name: ({"values": [finite(v) for v in m.values], "unit": m.unit}
                     if m.values is not None else {"value": finite(m.value), "unit": m.unit})
            for m in record.measurements}
