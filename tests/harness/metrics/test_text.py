"""Tests of harness.metrics.text: the text policy, CER against jiwer, N'Ko mark order, the scan."""

from __future__ import annotations

import unicodedata

import jiwer
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.metrics import text
from harness.metrics.synth import corpus_lines, synth_rows
from harness.metrics.text import (
    NORMALIZATIONS,
    WHITESPACE_POLICIES,
    TextPolicy,
    char_edits,
    corpus_cer,
    normalize,
    normalize_many,
    per_partition_cer,
    ref_chars,
)

ALL_POLICIES = [TextPolicy(n, w) for n in NORMALIZATIONS for w in WHITESPACE_POLICIES]
NASAL = "\u07f2"  # N'Ko nasalisation mark, combining class 220
TONES = "\u07eb\u07ec\u07ed\u07ee\u07ef\u07f0\u07f1\u07f3"  # N'Ko tone marks, class 230

# Characters that exercise every branch of the scan: N'Ko letters and marks, Latin with
# combining and precomposed accents, Hangul (algorithmic composition), compatibility forms,
# every kind of whitespace, zero-width characters and an astral emoji.
ALPHABET = (
    "ab \u07ca\u07cc\u07d3\u07eb\u07ec\u07f2\u07f3\u07fd"
    "e\u0301\u0300\u0323\u0302\u00e9\u1ec7\u0344\u0f73\u1e0a"
    "\u1100\u1161\u11a8\uac00\ufb01\u2000\u00a8\u2126"
    "\t\n\u00a0\u3000\u2028\u200b\u200d\U0001f600"
)
texts_st = st.text(alphabet=ALPHABET, max_size=12)


# --- the policy ---------------------------------------------------------------------------------


def test_policy_rejects_unknown_values() -> None:
    """A typo in a policy is an error that lists the valid choices."""
    with pytest.raises(ValueError, match="NFC, NFD, NFKC, none"):
        TextPolicy(normalization="nfc")
    with pytest.raises(ValueError, match="keep, collapse, remove"):
        TextPolicy(whitespace="strip")


@pytest.mark.parametrize(
    ("whitespace", "expected"),
    [("keep", " a\u00a0\tb  c\n"), ("collapse", "a b c"), ("remove", "abc")],
)
def test_whitespace_rules(whitespace: str, expected: str) -> None:
    """keep compares as is; collapse strips and folds runs (NBSP too) to a space; remove drops."""
    assert normalize(" a\u00a0\tb  c\n", TextPolicy("none", whitespace)) == expected


def test_zero_width_characters_are_not_whitespace() -> None:
    """U+200B is a character under every whitespace rule (str.isspace says so)."""
    assert normalize("a\u200bb", TextPolicy("NFC", "remove")) == "a\u200bb"


def test_nfkc_maps_compatibility_forms_and_spaces() -> None:
    """NFKC folds the fi ligature and turns NBSP into a space before the whitespace rule."""
    assert normalize("\ufb01\u00a0x", TextPolicy("NFKC", "keep")) == "fi x"
    assert ref_chars("\ufb01", TextPolicy("NFC", "keep")) == 1
    assert ref_chars("\ufb01", TextPolicy("NFKC", "keep")) == 2


# --- agreement with jiwer -----------------------------------------------------------------------


