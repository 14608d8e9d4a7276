"""Exported models: an ONNX copy of a model, run by ONNX Runtime, against the model it came from.

A subject of kind ``onnx-export`` names the export and its reference::

    [tool.falsify.subjects.lm-int8]
    kind = "onnx-export"
    model = "lm"                  # the reference: a model subject (torch or MLX)
    path = "export/lm.int8.onnx"  # a graph from input_ids (and maybe attention_mask and
                                  # position_ids) to logits, without a key/value cache

The export runs under ONNX Runtime on the CPU (``CPUExecutionProvider``), so the evidence is
about the file a deployment loads, not about the exporter's intent. Inputs it may take beyond
``input_ids`` are fed as the reference would see them (a mask of ones, positions from 0); a
graph that asks for anything else (a cache) is a clear error naming the file and the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.keywords import paired
from harness.workspace import SubjectSpec, Workspace, WorkspaceError

__all__ = ["ExportError", "LogitComparison", "OnnxExport", "OnnxRunner", "compare_logits",
           "load_onnx_export"]

_FED = ("input_ids", "attention_mask", "position_ids")


class ExportError(ValueError):
    """The export cannot be run as a logits graph: names the file and the fix."""


class OnnxRunner:
    """An ONNX Runtime session over ``path`` that maps token ids [batch, seq] to logits."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        if not path.is_file():
            msg = f"{path}: no such ONNX file; export the model first"
            raise ExportError(msg)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initializers are not evidence
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            msg = f"{path}: ONNX Runtime cannot load it ({type(exc).__name__}: {exc})"
            raise ExportError(msg) from exc
        self.path = path
        self.inputs = [i.name for i in self.session.get_inputs()]
        unknown = [name for name in self.inputs if name not in _FED]
        if "input_ids" not in self.inputs or unknown:
            msg = (f"{path}: the graph takes {self.inputs}; export a graph from input_ids "
                   f"(optionally attention_mask, position_ids) to logits, without the key/value "
                   f"cache, e.g. torch.onnx.export of a module returning model(input_ids).logits")
            raise ExportError(msg)

    def logits(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        feed: dict[str, np.ndarray] = {"input_ids": ids}
        if "attention_mask" in self.inputs:
            feed["attention_mask"] = np.ones_like(ids)
        if "position_ids" in self.inputs:
            feed["position_ids"] = np.broadcast_to(np.arange(ids.shape[1]), ids.shape).copy()
        out = self.session.run(None, feed)[0]
        return np.asarray(out, dtype=np.float32)

    def int8_initializers(self) -> int:
        """Weight tensors stored as 8-bit integers: how much of the graph is quantized."""
        import onnx

        model = onnx.load(str(self.path), load_external_data=False)
        eight_bit = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
        return sum(1 for t in model.graph.initializer
                   if t.data_type in eight_bit and len(t.dims) >= 2)


@dataclass(frozen=True)
class LogitComparison:
    """An export's logits against the reference's at the positions that chose ``chosen``."""

    diff: np.ndarray  # |got - want| [batch, positions, vocab]
    flipped: np.ndarray  # [batch, positions]: the export's argmax is not the chosen token
    near_tie: np.ndarray  # [batch, positions]: reference top-2 margin < 2 * tolerance
    margin: np.ndarray  # [batch, positions]: the reference's top-1 minus top-2 logit
    choice: np.ndarray  # [batch, positions]: the export's greedy choice

    @property
    def wrong(self) -> np.ndarray:
        """Flips at decisive positions: what no export within the tolerance can do."""
        out: np.ndarray = self.flipped & ~self.near_tie
        return out


@paired
def compare_logits(*, want: np.ndarray, got: np.ndarray, chosen: np.ndarray,
                   tolerance: float) -> LogitComparison:
    """Compare logits [batch, positions, vocab] where the reference chose ``chosen`` [batch,
    positions]. Where the reference's top two logits are closer than twice ``tolerance``, an
    export within the tolerance may choose either: a near tie, not a mismatch."""
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    if got.shape != want.shape:
        msg = f"the export gives logits of shape {got.shape}, the reference {want.shape}"
        raise ExportError(msg)
    top2 = np.sort(want, axis=-1)[..., -2:]
    margin = top2[..., 1] - top2[..., 0]
    choice = got.argmax(-1)
    return LogitComparison(np.abs(got - want), choice != chosen, margin < 2 * tolerance, margin,
                           choice)


@dataclass(frozen=True)
class OnnxExport:
    id: str
    model_id: str
    reference: Any  # a LiveModel
    path: Path

    def runner(self) -> OnnxRunner:
        return OnnxRunner(self.path)


def load_onnx_export(spec: SubjectSpec, workspace: Workspace) -> OnnxExport:
    """Workspace loader for ``kind = "onnx-export"``: ``model`` and ``path``."""
    where = spec.where(workspace)
    model_id, path = spec.options.get("model"), spec.options.get("path")
    if not isinstance(model_id, str) or not model_id:
        msg = f"{where}: an onnx-export needs model = \"<model subject id>\", got {model_id!r}"
        raise WorkspaceError(msg)
    if not isinstance(path, str) or not path:
        msg = f"{where}: an onnx-export needs path = \"<the .onnx file>\", got {path!r}"
        raise WorkspaceError(msg)
    reference = workspace.resolve(model_id)
    if not hasattr(reference, "logits"):
        msg = f"{where}: model = {model_id!r} is not a model subject (kind model)"
        raise WorkspaceError(msg)
    file = Path(path)
    return OnnxExport(spec.id, model_id, reference,
                      file if file.is_absolute() else workspace.root / file)
