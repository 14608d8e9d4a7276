"""Paired significance tests for the difference of two corpus CERs over the same rows.

Two systems A and B are scored on the SAME rows (row ``i`` of every array is one utterance):
``edits_a[i]``, ``ref_a[i]`` are system A's edits and reference characters on row ``i``, and
likewise for B (the references differ when, say, A is scored against an N'Ko transcript and B
against a Latin one of the same audio). The statistic is the difference of corpus CERs,

    delta = sum(edits_a) / sum(ref_a) - sum(edits_b) / sum(ref_b),

negative when A is better.

Paired bootstrap (Koehn 2004, "Statistical significance tests for machine translation
evaluation"): each resample draws ``n`` row indices with replacement, the same indices for both
systems, and computes ``delta*`` on them. The interval is the percentile interval of the
``delta*`` (numpy's default linear quantiles at ``(1 - confidence) / 2`` and
``(1 + confidence) / 2``). The p-value is sacrebleu's (``sacrebleu/significance.py``,
``_paired_bs_test`` and ``_compute_p_value``, after Koehn 2004 and Clark et al.'s MultEval)::

    s_b = |delta*_b| - mean_b |delta*_b|              (resampled differences, centred)
    p   = (#{b : s_b >= |delta|} + 1) / (B + 1)

The one departure: sacrebleu counts ``s_b > |delta|`` strictly. The two agree whenever no
``s_b`` equals ``|delta|`` exactly; they differ on the degenerate tie of a system against
itself (every ``delta*`` is 0), where the strict count gives p = 1/(B+1), "significant", and
this one gives p = 1.

Resampling without materialising the indices: the statistic depends on a row only through its
values (``edits_a - edits_b`` and the reference length when both systems share references;
all four counts otherwise), so rows with equal values are one category, and a resample is the
vector of category counts, Multinomial(n, multiplicity / n). That vector is drawn exactly, in
three steps: (1) independent Poisson counts with means ``lam * multiplicity / n`` for a
``lam`` a few standard deviations below ``n`` (by inversion of each Poisson CDF with a guide
table; a vector whose total exceeds ``n`` is drawn again); (2) given their total ``t``, such
counts are Multinomial(t, multiplicity / n); (3) ``n - t`` further rows drawn uniformly with
replacement complete them to Multinomial(n, ...). The sums per resample are then a
matrix product and a gather, and the cost is B x (number of categories), not B x n: on the
benchmark (290,596 rows, 12,478 categories, B = 10,000) about 1 s of CPU and 26 MiB, where
materialising the B x n indices (sacrebleu, or textbook numpy) needs 23 GB and minutes.
The only approximation is double-precision rounding of the Poisson CDFs, as in any inversion
sampler. Resamples are drawn in chunks, each from its own ``SeedSequence(seed).spawn`` child,
so a seed gives the same result for any number of worker threads.

Approximate randomization (Noreen 1989; Riezler and Maxwell 2005): each trial swaps the A and B
values of every row with probability 1/2 and recomputes ``delta*``;
``p = (#{trials : |delta*| >= |delta|} + 1) / (n_trials + 1)``. sacrebleu's ``_paired_ar_test``
counts ``>`` strictly; they differ only on exact ties. Swapped rows enter the sums only through
the number of swaps in each category of equal ``(edits_b - edits_a, ref_b - ref_a)``, a
Binomial(multiplicity, 1/2), so a trial costs one draw per category.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.keywords import paired, paired_fields
from harness.metrics.text import resolve_threads

__all__ = [
    "PairedResult",
    "bootstrap_p_value",
    "paired_approximate_randomization",
    "paired_bootstrap",
    "straightforward_bootstrap_deltas",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_CHUNK_CELLS = 1 << 18  # resamples x categories drawn at once: a few MB, cache-resident
_POISSON_SIGMAS = 2.0  # lam = n - 2 sqrt(n): 2.3 % of totals exceed n and are drawn again
_TAIL_SIGMAS = 12.0  # Poisson CDF tables span lam +- 12 sqrt(lam) + 12 (tails below 1e-30)
_BUCKET_BITS = 12  # 4096 buckets per Poisson table
_BLAS_ONE_THREAD = 1 << 18  # largest m*n*k that OpenBLAS runs on one thread


@paired_fields
@dataclass(frozen=True, kw_only=True)
class PairedResult:
    """Outcome of a paired test of ``delta = CER_A - CER_B`` over the same rows.

    ``ci_low``/``ci_high`` bound the percentile interval at ``confidence``; the approximate
    randomization test gives no interval and reports NaN for both and for ``confidence``.
    ``n_resamples`` counts bootstrap resamples or randomization trials; ``method`` is
    ``"paired-bootstrap"`` or ``"approximate-randomization"``.
    """

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n_rows: int
    n_resamples: int
    seed: int
    method: str
    confidence: float
    cer_a: float
    cer_b: float

    @property
    def has_ci(self) -> bool:
        return not math.isnan(self.ci_low)


@dataclass(frozen=True)
class _Paired:
    """Validated per-row counts of two systems on the same rows."""

    edits_a: IntArray
    ref_a: IntArray
    edits_b: IntArray
    ref_b: IntArray

    @property
    def n(self) -> int:
        return len(self.edits_a)

    @property
    def shared_refs(self) -> bool:
        return bool(np.array_equal(self.ref_a, self.ref_b))

    def cer(self, edits: IntArray, ref: IntArray) -> float:
        return int(edits.sum()) / int(ref.sum())

    @property
    def delta(self) -> float:
        return float(_deltas(self._totals()[None, :], self.shared_refs)[0])

    def _totals(self) -> IntArray:
        return np.array([c.sum() for c in self.columns().T], dtype=np.int64)

    def columns(self) -> IntArray:
        """Per-row values the statistic is a function of the sums of (n x m)."""
        if self.shared_refs:
            return np.stack([self.edits_a - self.edits_b, self.ref_a], axis=1)
        return np.stack([self.edits_a, self.ref_a, self.edits_b, self.ref_b], axis=1)


def _as_counts(name: str, values: ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        msg = f"{name} must be one-dimensional (one count per row), got shape {arr.shape}"
        raise ValueError(msg)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            msg = f"{name} must hold whole numbers of characters; found non-integral values"
            raise ValueError(msg)
    elif arr.size and arr.dtype.kind not in "iub":
        msg = f"{name} must hold integer counts, got dtype {arr.dtype}"
        raise ValueError(msg)
    counts = arr.astype(np.int64)
    if counts.size and counts.min() < 0:
        row = int(np.argmin(counts))
        msg = f"{name} row {row} is {counts[row]}: counts of characters cannot be negative"
        raise ValueError(msg)
    return counts


def _paired(
    edits_a: ArrayLike, ref_a: ArrayLike, edits_b: ArrayLike, ref_b: ArrayLike
) -> _Paired:
    arrays = {
        "edits_a": _as_counts("edits_a", edits_a),
        "ref_a": _as_counts("ref_a", ref_a),
        "edits_b": _as_counts("edits_b", edits_b),
        "ref_b": _as_counts("ref_b", ref_b),
    }
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        msg = f"paired arrays must be aligned by row, got lengths {lengths}"
        raise ValueError(msg)
    if lengths["edits_a"] == 0:
        msg = "paired test over zero rows: there is nothing to compare"
        raise ValueError(msg)
    for name in ("ref_a", "ref_b"):
        if int(arrays[name].sum()) == 0:
            msg = f"{name} sums to 0 reference characters: that system's CER is undefined"
            raise ValueError(msg)
    return _Paired(**arrays)


def _deltas(sums: IntArray, shared_refs: bool) -> FloatArray:
    """delta per row of column sums (as laid out by :meth:`_Paired.columns`)."""
    sums_f = sums.astype(np.float64)
    if shared_refs:
        denominators = sums[:, 1:2]
        _check_denominators(denominators)
        return np.asarray(sums_f[:, 0] / sums_f[:, 1], dtype=np.float64)
    _check_denominators(sums[:, [1, 3]])
    return np.asarray(sums_f[:, 0] / sums_f[:, 1] - sums_f[:, 2] / sums_f[:, 3], dtype=np.float64)


def _check_denominators(denominators: IntArray) -> None:
    empty = int(np.count_nonzero(denominators == 0))
    if empty:
        msg = (
            f"{empty} resamples hold no reference character at all (only rows with empty "
            "references were drawn), so their CER is undefined; drop the empty-reference rows "
            "or compare more rows"
        )
        raise ValueError(msg)


# --- the paired bootstrap ---------------------------------------------------------------------


@paired
def paired_bootstrap(
    *,
    edits_a: ArrayLike,
    ref_a: ArrayLike,
    edits_b: ArrayLike,
    ref_b: ArrayLike,
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    workers: int = -1,
) -> PairedResult:
    """Paired bootstrap of ``CER_A - CER_B`` over the same rows (see the module docstring).

    ``workers``: threads to draw resamples with (-1: one per core); the result depends on
    ``seed`` only.
    """
    if n_resamples < 1:
        msg = f"n_resamples must be >= 1, got {n_resamples}"
        raise ValueError(msg)
    if not 0.0 < confidence < 1.0:
        msg = f"confidence must lie strictly between 0 and 1, got {confidence}"
        raise ValueError(msg)
    rows = _paired(edits_a, ref_a, edits_b, ref_b)
    delta = rows.delta
    deltas = bootstrap_deltas(rows, n_resamples, seed, resolve_threads(workers))
    low, high = np.quantile(deltas, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return PairedResult(
        delta=delta,
        ci_low=float(low),
        ci_high=float(high),
        p_value=bootstrap_p_value(deltas, delta),
        n_rows=rows.n,
        n_resamples=n_resamples,
        seed=seed,
        method="paired-bootstrap",
        confidence=confidence,
        cer_a=rows.cer(rows.edits_a, rows.ref_a),
        cer_b=rows.cer(rows.edits_b, rows.ref_b),
    )


def bootstrap_p_value(deltas: FloatArray, delta: float) -> float:
    """sacrebleu's paired-bootstrap p-value, counting ties (module docstring)."""
    magnitudes = np.abs(deltas)
    centred = magnitudes - magnitudes.mean()
    return (int(np.count_nonzero(centred >= abs(delta))) + 1) / (len(deltas) + 1)


