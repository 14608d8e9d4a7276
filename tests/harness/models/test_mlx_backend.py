"""The MLX backend on the demo model as mlx_lm.convert wrote it: fp32 and 4-bit quantized."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.demo.lm import RECIPE
from harness.models import LiveModel, ModelLoadError, Quantization, open_model
from harness.models.folder import inspect_folder, read_safetensors_header

# float32 in both frameworks; the kernels differ (sums in another order), nothing else.
LOGIT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def mlx_model(demo_dirs: dict[str, Path]) -> Any:
    return open_model(demo_dirs["lm-mlx"])


@pytest.fixture(scope="module")
def mlx_q4(demo_dirs: dict[str, Path]) -> Any:
    return open_model(demo_dirs["lm-mlx-q4"])


def test_backend_is_detected_from_the_folder(demo_dirs: dict[str, Path]) -> None:
    """mlx_lm marks its files (safetensors metadata format=mlx); transformers marks pt."""
    for name, backend in (("lm-torch", "torch"), ("lm-mlx", "mlx"), ("lm-mlx-q4", "mlx")):
        assert inspect_folder(demo_dirs[name]).backend == backend
    header = read_safetensors_header(demo_dirs["lm-mlx-q4"] / "model.safetensors")
    assert header.metadata["format"] == "mlx"
    assert "model.embed_tokens.scales" in header.tensors


def test_protocol_fields(mlx_model: Any, mlx_q4: Any) -> None:
    """Both conversions fill the protocol; only the quantized one reports a quantization."""
    for model in (mlx_model, mlx_q4):
        assert isinstance(model, LiveModel)
        assert model.backend == "mlx"
        assert model.vocab_size == model.tokenizer_vocab_size == RECIPE.vocab_size
        assert (model.eos_id, model.bos_id, model.tied_in_config) == (1, None, True)
        assert model.dtype == "float32"
        assert model.head_shares_storage()
    assert mlx_model.quantization is None
    assert mlx_q4.quantization == Quantization(RECIPE.q_bits, RECIPE.q_group_size, "affine")


def test_torch_and_mlx_logits_agree(torch_model: Any, mlx_model: Any,
                                    english_ids: np.ndarray) -> None:
    """The same weights give the same logits in torch and in MLX (float32 both)."""
    delta = np.abs(torch_model.logits(english_ids) - mlx_model.logits(english_ids)).max()
    assert delta < LOGIT_TOLERANCE


def test_torch_and_mlx_token_nll_agree(torch_model: Any, mlx_model: Any,
                                       english_ids: np.ndarray) -> None:
    """Per-token NLL agrees across frameworks, masked positions included."""
    mask = np.ones_like(english_ids)
    mask[2, 30:] = 0
    a, b = torch_model.token_nll(english_ids, mask), mlx_model.token_nll(english_ids, mask)
    assert b.dtype == np.float64
    assert b.shape == a.shape
    np.testing.assert_allclose(a, b, atol=LOGIT_TOLERANCE)
    assert np.all(b[2, 29:] == 0)


def test_hidden_states_agree(torch_model: Any, mlx_model: Any, english_ids: np.ndarray) -> None:
    """Embeddings output and every block's output agree across frameworks."""
    a, b = torch_model.hidden_states(english_ids), mlx_model.hidden_states(english_ids)
    assert len(b) == RECIPE.num_layers + 1
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, atol=LOGIT_TOLERANCE)


def test_quantized_embedding_within_quantization_error(mlx_model: Any, mlx_q4: Any) -> None:
    """Each dequantized 4-bit entry lies within one quantization step of the fp32 value (MLX's
    affine grid is snapped so zero is exact, so rounding can move an entry up to ~one step)."""
    from harness.models.mlx_backend import _embedding

    exact, approx = mlx_model.input_embedding(), mlx_q4.input_embedding()
    assert approx.shape == exact.shape
    assert approx.dtype == np.float32
    scales = np.array(_embedding(mlx_q4.module).scales)  # [V, H / group]
    step = np.abs(np.repeat(scales, RECIPE.q_group_size, axis=1))
    assert np.all(np.abs(approx - exact) <= step * (1 + 1e-4) + 1e-7)
    assert np.abs(approx - exact).max() > 0  # it really is quantized
    np.testing.assert_array_equal(mlx_q4.output_projection(), approx)


def test_quantized_model_still_models_english(mlx_model: Any, mlx_q4: Any,
                                              english_ids: np.ndarray) -> None:
    """4-bit weights change the held-out NLL by a little, not by a lot."""
    exact = mlx_model.token_nll(english_ids).mean()
    approx = mlx_q4.token_nll(english_ids).mean()
    assert abs(approx - exact) < 0.25


def test_greedy_with_and_without_cache_agree(mlx_model: Any, torch_model: Any) -> None:
    """The mlx_lm KV cache and full recomputation give the same greedy tokens as torch."""
    prompt = mlx_model.encode("The first several generations of")
    cached = mlx_model.generate_greedy(prompt, 24, use_cache=True)
    assert cached == mlx_model.generate_greedy(prompt, 24, use_cache=False)
    assert cached == torch_model.generate_greedy(prompt, 24)


def test_untied_load_is_refused_by_mlx(demo_dirs: dict[str, Path]) -> None:
    """mlx_lm will not build an lm_head the file lacks: a load error naming the folder."""
    with pytest.raises(ModelLoadError, match="mlx_lm could not load the model"):
        open_model(demo_dirs["lm-mlx"], untie=True)


def test_truncated_mlx_weights(demo_dirs: dict[str, Path], tmp_path: Path) -> None:
    """The same file checks guard MLX folders."""
    import shutil

    folder = Path(shutil.copytree(demo_dirs["lm-mlx-q4"], tmp_path / "q4"))
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match=r"model\.safetensors.*truncated"):
        open_model(folder)
