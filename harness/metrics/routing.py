"""Mixture-of-experts routing, read from a live torch model's own forward pass.

transformers' MoE blocks (Qwen3-MoE, Mixtral, ... in transformers 5) hand the routing to an
``*Experts`` module as ``(hidden_states, top_k_index, top_k_weights)``: the weights each token's
chosen experts are actually scaled by. A forward pre-hook on each such module records those
weights, so the measurement is of what the model did, not of a re-derivation from its config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RoutingError", "RoutingWeights", "routing_weights"]


class RoutingError(ValueError):
    """The model has no MoE block the hook can read; the message names the model and the fix."""


@dataclass(frozen=True)
class RoutingWeights:
    """Per MoE block (in forward order): the top-k weights of every routed token, [tokens, k]."""

    blocks: tuple[str, ...]
    weights: tuple[np.ndarray, ...]

    @property
    def top_k(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def tokens(self) -> int:
        return int(self.weights[0].shape[0])

    def sum_error(self) -> list[float]:
        """Per block: the largest |sum of a token's top-k weights - 1|."""
        return [float(np.abs(w.astype(np.float64).sum(axis=1) - 1.0).max()) for w in self.weights]

    def min_sum(self) -> list[float]:
        return [float(w.astype(np.float64).sum(axis=1).min()) for w in self.weights]


def _expert_modules(module: Any) -> list[tuple[str, Any]]:
    return [(name, sub) for name, sub in module.named_modules()
            if type(sub).__name__.endswith("Experts")]


def routing_weights(model: Any, texts: Sequence[str], *, max_tokens: int = 64) -> RoutingWeights:
    """Run ``model`` (a torch :class:`LiveModel`) on ``texts`` (each cut to ``max_tokens``) and
    return the top-k weights its MoE blocks were given."""
    import torch

    module = getattr(model, "module", None)
    if model.backend != "torch" or module is None:
        msg = (f"{model.path}: routing weights are read from a torch model's forward pass; this "
               f"is a {model.backend} model: bind the claim to the torch checkpoint")
        raise RoutingError(msg)
    experts = _expert_modules(module)
    if not experts:
        msg = (f"{model.path}: no mixture-of-experts block found (no *Experts module taking "
               f"top_k_index and top_k_weights); is this an MoE model (Qwen3-MoE, Mixtral)?")
        raise RoutingError(msg)
    seen: dict[str, list[np.ndarray]] = {name: [] for name, _ in experts}

    def hook(name: str) -> Any:
        def record(_: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            weights = args[2] if len(args) > 2 else kwargs["top_k_weights"]
            seen[name].append(weights.detach().float().cpu().numpy())
        return record

    handles = [sub.register_forward_pre_hook(hook(name), with_kwargs=True)
               for name, sub in experts]
    try:
        with torch.inference_mode():
            for text in texts:
                ids = list(model.encode(text))[:max_tokens]
                if ids:
                    model.logits(np.asarray([ids], dtype=np.int64))
    finally:
        for handle in handles:
            handle.remove()
    if not any(seen.values()):
        msg = f"{model.path}: the eval texts gave no tokens to route"
        raise RoutingError(msg)
    return RoutingWeights(tuple(seen), tuple(np.concatenate(v) for v in seen.values()))
