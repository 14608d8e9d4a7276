"""Rendering on every core: the view is built once and forked worker processes inherit it.

A render is a set of independent parts, each a pure function of the view: one per area (the
area's plots and their source hashes, its README and its site pages, and, when writing, the
PNGs of its plots that are out of date), the paper, and the two indexes. On a big workspace
this process and children forked after the view is built take the parts one by one, so no
child reads the ledger again and only finished bytes and plot specs cross back. The result is
the same, byte for byte, as rendering in this process (tested); small workspaces, one core,
and platforms without ``fork`` render here.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from queue import Empty
from typing import Any

from harness.render.memo import Memo, cached, key, scope
from harness.render.paper import render_paper
from harness.render.plots import PlotSpec, area_plots, draw, read_source_hash
from harness.render.readme import readme_part
from harness.render.site import site_part
from harness.render.view import AreaView, EvidenceView

__all__ = ["PARALLEL_FROM_CLAIMS", "Part", "PartOutput", "Progress", "Targets", "plots_key",
           "render_parts"]

PARALLEL_FROM_CLAIMS = 200  # below this a pool costs more than it saves


@dataclass(frozen=True)
class Part:
    """One unit of rendering: an ``area`` (its plots, README and site pages), ``paper``, or an
    index (``readme-index``, ``site-index``)."""

    kind: str
    area: str | None = None


@dataclass(frozen=True)
class Targets:
    """What to render and where: README and site folders (None: not rendered)."""

    evidence_dir: Path | None
    paper_generated: Path
    site_dir: Path | None
    draw: bool = False  # draw the area plots whose README PNG is out of date, on the worker


@dataclass(frozen=True)
class PartOutput:
    """Text files by output ("readme", "paper", "site"), an area's plots by file name, and the
    memo entries the part used (see :mod:`harness.render.memo`)."""

    texts: dict[str, dict[Path, bytes]] = field(default_factory=dict)
    plots: dict[str, PlotSpec] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)
    drawn: dict[str, bytes] = field(default_factory=dict)  # PNG bytes by source hash


def render_part(view: EvidenceView, targets: Targets, part: Part,
                memo: Memo | None = None) -> PartOutput:
    """One part, rendered in this process, reading ``memo`` when given."""
    with scope(memo) as used:
        out = _render_part(view, targets, part)
    return PartOutput(out.texts, out.plots, used, out.drawn)


def plots_key(area: AreaView) -> str:
    """The memo key of an area's plots: its contracts and the records they are drawn from."""
    parts = [area.area, area.title]
    for c in area.claims:
        parts += [c.id, c.claim.sha256, *(e.hash for e in c.history),
                  *(rv.record.hash if rv.record is not None else "-" for rv in c.rows)]
    return key("plots", parts)


def _dump_plots(plots: dict[str, PlotSpec]) -> dict[str, Any]:
    return {name: (s.kind, s.title, dict(s.data), s.source_hash) for name, s in plots.items()}


def _load_plots(kept: dict[str, Any]) -> dict[str, PlotSpec]:
    plots = {}
    for name, (kind, title, data, source_hash) in kept.items():
        spec = PlotSpec(kind, title, data)
        spec.__dict__["source_hash"] = source_hash  # the cached_property, as computed then
        plots[name] = spec
    return plots


def _area_plots(area: AreaView) -> dict[str, PlotSpec]:
    plots = area_plots(area)
    for spec in plots.values():
        _ = spec.source_hash  # hashed here, on the worker: JSON of every point is the cost
    return plots


def _render_part(view: EvidenceView, targets: Targets, part: Part) -> PartOutput:
    if part.kind == "area" and part.area is not None:
        area = view.area(part.area)
        plots = cached(lambda: plots_key(area), lambda: _area_plots(area),
                       _dump_plots, _load_plots)
        plan = {part.area: plots}
        texts: dict[str, dict[Path, bytes]] = {}
        if targets.evidence_dir is not None:
            texts["readme"] = readme_part(view, targets.evidence_dir, plan, part.area)
        if targets.site_dir is not None:
            texts["site"] = site_part(view, targets.site_dir, plan, part.area)
        drawn = {}
        if targets.draw and targets.evidence_dir is not None:
            folder = targets.evidence_dir / part.area
            stale = {s.source_hash: s for name, s in plots.items()
                     if read_source_hash(folder / name) != s.source_hash}
            drawn = {source_hash: draw(spec) for source_hash, spec in stale.items()}
        return PartOutput(texts, plots, drawn=drawn)
    if part.kind == "readme-index" and targets.evidence_dir is not None:
        return PartOutput({"readme": readme_part(view, targets.evidence_dir, {}, None)})
    if part.kind == "site-index" and targets.site_dir is not None:
        return PartOutput({"site": site_part(view, targets.site_dir, {}, None)})
    if part.kind == "paper":
        return PartOutput({"paper": dict(render_paper(view, targets.paper_generated).texts)})
    msg = f"render part {part} does not apply to {targets}"
    raise ValueError(msg)


