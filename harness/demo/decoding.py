"""Demo decoders: greedy samplers written the way a user writes them, for KV-CACHE-SPEEDUP.

``torch_greedy_cached`` and ``mlx_greedy_cached`` feed the prompt once and then one token per
step against the key/value cache. The controls are the classic slip: a loop that asks for the
cache but builds a new one from the whole sequence at every step (``past_key_values`` dropped,
a fresh ``make_prompt_cache`` per step), so its tokens are right and it is no faster than
recomputing everything. Subjects of kind ``decoder`` (harness.metrics.decoding) name them.
"""

from __future__ import annotations

from typing import Any

from harness.workspace import SubjectSpec

__all__ = ["demo_mlx_sampler_cache_rebuilt", "demo_torch_sampler",
           "demo_torch_sampler_cache_rebuilt", "mlx_greedy_cache_rebuilt", "mlx_greedy_cached",
           "torch_greedy_cache_rebuilt", "torch_greedy_cached"]


def torch_greedy_cached(module: Any, prompt: list[int], n: int) -> list[int]:
    import torch

    out: list[int] = []
    with torch.inference_mode():
        res = module(input_ids=torch.tensor([prompt]), use_cache=True)
        while len(out) < n:
            out.append(int(res.logits[0, -1].argmax()))
            if len(out) < n:
                res = module(input_ids=torch.tensor([[out[-1]]]),
                             past_key_values=res.past_key_values, use_cache=True)
    return out


def torch_greedy_cache_rebuilt(module: Any, prompt: list[int], n: int) -> list[int]:
    """The faulty step: asks for a cache, then never passes it back, so every step re-encodes
    the whole sequence into a new one."""
    import torch

    seq, out = list(prompt), []
    with torch.inference_mode():
        for _ in range(n):
            res = module(input_ids=torch.tensor([seq]), use_cache=True)
            out.append(int(res.logits[0, -1].argmax()))
            seq.append(out[-1])
    return out


def _argmax(logits: Any) -> int:
    import mlx.core as mx

    token: Any = mx.argmax(logits[0, -1]).item()
    return int(token)


def mlx_greedy_cached(module: Any, prompt: list[int], n: int) -> list[int]:
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    cache = make_prompt_cache(module)
    logits = module(mx.array([prompt]), cache=cache)
    out: list[int] = []
    while len(out) < n:
        out.append(_argmax(logits))
        if len(out) < n:
            logits = module(mx.array([[out[-1]]]), cache=cache)
    return out


def mlx_greedy_cache_rebuilt(module: Any, prompt: list[int], n: int) -> list[int]:
    """The faulty step: a new prompt cache per step, filled from the whole sequence."""
    import mlx.core as mx
    from mlx_lm.models.cache import make_prompt_cache

    seq, out = list(prompt), []
    for _ in range(n):
        logits = module(mx.array([seq]), cache=make_prompt_cache(module))
        out.append(_argmax(logits))
        seq.append(out[-1])
    return out


def _spec(subject_id: str, model: str, cached: str) -> SubjectSpec:
    return SubjectSpec(subject_id, "decoder",
                       {"model": model, "cached": f"harness.demo.decoding:{cached}"}, "demo")


def demo_torch_sampler(workspace: Any) -> SubjectSpec:
    """A user's torch greedy sampler with a key/value cache, over the demo LM."""
    del workspace
    return _spec("demo-torch-sampler", "demo-torch", "torch_greedy_cached")


def demo_torch_sampler_cache_rebuilt(workspace: Any) -> SubjectSpec:
    """Control: the torch sampler that rebuilds its cache every step."""
    del workspace
    return _spec("demo-torch-sampler-cache-rebuilt", "demo-torch", "torch_greedy_cache_rebuilt")


def demo_mlx_sampler_cache_rebuilt(workspace: Any) -> SubjectSpec:
    """Control: the MLX sampler that rebuilds its prompt cache every step."""
    del workspace
    return _spec("demo-mlx-sampler-cache-rebuilt", "demo-mlx", "mlx_greedy_cache_rebuilt")
