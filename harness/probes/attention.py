"""Probe of the attention input projections' biases: present wherever config or checkpoint has them.

Qwen2-family attention always adds a bias to q, k and v; Llama-style configs say so with
``attention_bias``. A checkpoint whose q/k/v biases the loaded modules have no place for (a Qwen2
checkpoint relabelled as another architecture, a config flag lost in conversion) loads with a
warning about unexpected keys and runs without them.
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

PROJECTIONS = ("q_proj", "k_proj", "v_proj")
ALWAYS_BIASED = ("qwen2", "qwen2_moe", "qwen2_vl")  # model types whose q/k/v always carry a bias


def expected_by_config(config: dict[str, Any]) -> bool:
    found = config_value(config, "attention_bias", "qkv_bias", "bias")
    return config.get("model_type") in ALWAYS_BIASED or (found is not None and found[1] is True)


def _bias_names(n_blocks: int) -> list[str]:
    return [f"model.layers.{i}.self_attn.{p}.bias" for i in range(n_blocks) for p in PROJECTIONS]


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
    """Does every q/k/v bias the config promises or the checkpoint stores exist in the modules?"""
    model = ctx.model()
    require_backend(model, "torch", "mlx")
    names = _bias_names(len(decoder_blocks(model)))
    stored = checkpoint_names(model.path)
    on_disk = [n for n in names if n in stored]
    by_config = expected_by_config(model.config)
    wanted = names if by_config else on_disk
    missing = [n for n in wanted if not _loaded_bias(model, n)]
    evidence.measure("config_expects_qkv_bias", int(by_config), unit="count")
    evidence.measure("qkv_biases_in_checkpoint", len(on_disk), unit="count")
    evidence.measure("qkv_biases_loaded", sum(_loaded_bias(model, n) for n in names), unit="count")
    evidence.measure("qkv_biases_missing", len(missing), unit="count")
    if missing:
        why = (f"config.json ({model.config.get('model_type')}) promises q/k/v biases"
               if by_config else f"the checkpoint stores {len(on_disk)} q/k/v bias tensors")
        return Finding.confirmed(f"{why} but {len(missing)} are absent from the loaded modules "
                                 f"(e.g. {missing[0]}): dropped at init or load")
    if not wanted:
        return Finding.refuted("neither the config nor the checkpoint has q/k/v biases")
    return Finding.refuted(f"all {len(wanted)} q/k/v biases are loaded")


@intervention("restore_qkv_bias")
def restore_qkv_bias(ctx: ProbeContext) -> str:
    """Give each bias-less q/k/v projection the bias stored in the checkpoint (torch)."""
    model = ctx.model()
    require_backend(model, "torch")
    import torch

    restored = []
    for name in _bias_names(len(decoder_blocks(model))):
        if _loaded_bias(model, name):
            continue
        stored = checkpoint_tensor(model.path, name)
        if stored is None:
            continue
        linear = _linear(model, name)
        linear.bias = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(stored))
                                         .to(linear.weight.dtype), requires_grad=False)
        restored.append(name)
    if not restored:
        msg = f"the checkpoint in {model.path} stores no q/k/v bias the modules lack"
        raise InterventionError(msg)
    return f"restored {len(restored)} q/k/v bias(es) from the checkpoint"
