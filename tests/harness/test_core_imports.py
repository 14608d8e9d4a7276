"""The core (ledger, CLI, plugin, renders, gate) imports and works without torch or mlx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness.toyspace import write_toyspace

# Import every core module, run status/gate/verify/render over a real workspace, then prove that
# no heavy framework was imported on the way. A meta-path blocker makes any attempt an error.
SCRIPT = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "mlx", "mlx_lm", "transformers"}:
            raise ImportError(f"core imported {name}")
        return None
sys.meta_path.insert(0, Block())
import harness.cli, harness.plugin, harness.ledger, harness.gate, harness.status
import harness.render.cli, harness.contracts, harness.verdict, harness.workspace
from harness.cli import main
root = sys.argv[1]
codes = [main([cmd, "--root", root]) for cmd in ("status", "verify", "gate")]
codes.append(main(["render", "--root", root]))
print(codes)
"""


def test_core_runs_with_frameworks_blocked(tmp_path: Path) -> None:
    write_toyspace(tmp_path)
    out = subprocess.run([sys.executable, "-P", "-c", SCRIPT, str(tmp_path)],
                         capture_output=True, text=True, check=False, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[0, 0, 1, 0]"  # gate: evidence missing
