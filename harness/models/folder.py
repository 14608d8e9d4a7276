"""What is in a model folder, checked before any framework sees it.

Reads config.json and the safetensors headers (pure Python: no torch, no mlx), so a folder that is
not a model, a truncated or corrupt weight file, a config that disagrees with the weights, or a
missing tokenizer each fail with a message naming the file and the fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.models.base import BACKENDS, ModelLoadError

__all__ = [
    "ModelFolder",
    "SafetensorsHeader",
    "check_tokenizer_fits",
    "inspect_folder",
    "read_safetensors_header",
]

_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2, "F16": 2,
    "BF16": 2, "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8,
}
_EMBED_SUFFIXES = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight",
                   "embed_in.weight", "tok_embeddings.weight")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
_EXTRA_FILES = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                "merges.txt", "chat_template.jinja", "generation_config.json",
                "model.safetensors.index.json")


@dataclass(frozen=True)
class SafetensorsHeader:
    """The tensors (dtype, shape) and metadata a safetensors file declares."""

    path: Path
    tensors: Mapping[str, tuple[str, tuple[int, ...]]]
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelFolder:
    """A checked model folder: its config, weight headers, tokenizer files and backend."""

    path: Path
    config: dict[str, Any]
    weights: tuple[SafetensorsHeader, ...]
    tokenizer_files: tuple[Path, ...]
    backend: str

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def files(self) -> list[Path]:
        extra = [self.path / name for name in _EXTRA_FILES if (self.path / name).is_file()]
        found = [self.config_path, *(w.path for w in self.weights), *self.tokenizer_files, *extra]
        return sorted(set(found))

    def tensor(self, name: str) -> tuple[Path, str, tuple[int, ...]] | None:
        for header in self.weights:
            if name in header.tensors:
                dtype, shape = header.tensors[name]
                return header.path, dtype, shape
        return None

    def tokenizer_error(self, exc: Exception) -> ModelLoadError:
        """The error for a tokenizer that does not load, with either backend's loader."""
        files = ", ".join(p.name for p in self.tokenizer_files)
        msg = (f"{self.path}: the tokenizer ({files}) does not load: {exc}; save it again with "
               f"tokenizer.save_pretrained({str(self.path)!r})")
        return ModelLoadError(msg)


def _corrupt(path: Path, why: str) -> ModelLoadError:
    msg = (f"{path}: not a valid safetensors file ({why}); the file is corrupt or was cut short "
           f"while copying: download or re-save it (save_pretrained / mlx_lm.convert)")
    return ModelLoadError(msg)


