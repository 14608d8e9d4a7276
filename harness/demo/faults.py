"""Faulty subjects, one per bisection hypothesis, each made by a fault seen in the field.

Every fault is reproduced by the faulty step itself (an exporter, a converter, a config edit, a
relabelling) applied to a real checkpoint, and the result is loaded by the normal loader; no
measured number is written by hand.

- H4A (tie disabled): ``demo-untied-head`` in :mod:`harness.demo.lm`.
- H4B ``demo-fault-transposed``: a round trip through a Flax-layout export (kernels stored
  ``[in, out]``) whose importer transposes a kernel back only when its shape does not fit the
  model. The square ones (q_proj and o_proj, 128 x 128) fit either way and stay transposed.
- H4C ``demo-fault-eps``: config.json assembled with another recipe's defaults:
  ``rms_norm_eps = 1.0``. transformers builds every RMSNorm with it.
- H4D ``demo-fault-zero-branch``: a converter that preallocates the target state dict with zero
  buffers and fills it through a key map; the map misses :data:`MISSED_KEYS`, whose buffers are
  written as zeros. The branch they feed adds nothing to the residual stream.
- H-BIAS ``demo-fault-no-bias``: a Qwen3 model trained here with Qwen2-style attention biases
  (``attention_bias = true``: q, k, v and o carry a bias), its config.json rewritten by a
  converter from the architecture's defaults, which drop the flag. transformers builds the
  projections without biases and drops the stored ones as unexpected keys (a warning).
  ``demo-biased`` is the same checkpoint loaded with its own config: the trusted reference.
  (A Qwen2-architecture model cannot show this fault in transformers, whose Qwen2 attention
  always has the biases; and relabelling a Qwen2 checkpoint as Llama also swaps the tokenizer
  class AutoTokenizer picks (Qwen2Tokenizer splits digits unlike tokenizer.json): two faults.)
- H-CORPUS ``demo-fault-tokenizer``: the demo checkpoint saved with a tokenizer.json rebuilt by
  the faulty converter of ``demo-corpus-unk`` (BPE from ``added_tokens`` only, merges dropped):
  the eval text becomes 99.99 % ``<unk>``.

Each has a ``-eng-200`` pair (kind ``lm-eval``) scoring it on the first 200 lines of the English
dev set (``demo-eng-200``) beside its reference, the correct load of the same weights.

Parity controls (contracts/parity.yaml):

- ``demo-stitched-block``: a merge that took block 1 (``model.layers.1``) from the step-0
  checkpoint of another run of the same recipe (seed 1); paired against the fp32 MLX model.
- ``demo-dynamic-rope``: config.json switched to dynamic NTK rope scaling over a 32-token
  original context: the rotation of a cached key depends on the length when it was cached.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.demo.build import Builder, library_versions
from harness.workspace import SubjectSpec

__all__ = [
    "FAULTS",
    "FAULT_SUITE",
    "MISSED_KEYS",
    "SUITE_CLAIM",
    "demo_biased",
    "demo_dynamic_rope",
    "demo_eng_200",
    "demo_fault_eps",
    "demo_fault_eps_eng_200",
    "demo_fault_no_bias",
    "demo_fault_no_bias_eng_200",
    "demo_fault_suite",
    "demo_fault_suite_stitched",
    "demo_fault_tokenizer",
    "demo_fault_tokenizer_eng_200",
    "demo_fault_transposed",
    "demo_fault_transposed_eng_200",
    "demo_fault_zero_branch",
    "demo_fault_zero_branch_eng_200",
    "demo_mlx_eng_200",
    "demo_mlx_q4_vs_torch",
    "demo_stitched_block",
    "demo_stitched_block_eng_200",
    "demo_stitched_block_vs_mlx",
    "demo_torch_eng_200",
    "demo_untied_head_eng_200",
]

BUILDER_VERSION = 1
WEIGHTS = "model.safetensors"
MISSED_KEYS = ("model.layers.0.self_attn.o_proj.weight", "model.layers.1.self_attn.o_proj.weight")
BIASED_STEPS = 150
EVAL_LINES = 200
DYNAMIC_ROPE_FACTOR = 4.0
DYNAMIC_ROPE_CONTEXT = 32  # shorter than prompt + generation: the scaling changes as it grows


def _source(builder: Builder) -> Path:
    from harness.demo.lm import torch_dir

    return torch_dir(builder)


def _copy_folder(source: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and path.name != "build.json":
            shutil.copy2(path, out / path.name)


def _tensors(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return dict(load_file(str(folder / WEIGHTS)))


def _save_tensors(tensors: dict[str, np.ndarray], out: Path) -> None:
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(out / WEIGHTS),
              metadata={"format": "pt"})


def _edit_config(out: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = out / "config.json"
    config = json.loads(path.read_text("utf-8"))
    edit(config)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --- the faulty steps ------------------------------------------------------------------------


def _is_kernel(name: str, array: np.ndarray) -> bool:
    return name.endswith("_proj.weight") and array.ndim == 2


def flax_round_trip(source: Path, out: Path) -> dict[str, Any]:
    """Export kernels ``[in, out]``; import transposing only those whose shape does not fit."""
    _copy_folder(source, out)
    original = _tensors(source)
    exported = {k: v.T if _is_kernel(k, v) else v for k, v in original.items()}
    imported = {k: v.T if v.shape != original[k].shape else v for k, v in exported.items()}
    _save_tensors(imported, out)
    stuck = sorted(k for k, v in imported.items() if _is_kernel(k, v) and v.shape == v.T.shape)
    return {"source": source.name, "transposed": stuck}


def config_from_other_recipe(source: Path, out: Path) -> dict[str, Any]:
    """config.json with the norm epsilon of another recipe's defaults."""
    _copy_folder(source, out)
    _edit_config(out, lambda c: c.update({"rms_norm_eps": 1.0}))
    return {"source": source.name, "rms_norm_eps": 1.0}


