"""Near-duplicate rows (harness.metrics.dedup): variants join their source, real text does not.

The class: any row made from another by moving or inserting zero-width characters, changing case,
adding punctuation, stretching whitespace or switching NFC/NFD is the same example. The property
draws real sentences from the shipped corpora and applies random mixes of those edits; different
real sentences must stay apart. The contracts' own thresholds then decide the guards on the real
English dev set and the real ASR test rows (no false SUSPECT) and on the 4 x 30 control (SUSPECT).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.contracts import Claim, load_contracts
from harness.demo import CORPORA_DIR
from harness.demo import bundles as demo_bundles
from harness.demo.evalsets import variants
from harness.expr import Truth
from harness.metrics.dedup import canonical_text, near_duplicates
from harness.metrics.lm import read_evalset
from harness.runs.bundle import read_bundle
from harness.units import Quantity
from harness.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]
THRESHOLD = 0.8  # the contracts' near_dup_jaccard; test_contract_thresholds checks they agree
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]
PUNCTUATION = list(".,;:!?\"'()-…«»¿¡")
SPACES = [" ", "  ", "\t", " \u00a0 ", "\u3000", "   "]


@cache
def _lines(name: str) -> tuple[str, ...]:
    return read_evalset(CORPORA_DIR / name).texts


@cache
def _contracts() -> dict[str, Claim]:
    return dict(load_contracts(REPO / "contracts").claims)


def _edit(text: str, edit: tuple[str, int, int]) -> str:
    """One cosmetic edit at a position drawn by hypothesis (taken modulo the text's length)."""
    kind, at, pick = edit
    at %= len(text) + 1
    if kind == "zero-width":
        return text[:at] + ZERO_WIDTH[pick % len(ZERO_WIDTH)] + text[at:]
    if kind == "move-zero-width":
        bare = "".join(c for c in text if c not in ZERO_WIDTH)
        at %= len(bare) + 1
        return bare[:at] + ZERO_WIDTH[pick % len(ZERO_WIDTH)] + bare[at:]
    if kind == "case":
        return [str.lower, str.upper, str.title, str.swapcase, str.capitalize][pick % 5](text)
    if kind == "punctuation":
        return text[:at] + PUNCTUATION[pick % len(PUNCTUATION)] + text[at:]
    if kind == "whitespace":
        return SPACES[pick % len(SPACES)].join(text.split(" "))
    return unicodedata.normalize(["NFC", "NFD", "NFKC", "NFKD"][pick % 4], text)


EDITS = st.tuples(st.sampled_from(["zero-width", "move-zero-width", "case", "punctuation",
                                   "whitespace", "form"]),
                  st.integers(0, 10_000), st.integers(0, 100))
CORPORA = ["eng_Latn.dev", "bam_Latn.dev", "nqo_Nkoo.dev"]


@st.composite
def variant_sets(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A real sentence and 1 to 30 variants of it, each made by up to 6 cosmetic edits."""
    corpus = draw(st.sampled_from(CORPORA))
    source = draw(st.sampled_from(_lines(corpus)))
    out = []
    for _ in range(draw(st.integers(1, 30))):
        text = source
        for edit in draw(st.lists(EDITS, min_size=1, max_size=6)):
            text = _edit(text, edit)
        out.append(text)
    return source, out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(group=variant_sets(), others=st.lists(st.integers(0, 996), min_size=1, max_size=20,
                                             unique=True))
@example(group=("The pilot was identified as Squadron Leader Dilokrit Pattavee.",
                variants("The pilot was identified as Squadron Leader Dilokrit Pattavee.")),
         others=[0, 1, 2])
def test_variants_cluster_with_their_source(group: tuple[str, list[str]],
                                            others: list[int]) -> None:
    """Every variant joins its source's cluster; other real dev sentences each stay alone."""
    source, made = group
    distinct = [t for t in (_lines("eng_Latn.dev")[i] for i in others) if t != source]
    rows = [source, *made, *distinct]
    dups = near_duplicates(rows, THRESHOLD)
    cluster = next((g for g in dups.groups if g[0] == 0), (0,))
    assert set(cluster) == set(range(len(made) + 1)), [rows[i] for i in cluster]
    assert dups.distinct == 1 + len(distinct)
    assert dups.duplicate_rows == len(made)


def test_four_sentences_in_thirty_variants_are_four() -> None:
    """The issue's case: 120 lines, all distinct to exact dedup, are 4 sentences."""
    rows = [v for s in _lines("eng_Latn.dev")[:4] for v in variants(s)]
    assert len(set(rows)) == 120
    dups = near_duplicates(rows, THRESHOLD)
    assert dups.distinct == 4
    assert [len(g) for g in dups.groups] == [30, 30, 30, 30]
    assert dups.fraction == pytest.approx(116 / 120)


@given(a=st.integers(0, 996), b=st.integers(0, 996))
@settings(max_examples=50, deadline=None)
def test_different_real_sentences_stay_apart(a: int, b: int) -> None:
    lines = _lines("eng_Latn.dev")
    dups = near_duplicates([lines[a], lines[b]], THRESHOLD)
    assert dups.distinct == (1 if a == b else 2)


def test_a_changed_word_is_still_a_near_duplicate() -> None:
    """MinHash LSH finds what canonical forms alone miss; exact Jaccard confirms it."""
    source = _lines("eng_Latn.dev")[0]  # 250 characters: one word changed keeps Jaccard > 0.8
    edited = source.replace("Stanford", "Harvard")
    assert canonical_text(source) != canonical_text(edited)
    assert near_duplicates([source, edited], THRESHOLD).distinct == 1


def test_canonical_text_drops_only_cosmetics() -> None:
    assert canonical_text("  The\u200b CAT\u00ad,  sat. ") == "the cat sat"
    assert canonical_text("ߊ߬ ߓߘߊ߫") == "ߊ߬ ߓߘߊ߫"  # N'Ko tone marks (Mn) are letters' marks, kept


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_threshold_outside_unit_interval_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="Jaccard threshold"):
        near_duplicates(["a b c"], bad)


def test_no_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="0 rows"):
        near_duplicates([], THRESHOLD)


