"""The MLX/mlx-lm backend: a model folder written by mlx_lm (plain or quantized), loaded with
mlx_lm's own loader and tokenizer.

Imported only when an MLX model is loaded (it imports mlx and mlx_lm at import time).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

from harness.models.base import ModelLoadError, Quantization, check_ids, check_mask, special_ids
from harness.models.folder import ModelFolder, check_tokenizer_fits

__all__ = ["MlxModel", "dense_weight", "load_mlx"]

# mlx ships no type information mypy can use: hold its modules as Any.
mx: Any = import_module("mlx.core")
nn: Any = import_module("mlx.nn")
Array = Any
Module = Any

_DTYPES = {"float32": mx.float32, "bfloat16": mx.bfloat16, "float16": mx.float16}
_QUANTIZED = (nn.QuantizedEmbedding, nn.QuantizedLinear)


def dense_weight(module: Module) -> Array:
    """The module's weight as floats: dequantized (mx.dequantize) when the module is quantized."""
    if isinstance(module, _QUANTIZED):
        return mx.dequantize(module.weight, module.scales, module.get("biases"),
                             module.group_size, module.bits, mode=module.mode)
    weight: Array = module.weight
    return weight


def _to_numpy(x: Array) -> np.ndarray:
    out: np.ndarray = np.array(x.astype(mx.float32))
    return out


def _load_module(folder: ModelFolder, untie: bool, dtype: str) -> tuple[Module, dict[str, Any]]:
    from mlx_lm.utils import load_model

    if dtype not in _DTYPES:
        msg = f"dtype {dtype!r} for {folder.path} is not one of {', '.join(_DTYPES)}"
        raise ModelLoadError(msg)
    overrides = {"tie_word_embeddings": False} if untie else None
    try:
        model, config = load_model(folder.path, model_config=overrides)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
        msg = (f"{folder.path}: mlx_lm could not load the model from "
               f"{', '.join(w.path.name for w in folder.weights)} with config.json: {exc}; "
               f"check that the config and the weights were saved together by mlx_lm.convert")
        raise ModelLoadError(msg) from exc
    model.set_dtype(_DTYPES[dtype])
    return model, config


def _load_tokenizer(folder: ModelFolder, config: dict[str, Any]) -> Any:
    from mlx_lm.utils import load_tokenizer

    try:
        return load_tokenizer(folder.path, eos_token_ids=config.get("eos_token_id"))  # type: ignore[no-untyped-call]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise folder.tokenizer_error(exc) from exc


def _embedding(model: Module) -> Module:
    inner = model.get("model")
    if isinstance(inner, nn.Module) and isinstance(inner.get("embed_tokens"), nn.Module):
        found: Module = inner["embed_tokens"]
        return found
    for _, module in model.named_modules():
        if isinstance(module, (nn.Embedding, nn.QuantizedEmbedding)):
            return module
    msg = f"no input embedding in {type(model).__name__}"
    raise ModelLoadError(msg)


