"""Benchmarks of the live-model layer on the demo LM (opt in: ``pytest -m bench``).

Forward (token NLL) of one batch through torch, MLX fp32 and MLX 4-bit; greedy decoding with and
without the KV cache; loading a model folder. No targets: the numbers are for reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.bench

BATCH, WIDTH = 8, 128


@pytest.fixture(scope="module")
def demo() -> dict[str, Path]:
    from harness.demo.build import build_demo
    from harness.workspace import Workspace

    return build_demo(Workspace.discover(Path(__file__).parent), progress=False)


@pytest.fixture(scope="module")
def ids(demo: dict[str, Path]) -> np.ndarray:
    from harness.demo import CORPORA_DIR
    from harness.models import open_model

    text = (CORPORA_DIR / "eng_Latn.dev").read_text(encoding="utf-8")[:40000]
    tokens = open_model(demo["lm-torch"]).encode(text)[: BATCH * WIDTH]
    return np.asarray(tokens, dtype=np.int64).reshape(BATCH, WIDTH)


@pytest.mark.parametrize("artifact", ["lm-torch", "lm-mlx", "lm-mlx-q4"])
def test_token_nll_forward(benchmark: Any, demo: dict[str, Path], ids: np.ndarray,
                           artifact: str) -> None:
    """token_nll of an [8 x 128] batch."""
    if artifact.startswith("lm-mlx"):
        pytest.importorskip("mlx.core")
    from harness.models import open_model

    model = open_model(demo[artifact])
    nll = benchmark(model.token_nll, ids)
    benchmark.extra_info["mean_nll_nats"] = float(nll.mean())
    assert nll.shape == (BATCH, WIDTH - 1)


@pytest.mark.parametrize("artifact", ["lm-torch", "lm-mlx"])
@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generation(benchmark: Any, demo: dict[str, Path], artifact: str,
                           use_cache: bool) -> None:
    """64 greedy tokens after a short prompt."""
    if artifact.startswith("lm-mlx"):
        pytest.importorskip("mlx.core")
    from harness.models import open_model

    model = open_model(demo[artifact])
    prompt = model.encode("The first several generations of")
    out = benchmark(model.generate_greedy, prompt, 64, use_cache)
    assert len(out) == 64


@pytest.mark.parametrize("artifact", ["lm-torch", "lm-mlx-q4"])
def test_load(benchmark: Any, demo: dict[str, Path], artifact: str) -> None:
    """open_model on a folder: checks, weights, tokenizer."""
    if artifact.startswith("lm-mlx"):
        pytest.importorskip("mlx.core")
    from harness.models import open_model

    model = benchmark(open_model, demo[artifact])
    assert model.vocab_size == 2048