# --------------------------------------------------------------------------------------------
# The contracts' guards on real data and on the control


def test_contract_thresholds() -> None:
    """Every claim with a near-duplicate guard states its Jaccard in the contract (0.8 today)."""
    claims = [c for c in _contracts().values() if "near_dup_jaccard" in c.params]
    assert {c.id for c in claims} >= {"ENG-PPL-SANE", "ASR-NKO-BEATS-LATIN", "TTT-VS-TRAJECTORY"}
    for c in claims:
        assert c.params["near_dup_jaccard"].to("ratio").value == THRESHOLD


def _guard(claim_id: str, guard_id: str, measured: dict[str, float]) -> Truth:
    claim = _contracts()[claim_id]
    guard = next(g for g in claim.guards if g.id == guard_id)
    env = dict(claim.params)
    env.update({k: Quantity.of(v, "ratio") for k, v in measured.items()})
    return guard.check.evaluate(env, use_ci=False).truth


def _lm_fraction(texts: tuple[str, ...]) -> float:
    jaccard = _contracts()["ENG-PPL-SANE"].params["near_dup_jaccard"].to("ratio").value
    return near_duplicates(texts, jaccard).fraction


def test_real_english_dev_set_passes_the_guard() -> None:
    fraction = _lm_fraction(_lines("eng_Latn.dev"))
    assert fraction == 0.0
    assert _guard("ENG-PPL-SANE", "near-deduplicated", {"near_dup_fraction": fraction}) \
        is Truth.TRUE


def test_four_by_thirty_control_fails_the_guard(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """demo-eng-4x30 passes exact dedup (120 examples) and fails the near-duplicate guard."""
    monkeypatch.setenv("FALSIFY_CACHE", str(tmp_path))
    evalset = Workspace.discover(REPO).resolve("demo-eng-4x30")
    assert (evalset.n_dedup, evalset.n_duplicates) == (120, 0)
    fraction = _lm_fraction(evalset.texts)
    assert _guard("ENG-PPL-SANE", "near-deduplicated", {"near_dup_fraction": fraction}) \
        is Truth.FALSE


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FALSIFY_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield demo_bundles.demo_root(Workspace(REPO))


@pytest.mark.parametrize("snapshot", [0, 1])
def test_real_asr_test_rows_pass_the_guard(demo_root: Path, snapshot: int) -> None:
    """The demo's test rows (real N'Ko and Bambara lines) hold distinct-test-rows."""
    fractions = {}
    for side, script in (("a", "nqo"), ("b", "latn")):
        run = demo_bundles.RunSpec(script, "trajectory", snapshot=snapshot)
        bundle = read_bundle(demo_bundles.build_bundle(demo_root, run))
        refs = [r.reference_text for r in bundle.rows]
        assert len(refs) > 1000
        fractions[f"ref_near_dup_fraction_{side}"] = near_duplicates(refs, THRESHOLD).fraction
    assert all(f < 0.002 for f in fractions.values()), fractions
    assert _guard("ASR-NKO-BEATS-LATIN", "distinct-test-rows", fractions) is Truth.TRUE
