"""Tests of harness.metrics.stats: the paired bootstrap, its exact sampler, and randomization."""

from __future__ import annotations

import math
from collections import Counter
from itertools import product

import numpy as np
import pytest
from sacrebleu.significance import _compute_p_value

from harness.metrics import stats
from harness.metrics.stats import (
    bootstrap_p_value,
    paired_approximate_randomization,
    paired_bootstrap,
    straightforward_bootstrap_deltas,
)
from harness.metrics.synth import synth_rows
from harness.metrics.text import corpus_cer

IntArray = np.ndarray


def _system(n: int, seed: int, error_rate: float) -> tuple[IntArray, IntArray]:
    rows = synth_rows(n, seed=seed, error_rate=error_rate)
    result = corpus_cer(hyps=rows.hyps, refs=rows.refs)
    return result.per_row_edits, result.per_row_ref_chars


@pytest.fixture(scope="module")
def systems() -> dict[str, tuple[IntArray, IntArray]]:
    """Three systems on the same 3,000 real reference lines: two alike, one clearly better."""
    return {
        "a": _system(3000, seed=11, error_rate=0.10),
        "a_twin": _system(3000, seed=12, error_rate=0.10),
        "better": _system(3000, seed=13, error_rate=0.05),
    }


# --- the paired bootstrap -----------------------------------------------------------------------


def test_ci_contains_the_observed_delta(systems: dict[str, tuple[IntArray, IntArray]]) -> None:
    (ea, ra), (eb, rb) = systems["a"], systems["better"]
    res = paired_bootstrap(edits_a=ea, ref_a=ra, edits_b=eb, ref_b=rb, n_resamples=2000, seed=1)
    assert res.ci_low <= res.delta <= res.ci_high
    assert res.delta == pytest.approx(res.cer_a - res.cer_b)
    assert (res.n_rows, res.n_resamples, res.seed) == (3000, 2000, 1)
    assert res.method == "paired-bootstrap"
    assert res.has_ci


def test_clearly_better_system_is_significant(
    systems: dict[str, tuple[IntArray, IntArray]],
) -> None:
    """5 % vs 10 % character errors on 3,000 rows: the whole interval is below 0, p tiny."""
    (eb, rb), (ea, ra) = systems["a"], systems["better"]
    res = paired_bootstrap(edits_a=ea, ref_a=ra, edits_b=eb, ref_b=rb, n_resamples=2000, seed=2)
    assert res.ci_high < 0
    assert res.p_value == 1 / 2001


