"""Forgetting as non-inferiority: the paired per-example NLL difference and its interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.demo import CORPORA_DIR
from harness.metrics.forgetting import ExampleNll, example_nll, paired_nll_difference

TEXTS = [line for line in (CORPORA_DIR / "eng_Latn.dev").read_text(encoding="utf-8")
         .splitlines()[:40] if line.strip()]


def _nll(values, tokens, digest=1) -> ExampleNll:
    return ExampleNll(np.asarray(values, dtype=np.float64), np.asarray(tokens, dtype=np.int64),
                      digest)


examples = st.integers(5, 60).flatmap(lambda n: st.tuples(
    st.lists(st.floats(0.5, 8.0), min_size=n, max_size=n),
    st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n),
    st.lists(st.integers(1, 40), min_size=n, max_size=n)))


@settings(max_examples=40, deadline=None)
@given(data=examples, shift=st.floats(-0.5, 0.5))
def test_delta_is_token_weighted_and_moves_with_a_per_token_shift(data, shift):
    per_token, change, tokens = (np.asarray(x) for x in data)
    base = _nll(per_token * tokens, tokens)
    tuned = _nll((per_token + change) * tokens, tokens)
    diff = paired_nll_difference(base, tuned, resamples=300)
    assert diff.delta == pytest.approx(float((change * tokens).sum() / tokens.sum()), abs=1e-9)
    assert diff.ci[0] <= diff.ci[1]
    moved = paired_nll_difference(base, _nll((per_token + change + shift) * tokens, tokens),
                                  resamples=300)
    assert moved.delta == pytest.approx(diff.delta + shift, abs=1e-9)
    assert diff.n_tokens == int(tokens.sum())
    assert diff.n_examples == len(tokens)


def test_a_model_against_itself_differs_by_exactly_zero():
    same = _nll([3.0, 4.0, 5.0], [2, 3, 4])
    diff = paired_nll_difference(same, same)
    assert diff.delta == 0.0
    assert diff.ci == (0.0, 0.0)
    assert diff.worse_examples == 0


def test_interval_covers_a_clear_rise_and_excludes_zero():
    rng = np.random.default_rng(0)
    tokens = rng.integers(10, 40, 300)
    base = rng.uniform(2, 4, 300) * tokens
    diff = paired_nll_difference(_nll(base, tokens), _nll(base + 0.3 * tokens, tokens),
                                 resamples=500)
    assert diff.ci[0] == pytest.approx(0.3)
    assert diff.ci[1] == pytest.approx(0.3)
    noisy = base + (0.3 + rng.normal(0, 0.2, 300)) * tokens
    diff = paired_nll_difference(_nll(base, tokens), _nll(noisy, tokens), resamples=500)
    assert 0 < diff.ci[0] < diff.delta < diff.ci[1]


def test_other_tokenizations_are_refused():
    with pytest.raises(ValueError, match="tokenize"):
        paired_nll_difference(_nll([1.0], [1], digest=1), _nll([1.0], [1], digest=2))


def test_example_nll_agrees_with_the_harness_scorer():
    """Per-example sums of the demo model add up to the token-weighted NLL of evalset scoring."""
    from harness.demo.build import Builder
    from harness.demo.lm import torch_dir
    from harness.metrics.lm import token_nll_stats
    from harness.models import open_model
    from harness.workspace import Workspace

    folder = torch_dir(Builder.for_workspace(Workspace.discover(Path(__file__).parent)))
    model = open_model(folder)
    per = example_nll(model, TEXTS, batch_size=7)
    stats = token_nll_stats(model, TEXTS, 512)
    assert int(per.tokens.sum()) == stats.n_tokens
    assert per.mean_nll == pytest.approx(stats.mean_nll, rel=1e-5)
    assert example_nll(model, TEXTS, batch_size=40).nll == pytest.approx(per.nll, rel=1e-5)
