"""Turn a model subject into a live model: check the folder, pick the backend, load it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.models.base import LiveModel, ModelLoadError
from harness.models.folder import inspect_folder

__all__ = ["load_model", "model_folder", "open_model"]

_OPTIONS = frozenset({"path", "hub", "revision", "backend", "untie", "dtype"})


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


def model_folder(spec: Any, workspace: Any = None) -> Path:
    """The folder a model subject names: its ``path``, or its ``hub`` id's cached snapshot."""
    options = spec.options
    where = f"subject {spec.id!r}"
    if workspace is not None and getattr(workspace, "config_path", None) is not None \
            and getattr(spec, "source", "config") == "config":
        where = f"{workspace.config_path}: subject {spec.id!r}"
    if "hub" in options:
        if "path" in options:
            msg = (f"{where} sets both 'path' and 'hub'; keep one: path = a model folder, or "
                   f"hub = \"org/name\" for a model in the local Hugging Face cache")
            raise ModelLoadError(msg)
        from harness.models.hub import resolve_hub

        folder = resolve_hub(options["hub"], options.get("revision"), where=where)
        ref = folder.parent.parent / "refs" / str(options.get("revision", "main"))
        if ref.is_file() and hasattr(workspace, "imply_input"):  # a branch or tag, not a commit
            workspace.imply_input(folder, ref)
        return folder
    if "revision" in options:
        msg = (f"{where} sets 'revision' without 'hub'; a revision picks a snapshot of a Hub "
               f"model: add hub = \"org/name\", or drop revision")
        raise ModelLoadError(msg)
    if "path" not in options:
        msg = (f"{where} (model) needs 'path' (a model folder) or 'hub' (\"org/name\", a model "
               f"in the local Hugging Face cache)")
        raise ModelLoadError(msg)
    return Path(spec.path())


def load_model(spec: Any, workspace: Any = None) -> LiveModel:
    """The ``model`` loader of the workspace: ``spec.options`` holds path or hub (and revision),
    backend, untie, dtype."""
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
    return open_model(model_folder(spec, workspace), backend, untie=untie,
                      dtype=str(options.get("dtype", "float32")))
