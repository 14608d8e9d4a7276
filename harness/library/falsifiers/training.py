"""Falsifiers of the training-curve claims (library claims/training.yaml), over run logs.

Thin by design: each resolves its ``run-log`` subject, declares the log's files as inputs, and
calls the claim's measurement function from :mod:`harness.runs.curves`, the same function a
training callback calls on a run's in-memory log, so the verdicts agree.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.runs.curves import MEASURES
from harness.runs.logs import RunLog

pytestmark = pytest.mark.live


def _run_log(evidence: Any, workspace: Any, subject_id: str) -> RunLog:
    log = workspace.resolve(subject_id)
    if not isinstance(log, RunLog):
        msg = (f"subject {subject_id!r} is a {type(log).__name__}; this claim reads a training "
               f"run's curves: give it a subject of kind run-log")
        raise TypeError(msg)
    for file in log.files:
        evidence.input(file)
    return log


def _check(evidence: Any, workspace: Any, subject_id: str) -> None:
    log = _run_log(evidence, workspace, subject_id)
    MEASURES[evidence.claim.id](evidence, log)


@pytest.mark.claim("TRAIN-LOSS-FINITE")
def test_train_loss_finite(evidence, subject, workspace):
    """Every logged loss and gradient norm is finite; the notes name the first bad step."""
    _check(evidence, workspace, subject.id)


@pytest.mark.claim("TRAIN-LOSS-DESCENDS")
def test_train_loss_descends(evidence, subject, workspace):
    """The last window's mean training loss is below the first's, on a bootstrap interval."""
    _check(evidence, workspace, subject.id)


@pytest.mark.claim("VAL-BELOW-UNIFORM-AT-BEST")
def test_val_below_uniform_at_best(evidence, subject, workspace):
    """The best validation loss, in nats, is below ln|V|."""
    _check(evidence, workspace, subject.id)