def bootstrap_deltas(rows: _Paired, n_resamples: int, seed: int, workers: int = 1) -> FloatArray:
    """``delta*`` of ``n_resamples`` exact paired resamples of ``rows``."""
    sampler = _Sampler.build(rows.columns())
    sums = sampler.sums(n_resamples, seed, workers)
    return _deltas(sums, rows.shared_refs)


# --- exact multinomial resampling of category counts ------------------------------------------


@dataclass(frozen=True)
class _PoissonTables:
    """Inversion samplers of Poisson(mean_j) for every category j, driven by 63-bit integers.

    For a uniform 63-bit integer ``r``, the draw is ``min{x : r < cdf63[x]}``, with the CDF
    scaled to 2**63 (the top entry is 2**63, so every ``r`` stops). The top ``_BUCKET_BITS``
    bits of ``r`` pick a bucket; a bucket that no CDF step crosses stores its answer, one that
    a step crosses stores ``-(first candidate) - 1`` and the search steps up from there. Few
    buckets are crossed, so a draw costs a shift, a gather and a sign test.
    """

    buckets: NDArray[np.int32]  # one block of 2**_BUCKET_BITS entries per distinct mean
    cdf63: NDArray[np.uint64]  # scaled CDFs of the distinct means, concatenated
    bucket_off: IntArray  # per category: start of its mean's bucket block
    cdf_at: IntArray  # per category: index into cdf63 of the value 0 (may be negative)

    @classmethod
    def build(cls, means: FloatArray) -> _PoissonTables:
        distinct, which = np.unique(means, return_inverse=True)
        blocks, cdfs, cdf_at = [], [], []
        used = 0
        for mean in distinct.tolist():
            lo, cdf63 = _poisson_cdf63(mean)
            blocks.append(_buckets(lo, cdf63))
            cdfs.append(cdf63)
            cdf_at.append(used - lo)
            used += len(cdf63)
        return cls(
            buckets=np.concatenate(blocks),
            cdf63=np.concatenate(cdfs),
            bucket_off=(which * (1 << _BUCKET_BITS)).astype(np.int64),
            cdf_at=np.array(cdf_at, dtype=np.int64)[which],
        )

    def draw(self, rng: np.random.Generator, size: int) -> NDArray[np.int32]:
        """Independent Poisson counts, categories x ``size`` resamples.

        Each count uses a 32-bit uniform (two per 64-bit output of the generator) whose top
        bits pick the bucket; where a CDF step crosses the bucket, 31 further bits complete
        a 63-bit uniform for the search.
        """
        cells = len(self.bucket_off) * size
        high = rng.bit_generator.random_raw((cells + 1) // 2).view(np.uint32)[:cells]
        at = (high >> np.uint32(32 - _BUCKET_BITS)).reshape(-1, size) + self.bucket_off[:, None]
        counts = np.take(self.buckets, at)
        crossed = np.flatnonzero(counts < 0)
        if crossed.size:
            low = rng.bit_generator.random_raw(crossed.size) >> np.uint64(33)
            r63 = (high[crossed].astype(np.uint64) << np.uint64(31)) | low
            flat = counts.reshape(-1)
            flat[crossed] = self._search(-flat[crossed] - 1, r63, crossed // size)
        return counts

    def _search(
        self, start: NDArray[np.int32], r: NDArray[np.uint64], category: IntArray
    ) -> NDArray[np.int32]:
        x = start.astype(np.int64)
        base = self.cdf_at[category]
        todo = np.flatnonzero(r >= self.cdf63[base + x])
        while todo.size:
            x[todo] += 1
            todo = todo[r[todo] >= self.cdf63[base[todo] + x[todo]]]
        return x.astype(np.int32)


def _poisson_cdf63(mean: float) -> tuple[int, NDArray[np.uint64]]:
    """Lowest value and CDF * 2**63 of Poisson(mean) over mean +- 12 sd (+12).

    The mass left outside is below 1e-30, far under the 2**-63 resolution; the top entry is
    set to 2**63 so that it takes whatever rounding left over.
    """
    spread = _TAIL_SIGMAS * math.sqrt(mean) + _TAIL_SIGMAS
    lo = max(0, math.floor(mean - spread))
    x = np.arange(lo, math.ceil(mean + spread) + 1, dtype=np.float64)
    log_pmf = x * math.log(mean) - mean - np.array([math.lgamma(v + 1.0) for v in x.tolist()])
    scaled = np.minimum(np.cumsum(np.exp(log_pmf)) * 2.0**63, 2.0**63 - 1024.0)
    cdf63 = scaled.astype(np.uint64)
    cdf63[-1] = np.uint64(1 << 63)
    return lo, cdf63


def _buckets(lo: int, cdf63: NDArray[np.uint64]) -> NDArray[np.int32]:
    """Per bucket of 63-bit integers: its draw, or -(first candidate) - 1 if a step crosses it."""
    width = 1 << (63 - _BUCKET_BITS)
    starts = np.arange(1 << _BUCKET_BITS, dtype=np.uint64) * np.uint64(width)
    first = np.searchsorted(cdf63, starts, side="right")
    last = np.searchsorted(cdf63, starts + np.uint64(width - 1), side="right")
    values = (first + lo).astype(np.int32)
    return np.where(first == last, values, -values - 1).astype(np.int32)


def _distinct_rows(columns: IntArray) -> tuple[IntArray, IntArray]:
    """Distinct rows of ``columns`` (the categories) and how many rows each stands for."""
    offsets = columns.min(axis=0)
    radices = columns.max(axis=0) - offsets + 1
    if math.prod(radices.tolist()) >= 1 << 62:
        values, counts = np.unique(columns, axis=0, return_counts=True)
        return values, counts
    key = np.zeros(len(columns), dtype=np.int64)
    for c, radix in enumerate(radices.tolist()):  # mixed-radix code of each row's values
        key = key * radix + (columns[:, c] - offsets[c])
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    return columns[first], counts


@dataclass(frozen=True)
class _Sampler:
    """Draws column sums of exact bootstrap resamples of n rows (module docstring).

    Sums are accumulated in float64, exact for integers below 2**53: :meth:`build` refuses
    columns whose sum over n rows could reach that.
    """

    n: int
    category_values: FloatArray  # k x (m + 1): each category's values, then a 1 (its count)
    row_values: FloatArray  # n x m
    tables: _PoissonTables

    @classmethod
    def build(cls, columns: IntArray) -> _Sampler:
        n = len(columns)
        largest = int(np.abs(columns).max(initial=0))
        if n * largest >= 1 << 53:
            msg = f"counts up to {largest} over {n} rows are too large to sum exactly"
            raise ValueError(msg)
        categories, multiplicity = _distinct_rows(columns)
        lam = max(n - _POISSON_SIGMAS * math.sqrt(n), n / 2.0)
        tables = _PoissonTables.build((multiplicity * (lam / n)).astype(np.float64))
        ones = np.ones((len(categories), 1))
        return cls(n, np.hstack([categories, ones]), columns.astype(np.float64), tables)

    def sums(self, n_resamples: int, seed: int, workers: int) -> IntArray:
        """Column sums (n_resamples x columns); chunk ``i`` uses the seed's ``i``-th child."""
        per_chunk = max(1, _CHUNK_CELLS // len(self.category_values))
        sizes = [min(per_chunk, n_resamples - lo) for lo in range(0, n_resamples, per_chunk)]
        children = np.random.SeedSequence(seed).spawn(len(sizes))
        jobs = zip(sizes, children, strict=True)
        if workers == 1 or len(sizes) == 1:
            chunks = [self._chunk(size, child) for size, child in jobs]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                chunks = list(pool.map(lambda job: self._chunk(*job), jobs))
        return np.rint(np.concatenate(chunks)).astype(np.int64)

    def _chunk(self, size: int, child: np.random.SeedSequence) -> FloatArray:
        rng = np.random.default_rng(child)
        sums = self._poisson_sums(rng, size)
        missing = self.n - np.rint(sums[:, -1]).astype(np.int64)
        return sums[:, :-1] + self._uniform_rows(rng, missing)

    def _poisson_sums(self, rng: np.random.Generator, size: int) -> FloatArray:
        """Sums and totals of Poisson category counts, redrawn where a total exceeds n.

        Conditioning on the total being at most n keeps each accepted count vector
        Multinomial given its total, which is all the completion step needs.
        """
        sums = self._weigh(self.tables.draw(rng, size))
        over = np.flatnonzero(sums[:, -1] > self.n)
        while over.size:
            sums[over] = self._weigh(self.tables.draw(rng, over.size))
            over = over[sums[over, -1] > self.n]
        return sums

    def _weigh(self, counts: NDArray[np.int32]) -> FloatArray:
        """Column sums and totals (resamples x (m + 1)) of category counts.

        One product per block of categories small enough that BLAS keeps it on one thread
        (OpenBLAS threads a GEMM above m*n*k = 2**18, which on a busy machine costs more than
        it saves and would fight the worker threads here).
        """
        values = self.category_values
        counts_f = counts.astype(np.float64)
        step = max(1, _BLAS_ONE_THREAD // (values.shape[1] * counts.shape[1]))
        weighed = np.zeros((values.shape[1], counts.shape[1]))
        for lo in range(0, len(values), step):
            weighed += values[lo : lo + step].T @ counts_f[lo : lo + step]
        return weighed.T

    def _uniform_rows(self, rng: np.random.Generator, draws: IntArray) -> FloatArray:
        """Column sums of ``draws[b]`` rows drawn uniformly with replacement, per resample b."""
        result = np.zeros((len(draws), self.row_values.shape[1]))
        some = np.flatnonzero(draws)
        if some.size:
            picks = rng.integers(0, self.n, size=int(draws.sum()))
            values = np.take(self.row_values, picks, axis=0)
            starts = (np.cumsum(draws) - draws)[some]
            result[some] = np.add.reduceat(values, starts, axis=0)
        return result


# --- approximate randomization ----------------------------------------------------------------


@paired
def paired_approximate_randomization(
    *,
    edits_a: ArrayLike,
    ref_a: ArrayLike,
    edits_b: ArrayLike,
    ref_b: ArrayLike,
    n_trials: int = 10_000,
    seed: int = 0,
) -> PairedResult:
    """Approximate randomization test of ``CER_A - CER_B`` (module docstring)."""
    if n_trials < 1:
        msg = f"n_trials must be >= 1, got {n_trials}"
        raise ValueError(msg)
    rows = _paired(edits_a, ref_a, edits_b, ref_b)
    delta = float(_deltas(_four_sums(rows)[None, :], shared_refs=False)[0])
    deltas = _randomized_deltas(rows, n_trials, seed)
    p = (int(np.count_nonzero(np.abs(deltas) >= abs(delta))) + 1) / (n_trials + 1)
    return PairedResult(
        delta=delta,
        ci_low=math.nan,
        ci_high=math.nan,
        p_value=p,
        n_rows=rows.n,
        n_resamples=n_trials,
        seed=seed,
        method="approximate-randomization",
        confidence=math.nan,
        cer_a=rows.cer(rows.edits_a, rows.ref_a),
        cer_b=rows.cer(rows.edits_b, rows.ref_b),
    )


def _four_sums(rows: _Paired) -> IntArray:
    return np.array(
        [rows.edits_a.sum(), rows.ref_a.sum(), rows.edits_b.sum(), rows.ref_b.sum()],
        dtype=np.int64,
    )


def _randomized_deltas(rows: _Paired, n_trials: int, seed: int) -> FloatArray:
    """delta* of trials that swap each row's A and B values with probability 1/2."""
    swap = np.stack(
        [rows.edits_b - rows.edits_a, rows.ref_b - rows.ref_a], axis=1
    )  # what a swap adds to A's sums and takes from B's
    moves, multiplicity = np.unique(swap, axis=0, return_counts=True)
    base = _four_sums(rows)
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_CELLS // len(moves))
    deltas: list[FloatArray] = []
    for lo in range(0, n_trials, per_chunk):
        swaps = rng.binomial(multiplicity, 0.5, size=(min(per_chunk, n_trials - lo), len(moves)))
        shift = swaps @ moves
        sums = base + np.concatenate([shift, -shift], axis=1)
        deltas.append(_deltas(sums, shared_refs=False))
    return np.concatenate(deltas)


@paired
def straightforward_bootstrap_deltas(
    *,
    edits_a: ArrayLike,
    ref_a: ArrayLike,
    edits_b: ArrayLike,
    ref_b: ArrayLike,
    n_resamples: int,
    seed: int,
) -> FloatArray:
    """The textbook paired bootstrap, materialising every resample's row indices.

    A reference to test the fast sampler against (small inputs only: it holds
    ``n_resamples x n`` indices in memory). Same statistic, different random stream.
    """
    rows = _paired(edits_a, ref_a, edits_b, ref_b)
    values = rows.columns()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, rows.n, size=(n_resamples, rows.n))
    return _deltas(values[idx].sum(axis=1), rows.shared_refs)
