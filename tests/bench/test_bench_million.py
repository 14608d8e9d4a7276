"""A ledger of a million records (opt-in: `pytest tests/bench/test_bench_million.py -m bench -s`).

A synthetic workspace (``harness.ledger.synth``: 60 claims x 8 subjects, 1,000,000 signed
records in 2,000 segments of 500, about 2 GB) is read by the real console script, each command
in a fresh process, side by side in one run with the peers: a plain ``json.loads`` and an
``orjson.loads`` of every line of the same files. Per command: wall time, the peak resident
memory of its largest process (``wait4``'s ``ru_maxrss``: the command or one of its workers),
and the ratio to each peer. The issue's targets are printed beside the figures, never asserted
(a timed assertion fails on a loaded machine; the figures go into docs/BENCHMARKS.md).

``FALSIFY_BENCH_RECORDS`` (default 1,000,000) sizes the ledger; ``FALSIFY_BENCH_DIR`` keeps the
generated workspace between runs (it takes about 90 s to write). ``falsify verify --deep`` runs
at 200,000 records or fewer, or with ``FALSIFY_BENCH_DEEP=1`` (about 100 s a million).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.ledger.keys import new_signer, public_pem
from harness.ledger.synth import synthetic_contracts, write_synthetic_ledger

pytestmark = pytest.mark.bench

N = int(os.environ.get("FALSIFY_BENCH_RECORDS", "1000000"))
ROOT = Path(__file__).resolve().parents[2]

_PEER = """
import sys
from pathlib import Path
loads = __import__(sys.argv[2]).loads
n = 0
for seg in sorted(Path(sys.argv[1]).glob("*.jsonl")):
    with seg.open("rb") as fh:
        for line in fh:
            loads(line)
            n += 1
print(n)
"""


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kept = os.environ.get("FALSIFY_BENCH_DIR")
    root = Path(kept) / f"million-{N}" if kept else tmp_path_factory.mktemp("million")
    done = root / ".complete"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    (root / "contracts").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "million"\nversion = "0"\n')
    (root / "contracts" / "syn.yaml").write_text(synthetic_contracts(60, 8))
    signer = new_signer("bench-synth")
    (root / "evidence" / "keys").mkdir(parents=True)
    (root / "evidence" / "keys" / "bench-synth.pub").write_bytes(public_pem(signer.public))
    write_synthetic_ledger(root / "evidence" / "ledger", N, signer=signer)
    time.sleep(6)  # past the racy window: segments keyed by stat, as on any ledger not just written
    done.touch()
    return root


# Launched from a small process: a child's ru_maxrss starts at the RSS of the process it was
# forked from, so a command forked straight from pytest would report pytest's size.
_LAUNCH = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
out = (done.stdout + done.stderr).decode("utf-8", "replace")
print(json.dumps([wall, rss, done.returncode, out]))
"""


def _measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MiB) of the largest process of the command's tree (the command
    or one of its workers), exit code, output."""
    done = subprocess.run([sys.executable, "-c", _LAUNCH, *argv], capture_output=True,
                          text=True, env=env, check=True)
    wall, rss, rc, out = json.loads(done.stdout)
    return float(wall), float(rss), int(rc), str(out)


def _falsify(root: Path, cache: Path, *args: str) -> tuple[float, float, int, str]:
    env = {**os.environ, "FALSIFY_CACHE": str(cache), "PYTHONPATH": str(ROOT),
           "MPLBACKEND": "Agg"}
    env.pop("CI", None)
    script = Path(sys.executable).with_name("falsify")  # the console script, as users run it
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]
    return _measure([*argv, *args, "--root", str(root)], env)


def _peer(root: Path, module: str) -> tuple[float, float, int, str]:
    return _measure([sys.executable, "-c", _PEER, str(root / "evidence" / "ledger"), module],
                    dict(os.environ))


TARGETS = {"first read (cold index), falsify status": 10.0, "warm falsify status": 1.0,
           "warm falsify gate": 1.0, "falsify verify (cold cache)": 15.0,
           "falsify render --check": 10.0}


@pytest.mark.benchmark(group="ledger-million")
def test_million_record_ledger(benchmark: pytest.FixtureRequest, million: Path,
                               tmp_path: Path) -> None:
    rows: dict[str, tuple[float, float]] = {}

    def record(name: str, figure: tuple[float, float, int, str], ok: set[int]) -> None:
        wall, rss, rc, out = figure
        assert rc in ok, f"{name}: exit {rc}\n{out[-3000:]}"
        rows[name] = (wall, rss)

    n = int(_peer(million, "json")[3])
    assert n == N
    record("peer: json.loads of every line", _peer(million, "json"), {0})
    record("peer: orjson.loads of every line", _peer(million, "orjson"), {0})
    cache = tmp_path / "cache"
    record("first read (cold index), falsify status", _falsify(million, cache, "status"), {0})

    def warm(*args: str) -> list[tuple[float, float, int, str]]:
        return [_falsify(million, cache, *args) for _ in range(3)]

    for name, args, ok in (("warm falsify status", ("status",), {0}),
                           ("warm falsify gate", ("gate",), {1})):  # synthetic FAILs: gate red
        runs = warm(*args)
        for figure in runs:
            record(name, figure, ok)
        rows[name] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs))
    record("falsify verify (cold cache)", _falsify(million, tmp_path / "cold", "verify"), {0})
    record("falsify verify (warm cache)", _falsify(million, cache, "verify"), {0})
    if N <= 200_000 or os.environ.get("FALSIFY_BENCH_DEEP"):  # ~0.1 ms a record here
        record("falsify verify --deep (cold cache)",
               _falsify(million, tmp_path / "deep", "verify", "--deep"), {0})
    record("first falsify render (every plot drawn)", _falsify(million, cache, "render"), {0})
    runs = warm("render", "--check")
    for figure in runs:
        record("falsify render --check", figure, {0})
    rows["falsify render --check"] = (statistics.median(r[0] for r in runs),
                                      max(r[1] for r in runs))

    json_s = rows["peer: json.loads of every line"][0]
    orjson_s = rows["peer: orjson.loads of every line"][0]
    size = sum(p.stat().st_size for p in (million / "evidence" / "ledger").glob("*.jsonl"))
    print(f"\n{N:,} records, {size / 1e9:.2f} GB:")
    print(f"  {'command':42s} {'wall':>8s} {'peak RSS':>9s} {'/json':>7s} {'/orjson':>8s} "
          f"{'target':>7s}")
    for name, (wall, rss) in rows.items():
        target = TARGETS.get(name)
        mark = "" if target is None else f"{target:5.0f} s " + ("ok" if wall < target else "MISSED")
        print(f"  {name:42s} {wall:7.2f}s {rss:7.0f}MiB {wall / json_s:7.3f} "
              f"{wall / orjson_s:8.3f} {mark}")
        benchmark.extra_info[name] = {"wall_s": round(wall, 3), "peak_rss_mib": round(rss),
                                      "ratio_json": round(wall / json_s, 4),
                                      "ratio_orjson": round(wall / orjson_s, 4)}
    benchmark.pedantic(lambda: _falsify(million, cache, "status"), rounds=1, iterations=1)