def test_corpus_cer_equals_jiwer_on_real_lines() -> None:
    """On real N'Ko/Bambara/English lines with synthetic errors, totals equal jiwer's CER exactly.

    jiwer 4's cer() applies ``cer_default`` = Compose([Strip(), ReduceToListOfListOfChars()]):
    it strips the ends but neither normalises Unicode nor collapses inner whitespace. Given the
    strings this policy produced (already stripped and collapsed), Strip is a no-op and both
    count the same Levenshtein edits over the same reference characters.
    """
    rows = synth_rows(1500, seed=3, error_rate=0.12, corpora=("nqo_Nkoo", "bam_Latn", "eng_Latn"))
    policy = TextPolicy("NFC", "collapse")
    result = corpus_cer(hyps=rows.hyps, refs=rows.refs, policy=policy)
    refs, hyps = normalize_many(rows.refs, policy), normalize_many(rows.hyps, policy)
    transform = jiwer.Compose([jiwer.Strip(), jiwer.ReduceToListOfListOfChars()])
    expected = jiwer.cer(
        reference=refs,
        hypothesis=hyps,
        reference_transform=transform,
        hypothesis_transform=transform,
    )
    assert result.cer == expected
    assert jiwer.cer(reference=refs, hypothesis=hyps) == expected  # cer_default is that transform
    out = jiwer.process_characters(refs, hyps)
    assert result.edits == out.substitutions + out.deletions + out.insertions
    assert result.ref_chars == out.hits + out.substitutions + out.deletions


def test_jiwer_on_raw_text_counts_something_else() -> None:
    """Without the policy, jiwer charges double spaces and Unicode form: why we normalise first."""
    refs = ["ab  cd", "e\u0301t\u00e9"]  # a double space; a decomposed then a precomposed é
    hyps = ["ab cd", "\u00e9t\u00e9"]
    assert corpus_cer(hyps=hyps, refs=refs).edits == 0
    assert jiwer.cer(reference=refs, hypothesis=hyps) > 0


# --- N'Ko combining marks -----------------------------------------------------------------------


def _nko_lines_with_nasal_then_tone(limit: int) -> list[str]:
    lines = [line for lang, line in corpus_lines(("nqo_Nkoo",)) if lang == "nqo_Nkoo"]
    picked = [ln for ln in lines if any(NASAL + t in ln for t in TONES)][:limit]
    assert len(picked) == limit, "the corpus should hold nasal+tone sequences"
    return picked


def _swap_marks(line: str) -> tuple[str, int]:
    """Put every nasal+tone pair in the non-canonical tone+nasal order; count the swaps."""
    swaps = 0
    for tone in TONES:
        swaps += line.count(NASAL + tone)
        line = line.replace(NASAL + tone, tone + NASAL)
    return line, swaps


def test_nko_mark_order_does_not_inflate_cer_under_nfc() -> None:
    """Marks reordered (tone before nasalisation) cost nothing under NFC, 2 edits a swap raw."""
    refs = _nko_lines_with_nasal_then_tone(200)
    assert all(unicodedata.is_normalized("NFC", r) for r in refs)
    swapped = [_swap_marks(r) for r in refs]
    hyps = [h for h, _ in swapped]
    assert all(not unicodedata.is_normalized("NFC", h) for h in hyps)
    for form in ("NFC", "NFD", "NFKC"):
        assert corpus_cer(hyps=hyps, refs=refs, policy=TextPolicy(form, "collapse")).edits == 0
    raw = corpus_cer(hyps=hyps, refs=refs, policy=TextPolicy("none", "collapse"))
    assert raw.edits == 2 * sum(n for _, n in swapped)
    assert raw.cer > 0.01


def test_nko_reordering_is_canonical_order() -> None:
    """The fast reorder path gives exactly unicodedata's NFC for real reordered N'Ko lines."""
    hyps = [_swap_marks(r)[0] for r in _nko_lines_with_nasal_then_tone(50)]
    for policy in ALL_POLICIES:
        assert normalize_many(hyps, policy) == [normalize(h, policy) for h in hyps]


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(texts_st, max_size=30), st.sampled_from(ALL_POLICIES))
@example(["  a", "b  ", "\t", "", " ", "e\u0301", "\u07ec\u07f2", "\u1100\u1161"], TextPolicy())
@example(["a   b", "   ", "x    y  z", "a  ", "  b", "c     "], TextPolicy())
def test_batch_normalisation_equals_normalize(texts: list[str], policy: TextPolicy) -> None:
    """The vectorised scan never skips a row that normalize() would change."""
    assert normalize_many(texts, policy) == [normalize(t, policy) for t in texts]


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=str)
def test_batch_normalisation_on_synthetic_rows(policy: TextPolicy) -> None:
    """The same on realistic noisy N'Ko and Bambara rows (double spaces, reordered marks)."""
    rows = synth_rows(3000, seed=1, error_rate=0.15)
    for texts in (rows.hyps, rows.refs):
        assert normalize_many(texts, policy) == [normalize(t, policy) for t in texts]


