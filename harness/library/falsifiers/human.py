"""Falsifier of HUMAN-PREFERS-TUNED (library claims/human.yaml): paired Likert ratings.

The sheet is read and checked row by row (harness.metrics.ratings); the preference is decided
on items, not on single ratings (each item's raters are averaged first), by a paired BCa
bootstrap interval and a one-sided Wilcoxon signed-rank test (scipy), guarded by Krippendorff's
alpha (the ``krippendorff`` package).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.metrics.ratings import RatingSheet, agreement_alpha, paired_differences

pytestmark = pytest.mark.live


def _subject(workspace: Any, subject_id: str) -> RatingSheet:
    sheet = workspace.resolve(subject_id)
    if not isinstance(sheet, RatingSheet):
        msg = (f"subject {subject_id!r} is a {type(sheet).__name__}; this claim reads paired "
               f"ratings: give it a subject of kind rating-sheet")
        raise TypeError(msg)
    return sheet


@pytest.mark.claim("HUMAN-PREFERS-TUNED")
def test_human_prefers_tuned(evidence, subject, workspace):
    """Per item the raters' mean difference; its interval, Wilcoxon and sign tests; agreement."""
    from scipy.stats import binomtest, bootstrap, wilcoxon

    sheet = _subject(workspace, subject.id)
    evidence.input(sheet.path)
    ratings = sheet.ratings()
    diffs = paired_differences(sheet, ratings)
    d = np.asarray(list(diffs.values()))
    params = evidence.claim.params_for(subject.id)
    ci = bootstrap((d,), np.mean, confidence_level=evidence.claim.statistics.confidence,
                   n_resamples=int(params["resamples"].value), method="BCa",
                   random_state=np.random.default_rng(0)).confidence_interval
    low, high = float(ci.low), float(ci.high)
    if not (np.isfinite(low) and np.isfinite(high)):  # every item the same difference
        low = high = float(d.mean())
    above, below = int((d > 0).sum()), int((d < 0).sum())
    evidence.measure("preference", float(d.mean()), unit="1", n=d.size,
                     ci=(min(low, float(d.mean())), max(high, float(d.mean()))))
    if above + below:
        evidence.measure("wilcoxon_p", float(wilcoxon(d, alternative="greater").pvalue),
                         unit="1", n=above + below)
        evidence.measure("sign_p", float(binomtest(above, above + below, 0.5,
                                                   alternative="greater").pvalue),
                         unit="1", n=above + below)
    evidence.measure("items_preferring_tuned", above, unit="count")
    evidence.measure("items_preferring_baseline", below, unit="count")
    evidence.measure("agreement_alpha", agreement_alpha(ratings), unit="1", n=len(ratings))
    evidence.measure("raters", len({r.rater for r in ratings}), unit="count")
    evidence.measure("items", d.size, unit="count")
    evidence.measure("simulated", int(sheet.simulated is not None), unit="count")
    evidence.attach("item_differences", {
        "x": list(range(1, d.size + 1)), "x_label": "item (sorted by difference)",
        "y_label": f"{sheet.tuned} - {sheet.baseline} ({sheet.dimension}, Likert points)",
        "series": {"mean over raters": sorted(float(v) for v in d)}})
    if sheet.simulated is not None:
        evidence.attach("simulated", sheet.simulated)  # shown above the evidence wherever read
        evidence.note(f"SIMULATED RATINGS, not human data: {sheet.simulated}")
    evidence.note(f"{sheet.path.name}: {sheet.tuned!r} against {sheet.baseline!r} on "
                  f"{sheet.dimension!r}, scale {sheet.scale[0]}..{sheet.scale[1]}")
