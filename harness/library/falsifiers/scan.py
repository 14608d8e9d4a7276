"""Falsifiers of the fine-tune claims (library claims/scan.yaml): the brain scan and forgetting.

Subjects are ``finetune-pair``s (harness.metrics.scan): a base model, its fine-tuned copy and the
English and N'Ko eval sets. The scan of a pair is computed once per session and shared by the two
scan claims; each record carries the per-block profiles as vector measurements and, for the scan
figures, as curve attachments (L2 norms, ΔL2, sparsity by layer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from harness.metrics.forgetting import example_nll, paired_nll_difference
from harness.metrics.scan import FineTunePair, LayerScan, scan_layers

pytestmark = pytest.mark.live

LANGS = {"eng": "english", "nko": "nko"}
Scanner = Callable[[FineTunePair, float], dict[str, LayerScan]]
# Examples of the N'Ko set scanned twice on the base model for the instrument's noise floor.
REPEAT_EXAMPLES = 64


@pytest.fixture(scope="session")
def pair_scan() -> Scanner:
    """Per language, the layer scan of a pair at a sparsity threshold, once per session."""
    done: dict[tuple[str, float], dict[str, LayerScan]] = {}

    def scan(pair: FineTunePair, threshold: float) -> dict[str, LayerScan]:
        key = (pair.id, threshold)
        if key not in done:
            done[key] = {lang: scan_layers(pair.base, pair.tuned, pair.texts(which),
                                           threshold=threshold, pair_id=pair.id)
                         for lang, which in LANGS.items()}
            texts = pair.texts("nko")[:REPEAT_EXAMPLES]
            done[key]["repeat-a"] = scan_layers(pair.base, pair.base, texts, threshold=threshold,
                                                pair_id=pair.id)
            done[key]["repeat-b"] = scan_layers(pair.base, pair.base, texts, threshold=threshold,
                                                pair_id=pair.id)
        return done[key]

    return scan


def _pair(workspace: Any, subject_id: str) -> FineTunePair:
    pair = workspace.resolve(subject_id)
    if not isinstance(pair, FineTunePair):
        msg = (f"subject {subject_id!r} is a {type(pair).__name__}; this claim compares a base "
               f"model with its fine-tune: give it a subject of kind finetune-pair")
        raise TypeError(msg)
    return pair


def _declare(evidence: Any, pair: FineTunePair) -> None:
    for model in (pair.base, pair.tuned):
        evidence.input(model.path)
    for which in LANGS.values():
        evidence.input(pair.evalset(which).path)


def _labels(n: int) -> list[str]:
    return [f"layer {i}" for i in range(n)]


def _repeat_noise(scans: dict[str, LayerScan]) -> float:
    """Two scans of the base against itself on the same N'Ko ids: any difference between them,
    or within one (base against base), is the instrument's."""
    a, b = scans["repeat-a"], scans["repeat-b"]
    return float(max(np.abs(a.l2_base - b.l2_base).max(), np.abs(a.l2_tuned - b.l2_tuned).max(),
                     a.shift.max(), b.shift.max()))


def _measure_scan(evidence: Any, subject: Any, pair: FineTunePair, pair_scan: Scanner) -> None:
    params = evidence.claim.params_for(subject.id)
    threshold = params["sparsity_threshold"].value
    scans = pair_scan(pair, threshold)
    n = scans["nko"].n_layers
    labels = _labels(n)
    for lang in LANGS:
        s = scans[lang]
        for name, values, unit in (("rel_shift", s.rel_shift, "ratio"),
                                   ("delta_l2", s.delta_l2, "1"), ("l2_base", s.l2_base, "1"),
                                   ("l2_tuned", s.l2_tuned, "1"),
                                   ("sparsity_base", s.sparsity_base, "ratio"),
                                   ("sparsity_tuned", s.sparsity_tuned, "ratio")):
            evidence.measure_vector(f"{name}_{lang}", [float(v) for v in values], unit,
                                    n=s.n_tokens, labels=labels)
        evidence.measure(f"n_tokens_{lang}", s.n_tokens, unit="count")
    evidence.measure("embedding_rel_shift",
                     max(scans[lang].embedding_shift for lang in LANGS), unit="ratio")
    adapted = pair.adapted_layers()
    evidence.measure_vector("adapted", [int(i in adapted) for i in range(n)], "count",
                            labels=labels)
    evidence.measure("first_adapted", min(adapted), unit="count")
    evidence.measure("n_layers", n, unit="count")
    evidence.measure("scan_repeat_max_abs", _repeat_noise(scans), unit="1")
    evidence.note(f"{pair.base_id} -> {pair.tuned_id} ({pair.base.backend}); adapted layers "
                  f"{list(adapted)}; {scans['eng'].n_examples} English and "
                  f"{scans['nko'].n_examples} N'Ko examples"
                  + ("" if pair.max_examples is None else
                     f" (the first {pair.max_examples} of each set)")
                  + f"; sparsity |h| < {threshold:g}")


