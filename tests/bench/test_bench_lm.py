"""Benchmarks of perplexity evaluation on the demo model (opt in: ``pytest -m bench``).

- ours: :func:`harness.metrics.lm.token_nll_stats` (encode, windows, length-sorted batches,
  ``model.token_nll``, float64 sums) against a plain loop that runs the same pre-encoded rows,
  right-padded in file order, through the torch module and ``F.cross_entropy(reduction="sum")``;
  the target is ours <= 1.10x plain.
- the transformers-docs strided recipe over the same examples joined into one sequence.
- the MLX demo model's forward against the torch one on the same batch.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from harness.metrics.lm import max_positions, token_nll_stats

pytestmark = pytest.mark.bench

torch = pytest.importorskip("torch")
N_EXAMPLES = 256
BATCH = 32


@pytest.fixture(scope="module")
def workspace() -> Any:
    from harness.workspace import Workspace

    return Workspace.discover()


@pytest.fixture(scope="module")
def model(workspace: Any) -> Any:
    return workspace.resolve("demo-torch")


@pytest.fixture(scope="module")
def texts(workspace: Any) -> tuple[str, ...]:
    texts: tuple[str, ...] = workspace.resolve("demo-eng-dev").texts[:N_EXAMPLES]
    return texts


def _rows(model: Any, texts: tuple[str, ...]) -> list[list[int]]:
    return [[model.eos_id, *model.encode(t)] for t in texts]


def plain_loop(model: Any, rows: list[list[int]]) -> tuple[float, int]:
    """Right-padded batches in file order, one forward each, summed cross-entropy."""
    import torch.nn.functional as F  # noqa: N812

    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(rows), BATCH):
            batch = rows[start:start + BATCH]
            width = max(len(r) for r in batch)
            ids = torch.full((len(batch), width), model.eos_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            for i, r in enumerate(batch):
                ids[i, : len(r)] = torch.tensor(r)
                labels[i, 1: len(r)] = torch.tensor(r[1:])
            logits = model.module(input_ids=ids, use_cache=False).logits[:, :-1].float()
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                   labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum")
            total += float(loss)
            count += int((labels[:, 1:] != -100).sum())
    return total, count


def docs_recipe(model: Any, rows: list[list[int]], max_length: int, stride: int) -> float:
    """The transformers docs' strided loop over the examples joined into one sequence."""
    input_ids = torch.tensor([[t for r in rows for t in r]])
    seq_len = input_ids.size(1)
    nll_sum, n_tokens, prev_end_loc = 0.0, 0, 0
    for begin_loc in range(0, seq_len, stride):
        end_loc = min(begin_loc + max_length, seq_len)
        trg_len = end_loc - prev_end_loc
        window = input_ids[:, begin_loc:end_loc]
        target_ids = window.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            neg_log_likelihood = model.module(window, labels=target_ids).loss
        num_loss_tokens = (target_ids != -100).sum().item() - target_ids.size(0)
        nll_sum += float(neg_log_likelihood) * num_loss_tokens
        n_tokens += num_loss_tokens
        prev_end_loc = end_loc
        if end_loc == seq_len:
            break
    return nll_sum / n_tokens


def _best_of(fn: Callable[[], Any], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _pedantic(benchmark: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=3, iterations=1,
                              warmup_rounds=1)


def test_bench_ours(benchmark: Any, model: Any, texts: tuple[str, ...]) -> None:
    stats = _pedantic(benchmark, token_nll_stats, model, texts, max_positions(model),
                      batch_size=BATCH)
    assert stats.n_examples == len(texts)


def test_bench_plain_loop(benchmark: Any, model: Any, texts: tuple[str, ...]) -> None:
    rows = _rows(model, texts)
    total, count = _pedantic(benchmark, plain_loop, model, rows)
    ours = token_nll_stats(model, texts, max_positions(model), batch_size=BATCH)
    assert count == ours.n_tokens
    assert total == pytest.approx(ours.total_nll, rel=1e-5)


def test_bench_docs_recipe(benchmark: Any, model: Any, texts: tuple[str, ...]) -> None:
    rows = _rows(model, texts)
    max_len = max_positions(model)
    mean = _pedantic(benchmark, docs_recipe, model, rows, max_len, max_len // 2)
    assert np.isfinite(mean)


def test_ours_within_ten_percent_of_plain(model: Any, texts: tuple[str, ...]) -> None:
    """Ours (encoding included) against the plain loop on pre-encoded rows, best of 5 each:
    in file order (what a plain loop does) and on our own length-sorted rows (our overhead)."""
    rows = _rows(model, texts)
    by_length = sorted(rows, key=len, reverse=True)
    max_len = max_positions(model)
    plain = _best_of(lambda: plain_loop(model, rows))
    plain_sorted = _best_of(lambda: plain_loop(model, by_length))
    ours = _best_of(lambda: token_nll_stats(model, texts, max_len, batch_size=BATCH))
    print(f"\nperplexity eval on {len(texts)} examples: ours {ours * 1e3:.1f} ms; plain "
          f"forward+CE {plain * 1e3:.1f} ms in file order ({ours / plain:.3f}x), "
          f"{plain_sorted * 1e3:.1f} ms on the same length-sorted rows "
          f"({ours / plain_sorted:.3f}x)")
    assert ours / plain <= 1.10


def test_mlx_vs_torch_forward(workspace: Any, model: Any, texts: tuple[str, ...]) -> None:
    """The same batch's logits through the fp32 MLX conversion and the torch model."""
    pytest.importorskip("mlx.core")
    mlx_model = workspace.resolve("demo-mlx")
    rows = _rows(model, texts[:BATCH])
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), model.eos_id, dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
    t_torch = [_best_of(lambda: model.logits(ids), 3) for _ in range(3)]
    t_mlx = [_best_of(lambda: mlx_model.logits(ids), 3) for _ in range(3)]
    print(f"\nforward [{ids.shape[0]}x{ids.shape[1]}] torch {statistics.median(t_torch) * 1e3:.1f} "
          f"ms, mlx {statistics.median(t_mlx) * 1e3:.1f} ms")
    diff = np.abs(model.logits(ids) - mlx_model.logits(ids)).max()
    assert diff < 1e-3