def read_safetensors_header(path: Path) -> SafetensorsHeader:
    """Parse and check a safetensors header against the file's size, without reading the data."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise _corrupt(path, f"{size} bytes, shorter than the 8-byte header length")
        n = int.from_bytes(head, "little")
        if n > size - 8:
            raise _corrupt(path, f"header length {n} exceeds the file's {size} bytes")
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _corrupt(path, "header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    tensors = {name: _tensor_entry(path, name, entry) for name, entry in header.items()}
    _check_coverage(path, header, 8 + n, size)
    return SafetensorsHeader(path, tensors, metadata)


def _tensor_entry(path: Path, name: str, entry: Any) -> tuple[str, tuple[int, ...]]:
    try:
        dtype, shape, (start, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise _corrupt(path, f"tensor {name!r} has a malformed header entry") from None
    width = _DTYPE_BYTES.get(dtype)
    if width is not None and end - start != width * math.prod(shape):
        raise _corrupt(path, f"tensor {name!r} spans {end - start} bytes, "
                             f"not {width * math.prod(shape)} for {dtype}{list(shape)}")
    return str(dtype), tuple(int(d) for d in shape)


def _check_coverage(path: Path, header: Mapping[str, Any], data_start: int, size: int) -> None:
    expected = data_start + max((int(e["data_offsets"][1]) for e in header.values()), default=0)
    if expected != size:
        why = "truncated" if expected > size else "trailing bytes"
        raise _corrupt(path, f"the header describes {expected} bytes, the file has {size}: {why}")


def _read_config(folder: Path) -> dict[str, Any]:
    config_path = folder / "config.json"
    if not config_path.is_file():
        msg = (f"{folder} is not a model folder: it has no config.json; point the subject's "
               f"'path' at a folder written by save_pretrained or mlx_lm.convert")
        raise ModelLoadError(msg)
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{config_path}: not valid JSON ({exc}); fix or re-save the config"
        raise ModelLoadError(msg) from None
    if not isinstance(config, dict):
        msg = f"{config_path}: expected a JSON object of model settings"
        raise ModelLoadError(msg)
    return config


def _weight_files(folder: Path) -> list[Path]:
    files = sorted(folder.glob("model*.safetensors"))
    if files:
        return files
    bins = sorted(folder.glob("*.bin")) + sorted(folder.glob("*.pt"))
    if bins:
        msg = (f"{folder}: weights only as pickled {bins[0].name}; falsify loads safetensors "
               f"only (safe loading): re-save with save_pretrained(..., safe_serialization=True)")
        raise ModelLoadError(msg)
    msg = (f"{folder} is not a model folder: config.json but no model*.safetensors weights; "
           f"copy the weights beside the config")
    raise ModelLoadError(msg)


def _tokenizer_files(folder: Path) -> tuple[Path, ...]:
    found = tuple(folder / name for name in _TOKENIZER_FILES if (folder / name).is_file())
    if not found:
        msg = (f"{folder}: no tokenizer (none of {', '.join(_TOKENIZER_FILES)}); save the "
               f"tokenizer into the model folder with tokenizer.save_pretrained({str(folder)!r})")
        raise ModelLoadError(msg)
    return found


def detect_backend(config: Mapping[str, Any], headers: tuple[SafetensorsHeader, ...],
                   folder: Path) -> str:
    """mlx when mlx_lm wrote the weights (metadata format=mlx) or the config is MLX-quantized."""
    formats = {h.metadata.get("format") for h in headers}
    if "mlx" in formats or "quantization" in config:
        return "mlx"
    if formats & {"pt", "pytorch", "torch"} or config.get("architectures"):
        return "torch"
    msg = (f"{folder}: cannot tell whether this is a torch or an MLX model (no safetensors "
           f"format metadata, no 'architectures' in config.json); set backend = \"torch\" or "
           f"\"mlx\" on the subject")
    raise ModelLoadError(msg)


def _config_int(config: Mapping[str, Any], key: str) -> int | None:
    value = config.get(key, config.get("text_config", {}).get(key))
    return int(value) if isinstance(value, int) else None


def _check_embedding(folder: Path, config: Mapping[str, Any],
                     headers: tuple[SafetensorsHeader, ...]) -> None:
    for header in headers:
        for name, (_, shape) in header.tensors.items():
            if name.endswith(_EMBED_SUFFIXES) and len(shape) == 2:
                _compare_embedding(folder, config, header, name, shape)
                return


def _compare_embedding(folder: Path, config: Mapping[str, Any], header: SafetensorsHeader,
                       name: str, shape: tuple[int, ...]) -> None:
    rows, cols = shape
    scales = header.tensors.get(name.removesuffix("weight") + "scales")
    group = (config.get("quantization") or {}).get("group_size")
    if scales is not None:  # MLX-quantized: columns are packed; the scales give the width
        cols = scales[1][1] * group if isinstance(group, int) else -1
    checks = (("vocab_size", rows), ("hidden_size", cols))
    for key, actual in checks:
        expected = _config_int(config, key)
        if expected is not None and actual >= 0 and expected != actual:
            msg = (f"{folder / 'config.json'} says {key} = {expected} but {header.path.name} "
                   f"holds {name} with {actual} ({'rows' if key == 'vocab_size' else 'columns'}; "
                   f"shape {list(shape)}): the config and the weights come from different "
                   f"models; restore the config that was saved with these weights")
            raise ModelLoadError(msg)


def inspect_folder(path: Path, backend: str | None = None) -> ModelFolder:
    """Check ``path`` holds a loadable model and say which backend it is for."""
    folder = Path(path)
    if not folder.is_dir():
        msg = f"model path {folder} is not a folder; point the subject's 'path' at a model folder"
        raise ModelLoadError(msg)
    config = _read_config(folder)
    headers = tuple(read_safetensors_header(p) for p in _weight_files(folder))
    tokenizer_files = _tokenizer_files(folder)
    if backend is not None and backend not in BACKENDS:
        msg = f"backend {backend!r} for {folder} is not one of {', '.join(BACKENDS)}"
        raise ModelLoadError(msg)
    chosen = backend or detect_backend(config, headers, folder)
    _check_embedding(folder, config, headers)
    return ModelFolder(folder, config, headers, tokenizer_files, chosen)


def check_tokenizer_fits(folder: ModelFolder, tokenizer_vocab_size: int, vocab_size: int) -> None:
    """A tokenizer with more ids than embedding rows would index past the embedding."""
    if tokenizer_vocab_size > vocab_size:
        files = ", ".join(p.name for p in folder.tokenizer_files)
        msg = (f"{folder.path}: the tokenizer ({files}) has {tokenizer_vocab_size} tokens but the "
               f"embedding has {vocab_size} rows; ids >= {vocab_size} would index past it: resize "
               f"the embedding (harness.models.resize) or use the tokenizer saved with the model")
        raise ModelLoadError(msg)