def _attach_figures(evidence: Any, all_scans: dict[str, LayerScan]) -> None:
    """The scan's three figures, as curve attachments (drawn by ``falsify render``)."""
    scans = {lang: all_scans[lang] for lang in LANGS}
    n = scans["nko"].n_layers
    x = list(range(n))

    def ys(values: np.ndarray) -> list[float]:
        return [round(float(v), 6) for v in values]

    evidence.attach("l2_by_layer", {
        "x": x, "x_label": "layer", "y_label": "mean L2 norm of the block output",
        "series": {f"{who} {lang}": ys(getattr(s, f"l2_{who}"))
                   for lang, s in scans.items() for who in ("base", "tuned")}})
    evidence.attach("delta_l2_by_layer", {
        "x": x, "x_label": "layer", "y_label": "ΔL2 (tuned − base)",
        "series": {lang: ys(s.delta_l2) for lang, s in scans.items()}})
    evidence.attach("sparsity_by_layer", {
        "x": x, "x_label": "layer", "y_label": "share of |h| < threshold",
        "series": {f"{who} {lang}": ys(getattr(s, f"sparsity_{who}"))
                   for lang, s in scans.items() for who in ("base", "tuned")}})


@pytest.mark.claim("SCAN-EARLY-LAYERS-FROZEN")
def test_scan_early_layers_frozen(evidence, subject, workspace, pair_scan):
    """Per-block profiles of base and tuned on English and N'Ko; the first blocks must match."""
    pair = _pair(workspace, subject.id)
    _declare(evidence, pair)
    _measure_scan(evidence, subject, pair, pair_scan)
    threshold = evidence.claim.params_for(subject.id)["sparsity_threshold"].value
    _attach_figures(evidence, pair_scan(pair, threshold))


@pytest.mark.claim("SCAN-CHANGE-LOCALISED")
def test_scan_change_localised(evidence, subject, workspace, pair_scan):
    """The same scan, read against the layers the fine-tune declared it adapted."""
    pair = _pair(workspace, subject.id)
    _declare(evidence, pair)
    _measure_scan(evidence, subject, pair, pair_scan)


@pytest.mark.claim("ENG-NOT-FORGOTTEN")
def test_eng_not_forgotten(evidence, subject, workspace):
    """Per-example English NLL of base and tuned, and the paired difference with its CI."""
    pair = _pair(workspace, subject.id)
    _declare(evidence, pair)
    params = evidence.claim.params_for(subject.id)
    texts = pair.evalset("english").texts  # every example: the test is paired over all of them
    base, tuned = example_nll(pair.base, texts), example_nll(pair.tuned, texts)
    diff = paired_nll_difference(base, tuned, confidence=evidence.claim.statistics.confidence,
                                 resamples=int(params["resamples"].to("count").value))
    evidence.measure("nll_delta", diff.delta, unit="nats", n=diff.n_examples, ci=diff.ci)
    evidence.measure("base_nll", diff.base_nll, unit="nats", n=diff.n_tokens)
    evidence.measure("tuned_nll", diff.tuned_nll, unit="nats", n=diff.n_tokens)
    evidence.measure("ppl_ratio", diff.ppl_ratio, unit="ratio")
    evidence.measure("n_examples", diff.n_examples, unit="count")
    evidence.measure("n_tokens", diff.n_tokens, unit="count")
    evidence.measure("worse_examples", diff.worse_examples, unit="count")
    margin = params["margin"].to("nats").value
    evidence.attach("forgetting_ci", {"estimate": round(diff.delta, 6),
                                      "ci": [round(v, 6) for v in diff.ci],
                                      "bound": margin, "unit": "nats/token",
                                      "label": "tuned − base NLL, English"})
    evidence.note(f"{pair.tuned_id} vs {pair.base_id} on {pair.english_id}: "
                  f"{diff.worse_examples} of {diff.n_examples} examples got worse")
