"""Pairing two runs by feat_id on one snapshot, and refusing to pair across snapshots."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

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
    straight = compare_pair(BundlePair(a, b), confidence=0.95, n_resamples=500)
    shuffled = compare_pair(BundlePair(a, b_rev), confidence=0.95, n_resamples=500)
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
    cmp = compare_pair(BundlePair(a, b), confidence=0.95, n_resamples=500)
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
    cmp = compare_pair(BundlePair(a, b), confidence=0.95, n_resamples=200)
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
        compare_pair(BundlePair(a, read_bundle(b.path)), confidence=0.95)
