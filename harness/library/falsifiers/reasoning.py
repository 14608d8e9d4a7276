"""Falsifier of REASONING-WITHIN-BUDGET (library claims/reasoning.yaml): thinking spans, live."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.metrics.reasoning import Reasoner

pytestmark = pytest.mark.live


def _subject(workspace: Any, subject_id: str) -> Reasoner:
    reasoner = workspace.resolve(subject_id)
    if not isinstance(reasoner, Reasoner):
        msg = (f"subject {subject_id!r} is a {type(reasoner).__name__}; this claim generates "
               f"thinking spans: give it a subject of kind reasoner")
        raise TypeError(msg)
    return reasoner


@pytest.mark.claim("REASONING-WITHIN-BUDGET")
def test_reasoning_within_budget(evidence, subject, workspace):
    """Every prompt generated live; each thinking span measured; the distribution attached."""
    reasoner = _subject(workspace, subject.id)
    for path in reasoner.inputs():
        evidence.input(path)
    evidence.input(reasoner.prompts)
    spans = reasoner.spans()
    budget = evidence.claim.params_for(subject.id)["budget"].value
    lengths = np.asarray([s.thinking for s in spans])
    over = [s for s in spans if s.thinking > budget or s.stop == "length"]
    n = len(spans)
    evidence.measure("over_budget", len(over), unit="count", n=n)
    evidence.measure("thinking_max", int(lengths.max()), unit="count", n=n)
    evidence.measure("thinking_p95", float(np.percentile(lengths, 95)), unit="count", n=n)
    evidence.measure("thinking_mean", float(lengths.mean()), unit="count", n=n)
    evidence.measure("unclosed", sum(s.stop == "length" for s in spans), unit="count", n=n)
    evidence.measure("ended_inside", sum(s.stop == "eos" for s in spans), unit="count", n=n)
    evidence.measure("forced", sum(s.forced for s in spans), unit="count", n=n)
    evidence.measure("answered", sum(s.answered for s in spans) / n, unit="ratio", n=n)
    evidence.measure("n_prompts", n, unit="count")
    evidence.attach("thinking_tokens", {"histogram": [int(v) for v in lengths],
                                        "bound": budget, "unit": "tokens",
                                        "label": "thinking tokens per prompt"})
    if over:
        worst = max(over, key=lambda s: s.thinking)
        evidence.note(f"{len(over)} of {n} prompts over budget; the longest: "
                      f"{reasoner.prompts.name}:{worst.line}, {worst.thinking} thinking tokens"
                      f"{', never closed' if worst.stop == 'length' else ''}")
    setting = (f"temperature {reasoner.temperature:g}, seed {reasoner.seed}, at most "
               f"{reasoner.max_new_tokens} new tokens")
    if reasoner.force_budget is not None:
        setting += f", {reasoner.think[1]} forced after {reasoner.force_budget} thinking tokens"
    evidence.note(f"{reasoner.describe()} on {n} prompts: {setting}")
