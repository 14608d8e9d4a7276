"""Falsifier of SERVED-MATCHES-LOCAL (library claims/serving.yaml): a live server against the
local load of the folder it should serve, over real HTTP on the subject's url."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.demo.evalsets import ENG_DEV
from harness.models.served import ServedModel

pytestmark = pytest.mark.live

PROMPTS, PROMPT_TOKENS, NEW_TOKENS = 8, 16, 32


def _subject(workspace: Any, subject_id: str) -> ServedModel:
    served = workspace.resolve(subject_id)
    if not isinstance(served, ServedModel) or served.reference is None:
        msg = (f"subject {subject_id!r} must be of kind openai-endpoint with reference = "
               f"\"<the local model subject it serves>\"")
        raise TypeError(msg)
    return served


def _logprobs(model: Any, ids: list[int], generated: list[int]) -> np.ndarray:
    logits = np.asarray(model.logits(np.asarray([ids + generated])), dtype=np.float64)[0]
    logits = logits[len(ids) - 1:len(ids) - 1 + len(generated)]
    top = logits.max(-1, keepdims=True)
    norm = np.log(np.exp(logits - top).sum(-1, keepdims=True)) + top
    out: np.ndarray = (logits - norm)[np.arange(len(generated)), generated]
    return out


@pytest.mark.claim("SERVED-MATCHES-LOCAL")
def test_served_matches_local(evidence, subject, workspace):
    """Greedy completions and their logprobs, from the server and from the local load."""
    served = _subject(workspace, subject.id)
    local = workspace.resolve(str(served.reference))
    evidence.input(local.path)
    evidence.input(ENG_DEV)
    mismatches, differing, prompt_len_off, counted, total, worst = 0, 0, 0, 0, 0, 0.0
    first: str | None = None
    for line in ENG_DEV.read_text("utf-8").splitlines()[:PROMPTS]:
        prompt = local.tokenizer.decode(local.encode(line)[:PROMPT_TOKENS])
        ids = list(local.encode(prompt))
        got = served.complete(prompt, NEW_TOKENS)
        want = local.generate_greedy(ids, NEW_TOKENS)
        if local.eos_id in want:  # a server stops at end-of-sequence, and returns it
            want = want[:want.index(local.eos_id) + 1]
        if got.prompt_tokens is not None:
            counted += 1
            prompt_len_off += int(got.prompt_tokens != len(ids))
        n = len(want)
        cut = next((i for i, (a, b) in enumerate(zip(got.tokens, want, strict=False)) if a != b),
                   min(len(got.tokens), n))
        mismatches += n - cut
        differing += int(cut < n)
        total += n
        if cut < n and first is None:
            first = (f"{prompt[:40]!r}: token {cut + 1}: the server gave "
                     f"{list(got.tokens[cut:cut + 3])}, the local load {want[cut:cut + 3]}")
        if cut:
            local_lp = _logprobs(local, ids, want[:cut])
            worst = max(worst, float(np.abs(np.asarray(got.logprobs[:cut]) - local_lp).max()))
    evidence.measure("token_mismatches", mismatches, unit="count", n=total)
    evidence.measure("prompts_differing", differing, unit="count", n=PROMPTS)
    evidence.measure("max_logprob_abs_diff", worst, unit="nats",
                     n=(total - mismatches) or None)  # none compared: the tokens decide
    evidence.measure("prompt_token_mismatches", prompt_len_off, unit="count", n=counted or None)
    evidence.measure("n_generated", total, unit="count")
    if first is not None:
        evidence.note(f"first difference: {first}")
    evidence.note(f"{served.describe()} against {served.reference} ({local.backend}, "
                  f"{local.path.name}): {PROMPTS} prompts, {NEW_TOKENS} greedy tokens each")
