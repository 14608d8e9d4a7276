"""Seed groups: members that differ in anything but the seed are refused, naming the member."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.groups import check_seed_pairs, seed_tests
from harness.runs.bundle import Bundle, BundlePair, RunInfo
from harness.runs.snapshot import Snapshot
from harness.workspace import Workspace, WorkspaceError


def bundle(script: str, mode: str, seed: int, snapshot: int) -> Bundle:
    info = RunInfo(run_id=f"{script}-{mode}-{seed}", script=script, mode=mode, seed=seed,
                   synthetic=True, checkpoint="checkpoint.json", normalization="NFC",
                   whitespace="collapse", test_cer=0.1, test_rows=0)
    snap = Snapshot(f"s{snapshot}", f"{snapshot:064x}", 1288, f"{snapshot + 7:064x}")
    return Bundle(Path(f"/runs/{script}-{mode}-{seed}-s{snapshot}"), info, snap, (), 1)


MEMBER = st.tuples(st.sampled_from(["nqo", "latn"]), st.sampled_from(["nqo", "latn"]),
                   st.sampled_from(["baseline", "trajectory"]), st.integers(0, 3),
                   st.integers(0, 3), st.integers(0, 1), st.integers(0, 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(MEMBER, min_size=2, max_size=4))
def test_a_group_is_refused_exactly_when_members_differ_in_more_than_seed(
        members: list[tuple[str, str, str, int, int, int, int]]) -> None:
    """Accepted iff every side keeps script, mode and snapshot, each member's two runs share a
    seed, and no seed repeats; a refusal names the offending member."""
    pairs = [BundlePair(a=bundle(sa, mode, seed_a, snap_a), b=bundle(sb, mode, seed_b, snap_b))
             for sa, sb, mode, seed_a, seed_b, snap_a, snap_b in members]
    ids = [f"member-{i}" for i in range(len(pairs))]
    sides = {(m[0], m[2], m[5]) for m in members}, {(m[1], m[2], m[6]) for m in members}
    seeds = [m[3] for m in members]
    valid = (all(len(s) == 1 for s in sides) and all(m[3] == m[4] for m in members)
             and len(set(seeds)) == len(seeds))
    if valid:
        assert check_seed_pairs("g", ids, pairs) == tuple(seeds)
    else:
        with pytest.raises(WorkspaceError, match=r"group 'g': member 'member-\d+'"):
            check_seed_pairs("g", ids, pairs)


def workspace(tmp_path: Path, subjects: dict[str, object]) -> Workspace:
    return Workspace(tmp_path, {"subjects": subjects}, tmp_path / "falsify.toml")


def test_demo_group_resolves_to_three_seeds(tmp_path: Path) -> None:
    group = Workspace(tmp_path).resolve("demo-nqo-vs-latn-seeds")
    assert group.seeds == (0, 1, 2)
    assert group.labels == ("seed 0", "seed 1", "seed 2")


def test_group_mixing_modes_is_refused_naming_member_and_field(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"mixed": {
        "kind": "group", "member_kind": "bundle-pair",
        "members": ["demo-nqo-vs-latn-trajectory", "demo-nqo-vs-latn-baseline"]}})
    with pytest.raises(WorkspaceError) as err:
        ws.resolve("mixed")
    text = str(err.value)
    assert "member 'demo-nqo-vs-latn-baseline' run a differs" in text
    assert "in mode ('baseline' vs 'trajectory')" in text


def test_group_repeating_a_seed_is_refused(tmp_path: Path) -> None:
    ws = workspace(tmp_path, {"twice": {
        "kind": "group", "member_kind": "bundle-pair",
        "members": ["demo-nqo-vs-latn-trajectory", "demo-pair-tampered-edits"]}})
    with pytest.raises(WorkspaceError, match="repeats seed 0"):
        ws.resolve("twice")


@pytest.mark.parametrize(("options", "message"), [
    ({"member_kind": "bundle-pair", "members": ["demo-nqo-vs-latn-trajectory"]},
     "'members' must list at least two subject ids"),
    ({"member_kind": "model", "members": ["demo-torch", "demo-mlx"]},
     "member_kind 'model' has no seed check"),
    ({"member_kind": "bundle-pair", "members": ["demo-nqo-vs-latn-trajectory", "demo-torch"]},
     "member 'demo-torch' is a model, not the group's member_kind bundle-pair"),
])
def test_bad_group_config_is_refused(tmp_path: Path, options: dict[str, object],
                                     message: str) -> None:
    ws = workspace(tmp_path, {"g": {"kind": "group", **options}})
    with pytest.raises(WorkspaceError, match=message):
        ws.resolve("g")


# --- Almost Stochastic Order (deepsig) across seeds: the statistic's known properties ---------


@settings(max_examples=4, deadline=None)
@given(st.lists(st.floats(0.05, 0.15), min_size=3, max_size=5))
def test_aso_zero_when_every_seed_of_a_is_below_every_seed_of_b(cers: list[float]) -> None:
    """Lower is better: a whose worst seed beats b's best is stochastically dominant (eps 0),
    and the reverse comparison violates everywhere (eps 1)."""
    worse = [c + 0.2 for c in cers]
    ahead = seed_tests(scores_a=cers, scores_b=worse, confidence=0.95, aso_resamples=100)
    behind = seed_tests(scores_a=worse, scores_b=cers, confidence=0.95, aso_resamples=100)
    assert ahead.aso_epsilon_min == 0.0
    assert behind.aso_epsilon_min > 0.95


def test_aso_and_t_test_on_a_mixed_order() -> None:
    """One of three seeds reversed: neither dominance nor its reverse; the t-test is not small."""
    tests = seed_tests(scores_a=[0.08, 0.08, 0.15], scores_b=[0.11, 0.11, 0.11], confidence=0.95,
                       aso_resamples=200)
    assert 0.2 < tests.aso_epsilon_min < 1.0
    assert tests.t_p_value > 0.05
