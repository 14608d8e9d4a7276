"""Benchmark: reading and rescoring a run bundle at full scale (290,596 prediction rows).

Opt in with ``python -m pytest tests/bench/test_bench_runs.py -m bench -s``. The bundle is
stream-written once into a temporary folder by the demo's scale generator (the real N'Ko
corpus cycled, seeded character errors); generating it takes a few minutes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.demo.bundles import SCALE_ROWS, write_scale_bundle
from harness.runs.bundle import PREDICTIONS, ProblemLog, iter_prediction_rows, read_bundle
from harness.runs.compare import rescore

pytestmark = pytest.mark.bench


@pytest.fixture(autouse=True)
def _opt_in(request: pytest.FixtureRequest) -> None:
    if "bench" not in request.config.getoption("markexpr"):
        pytest.skip("benchmark: opt in with -m bench")


@pytest.fixture(scope="module")
def scale_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scale_bundle(tmp_path_factory.mktemp("bench") / "scale", SCALE_ROWS)


def _stream(path: Path) -> int:
    log = ProblemLog()
    n = sum(1 for _ in iter_prediction_rows(path / PREDICTIONS, log))
    return n + log.total


def test_bench_stream_rows(benchmark: Any, scale_bundle: Path):
    """Rows per second of the streaming, validating row reader alone."""
    benchmark.group = "run-bundle"
    n = benchmark.pedantic(_stream, args=(scale_bundle,), rounds=2, iterations=1)
    benchmark.extra_info["rows_per_s"] = SCALE_ROWS / benchmark.stats.stats.min
    assert n == SCALE_ROWS


def test_bench_read_bundle(benchmark: Any, scale_bundle: Path):
    """Rows per second of the full read: rows, cross-file totals, snapshot identity."""
    benchmark.group = "run-bundle"
    bundle = benchmark.pedantic(read_bundle, args=(scale_bundle,), rounds=2, iterations=1)
    benchmark.extra_info["rows_per_s"] = SCALE_ROWS / benchmark.stats.stats.min
    assert len(bundle.rows) == SCALE_ROWS


def test_bench_rescore(benchmark: Any, scale_bundle: Path):
    """Rows per second of recounting every row's character edits (the counts-recounted guard)."""
    benchmark.group = "run-bundle"
    bundle = read_bundle(scale_bundle)
    result = benchmark.pedantic(rescore, args=(bundle,), rounds=2, iterations=1)
    benchmark.extra_info["rows_per_s"] = SCALE_ROWS / benchmark.stats.stats.min
    assert result.mismatches == ()
