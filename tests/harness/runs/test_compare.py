"""Pairing two runs by feat_id on one snapshot, and refusing to pair across snapshots."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.demo.bundles import RunSpec, write_bundle
from harness.runs.bundle import BundlePair, read_bundle
from harness.runs.compare import compare_pair
from tests.harness.runs.kit import rows_for

NKO = [("ߊ߬ ߦߋ߫", "ߊ߬ ߦߋ߫"), ("ߒ ߓߘߊ߫", "ߒ ߓߘߊ߫ ߞߊ߬")] * 20
LATN = [("a ye", "a yɛ"), ("n bda", "n bɛ taa")] * 20


def bundle(folder: Path, pairs, script: str, *, reverse: bool = False, keep: int | None = None):
    rows = rows_for(pairs, script=script)[:keep]
    folder.mkdir(parents=True)
    write_bundle(folder, RunSpec(script, "trajectory"), rows[::-1] if reverse else rows, "t")
    return read_bundle(folder)


def test_rows_pair_by_feat_id_not_by_position(tmp_path: Path) -> None:
    a = bundle(tmp_path / "a", NKO, "nqo")
    b = bundle(tmp_path / "b", LATN, "latn")
    b_rev = bundle(tmp_path / "b-rev", LATN, "latn", reverse=True)
    straight = compare_pair(BundlePair(a=a, b=b), confidence=0.95, n_resamples=500)
    shuffled = compare_pair(BundlePair(a=a, b=b_rev), confidence=0.95, n_resamples=500)
    assert replace(straight, label_b="") == replace(shuffled, label_b="")
    assert straight.same_snapshot
    assert straight.n_rows == 40
    assert straight.delta == pytest.approx(straight.cer_a - straight.cer_b)
    assert straight.ci is not None
    assert straight.ci[0] <= straight.delta <= straight.ci[1]
    assert straight.mismatches == ()


def test_different_snapshots_are_not_paired(tmp_path: Path) -> None:
    a = bundle(tmp_path / "a", NKO, "nqo")
    b = bundle(tmp_path / "b", LATN, "latn", keep=39)
    cmp = compare_pair(BundlePair(a=a, b=b), confidence=0.95, n_resamples=500)
    assert not cmp.same_snapshot
    assert cmp.ci is None
    assert cmp.n_rows == 0
    assert cmp.snapshot_problem is not None
    assert f"{a.label} is {a.snapshot}" in cmp.snapshot_problem
    assert f"{b.label} is {b.snapshot}" in cmp.snapshot_problem


def test_declared_counts_that_disagree_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "a"
    rows = rows_for(NKO, script="nqo")
    rows[3]["cer_edits"] += 2
    folder.mkdir()
    write_bundle(folder, RunSpec("nqo", "trajectory"), rows, "t")
    a = read_bundle(folder)
    b = bundle(tmp_path / "b", LATN, "latn")
    cmp = compare_pair(BundlePair(a=a, b=b), confidence=0.95, n_resamples=200)
    (m,) = cmp.mismatches
    assert (m.line, m.feat_id, m.field, m.declared - m.recomputed) == (4, "utt00003",
                                                                        "cer_edits", 2)


def test_different_cer_policies_refuse_to_compare(tmp_path: Path) -> None:
    a = bundle(tmp_path / "a", NKO, "nqo")
    b = bundle(tmp_path / "b", LATN, "latn")
    results = json.loads((b.path / "results.json").read_text())
    results["cer_policy"]["whitespace"] = "keep"
    (b.path / "results.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="different cer_policy"):
        compare_pair(BundlePair(a=a, b=read_bundle(b.path)), confidence=0.95)


@settings(max_examples=25, deadline=None)
@given(perm=st.permutations(range(12)))
@example(perm=[*range(1, 12), 0])  # every feat_id one row on: falsify mutate's shuffle-pairs
@example(perm=list(range(12)))  # the honest pairing
def test_rows_paired_under_a_wrong_key_are_named(tmp_path_factory: pytest.TempPathFactory,
                                                 perm: list[int]) -> None:
    """Run b's feat_ids permuted over its rows (the id set, hence the snapshot, unchanged): each
    row whose feat_id now names another utterance is a pairing mismatch, for two scripts (by
    audio_id) and for one script (by audio_id, then reference text)."""
    tmp = tmp_path_factory.mktemp("perm")
    pairs = [(f"ߊ߬ {i}", f"ߊ߬ {i} ߦߋ߫") for i in range(12)]
    a = bundle(tmp / "a", pairs, "nqo")
    for script in ("latn", "nqo"):
        rows = rows_for(pairs if script == "nqo" else LATN[:12], script=script)
        ids = [r["feat_id"] for r in rows]
        moved = [{**r, "feat_id": ids[p]} for r, p in zip(rows, perm, strict=True)]
        (tmp / script).mkdir()
        write_bundle(tmp / script, RunSpec(script, "trajectory"), moved, "t")
        cmp = compare_pair(BundlePair(a=a, b=read_bundle(tmp / script)), confidence=0.95,
                           n_resamples=100)
        assert cmp.same_snapshot
        wrong = {ids[p] for i, p in enumerate(perm) if p != i}
        assert {m.feat_id for m in cmp.pairing} == wrong
        assert all(m.field == "audio_id" for m in cmp.pairing)


def test_one_script_rows_relabelled_whole_are_caught_by_their_reference(tmp_path: Path) -> None:
    """feat_id and audio_id moved together: two runs of one script still differ in the
    reference text of each wrongly paired row."""
    pairs = [(f"ߊ߬ {i}", f"ߊ߬ {i} ߦߋ߫") for i in range(8)]
    a = bundle(tmp_path / "a", pairs, "nqo")
    rows = rows_for(pairs, script="nqo", mode="baseline")
    moved = [{**r, "feat_id": rows[(i + 1) % 8]["feat_id"],
              "audio_id": rows[(i + 1) % 8]["audio_id"]} for i, r in enumerate(rows)]
    (tmp_path / "b").mkdir()
    write_bundle(tmp_path / "b", RunSpec("nqo", "baseline"), moved, "t")
    cmp = compare_pair(BundlePair(a=a, b=read_bundle(tmp_path / "b")), confidence=0.95,
                       n_resamples=100)
    assert len(cmp.pairing) == 8
    assert {m.field for m in cmp.pairing} == {"reference_text"}
