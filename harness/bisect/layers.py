"""Layer bisection: where do two models that should compute the same function part ways?

Both models see the same token ids; their hidden states are compared at every layer (layer 0 is
the embedding output, layer n the output of the n-th decoder block): the largest absolute
difference, the relative error ``||a - b|| / ||a||`` and the cosine similarity of the flattened
states. The first layer whose largest difference exceeds the tolerance is where the two part
ways; the per-layer curve is drawn as a deterministic PNG.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.keywords import paired, paired_fields
from harness.models.base import pack_rows

__all__ = ["LayerBisection", "LayerDiff", "compare_layers", "plot_layers", "shared_tokens"]


class LayerBisectionError(ValueError):
    """The two models cannot be compared layer by layer: says why."""


@dataclass(frozen=True)
class LayerDiff:
    index: int
    max_abs_diff: float
    relative_error: float
    cosine: float

    @property
    def name(self) -> str:
        return "embedding" if self.index == 0 else f"block {self.index}"


@paired_fields
@dataclass(frozen=True, kw_only=True)
class LayerBisection:
    a: str
    b: str
    tolerance: float
    layers: tuple[LayerDiff, ...]
    n_tokens: int

    @property
    def first_divergent(self) -> LayerDiff | None:
        """The first layer past the tolerance (a non-finite difference counts as past)."""
        for layer in self.layers:
            if not layer.max_abs_diff <= self.tolerance:
                return layer
        return None

    def curve(self) -> dict[str, Any]:
        """``{"x", "series", "x_label", "y_label"}``: the attachment renderers plot."""
        def finite(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {"x": [layer.index for layer in self.layers],
                "series": {"max |Δ|": [finite(x.max_abs_diff) for x in self.layers],
                           "relative error": [finite(x.relative_error) for x in self.layers],
                           "1 - cosine": [finite(1.0 - x.cosine) for x in self.layers]},
                "x_label": "layer (0 = embedding)", "y_label": f"{self.a} vs {self.b}"}

    def to_json(self) -> dict[str, Any]:
        first = self.first_divergent
        return {"a": self.a, "b": self.b, "tolerance": self.tolerance, "n_tokens": self.n_tokens,
                "first_divergent_layer": None if first is None else first.index,
                "layers": [{"layer": x.index, "name": x.name, "max_abs_diff": x.max_abs_diff,
                            "relative_error": x.relative_error, "cosine": x.cosine}
                           for x in self.layers]}


@paired
def shared_tokens(*, a: Any, b: Any, texts: Sequence[str], rows: int = 4,
                  length: int = 64) -> np.ndarray:
    """``rows`` x ``length`` ids of ``texts`` that both models' tokenizers agree on."""
    def agreed(text: str) -> list[int]:
        ids: list[int] = a.encode(text)
        if b.encode(text) != ids:
            msg = (f"{a.path} and {b.path} tokenize {text[:40]!r} differently: a layer "
                   f"comparison needs one token sequence; compare models that share a tokenizer")
            raise LayerBisectionError(msg)
        return ids

    packed = pack_rows(map(agreed, texts), rows, length)
    if packed is None:
        msg = f"the text encodes to fewer than {length} tokens: give a longer text"
        raise LayerBisectionError(msg)
    return packed


def _diff(index: int, x: np.ndarray, y: np.ndarray) -> LayerDiff:
    a, b = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    delta = a - b
    norm_a, norm_b = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    rel = float(np.linalg.norm(delta)) / norm_a if norm_a > 0 else math.inf
    cos = float(a @ b) / (norm_a * norm_b) if norm_a > 0 and norm_b > 0 else math.nan
    return LayerDiff(index, float(np.max(np.abs(delta))), rel, cos)


@paired
def compare_layers(*, a: Any, b: Any, ids: np.ndarray, tolerance: float, a_name: str = "a",
                   b_name: str = "b") -> LayerBisection:
    """Hidden states of ``a`` and ``b`` on ``ids``, compared layer by layer."""
    states_a, states_b = a.hidden_states(ids), b.hidden_states(ids)
    if len(states_a) != len(states_b):
        msg = (f"{a_name} has {len(states_a) - 1} blocks and {b_name} {len(states_b) - 1}: "
               f"layer bisection compares two loads of the same architecture")
        raise LayerBisectionError(msg)
    layers = []
    for i, (x, y) in enumerate(zip(states_a, states_b, strict=True)):
        if x.shape != y.shape:
            msg = f"layer {i}: hidden states of shape {x.shape} and {y.shape} cannot be compared"
            raise LayerBisectionError(msg)
        layers.append(_diff(i, x, y))
    return LayerBisection(a=a_name, b=b_name, tolerance=float(tolerance), layers=tuple(layers),
                          n_tokens=int(ids.size))


def plot_layers(result: LayerBisection, path: Path) -> Path:
    """Draw the per-layer curve (log scale) to ``path`` as a PNG, byte-identical across runs."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        fig = Figure(figsize=(6.4, 3.2), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        curve = result.curve()
        for label, ys in curve["series"].items():
            values = [math.nan if y is None or y <= 0 else y for y in ys]
            ax.plot(curve["x"], values, marker="o", ms=3, lw=1, label=label)
        ax.axhline(result.tolerance, color="grey", ls="--", lw=0.8, label="tolerance (max |Δ|)")
        first = result.first_divergent
        if first is not None:
            ax.axvline(first.index, color="red", ls=":", lw=1, label=f"first past: {first.name}")
        ax.set_yscale("log")
        ax.set_xticks(curve["x"])
        ax.set_xlabel(curve["x_label"])
        ax.set_title(f"{result.a} vs {result.b} ({result.n_tokens} tokens)", loc="left")
        ax.legend(fontsize=7, frameon=False)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path
