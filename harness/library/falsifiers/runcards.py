"""Falsifiers of the run-card claims (library claims/runcards.yaml): a Trainer run's own record
of its best checkpoint, and a README's numbers, each against what the run logged.

The measuring is in :mod:`harness.runs.runcards` (``MEASURES``), shared with training callbacks
that check the same claims while a run trains; these tests resolve the subject and declare its
files as inputs.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.runs.logs import RunLog
from harness.runs.runcards import MEASURES
from harness.runs.rundoc import RunDoc

pytestmark = pytest.mark.live


def _resolved(workspace: Any, subject_id: str, kind: type, kind_name: str) -> Any:
    found = workspace.resolve(subject_id)
    if not isinstance(found, kind):
        msg = (f"subject {subject_id!r} is a {type(found).__name__}; this claim needs a subject "
               f"of kind {kind_name}")
        raise TypeError(msg)
    return found


def _ranking_option(options: Any, key: str, kind: type, subject_id: str) -> Any:
    value = options.get(key)
    if value is not None and not isinstance(value, kind):
        msg = (f"subject {subject_id!r}: {key} must be a {kind.__name__}, got {value!r}; "
               f"see the run-log options in the README's Subjects table")
        raise TypeError(msg)
    return value


@pytest.mark.claim("BEST-CHECKPOINT-CONSISTENT")
def test_best_checkpoint_consistent(evidence, subject, workspace):
    """The run's best_model_checkpoint against its logged evaluations, and when it stopped."""
    log = _resolved(workspace, subject.id, RunLog, "run-log")
    evidence.input(log.path)
    options = workspace.spec(subject.id).options
    MEASURES["BEST-CHECKPOINT-CONSISTENT"](
        evidence, log,
        metric=_ranking_option(options, "metric_for_best_model", str, subject.id),
        greater_is_better=_ranking_option(options, "greater_is_better", bool, subject.id))


@pytest.mark.claim("DOC-NUMBERS-MATCH-LOG")
def test_doc_numbers_match_log(evidence, subject, workspace):
    """Each number the document's quotes find, beside what the run log holds for it."""
    doc = _resolved(workspace, subject.id, RunDoc, "run-doc")
    MEASURES["DOC-NUMBERS-MATCH-LOG"](evidence, doc)
