"""Falsifiers of the ASR run claims (library claims/asr.yaml): live run bundles, rescored by row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from harness.metrics.dedup import NearDuplicates, near_duplicates
from harness.runs.bundle import Bundle, BundlePair
from harness.runs.compare import PairComparison, compare_pair

pytestmark = pytest.mark.live

SHOWN_ROWS = 50  # mismatching rows attached in full; the count is always complete


NearDups = Callable[[Bundle, float], NearDuplicates]


@pytest.fixture(scope="session")
def reference_near_dups() -> NearDups:
    """Near-duplicate references of a bundle's test rows, computed once per bundle and threshold."""
    done: dict[tuple[str, float], NearDuplicates] = {}

    def check(bundle: Bundle, threshold: float) -> NearDuplicates:
        key = (str(bundle.path), threshold)
        if key not in done:
            done[key] = near_duplicates([r.reference_text for r in bundle.rows], threshold)
        return done[key]

    return check


def _measure_near_duplicates(evidence, subject_id: str, pair: BundlePair,
                             near_dups: NearDups) -> None:
    threshold = evidence.claim.params_for(subject_id)["near_dup_jaccard"].to("ratio").value
    for side, bundle in (("a", pair.a), ("b", pair.b)):
        dups = near_dups(bundle, threshold)
        evidence.measure(f"ref_near_dup_fraction_{side}", dups.fraction, unit="ratio", n=dups.n)
        evidence.measure(f"ref_clusters_{side}", dups.distinct, unit="count", n=dups.n)
        if dups.groups:
            evidence.note(f"{bundle.label}: {dups.duplicate_rows} of {dups.n} test rows repeat "
                          f"an earlier reference up to case, zero-width characters, punctuation "
                          f"or small edits (rows {', '.join(map(str, dups.groups[0][:5]))} ...)")


def _provenance(evidence, bundle: Bundle) -> None:
    evidence.input(bundle.path)
    if bundle.info.synthetic:
        evidence.note(f"{bundle.label}: synthetic run (results.json synthetic: true): "
                      f"{bundle.info.generator.get('note', 'no model was trained')}")


def _check_roles(subject_id: str, pair: BundlePair, same: str) -> None:
    """A pair must differ in exactly what the claim compares; anything else is a bad subject."""
    a, b = pair.a.info, pair.b.info
    if getattr(a, same) != getattr(b, same):
        msg = (f"subject {subject_id}: runs differ in {same} ({getattr(a, same)!r} vs "
               f"{getattr(b, same)!r}); this claim compares runs of one {same}")
        raise ValueError(msg)


def _record(evidence, cmp: PairComparison, pair: BundlePair) -> None:
    # Unpaired (snapshots differ), the delta rests on no paired row: no n, rather than n = 0.
    evidence.measure("cer_delta", cmp.delta, unit="ratio",
                     n=cmp.n_rows if cmp.same_snapshot else None, ci=cmp.ci)
    if cmp.p_value is not None:
        evidence.measure("p_value", cmp.p_value, unit="ratio", n=cmp.n_rows)
    evidence.measure("cer_a", cmp.cer_a, unit="ratio", n=len(pair.a.rows))
    evidence.measure("cer_b", cmp.cer_b, unit="ratio", n=len(pair.b.rows))
    evidence.measure("paired_rows", cmp.n_rows, unit="count")
    evidence.measure("snapshot_mismatches", 0 if cmp.same_snapshot else 1, unit="count")
    evidence.measure("edit_mismatch_rows", len(cmp.mismatches), unit="count")
    evidence.measure("pair_identity_mismatches", len(cmp.pairing), unit="count")
    if cmp.pairing:
        shown = "; ".join(str(m) for m in cmp.pairing[:5])
        evidence.note(f"{len(cmp.pairing)} paired row(s) are not one utterance: {shown}"
                      + (" ..." if len(cmp.pairing) > 5 else ""))
    if cmp.snapshot_problem is not None:
        evidence.note(cmp.snapshot_problem)
    if cmp.mismatches:
        shown = "; ".join(str(m) for m in cmp.mismatches[:5])
        evidence.note(f"{len(cmp.mismatches)} row field(s) disagree with the recount: {shown}"
                      + (" ..." if len(cmp.mismatches) > 5 else ""))
    evidence.attach("comparison", {
        "a": cmp.label_a, "b": cmp.label_b, "method": cmp.method, "p_value": cmp.p_value,
        "snapshot_a": str(pair.a.snapshot), "snapshot_b": str(pair.b.snapshot)})
    evidence.attach("edit_mismatches", [
        {"bundle": m.bundle, "line": m.line, "feat_id": m.feat_id, "field": m.field,
         "declared": m.declared, "recomputed": m.recomputed}
        for m in cmp.mismatches[:SHOWN_ROWS]])


