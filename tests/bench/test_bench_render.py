"""Benchmark: `falsify render` over 1,000 claims and 100,000 records (target: under 5 s).

Opt in with ``python -m pytest tests/bench/test_bench_render.py -m bench -s``. Contracts for
``SYN-LM-000`` ... ``SYN-LM-999`` (10 areas of 100, 8 subjects each) are written beside a ledger
of 100,000 records from ``harness.ledger.synth``. Every figure is the wall time of the real
command, ``falsify render ...`` in a fresh process, as a user runs it:

- ``cold``: the first render, every cache empty and all 1,010 plots drawn (reported);
- ``check``: ``falsify render --check`` against the written result;
- ``warm``: ``falsify render --site DIR`` again, nothing changed (nothing written or drawn);
- ``one new record``: one record appended, then ``falsify render --site DIR`` (READMEs, paper
  and site brought up to date; the changed plots drawn);
- ``new code``: the render memo and kept records deleted, as after an upgrade (reported).

``check``, ``warm`` and ``one new record`` run three times each; the median is held to the
budget. Every run renders everything (all READMEs, paper files and site pages are rendered
and compared); the caches only keep what depends on immutable records (docs/INTERNALS.md).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.ledger.synth import write_synthetic_ledger

pytestmark = pytest.mark.bench

N_CLAIMS, N_AREAS, N_RECORDS = 1000, 10, 100_000
BUDGET_S = 5.0
ROUNDS = 3

CLAIM = """\
  - id: SYN-LM-{i:03d}
    title: Synthetic held-out loss claim {i}
    statement: Held-out NLL of the subject is below ln|V|.
    milestones: [m{m}]
    max_age: 30d
    measures:
      val_nll: {{unit: nats}}
      vocab_size: {{unit: count}}
      n_tokens: {{unit: count}}
      bits_per_byte: {{unit: bits/byte}}
    params:
      min_tokens: 1000 count
    predicate: val_nll < ln(vocab_size)
    guards:
      - id: enough-tokens
        check: n_tokens >= min_tokens
    subjects: [model-0, model-1, model-2, model-3, model-4, model-5, model-6]
    controls:
      - subject: model-7
        expect: FAIL
    paper:
      table: syn{a}
      measurements: [val_nll, bits_per_byte]
"""


@pytest.fixture(autouse=True)
def _opt_in(request: pytest.FixtureRequest) -> None:
    if "bench" not in request.config.getoption("markexpr"):
        pytest.skip("benchmark: opt in with -m bench")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("render-bench")
    (root / "falsify.toml").write_text("")
    (root / "contracts").mkdir()
    per_area = N_CLAIMS // N_AREAS
    for a in range(N_AREAS):
        claims = "".join(CLAIM.format(i=i, m=i % 4, a=a)
                         for i in range(a * per_area, (a + 1) * per_area))
        (root / "contracts" / f"syn{a}.yaml").write_text(
            f"area: syn{a}\ntitle: Synthetic area {a}\nclaims:\n" + textwrap.dedent(claims))
    write_synthetic_ledger(root / "evidence" / "ledger", N_RECORDS, n_claims=N_CLAIMS)
    return root


def _falsify(root: Path, *args: str) -> tuple[float, str]:
    """Wall seconds of ``falsify render ARGS`` in a fresh process, and what it printed."""
    env = {k: v for k, v in os.environ.items() if k != "FALSIFY_CACHE"}
    script = Path(sys.executable).with_name("falsify")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]
    start = time.perf_counter()
    done = subprocess.run([*command, "render", "--root", str(root), *args], env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    return wall, done.stdout


def _median(label: str, runs: list[float]) -> float:
    mid = statistics.median(runs)
    print(f"{label}: median {mid:.2f} s ({', '.join(f'{r:.2f}' for r in runs)})")
    return mid


def test_render_1000_claims_100k_records(workspace: Path) -> None:
    """A check, a warm render and a render after one new record each take under 5 s."""
    site = str(workspace / "site")
    cold, out = _falsify(workspace, "--site", site)
    print(f"\ncold (every cache empty, every plot drawn): {cold:.1f} s\n  {out.strip()}")
    check = _median("render --check", [_falsify(workspace, "--check")[0]
                                       for _ in range(ROUNDS)])
    warm_runs = []
    for _ in range(ROUNDS):
        wall, out = _falsify(workspace, "--site", site)
        assert out.startswith("render: 0 file(s) written, 0 plot(s) drawn"), out
        warm_runs.append(wall)
    warm = _median("warm render with site, nothing changed", warm_runs)
    new_runs = []
    for seed in range(ROUNDS):
        write_synthetic_ledger(workspace / "evidence" / "ledger", 1, n_claims=1, seed=100 + seed)
        wall, out = _falsify(workspace, "--site", site)
        new_runs.append(wall)
    print(f"  last: {out.strip()}")
    new = _median("render with site after one new record", new_runs)
    cache = workspace / ".falsify-cache"
    for kept in (cache / "render-memo.marshal", cache / "render-history" / "latest-records.pickle"):
        kept.unlink()
    fresh, _ = _falsify(workspace, "--site", site)
    print(f"render with site after an upgrade (memo and kept records empty): {fresh:.2f} s")
    assert _falsify(workspace, "--check")[1].startswith("render --check: all")
    assert max(check, warm, new) < BUDGET_S
