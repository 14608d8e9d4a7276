"""Falsifier of ROUTER-RENORMALISED (library claims/moe.yaml), on a live torch MoE model."""

from __future__ import annotations

import json

import pytest

from harness.demo.evalsets import ENG_DEV
from harness.metrics.routing import routing_weights

pytestmark = pytest.mark.live

TEXTS = 64  # English dev sentences routed (up to 64 tokens each)


@pytest.mark.claim("ROUTER-RENORMALISED")
def test_router_renormalised(evidence, subject, workspace):
    """The top-k weights each MoE block's experts were given, per token."""
    model = workspace.resolve(subject.id)
    evidence.input(model.path)
    evidence.input(ENG_DEV)
    texts = [t for t in ENG_DEV.read_text("utf-8").splitlines() if t.strip()][:TEXTS]
    routed = routing_weights(model, texts)
    labels = [name.removeprefix("model.") for name in routed.blocks]
    evidence.measure_vector("weight_sum_error", routed.sum_error(), "1", n=routed.tokens,
                            labels=labels)
    evidence.measure_vector("min_weight_sum", routed.min_sum(), "1", n=routed.tokens,
                            labels=labels)
    config = json.loads((model.path / "config.json").read_text("utf-8"))
    evidence.measure("config_norm_topk_prob", int(bool(config.get("norm_topk_prob"))), unit="1")
    evidence.measure("moe_blocks", len(routed.blocks), unit="count")
    evidence.measure("top_k", routed.top_k, unit="count")
    evidence.measure("tokens", routed.tokens, unit="count")
    if "norm_topk_prob" not in config:
        evidence.note(f"{model.path.name}/config.json has no norm_topk_prob: transformers used "
                      f"its default")