def _compare(evidence, subject, workspace, near_dups: NearDups, same: str) -> None:
    pair: BundlePair = workspace.resolve(subject.id)
    _check_roles(subject.id, pair, same)
    for bundle in (pair.a, pair.b):
        _provenance(evidence, bundle)
    params = evidence.claim.params_for(subject.id)
    cmp = compare_pair(pair, confidence=evidence.claim.statistics.confidence,
                       n_resamples=int(params["resamples"].value), seed=0)
    _record(evidence, cmp, pair)
    _measure_near_duplicates(evidence, subject.id, pair, near_dups)


@pytest.mark.claim("ASR-NKO-BEATS-LATIN")
def test_nko_beats_latin(evidence, subject, workspace, reference_near_dups):
    """CER_nko - CER_latn over utterances paired by feat_id, same mode, same snapshot."""
    pair: BundlePair = workspace.resolve(subject.id)
    scripts = (pair.a.info.script, pair.b.info.script)
    if scripts != ("nqo", "latn"):
        msg = f"subject {subject.id}: runs a and b must be nqo and latn, got {scripts}"
        raise ValueError(msg)
    _compare(evidence, subject, workspace, reference_near_dups, same="mode")


@pytest.mark.claim("ASR-NKO-BEATS-LATIN-ACROSS-SEEDS")
def test_nko_beats_latin_across_seeds(evidence, subject, workspace):
    """Per seed: the paired comparison of ASR-NKO-BEATS-LATIN, recorded as vectors; across
    seeds: Almost Stochastic Order and a one-sided paired t-test of the seeds' CERs."""
    from harness.groups import SubjectGroup, seed_tests

    group: SubjectGroup = workspace.resolve(subject.id)
    params = evidence.claim.params_for(subject.id)
    confidence = evidence.claim.statistics.confidence
    cmps = []
    for member_id, pair in zip(group.member_ids, group.members, strict=True):
        scripts = (pair.a.info.script, pair.b.info.script)
        if scripts != ("nqo", "latn"):
            msg = f"subject {subject.id}: member {member_id} must pair nqo with latn, got {scripts}"
            raise ValueError(msg)
        for bundle in (pair.a, pair.b):
            _provenance(evidence, bundle)
        cmps.append(compare_pair(pair, confidence=confidence,
                                 n_resamples=int(params["resamples"].value), seed=0))
    _record_seeds(evidence, group, cmps)
    tests = seed_tests(scores_a=[c.cer_a for c in cmps], scores_b=[c.cer_b for c in cmps],
                       confidence=confidence,
                       aso_resamples=int(params["aso_resamples"].value))
    evidence.measure("aso_epsilon_min", tests.aso_epsilon_min, unit="ratio", n=len(cmps))
    evidence.measure("seed_p_value", tests.t_p_value, unit="ratio", n=len(cmps))
    # epsilon_min is already an upper confidence bound: its level travels beside it.
    evidence.attach("aso", {"epsilon_min": tests.aso_epsilon_min, "confidence_level": confidence,
                            "bootstrap_iterations": tests.aso_resamples, "seed": 0,
                            "implementation": f"deepsig {tests.aso_version}",
                            "scores": "negated CERs (deepsig takes higher as better)"})
    evidence.note(f"ASO (deepsig {tests.aso_version}, confidence {confidence}, "
                  f"{tests.aso_resamples} bootstrap iterations): epsilon_min "
                  f"{tests.aso_epsilon_min:.4f}; paired t-test over {len(cmps)} seeds: one-sided "
                  f"p {tests.t_p_value:.4g}")


