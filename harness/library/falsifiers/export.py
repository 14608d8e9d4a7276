"""Falsifier of EXPORT-PARITY (library claims/export.yaml): an ONNX export against its reference.

The reference continues each prompt greedily; the export (under ONNX Runtime) and the reference
then score the same sequences, and the logits at the positions that chose the new tokens are
compared, with the export's greedy choices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.demo.evalsets import ENG_DEV
from harness.metrics.decoding import prompt_ids
from harness.metrics.export import ExportError, OnnxExport, compare_logits

pytestmark = pytest.mark.live

PROMPTS = 16
PROMPT_TOKENS = 16
NEW_TOKENS = 32


def _subject(workspace: Any, subject_id: str) -> OnnxExport:
    export = workspace.resolve(subject_id)
    if not isinstance(export, OnnxExport):
        msg = (f"subject {subject_id!r} is a {type(export).__name__}; this claim checks an "
               f"exported model: give it a subject of kind onnx-export")
        raise TypeError(msg)
    return export


@pytest.mark.claim("EXPORT-PARITY")
def test_export_parity(evidence, subject, workspace):
    """Reference greedy continuations, scored by the reference and by the export."""
    export = _subject(workspace, subject.id)
    reference = export.reference
    evidence.input(reference.path)
    evidence.input(export.path)
    evidence.input(ENG_DEV)
    runner = export.runner()
    ids = np.asarray([p + reference.generate_greedy(p, NEW_TOKENS)
                      for p in prompt_ids(reference, ENG_DEV.read_text("utf-8").splitlines(),
                                         PROMPTS, PROMPT_TOKENS, str(ENG_DEV))], dtype=np.int64)
    chosen = slice(PROMPT_TOKENS - 1, ids.shape[1] - 1)  # positions that chose a new token
    tolerance = evidence.claim.params_for(subject.id)["logit_tolerance"].value
    try:
        cmp = compare_logits(want=reference.logits(ids)[:, chosen],
                             got=runner.logits(ids)[:, chosen], chosen=ids[:, PROMPT_TOKENS:],
                             tolerance=tolerance)
    except ExportError as exc:
        msg = f"{export.path}: {exc}: is this an export of {export.model_id}?"
        raise ValueError(msg) from None
    diff, flipped, near_tie, wrong = cmp.diff, cmp.flipped, cmp.near_tie, cmp.wrong
    evidence.measure("max_logit_abs_diff", float(diff.max()), unit="1", n=int(diff.size))
    evidence.measure("mean_logit_abs_diff", float(diff.mean()), unit="1", n=int(diff.size))
    decisive = int((~near_tie).sum())
    evidence.measure("argmax_mismatches", int(wrong.sum()), unit="count", n=decisive)
    ties = int(near_tie.sum())
    evidence.measure("near_tie_flips", int((flipped & near_tie).sum()), unit="count",
                     n=ties or None)
    evidence.measure("near_ties", ties, unit="count")
    evidence.measure("n_positions", int(wrong.size), unit="count")
    evidence.measure("decisive_positions", decisive, unit="count")
    evidence.measure("int8_weights", runner.int8_initializers(), unit="count")
    per_position = diff.max(axis=(0, 2))
    evidence.attach("max_abs_diff_by_position", {
        "x": list(range(1, NEW_TOKENS + 1)), "x_label": "generated token",
        "y_label": "max |logit difference|",
        "series": {"max |logit difference|": [float(v) for v in per_position]}})
    if flipped.any():
        seq, pos = (int(v) for v in np.argwhere(wrong if wrong.any() else flipped)[0])
        evidence.note(f"first greedy mismatch: prompt {seq}, generated token {pos + 1}: the "
                      f"reference chose {int(ids[seq, PROMPT_TOKENS + pos])}, the export "
                      f"{int(cmp.choice[seq, pos])}"
                      f"{' (a near tie)' if near_tie[seq, pos] else ''}; reference top-2 margin "
                      f"{float(cmp.margin[seq, pos]):.4g}")
    evidence.note(f"{export.path.name} under ONNX Runtime against {export.model_id} "
                  f"({reference.backend}) on {PROMPTS} prompts + {NEW_TOKENS} greedy tokens")
