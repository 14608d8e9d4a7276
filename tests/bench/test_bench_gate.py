"""Benchmark: the demo repair gate under load on loopback, every answer checked.

Opt in with ``python -m pytest tests/bench/test_bench_gate.py -m bench -s``: 32 client threads
send 10,000 POST /propose requests in all (one row each, a fresh connection each) to the gate
running as its own process; the run is bounded to 300 s and stops by itself. It prints the
throughput, the latency percentiles, and the lost and mixed-up answers (both must be zero).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.runs.gate_client import GateProcess
from harness.runs.gate_server import Lexicon
from tests.harness.runs.load import run_load
from tests.harness.runs.test_gate import WORDS

pytestmark = pytest.mark.bench

CLIENTS, REQUESTS, BOUND_S = 32, 10_000, 300.0


@pytest.fixture(autouse=True)
def _opt_in(request: pytest.FixtureRequest) -> None:
    if "bench" not in request.config.getoption("markexpr"):
        pytest.skip("benchmark: opt in with -m bench")


def test_bench_gate_load(tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    with GateProcess(lexicon, "lexicon") as gate:
        report = run_load(gate.url, Lexicon(WORDS), "lexicon", clients=CLIENTS,
                          requests=REQUESTS, bound_s=BOUND_S)
    print("\ngate load:", report.summary())
    assert report.lost == 0, report.errors[:3]
    assert report.mixed == 0
    assert report.answered == REQUESTS
