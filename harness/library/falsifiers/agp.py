"""Falsifiers of the repair-gate claims (library claims/agp.yaml): a live gate over real HTTP."""

from __future__ import annotations

import pytest

from harness.runs.agp import count_gate_rows, gate_rows_from
from harness.runs.bundle import read_bundle
from harness.runs.gate_client import GateEndpoint

pytestmark = pytest.mark.live

SHOWN_ROWS = 50


@pytest.mark.claim("AGP-ACCEPTED-WORSE-ZERO")
def test_accepted_worse_zero(evidence, subject, workspace):
    """Every N'Ko test row through the live gate; accepted repairs classed against the reference."""
    gate: GateEndpoint = workspace.resolve(subject.id)
    bundle = read_bundle(gate.inputs)
    evidence.input(bundle.path)
    if bundle.info.synthetic:
        evidence.note(f"gate inputs {bundle.label} are a synthetic run (results.json synthetic: "
                      f"true)")
    evidence.note(f"gate at {gate.url} ({'demo process' if gate.process else 'configured url'})"
                  f": {dict(gate.health or {})}")
    rows = gate_rows_from(gate.client, bundle.rows)
    counts = count_gate_rows(rows, bundle.text_policy())
    n = counts.rows
    evidence.measure("rows", n, unit="count")
    evidence.measure("accepted", counts.accepted, unit="count", n=n)
    evidence.measure("rejected", counts.rejected, unit="count", n=n)
    evidence.measure("accepted_improved", counts.accepted_improved, unit="count", n=n)
    evidence.measure("accepted_unchanged", counts.accepted_unchanged, unit="count", n=n)
    evidence.measure("accepted_worse", counts.accepted_worse, unit="count", n=n)
    evidence.measure("cer_before", counts.cer_before, unit="ratio", n=n)
    evidence.measure("cer_after", counts.cer_after, unit="ratio", n=n)
    worse = counts.worse_rows
    if worse:
        evidence.note(f"{len(worse)} accepted repair(s) made a line worse: " + "; ".join(
            f"{w.feat_id} {w.edits_before}->{w.edits_after} edits" for w in worse[:10])
            + (" ..." if len(worse) > 10 else ""))
    evidence.attach("accepted_worse_rows", [
        {"feat_id": w.feat_id, "edits_before": w.edits_before, "edits_after": w.edits_after,
         "reference_chars": w.reference_chars} for w in worse[:SHOWN_ROWS]])