def test_every_code_point_that_a_form_changes_is_caught() -> None:
    """Exhaustive over single code points and over every canonical composition pair."""
    singles = [chr(c) for c in range(0x110000)]
    pairs = []
    for c in range(0x110000):
        fields = unicodedata.decomposition(chr(c)).split()
        if len(fields) == 2 and not fields[0].startswith("<"):
            pairs.append("".join(chr(int(f, 16)) for f in fields))
    for form in ("NFC", "NFD", "NFKC"):
        policy = TextPolicy(form, "keep")
        changed = [i for i, s in enumerate(singles) if normalize(s, policy) != s]
        got = normalize_many(singles, policy)
        assert [i for i, (a, b) in enumerate(zip(got, singles, strict=True)) if a != b] == changed
        assert normalize_many(pairs, policy) == [normalize(p, policy) for p in pairs]


@settings(max_examples=200, deadline=None)
@given(texts_st, st.sampled_from(ALL_POLICIES))
def test_identical_text_has_zero_cer(value: str, policy: TextPolicy) -> None:
    """A hypothesis equal to its reference has no edit."""
    assert char_edits(hyp=value, ref=value, policy=policy) == 0
    if ref_chars(value, policy):
        assert corpus_cer(hyps=[value], refs=[value], policy=policy).cer == 0.0


@settings(max_examples=200, deadline=None)
@given(texts_st, texts_st, texts_st, st.sampled_from(ALL_POLICIES))
def test_edit_distance_is_a_metric(a: str, b: str, c: str, policy: TextPolicy) -> None:
    """Symmetric, bounded by the longer text, and obeys the triangle inequality."""
    ab = char_edits(hyp=a, ref=b, policy=policy)
    assert ab == char_edits(hyp=b, ref=a, policy=policy)
    assert ab <= max(ref_chars(a, policy), ref_chars(b, policy))
    assert char_edits(hyp=a, ref=c, policy=policy) <= ab + char_edits(hyp=b, ref=c, policy=policy)


@settings(max_examples=100, deadline=None)
@given(texts_st, st.sampled_from(ALL_POLICIES))
def test_normalize_is_idempotent(value: str, policy: TextPolicy) -> None:
    once = normalize(value, policy)
    assert normalize(once, policy) == once


@settings(max_examples=200, deadline=None)
@given(texts_st, texts_st)
def test_python_fallback_matches_rapidfuzz(a: str, b: str) -> None:
    """The pure-Python dynamic programme gives rapidfuzz's distance."""
    from rapidfuzz.distance import Levenshtein

    assert text._levenshtein_py(a, b) == Levenshtein.distance(a, b)


