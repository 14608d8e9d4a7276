"""Forgetting as non-inferiority: the tuned model's NLL on the base model's English examples.

Both models score every example of one eval set (each prefixed with the model's BOS id, EOS when
it has none, so every real token is predicted). The statistic is the token-weighted difference
``(sum NLL_tuned - sum NLL_base) / tokens`` in nats per token, over examples paired by position;
its confidence interval comes from a paired bootstrap over examples (``scipy.stats.bootstrap``,
``paired=True``, BCa), because per-token losses within a sentence are not independent. The
claim is decided on that interval against a stated margin: the whole interval below the margin
is non-inferior, the whole interval above it is forgetting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.metrics.lm import _encode_examples

__all__ = ["ExampleNll", "NllDifference", "example_nll", "paired_nll_difference"]


@dataclass(frozen=True)
class ExampleNll:
    """Summed NLL (nats) and predicted tokens of each example, in the eval set's order."""

    nll: np.ndarray  # float64 [examples]
    tokens: np.ndarray  # int64 [examples]
    ids_digest: int  # hash of every example's token ids: equal only for the same tokenization

    @property
    def mean_nll(self) -> float:
        return float(self.nll.sum() / self.tokens.sum())


def example_nll(model: Any, texts: Sequence[str], *, batch_size: int = 32,
                max_len: int = 512) -> ExampleNll:
    """Per-example NLL of ``model`` on ``texts``; an example over ``max_len`` tokens is an error
    (the comparison would otherwise depend on where it was cut)."""
    sequences = _encode_examples(model, texts)
    for i, seq in enumerate(sequences):
        if len(seq) > max_len:
            msg = (f"{model.path}: example {i} ({texts[i][:40]!r}) has {len(seq)} tokens, over "
                   f"{max_len}; split long examples into sentences before a per-example comparison")
            raise ValueError(msg)
    nll = np.zeros(len(sequences))
    tokens = np.array([max(len(s) - 1, 0) for s in sequences], dtype=np.int64)
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start:start + batch_size]
        width = max(len(s) for s in chunk)
        if width < 2:
            continue
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=bool)
        for r, s in enumerate(chunk):
            ids[r, : len(s)] = s
            mask[r, : len(s)] = True
        scores = np.asarray(model.token_nll(ids, mask), dtype=np.float64)
        scored = mask[:, 1:]
        if not np.isfinite(scores[scored]).all():
            msg = (f"{model.path}: NaN or infinite token NLL in examples {start}.."
                   f"{start + len(chunk) - 1}; check the checkpoint for NaN/inf weights")
            raise ValueError(msg)
        nll[start:start + len(chunk)] = np.where(scored, scores, 0.0).sum(axis=1)
    return ExampleNll(nll, tokens, hash(tuple(tuple(s) for s in sequences)))


@dataclass(frozen=True)
class NllDifference:
    """Tuned minus base, nats per token, with its paired-bootstrap interval."""

    delta: float
    ci: tuple[float, float]
    base_nll: float
    tuned_nll: float
    n_examples: int
    n_tokens: int
    worse_examples: int  # examples whose tuned NLL per token exceeds the base's

    @property
    def ppl_ratio(self) -> float:
        return float(np.exp(self.delta))


def paired_nll_difference(base: ExampleNll, tuned: ExampleNll, *, confidence: float = 0.95,
                          resamples: int = 2000, seed: int = 0) -> NllDifference:
    """The token-weighted NLL difference over the examples both scored, with a BCa interval."""
    from scipy.stats import bootstrap

    if base.ids_digest != tuned.ids_digest or len(base.nll) != len(tuned.nll):
        msg = ("base and tuned tokenize the eval set differently; a paired per-example NLL "
               "comparison needs the same token ids (give both models the same tokenizer)")
        raise ValueError(msg)
    keep = base.tokens > 0
    diff, tokens = (tuned.nll - base.nll)[keep], base.tokens[keep].astype(np.float64)

    def weighted(d: np.ndarray, n: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(d.sum(axis=axis) / n.sum(axis=axis))

    delta = float(diff.sum() / tokens.sum())
    if np.ptp(diff / tokens) == 0:
        ci = (delta, delta)  # every resample gives the same ratio (e.g. a model against itself)
    else:
        res = bootstrap((diff, tokens), weighted, paired=True, vectorized=True,
                        confidence_level=confidence, n_resamples=resamples, method="BCa",
                        random_state=np.random.default_rng(seed))
        ci = (float(res.confidence_interval.low), float(res.confidence_interval.high))
    per_token_b = base.nll[keep] / tokens
    per_token_t = tuned.nll[keep] / tokens
    return NllDifference(delta=delta, ci=ci, base_nll=base.mean_nll, tuned_nll=tuned.mean_nll,
                         n_examples=int(keep.sum()), n_tokens=int(tokens.sum()),
                         worse_examples=int((per_token_t > per_token_b).sum()))