def zero_buffer_converter(source: Path, out: Path) -> dict[str, Any]:
    """Preallocate zeros, copy through a key map that misses :data:`MISSED_KEYS`."""
    _copy_folder(source, out)
    original = _tensors(source)
    target = {k: np.zeros_like(v) for k, v in original.items()}
    key_map = {k: k for k in original if k not in MISSED_KEYS}
    for src, dst in key_map.items():
        target[dst] = original[src]
    _save_tensors(target, out)
    return {"source": source.name, "left_zero": sorted(set(original) - set(key_map))}


def misconverted_tokenizer(source: Path, out: Path) -> dict[str, Any]:
    """The checkpoint with tokenizer.json rebuilt from ``added_tokens`` only (merges dropped)."""
    from harness.demo.corpus import misloaded_tokenizer

    _copy_folder(source, out)
    tokenizer = misloaded_tokenizer(source / "tokenizer.json")
    tokenizer.save(str(out / "tokenizer.json"))
    return {"source": source.name, "tokenizer_entries": tokenizer.get_vocab_size()}


def config_from_template(source: Path, out: Path) -> dict[str, Any]:
    """config.json rebuilt from the architecture's defaults: ``attention_bias`` is lost."""
    _copy_folder(source, out)
    _edit_config(out, lambda c: c.update({"attention_bias": False}))
    return {"source": source.name, "attention_bias": False}