def _record_seeds(evidence, group, cmps: list[PairComparison]) -> None:
    labels = list(group.labels)
    # One n per vector: the smallest member's (a seed group shares one snapshot per side). A
    # member on two snapshots pairs no row: then the deltas rest on no paired sample, no n.
    paired = min(c.n_rows for c in cmps) if all(c.same_snapshot for c in cmps) else None
    evidence.measure("seeds", len(cmps), unit="count")
    evidence.measure_vector("cer_delta", [c.delta for c in cmps], "ratio", labels=labels,
                            n=paired, cis=[c.ci for c in cmps])
    evidence.measure_vector("cer_a", [c.cer_a for c in cmps], "ratio", labels=labels,
                            n=min(len(p.a.rows) for p in group.members))
    evidence.measure_vector("cer_b", [c.cer_b for c in cmps], "ratio", labels=labels,
                            n=min(len(p.b.rows) for p in group.members))
    if all(c.p_value is not None for c in cmps):
        evidence.measure_vector("p_value", [float(c.p_value or 0.0) for c in cmps], "ratio",
                                labels=labels, n=paired)
    for name, values in (
            ("paired_rows", [c.n_rows for c in cmps]),
            ("snapshot_mismatches", [0 if c.same_snapshot else 1 for c in cmps]),
            ("edit_mismatch_rows", [len(c.mismatches) for c in cmps]),
            ("pair_identity_mismatches", [len(c.pairing) for c in cmps])):
        evidence.measure_vector(name, [float(v) for v in values], "count", labels=labels)
    for label, c in zip(labels, cmps, strict=True):
        if c.snapshot_problem is not None:
            evidence.note(f"{label}: {c.snapshot_problem}")
    evidence.attach("per_seed_cer", {  # drawn by the README renderer as the per-seed figure
        "x": list(group.seeds), "x_label": "seed", "y_label": "CER (ratio)",
        "series": {"N'Ko": [c.cer_a for c in cmps],
                   "Latin": [c.cer_b for c in cmps],
                   "N'Ko - Latin": [c.delta for c in cmps]}})
    evidence.attach("seeds", [
        {"seed": label, "a": c.label_a, "b": c.label_b, "cer_a": c.cer_a, "cer_b": c.cer_b,
         "delta": c.delta, "ci": list(c.ci) if c.ci else None, "p_value": c.p_value,
         "method": c.method} for label, c in zip(labels, cmps, strict=True)])


@pytest.mark.claim("TRAJECTORY-BEATS-BASELINE")
def test_trajectory_beats_baseline(evidence, subject, workspace, reference_near_dups):
    """CER_trajectory - CER_baseline, paired by feat_id, one script, one snapshot."""
    _compare(evidence, subject, workspace, reference_near_dups, same="script")


@pytest.mark.claim("TAR-VS-TRAJECTORY")
def test_tar_vs_trajectory(evidence, subject, workspace, reference_near_dups):
    """CER_tar - CER_trajectory, paired by feat_id, one script, one snapshot."""
    _compare(evidence, subject, workspace, reference_near_dups, same="script")


@pytest.mark.claim("TTT-VS-TRAJECTORY")
def test_ttt_vs_trajectory(evidence, subject, workspace, reference_near_dups):
    """CER_ttt - CER_trajectory against the non-inferiority margin, paired by feat_id."""
    _compare(evidence, subject, workspace, reference_near_dups, same="script")


@pytest.mark.claim("RUN-MATRIX-COMPLETE")
def test_run_matrix_complete(evidence, subject, workspace):
    """Every grid cell has a bundle that reads cleanly, row-level predictions included."""
    grid = evidence.claim.declares["matrix"]
    matrix = replace(workspace.resolve(subject.id), scripts=tuple(grid["scripts"]),
                     modes=tuple(grid["modes"]), seeds=tuple(grid["seeds"]))
    evidence.input(matrix.root)
    report = matrix.check()
    evidence.measure("expected_cells", len(report.expected), unit="count")
    evidence.measure("complete_cells", len(report.complete), unit="count")
    evidence.measure("missing_cells", len(report.missing), unit="count")
    evidence.measure("incomplete_cells", len(report.incomplete), unit="count")
    evidence.measure("unplaced_bundles", len(report.unplaced), unit="count")
    evidence.measure("scripts", len(matrix.scripts), unit="count")
    evidence.measure("modes", len(matrix.modes), unit="count")
    evidence.measure("seeds", len(matrix.seeds), unit="count")
    for cell in report.missing:
        evidence.note(f"missing cell {cell}: no bundle under {matrix.root} claims it")
    for problem in report.incomplete:
        evidence.note(f"incomplete cell {problem}")
    for line in report.unplaced:
        evidence.note(f"unplaced bundle {line}")
    evidence.attach("cells", {"missing": [str(c) for c in report.missing],
                              "incomplete": [str(p) for p in report.incomplete],
                              "unplaced": list(report.unplaced)})
