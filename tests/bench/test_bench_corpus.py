"""Benchmark: the corpus audit against one plain numpy.bincount over the same memory-mapped shard.

Opt in with ``python -m pytest tests/bench/test_bench_corpus.py -m bench -s``. The shard is 64 M
skewed uint16 ids (128 MiB) over a GPT-2-sized vocabulary, written once into a temporary folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.metrics.corpus import Corpus, audit

pytestmark = pytest.mark.bench

N_TOKENS = 64 * 2**20
VOCAB = 50304


@pytest.fixture(autouse=True)
def _opt_in(request: pytest.FixtureRequest) -> None:
    if "bench" not in request.config.getoption("markexpr"):
        pytest.skip("benchmark: opt in with -m bench")


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Skewed ids (a power of a uniform draw: a few ids are frequent, most are rare)."""
    path = tmp_path_factory.mktemp("bench") / "shard.bin"
    rng = np.random.default_rng(0)
    with path.open("wb") as fh:
        for _ in range(N_TOKENS // 2**23):
            u = rng.random(2**23, dtype=np.float32)
            fh.write((u**4 * VOCAB).astype(np.uint16).tobytes())
    return path


def _corpus(shard: Path) -> Corpus:
    return Corpus("bench", (shard,), VOCAB, 0, "uint16")


def _plain_bincount(shard: Path) -> Any:
    return np.bincount(np.memmap(shard, dtype=np.uint16, mode="r"), minlength=VOCAB)


def _best_seconds(fn: Callable[[], Any], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_bench_audit(benchmark: Any, shard: Path):
    """Tokens per second of the full audit (counts, unk, distinct, entropy, per-shard totals)."""
    benchmark.group = "corpus-audit"
    result = benchmark.pedantic(audit, args=(_corpus(shard),), kwargs={"progress": False},
                                rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["tokens_per_s"] = N_TOKENS / benchmark.stats.stats.min
    assert result.total_tokens == N_TOKENS


def test_bench_plain_bincount(benchmark: Any, shard: Path):
    """Tokens per second of one numpy.bincount over the whole memory-mapped shard."""
    benchmark.group = "corpus-audit"
    counts = benchmark.pedantic(_plain_bincount, args=(shard,), rounds=3, iterations=1,
                                warmup_rounds=1)
    benchmark.extra_info["tokens_per_s"] = N_TOKENS / benchmark.stats.stats.min
    assert int(counts.sum()) == N_TOKENS


def test_audit_keeps_pace_with_bincount(shard: Path):
    """The audit's throughput is at least 0.8 of a bare bincount's (best of three each)."""
    _plain_bincount(shard)  # page the shard in
    audit_s = _best_seconds(lambda: audit(_corpus(shard), progress=False))
    plain_s = _best_seconds(lambda: _plain_bincount(shard))
    ratio = plain_s / audit_s
    print(f"\naudit {N_TOKENS / audit_s / 1e6:.0f} M tokens/s, plain bincount "
          f"{N_TOKENS / plain_s / 1e6:.0f} M tokens/s, audit/bincount throughput {ratio:.2f}")
    assert ratio >= 0.8
