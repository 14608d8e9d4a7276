"""``falsify demo live``: the demo's Trainer runs trained again, checking their claims as they go.

Each run is the recipe of a cached demo run (:mod:`harness.demo.training`), trained afresh in a
temporary folder with :class:`~harness.runs.live.FalsifyCallback` attached; the callback checks
every claim the contracts bind to the run's subject at each log and evaluation, appends a record
per claim per check to the ledger (the run's own segment), and stops the run when a kill
criterion is FAIL. ``demo-trainer-nan`` (learning rate 3e3) is stopped by ``TRAIN-LOSS-FINITE``,
which the demo contracts mark ``kill: true``, a few steps in; ``demo-trainer-run`` trains to the
end with every claim PASS. The evidence README of the training area shows both runs and the step
where the first one stopped (:mod:`harness.render.liveruns`).

The cached runs stay what ``pytest falsifiers/ -m live`` reads; these runs are new trainings of
the same recipes (the Trainer is seeded but not bit-reproducible on every machine), named
``<subject>-live`` in the records' ``attachments["live"]["run"]``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.demo.build import Builder
from harness.demo.training import TRAINER_NAN, TRAINER_RUN, RunRecipe, train_with_trainer

__all__ = ["LIVE_RECIPES", "LiveDemoRun", "run_live_demo"]

# subject -> the recipe of its cached run
LIVE_RECIPES: dict[str, RunRecipe] = {"demo-trainer-run": TRAINER_RUN,
                                      "demo-trainer-nan": TRAINER_NAN}
COMMAND = "falsify demo live"
# A check every 5 steps (and at every evaluation that falls between): 80 logged steps and 8
# evaluations give about 50 records per claim set instead of 250, and a NaN is still caught
# within 5 steps of the first one.
EVERY = 5


@dataclass(frozen=True)
class LiveDemoRun:
    """What one live demo run did: steps trained, records appended, where it stopped."""

    subject: str
    run: str
    steps: int
    planned: int
    records: int
    verdicts: dict[str, str]  # claim -> verdict at its last check
    stopped: str | None  # the stop, as the callback formats it
    segment: Path | None

    def report(self) -> str:
        verdicts = ", ".join(f"{c} {v}" for c, v in sorted(self.verdicts.items()))
        end = f"stopped: {self.stopped}" if self.stopped else "ran to the end"
        where = f" in {self.segment.name}" if self.segment else ""
        return (f"{self.subject} (run {self.run}): {self.steps}/{self.planned} steps, "
                f"{self.records} record(s){where}; {verdicts}; {end}")


def run_live_demo(workspace: Any, subjects: Sequence[str] | None = None, *,
                  ledger: Path | None = None) -> Iterator[LiveDemoRun]:
    """Train each subject's recipe with its claims checked live; one result per run."""
    from harness.runs.live import FalsifyCallback

    chosen = list(subjects or LIVE_RECIPES)
    unknown = [s for s in chosen if s not in LIVE_RECIPES]
    if unknown:
        msg = (f"--subject {', '.join(unknown)}: not a demo run that can train live; choose "
               f"from {', '.join(LIVE_RECIPES)}")
        raise ValueError(msg)
    builder = Builder.for_workspace(workspace)
    for subject in chosen:
        recipe = LIVE_RECIPES[subject]
        run_id = f"{subject}-live"
        callback = FalsifyCallback(run_id, subject=subject, workspace=workspace, ledger=ledger,
                                   every=EVERY, command=f"{COMMAND} --subject {subject}")
        with tempfile.TemporaryDirectory(prefix="falsify-live-") as tmp:
            found = train_with_trainer(builder, recipe, Path(tmp) / "run", (callback,))
        live = callback.live
        live.close()  # the Trainer's on_train_end closed it; a no-op then
        last = {c.claim: c.status.value for c in live.checks}
        yield LiveDemoRun(subject, run_id, int(found["steps_trained"]), recipe.steps,
                          sum(c.record is not None for c in live.checks), last,
                          None if live.stopped is None else live.stopped.format(),
                          live.segment)
