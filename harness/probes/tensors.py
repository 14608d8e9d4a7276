"""Backend-neutral access to a live model's insides: weights, checkpoint tensors, blocks, norms.

torch models are reached through their ``nn.Module`` (``model.module``), MLX ones through theirs;
checkpoint tensors are read from the safetensors files on disk (numpy, no framework). torch and
mlx are imported only inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness.models.folder import inspect_folder
from harness.probes.registry import ProbeUnsupported

__all__ = [
    "NORM_EPS_KEYS",
    "checkpoint_names",
    "checkpoint_tensor",
    "config_value",
    "decoder_blocks",
    "loaded_arrays",
    "norm_modules",
    "require_backend",
    "set_norm_eps",
]

NORM_EPS_KEYS = ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_eps")


def require_backend(model: Any, *backends: str) -> None:
    if model.backend not in backends:
        msg = (f"this probe reads {' or '.join(backends)} modules; {model.path} is loaded with "
               f"{model.backend}")
        raise ProbeUnsupported(msg)


def config_value(config: dict[str, Any], *keys: str) -> tuple[str, Any] | None:
    """The first of ``keys`` in the config (or its ``text_config``), with its value."""
    for scope in (config, config.get("text_config") or {}):
        for key in keys:
            if key in scope:
                return key, scope[key]
    return None


def loaded_arrays(model: Any) -> dict[str, np.ndarray]:
    """Every parameter and buffer of the live model by checkpoint name, as float32 numpy."""
    require_backend(model, "torch", "mlx")
    if model.backend == "torch":
        return {name: t.detach().float().cpu().numpy()
                for name, t in model.module.state_dict().items()}
    import mlx.core as mx
    from mlx.utils import tree_flatten

    out: dict[str, np.ndarray] = {}
    pairs: Any = tree_flatten(model.module.parameters())
    for name, value in pairs:
        floating = mx.issubdtype(value.dtype, mx.floating)
        out[name] = np.array(value.astype(mx.float32) if floating else value)
    return out


def _weight_files(folder: Path) -> list[Path]:
    return [w.path for w in inspect_folder(folder).weights]


def checkpoint_names(folder: Path) -> set[str]:
    """Names of the tensors stored in the folder's safetensors files (headers only)."""
    return {name for w in inspect_folder(folder).weights for name in w.tensors}


def checkpoint_tensor(folder: Path, name: str) -> np.ndarray | None:
    """One tensor as stored on disk (float32 for floating types), or None when absent."""
    from safetensors import safe_open

    for path in _weight_files(folder):
        with safe_open(str(path), framework="numpy") as fh:
            if name in fh.keys():  # noqa: SIM118 - safe_open handles are not containers
                array: np.ndarray = fh.get_tensor(name)
                return array.astype(np.float32) if array.dtype.kind == "f" else array
    return None


def checkpoint_tensors(folder: Path) -> Iterator[tuple[str, np.ndarray]]:
    from safetensors import safe_open

    for path in _weight_files(folder):
        with safe_open(str(path), framework="numpy") as fh:
            for name in fh.keys():  # noqa: SIM118
                array: np.ndarray = fh.get_tensor(name)
                yield name, array.astype(np.float32) if array.dtype.kind == "f" else array


def decoder_blocks(model: Any) -> list[Any]:
    """The decoder blocks, in order."""
    require_backend(model, "torch", "mlx")
    inner = getattr(model.module, "model", None)
    layers = getattr(inner, "layers", None) if inner is not None else None
    if layers is None:
        layers = getattr(model.module, "layers", None)
    if layers is None:
        msg = f"cannot find the decoder blocks of {type(model.module).__name__} ({model.path})"
        raise ProbeUnsupported(msg)
    return list(layers)


def norm_modules(model: Any) -> list[tuple[str, Any, str]]:
    """(name, module, attribute holding eps) of every normalisation layer."""
    require_backend(model, "torch", "mlx")
    found = []
    for name, module in model.module.named_modules():
        for attr in ("variance_epsilon", "eps", "epsilon"):
            value = getattr(module, attr, None)
            if isinstance(value, float) and "norm" in type(module).__name__.lower():
                found.append((name, module, attr))
                break
    return found


def set_norm_eps(model: Any, eps: float) -> int:
    """Set every norm layer's eps in place; returns how many were set."""
    norms = norm_modules(model)
    for _, module, attr in norms:
        setattr(module, attr, eps)
    return len(norms)


def set_loaded_array(model: Any, name: str, value: np.ndarray) -> None:
    """Replace the live parameter ``name`` with ``value`` (same dtype as before), in place."""
    require_backend(model, "torch", "mlx")
    if model.backend == "torch":
        import torch

        param = model.module.get_parameter(name)
        with torch.no_grad():
            param.data = torch.from_numpy(np.ascontiguousarray(value)).to(param.dtype)
        return
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten

    current = dict(tree_flatten(model.module.parameters()))[name]
    model.module.update(tree_unflatten([(name, mx.array(value).astype(current.dtype))]))
