"""The live-model protocol every backend implements, and its error and quantization types.

Nothing here imports torch or mlx: the backends do, lazily, when a model is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["BACKENDS", "LiveModel", "ModelLoadError", "Quantization", "check_ids", "check_mask",
           "pack_rows", "special_ids"]

BACKENDS = ("torch", "mlx")


class ModelLoadError(ValueError):
    """A model folder cannot be loaded: the message names the folder or file and the fix."""


@dataclass(frozen=True)
class Quantization:
    """How a quantized weight is packed (MLX affine groups, as mlx_lm writes them)."""

    bits: int
    group_size: int
    mode: str = "affine"


@runtime_checkable
class LiveModel(Protocol):
    """A real causal language model loaded from real files, seen through numpy.

    Token ids are the raw ids of the text: ``encode`` adds no special tokens (``bos_id`` is there
    for callers that want one). Batches are right-padded; ``mask`` (1 = real token) says where.
    """

    path: Path  #: the model folder (declare it: ``evidence.input(model.path)``)
    backend: str  #: "torch" or "mlx"
    config: dict[str, Any]  #: the folder's config.json
    vocab_size: int  #: rows of the input embedding (= logits per position): |V| for ln|V|
    tokenizer_vocab_size: int  #: entries of the tokenizer, added tokens included
    eos_id: int | None
    bos_id: int | None
    dtype: str  #: the weights' dtype as loaded ("float32", "bfloat16", ...)
    quantization: Quantization | None  #: None unless the weights are quantized (MLX)
    tied_in_config: bool  #: the config says the head shares the embedding's weights

    def encode(self, text: str) -> list[int]:
        """The text's token ids, without special tokens."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids``."""
        ...

    def logits(self, ids: np.ndarray) -> np.ndarray:
        """Logits for int ids [B, T]: float32 [B, T, vocab_size] (no attention mask: pad right)."""
        ...

    def token_nll(self, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """NLL in nats of each next token: float64 [B, T-1], position t scoring ``ids[:, t+1]``
        given ``ids[:, :t+1]``; 0.0 where ``mask`` (1 = real token, right-padded) leaves it out."""
        ...

    def hidden_states(self, ids: np.ndarray) -> list[np.ndarray]:
        """The residual stream, float32 [B, T, hidden]: the embedding output, then every decoder
        block's output (num_hidden_layers + 1 arrays)."""
        ...

    def input_embedding(self) -> np.ndarray:
        """A float32 copy of the input embedding, [vocab_size, hidden] (dequantized)."""
        ...

    def output_projection(self) -> np.ndarray:
        """A float32 copy of the output head's weight, [vocab_size, hidden]; the embedding's
        when the model has no separate head."""
        ...

    def head_shares_storage(self) -> bool:
        """The loaded head is the embedding's storage (tied in memory, not just equal)."""
        ...

    def generate_greedy(self, ids: Sequence[int], n: int, use_cache: bool = True) -> list[int]:
        """The ``n`` next ids by argmax after the prompt ``ids`` (with or without a KV cache)."""
        ...

    def files(self) -> list[Path]:
        """The folder's files the model was loaded from (config, weights, tokenizer)."""
        ...


def check_ids(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """``ids`` as int64 [B, T] with every id a row of the embedding, or a ValueError saying why."""
    arr = np.asarray(ids)
    if arr.ndim != 2 or arr.shape[1] == 0 or not np.issubdtype(arr.dtype, np.integer):
        msg = (f"token ids must be a non-empty integer array [batch, time]; "
               f"got {arr.dtype} {arr.shape}")
        raise ValueError(msg)
    low, high = int(arr.min()), int(arr.max())
    if low < 0 or high >= vocab_size:
        msg = (f"token ids must lie in [0, {vocab_size}) (the embedding's rows); got ids from "
               f"{low} to {high}: encode with this model's own tokenizer")
        raise ValueError(msg)
    return arr.astype(np.int64, copy=False)


def check_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """Which of the [B, T-1] predictions count: position t when tokens t and t+1 are real."""
    if mask is None:
        return np.ones((shape[0], shape[1] - 1), dtype=bool)
    m = np.asarray(mask)
    if m.shape != shape:
        msg = f"mask shape {m.shape} differs from the ids' shape {shape}"
        raise ValueError(msg)
    real = m.astype(bool)
    if np.any(real[:, 1:] & ~real[:, :-1]):
        msg = "mask must be right-padded (1s then 0s in every row): no attention mask is applied"
        raise ValueError(msg)
    keep: np.ndarray = real[:, 1:] & real[:, :-1]
    return keep


def _first_int(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, int) else None


def special_ids(tokenizer: Any, config: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(eos, bos) ids: the tokenizer's, else the config's eos (lists: their first id)."""
    eos = _first_int(tokenizer.eos_token_id)
    if eos is None:
        eos = _first_int(config.get("eos_token_id"))
    return eos, _first_int(tokenizer.bos_token_id)


def pack_rows(encoded: Iterable[Sequence[int]], rows: int, length: int) -> np.ndarray | None:
    """Up to ``rows`` x ``length`` ids from a stream of encoded texts; None when not one row."""
    stream: list[int] = []
    for ids in encoded:
        stream += ids
        if len(stream) >= rows * length:
            break
    n = min(rows, len(stream) // length)
    if n == 0:
        return None
    return np.asarray(stream[: n * length], dtype=np.int64).reshape(n, length)