def test_identical_systems(systems: dict[str, tuple[IntArray, IntArray]]) -> None:
    """A system against itself: delta 0, a degenerate interval at 0, p = 1 (sacrebleu: 1/(B+1))."""
    ea, ra = systems["a"]
    res = paired_bootstrap(edits_a=ea, ref_a=ra, edits_b=ea, ref_b=ra, n_resamples=1000, seed=3)
    assert (res.delta, res.ci_low, res.ci_high, res.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_systems_of_equal_quality_are_not_significant(
    systems: dict[str, tuple[IntArray, IntArray]],
) -> None:
    """Two draws of the same error model: the interval straddles 0 and p is large."""
    (ea, ra), (eb, rb) = systems["a"], systems["a_twin"]
    res = paired_bootstrap(edits_a=ea, ref_a=ra, edits_b=eb, ref_b=rb, n_resamples=2000, seed=4)
    assert res.ci_low < 0 < res.ci_high
    assert res.p_value > 0.05


def test_same_seed_same_result_for_any_number_of_threads(
    systems: dict[str, tuple[IntArray, IntArray]],
) -> None:
    (ea, ra), (eb, rb) = systems["a"], systems["better"]
    one = paired_bootstrap(edits_a=ea, ref_a=ra, edits_b=eb, ref_b=rb, n_resamples=3000, seed=5,
                           workers=1)
    again = paired_bootstrap(edits_a=ea, ref_a=ra, edits_b=eb, ref_b=rb, n_resamples=3000, seed=5,
                             workers=2)
    other = paired_bootstrap(edits_a=ea, ref_a=ra, edits_b=eb, ref_b=rb, n_resamples=3000, seed=6,
                             workers=1)
    assert one == again
    assert (one.ci_low, one.ci_high) != (other.ci_low, other.ci_high)


@pytest.mark.parametrize("shared_refs", [True, False])
def test_agrees_with_the_straightforward_bootstrap(shared_refs: bool) -> None:
    """Same statistic, different random streams: the intervals agree within Monte Carlo error."""
    rng = np.random.default_rng(7)
    n = 400
    ref_a = rng.integers(5, 80, n)
    ref_b = ref_a if shared_refs else ref_a + rng.integers(0, 10, n)
    edits_a = rng.binomial(ref_a, 0.12)
    edits_b = rng.binomial(ref_b, 0.10)
    fast = stats.bootstrap_deltas(stats._paired(edits_a, ref_a, edits_b, ref_b), 10_000, 8)
    plain = straightforward_bootstrap_deltas(edits_a=edits_a, ref_a=ref_a, edits_b=edits_b,
                                             ref_b=ref_b, n_resamples=10_000, seed=9)
    sd = plain.std()
    assert fast.mean() == pytest.approx(plain.mean(), abs=0.05 * sd)
    assert fast.std() == pytest.approx(sd, rel=0.05)
    for q in (0.025, 0.975):
        assert np.quantile(fast, q) == pytest.approx(np.quantile(plain, q), abs=0.2 * sd)


def test_p_value_is_sacrebleus_formula(systems: dict[str, tuple[IntArray, IntArray]]) -> None:
    """Without exact ties the p-value equals sacrebleu's _compute_p_value on the same deltas."""
    (ea, ra), (eb, rb) = systems["a"], systems["a_twin"]
    rows = stats._paired(ea, ra, eb, rb)
    deltas = stats.bootstrap_deltas(rows, 2000, 10)
    magnitudes = np.abs(deltas)
    theirs = _compute_p_value(magnitudes - magnitudes.mean(), abs(rows.delta))
    assert bootstrap_p_value(deltas, rows.delta) == theirs
    assert bootstrap_p_value(np.zeros(9), 0.0) == 1.0  # the tie sacrebleu scores 1/(B+1)
    assert _compute_p_value(np.zeros(9), 0.0) == 0.1


# --- the exact sampler --------------------------------------------------------------------------


def _multinomial_pmf(counts: tuple[int, ...], probs: list[float]) -> float:
    n = sum(counts)
    coefficient = math.factorial(n) / math.prod(math.factorial(c) for c in counts)
    return coefficient * math.prod(p**c for p, c in zip(probs, counts, strict=True))


@pytest.mark.parametrize(
    "values",
    [
        [1, 10, 100],  # three distinct rows: Multinomial(3, 1/3 each)
        [1, 1, 1, 10, 10, 100],  # repeated rows: categories of multiplicity 3, 2 and 1
    ],
)
def test_resampled_sums_follow_the_exact_multinomial(values: list[int]) -> None:
    """Every possible resample appears with its exact probability (chi-square, 30,000 draws).

    The values are chosen so that a sum identifies the count vector it came from; small n also
    exercises the redraw of Poisson totals above n.
    """
    column = np.array(values, dtype=np.int64)[:, None]
    sampler = stats._Sampler.build(np.hstack([column, np.ones_like(column)]))
    sums = sampler.sums(30_000, seed=11, workers=1)[:, 0]
    distinct = sorted(set(values))
    probs = [values.count(v) / len(values) for v in distinct]
    expected = {}
    for counts in product(range(len(values) + 1), repeat=len(distinct)):
        if sum(counts) == len(values):
            total = sum(c * v for c, v in zip(counts, distinct, strict=True))
            expected[total] = _multinomial_pmf(counts, probs)
    observed = Counter(sums.tolist())
    assert set(observed) <= set(expected)
    chi2 = sum((observed[s] - 30_000 * p) ** 2 / (30_000 * p) for s, p in expected.items())
    dof = len(expected) - 1
    assert chi2 < dof + 6 * math.sqrt(2 * dof)  # about a 6-sigma bound: a sampler bug blows it


def test_resampled_sums_have_the_bootstrap_moments() -> None:
    """On 20,000 rows, mean and variance of the resampled sums are n*mean and n*var."""
    rng = np.random.default_rng(12)
    columns = np.stack([rng.integers(-20, 20, 20_000), rng.integers(10, 200, 20_000)], axis=1)
    sums = stats._Sampler.build(columns).sums(4000, seed=13, workers=2).astype(np.float64)
    n = len(columns)
    for c in range(2):
        mean, var = columns[:, c].sum(), n * columns[:, c].var()
        assert abs(sums[:, c].mean() - mean) < 5 * math.sqrt(var / 4000)
        assert sums[:, c].var() == pytest.approx(var, rel=0.1)


def test_poisson_tables_invert_their_cdf() -> None:
    """The bucket sampler draws Poisson(mean): frequencies match the pmf."""
    means = np.array([0.4, 3.0, 250.0])
    tables = stats._PoissonTables.build(means)
    draws = tables.draw(np.random.default_rng(14), 200_000)
    for mean, row in zip(means.tolist(), draws, strict=True):
        assert row.mean() == pytest.approx(mean, rel=0.02, abs=0.01)
        assert row.var() == pytest.approx(mean, rel=0.03)
    p0 = math.exp(-0.4)
    assert np.mean(draws[0] == 0) == pytest.approx(p0, abs=5 * math.sqrt(p0 * (1 - p0) / 2e5))


# --- approximate randomization ------------------------------------------------------------------


def test_randomization_separates_better_from_alike(
    systems: dict[str, tuple[IntArray, IntArray]],
) -> None:
    (ea, ra), (eb, rb), (ec, rc) = systems["a"], systems["a_twin"], systems["better"]
    better = paired_approximate_randomization(edits_a=ec, ref_a=rc, edits_b=ea, ref_b=ra,
                                              n_trials=2000, seed=1)
    alike = paired_approximate_randomization(edits_a=ea, ref_a=ra, edits_b=eb, ref_b=rb,
                                             n_trials=2000, seed=1)
    same = paired_approximate_randomization(edits_a=ea, ref_a=ra, edits_b=ea, ref_b=ra,
                                            n_trials=2000, seed=1)
    assert better.p_value == 1 / 2001
    assert better.delta < 0
    assert alike.p_value > 0.05
    assert same.p_value == 1.0
    assert not better.has_ci
    assert better.method == "approximate-randomization"
    again = paired_approximate_randomization(edits_a=ec, ref_a=rc, edits_b=ea, ref_b=ra,
                                             n_trials=2000, seed=1)
    assert (again.p_value, again.delta) == (better.p_value, better.delta)


def test_randomization_deltas_are_centred_under_swaps() -> None:
    """Swapping A and B at random makes delta* symmetric about 0 (shared references)."""
    rng = np.random.default_rng(15)
    ref = rng.integers(5, 60, 500)
    rows = stats._paired(rng.binomial(ref, 0.2), ref, rng.binomial(ref, 0.1), ref)
    deltas = stats._randomized_deltas(rows, 20_000, 16)
    assert abs(deltas.mean()) < 4 * deltas.std() / math.sqrt(20_000)
    assert abs(rows.delta) > 5 * deltas.std()


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([1, 2], [3, 4], [1], [3, 4]), "aligned by row"),
        (([1, -2], [3, 4], [1, 2], [3, 4]), "edits_a row 1 is -2"),
        (([1, 2], [0, 0], [1, 2], [3, 4]), "ref_a sums to 0"),
        (([1.5, 2], [3, 4], [1, 2], [3, 4]), "whole numbers"),
        (([], [], [], []), "zero rows"),
        (([[1]], [[3]], [[1]], [[3]]), "one-dimensional"),
    ],
)
def test_bad_input_is_refused(args: tuple[list[float], ...], match: str) -> None:
    pairs = dict(zip(("edits_a", "ref_a", "edits_b", "ref_b"), args, strict=True))
    with pytest.raises(ValueError, match=match):
        paired_bootstrap(**pairs)
    with pytest.raises(ValueError, match=match):
        paired_approximate_randomization(**pairs)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap(edits_a=[1], ref_a=[2], edits_b=[1], ref_b=[2], n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(edits_a=[1], ref_a=[2], edits_b=[1], ref_b=[2], confidence=1.0)
    with pytest.raises(ValueError, match="n_trials"):
        paired_approximate_randomization(edits_a=[1], ref_a=[2], edits_b=[1], ref_b=[2], n_trials=0)


def test_resamples_of_only_empty_references_are_an_error() -> None:
    """With one empty reference in two rows, a quarter of resamples have no denominator."""
    with pytest.raises(ValueError, match="resamples hold no reference character"):
        paired_bootstrap(edits_a=[1, 0], ref_a=[5, 0], edits_b=[2, 1], ref_b=[5, 0],
                         n_resamples=200)
