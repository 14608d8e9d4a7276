"""Rendering text on every core: the view is built once and forked worker processes inherit it.

A render is a set of independent parts (the README index and one README per area, the paper,
the site's index and one batch of claim pages per area), each a pure function of the view. On a
big workspace the parts run in a pool of processes forked after the view is built, so no worker
parses the ledger again and nothing but the finished bytes crosses back. The result is the
same, byte for byte, as rendering in this process (tested); small workspaces, one core, and
platforms without ``fork`` render here.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.render.paper import render_paper
from harness.render.plots import PlotPlan
from harness.render.readme import readme_part
from harness.render.site import site_part
from harness.render.view import EvidenceView

__all__ = ["PARALLEL_FROM_CLAIMS", "Part", "render_parts"]

PARALLEL_FROM_CLAIMS = 200  # below this a pool costs more than it saves


@dataclass(frozen=True)
class Part:
    """One unit of rendering: ``kind`` is readme, paper or site; ``area`` None is the index."""

    kind: str
    area: str | None = None


@dataclass(frozen=True)
class _Job:
    view: EvidenceView
    plans: PlotPlan
    evidence_dir: Path
    paper_generated: Path
    site_dir: Path | None


_JOB: _Job | None = None  # set before the pool forks; the workers read their copy


def _render(job: _Job, part: Part) -> dict[Path, bytes]:
    if part.kind == "readme":
        return readme_part(job.view, job.evidence_dir, job.plans, part.area)
    if part.kind == "paper":
        return dict(render_paper(job.view, job.paper_generated).texts)
    if part.kind == "site" and job.site_dir is not None:
        return site_part(job.view, job.site_dir, job.plans, part.area)
    msg = f"unknown render part {part}"
    raise ValueError(msg)


def _in_worker(part: Part) -> dict[Path, bytes]:
    assert _JOB is not None, "render worker started without a job"
    return _render(_JOB, part)


def _is_index(part: Part) -> bool:
    return part.area is None and part.kind != "paper"


def _workers(requested: int, n_claims: int, n_parts: int) -> int:
    if "fork" not in multiprocessing.get_all_start_methods() or n_claims < PARALLEL_FROM_CLAIMS:
        return 1
    cores = os.cpu_count() or 1
    return max(1, min(cores if requested == -1 else requested, n_parts))


def render_parts(view: EvidenceView, plans: PlotPlan, parts: Sequence[Part], *,
                 evidence_dir: Path, paper_generated: Path, site_dir: Path | None = None,
                 workers: int = -1) -> list[dict[Path, bytes]]:
    """The text of each part, by path, in the order of ``parts``. ``workers``: processes (-1:
    one per core)."""
    global _JOB
    job = _Job(view, plans, evidence_dir, paper_generated, site_dir)
    n = _workers(workers, len(view.claims), len(parts))
    if n == 1:
        results = [_render(job, part) for part in parts]
    else:
        # the biggest parts first, so that no worker is left with a long one at the end
        order = sorted(range(len(parts)), key=lambda i: _is_index(parts[i]))
        _JOB = job
        try:
            with multiprocessing.get_context("fork").Pool(n) as pool:
                done = pool.map(_in_worker, [parts[i] for i in order], chunksize=1)
        finally:
            _JOB = None
        results = [done[order.index(i)] for i in range(len(parts))]
    return results
