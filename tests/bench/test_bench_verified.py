"""Verified reads at scale (opt-in: `pytest tests/bench/test_bench_verified.py -m bench -s`).

`falsify gate` over a synthetic 100,000-record ledger (205 MB, 200 segments) reads only records
whose bytes and chain verify. Side by side, in one run:

- cold: no cache, every byte checked (what CI does on a fresh checkout);
- warm: nothing changed since the last read (target: under 1 s);
- warm after a new 500-record session (only the new segment is checked);
- warm after every segment's mtime changed (a fresh checkout): each segment's indexed prefix is
  re-hashed (sha256) rather than re-checked;
- the peer: a plain `json.loads` of every line.

Ratios to the cold read go into `extra_info`; figures are kept in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cli import main
from harness.ledger.synth import write_synthetic_ledger
from tests.bench.test_bench_cli import N_CLAIMS, N_SUBJECTS
from tests.bench.test_bench_cli import _json_loads_every_line as json_loads_every_line
from tests.bench.test_bench_cli import big as big  # the same 100,000-record workspace fixture

pytestmark = pytest.mark.bench




def _gate(root: Path) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["gate", "--root", str(root)])


def _timed(root: Path) -> float:
    start = time.perf_counter()
    assert _gate(root) == 1  # synthetic evidence has failures and stale claims
    return time.perf_counter() - start


@pytest.mark.benchmark(group="verified-gate-100k")
def test_gate_cold_warm_and_after_changes(benchmark: pytest.FixtureRequest, big: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cache = big / "cache"
    monkeypatch.setenv("FALSIFY_CACHE", str(cache))
    time.sleep(6)  # past the racy window: segments keyed by stat, as on any ledger not just written
    cold = _timed(big)
    warm = benchmark.pedantic(_timed, args=(big,), rounds=5, iterations=1)
    assert warm is not None
    write_synthetic_ledger(big / "evidence" / "ledger", 500, seed=7,
                           n_claims=N_CLAIMS, n_subjects=N_SUBJECTS,
                           start=datetime(2026, 6, 1, tzinfo=UTC))
    after_session = _timed(big)
    for seg in (big / "evidence" / "ledger").glob("*.jsonl"):
        os.utime(seg)
    after_checkout = _timed(big)
    second = _timed(big)
    start = time.perf_counter()
    json_loads_every_line(big)
    peer = time.perf_counter() - start
    mean = float(benchmark.stats["mean"])
    figures = {"cold_s": cold, "warm_mean_s": mean, "after_new_session_s": after_session,
               "after_touch_all_s": after_checkout, "warm_again_s": second,
               "json_loads_every_line_s": peer}
    benchmark.extra_info.update({k: round(v, 3) for k, v in figures.items()})
    benchmark.extra_info["warm_to_cold"] = round(mean / cold, 4)
    print("\nverified gate over 100,000 records:")
    for name, value in figures.items():
        print(f"  {name:28s} {value:8.3f} s  x{value / cold:.3f} of cold")
    shutil.rmtree(cache)
