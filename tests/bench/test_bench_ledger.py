"""Benchmarks of the evidence ledger (opt-in: `pytest tests/bench/test_bench_ledger.py -m bench`).

- ledger-append-2000: the same 2,000 records sealed and appended by LedgerWriter (fsync at close,
  the default; and fsync per record) beside the peers: JSONL with one fsync per record, and
  SQLite in WAL mode with synchronous=NORMAL and FULL, one transaction per record.
- ledger-latest-100k: `Ledger.latest()` over a synthetic 100,000-record ledger with a cold index,
  with warm segment indexes only, fully warm, and after one new 500-record session, beside the
  peer: a plain `json.loads` of every line.
- ledger-verify-10k: `verify()` (JSON, schema, hash, chain, canonical form) over 10,000 records,
  beside `json.loads` of the same lines.

Each benchmark puts its ratio to the group's reference in `extra_info`, and the module prints
them at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.ledger import Ledger, LedgerWriter, verify
from harness.ledger.synth import write_synthetic_ledger
from harness.records import Record
from tests.harness.ledger_factory import make_record

pytestmark = pytest.mark.bench

N_APPEND, N_LEDGER, N_VERIFY = 2_000, 100_000, 10_000
MEANS: dict[str, float] = {}
Bench = Any  # pytest-benchmark's fixture


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not MEANS:
        return
    with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
        reporter.write_line("")
        reporter.write_line("ledger benchmarks, mean seconds and ratio to the group's reference:")
        for name, mean in MEANS.items():
            reporter.write_line(f"  {name:38s} {mean:9.4f} s  {_ratio_text(name)}")


REFERENCE = {"append": "append/writer-fsync-close", "latest": "latest/json.loads-every-line",
             "verify": "verify/json.loads-every-line"}


def _ratio_text(name: str) -> str:
    ref = REFERENCE[name.split("/")[0]]
    return f"x{MEANS[name] / MEANS[ref]:.2f}" if ref in MEANS and name != ref else ""


def _record(benchmark: Bench, name: str) -> None:
    MEANS[name] = float(benchmark.stats["mean"])
    ref = REFERENCE[name.split("/")[0]]
    if ref in MEANS and name != ref:
        benchmark.extra_info["ratio_to_" + ref.split("/")[1]] = round(MEANS[name] / MEANS[ref], 3)


# --- append ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def records() -> list[Record]:
    return [make_record(f"C-{i % 60}", f"model-{i % 8}") for i in range(N_APPEND)]


def _fresh(tmp: Path) -> Callable[[], tuple[tuple[Path], dict[str, Any]]]:
    counter = iter(range(10**6))

    def setup() -> tuple[tuple[Path], dict[str, Any]]:
        folder = tmp / f"round{next(counter)}"
        folder.mkdir()
        return (folder,), {}

    return setup


def _sealed_lines(records: list[Record]) -> Iterator[tuple[str, str]]:
    prev = None
    for record in records:
        sealed = record.sealed(prev)
        prev = sealed.hash
        yield sealed.id, sealed.to_line()


def _run_append(benchmark: Bench, name: str, tmp: Path, target: Callable[[Path], None]) -> None:
    benchmark.pedantic(target, setup=_fresh(tmp), rounds=5, iterations=1)
    _record(benchmark, f"append/{name}")


@pytest.mark.benchmark(group="ledger-append-2000")
def test_append_writer_fsync_close(benchmark: Bench, records: list[Record],
                                   tmp_path: Path) -> None:
    def run(folder: Path) -> None:
        with LedgerWriter(folder, "bench") as writer:
            for r in records:
                writer.append(r)

    _run_append(benchmark, "writer-fsync-close", tmp_path, run)


@pytest.mark.benchmark(group="ledger-append-2000")
def test_append_writer_fsync_record(benchmark: Bench, records: list[Record],
                                    tmp_path: Path) -> None:
    def run(folder: Path) -> None:
        with LedgerWriter(folder, "bench", fsync="record") as writer:
            for r in records:
                writer.append(r)

    _run_append(benchmark, "writer-fsync-record", tmp_path, run)


@pytest.mark.benchmark(group="ledger-append-2000")
def test_append_peer_jsonl_fsync_each(benchmark: Bench, records: list[Record],
                                      tmp_path: Path) -> None:
    def run(folder: Path) -> None:
        with (folder / "ledger.jsonl").open("a", encoding="utf-8") as fh:
            for _, line in _sealed_lines(records):
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())

    _run_append(benchmark, "jsonl-fsync-each", tmp_path, run)


def _sqlite(synchronous: str, records: list[Record]) -> Callable[[Path], None]:
    def run(folder: Path) -> None:
        db = sqlite3.connect(folder / "ledger.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("CREATE TABLE records (id TEXT PRIMARY KEY, line TEXT NOT NULL)")
        for rid, line in _sealed_lines(records):
            db.execute("BEGIN")
            db.execute("INSERT INTO records VALUES (?, ?)", (rid, line))
            db.execute("COMMIT")
        db.close()

    return run


@pytest.mark.benchmark(group="ledger-append-2000")
@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_append_peer_sqlite_wal(benchmark: Bench, records: list[Record], tmp_path: Path,
                                synchronous: str) -> None:
    _run_append(benchmark, f"sqlite-wal-{synchronous.lower()}", tmp_path,
                _sqlite(synchronous, records))


# --- latest over 100k -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ledger100k")
    write_synthetic_ledger(root / "ledger", N_LEDGER)
    return root


def _json_loads_every_line(folder: Path) -> int:
    n = 0
    for seg in sorted(folder.glob("*.jsonl")):
        with seg.open("rb") as fh:
            for line in fh:
                json.loads(line)
                n += 1
    return n


@pytest.mark.benchmark(group="ledger-latest-100k")
def test_latest_peer_json_loads(benchmark: Bench, big: Path) -> None:
    n = benchmark.pedantic(_json_loads_every_line, args=(big / "ledger",), rounds=3,
                           iterations=1)
    _record(benchmark, "latest/json.loads-every-line")
    assert n == N_LEDGER


def _latest(big: Path) -> int:
    return len(Ledger(big / "ledger", big / "index").latest())


@pytest.mark.benchmark(group="ledger-latest-100k")
def test_latest_cold_index(benchmark: Bench, big: Path) -> None:
    def setup() -> tuple[tuple[Path], dict[str, Any]]:
        shutil.rmtree(big / "index", ignore_errors=True)
        return (big,), {}

    assert benchmark.pedantic(_latest, setup=setup, rounds=2, iterations=1) == 480
    _record(benchmark, "latest/cold-index")


@pytest.mark.benchmark(group="ledger-latest-100k")
def test_latest_warm_segment_indexes(benchmark: Bench, big: Path) -> None:
    _latest(big)

    def setup() -> tuple[tuple[Path], dict[str, Any]]:
        for saved in (big / "index").glob("latest-*.json"):
            saved.unlink()
        return (big,), {}

    assert benchmark.pedantic(_latest, setup=setup, rounds=3, iterations=1) == 480
    _record(benchmark, "latest/warm-segment-indexes")


@pytest.mark.benchmark(group="ledger-latest-100k")
def test_latest_warm(benchmark: Bench, big: Path) -> None:
    _latest(big)
    assert benchmark.pedantic(_latest, args=(big,), rounds=10, iterations=1) == 480
    _record(benchmark, "latest/warm")


@pytest.mark.benchmark(group="ledger-latest-100k")
def test_latest_after_a_new_session(benchmark: Bench, big: Path) -> None:
    _latest(big)
    sessions = iter(range(1, 10**6))

    def setup() -> tuple[tuple[Path], dict[str, Any]]:
        n = next(sessions)
        write_synthetic_ledger(big / "ledger", 500, seed=n,
                               start=datetime(2027, 1, n, tzinfo=UTC))
        return (big,), {}

    assert benchmark.pedantic(_latest, setup=setup, rounds=5, iterations=1) == 480
    _record(benchmark, "latest/after-new-500-record-session")


# --- verify -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ledger10k") / "ledger"
    write_synthetic_ledger(folder, N_VERIFY)
    return folder


@pytest.mark.benchmark(group="ledger-verify-10k")
def test_verify_peer_json_loads(benchmark: Bench, small: Path) -> None:
    assert benchmark.pedantic(_json_loads_every_line, args=(small,), rounds=3,
                              iterations=1) == N_VERIFY
    _record(benchmark, "verify/json.loads-every-line")


@pytest.mark.benchmark(group="ledger-verify-10k")
def test_verify(benchmark: Bench, small: Path) -> None:
    assert benchmark.pedantic(verify, args=(small,), rounds=2, iterations=1) == []
    _record(benchmark, "verify/verify")
