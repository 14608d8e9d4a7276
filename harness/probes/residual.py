"""Probe of the residual stream: does every block's attention and MLP branch contribute?

Forward hooks record each branch's output on real tokens. A branch whose output is exactly zero
everywhere adds nothing to the residual stream (a projection left as a zero buffer); a
non-finite one poisons it. Either is the condition; exact zeros and non-finite values need no
tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.evidence import Evidence
from harness.probes.context import ProbeContext
from harness.probes.registry import Finding, InterventionError, intervention, probe
from harness.probes.tensors import (
    checkpoint_tensor,
    decoder_blocks,
    loaded_arrays,
    require_backend,
    set_loaded_array,
)

__all__ = ["Branch", "branch_outputs", "residual_stream", "restore_residual_branch"]

BRANCHES = ("self_attn", "mlp")


@dataclass(frozen=True)
class Branch:
    block: int
    name: str  # "self_attn" or "mlp"
    rms: float
    zero: bool
    finite: bool

    @property
    def prefix(self) -> str:
        return f"model.layers.{self.block}.{self.name}."


@contextmanager
def _hooked(blocks: list[Any], out: dict[tuple[int, str], Any]) -> Iterator[None]:
    def hook(key: tuple[int, str]) -> Any:
        def record(_: Any, __: Any, output: Any) -> None:
            out[key] = (output[0] if isinstance(output, tuple) else output).detach().float()

        return record

    handles = [getattr(block, name).register_forward_hook(hook((i, name)))
               for i, block in enumerate(blocks) for name in BRANCHES if hasattr(block, name)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def branch_outputs(model: Any, ids: np.ndarray) -> list[Branch]:
    """Each block's attention and MLP output on ``ids``: rms, all-zero, all-finite (torch)."""
    require_backend(model, "torch")
    outputs: dict[tuple[int, str], Any] = {}
    with _hooked(decoder_blocks(model), outputs):
        model.logits(ids)
    branches = []
    for (block, name), value in sorted(outputs.items()):
        finite = bool(value.isfinite().all())
        rms = float(value.pow(2).mean().sqrt()) if finite else float("nan")
        branches.append(Branch(block, name, rms, not bool(value.count_nonzero()), finite))
    return branches


@probe("residual_stream")
def residual_stream(ctx: ProbeContext, evidence: Evidence) -> Finding:
    """Is every block's attention and MLP contribution finite and non-zero?"""
    branches = branch_outputs(ctx.model(), ctx.tokens())
    if not branches:
        return Finding.inconclusive("no attention or MLP branch found to hook")
    zero = [b for b in branches if b.zero]
    broken = [b for b in branches if not b.finite]
    evidence.measure("branches", len(branches), unit="count")
    evidence.measure("zero_branches", len(zero), unit="count")
    evidence.measure("nonfinite_branches", len(broken), unit="count")
    finite = [b.rms for b in branches if b.finite]
    if finite:
        evidence.measure("min_branch_rms", min(finite), unit="1")
    blocks = sorted({b.block for b in branches})
    evidence.attach("branch_rms", {"x": blocks, "series": {
        name: [next((b.rms if b.finite else None for b in branches
                     if b.block == i and b.name == name), None) for i in blocks]
        for name in BRANCHES}})
    if zero or broken:
        named = ", ".join(f"block {b.block} {b.name} ({'zero' if b.zero else 'non-finite'})"
                          for b in zero + broken)
        return Finding.confirmed(f"{len(zero) + len(broken)} residual branch(es) add nothing "
                                 f"usable to the stream: {named}")
    return Finding.refuted(f"all {len(branches)} branches contribute (smallest output rms "
                           f"{min(finite):.3g})")


@intervention("restore_residual_branch")
def restore_residual_branch(ctx: ProbeContext) -> str:
    """Reload each all-zero weight of a silent branch from the reference checkpoint on disk."""
    model = ctx.model()
    reference = ctx.reference()
    if reference is None:
        msg = "the subject names no reference checkpoint to restore the silent branch from"
        raise InterventionError(msg)
    silent = [b for b in branch_outputs(model, ctx.tokens()) if b.zero]
    loaded = loaded_arrays(model)
    restored = []
    for name, value in sorted(loaded.items()):
        if any(name.startswith(b.prefix) for b in silent) and not value.any():
            stored = checkpoint_tensor(reference.path, name)
            if stored is not None and stored.shape == value.shape and stored.any():
                set_loaded_array(model, name, stored)
                restored.append(name)
    if not restored:
        msg = "no all-zero weight of a silent branch has a non-zero namesake in the reference"
        raise InterventionError(msg)
    return f"restored {len(restored)} tensor(s) from {reference.path.name}: {', '.join(restored)}"
