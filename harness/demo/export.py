"""The demo's exports: the demo LM as ONNX (float32 and int8), and an int8 export with a bad scale.

``export-onnx`` is ``torch.onnx.export`` (the dynamo exporter) of a module returning the demo
LM's logits for ``input_ids``, no cache; ``export-onnx-int8`` is ONNX Runtime's dynamic
quantization of it (int8 weights, one scale per channel, ``quantize_dynamic``), the kind of file
a deployment ships beside the float one. The control is the faulty step: the int8 export with
one layer's weight scale (the last block's MLP output projection) doubled, as when the scale of
a signed range is written for an unsigned one, so that layer's weights come back twice as
large. The exports are byte-reproducible with the pinned versions (.ci/constraints.txt).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from harness.demo import lm
from harness.demo.build import Builder, library_versions
from harness.workspace import SubjectSpec

__all__ = ["demo_onnx", "demo_onnx_int8", "demo_onnx_int8_bad_scale", "export_logits",
           "quantize_int8", "scale_last_layer"]

EXPORT_VERSION = 2  # 2: node metadata (stack traces with paths) stripped
BAD_SCALE_FACTOR = 2.0


def _libraries() -> dict[str, str]:
    return library_versions("torch", "transformers", "onnx", "onnxscript", "onnx-ir",
                            "onnxruntime")


def export_logits(source: Path, out_file: Path, max_seq: int = 4 * lm.RECIPE.context) -> None:
    """``torch.onnx.export`` (dynamo) of the saved model at ``source``: input_ids [batch, seq]
    to logits, no cache."""
    import torch
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(source)
    model.eval()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any) -> Any:
            return self.model(input_ids=input_ids, use_cache=False).logits

    example = torch.arange(5, 69, dtype=torch.int64).reshape(2, 32) % model.config.vocab_size
    batch = torch.export.Dim("batch", min=1, max=256)
    seq = torch.export.Dim("seq", min=2, max=max_seq)
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter's progress lines
        torch.onnx.export(Logits(), (example,), str(out_file), input_names=["input_ids"],
                          output_names=["logits"], dynamic_shapes={"input_ids": {0: batch, 1: seq}},
                          dynamo=True, external_data=False)
    _strip_node_metadata(out_file)


def _strip_node_metadata(path: Path) -> None:
    """Drop what the exporter writes about where it ran: each node's metadata holds the Python
    stack trace (absolute paths, source line numbers), so the same graph from another checkout
    or another edit of this file would have other bytes, and `falsify verify --inputs --rebuild`
    could never reproduce the recorded hash."""
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
    onnx.save(model, str(path))


def quantize_int8(source: Path, out_file: Path) -> None:
    """ONNX Runtime's dynamic quantization: int8 weights, one scale per output channel."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" advice
    quantize_dynamic(source, out_file, weight_type=QuantType.QInt8, per_channel=True)


def scale_last_layer(source: Path, out_file: Path, factor: float) -> str:
    """Write ``source`` with the last weight scale before the head multiplied by ``factor``;
    returns the scale's name. The exporter names most weights val_N, so the layer is found by
    the graph: the weight scales its nodes read, in order, the head's left out."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    scales = {t.name: t for t in model.graph.initializer if t.name.endswith("_scale")}
    read = [name for node in model.graph.node for name in node.input if name in scales]
    order = [name for name in dict.fromkeys(read) if "lm_head" not in name]
    if not order:
        msg = f"{source}: no weight scale found to change"
        raise RuntimeError(msg)
    scale = scales[order[-1]]
    scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * factor, scale.name))
    onnx.save(model, str(out_file))
    return str(scale.name)


def onnx_dir(builder: Builder) -> Path:
    """model.onnx: the demo LM's logits graph, exported from the saved torch model."""
    source = lm.torch_dir(builder)
    inputs = {"version": EXPORT_VERSION, "model": source.name, "libraries": _libraries()}

    def make(out: Path) -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        export_logits(source, out / "model.onnx")
        return {"exporter": "torch.onnx dynamo"}

    return builder.artifact("export-onnx", inputs, make)


def int8_dir(builder: Builder) -> Path:
    """model.int8.onnx: ONNX Runtime's dynamic int8 quantization of model.onnx."""
    source = onnx_dir(builder)
    inputs = {"version": EXPORT_VERSION, "onnx": source.name, "libraries": _libraries()}

    def make(out: Path) -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        quantize_int8(source / "model.onnx", out / "model.int8.onnx")
        return {"weight_type": "QInt8", "per_channel": True}

    return builder.artifact("export-onnx-int8", inputs, make)


def bad_scale_dir(builder: Builder) -> Path:
    """Control: model.int8.onnx with the weight scale of the last quantized projection before the
    head (the last block's down_proj) multiplied by BAD_SCALE_FACTOR."""
    source = int8_dir(builder)
    inputs = {"version": EXPORT_VERSION, "int8": source.name, "layer": "last before the head",
              "factor": BAD_SCALE_FACTOR, "libraries": _libraries()}

    def make(out: Path) -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        name = scale_last_layer(source / "model.int8.onnx", out / "model.int8.onnx",
                                BAD_SCALE_FACTOR)
        return {"scale": name, "factor": BAD_SCALE_FACTOR}

    return builder.artifact("export-onnx-int8-bad-scale", inputs, make)


ARTIFACTS = {"export-onnx": onnx_dir, "export-onnx-int8": int8_dir,
             "export-onnx-int8-bad-scale": bad_scale_dir}


def _spec(workspace: Any, subject_id: str, path: Path) -> SubjectSpec:
    return SubjectSpec(subject_id, "onnx-export", {"model": "demo-torch", "path": str(path)},
                       source="demo")


def demo_onnx(workspace: Any) -> SubjectSpec:
    """The demo LM exported to ONNX, float32."""
    folder = onnx_dir(Builder.for_workspace(workspace))
    return _spec(workspace, "demo-onnx", folder / "model.onnx")


def demo_onnx_int8(workspace: Any) -> SubjectSpec:
    """The float32 export, quantized to int8 weights by ONNX Runtime."""
    folder = int8_dir(Builder.for_workspace(workspace))
    return _spec(workspace, "demo-onnx-int8", folder / "model.int8.onnx")


def demo_onnx_int8_bad_scale(workspace: Any) -> SubjectSpec:
    """Control: the int8 export with one layer's weight scale doubled."""
    folder = bad_scale_dir(Builder.for_workspace(workspace))
    return _spec(workspace, "demo-onnx-int8-bad-scale", folder / "model.int8.onnx")
