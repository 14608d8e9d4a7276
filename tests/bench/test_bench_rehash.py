"""Benchmarks of strict input re-hashing (opt-in: `-m bench`).

The gate, `falsify verify --inputs` and every CI run re-read inputs from their bytes
(``harness.provenance.hash_input``), so their cost is the streamed sha256 throughput:

- rehash-file-256MB: one 256 MiB file of random bytes: ``hash_input`` beside the peers
  ``hashlib.file_digest`` and a plain ``read(1 MiB)`` / ``update`` loop.
- rehash-folder-4000-files: a folder of 4,000 files of 4 KiB in 40 sub-folders: ``hash_input``
  (walk, per-file sha256, the folder digest) beside the same peers over the same files, and the
  local cached path (``InputHasher(strict=False)`` with a warm cache file) for scale.

The files are in the page cache after the first round, so this measures hashing, not the disk.
Each result gets MB/s and its ratio to ``hashlib.file_digest`` in ``extra_info``; the module
prints them at the end.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import provenance
from harness.provenance import CHUNK_BYTES, InputHasher, hash_input

pytestmark = pytest.mark.bench

Bench = Any  # pytest-benchmark's fixture
BIG = 256 << 20
N_SMALL, SMALL = 4000, 4096
RESULTS: dict[str, tuple[float, int]] = {}  # name -> (mean seconds, bytes hashed)
REFERENCE = "hashlib.file_digest"


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None or not RESULTS:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line("re-hash benchmarks: mean seconds, MB/s, time ratio to "
                            f"{REFERENCE} in the same group:")
        for name, (mean, size) in RESULTS.items():
            reporter.write_line(f"  {name:44s} {mean:8.4f} s {size / mean / 1e6:9.1f} MB/s  "
                                f"{_ratio(name)}")


def _ratio(name: str) -> str:
    ref = f"{name.split('/')[0]}/{REFERENCE}"
    if ref not in RESULTS or name == ref:
        return ""
    return f"x{RESULTS[name][0] / RESULTS[ref][0]:.2f}"


def _record(benchmark: Bench, name: str, size: int) -> None:
    mean = float(benchmark.stats["mean"])
    RESULTS[name] = (mean, size)
    benchmark.extra_info["MB_per_s"] = round(size / mean / 1e6, 1)
    ratio = _ratio(name)
    if ratio:
        benchmark.extra_info["ratio_to_file_digest"] = float(ratio[1:])


def _file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _read_loop(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _folder_with(per_file: Callable[[Path], str]) -> Callable[[Path], str]:
    """A peer folder hash: the same walk and digest as the harness, ``per_file`` per file."""

    def run(folder: Path) -> str:
        pairs = sorted((p.relative_to(folder).as_posix(), per_file(p))
                       for p in folder.rglob("*") if p.is_file())
        return hashlib.sha256("".join(f"{r}\0{s}\n" for r, s in pairs).encode()).hexdigest()

    return run


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rehash") / "weights.bin"
    with path.open("wb") as fh:
        for _ in range(BIG // CHUNK_BYTES):
            fh.write(os.urandom(CHUNK_BYTES))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rehash") / "shards"
    for i in range(N_SMALL):
        sub = root / f"part{i % 40:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"row{i:05d}.bin").write_bytes(os.urandom(SMALL))
    return root


FILE_PEERS = {"hashlib.file_digest": _file_digest, "read-loop": _read_loop,
              "hash_input (strict)": lambda p: str(hash_input(p)["sha256"])}


@pytest.mark.benchmark(group="rehash-file-256MB")
@pytest.mark.parametrize("name", list(FILE_PEERS))
def test_rehash_file(benchmark: Bench, big: Path, name: str) -> None:
    got = benchmark.pedantic(FILE_PEERS[name], args=(big,), rounds=3, iterations=1,
                             warmup_rounds=1)
    assert got == _file_digest(big)
    _record(benchmark, f"file-256MB/{name}", BIG)


def _cached(folder: Path) -> Callable[[Path], str]:
    cache = folder.parent / "hashes.json"
    saved = provenance._RACY_WINDOW_NS
    provenance._RACY_WINDOW_NS = -(10**18)  # the files were written a moment ago
    try:
        warm = InputHasher(cache, strict=False)
        warm.hash(folder)
        warm.save()
    finally:
        provenance._RACY_WINDOW_NS = saved
    return lambda f: str(InputHasher(cache, strict=False).hash(f)["sha256"])


@pytest.mark.benchmark(group="rehash-folder-4000-files")
@pytest.mark.parametrize("name", ["hashlib.file_digest", "read-loop", "hash_input (strict)",
                                  "InputHasher cached (local)"])
def test_rehash_folder(benchmark: Bench, folder: Path, name: str) -> None:
    runs = {"hashlib.file_digest": _folder_with(_file_digest),
            "read-loop": _folder_with(_read_loop),
            "hash_input (strict)": lambda f: str(hash_input(f)["sha256"])}
    target = runs[name] if name in runs else _cached(folder)
    got = benchmark.pedantic(target, args=(folder,), rounds=3, iterations=1, warmup_rounds=1)
    assert got == _folder_with(_file_digest)(folder)
    _record(benchmark, f"folder-4000x4KiB/{name}", N_SMALL * SMALL)