def stitch_block(source: Path, out: Path, block: int = 1, seed: int = 1) -> dict[str, Any]:
    """A merge that took one block from another run's step-0 checkpoint (same recipe, seed 1)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    _copy_folder(source, out)
    tensors = _tensors(source)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        other = AutoModelForCausalLM.from_config(  # type: ignore[no-untyped-call]
            AutoConfig.from_pretrained(source))
    prefix = f"model.layers.{block}."
    donor = {k: v.detach().float().numpy() for k, v in other.state_dict().items()
             if k.startswith(prefix)}
    tensors.update(donor)
    _save_tensors(tensors, out)
    return {"source": source.name, "block": block, "seed": seed, "replaced": sorted(donor)}


def dynamic_rope(source: Path, out: Path) -> dict[str, Any]:
    """config.json switched to dynamic NTK rope scaling with a short original context."""
    _copy_folder(source, out)

    def edit(config: dict[str, Any]) -> None:
        theta = (config.get("rope_parameters") or {}).get("rope_theta", 10000.0)
        config["rope_parameters"] = {"rope_type": "dynamic", "factor": DYNAMIC_ROPE_FACTOR,
                                     "rope_theta": theta}
        config["max_position_embeddings"] = DYNAMIC_ROPE_CONTEXT

    _edit_config(out, edit)
    return {"source": source.name, "factor": DYNAMIC_ROPE_FACTOR,
            "max_position_embeddings": DYNAMIC_ROPE_CONTEXT}


# --- the demo model with attention biases --------------------------------------------------------


def train_biased(out: Path, tokenizer_json: Path, recipe: Any, progress: bool) -> dict[str, Any]:
    """The demo recipe and data, with q/k/v/o biases in every attention block."""
    from harness.demo import lm

    data = lm._data(tokenizer_json, recipe)
    with lm._deterministic_torch(recipe.threads, recipe.seed):
        model = lm._qwen3(recipe, attention_bias=True)
        curve = lm._train(model, data, recipe, progress)
        dev = {name: round(lm._dev_loss(model, w), 4) for name, w in data.dev.items()}
    model.save_pretrained(out)
    lm._hf_tokenizer(tokenizer_json).save_pretrained(out)
    biases = [n for n, _ in model.named_parameters() if n.endswith("_proj.bias")]
    return {"steps": recipe.steps, "train_loss_last": curve[-1], "dev_loss_nats": dev,
            "attention_biases": len(biases)}


def biased_dir(builder: Builder) -> Path:
    from harness.demo.lm import RECIPE, TORCH_LIBS, tokenizer_dir

    recipe = replace(RECIPE, steps=BIASED_STEPS)
    tok = tokenizer_dir(builder, recipe)
    inputs = {"version": BUILDER_VERSION, "recipe": asdict(recipe), "tokenizer": tok.name,
              "libraries": library_versions(*TORCH_LIBS)}
    return builder.artifact("lm-biased", inputs, lambda out: train_biased(
        out, tok / "tokenizer.json", recipe, builder.progress))


# --- artifacts and subjects --------------------------------------------------------------------


def _derived(builder: Builder, name: str, source: Path,
             make: Callable[[Path, Path], dict[str, Any]]) -> Path:
    inputs = {"version": BUILDER_VERSION, "source": source.name, "fault": make.__name__,
              "libraries": library_versions("safetensors", "numpy", "tokenizers")}
    return builder.artifact(name, inputs, lambda out: make(source, out))


FAULTS: dict[str, Callable[[Builder], Path]] = {
    "fault-transposed": lambda b: _derived(b, "fault-transposed", _source(b), flax_round_trip),
    "fault-eps": lambda b: _derived(b, "fault-eps", _source(b), config_from_other_recipe),
    "fault-zero-branch": lambda b: _derived(b, "fault-zero-branch", _source(b),
                                            zero_buffer_converter),
    "fault-tokenizer": lambda b: _derived(b, "fault-tokenizer", _source(b),
                                          misconverted_tokenizer),
    "lm-biased": biased_dir,
    "fault-no-bias": lambda b: _derived(b, "fault-no-bias", biased_dir(b), config_from_template),
    "fault-stitched-block": lambda b: _derived(b, "fault-stitched-block", _source(b),
                                               stitch_block),
    "fault-dynamic-rope": lambda b: _derived(b, "fault-dynamic-rope", _source(b), dynamic_rope),
}


def _model(workspace: Any, subject_id: str, artifact: str) -> SubjectSpec:
    folder = FAULTS[artifact](Builder.for_workspace(workspace))
    return SubjectSpec(subject_id, "model", {"path": str(folder), "backend": "torch"}, "demo")


def demo_fault_transposed(workspace: Any) -> SubjectSpec:
    return _model(workspace, "demo-fault-transposed", "fault-transposed")


def demo_fault_eps(workspace: Any) -> SubjectSpec:
    return _model(workspace, "demo-fault-eps", "fault-eps")


def demo_fault_zero_branch(workspace: Any) -> SubjectSpec:
    return _model(workspace, "demo-fault-zero-branch", "fault-zero-branch")


def demo_fault_tokenizer(workspace: Any) -> SubjectSpec:
    return _model(workspace, "demo-fault-tokenizer", "fault-tokenizer")


def demo_biased(workspace: Any) -> SubjectSpec:
    return _model(workspace, "demo-biased", "lm-biased")


def demo_fault_no_bias(workspace: Any) -> SubjectSpec:
    return _model(workspace, "demo-fault-no-bias", "fault-no-bias")


def demo_stitched_block(workspace: Any) -> SubjectSpec:
    return _model(workspace, "demo-stitched-block", "fault-stitched-block")


def demo_dynamic_rope(workspace: Any) -> SubjectSpec:
    return _model(workspace, "demo-dynamic-rope", "fault-dynamic-rope")


def demo_eng_200(workspace: Any) -> SubjectSpec:
    """The first 200 lines of the English dev set (about 10,000 tokens), as their own file."""
    from harness.demo.evalsets import ENG_DEV

    head = b"".join(ENG_DEV.read_bytes().splitlines(keepends=True)[:EVAL_LINES])
    target = workspace.cache_dir / "evalsets" / f"eng_Latn.dev.first{EVAL_LINES}.txt"
    if not target.is_file() or target.read_bytes() != head:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(head)
        tmp.replace(target)
    return SubjectSpec("demo-eng-200", "evalset", {"path": str(target)}, "demo")


def _pair(model: str, reference: str = "demo-torch") -> SubjectSpec:
    """``<model>-eng-200``: the model on 200 English dev lines beside its trusted load."""
    return SubjectSpec(f"{model}-eng-200", "lm-eval",
                       {"model": model, "evalset": "demo-eng-200", "reference": reference}, "demo")


def demo_torch_eng_200(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-torch", reference="demo-mlx")


def demo_mlx_eng_200(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-mlx")


def demo_untied_head_eng_200(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-untied-head")


def demo_fault_transposed_eng_200(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-fault-transposed")


def demo_fault_eps_eng_200(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-fault-eps")


def demo_fault_zero_branch_eng_200(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-fault-zero-branch")


def demo_fault_tokenizer_eng_200(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-fault-tokenizer")


def demo_fault_no_bias_eng_200(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-fault-no-bias", reference="demo-biased")


def demo_stitched_block_vs_mlx(workspace: Any) -> SubjectSpec:
    """The stitched checkpoint (torch) against the demo's fp32 MLX conversion."""
    del workspace
    return SubjectSpec("demo-stitched-block-vs-mlx", "lm-eval",
                       {"model": "demo-stitched-block", "evalset": "demo-eng-200",
                        "reference": "demo-mlx"}, "demo")


