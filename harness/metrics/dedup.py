"""Near-duplicate rows: character n-gram MinHash with LSH, confirmed by exact Jaccard.

Exact deduplication (SHA-256 after NFC and whitespace cleanup, :mod:`harness.metrics.lm`) counts a
sentence with a zero-width space moved, its case changed or a period added as a new example, so
4 sentences in 30 variants pass as 120 examples. This module measures what exact matching misses.

The method, stated once:

- Canonical form: NFKC, case-folded, format characters removed (Unicode category Cf: zero-width
  space and joiners, BOM, soft hyphen), punctuation removed (categories P*), whitespace runs
  collapsed to one space, ends stripped. Variants that differ only in these become identical.
- Shingles: the set of character :data:`NGRAM`-grams of the canonical form (a shorter text is one
  shingle, itself).
- Candidates: rows whose canonical forms are equal, plus pairs proposed by a MinHash LSH index
  (``datasketch``; :data:`NUM_PERM` permutations, fixed seed) at the Jaccard threshold.
- Confirmation: a proposed pair counts only if the exact Jaccard similarity of its two shingle
  sets is at least the threshold; the MinHash estimate never decides on its own.
- Clusters: connected components of confirmed pairs. A row is a near duplicate when an earlier
  row is in its cluster: ``near_dup_fraction = (n - clusters) / n``.

The threshold is the contract's (a claim param, e.g. ``near_dup_jaccard: 0.8 ratio``); LSH can
miss a pair whose similarity sits just above it, never one whose canonical forms are equal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from datasketch import MinHash, MinHashLSH

__all__ = ["NGRAM", "NUM_PERM", "CrossDuplicates", "CrossMatch", "NearDuplicates", "canonical_text",
           "cross_duplicates", "near_duplicates", "shingles"]

NGRAM = 5
NUM_PERM = 128
SEED = 1
_WHITESPACE = re.compile(r"\s+")


@cache
def _dropped(char: str) -> bool:
    category = unicodedata.category(char)
    return category == "Cf" or category.startswith("P")


def canonical_text(text: str) -> str:
    """The form two rows are compared in: NFKC, case-folded, no Cf or punctuation, one space."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c for c in folded if not _dropped(c))
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", kept)).strip()


