"""Falsifier of the bridge claim (library claims/bridge.yaml): a live cross-script bridge scored
line by line against its reference with the project's CER."""

from __future__ import annotations

import numpy as np
import pytest

from harness.metrics.bridge import skeleton
from harness.metrics.text import corpus_cer

pytestmark = pytest.mark.live


@pytest.mark.claim("BRIDGE-CLEAN-RATE")
def test_bridge_clean_rate(evidence, subject, workspace):
    """Carry every source line through the bridge; count lines within max_line_cer."""
    bridge = workspace.resolve(subject.id)
    evidence.input(bridge.source)
    evidence.input(bridge.reference)
    max_line_cer = evidence.claim.params_for(subject.id)["max_line_cer"].to("ratio").value
    result = corpus_cer(hyps=bridge.carry(), refs=[skeleton(r) for r in bridge.references])
    per_line = result.per_row_edits / np.maximum(result.per_row_ref_chars, 1)
    clean = int(np.count_nonzero(per_line <= max_line_cer))
    n = result.n_rows
    evidence.measure("n_lines", n, unit="count")
    evidence.measure("n_clean", clean, unit="count", n=n)
    evidence.measure("clean_rate", clean / n, unit="ratio", n=n)
    evidence.measure("corpus_cer", result.cer, unit="ratio", n=n)
    evidence.measure("median_line_cer", float(np.median(per_line)), unit="ratio", n=n)
    evidence.attach("worst_lines", [
        {"line": int(i) + 1, "cer": round(float(per_line[i]), 4)}
        for i in np.argsort(-per_line, kind="stable")[:5]])
    evidence.note(f"bridge {bridge.name}: {bridge.source.name} -> {bridge.reference.name}")
