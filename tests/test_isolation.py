"""Test files share one process (`pytest -n 2` gives each worker files in any order): a test that
runs pytest in-process must not leave the process unable to import numpy again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
INNER = '''
def test_inner_run_imports_numpy(pytester):
    pytester.makepyfile(test_inner="import numpy\\n\\ndef test_x():\\n    assert numpy.ones(1)\\n")
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly").assert_outcomes(
        passed=1)
'''
LATER = '''
def test_numpy_imports_again():
    import numpy
    import matplotlib.pyplot  # what the render tests import

    assert numpy.arange(3).sum() == 3
'''


def test_numpy_survives_an_in_process_pytest_run(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.conftest"]\n')
    (tmp_path / "test_a_inner.py").write_text(INNER)
    (tmp_path / "test_b_later.py").write_text(LATER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")]), "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                          "-p", "no:cacheprovider", "test_a_inner.py", "test_b_later.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "2 passed" in out.stdout