def shingles(canonical: str, n: int = NGRAM) -> frozenset[str]:
    """Character n-grams of a canonical text; a text shorter than ``n`` is its own shingle."""
    if len(canonical) <= n:
        return frozenset((canonical,))
    return frozenset(canonical[i:i + n] for i in range(len(canonical) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass(frozen=True)
class NearDuplicates:
    """Rows grouped into near-duplicate clusters.

    Fields:
        n: rows checked.
        threshold: the Jaccard similarity at or above which two rows are near duplicates.
        groups: clusters of two or more rows, each a tuple of row indexes in order, largest first.
        distinct: clusters of every size (a row with no near duplicate is its own cluster).
    """

    n: int
    threshold: float
    groups: tuple[tuple[int, ...], ...]
    distinct: int

    @property
    def duplicate_rows(self) -> int:
        """Rows with an earlier near duplicate (every row of a cluster but its first)."""
        return self.n - self.distinct

    @property
    def fraction(self) -> float:
        return self.duplicate_rows / self.n

    def examples(self, texts: Sequence[str], limit: int = 5) -> list[dict[str, object]]:
        """The largest clusters, for an attachment: size, first rows and their texts."""
        return [{"size": len(g), "rows": list(g[:5]), "texts": [texts[i] for i in g[:3]]}
                for g in self.groups[:limit]]


class _Clusters:
    """Union-find over row indexes; each cluster is named by its smallest row."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return list(out.values())


def _check(threshold: float, texts: Sequence[str]) -> None:
    if not 0.0 < threshold <= 1.0:
        msg = f"near-duplicate Jaccard threshold must be in (0, 1], got {threshold}"
        raise ValueError(msg)
    if not texts:
        msg = "no rows to check for near duplicates: a fraction over 0 rows is not a measurement"
        raise ValueError(msg)


def _minhash(blank: MinHash, shingle_set: frozenset[str]) -> MinHash:
    mh = blank.copy()
    mh.update_batch([g.encode("utf-8") for g in sorted(shingle_set)])
    return mh


def near_duplicates(texts: Sequence[str], threshold: float) -> NearDuplicates:
    """Cluster ``texts`` by near duplication at Jaccard ``threshold`` (0 < threshold <= 1)."""
    _check(threshold, texts)
    clusters = _Clusters(len(texts))
    first: dict[str, int] = {}  # equal canonical forms: always one cluster, no LSH needed
    for i, text in enumerate(texts):
        clusters.union(first.setdefault(canonical_text(text), i), i)
    unique = list(first.values())  # first rows of each canonical form, in row order
    grams = [shingles(canonical) for canonical in first]
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    blank = MinHash(num_perm=NUM_PERM, seed=SEED)  # copies share its permutations
    for k, shingle_set in enumerate(grams):
        mh = _minhash(blank, shingle_set)
        for j in lsh.query(mh):
            if jaccard(grams[k], grams[j]) >= threshold:
                clusters.union(unique[j], unique[k])
        lsh.insert(k, mh)
    every = clusters.groups()
    groups = sorted((tuple(g) for g in every if len(g) > 1), key=lambda g: (-len(g), g[0]))
    return NearDuplicates(len(texts), threshold, tuple(groups), len(every))


# --------------------------------------------------------------------------------------------
# One set against another: contamination of an eval set by a training corpus


@dataclass(frozen=True)
class CrossMatch:
    """A query row with a near duplicate among the reference rows: the most similar one."""

    query: int
    reference: int
    jaccard: float


@dataclass(frozen=True)
class CrossDuplicates:
    """Query rows (an eval set) with a near duplicate in the reference rows (a training corpus),
    by the same canonical form, shingles, LSH and exact-Jaccard confirmation as
    :func:`near_duplicates`."""

    n: int
    n_reference: int
    threshold: float
    matches: tuple[CrossMatch, ...]  # one per matched query row, in query order

    @property
    def fraction(self) -> float:
        return len(self.matches) / self.n

    def examples(self, queries: Sequence[str], reference: Sequence[str],
                 limit: int = 10) -> list[dict[str, object]]:
        """The matched rows, for an attachment: both texts, both rows, the similarity."""
        return [{"eval_row": m.query, "eval_text": queries[m.query],
                 "train_row": m.reference, "train_text": reference[m.reference],
                 "jaccard": round(m.jaccard, 4)} for m in self.matches[:limit]]


def cross_duplicates(queries: Sequence[str], reference: Sequence[str],
                     threshold: float) -> CrossDuplicates:
    """Each query row's most similar reference row at Jaccard >= ``threshold``, if any.

    The reference is indexed once (equal canonical forms by a dict, the rest in an LSH index);
    each query is looked up, and a candidate counts only when its exact Jaccard reaches the
    threshold."""
    _check(threshold, queries)
    if not reference:
        msg = "no reference rows to look for near duplicates in (an empty training corpus)"
        raise ValueError(msg)
    first: dict[str, int] = {}
    for j, text in enumerate(reference):
        first.setdefault(canonical_text(text), j)
    rows = list(first.values())
    grams = [shingles(canonical) for canonical in first]
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    blank = MinHash(num_perm=NUM_PERM, seed=SEED)
    for k, shingle_set in enumerate(grams):
        lsh.insert(k, _minhash(blank, shingle_set))
    matches = []
    for i, text in enumerate(queries):
        canonical = canonical_text(text)
        if canonical in first:
            matches.append(CrossMatch(i, first[canonical], 1.0))
            continue
        mine = shingles(canonical)
        best: tuple[float, int] | None = None
        for k in lsh.query(_minhash(blank, mine)):
            sim = jaccard(mine, grams[k])
            if sim >= threshold and (best is None or (sim, -rows[k]) > (best[0], -best[1])):
                best = (sim, rows[k])
        if best is not None:
            matches.append(CrossMatch(i, best[1], best[0]))
    return CrossDuplicates(len(queries), len(reference), threshold, tuple(matches))
