"""MoE routing weights read from live torch models saved and reloaded by transformers: the hook
sees the weights the experts were given, renormalised or not, in more than one architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.metrics.routing import RoutingError, routing_weights

TEXTS = ["the cat sat on the mat", "a dog ran far away from home today"]


def _tokenizer(out: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in TEXTS for w in t.split()})
    vocab = {w: i for i, w in enumerate(["<unk>", "</s>", *words])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>",
                            eos_token="</s>").save_pretrained(out)


def _save(tmp_path: Path, arch: str, renormalise: bool) -> Path:
    import torch
    from transformers import (
        MixtralConfig,
        MixtralForCausalLM,
        Qwen3MoeConfig,
        Qwen3MoeForCausalLM,
    )

    common: dict[str, Any] = {"vocab_size": 32, "hidden_size": 32, "intermediate_size": 64,
                              "num_hidden_layers": 2, "num_attention_heads": 2,
                              "num_key_value_heads": 1, "eos_token_id": 1}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if arch == "qwen3-moe":
            model: Any = Qwen3MoeForCausalLM(Qwen3MoeConfig(
                num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                norm_topk_prob=renormalise, **common))
        else:  # Mixtral always renormalises its top-k
            model = MixtralForCausalLM(MixtralConfig(num_local_experts=4, num_experts_per_tok=2,
                                                     **common))
        for name, p in model.named_parameters():  # a router that prefers some experts
            if "gate" in name and p.dim() == 2 and p.shape[0] == 4:
                torch.nn.init.normal_(p, std=1.0)
    out = tmp_path / f"{arch}-{renormalise}"
    model.save_pretrained(out)
    _tokenizer(out)
    return out


@pytest.mark.parametrize(("arch", "renormalise"),
                         [("qwen3-moe", True), ("qwen3-moe", False), ("mixtral", True)])
def test_weights_sum_to_one_exactly_when_the_model_renormalises(tmp_path, arch, renormalise):
    from harness.models import open_model

    routed = routing_weights(open_model(_save(tmp_path, arch, renormalise)), TEXTS)
    assert len(routed.blocks) == 2
    assert routed.top_k == 2
    assert routed.tokens == sum(len(t.split()) for t in TEXTS)
    errors = np.asarray(routed.sum_error())
    if renormalise:
        assert np.all(errors < 1e-5), errors
    else:
        assert np.all(errors > 1e-3), errors  # top-2 of 4 softmax probabilities: less than 1
        assert max(routed.min_sum()) < 1.0


def test_a_dense_model_is_a_clear_error(tmp_path):
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from harness.models import open_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen3ForCausalLM(Qwen3Config(vocab_size=32, hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=1, num_attention_heads=2,
                                             num_key_value_heads=1))
    model.save_pretrained(tmp_path / "dense")
    _tokenizer(tmp_path / "dense")
    with pytest.raises(RoutingError, match="no mixture-of-experts block"):
        routing_weights(open_model(tmp_path / "dense"), TEXTS)
