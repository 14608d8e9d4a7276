"""Runs checked while they trained: the live-check segments of the ledger, one row per run.

A training run that checks its claims as it trains (:mod:`harness.runs.live`) writes its own
ledger segment (worker ``live-<run>``), a record per claim per check, each naming the run and the
step in ``attachments["live"]``. A pytest session that re-checks the finished run later becomes
the latest evidence of each (claim, subject) and hides those records from the verdict tables; this
view keeps every run in sight: how many checks it made, up to which step, the verdict of each
claim at its last check, and, for a run that a kill criterion stopped, the claim, the step and
why, with the curve and a mark where it stopped (the ``stopped_run`` or ``run_curve`` attachment
of the run's last record).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from harness.records import Record
from harness.render.escape import md_code
from harness.render.fmt import number, stamp
from harness.render.templating import md_table, safe
from harness.runs.live.session import LIVE_WORKER

__all__ = ["LiveRun", "in_area", "live_commands", "live_runs", "live_table"]

CURVES = ("stopped_run", "run_curve")  # a live run's curve attachments


@dataclass(frozen=True)
class LiveRun:
    """One training run as its live checks recorded it."""

    run: str
    subject: str
    framework: str
    command: str | None
    checks: int  # records
    steps: tuple[int, ...]  # the steps checked, in order
    final: Mapping[str, Record]  # claim -> its record at the run's last check of it
    stop: Record | None  # the record of the kill criterion's FAIL, if the run was stopped
    started: str  # the run's first record's time: a run id trained twice is two runs

    @property
    def stopped_at(self) -> int | None:
        return None if self.stop is None else int(self.stop.attachments["live"]["step"])

    @property
    def claims(self) -> tuple[str, ...]:
        return tuple(sorted(self.final))

    def curves(self) -> list[Any]:
        """The run's curve attachments (with the stop mark), newest record first: the plot
        takes the first that draws (:func:`harness.render.plots.live_plots`)."""
        newest = sorted(self.final.values(), key=lambda r: (r.created, r.id), reverse=True)
        return [r.attachments[name] for r in newest for name in CURVES if name in r.attachments]


def _is_live_segment(name: str) -> bool:
    """Segment names are ``<stamp>-<session>-<worker>.jsonl``, the worker made file-safe."""
    parts = name.split("-", 2)
    return len(parts) == 3 and parts[2].startswith(LIVE_WORKER.replace("-", "_"))


def live_runs(ledger: Any) -> tuple[LiveRun, ...]:
    """Every live-checked run in ``ledger`` (a verified :class:`~harness.ledger.Ledger`)."""
    by_run: dict[tuple[str, str], list[Record]] = {}  # (run id, session): each time it ran
    for index in ledger.indexes():
        if not _is_live_segment(index.name):
            continue
        for r in range(len(index)):
            record = ledger.load(index.summary(r))
            live = record.attachments.get("live")
            if record.kind == "claim" and isinstance(live, Mapping) and live.get("run"):
                by_run.setdefault((str(live["run"]), record.session), []).append(record)
    runs = [_run(run, records) for (run, _), records in by_run.items()]
    return tuple(sorted(runs, key=lambda r: (r.run, r.started)))


def _run(run: str, records: list[Record]) -> LiveRun:
    records.sort(key=lambda r: (r.created, r.id))
    final: dict[str, Record] = {}
    stop = None
    for record in records:
        final[record.claim] = record
        if stop is None and record.attachments["live"].get("stopped") is True:
            stop = record
    last = records[-1].attachments["live"]
    steps = tuple(sorted({int(r.attachments["live"]["step"]) for r in records}))
    return LiveRun(run, records[-1].subject, str(last.get("framework") or "?"),
                   last.get("command"), len(records), steps, final, stop, records[0].created)


def in_area(runs: Iterable[LiveRun], claims: Iterable[str]) -> list[LiveRun]:
    """The runs that checked one of ``claims`` (an area's)."""
    wanted = set(claims)
    return [r for r in runs if wanted & set(r.final)]


def _verdicts(run: LiveRun) -> str:
    return "; ".join(f"{claim}: {run.final[claim].verdict}" for claim in run.claims)


def _stop_text(run: LiveRun) -> str:
    if run.stop is None:
        return "no: ran to the end"
    said = [n for n in run.stop.notes if not n.startswith("kill criterion ")]
    why = "; ".join((*run.stop.reasons, *said)) or "FAIL"
    return f"at step {run.stopped_at} by {run.stop.claim} ({why}), record {run.stop.id}"


def live_table(runs: Sequence[LiveRun]) -> Markup | None:
    """One row per run: subject, framework, checks, steps, last verdicts, where it stopped."""
    if not runs:
        return None
    rows = [[safe(md_code(r.run, cell=True)), safe(md_code(r.subject, cell=True)), r.framework,
             number(r.checks), f"{r.steps[0]}–{r.steps[-1]} ({number(len(r.steps))} checks)",
             _verdicts(r), _stop_text(r),
             stamp(max(rec.created for rec in r.final.values()))]
            for r in runs]
    return md_table(["run", "subject", "framework", "records", "steps checked",
                     "verdicts at the last check", "stopped", "recorded"], rows)


def live_commands(runs: Sequence[LiveRun]) -> list[str]:
    return sorted({r.command for r in runs if r.command})
