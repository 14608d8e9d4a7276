"""Decoders: a model and the two greedy decoding paths a speed claim compares.

A subject of kind ``decoder`` names the user's own decoding code::

    [tool.falsify.subjects.my-sampler]
    kind = "decoder"
    model = "my-model"                       # a model subject (torch or MLX)
    cached = "sampling:greedy_with_cache"    # module:function, imported from the workspace root
    stateless = "sampling:greedy_recompute"  # optional: the harness's recompute-every-step loop

Each function is called as ``fn(module, prompt_ids, n) -> list[int]``, with the model's loaded
``torch.nn.Module`` or ``mlx.nn.Module``, a list of token ids and the number of tokens to
generate. A model subject is a decoder too: the harness's own cached and stateless greedy loops.
The file holding each function is an input of the evidence, so a changed sampler makes it STALE.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.workspace import SubjectSpec, Workspace, WorkspaceError

__all__ = ["Decoder", "as_decoder", "load_decoder", "prompt_ids"]

DecodeFn = Callable[[Sequence[int], int], list[int]]


@dataclass(frozen=True)
class Decoder:
    id: str
    model: Any  # a LiveModel (harness.models)
    cached: DecodeFn
    stateless: DecodeFn
    cached_name: str
    stateless_name: str
    sources: tuple[Path, ...] = ()  # files holding user decoding functions (inputs)


def _harness_paths(model: Any) -> tuple[DecodeFn, DecodeFn]:
    def cached(ids: Sequence[int], n: int) -> list[int]:
        out: list[int] = model.generate_greedy(ids, n, use_cache=True)
        return out

    def stateless(ids: Sequence[int], n: int) -> list[int]:
        out: list[int] = model.generate_greedy(ids, n, use_cache=False)
        return out

    return cached, stateless


def as_decoder(subject_id: str, live: Any) -> Decoder:
    """A decoder subject as is; a model subject with the harness's own two greedy loops."""
    if isinstance(live, Decoder):
        return live
    if not hasattr(live, "generate_greedy"):
        msg = (f"subject {subject_id!r} is a {type(live).__name__}; this claim times greedy "
               f"decoding: give it a model subject, or one of kind decoder")
        raise TypeError(msg)
    cached, stateless = _harness_paths(live)
    return Decoder(subject_id, live, cached, stateless, "harness cached greedy",
                   "harness stateless greedy")


def _function(target: Any, key: str, where: str, root: Path) -> tuple[Callable[..., Any], Path]:
    module_name, _, name = target.partition(":") if isinstance(target, str) else ("", "", "")
    if not module_name or not name:
        msg = (f"{where}: {key} must be \"module:function\" (a function taking the loaded "
               f"module, a list of prompt ids and n, returning n token ids), got {target!r}")
        raise WorkspaceError(msg)
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        msg = f"{where}: {key} = {target!r}: cannot import {module_name!r} ({exc})"
        raise WorkspaceError(msg) from exc
    finally:
        if added:
            sys.path.remove(str(root))
    fn = getattr(module, name, None)
    if not callable(fn):
        msg = f"{where}: {key} = {target!r}: {module_name} has no function {name!r}"
        raise WorkspaceError(msg)
    source = inspect.getsourcefile(fn)
    if source is None:
        msg = f"{where}: {key} = {target!r}: the function has no source file to record"
        raise WorkspaceError(msg)
    return fn, Path(source)


def _bound(fn: Callable[..., Any], module: Any) -> DecodeFn:
    def run(ids: Sequence[int], n: int) -> list[int]:
        return [int(t) for t in fn(module, list(ids), n)]

    return run


def load_decoder(spec: SubjectSpec, workspace: Workspace) -> Decoder:
    """Workspace loader for ``kind = "decoder"``: ``model``, ``cached`` and maybe ``stateless``."""
    where = spec.where(workspace)
    model_id = spec.options.get("model")
    if not isinstance(model_id, str) or not model_id:
        msg = f"{where}: a decoder needs model = \"<model subject id>\", got {model_id!r}"
        raise WorkspaceError(msg)
    model = workspace.resolve(model_id)
    module = getattr(model, "module", None)
    if module is None or not hasattr(model, "generate_greedy"):
        msg = f"{where}: model = {model_id!r} is not a model subject (kind model)"
        raise WorkspaceError(msg)
    _, default_stateless = _harness_paths(model)
    if "cached" not in spec.options:
        msg = (f"{where}: a decoder needs cached = \"module:function\", the cached decoding "
               f"path under test")
        raise WorkspaceError(msg)
    fn, source = _function(spec.options["cached"], "cached", where, workspace.root)
    cached, sources = _bound(fn, module), [source]
    stateless, stateless_name = default_stateless, "harness stateless greedy"
    if "stateless" in spec.options:
        fn, source = _function(spec.options["stateless"], "stateless", where, workspace.root)
        stateless, stateless_name = _bound(fn, module), str(spec.options["stateless"])
        sources.append(source)
    return Decoder(spec.id, model, cached, stateless, str(spec.options["cached"]),
                   stateless_name, tuple(dict.fromkeys(sources)))


def prompt_ids(model: Any, texts: Sequence[str], count: int, length: int,
               source: str = "the eval text") -> list[list[int]]:
    """The first ``count`` texts at least ``length`` tokens long, as their first ``length`` ids
    (the prompts of the decoding, export and parity claims); ValueError naming ``source`` when
    there are too few, never fewer prompts than the claim's parameters say."""
    prompts = []
    for text in texts:
        ids = list(model.encode(text))
        if len(ids) >= length:
            prompts.append(ids[:length])
        if len(prompts) == count:
            return prompts
    msg = f"{source}: fewer than {count} lines of {length} tokens to prompt with"
    raise ValueError(msg)
