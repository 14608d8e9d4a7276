"""Turn a model subject into a live model: check the folder, pick the backend, load it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.models.base import LiveModel, ModelLoadError
from harness.models.folder import inspect_folder

__all__ = ["load_model", "open_model"]

_OPTIONS = frozenset({"path", "backend", "untie", "dtype"})


def open_model(path: Path | str, backend: str | None = None, *, untie: bool = False,
               dtype: str = "float32") -> LiveModel:
    """Load the model folder at ``path`` with its own backend (detected unless given).

    ``untie`` loads the checkpoint as if its config said ``tie_word_embeddings = false``.
    """
    folder = inspect_folder(Path(path), backend)
    if folder.backend == "torch":
        from harness.models.torch_backend import load_torch

        return load_torch(folder, untie=untie, dtype=dtype)
    from harness.models.mlx_backend import load_mlx

    return load_mlx(folder, untie=untie, dtype=dtype)


def load_model(spec: Any, workspace: Any = None) -> LiveModel:
    """The ``model`` loader of the workspace: ``spec.options`` holds path, backend, untie, dtype."""
    options = dict(spec.options)
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        msg = (f"subject {spec.id!r}: unknown model option(s) {', '.join(unknown)}; "
               f"known: {', '.join(sorted(_OPTIONS))}")
        raise ModelLoadError(msg)
    backend = options.get("backend")
    untie = options.get("untie", False)
    if not isinstance(untie, bool):
        msg = f"subject {spec.id!r}: option 'untie' must be true or false, not {untie!r}"
        raise ModelLoadError(msg)
    return open_model(spec.path(), backend, untie=untie, dtype=str(options.get("dtype", "float32")))
