"""Falsifier of KV-CACHE-SPEEDUP (library claims/speed.yaml): two decoding paths, timed in turns.

The subject is a model (the harness's own cached and stateless greedy loops) or a ``decoder``
naming the user's sampling functions (harness.metrics.decoding). The record's provenance names
the machine (CPU model, cores, load average at start, torch threads: harness.machine), and the
claim is ``machine_bound``: the gate on another kind of machine calls this evidence STALE.
"""

from __future__ import annotations

import pytest

from harness.demo.evalsets import ENG_DEV
from harness.metrics.decoding import as_decoder, prompt_ids
from harness.metrics.speed import interleaved, ratio_ci

pytestmark = pytest.mark.live


@pytest.mark.claim("KV-CACHE-SPEEDUP")
def test_kv_cache_speedup(evidence, subject, workspace):
    """Cached and stateless greedy decoding, interleaved; the ratio of mean times with its CI."""
    decoder = as_decoder(subject.id, workspace.resolve(subject.id))
    model = decoder.model
    evidence.input(model.path)
    evidence.input(ENG_DEV)
    for source in decoder.sources:
        evidence.input(source)
    params = evidence.claim.params_for(subject.id)
    repeats = int(params["timed_repeats"].value)
    new = int(params["generate_tokens"].value)
    prompts = prompt_ids(model, ENG_DEV.read_text("utf-8").splitlines(), repeats,
                         int(params["prompt_tokens"].value), str(ENG_DEV))
    timings = interleaved(lambda i: decoder.stateless(prompts[i], new),
                          lambda i: decoder.cached(prompts[i], new), repeats=repeats)
    low, high = ratio_ci(timings, confidence=evidence.claim.statistics.confidence,
                         resamples=int(params["resamples"].value))
    mismatches = sum(a != b for slow, fast in zip(timings.slow_results, timings.fast_results,
                                                  strict=True)
                     for a, b in zip(slow, fast, strict=True))
    evidence.measure("speedup", timings.ratio, unit="1", n=repeats, ci=(low, high))
    evidence.measure("cached_tokens_per_s", new / float(timings.fast.mean()), unit="tokens/s")
    evidence.measure("stateless_tokens_per_s", new / float(timings.slow.mean()), unit="tokens/s")
    evidence.measure("token_mismatches", mismatches, unit="count", n=repeats * new)
    evidence.measure("timing_spread", timings.spread(), unit="ratio")
    evidence.measure("repeats", repeats, unit="count")
    evidence.measure("new_tokens", new, unit="count")
    evidence.attach("speedup_interval", {
        "estimate": timings.ratio, "ci": [low, high], "bound": params["min_speedup"].value,
        "unit": "x", "label": "stateless time / cached time", "better": "above"})
    evidence.attach("timings_s", {"stateless": [round(t, 6) for t in timings.slow],
                                  "cached": [round(t, 6) for t in timings.fast]})
    evidence.note(f"{decoder.cached_name} against {decoder.stateless_name} on the "
                  f"{model.backend} model {model.path.name}: {repeats} interleaved repeats of "
                  f"{new} tokens after a {len(prompts[0])}-token prompt")
