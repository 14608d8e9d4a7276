"""Benchmarks of the spine (opt-in: `pytest tests/bench/test_bench_cli.py -m bench`).

- `falsify status` and `falsify gate` over a 100,000-record ledger, beside the peer figure: a plain
  `json.loads` of every line of the same ledger. Target: under 1 s each (warm index).
- Plugin overhead: 1,000 trivial falsifiers with recording vs `--no-record`. Target: at most 1.3x.

Each group reports its ratio in `extra_info`; figures are kept in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.ledger.synth import synthetic_contracts, write_synthetic_ledger

pytestmark = pytest.mark.bench

N_CLAIMS, N_SUBJECTS, N_RECORDS = 60, 8, 100_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    (root / "contracts").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "big"\nversion = "0"\n')
    (root / "contracts" / "syn.yaml").write_text(synthetic_contracts(N_CLAIMS, N_SUBJECTS))
    write_synthetic_ledger(root / "evidence" / "ledger", N_RECORDS, n_claims=N_CLAIMS,
                           n_subjects=N_SUBJECTS)
    return root


def _quiet(*argv: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(list(argv))


def _json_loads_every_line(root: Path) -> int:
    n = 0
    for seg in sorted((root / "evidence" / "ledger").glob("*.jsonl")):
        with seg.open("rb") as fh:
            for line in fh:
                json.loads(line)
                n += 1
    return n


@pytest.mark.benchmark(group="status-100k")
def test_peer_json_loads_every_line(benchmark: pytest.FixtureRequest, big: Path) -> None:
    n = benchmark.pedantic(_json_loads_every_line, args=(big,), rounds=3, iterations=1)
    assert n == N_RECORDS


@pytest.mark.benchmark(group="status-100k")
def test_status_100k(benchmark: pytest.FixtureRequest, big: Path) -> None:
    cold_start = time.perf_counter()
    _quiet("status", "--root", str(big))  # builds the index once: the cold figure
    cold = time.perf_counter() - cold_start
    code = benchmark.pedantic(_quiet, args=("status", "--json", "--root", str(big)),
                              rounds=5, iterations=1)
    peer_start = time.perf_counter()
    _json_loads_every_line(big)
    peer = time.perf_counter() - peer_start
    benchmark.extra_info.update(cold_index_s=round(cold, 3), json_loads_s=round(peer, 3),
                                ratio_to_json_loads=round(benchmark.stats["mean"] / peer, 3))
    assert code == 0


@pytest.mark.benchmark(group="status-100k")
def test_gate_100k(benchmark: pytest.FixtureRequest, big: Path) -> None:
    _quiet("gate", "--root", str(big))
    code = benchmark.pedantic(_quiet, args=("gate", "--root", str(big)), rounds=5, iterations=1)
    peer_start = time.perf_counter()
    _json_loads_every_line(big)
    peer = time.perf_counter() - peer_start
    benchmark.extra_info.update(json_loads_s=round(peer, 3),
                                ratio_to_json_loads=round(benchmark.stats["mean"] / peer, 3))
    assert code == 1  # synthetic evidence has failures and stale claims: the gate must say so


TRIVIAL = '''\
import pytest

pytestmark = pytest.mark.live


@pytest.mark.claim("TRIVIAL")
def test_trivial(evidence, subject):
    evidence.measure("n_chars", 500 if subject.id == "s-control" else len(subject.id),
                     unit="count")
'''


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("thousand")
    (root / "contracts").mkdir()
    (root / "falsifiers").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "t"\nversion = "0"\n')
    subjects = "\n".join(f"      - s{i:04d}" for i in range(1000))
    (root / "contracts" / "t.yaml").write_text(f"""\
claims:
  - id: TRIVIAL
    title: Trivial
    statement: Subject ids are short.
    measures: {{n_chars: count}}
    predicate: n_chars < 100
    subjects:
{subjects}
    controls:
      - subject: s-control
""")
    (root / "falsifiers" / "test_trivial.py").write_text(TRIVIAL)
    return root


def _pytest(root: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "falsifiers", "-q", "-p", "no:randomly",
                    "--ledger", str(root / "ledger"), *extra], cwd=root, check=False,
                   capture_output=True)
    return time.perf_counter() - start


@pytest.mark.benchmark(group="plugin-1000")
def test_plugin_no_record(benchmark: pytest.FixtureRequest, thousand: Path) -> None:
    benchmark.pedantic(_pytest, args=(thousand, "--no-record"), rounds=3, iterations=1)


@pytest.mark.benchmark(group="plugin-1000")
def test_plugin_recording(benchmark: pytest.FixtureRequest, thousand: Path) -> None:
    baseline = min(_pytest(thousand, "--no-record") for _ in range(3))
    benchmark.pedantic(_pytest, args=(thousand,), rounds=3, iterations=1)
    benchmark.extra_info.update(no_record_s=round(baseline, 3),
                                ratio_to_no_record=round(benchmark.stats["min"] / baseline, 3))
    records = sum(len(p.read_text().splitlines()) for p in (thousand / "ledger").glob("*.jsonl"))
    assert records >= 1001
