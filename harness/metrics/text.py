"""Character error rate (CER) under an explicit, documented text policy.

CER is a count of edits divided by a count of reference characters, and both counts depend on
what a "character" is. A :class:`TextPolicy` fixes that, and :func:`normalize` applies it, in
this order, to hypotheses and references alike:

1. ``normalization``: Unicode normalisation with :func:`unicodedata.normalize`, one of ``"NFC"``
   (the default), ``"NFD"``, ``"NFKC"``, or ``"none"`` (code points compared as they are).
   Canonical normalisation (NFC/NFD) puts combining marks in canonical order, so an N'Ko
   hypothesis whose tone and nasalisation marks were emitted in another order than the
   reference's is not charged for the order; under ``"none"`` it is (two edits per swap).
2. ``whitespace``, where whitespace means :meth:`str.isspace` (ASCII space, tab and newline,
   NBSP U+00A0, the U+2000..U+200A spaces, U+3000, line and paragraph separators, ...;
   zero-width characters such as U+200B are not whitespace and are kept):

   - ``"keep"``: text is compared as it is, leading and trailing whitespace included;
   - ``"collapse"`` (the default): leading and trailing whitespace is stripped and every run of
     whitespace becomes one U+0020 SPACE, which counts as a character;
   - ``"remove"``: all whitespace is deleted, so CER is over non-whitespace characters only;
     the normalisation form is then applied once more, because deleting a space can join a
     letter and a mark that it separated (NFKC turns U+00A8 into a space and U+0308).

A character is then one code point of the normalised text (not a grapheme cluster: an N'Ko
letter with a tone mark is two characters). Edits are the Levenshtein distance between the two
normalised strings (unit-cost insertions, deletions and substitutions), computed with
``rapidfuzz.distance.Levenshtein`` when the ``runs`` extra is installed and by a pure-Python
dynamic programme otherwise. Corpus CER is ``sum(edits) / sum(reference characters)`` over all
rows: a long utterance weighs more than a short one, and the result is not a mean of per-row
rates. jiwer's ``cer`` computes the same quantity; its default transform (``cer_default``:
``Strip`` then split into characters) strips the ends but neither normalises Unicode nor
collapses inner whitespace, so jiwer and this module agree exactly when both are given
strings already normalised by the same policy (see the tests).

:func:`corpus_cer` normalises whole lists at once: a vectorised scan over the code points finds
the rows the policy could change (characters that normalisation alters or may compose, marks out
of canonical order, whitespace to strip or collapse) and only those rows go through
:func:`normalize`; the scan never skips a row that :func:`normalize` would change.
"""

from __future__ import annotations

import os
import unicodedata
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise, repeat
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from harness.keywords import paired, paired_fields

try:
    from rapidfuzz import process as _rf_process
    from rapidfuzz.distance import Levenshtein

    HAVE_RAPIDFUZZ = True
except ImportError:  # the optional "runs" extra is not installed
    HAVE_RAPIDFUZZ = False

__all__ = [
    "HAVE_RAPIDFUZZ",
    "NORMALIZATIONS",
    "WHITESPACE_POLICIES",
    "CerResult",
    "TextPolicy",
    "char_edits",
    "corpus_cer",
    "normalize",
    "normalize_many",
    "per_partition_cer",
    "ref_chars",
]

NORMALIZATIONS = ("NFC", "NFD", "NFKC", "none")
WHITESPACE_POLICIES = ("keep", "collapse", "remove")

IntArray = NDArray[np.int64]
_Form = Literal["NFC", "NFD", "NFKC"]
_FORMS: dict[str, _Form] = {"NFC": "NFC", "NFD": "NFD", "NFKC": "NFKC"}