def test_corpus_cer_without_rapidfuzz(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the "runs" extra missing, the fallback gives the same counts."""
    rows = synth_rows(300, seed=2)
    expected = corpus_cer(hyps=rows.hyps, refs=rows.refs)
    monkeypatch.setattr(text, "HAVE_RAPIDFUZZ", False)
    got = corpus_cer(hyps=rows.hyps, refs=rows.refs, workers=2)
    assert (got.edits, got.ref_chars) == (expected.edits, expected.ref_chars)
    assert np.array_equal(got.per_row_edits, expected.per_row_edits)


# --- corpus CER ---------------------------------------------------------------------------------


def test_corpus_cer_is_a_ratio_of_totals_not_a_mean_of_rates() -> None:
    """One edit in a 1-character row and none in a 9-character row: 1/10, not (1 + 0) / 2."""
    result = corpus_cer(hyps=["x", "abcdefghi"], refs=["y", "abcdefghi"])
    assert (result.edits, result.ref_chars, result.cer) == (1, 10, 0.1)
    assert result.per_row_edits.tolist() == [1, 0]
    assert result.per_row_ref_chars.tolist() == [1, 9]
    assert result.n_rows == 2
    with pytest.raises(ValueError):
        result.per_row_edits[0] = 5  # read-only, as the result is frozen


def test_corpus_cer_matches_row_by_row_counts() -> None:
    rows = synth_rows(500, seed=4, error_rate=0.2)
    policy = TextPolicy("NFC", "collapse")
    result = corpus_cer(hyps=rows.hyps, refs=rows.refs, policy=policy)
    edits = [char_edits(hyp=h, ref=r, policy=policy) for h, r in zip(rows.hyps, rows.refs,
                                                                     strict=True)]
    assert result.per_row_edits.tolist() == edits
    assert result.per_row_ref_chars.tolist() == [ref_chars(r, policy) for r in rows.refs]


def test_workers_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipelined path (blocks of rows, rapidfuzz on a pool) gives the sequential counts."""
    monkeypatch.setattr(text, "_CHUNK_CHARS", 4096)  # many scan chunks per block as well
    rows = synth_rows(4 * text._BLOCK_ROWS + 700, seed=5)
    one = corpus_cer(hyps=rows.hyps, refs=rows.refs, workers=1)
    two = corpus_cer(hyps=rows.hyps, refs=rows.refs, workers=2)
    assert np.array_equal(one.per_row_edits, two.per_row_edits)
    assert np.array_equal(one.per_row_ref_chars, two.per_row_ref_chars)
    assert one.per_row_edits.tolist() == [
        char_edits(hyp=h, ref=r) for h, r in zip(rows.hyps, rows.refs, strict=True)
    ]


def test_corpus_cer_refuses_bad_input() -> None:
    """Misaligned lists, a non-string row and all-empty references are errors that say so."""
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_cer(hyps=["a", "b"], refs=["a"])
    with pytest.raises(TypeError, match="reference row 1: expected str, got NoneType"):
        corpus_cer(hyps=["a", "b"], refs=["a", None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="CER is undefined"):
        corpus_cer(hyps=["a", "b"], refs=[" ", ""])
    with pytest.raises(ValueError, match="workers"):
        corpus_cer(hyps=["a"], refs=["a"], workers=0)


def test_empty_reference_rows_count_insertions() -> None:
    """A row with an empty reference adds its hypothesis length to the edits, nothing below."""
    result = corpus_cer(hyps=["abc", "xy"], refs=["abc", ""])
    assert (result.edits, result.ref_chars) == (2, 3)


def test_per_partition_cer_splits_the_totals() -> None:
    rows = synth_rows(900, seed=6)
    result = corpus_cer(hyps=rows.hyps, refs=rows.refs)
    parts = per_partition_cer(edits=result.per_row_edits, ref_chars=result.per_row_ref_chars,
                              partitions=rows.langs)
    assert list(parts) == ["bam_Latn", "nqo_Nkoo"]
    assert sum(p.edits for p in parts.values()) == result.edits
    assert sum(p.ref_chars for p in parts.values()) == result.ref_chars
    nko = [i for i, lang in enumerate(rows.langs) if lang == "nqo_Nkoo"]
    alone = corpus_cer(hyps=[rows.hyps[i] for i in nko], refs=[rows.refs[i] for i in nko])
    assert (parts["nqo_Nkoo"].edits, parts["nqo_Nkoo"].ref_chars) == (
        alone.edits,
        alone.ref_chars,
    )
    assert parts["nqo_Nkoo"].per_row_edits.tolist() == alone.per_row_edits.tolist()


def test_per_partition_cer_marks_an_empty_partition_unscored() -> None:
    parts = per_partition_cer(edits=[1, 2, 0], ref_chars=[4, 4, 0], partitions=["a", "a",
                                                                                "silence"])
    assert parts["a"].cer == 3 / 8
    assert np.isnan(parts["silence"].cer)
    with pytest.raises(ValueError, match="aligned by row"):
        per_partition_cer(edits=[1, 2], ref_chars=[3, 4], partitions=["a"])
