"""Binary search for the first bad item of a sequence, with items that cannot be tested skipped.

The same search ``git bisect`` runs: items ``0..n-1`` are ordered, the item before the first is
known good and the last one is known (or checked to be) bad. Testing an item says good, bad or
skip (the test could not tell: it errored, the falsifier was missing). A skipped item is never
retested; the next probe is the untested item nearest the middle of the open interval. When only
skipped items are left between the last good and the first bad, the first bad one is any of them
or the first bad, and the search says so instead of guessing.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Outcome", "SearchResult", "bisect_first_bad", "run_bound"]


class Outcome(enum.StrEnum):
    GOOD = "good"
    BAD = "bad"
    SKIP = "skip"


@dataclass(frozen=True)
class SearchResult:
    """Where the first bad item is, and the items tested on the way (in test order)."""

    first_bad: int | None  # None when skipped items leave several possibilities
    candidates: tuple[int, ...]  # the possible first bad items (one when found)
    tested: tuple[tuple[int, Outcome], ...]
    last_good: int  # -1: the known-good item before the sequence

    @property
    def runs(self) -> int:
        return len(self.tested)


def run_bound(n: int) -> int:
    """Most tests a search over ``n`` items needs without skips, checking the bad end included."""
    return math.ceil(math.log2(n)) + 1 if n > 1 else 1


def _next_probe(low: int, high: int, skipped: set[int]) -> int | None:
    """The untested, unskipped item strictly between ``low`` and ``high`` nearest their middle."""
    middle = (low + high) // 2
    for distance in range(high - low):
        for index in (middle - distance, middle + distance + 1):
            if low < index < high and index not in skipped:
                return index
    return None


def bisect_first_bad(n: int, test: Callable[[int], Outcome], *,
                     check_bad_end: bool = True) -> SearchResult:
    """The first bad of items ``0..n-1`` given the item before 0 is good and item ``n-1`` is bad.

    With ``check_bad_end`` item ``n-1`` is tested first; a GOOD there ends the search with no
    first bad (``candidates`` empty): the claim does not fail at the bad end.
    """
    if n < 1:
        msg = "nothing to bisect: the range between good and bad holds no commit"
        raise ValueError(msg)
    tested: list[tuple[int, Outcome]] = []
    if check_bad_end:
        outcome = test(n - 1)
        tested.append((n - 1, outcome))
        if outcome is Outcome.GOOD:
            return SearchResult(None, (), tuple(tested), n - 1)
    low, high, skipped = -1, n - 1, set[int]()
    while (probe := _next_probe(low, high, skipped)) is not None:
        outcome = test(probe)
        tested.append((probe, outcome))
        if outcome is Outcome.GOOD:
            low = probe
        elif outcome is Outcome.BAD:
            high = probe
        else:
            skipped.add(probe)
    candidates = (*sorted(i for i in skipped if low < i < high), high)
    first = candidates[0] if len(candidates) == 1 else None
    return SearchResult(first, candidates, tuple(tested), low)