def _workers(requested: int, n_claims: int, n_parts: int) -> int:
    if "fork" not in multiprocessing.get_all_start_methods() or n_claims < PARALLEL_FROM_CLAIMS:
        return 1
    cores = os.cpu_count() or 1
    return max(1, min(cores if requested == -1 else requested, n_parts))


Progress = Callable[[int, int], None]  # (parts done, parts in all)


def render_parts(view: EvidenceView, targets: Targets, parts: Sequence[Part], *,
                 workers: int = -1, memo: Memo | None = None,
                 progress: Progress | None = None) -> list[PartOutput]:
    """Each part's output, in the order of ``parts``. ``workers``: processes, this one
    included (-1: one per core); ``progress`` is called as parts finish.

    With more than one, ``workers - 1`` children are forked and every process, this one too,
    takes the next part from a shared counter until none is left: no process idles while
    another holds a queue of parts, and this process's share never crosses a pipe."""
    report = progress or (lambda done, total: None)
    n = _workers(workers, len(view.claims), len(parts))
    if n == 1:
        outputs = []
        for part in parts:
            outputs.append(render_part(view, targets, part, memo))
            report(len(outputs), len(parts))
        return outputs
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("i", 0)
    results: Queue[tuple[int, PartOutput | BaseException] | None] = ctx.Queue()

    def take() -> int:
        with counter.get_lock():
            index = int(counter.value)
            counter.value = index + 1
        return index

    def child() -> None:
        try:
            while (i := take()) < len(parts):
                try:
                    results.put((i, render_part(view, targets, parts[i], memo)))
                except BaseException as exc:  # the parent raises it; the child goes on
                    results.put((i, exc))
        finally:
            results.put(None)

    children = [ctx.Process(target=child, daemon=True) for _ in range(n - 1)]
    for process in children:
        process.start()
    gather = _Gather(results, children, len(parts), report)
    try:
        while (i := take()) < len(parts):
            gather.done[i] = render_part(view, targets, parts[i], memo)
            gather.poll(wait=False)
        while gather.finished < len(children):
            gather.poll(wait=True)
        for process in children:
            process.join()
    finally:
        for process in children:
            if process.is_alive():
                process.terminate()
    for i in range(len(parts)):
        if isinstance(gather.done.get(i), BaseException):
            raise gather.done[i]  # type: ignore[misc]
    return [gather.done[i] for i in range(len(parts))]  # type: ignore[misc]


class _Gather:
    """The children's results as they arrive; a child that dies without finishing is an error."""

    def __init__(self, results: Queue[tuple[int, PartOutput | BaseException] | None],
                 children: Sequence[BaseProcess], total: int, report: Progress) -> None:
        self.results, self.children, self.total, self.report = results, children, total, report
        self.done: dict[int, PartOutput | BaseException] = {}
        self.finished = 0

    def poll(self, *, wait: bool) -> None:
        """Take what has arrived (``wait``: at least one item, or a second's silence)."""
        while True:
            try:
                item = self.results.get(timeout=1.0) if wait else self.results.get_nowait()
            except Empty:
                if wait:
                    self._check_alive()
                break
            if item is None:
                self.finished += 1
            else:
                self.done[item[0]] = item[1]
            wait = False
        self.report(len(self.done), self.total)

    def _check_alive(self) -> None:
        dead = [p for p in self.children if not p.is_alive() and p.exitcode != 0]
        if dead:
            msg = (f"a render worker process died (exit code {dead[0].exitcode}); "
                   f"run `falsify render` again, or report it if it repeats")
            raise RuntimeError(msg)
