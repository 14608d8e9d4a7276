"""The plugin finds the project it was run in, wherever path-like arguments point.

A project configured by falsify.toml alone has no pytest ini file, so pytest's rootdir is the
common ancestor of every path-like argument, option values included: ``--ledger /tmp/x`` put it
at ``/tmp`` and the run stopped with "no falsify workspace at or above /tmp".
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.ledger import Ledger
from tests.harness.toyspace import write_toyspace

ROOT = Path(__file__).resolve().parents[2]
_PART = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)


def _project(base: Path, depth: list[str]) -> Path:
    project = write_toyspace(base.joinpath("proj", *depth))
    (project / "pyproject.toml").unlink()  # configured by falsify.toml only: no pytest ini
    (project / "falsify.toml").write_text("", encoding="utf-8")
    return project


@settings(max_examples=3, deadline=None)
@given(depth=st.lists(_PART, max_size=2), outside=st.lists(_PART, min_size=1, max_size=2),
       option=st.sampled_from(["--ledger", "--basetemp"]))
@example(depth=[], outside=["x"], option="--ledger")  # `--ledger $(mktemp -d)`
def test_path_options_outside_the_project(depth: list[str], outside: list[str],
                                          option: str) -> None:
    """Run from the project with an option value outside it, the project's claims still run."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        project = _project(base, depth)
        away = base.joinpath("elsewhere", *outside)
        away.mkdir(parents=True)
        ledger = away if option == "--ledger" else base / "ledger"
        ledger.mkdir(exist_ok=True)
        args = [option, str(away)] + ([] if option == "--ledger" else [f"--ledger={ledger}"])
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-m", "pytest", "falsifiers", "-m", "live",
                              "-p", "no:cacheprovider", *args], cwd=project, env=env,
                             capture_output=True, text=True, check=False, timeout=300)
        assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]  # few-lines SUSPECT
        verdicts = {k[1]: s.verdict.value for k, s in Ledger(ledger).latest().items()}
        assert verdicts == {"short-lines": "PASS", "few-lines": "SUSPECT", "long-lines": "FAIL"}
