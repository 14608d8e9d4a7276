"""Probes of the weights as loaded: is the head tied, is every tensor the one on disk?

- ``tied_weights`` / ``retie_head``: a config that ties the output projection to the input
  embedding, and a loaded head that is a separate tensor (the loader initialised it).
- ``layout`` / ``fix_layout``: each loaded tensor against the checkpoint on disk, the subject's
  own and the reference's (the trusted source of the same weights): a square tensor that equals
  the stored one transposed was saved or loaded in the other layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.evidence import Evidence
from harness.keywords import paired
from harness.probes.context import ProbeContext
from harness.probes.registry import Finding, InterventionError, intervention, probe
from harness.probes.tensors import (
    checkpoint_names,
    checkpoint_tensor,
    checkpoint_tensors,
    loaded_arrays,
    set_loaded_array,
)

__all__ = ["LayoutReport", "compare_layout", "fix_layout", "layout", "retie_head", "tied_weights"]

HEAD = "lm_head.weight"
EMBEDDING = "model.embed_tokens.weight"


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b))) if a.shape == b.shape else math.inf


@probe("tied_weights")
def tied_weights(ctx: ProbeContext, evidence: Evidence) -> Finding:
    """Config says tied, yet the loaded head is its own tensor, unlike the embedding?"""
    model = ctx.model()
    head, embedding = model.output_projection(), model.input_embedding()
    shares, tied = bool(model.head_shares_storage()), bool(model.tied_in_config)
    stored_head = HEAD in checkpoint_names(model.path)
    diff = _max_abs_diff(head, embedding)
    evidence.measure("config_ties_head", int(tied), unit="count")
    evidence.measure("checkpoint_stores_head", int(stored_head), unit="count")
    evidence.measure("head_shares_storage", int(shares), unit="count")
    evidence.measure("head_rms", _rms(head), unit="1")
    evidence.measure("embedding_rms", _rms(embedding), unit="1")
    if math.isfinite(diff):
        evidence.measure("head_vs_embedding_max_abs_diff", diff, unit="1")
    _measure_vs_checkpoint(model, head, evidence)
    if shares or diff == 0.0:
        return Finding.refuted(f"the loaded head is the input embedding (shared storage: {shares})")
    if tied:
        return Finding.confirmed(
            f"config.json ties the head (tie_word_embeddings = true) but the loaded head is a "
            f"separate tensor, max |head - embedding| = {diff:.4g}: the loader did not tie it")
    if not stored_head:
        return Finding.confirmed(
            f"the checkpoint stores no {HEAD} yet the model was loaded untied: its head is what "
            f"the loader initialised, not trained weights")
    return Finding.refuted(f"the config unties the head and the checkpoint stores its own {HEAD}")


def _measure_vs_checkpoint(model: Any, head: np.ndarray, evidence: Evidence) -> None:
    """Head statistics against the checkpoint's stored embedding (not for packed weights)."""
    if getattr(model, "quantization", None) is not None:
        return
    stored = checkpoint_tensor(model.path, EMBEDDING)
    if stored is not None and stored.shape == head.shape:
        evidence.measure("checkpoint_embedding_rms", _rms(stored), unit="1")
        evidence.measure("head_vs_checkpoint_embedding_max_abs_diff",
                         _max_abs_diff(head, stored), unit="1")


@intervention("retie_head")
def retie_head(ctx: ProbeContext) -> str:
    """Point the output projection at the input embedding's weight."""
    model = ctx.model()
    if model.backend == "torch":
        head = model.module.get_output_embeddings()
        if head is None:
            msg = f"{type(model.module).__name__} has no separate output projection to re-tie"
            raise InterventionError(msg)
        head.weight = model.module.get_input_embeddings().weight
        return "lm_head.weight now is model.embed_tokens.weight (one tensor)"
    if getattr(model, "quantization", None) is not None:
        msg = "re-tying a quantized MLX head is not supported: convert the checkpoint again"
        raise InterventionError(msg)
    module = model.module
    module["lm_head"].weight = module["model"]["embed_tokens"].weight
    return "lm_head.weight now is model.embed_tokens.weight"


# --- layout ----------------------------------------------------------------------------------


@dataclass
class LayoutReport:
    compared: int = 0
    transposed: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)


def _classify(live: np.ndarray, stored: np.ndarray) -> str:
    if live.shape == stored.shape and np.array_equal(live, stored):
        return "equal"
    if stored.ndim == 2 and live.shape == stored.T.shape and np.array_equal(live, stored.T):
        return "transposed"
    return "differs"


@paired
def compare_layout(*, loaded: dict[str, np.ndarray], stored: Iterable[tuple[str, np.ndarray]],
                   source: str, report: LayoutReport) -> None:
    for name, array in stored:
        live = loaded.get(name)
        if live is None:
            continue
        report.compared += 1
        kind = _classify(live, array)
        if kind == "transposed":
            report.transposed.append(f"{name} ({source})")
        elif kind == "differs":
            report.differing.append(f"{name} ({source})")


def _layout_report(ctx: ProbeContext) -> tuple[LayoutReport, dict[str, np.ndarray]]:
    model = ctx.model()
    loaded = loaded_arrays(model)
    report = LayoutReport()
    compare_layout(loaded=loaded, stored=checkpoint_tensors(model.path), source="own checkpoint",
                   report=report)
    reference = ctx.reference()
    if reference is not None and reference.path != model.path:
        compare_layout(loaded=loaded, stored=checkpoint_tensors(reference.path),
                       source="reference checkpoint", report=report)
    return report, loaded


@probe("layout")
def layout(ctx: ProbeContext, evidence: Evidence) -> Finding:
    """Does any loaded tensor equal a stored one transposed (own checkpoint or reference)?"""
    report, _ = _layout_report(ctx)
    evidence.measure("tensors_compared", report.compared, unit="count")
    evidence.measure("tensors_transposed", len(report.transposed), unit="count")
    evidence.measure("tensors_differing", len(report.differing), unit="count")
    evidence.attach("layout", {"transposed": report.transposed,
                               "differing": report.differing[:50]})
    if report.compared == 0:
        return Finding.inconclusive("no loaded tensor has a namesake on disk to compare with")
    if report.transposed:
        return Finding.confirmed(f"{len(report.transposed)} loaded tensor(s) equal the stored "
                                 f"one transposed: {', '.join(report.transposed[:4])}")
    return Finding.refuted(f"none of {report.compared} compared tensors is a transpose of its "
                           f"stored namesake ({len(report.differing)} differ otherwise)")


@intervention("fix_layout")
def fix_layout(ctx: ProbeContext) -> str:
    """Transpose back every loaded tensor that equals its stored namesake transposed."""
    report, loaded = _layout_report(ctx)
    names = sorted({entry.split(" (")[0] for entry in report.transposed})
    if not names:
        msg = "no loaded tensor is a transpose of its stored namesake: nothing to fix"
        raise InterventionError(msg)
    for name in names:
        set_loaded_array(ctx.model(), name, loaded[name].T)
    return f"transposed back {len(names)} tensor(s): {', '.join(names)}"