@dataclass(frozen=True)
class TextPolicy:
    """How text is normalised before characters are counted and compared (module docstring)."""

    normalization: str = "NFC"
    whitespace: str = "collapse"

    def __post_init__(self) -> None:
        if self.normalization not in NORMALIZATIONS:
            msg = (
                f"unknown normalization {self.normalization!r}; "
                f"use one of {', '.join(NORMALIZATIONS)}"
            )
            raise ValueError(msg)
        if self.whitespace not in WHITESPACE_POLICIES:
            msg = (
                f"unknown whitespace policy {self.whitespace!r}; "
                f"use one of {', '.join(WHITESPACE_POLICIES)}"
            )
            raise ValueError(msg)

    @property
    def is_identity(self) -> bool:
        """True when the policy leaves every text as it is."""
        return self.normalization == "none" and self.whitespace == "keep"


DEFAULT_POLICY = TextPolicy()


def normalize(text: str, policy: TextPolicy = DEFAULT_POLICY) -> str:
    """``text`` under ``policy``: Unicode normalisation, then the whitespace rule."""
    form = policy.normalization
    if form != "none":
        text = unicodedata.normalize(_FORMS[form], text)
    if policy.whitespace == "collapse":
        return " ".join(text.split())
    if policy.whitespace == "remove":
        text = "".join(text.split())
        return text if form == "none" else unicodedata.normalize(_FORMS[form], text)
    return text


def ref_chars(ref: str, policy: TextPolicy = DEFAULT_POLICY) -> int:
    """Characters (code points) of ``ref`` after normalisation: the CER denominator."""
    return len(normalize(ref, policy))


@paired
def char_edits(*, hyp: str, ref: str, policy: TextPolicy = DEFAULT_POLICY) -> int:
    """Levenshtein distance, in code points, between ``hyp`` and ``ref`` after normalisation."""
    return _distance(normalize(hyp, policy), normalize(ref, policy))


def _distance(a: str, b: str) -> int:
    if HAVE_RAPIDFUZZ:
        return int(Levenshtein.distance(a, b))
    return _levenshtein_py(a, b)