class MlxModel:
    """A live mlx_lm model behind the ``LiveModel`` protocol."""

    backend = "mlx"

    def __init__(self, folder: ModelFolder, module: Module, tokenizer: Any) -> None:
        self.folder = folder
        self.path = folder.path
        self.config = folder.config
        self.module = module
        self.tokenizer = tokenizer
        emb = _embedding(module)
        self.vocab_size = int(emb.weight.shape[0])
        self.tokenizer_vocab_size = len(tokenizer)
        self.eos_id, self.bos_id = special_ids(tokenizer, self.config)
        quantized = isinstance(emb, nn.QuantizedEmbedding)
        self.dtype = str((emb.scales if quantized else emb.weight).dtype).rsplit(".", 1)[-1]
        self.quantization = (Quantization(emb.bits, emb.group_size, emb.mode) if quantized
                             else _config_quantization(self.config))
        self.tied_in_config = bool(self.config.get("tie_word_embeddings", False))
        check_tokenizer_fits(folder, self.tokenizer_vocab_size, self.vocab_size)

    def __repr__(self) -> str:
        return f"MlxModel({str(self.path)!r}, vocab_size={self.vocab_size}, dtype={self.dtype})"

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        text: str = self.tokenizer.decode(list(ids))
        return text

    def _forward(self, ids: np.ndarray) -> Array:
        out: Array = self.module(mx.array(check_ids(ids, self.vocab_size)))
        return out

    def logits(self, ids: np.ndarray) -> np.ndarray:
        return _to_numpy(self._forward(ids))

    def token_nll(self, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        keep = check_mask(mask, np.asarray(ids).shape)
        logits = self._forward(ids)[:, :-1].astype(mx.float32)
        target = mx.array(np.asarray(ids, dtype=np.int64)[:, 1:, None])
        picked = mx.take_along_axis(logits, target, axis=-1).squeeze(-1)
        nll = np.array(mx.logsumexp(logits, axis=-1) - picked).astype(np.float64)
        return np.where(keep, nll, 0.0)

    def hidden_states(self, ids: np.ndarray) -> list[np.ndarray]:
        captured: list[Array] = []
        with _recording(self.module.layers, captured):
            mx.eval(self._forward(ids))
        return [_to_numpy(h) for h in captured]

    def _has_head(self) -> bool:
        return isinstance(self.module.get("lm_head"), nn.Module)

    def input_embedding(self) -> np.ndarray:
        return _to_numpy(dense_weight(_embedding(self.module)))

    def output_projection(self) -> np.ndarray:
        head = self.module["lm_head"] if self._has_head() else _embedding(self.module)
        return _to_numpy(dense_weight(head))

    def head_shares_storage(self) -> bool:
        """True when there is no separate lm_head: the model projects with the embedding."""
        return not self._has_head()

    def generate_greedy(self, ids: Sequence[int], n: int, use_cache: bool = True) -> list[int]:
        prompt = check_ids(np.asarray([list(ids)]), self.vocab_size)
        if use_cache:
            return self._greedy_cached(prompt, n)
        seq = prompt[0].tolist()
        for _ in range(n):
            seq.append(int(mx.argmax(self._forward(np.asarray([seq]))[0, -1]).item()))
        new: list[int] = seq[prompt.shape[1]:]
        return new

    def _greedy_cached(self, prompt: np.ndarray, n: int) -> list[int]:
        from mlx_lm.models.cache import make_prompt_cache

        cache = make_prompt_cache(self.module)
        logits = self.module(mx.array(prompt), cache=cache)
        out: list[int] = []
        while len(out) < n:
            out.append(int(mx.argmax(logits[0, -1]).item()))
            if len(out) < n:
                logits = self.module(mx.array([[out[-1]]]), cache=cache)
        return out

    def files(self) -> list[Path]:
        return self.folder.files()


def _config_quantization(config: dict[str, Any]) -> Quantization | None:
    q = config.get("quantization")
    if isinstance(q, dict) and isinstance(q.get("bits"), int):
        return Quantization(q["bits"], int(q.get("group_size", 64)), str(q.get("mode", "affine")))
    return None


class _Recorder:
    """Stands in for a block during one forward pass, recording what goes in and comes out."""

    def __init__(self, block: Any, captured: list[Array], first: bool) -> None:
        self.block, self.captured, self.first = block, captured, first

    def __call__(self, x: Array, *args: Any, **kwargs: Any) -> Any:
        if self.first:
            self.captured.append(x)
        out = self.block(x, *args, **kwargs)
        self.captured.append(out[0] if isinstance(out, tuple) else out)
        return out


@contextmanager
def _recording(blocks: list[Any], captured: list[Array]) -> Iterator[None]:
    original = list(blocks)
    blocks[:] = [_Recorder(b, captured, i == 0) for i, b in enumerate(original)]
    try:
        yield
    finally:
        blocks[:] = original


def load_mlx(folder: ModelFolder, *, untie: bool = False, dtype: str = "float32") -> MlxModel:
    """Load a checked folder with mlx_lm (weights, config and tokenizer from the folder)."""
    module, config = _load_module(folder, untie, dtype)
    return MlxModel(folder, module, _load_tokenizer(folder, config))
