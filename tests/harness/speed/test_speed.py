"""Speed as evidence: interleaved timing, the ratio's interval, and the verdict it gives.

The class of failure: a speed claim decided on one timing, so a noisy machine flips it. The
property: whatever the noise, a claim decided on the interval is FAIL only when the whole
interval lies below the bound, PASS only when it lies above, and INCONCLUSIVE otherwise.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contracts import Claim, load_contracts
from harness.evidence import Evidence
from harness.metrics.speed import PairedTimings, interleaved, ratio_ci
from harness.records import Status
from harness.verdict import judge

BINDING = """\
area: speed
title: Speed claims
uses:
  - claim: KV-CACHE-SPEEDUP
    subjects: [decoder]
    controls: [{subject: rebuilt, expect: FAIL}]
"""


@cache
def claim() -> Claim:
    folder = Path(tempfile.mkdtemp(prefix="speed-contracts-"))
    (folder / "speed.yaml").write_text(BINDING, encoding="utf-8")
    return load_contracts(folder)["KV-CACHE-SPEEDUP"]


def _judge(timings: PairedTimings, mismatches: int = 0) -> tuple[Status, tuple[float, float]]:
    c = claim()
    ref = c.subject("decoder")
    assert ref is not None
    evidence = Evidence(c, ref, Path.cwd())
    low, high = ratio_ci(timings, resamples=500)
    evidence.measure("speedup", timings.ratio, unit="1", n=timings.repeats, ci=(low, high))
    evidence.measure("token_mismatches", mismatches, unit="count")
    evidence.measure("repeats", timings.repeats, unit="count")
    return judge(c, "decoder", evidence.measurements).status, (low, high)


def _timings(ratio: float, noise: float, repeats: int, seed: int) -> PairedTimings:
    rng = np.random.default_rng(seed)
    fast = 0.01 * np.exp(rng.normal(0.0, noise, repeats))
    slow = 0.01 * ratio * np.exp(rng.normal(0.0, noise, repeats))
    return PairedTimings(slow, fast, (), ())


def test_paths_run_in_turns_and_warm_up_is_not_timed():
    calls: list[tuple[str, int]] = []
    timings = interleaved(lambda i: calls.append(("slow", i)) or i,
                          lambda i: calls.append(("fast", i)) or -i, repeats=4, warmup=1)
    assert calls[:2] == [("slow", 0), ("fast", 0)]  # the warm-up
    assert calls[2:] == [("fast", 0), ("slow", 0), ("slow", 1), ("fast", 1),
                         ("fast", 2), ("slow", 2), ("slow", 3), ("fast", 3)]
    assert timings.repeats == 4
    assert timings.slow_results == (0, 1, 2, 3)
    assert timings.fast_results == (0, -1, -2, -3)


def test_one_repeat_is_refused():
    with pytest.raises(ValueError, match="at least 2 repeats"):
        interleaved(lambda i: i, lambda i: i, repeats=1)


@settings(max_examples=40, deadline=None)
@given(ratio=st.floats(0.5, 4.0), noise=st.floats(0.0, 0.6), repeats=st.integers(8, 20),
       seed=st.integers(0, 2**16))
def test_the_verdict_follows_the_interval_never_the_point(ratio, noise, repeats, seed):
    timings = _timings(ratio, noise, repeats, seed)
    status, (low, high) = _judge(timings)
    assert low <= timings.ratio <= high
    bound = claim().params["min_speedup"].value
    if low >= bound:
        assert status is Status.PASS
    elif high < bound:
        assert status is Status.FAIL
    else:  # the machine was too noisy to tell: never a FAIL (nor a PASS)
        assert status is Status.INCONCLUSIVE


def test_a_noisy_machine_at_the_bound_is_inconclusive_and_a_quiet_one_decides():
    bound = claim().params["min_speedup"].value
    assert _judge(_timings(bound, 0.5, 10, 1))[0] is Status.INCONCLUSIVE
    assert _judge(_timings(bound * 2, 0.02, 10, 1))[0] is Status.PASS
    assert _judge(_timings(1.0, 0.02, 10, 1))[0] is Status.FAIL  # the rebuilt cache


def test_a_fast_path_with_wrong_tokens_fails():
    assert _judge(_timings(5.0, 0.02, 10, 1), mismatches=3)[0] is Status.FAIL


def test_identical_timings_give_a_point_interval():
    same = np.full(8, 0.01)
    low, high = ratio_ci(PairedTimings(same * 2, same, (), ()))
    assert low == high == pytest.approx(2.0)
