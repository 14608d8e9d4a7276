"""Falsifiers of the parity claims (library claims/parity.yaml): two loads, one function.

LOAD-PARITY takes ``lm-eval`` pairs: text in, loss out, for the subject and for its reference.
FORWARD-PARITY takes ``lm-eval`` pairs (a model and its reference, the same weights loaded
another way): the reference continues each prompt greedily, both models score the whole
sequence, and the logits, the greedy choices and the hidden states of every layer are compared.
KV-CACHE-PARITY takes a model: greedy generation with the key/value cache against generation
that recomputes the whole sequence at every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.bisect.layers import compare_layers
from harness.metrics.decoding import prompt_ids
from harness.metrics.lm import evalset_nll

pytestmark = pytest.mark.live

PROMPTS = 4  # prompts from the eval text
PROMPT_TOKENS = 16
NEW_TOKENS = 32  # greedy tokens generated after each prompt


def _texts(pair: Any) -> list[str]:
    from harness.probes.context import FALLBACK_TEXT

    evalset = getattr(pair, "evalset", None)
    if evalset is not None:
        return list(evalset.texts)
    return FALLBACK_TEXT.read_text("utf-8").splitlines()


@pytest.mark.claim("LOAD-PARITY")
def test_load_parity(evidence, subject, workspace):
    """Held-out NLL of the subject and of its reference, each through its own tokenizer."""
    pair = workspace.resolve(subject.id)
    model, reference, evalset = pair.model, pair.reference, pair.evalset
    for path in (model.path, reference.path, evalset.path):
        evidence.input(path)
    got, want = evalset_nll(model, evalset), evalset_nll(reference, evalset)
    evidence.measure("val_nll", got.mean_nll, unit="nats", n=got.n_tokens)
    evidence.measure("reference_val_nll", want.mean_nll, unit="nats", n=want.n_tokens)
    evidence.measure("n_tokens", got.n_tokens, unit="count")
    evidence.measure("reference_n_tokens", want.n_tokens, unit="count")
    evidence.measure("n_examples", got.n_examples, unit="count")
    evidence.note(f"{pair.model_id} ({model.backend}) against {pair.reference_id} "
                  f"({reference.backend}) on {pair.evalset_id}")


@pytest.mark.claim("FORWARD-PARITY")
def test_forward_parity(evidence, subject, workspace):
    """Logits and greedy choices on the reference's greedy continuations; layer-by-layer states."""
    pair = workspace.resolve(subject.id)
    model, reference = pair.model, pair.reference
    evidence.input(model.path)
    evidence.input(reference.path)
    sequences = [p + reference.generate_greedy(p, NEW_TOKENS)
                 for p in prompt_ids(reference, _texts(pair), PROMPTS, PROMPT_TOKENS)]
    ids = np.asarray(sequences, dtype=np.int64)
    got, want = model.logits(ids), reference.logits(ids)
    generated = slice(PROMPT_TOKENS - 1, ids.shape[1] - 1)  # positions that chose a new token
    agree = got[:, generated].argmax(-1) == ids[:, PROMPT_TOKENS:]
    evidence.measure("max_logit_abs_diff", float(np.max(np.abs(got - want))), unit="1",
                     n=int(got[..., 0].size))
    evidence.measure("greedy_agreement", float(agree.mean()), unit="ratio", n=int(agree.size))
    evidence.measure("n_generated", int(agree.size), unit="count")
    tolerance = evidence.claim.params_for(subject.id)["layer_tolerance"].value
    layers = compare_layers(a=reference, b=model, ids=ids, tolerance=tolerance,
                            a_name=pair.reference_id, b_name=pair.model_id)
    first = layers.first_divergent
    evidence.measure("first_divergent_layer", -1 if first is None else first.index, unit="count")
    evidence.measure("n_layers", len(layers.layers), unit="count")
    evidence.attach("layers", layers.curve())
    evidence.note(f"{pair.model_id} ({model.backend}) against {pair.reference_id} "
                  f"({reference.backend}) on {len(sequences)} prompts + {NEW_TOKENS} tokens")


@pytest.mark.claim("KV-CACHE-PARITY")
def test_kv_cache_parity(evidence, subject, workspace):
    """Greedy tokens with the key/value cache against stateless recomputation."""
    model = workspace.resolve(subject.id)
    evidence.input(model.path)
    mismatches, differing, total = 0, 0, 0
    for prompt in prompt_ids(model, _texts(model), PROMPTS, PROMPT_TOKENS):
        cached = model.generate_greedy(prompt, NEW_TOKENS, use_cache=True)
        stateless = model.generate_greedy(prompt, NEW_TOKENS, use_cache=False)
        wrong = sum(a != b for a, b in zip(cached, stateless, strict=True))
        mismatches += wrong
        differing += int(wrong > 0)
        total += len(cached)
    evidence.measure("cache_mismatches", mismatches, unit="count", n=total)
    evidence.measure("sequences_differing", differing, unit="count")
    evidence.measure("n_generated", total, unit="count")
    evidence.note(f"{model.backend} model {model.path.name}: {PROMPTS} prompts of "
                  f"{PROMPT_TOKENS} tokens, {NEW_TOKENS} new tokens each")
