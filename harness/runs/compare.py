"""Comparing two run bundles row by row: rescoring, pairing by feat_id, paired statistics.

Nothing here trusts a bundle's own ``cer_edits``: every row is rescored from its texts under the
bundle's declared CER policy (harness.metrics.text), and the rows where the bundle's numbers
disagree are returned by line and feat_id so a falsifier can name them (a guard, so SUSPECT).
Two bundles are paired by ``feat_id`` only when they share a snapshot; otherwise the comparison
says why (quoting both identities) and carries the unpaired corpus CERs alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from harness.keywords import paired_fields
from harness.metrics.text import corpus_cer
from harness.runs.bundle import Bundle, BundlePair
from harness.runs.snapshot import snapshot_difference

__all__ = ["EditMismatch", "PairComparison", "PairingMismatch", "Rescored", "compare_pair",
           "pairing_mismatches", "rescore"]


@dataclass(frozen=True)
class EditMismatch:
    """A row whose declared count disagrees with the recomputed one."""

    bundle: str
    line: int
    feat_id: str
    field: str
    declared: int
    recomputed: int

    def __str__(self) -> str:
        return (f"{self.bundle}/test_predictions.jsonl:{self.line}:{self.field}: feat_id "
                f"{self.feat_id!r} declares {self.declared}, recomputed {self.recomputed}")


@dataclass(frozen=True)
class Rescored:
    """Per-row character edits and reference characters, recomputed, in the bundle's row order."""

    edits: NDArray[np.int64]
    chars: NDArray[np.int64]
    mismatches: tuple[EditMismatch, ...]

    @property
    def cer(self) -> float:
        total = int(self.chars.sum())
        return float(self.edits.sum()) / total if total else 0.0


def rescore(bundle: Bundle) -> Rescored:
    """Recompute every row's edits and reference characters under the bundle's CER policy."""
    rows = bundle.rows
    result = corpus_cer(hyps=[r.asr_text for r in rows], refs=[r.reference_text for r in rows],
                        policy=bundle.text_policy())
    edits = np.asarray(result.per_row_edits, dtype=np.int64)
    chars = np.asarray(result.per_row_ref_chars, dtype=np.int64)
    name = bundle.path.name
    bad: list[EditMismatch] = []
    for row, e, c in zip(rows, edits.tolist(), chars.tolist(), strict=True):
        if row.cer_edits != e:
            bad.append(EditMismatch(name, row.line, row.feat_id, "cer_edits", row.cer_edits, e))
        if row.reference_chars != c:
            bad.append(EditMismatch(name, row.line, row.feat_id, "reference_chars",
                                    row.reference_chars, c))
    return Rescored(edits, chars, tuple(bad))


@paired_fields
@dataclass(frozen=True, kw_only=True)
class PairingMismatch:
    """Two rows paired by feat_id that are not the same utterance: another audio_id or, for two
    runs of one script, another reference text (rows joined on a key that does not identify)."""

    feat_id: str
    line_a: int
    line_b: int
    field: str

    def __str__(self) -> str:
        return (f"feat_id {self.feat_id!r}: a line {self.line_a} and b line {self.line_b} "
                f"differ in {self.field}")


@paired_fields
@dataclass(frozen=True, kw_only=True)
class PairComparison:
    """CER_a − CER_b on one snapshot, paired by feat_id, with a confidence interval."""

    label_a: str
    label_b: str
    snapshot_problem: str | None  # None when both bundles share the snapshot
    cer_a: float
    cer_b: float
    delta: float
    ci: tuple[float, float] | None
    p_value: float | None
    n_rows: int  # rows paired by feat_id (0 when the snapshots differ)
    method: str
    mismatches: tuple[EditMismatch, ...]
    pairing: tuple[PairingMismatch, ...] = ()  # paired rows that are not one utterance

    @property
    def same_snapshot(self) -> bool:
        return self.snapshot_problem is None


def _check_policies(pair: BundlePair) -> None:
    pa, pb = pair.a.info, pair.b.info
    if (pa.normalization, pa.whitespace) != (pb.normalization, pb.whitespace):
        msg = (f"{pair.a.path}/results.json and {pair.b.path}/results.json declare different "
               f"cer_policy ({pa.normalization}/{pa.whitespace} vs {pb.normalization}/"
               f"{pb.whitespace}); CERs counted differently do not compare: rescore one run")
        raise ValueError(msg)


def _b_order(pair: BundlePair) -> NDArray[np.int64]:
    """Indices into b's rows in the order of a's feat_ids (same snapshot: same id set)."""
    where = {r.feat_id: i for i, r in enumerate(pair.b.rows)}
    return np.asarray([where[r.feat_id] for r in pair.a.rows], dtype=np.int64)


def pairing_mismatches(pair: BundlePair,
                       order: NDArray[np.int64]) -> tuple[PairingMismatch, ...]:
    """Paired rows (a's rows with b's rows at ``order``) that are not one utterance."""
    same_script = pair.a.info.script == pair.b.info.script
    bad = []
    for ra, j in zip(pair.a.rows, order.tolist(), strict=True):
        rb = pair.b.rows[j]
        if ra.audio_id != rb.audio_id:
            bad.append(PairingMismatch(feat_id=ra.feat_id, line_a=ra.line, line_b=rb.line,
                                       field="audio_id"))
        elif same_script and ra.reference_text != rb.reference_text:
            bad.append(PairingMismatch(feat_id=ra.feat_id, line_a=ra.line, line_b=rb.line,
                                       field="reference_text"))
    return tuple(bad)


def compare_pair(pair: BundlePair, *, confidence: float, n_resamples: int = 10_000,
                 seed: int = 0) -> PairComparison:
    """Rescore both bundles and, on one snapshot, bootstrap CER_a − CER_b over paired rows."""
    from harness.metrics.stats import paired_bootstrap

    _check_policies(pair)
    a, b = rescore(pair.a), rescore(pair.b)
    problem = snapshot_difference(a=pair.a.snapshot, b=pair.b.snapshot, label_a=pair.a.label,
                                  label_b=pair.b.label)
    mismatches = a.mismatches + b.mismatches
    if problem is not None:
        return PairComparison(label_a=pair.a.label, label_b=pair.b.label, snapshot_problem=problem,
                              cer_a=a.cer, cer_b=b.cer, delta=a.cer - b.cer, ci=None,
                              p_value=None, n_rows=0,
                              method="unpaired corpus CERs (snapshots differ)",
                              mismatches=mismatches)
    order = _b_order(pair)
    res = paired_bootstrap(edits_a=a.edits, ref_a=a.chars, edits_b=b.edits[order],
                           ref_b=b.chars[order], n_resamples=n_resamples, seed=seed,
                           confidence=confidence)
    return PairComparison(label_a=pair.a.label, label_b=pair.b.label, snapshot_problem=None,
                          cer_a=a.cer, cer_b=b.cer, delta=float(res.delta),
                          ci=(float(res.ci_low), float(res.ci_high)), p_value=float(res.p_value),
                          n_rows=int(res.n_rows), method=str(res.method), mismatches=mismatches,
                          pairing=pairing_mismatches(pair, order))
