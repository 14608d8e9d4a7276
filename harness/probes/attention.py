"""Probe of the attention projections' biases: present wherever config or checkpoint has them.

Qwen2-family attention always adds a bias to q, k and v; Llama- and Qwen3-style configs say
``attention_bias = true`` (q, k, v and o). A checkpoint whose biases the loaded modules have no
place for (a config flag lost in conversion, a checkpoint relabelled as another architecture)
loads with a warning about unexpected keys and runs without them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.evidence import Evidence
from harness.probes.context import ProbeContext
from harness.probes.registry import Finding, InterventionError, intervention, probe
from harness.probes.tensors import (
    checkpoint_names,
    checkpoint_tensor,
    config_value,
    decoder_blocks,
    require_backend,
)

__all__ = ["expected_by_config", "qkv_bias", "restore_qkv_bias"]

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
ALWAYS_BIASED = ("qwen2", "qwen2_moe", "qwen2_vl")  # model types whose q/k/v always carry a bias


def expected_by_config(config: dict[str, Any]) -> tuple[str, ...]:
    """The projections whose bias the config promises."""
    found = config_value(config, "attention_bias", "qkv_bias", "bias")
    if found is not None and found[1] is True:
        return PROJECTIONS if found[0] == "attention_bias" else PROJECTIONS[:3]
    return PROJECTIONS[:3] if config.get("model_type") in ALWAYS_BIASED else ()


def _bias_names(n_blocks: int, projections: tuple[str, ...] = PROJECTIONS) -> list[str]:
    return [f"model.layers.{i}.self_attn.{p}.bias" for i in range(n_blocks) for p in projections]


def _linear(model: Any, name: str) -> Any:
    """The q/k/v Linear a bias name belongs to."""
    _, _, block, _, proj, _ = name.split(".")
    return getattr(decoder_blocks(model)[int(block)].self_attn, proj)


def _loaded_bias(model: Any, name: str) -> bool:
    linear = _linear(model, name)
    if model.backend == "torch":
        return getattr(linear, "bias", None) is not None
    return "bias" in linear


@probe("qkv_bias")
def qkv_bias(ctx: ProbeContext, evidence: Evidence) -> Finding:
    """Is every attention bias the config promises or the checkpoint stores in the modules?"""
    model = ctx.model()
    require_backend(model, "torch", "mlx")
    n_blocks = len(decoder_blocks(model))
    stored = checkpoint_names(model.path)
    on_disk = [n for n in _bias_names(n_blocks) if n in stored]
    promised = _bias_names(n_blocks, expected_by_config(model.config))
    wanted = sorted(set(on_disk) | set(promised))
    missing = [n for n in wanted if not _loaded_bias(model, n)]
    evidence.measure("biases_promised_by_config", len(promised), unit="count")
    evidence.measure("biases_in_checkpoint", len(on_disk), unit="count")
    evidence.measure("biases_loaded", sum(_loaded_bias(model, n) for n in _bias_names(n_blocks)),
                     unit="count")
    evidence.measure("biases_missing", len(missing), unit="count")
    if missing:
        why = (f"config.json ({model.config.get('model_type')}) promises attention biases"
               if set(missing) & set(promised)
               else f"the checkpoint stores {len(on_disk)} attention bias tensors")
        return Finding.confirmed(f"{why} but {len(missing)} are absent from the loaded modules "
                                 f"(e.g. {missing[0]}): dropped at init or load")
    if not wanted:
        return Finding.refuted("neither the config nor the checkpoint has attention biases")
    return Finding.refuted(f"all {len(wanted)} attention biases are loaded")


def _set_bias(model: Any, linear: Any, stored: np.ndarray) -> None:
    if model.backend == "torch":
        import torch

        linear.bias = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(stored))
                                         .to(linear.weight.dtype), requires_grad=False)
        return
    import mlx.core as mx

    linear["bias"] = mx.array(stored).astype(linear.weight.dtype)


@intervention("restore_qkv_bias")
def restore_qkv_bias(ctx: ProbeContext) -> str:
    """Give each bias-less attention projection the bias stored in the checkpoint."""
    model = ctx.model()
    require_backend(model, "torch", "mlx")
    restored = []
    for name in _bias_names(len(decoder_blocks(model))):
        stored = None if _loaded_bias(model, name) else checkpoint_tensor(model.path, name)
        if stored is not None:
            _set_bias(model, _linear(model, name), stored)
            restored.append(name)
    if not restored:
        msg = f"the checkpoint in {model.path} stores no attention bias the modules lack"
        raise InterventionError(msg)
    return f"restored {len(restored)} attention bias(es) from the checkpoint"
