"""The demo's mixture-of-experts model: a tiny Qwen3-MoE trained here, and its faulty export.

``moe`` is a 2-block Qwen3-MoE (4 experts per block, top-2 routing, ``norm_topk_prob: true``: the
two routing weights of each token are renormalised to sum to 1) with the demo tokenizer, trained
a few seeded steps on the demo LM's English and N'Ko lines and saved by ``save_pretrained``.

``moe-config-dropped`` is the same weights written by a faulty export step that rebuilt
config.json from a list of known keys and left ``norm_topk_prob`` out: transformers then takes
its default (false), and the loaded model routes with unnormalised top-k probabilities. Nothing
fails at load; only the routing weights show it (ROUTER-RENORMALISED).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.demo import lm
from harness.demo.build import Builder, library_versions
from harness.demo.tokenizer import EOS
from harness.workspace import SubjectSpec

__all__ = ["MOE_RECIPE", "MoeRecipe", "demo_moe", "demo_moe_config_dropped", "moe_dir"]

MOE_VERSION = 2


@dataclass(frozen=True)
class MoeRecipe:
    hidden_size: int = 64
    num_layers: int = 2
    num_experts: int = 4
    top_k: int = 2
    moe_intermediate_size: int = 64
    steps: int = 40
    batch_size: int = 16
    context: int = 64
    lr: float = 3e-3
    seed: int = 0
    threads: int = 2


MOE_RECIPE = MoeRecipe()


def _make(out: Path, tokenizer_json: Path, recipe: MoeRecipe) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    tok = Tokenizer.from_file(str(tokenizer_json))
    eos = tok.token_to_id(EOS)
    if eos is None:
        msg = f"{tokenizer_json}: no {EOS} token; rebuild the demo (falsify demo build --rebuild)"
        raise ValueError(msg)
    lines = lm._lines("eng_Latn", 2000) + lm._lines("nqo_Nkoo", 1000)
    windows = lm._windows(lm._token_stream(tok, lines, eos), recipe.context + 1)
    config = Qwen3MoeConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=recipe.hidden_size,
        num_hidden_layers=recipe.num_layers, num_attention_heads=2, num_key_value_heads=1,
        intermediate_size=2 * recipe.hidden_size,
        moe_intermediate_size=recipe.moe_intermediate_size, num_experts=recipe.num_experts,
        num_experts_per_tok=recipe.top_k, norm_topk_prob=True, decoder_sparse_step=1,
        max_position_embeddings=4 * recipe.context, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=eos, pad_token_id=eos)
    with lm._deterministic_torch(recipe.threads, recipe.seed):
        model = Qwen3MoeForCausalLM(config)
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr)
        rng = np.random.default_rng(recipe.seed)
        data = torch.from_numpy(windows)
        curve = []
        model.train()
        for _ in range(recipe.steps):
            loss = lm._batch_loss(model, data[torch.from_numpy(
                rng.integers(0, len(data), recipe.batch_size))])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            curve.append(round(loss.item(), 4))
        model.train(False)
    model.save_pretrained(out)
    lm._hf_tokenizer(tokenizer_json).save_pretrained(out)
    return {"train_loss_first": curve[0], "train_loss_last": curve[-1],
            "norm_topk_prob": True, "experts": recipe.num_experts, "top_k": recipe.top_k}


def moe_dir(builder: Builder, recipe: MoeRecipe = MOE_RECIPE) -> Path:
    """The trained tiny Qwen3-MoE (renormalised top-k routing)."""
    tok_dir = lm.tokenizer_dir(builder)
    inputs = {"version": MOE_VERSION, "recipe": asdict(recipe), "tokenizer": tok_dir.name,
              "corpora": lm._corpus_digests(), "libraries": library_versions(*lm.TORCH_LIBS)}
    return builder.artifact("moe-torch", inputs,
                            lambda out: _make(out, tok_dir / "tokenizer.json", recipe))


# The faulty export's idea of a Qwen3-MoE config: every key it knew, norm_topk_prob not among them.
EXPORTED_KEYS = ("architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size",
                 "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                 "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_parameters",
                 "rope_theta", "tie_word_embeddings", "num_experts", "num_local_experts",
                 "num_experts_per_tok",
                 "moe_intermediate_size", "decoder_sparse_step", "mlp_only_layers",
                 "eos_token_id", "pad_token_id", "bos_token_id", "dtype", "torch_dtype")


def config_dropped_dir(builder: Builder) -> Path:
    """Control: ``moe`` re-exported with config.json rebuilt from ``EXPORTED_KEYS``."""
    source = moe_dir(builder)
    inputs = {"version": MOE_VERSION, "source": source.name, "keys": list(EXPORTED_KEYS)}

    def make(out: Path) -> dict[str, Any]:
        shutil.copytree(source, out, ignore=shutil.ignore_patterns("build.json"))
        config = json.loads((source / "config.json").read_text())
        kept = {k: v for k, v in config.items() if k in EXPORTED_KEYS}
        (out / "config.json").write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")
        return {"source": source.name, "dropped": sorted(set(config) - set(kept))}

    return builder.artifact("moe-config-dropped", inputs, make)


ARTIFACTS = {"moe-torch": moe_dir, "moe-config-dropped": config_dropped_dir}


def _spec(workspace: Any, subject_id: str, artifact: str) -> SubjectSpec:
    folder = ARTIFACTS[artifact](Builder.for_workspace(workspace))
    return SubjectSpec(subject_id, "model", {"path": str(folder), "backend": "torch"},
                       source="demo")


def demo_moe(workspace: Any) -> SubjectSpec:
    """The tiny Qwen3-MoE, top-2 of 4 experts, renormalised."""
    return _spec(workspace, "demo-moe", "moe-torch")


def demo_moe_config_dropped(workspace: Any) -> SubjectSpec:
    """Control: the same weights, config.json without norm_topk_prob."""
    return _spec(workspace, "demo-moe-config-dropped", "moe-config-dropped")
