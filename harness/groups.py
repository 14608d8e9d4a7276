"""Subject groups: runs of one configuration that differ only in seed.

A result that holds for one seed may be luck. A group subject names several subjects of one kind
(its ``members``) that must be the same configuration run with different seeds; a falsifier
measures each member and records one value per seed (a vector measurement), and the claim decides
on the group with its stated rule: ``all(...)`` over the seeds, or a test across seeds.

The loader refuses a group whose members differ in anything but the seed, naming the member and
the field, because a "seed" group that mixes modes or test sets answers another question than the
claim asks. Config form (``falsify.toml``)::

    [subjects.nqo-vs-latn-seeds]
    kind = "group"
    member_kind = "bundle-pair"
    members = ["nqo-vs-latn-seed0", "nqo-vs-latn-seed1", "nqo-vs-latn-seed2"]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.keywords import paired
from harness.workspace import SubjectSpec, Workspace, WorkspaceError

__all__ = ["GROUP_CHECKS", "SeedTests", "SubjectGroup", "check_seed_pairs", "load_group",
           "seed_tests"]


@dataclass(frozen=True)
class SubjectGroup:
    """Members of one configuration, in the order the config lists them (one per seed)."""

    id: str
    member_kind: str
    member_ids: tuple[str, ...]
    members: tuple[Any, ...]
    seeds: tuple[int, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(f"seed {s}" for s in self.seeds)

    def __len__(self) -> int:
        return len(self.members)


def _side_key(bundle: Any) -> tuple[str, str, str, str, int]:
    snap = bundle.snapshot
    return (bundle.info.script, bundle.info.mode, snap.dataset_sha256, snap.feat_id_set_sha256,
            snap.n_rows)


_KEY_FIELDS = ("script", "mode", "snapshot dataset sha256", "snapshot feat_id set sha256",
               "snapshot rows")


def check_seed_pairs(group_id: str, member_ids: Sequence[str],
                     pairs: Sequence[Any]) -> tuple[int, ...]:
    """The seeds of a group of bundle pairs, or WorkspaceError naming the member that differs.

    Each side (a, b) must keep its script, mode and snapshot across members; each member's two
    runs must share one seed; no seed may repeat. Returns the members' seeds in order."""
    seeds: list[int] = []
    first = pairs[0]
    for member_id, pair in zip(member_ids, pairs, strict=True):
        for side in ("a", "b"):
            want, got = _side_key(getattr(first, side)), _side_key(getattr(pair, side))
            for name, x, y in zip(_KEY_FIELDS, want, got, strict=True):
                if x != y:
                    msg = (f"group {group_id!r}: member {member_id!r} run {side} differs from "
                           f"member {member_ids[0]!r} in {name} ({y!r} vs {x!r}); a seed group's "
                           f"members may differ only in seed: list runs of one configuration")
                    raise WorkspaceError(msg)
        if pair.a.info.seed != pair.b.info.seed:
            msg = (f"group {group_id!r}: member {member_id!r} pairs seed {pair.a.info.seed} "
                   f"with seed {pair.b.info.seed}; both runs of a member must share its seed")
            raise WorkspaceError(msg)
        if pair.a.info.seed in seeds:
            msg = (f"group {group_id!r}: member {member_id!r} repeats seed {pair.a.info.seed}; "
                   f"every member must be another seed (drop the duplicate)")
            raise WorkspaceError(msg)
        seeds.append(pair.a.info.seed)
    return tuple(seeds)


# member kind -> the check that its members differ only in seed (returns the seeds).
GROUP_CHECKS: Mapping[str, Callable[[str, Sequence[str], Sequence[Any]], tuple[int, ...]]] = {
    "bundle-pair": check_seed_pairs,
}


def _member_ids(spec: SubjectSpec) -> tuple[str, ...]:
    members = spec.options.get("members")
    if (not isinstance(members, list | tuple) or len(members) < 2
            or not all(isinstance(m, str) for m in members)):
        msg = (f"subject {spec.id!r} (group): 'members' must list at least two subject ids, "
               f"one per seed, e.g. members = [\"run-seed0\", \"run-seed1\"]; got {members!r}")
        raise WorkspaceError(msg)
    if len(set(members)) != len(members):
        msg = f"subject {spec.id!r} (group): a member is listed twice in {members!r}"
        raise WorkspaceError(msg)
    return tuple(members)


def load_group(spec: SubjectSpec, workspace: Workspace) -> SubjectGroup:
    """Workspace loader for kind ``group``: options ``members`` and ``member_kind``."""
    kind = spec.options.get("member_kind")
    check = GROUP_CHECKS.get(str(kind))
    if check is None:
        msg = (f"subject {spec.id!r} (group): member_kind {kind!r} has no seed check; groups "
               f"of {', '.join(sorted(GROUP_CHECKS))} are supported")
        raise WorkspaceError(msg)
    ids = _member_ids(spec)
    for member_id in ids:
        member_kind = workspace.spec(member_id).kind
        if member_kind != kind:
            msg = (f"subject {spec.id!r} (group): member {member_id!r} is a {member_kind}, "
                   f"not the group's member_kind {kind}")
            raise WorkspaceError(msg)
    members = tuple(workspace.resolve(m) for m in ids)
    seeds = check(spec.id, ids, members)
    return SubjectGroup(spec.id, str(kind), ids, members, seeds)


@dataclass(frozen=True)
class SeedTests:
    """Tests across seeds of a lower-is-better score (e.g. CER) of run a against run b."""

    aso_epsilon_min: float
    aso_resamples: int
    aso_version: str
    t_p_value: float


@paired
def seed_tests(*, scores_a: Sequence[float], scores_b: Sequence[float], confidence: float,
               aso_resamples: int, seed: int = 0) -> SeedTests:
    """Almost Stochastic Order of a over b, and a one-sided paired t-test, across seeds.

    ASO is deepsig's (Ulmer et al. 2022, the reference implementation of Dror et al. 2019): it
    bootstraps an upper bound at ``confidence`` on the violation ratio of a's quantile function
    over b's. deepsig takes higher-is-better scores, so lower-is-better ones are negated here.
    The t-test pairs seed i of a with seed i of b (they share the seed), ``alternative="less"``.
    """
    from importlib.metadata import version

    from deepsig import aso
    from scipy.stats import ttest_rel

    eps = aso([-x for x in scores_a], [-x for x in scores_b], confidence_level=confidence,
              num_bootstrap_iterations=aso_resamples, seed=seed, show_progress=False)
    t = ttest_rel(list(scores_a), list(scores_b), alternative="less")
    return SeedTests(float(eps), aso_resamples, version("deepsig"), float(t.pvalue))