def demo_mlx_q4_vs_torch(workspace: Any) -> SubjectSpec:
    """The 4-bit MLX conversion against the torch checkpoint it was converted from."""
    del workspace
    return SubjectSpec("demo-mlx-q4-vs-torch", "lm-eval",
                       {"model": "demo-mlx-q4", "evalset": "demo-eng-200",
                        "reference": "demo-torch"}, "demo")


FAULT_SUITE = {
    "demo-untied-head-eng-200": "H4A",
    "demo-fault-transposed-eng-200": "H4B",
    "demo-fault-eps-eng-200": "H4C",
    "demo-fault-zero-branch-eng-200": "H4D",
    "demo-fault-no-bias-eng-200": "H-BIAS",
    "demo-fault-tokenizer-eng-200": "H-CORPUS",
}
SUITE_CLAIM = "LOAD-PARITY"


def demo_fault_suite(workspace: Any) -> SubjectSpec:
    """One faulty subject per hypothesis of LOAD-PARITY, with the one it plants."""
    del workspace
    return SubjectSpec("demo-fault-suite", "fault-suite",
                       {"claim": SUITE_CLAIM, "faults": dict(FAULT_SUITE)}, "demo")


def demo_fault_suite_stitched(workspace: Any) -> SubjectSpec:
    """The suite plus a fault no hypothesis covers (a block from another run): a control."""
    del workspace
    faults = {**FAULT_SUITE, "demo-stitched-block-eng-200": "(none: a block from another run)"}
    return SubjectSpec("demo-fault-suite-stitched", "fault-suite",
                       {"claim": SUITE_CLAIM, "faults": faults}, "demo")


def demo_stitched_block_eng_200(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-stitched-block")
