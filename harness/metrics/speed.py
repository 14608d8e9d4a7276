"""Speed as evidence: two paths timed in one process, interleaved, and the CI of their ratio.

A single timing of each path decides nothing on a shared machine: the second run meets a warm
cache, a neighbour's job, a frequency step. So :func:`interleaved` runs the two paths in turns
(fast first on even repeats, slow first on odd, so neither always runs second), each call with
the garbage collector paused (as ``timeit`` does), after warm-up calls that are not counted; and
:func:`ratio_ci` gives the ratio of mean times with a paired BCa bootstrap interval over the
repeats (``scipy.stats.bootstrap``). A claim that decides on that interval
(``statistics.decide_on_ci``) is INCONCLUSIVE on a machine too noisy to tell, never a flaky FAIL.

pytest-benchmark times one function per test and compares runs saved to disk; a paired ratio
within one process, with its interval, is what a speed *claim* needs, so the loop is here.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PairedTimings", "interleaved", "ratio_ci"]


@dataclass(frozen=True)
class PairedTimings:
    """Seconds per call of each path, one pair per repeat, and what each call returned."""

    slow: np.ndarray
    fast: np.ndarray
    slow_results: tuple[Any, ...]
    fast_results: tuple[Any, ...]

    @property
    def repeats(self) -> int:
        return int(self.slow.size)

    @property
    def ratio(self) -> float:
        """Mean slow time over mean fast time: how many times faster the fast path is."""
        return float(self.slow.mean() / self.fast.mean())

    def spread(self) -> float:
        """The larger coefficient of variation of the two paths' times: how noisy the run was."""
        return float(max(self.slow.std(ddof=1) / self.slow.mean(),
                         self.fast.std(ddof=1) / self.fast.mean()))


def _timed(fn: Callable[[int], Any], i: int) -> tuple[float, Any]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        out = fn(i)
        return time.perf_counter() - start, out
    finally:
        if enabled:
            gc.enable()


def interleaved(slow: Callable[[int], Any], fast: Callable[[int], Any], *, repeats: int,
                warmup: int = 1, progress: Callable[[int], None] | None = None) -> PairedTimings:
    """Time ``slow(i)`` and ``fast(i)`` for ``i`` in ``range(repeats)``, in alternating order.

    ``warmup`` calls of each (with ``i = 0``) come first and are not counted. ``progress`` is
    called with the number of repeats done."""
    if repeats < 2:
        msg = f"a ratio with an interval needs at least 2 repeats, got {repeats}"
        raise ValueError(msg)
    for _ in range(warmup):
        slow(0)
        fast(0)
    times: dict[str, list[float]] = {"slow": [], "fast": []}
    results: dict[str, list[Any]] = {"slow": [], "fast": []}
    paths = {"slow": slow, "fast": fast}
    for i in range(repeats):
        gc.collect()
        for name in (("fast", "slow") if i % 2 == 0 else ("slow", "fast")):
            seconds, out = _timed(paths[name], i)
            times[name].append(seconds)
            results[name].append(out)
        if progress is not None:
            progress(i + 1)
    return PairedTimings(np.asarray(times["slow"]), np.asarray(times["fast"]),
                         tuple(results["slow"]), tuple(results["fast"]))


def ratio_ci(timings: PairedTimings, *, confidence: float = 0.95, resamples: int = 2000,
             seed: int = 0) -> tuple[float, float]:
    """The paired BCa bootstrap interval of mean(slow) / mean(fast) over the repeats."""
    import warnings

    from scipy.stats import bootstrap

    if np.ptp(timings.slow) == 0 and np.ptp(timings.fast) == 0:  # nothing to resample
        return timings.ratio, timings.ratio

    def ratio(slow: np.ndarray, fast: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(slow.mean(axis=axis) / fast.mean(axis=axis))

    with warnings.catch_warnings():  # a degenerate interval is NaN, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message=".*BCa confidence interval cannot")
        res = bootstrap((timings.slow, timings.fast), ratio, paired=True, vectorized=True,
                        confidence_level=confidence, n_resamples=resamples, method="BCa",
                        random_state=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):  # degenerate resamples (identical times)
        low = high = timings.ratio
    return min(low, timings.ratio), max(high, timings.ratio)