def _levenshtein_py(a: str, b: str) -> int:
    """Unit-cost Levenshtein distance by the two-row dynamic programme (the fallback)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            )
        previous = current
    return previous[-1]


@paired_fields
@dataclass(frozen=True, kw_only=True)
class CerResult:
    """Corpus CER: totals, their ratio, and the per-row counts they were summed from.

    ``cer`` is ``edits / ref_chars``; it is NaN ("unscored") when ``ref_chars`` is 0, which
    only :func:`per_partition_cer` can return (for a partition of empty references).
    The per-row arrays are read-only int64 arrays aligned with the input rows.
    """

    edits: int
    ref_chars: int
    cer: float
    per_row_edits: IntArray = field(repr=False, compare=False)
    per_row_ref_chars: IntArray = field(repr=False, compare=False)

    @property
    def n_rows(self) -> int:
        return len(self.per_row_edits)


def _result(edits: IntArray, refs: IntArray) -> CerResult:
    edits = np.array(edits, dtype=np.int64)
    refs = np.array(refs, dtype=np.int64)
    edits.setflags(write=False)
    refs.setflags(write=False)
    total_edits, total_refs = int(edits.sum()), int(refs.sum())
    cer = total_edits / total_refs if total_refs else float("nan")
    return CerResult(edits=total_edits, ref_chars=total_refs, cer=cer, per_row_edits=edits,
                     per_row_ref_chars=refs)


@paired
def corpus_cer(
    *,
    hyps: Sequence[str],
    refs: Sequence[str],
    policy: TextPolicy = DEFAULT_POLICY,
    workers: int = -1,
) -> CerResult:
    """Corpus-level CER of aligned ``hyps`` against ``refs`` under ``policy``.

    ``workers``: threads to use (-1, the default: one per core). With more than one and more
    than one block of ``_BLOCK_ROWS`` rows, this thread normalises block k+1 while rapidfuzz
    measures block k on ``workers`` threads of its own, without the GIL. The result does not
    depend on ``workers``.

    Raises ValueError when the lists differ in length or when the references hold no
    character at all after normalisation (CER is undefined), and TypeError naming the row
    when a hypothesis or reference is not a string.
    """
    hyp_list = _checked(hyps, "hypothesis")
    ref_list = _checked(refs, "reference")
    if len(hyp_list) != len(ref_list):
        msg = (
            f"corpus_cer: {len(hyp_list)} hypotheses but {len(ref_list)} references; "
            "align the rows"
        )
        raise ValueError(msg)
    threads = resolve_threads(workers)
    if threads == 1 or not HAVE_RAPIDFUZZ or len(ref_list) <= _BLOCK_ROWS:
        norm_hyps, _ = _normalize_items(hyp_list, policy)
        norm_refs, lens = _normalize_items(ref_list, policy)
        edits = _distances(norm_hyps, norm_refs, threads)
    else:
        edits, lens = _pipelined(hyp_list, ref_list, policy, threads)
    result = _result(edits, lens)
    if result.ref_chars == 0:
        msg = (
            f"corpus_cer: the {len(ref_list)} references hold no character after normalisation "
            f"with {policy}; CER is undefined. Check the reference column of the input."
        )
        raise ValueError(msg)
    return result


def resolve_threads(workers: int) -> int:
    """Threads for ``workers``: -1 means every core; otherwise a positive count."""
    if workers == -1:
        return os.cpu_count() or 1
    if workers < 1:
        msg = f"workers must be a positive number of threads or -1 (all cores), got {workers}"
        raise ValueError(msg)
    return workers


def _pipelined(
    hyps: list[str], refs: list[str], policy: TextPolicy, workers: int
) -> tuple[IntArray, IntArray]:
    """Normalise block k+1 on this thread while rapidfuzz measures block k on ``workers``.

    Measured on two cores (docs/BENCHMARKS.md): giving rapidfuzz every core, not the cores
    left over, is what makes the overlap pay; with one worker it runs slower than in sequence.
    """
    futures: list[Future[IntArray]] = []
    lens: list[IntArray] = [np.zeros(0, dtype=np.int64)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        for lo in range(0, len(refs), _BLOCK_ROWS):
            norm_hyps, _ = _normalize_items(hyps[lo : lo + _BLOCK_ROWS], policy)
            norm_refs, ref_lens = _normalize_items(refs[lo : lo + _BLOCK_ROWS], policy)
            futures.append(pool.submit(_distances, norm_hyps, norm_refs, workers))
            lens.append(ref_lens)
        edits = [np.zeros(0, dtype=np.int64), *(f.result() for f in futures)]
    return np.concatenate(edits), np.concatenate(lens)


def _distances(hyps: list[str], refs: list[str], workers: int) -> IntArray:
    if not HAVE_RAPIDFUZZ:
        return np.fromiter(map(_levenshtein_py, hyps, refs), dtype=np.int64, count=len(refs))
    if not refs:
        return np.zeros(0, dtype=np.int64)
    scores = _rf_process.cpdist(
        hyps, refs, scorer=Levenshtein.distance, dtype=np.int64, workers=workers
    )
    return np.asarray(scores, dtype=np.int64).reshape(-1)


@paired
def per_partition_cer(
    *,
    edits: Sequence[int] | IntArray,
    ref_chars: Sequence[int] | IntArray,
    partitions: Sequence[str],
) -> dict[str, CerResult]:
    """Corpus CER of each partition (a label per row, such as a language or a speaker).

    Returns ``{label: CerResult}`` in sorted label order; each result's per-row arrays hold that
    partition's rows in input order. A partition whose references are all empty gets a NaN
    ``cer``, which a falsifier records as unscored rather than dropping.
    """
    edits_arr = np.asarray(edits, dtype=np.int64).reshape(-1)
    refs_arr = np.asarray(ref_chars, dtype=np.int64).reshape(-1)
    if not len(edits_arr) == len(refs_arr) == len(partitions):
        msg = (
            f"per_partition_cer: {len(edits_arr)} edits, {len(refs_arr)} ref_chars and "
            f"{len(partitions)} partition labels; all three must be aligned by row"
        )
        raise ValueError(msg)
    labels, inverse = np.unique(np.asarray(partitions, dtype=str), return_inverse=True)
    return {
        str(label): _result(edits_arr[inverse == k], refs_arr[inverse == k])
        for k, label in enumerate(labels)
    }


# --- batch normalisation: a vectorised scan for the rows that may change -------------------
#
# Every code point gets a (left, right) byte pair; a pair of neighbours (x, y) is a hit when
# left[x] > right[y], and what left[x] is says what the hit means. Plain text has almost no
# hits, so the cost is a few passes over the code points plus work in proportion to the hits:
#   letter, and any mark under "none": (0, 254): never starts a hit
#   combining mark of class c (1..240) under a form: (c, c): a hit on a mark after a mark of a
#       higher class, i.e. marks out of canonical order (row needs reordering only)
#   U+0020 under "collapse" or "remove": (252, 241): a hit on space then space (a run to
#       collapse); a hit on a space before a mark is ignored under "collapse" and sends the
#       row to the full path under "remove"; a mark before a space is no hit (c <= 240 < 241)
#   unsafe: a character the form changes or may compose, or whitespace to rewrite: (255, 0):
#       a hit with whatever follows (the last character of a chunk is checked apart)
# A hit on a pair that straddles two rows is a harmless false alarm. Leading and trailing
# spaces, and every space under "remove", are found by direct tests on the code points.

_LETTER = (0, 254)
_SPACE = (252, 241)
_MAX_CCC = 240
_UNSAFE = (255, 0)
_CHUNK_CHARS = 1 << 20
_BLOCK_ROWS = 1 << 14
_HANGUL_SYLLABLES = range(0xAC00, 0xD7A4)
_HANGUL_VT = (*range(0x1161, 0x1176), *range(0x11A8, 0x11C3))


def normalize_many(texts: Sequence[str], policy: TextPolicy = DEFAULT_POLICY) -> list[str]:
    """``[normalize(t, policy) for t in texts]``, computed with the vectorised scan."""
    return _normalize_items(_checked(texts, "text"), policy)[0]


def _checked(texts: Sequence[str], role: str) -> list[str]:
    items = list(texts)
    if not all(map(isinstance, items, repeat(str))):
        bad = next(i for i, t in enumerate(items) if not isinstance(t, str))
        msg = f"{role} row {bad}: expected str, got {type(items[bad]).__name__}"
        raise TypeError(msg)
    return items


def _normalize_items(items: list[str], policy: TextPolicy) -> tuple[list[str], IntArray]:
    """Normalise ``items`` in place; return them with their lengths in code points."""
    lens = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    scan = _scan(items, lens, policy)
    if scan.slow:
        _replace(items, lens, scan.slow, [normalize(items[row], policy) for row in scan.slow])
    if scan.reorder:
        marked = map(items.__getitem__, scan.reorder)
        _replace(items, lens, scan.reorder, list(map(_reorder, marked, repeat(policy))))
    if scan.spaces:
        long_runs = np.flatnonzero(np.isin(scan.spaces, scan.long_runs)).tolist()
        texts = list(map(items.__getitem__, scan.spaces))
        _replace(items, lens, scan.spaces, _fix_spaces(texts, policy.whitespace, long_runs))
    return items, lens


def _replace(items: list[str], lens: IntArray, rows: list[int], values: list[str]) -> None:
    """``items[row] = value`` row by row, and the lengths with them."""
    deque(map(items.__setitem__, rows, values), maxlen=0)
    lens[rows] = np.fromiter(map(len, values), dtype=np.int64, count=len(values))


def _reorder(text: str, policy: TextPolicy) -> str:
    """Canonical order for a text whose only defect is the order of its combining marks.

    Such a text holds no character that the form changes or composes, so its NFC and NFKC are
    its NFD unless NFD decomposed something (a precomposed letter), which the length tells.
    """
    reordered = unicodedata.normalize("NFD", text)
    if len(reordered) == len(text):
        return reordered
    return unicodedata.normalize(_FORMS[policy.normalization], text)


def _fix_spaces(texts: list[str], whitespace: str, long_runs: list[int]) -> list[str]:
    """The whitespace rule for normalised texts whose only whitespace is U+0020.

    ``long_runs``: indices of the texts that hold a run of three or more spaces, which one
    pass of ``replace("  ", " ")`` leaves doubled.
    """
    if whitespace == "remove":
        return list(map(str.replace, texts, repeat(" "), repeat("")))
    fixed = list(map(str.strip, map(str.replace, texts, repeat("  "), repeat(" ")), repeat(" ")))
    for i in long_runs:
        while "  " in fixed[i]:
            fixed[i] = fixed[i].replace("  ", " ")
    return fixed


@dataclass(frozen=True)
class _Scan:
    """Rows to fix: in full (``slow``), by mark order only, and by U+0020 only.

    ``long_runs``: the rows that hold a run of three or more U+0020 (a subset of ``spaces``
    and ``slow``).
    """

    slow: list[int] = field(default_factory=list)
    reorder: list[int] = field(default_factory=list)
    spaces: list[int] = field(default_factory=list)
    long_runs: list[int] = field(default_factory=list)

    def extend(self, other: _Scan) -> None:
        self.slow.extend(other.slow)
        self.reorder.extend(other.reorder)
        self.spaces.extend(other.spaces)
        self.long_runs.extend(other.long_runs)


def _scan(items: list[str], lens: IntArray, policy: TextPolicy) -> _Scan:
    """The rows ``policy`` may change, scanned in chunks of about ``_CHUNK_CHARS``."""
    scan = _Scan()
    if policy.is_identity or not items:
        return scan
    ends = np.cumsum(lens)
    cuts = np.searchsorted(ends, np.arange(_CHUNK_CHARS, int(ends[-1]), _CHUNK_CHARS)) + 1
    edges = [0, *sorted({int(c) for c in cuts if c < len(items)}), len(items)]
    for lo, hi in pairwise(edges):
        scan.extend(_scan_chunk(items[lo:hi], lens[lo:hi], policy, lo))
    return scan


def _scan_chunk(items: list[str], lens: IntArray, policy: TextPolicy, first: int) -> _Scan:
    """The rows of one chunk that ``policy`` may change, numbered from ``first``."""
    units, limit = _code_units("".join(items), int(lens.sum()))
    if units.size == 0:
        return _Scan()
    table = _pair_table(policy, limit)
    pairs = np.take(table, units, out=np.empty(units.size, dtype=table.dtype))
    left, right = pairs.view(np.uint8)[0::2], pairs.view(np.uint8)[1::2]
    hits = np.flatnonzero(left[:-1] > right[1:])
    kind = left[hits]
    ends = np.cumsum(lens)
    at_end = [units.size - 1] if left[-1] == _UNSAFE[0] else []
    unsafe = kind == _UNSAFE[0]
    if policy.whitespace == "remove" and policy.normalization != "none":
        # deleting a space before a mark joins the mark to what precedes: normalise in full
        unsafe |= (kind == _SPACE[0]) & (right[hits + 1] != _SPACE[1])
    slow = _rows_at(ends, np.concatenate([hits[unsafe], at_end]))
    reorder = _rows_at(ends, hits[kind <= _MAX_CCC])
    long_runs = np.zeros(0, dtype=np.int64)
    if policy.whitespace == "collapse":
        doubled = hits[(kind == _SPACE[0]) & (right[hits + 1] == _SPACE[1])]
        spaces = np.concatenate([_rows_at(ends, doubled), _edge_space_rows(units, lens, ends)])
        # a run of three spaces is two doubled pairs in a row (a straddling run: a false alarm)
        long_runs = _rows_at(ends, doubled[1:][np.diff(doubled) == 1])
    elif policy.whitespace == "remove":
        spaces = _rows_with_space(units, lens)
    else:
        spaces = np.zeros(0, dtype=np.int64)
    return _Scan(
        (slow + first).tolist(),
        (np.setdiff1d(reorder, slow, assume_unique=True) + first).tolist(),
        (np.setdiff1d(spaces, slow) + first).tolist(),
        (long_runs + first).tolist(),
    )


def _rows_at(ends: IntArray, positions: NDArray[np.integer]) -> IntArray:
    """Distinct rows holding the given ascending code-point positions of a chunk, ascending."""
    rows: IntArray = np.searchsorted(ends, positions, side="right")
    return rows[np.concatenate([[True], rows[1:] != rows[:-1]])] if rows.size else rows


def _edge_space_rows(units: NDArray[np.integer], lens: IntArray, ends: IntArray) -> IntArray:
    """Rows that begin or end with U+0020."""
    nonempty = np.flatnonzero(lens)
    first = units[ends[nonempty] - lens[nonempty]] == ord(" ")
    last = units[ends[nonempty] - 1] == ord(" ")
    edges: IntArray = nonempty[first | last]
    return edges


def _rows_with_space(units: NDArray[np.integer], lens: IntArray) -> IntArray:
    """Rows holding U+0020 anywhere."""
    nonempty = np.flatnonzero(lens)
    starts = (np.cumsum(lens) - lens)[nonempty]
    any_space = np.logical_or.reduceat(units == ord(" "), starts)
    rows: IntArray = nonempty[any_space]
    return rows


def _code_units(big: str, n_code_points: int) -> tuple[NDArray[np.integer], int]:
    """Code points of ``big`` as an array: 1 byte each for ASCII, 2 for the BMP, else 4."""
    if big.isascii():
        return np.frombuffer(big.encode("ascii"), dtype=np.uint8), 0x10000
    utf16 = big.encode("utf-16-le", "surrogatepass")
    if len(utf16) == 2 * n_code_points:  # no astral character: UTF-16 units are code points
        return np.frombuffer(utf16, dtype="<u2"), 0x10000
    return np.frombuffer(big.encode("utf-32-le", "surrogatepass"), dtype="<u4"), 0x110000


@cache
def _pair_table(policy: TextPolicy, limit: int) -> NDArray[np.uint16]:
    """(left, right) bytes of every code point below ``limit``, viewed as one uint16 each."""
    table = np.empty((limit, 2), dtype=np.uint8)
    table[:] = _LETTER
    form = policy.normalization
    if form != "none":
        ccc = _combining_classes(limit)
        marks = ccc > 0
        table[marks, 0] = ccc[marks]
        table[marks, 1] = ccc[marks]
    space = _whitespace(limit)
    if policy.whitespace != "keep":
        table[space] = _UNSAFE
        table[ord(" ")] = _SPACE
    if form != "none":
        table[_unstable(form, limit)] = _UNSAFE
    return table.view(np.uint16).reshape(-1)


@cache
def _combining_classes(limit: int) -> NDArray[np.uint8]:
    return np.fromiter(
        (unicodedata.combining(chr(c)) for c in range(limit)), dtype=np.uint8, count=limit
    )


@cache
def _whitespace(limit: int) -> NDArray[np.bool_]:
    return np.fromiter((chr(c).isspace() for c in range(limit)), dtype=np.bool_, count=limit)


@cache
def _decomposable(limit: int) -> tuple[int, ...]:
    return tuple(c for c in range(limit) if unicodedata.decomposition(chr(c)))


@cache
def _unstable(form: str, limit: int) -> NDArray[np.bool_]:
    """Code points that ``form`` changes on their own, or that may compose with a neighbour.

    The second set is NFC_QC/NFKC_QC=Maybe: characters that end a canonical pairwise
    decomposition (they may compose with the character before them), and the Hangul vowel
    and trailing-consonant jamo (algorithmic composition).
    """
    unstable = np.zeros(limit, dtype=np.bool_)
    for c in (*_decomposable(limit), *_HANGUL_SYLLABLES):
        if c < limit and unicodedata.normalize(_FORMS[form], chr(c)) != chr(c):
            unstable[c] = True
    if form in ("NFC", "NFKC"):
        for c in (*_composing_seconds(limit), *_HANGUL_VT):
            if c < limit:
                unstable[c] = True
    return unstable


def _composing_seconds(limit: int) -> set[int]:
    seconds: set[int] = set()
    for c in _decomposable(limit):
        fields = unicodedata.decomposition(chr(c)).split()
        if fields and not fields[0].startswith("<") and len(fields) == 2:
            seconds.add(int(fields[1], 16))
    return seconds
