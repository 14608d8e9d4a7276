"""The bisection search: exact without skips, within the run bound, honest with skips."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from harness.bisect import Outcome, bisect_first_bad, run_bound


def _oracle(first_bad: int, skipped: frozenset[int] = frozenset()):  # type: ignore[no-untyped-def]
    def test(index: int) -> Outcome:
        if index in skipped:
            return Outcome.SKIP
        return Outcome.BAD if index >= first_bad else Outcome.GOOD

    return test


@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
@example((1, 0))
@example((20, 12))
def test_finds_first_bad_within_bound(case: tuple[int, int]) -> None:
    n, first = case
    result = bisect_first_bad(n, _oracle(first))
    assert result.first_bad == first
    assert result.runs <= run_bound(n)
    assert len({i for i, _ in result.tested}) == result.runs  # nothing tested twice


@given(st.integers(2, 80).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(0, n - 2), st.frozensets(st.integers(0, n - 2), max_size=n))))
def test_skips_never_hide_the_first_bad(case: tuple[int, int, frozenset[int]]) -> None:
    n, first, skipped = case
    result = bisect_first_bad(n, _oracle(first, skipped))
    assert first in result.candidates
    if result.first_bad is not None:
        assert result.first_bad == first
    else:
        assert set(result.candidates[:-1]) <= skipped  # only skipped ones leave ambiguity


def test_good_bad_end_means_nothing_to_bisect() -> None:
    result = bisect_first_bad(10, lambda _: Outcome.GOOD)
    assert result.first_bad is None
    assert result.candidates == ()
    assert result.runs == 1
