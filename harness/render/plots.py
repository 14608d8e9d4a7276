"""Plots beside the evidence READMEs: PNGs drawn with matplotlib (Agg), byte-for-byte repeatable.

Five kinds, each from the ledger alone:

- ``timeline``: per area, every claim record as a dot at its UTC time, coloured by verdict
  (controls as crosses);
- ``history``: per claim, the first key measurement across records, a line per subject, the CI
  as a band; drawn only when some subject has more than one finite value of it;
- ``curves``: per claim and attachment name, the latest record of each subject whose attachment
  has a plottable shape (see :func:`curve_data` and ``docs/INTERNALS.md``);
- ``intervals``: per claim and attachment name, one row per subject: an estimate with its
  confidence interval beside the bound it is decided against (see :func:`interval_data`), e.g.
  a non-inferiority margin or a speed ratio's floor;
- ``histogram``: per claim and attachment name, each subject's distribution of values (an
  attachment ``{"histogram": [...], "bound": b}``), e.g. thinking tokens per prompt.

A plot is a :class:`PlotSpec`: its kind, title and JSON data. The sha256 of that JSON (and of
``STYLE_VERSION``) is written into the PNG as a ``falsify-source`` text chunk. ``render`` redraws a
PNG only when that hash changes, and ``render --check`` compares hashes rather than pixels, so a
different matplotlib or FreeType on another machine never makes a committed plot "differ". With
the same versions, the bytes repeat exactly (Agg, fixed style, no ``Software`` or date metadata).
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.records import Record, canonical_json, sha256_text
from harness.render.history import raw_point
from harness.render.liveruns import CURVES, LiveRun
from harness.render.view import AreaView, ClaimView

__all__ = [
    "SOURCE_KEY",
    "STYLE_VERSION",
    "PlotPlan",
    "PlotSpec",
    "area_plots",
    "curve_data",
    "draw",
    "draw_many",
    "interval_data",
    "read_source_hash",
]

STYLE_VERSION = 4
SOURCE_KEY = "falsify-source"
VERDICT_COLOURS = {"PASS": "#2e7d32", "FAIL": "#c62828", "SUSPECT": "#ef6c00",
                   "INCONCLUSIVE": "#b08900", "ERROR": "#6a1b9a", "SKIPPED": "#8a8a8a"}
_X_KEYS = ("x", "layer", "layers", "step", "steps")
_STYLE: dict[str, Any] = {"font.family": "DejaVu Sans", "font.size": 8.0, "axes.titlesize": 9.0,
          "axes.grid": True, "grid.alpha": 0.3, "svg.hashsalt": "falsify",
          "path.simplify": False, "figure.dpi": 80.0, "savefig.dpi": 80.0}
_PARALLEL_FROM = 12
_HEAD_BYTES = 4096
_MARKERS_UP_TO = 40  # points per line; beyond that markers only clutter (and cost)


@dataclass(frozen=True)
class PlotSpec:
    """One plot: what to draw (``kind``), its title and its data (JSON values only)."""

    kind: str
    title: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def source_hash(self) -> str:
        return sha256_text(canonical_json({"style": STYLE_VERSION, "kind": self.kind,
                                           "title": self.title, "data": self.data}))


def _finite(value: Any) -> float | None:
    """A JSON number that plots, else None (a gap)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# --- specs ----------------------------------------------------------------------------------

def timeline_spec(area: AreaView) -> PlotSpec | None:
    ids = [c.id for c in area.claims]
    points = [[r.created, i, str(r.verdict), r.role == "control"]
              for i, c in enumerate(area.claims) for r in c.history]
    if not points:
        return None
    return PlotSpec("timeline", f"{area.title}: verdicts over time",
                    {"claims": ids, "points": sorted(points)})


def history_spec(view: ClaimView) -> PlotSpec | None:
    if not view.key_measures or len(view.history) < 2:
        return None
    wanted = set(view.key_measures)
    points: dict[str, dict[str, list[list[Any]]]] = {name: {} for name in view.key_measures}
    for r in view.history:
        seen = set()  # the first measurement of a name counts, as in Entry.point
        for raw in r.raw_measurements:
            name = raw[0]
            if name in wanted and name not in seen:
                seen.add(name)
                if (p := raw_point(raw)) is not None:
                    points[name].setdefault(r.subject, []).append([r.created, *p])
    name = _moving_measure(view.key_measures, points)
    series = points[name]
    if max((len(found) for found in series.values()), default=0) < 2:
        return None  # one point per subject is no history
    spec = view.claim.measures.get(name)
    controls = sorted(ref.id for ref in view.claim.controls)
    unit = spec.unit if spec is not None else ""
    return PlotSpec("history", f"{view.id}: {name} across records",
                    {"measure": name, "unit": unit, "controls": controls,
                     "series": dict(sorted(series.items()))})


def _moving_measure(names: Sequence[str], points: Mapping[str, Mapping[str, list[list[Any]]]]
                    ) -> str:
    """The first key measurement whose value changes over time on some subject, else the first."""
    for name in names:
        if any(len({p[1] for p in found}) > 1 for found in points[name].values()):
            return name
    return names[0]


def curve_data(value: Any) -> dict[str, Any] | None:
    """An attachment as ``{"x": [...], "series": {name: [...]}, "x_label", "y_label"}``, or None.

    Accepted shapes: that one (labels optional, and ``marks``: ``[{"x": 40, "label": "…"}]``,
    vertical lines such as the step where a kill criterion stopped a run), or a flat mapping
    with one x key (``x``, ``layer``, ``layers``, ``step`` or ``steps``) and other keys holding
    equally long numeric lists, e.g. ``{"layers": [0, 1, 2], "max_abs_diff": [0.0, 0.01, 0.4]}``.
    """
    if not isinstance(value, Mapping):
        return None
    if isinstance(value.get("series"), Mapping) and isinstance(value.get("x"), list):
        x, series = value["x"], dict(value["series"])
        x_label, y_label = str(value.get("x_label", "x")), str(value.get("y_label", ""))
    else:
        x_key = next((k for k in _X_KEYS if isinstance(value.get(k), list)), None)
        if x_key is None:
            return None
        x, x_label, y_label = value[x_key], x_key, ""
        series = {k: v for k, v in value.items() if k != x_key}
    ok = (x and all(_finite(v) is not None for v in x) and series
          and all(isinstance(s, list) and len(s) == len(x) for s in series.values()))
    if not ok:
        return None
    out = {"x": [float(v) for v in x], "x_label": x_label, "y_label": y_label,
           "series": {str(k): [_finite(v) for v in s] for k, s in sorted(series.items())}}
    marks = _marks(value.get("marks"))
    if marks:  # only then: plots without marks keep their source hash
        out["marks"] = marks
    return out


def _marks(raw: Any) -> list[list[Any]]:
    """``[x, label]`` for each well-formed mark (a finite x); anything else draws nothing."""
    if not isinstance(raw, list):
        return []
    return [[x, str(m.get("label", ""))] for m in raw
            if isinstance(m, Mapping) and (x := _finite(m.get("x"))) is not None]


def curve_specs(view: ClaimView) -> list[tuple[str, PlotSpec]]:
    """One plot per attachment name: each subject's latest record contributes its series."""
    by_name: dict[str, dict[str, Any]] = {}
    for rv in view.rows:
        record: Record | None = rv.record
        if record is None:
            continue
        for name, value in sorted(record.attachments.items()):
            if name in CURVES:
                continue  # a live run's curve: drawn once, beside the run (live_plots)
            data = curve_data(value)
            if data is None:
                continue
            plot = by_name.setdefault(name, {"x_label": data["x_label"],
                                             "y_label": data["y_label"], "lines": []})
            for series, ys in data["series"].items():
                plot["lines"].append([f"{rv.ref.id}: {series}", data["x"], ys])
            for x, label in data.get("marks", ()):
                plot.setdefault("marks", []).append([x, f"{rv.ref.id}: {label}"])
    return [(name, PlotSpec("curves", f"{view.id}: {name}", plot))
            for name, plot in sorted(by_name.items())]


def interval_data(value: Any) -> dict[str, Any] | None:
    """An attachment ``{"estimate": x, "ci": [lo, hi], "bound": b}`` (``unit``, ``label`` and
    ``better``: ``"below"`` the bound, the default, or ``"above"`` it, optional) as plot data,
    or None when it has another shape or a non-finite number."""
    if not isinstance(value, Mapping) or not isinstance(value.get("ci"), list):
        return None
    numbers = [_finite(value.get("estimate")), *map(_finite, value["ci"]),
               _finite(value.get("bound"))]
    if len(numbers) != 4 or any(v is None for v in numbers):
        return None
    return {"estimate": numbers[0], "ci": numbers[1:3], "bound": numbers[3],
            "unit": str(value.get("unit", "")), "label": str(value.get("label", "")),
            "above": value.get("better") == "above"}


def interval_specs(view: ClaimView) -> list[tuple[str, PlotSpec]]:
    """One forest plot per interval attachment name: a row per subject's latest record."""
    by_name: dict[str, dict[str, Any]] = {}
    controls = {ref.id for ref in view.claim.controls}
    for rv in view.rows:
        if rv.record is None:
            continue
        for name, value in sorted(rv.record.attachments.items()):
            data = interval_data(value)
            if data is None:
                continue
            plot = by_name.setdefault(name, {"x_label": f"{data['label']} ({data['unit']})",
                                             "rows": []})
            plot["rows"].append([rv.ref.id, rv.ref.id in controls, data["estimate"],
                                 *data["ci"], data["bound"], data["above"]])
    return [(name, PlotSpec("intervals", f"{view.id}: {name}", plot))
            for name, plot in sorted(by_name.items())]


def histogram_specs(view: ClaimView) -> list[tuple[str, PlotSpec]]:
    """One histogram per attachment ``{"histogram": [values], "bound": b}`` (``unit``,
    ``label`` optional): each subject's latest values, the bound dashed."""
    by_name: dict[str, dict[str, Any]] = {}
    controls = {ref.id for ref in view.claim.controls}
    for rv in view.rows:
        if rv.record is None:
            continue
        for name, value in sorted(rv.record.attachments.items()):
            if not isinstance(value, Mapping) or not isinstance(value.get("histogram"), list):
                continue
            values = [v for v in map(_finite, value["histogram"]) if v is not None]
            bound = _finite(value.get("bound"))
            if not values:
                continue
            plot = by_name.setdefault(name, {
                "x_label": f"{value.get('label', name)} ({value.get('unit', '')})",
                "bounds": [], "series": []})
            plot["series"].append([rv.ref.id, rv.ref.id in controls, values])
            if bound is not None and bound not in plot["bounds"]:
                plot["bounds"].append(bound)
    return [(name, PlotSpec("histogram", f"{view.id}: {name}", plot))
            for name, plot in sorted(by_name.items())]


PlotPlan = Mapping[str, Mapping[str, PlotSpec]]  # area -> file name -> plot


def area_plots(area: AreaView) -> dict[str, PlotSpec]:
    """File name (beside the area README) -> plot, for every plot the area gets."""
    out: dict[str, PlotSpec] = {}
    timeline = timeline_spec(area)
    if timeline is not None:
        out["timeline.png"] = timeline
    for view in area.claims:
        history = history_spec(view)
        if history is not None:
            out[f"{view.id}.history.png"] = history
        for name, spec in (*curve_specs(view), *interval_specs(view), *histogram_specs(view)):
            out[f"{view.id}.{_safe(name)}.png"] = spec
    out.update(live_plots(area.live))
    return out


def live_plots(runs: Sequence[LiveRun]) -> dict[str, PlotSpec]:
    """``live-<run>.png`` -> a live-checked run's curve, marked where a kill criterion stopped
    it (:mod:`harness.render.liveruns`), for each run that recorded one."""
    out = {}
    for r in runs:
        data = next((d for d in map(curve_data, r.curves()) if d is not None), None)
        if data is None:
            continue
        plot: dict[str, Any] = {
            "x_label": data["x_label"], "y_label": data["y_label"],
            "lines": [[name, data["x"], ys] for name, ys in data["series"].items()]}
        if data.get("marks"):
            plot["marks"] = data["marks"]
        title = f"run {r.run} ({r.subject}), checked while it trained"
        out[f"live-{_safe(r.run)}.png"] = PlotSpec("curves", title, plot)  # the newest run
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "attachment"


# --- drawing --------------------------------------------------------------------------------

def _dates(stamps: Iterable[str]) -> list[float]:
    from matplotlib.dates import date2num

    from harness.ledger.query import parse_created

    return [float(date2num(parse_created(s))) for s in stamps]  # type: ignore[no-untyped-call]


def _time_axis(ax: Any) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=7)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _axes(fig: Any, height: float, left: float, right: float = 1.9) -> Any:
    """One axes with fixed margins in inches: no tight-bbox pass (it draws the figure twice)."""
    width = 8.0
    fig.set_size_inches(width, height)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - 0.3 / height,
                        bottom=0.45 / height)
    return fig.add_subplot()


def _legend(ax: Any) -> None:
    """The legend right of the axes; the figure widens (the axes keep their size in inches) when
    a label is longer than the margin, so no label is clipped."""
    fig = ax.figure
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    need = legend.get_window_extent(fig.canvas.get_renderer()).x1 / fig.dpi + 0.1
    width, height = fig.get_size_inches()
    if need > width:
        box = ax.get_position()
        fig.set_size_inches(need, height)
        fig.subplots_adjust(left=box.x0 * width / need, right=box.x1 * width / need)


def _draw_timeline(fig: Any, spec: PlotSpec) -> None:
    claims = spec.data["claims"]
    longest = max((len(c) for c in claims), default=8)
    ax = _axes(fig, 1.1 + 0.2 * len(claims), left=0.3 + 0.065 * longest)
    for verdict, colour in VERDICT_COLOURS.items():
        for control, marker in ((False, "o"), (True, "x")):
            pts = [p for p in spec.data["points"] if p[2] == verdict and p[3] is control]
            if pts:
                label = verdict if not control else f"{verdict} (control)"
                ax.scatter(_dates(p[0] for p in pts), [p[1] for p in pts], s=14, c=colour,
                           marker=marker, label=label, linewidths=1.0)
    ax.set_yticks(range(len(claims)), claims)
    ax.set_ylim(len(claims) - 0.5, -0.5)
    _time_axis(ax)
    _legend(ax)


def _draw_history(fig: Any, spec: PlotSpec) -> None:
    ax = _axes(fig, 2.8, left=0.8)
    controls = set(spec.data["controls"])
    for subject, points in spec.data["series"].items():
        xs = _dates(p[0] for p in points)
        style = "--" if subject in controls else "-"
        label = f"{subject} (control)" if subject in controls else subject
        marker = "o" if len(points) <= _MARKERS_UP_TO else None
        line = ax.plot(xs, [p[1] for p in points], style, marker=marker, ms=3, lw=1, label=label)
        bands = [(x, p[2], p[3]) for x, p in zip(xs, points, strict=True)
                 if p[2] is not None and p[3] is not None]
        if bands:
            ax.fill_between([b[0] for b in bands], [b[1] for b in bands], [b[2] for b in bands],
                            color=line[0].get_color(), alpha=0.15, lw=0)
    ax.set_ylabel(f"{spec.data['measure']} ({spec.data['unit']})")
    _time_axis(ax)
    _legend(ax)


def _draw_curves(fig: Any, spec: PlotSpec) -> None:
    ax = _axes(fig, 2.8, left=0.8)
    for label, xs, ys in spec.data["lines"]:
        ax.plot(xs, [math.nan if y is None else y for y in ys], marker=".", ms=3, lw=1,
                label=label)
    for x, label in spec.data.get("marks", ()):
        ax.axvline(x, color=VERDICT_COLOURS["FAIL"], ls="--", lw=1, label=label)
    ax.set_xlabel(spec.data["x_label"])
    ax.set_ylabel(spec.data["y_label"])
    _legend(ax)


def _draw_intervals(fig: Any, spec: PlotSpec) -> None:
    rows = spec.data["rows"]
    labels = [f"{r[0]} (control)" if r[1] else r[0] for r in rows]
    ax = _axes(fig, 1.0 + 0.35 * len(rows), left=0.3 + 0.065 * max(map(len, labels)), right=0.3)
    for i, (_, control, est, lo, hi, bound, above) in enumerate(rows):
        good, bad = (lo >= bound, hi < bound) if above else (hi < bound, lo >= bound)
        colour = VERDICT_COLOURS["PASS" if good else "FAIL" if bad else "INCONCLUSIVE"]
        ax.errorbar([est], [i], xerr=[[est - lo], [hi - est]], fmt="x" if control else "o",
                    color=colour, capsize=3, ms=4, lw=1)
    bounds = sorted({r[5] for r in rows})
    for bound in bounds:
        ax.axvline(bound, color="#444444", ls="--", lw=1)
    # Estimates far apart (a control far past the bound) stay readable on a symmetric log axis,
    # linear within a tenth of the bound around zero.
    low = min(0.0, *(r[3] for r in rows))
    high = max(0.0, *(r[4] for r in rows), *bounds)
    ax.set_xscale("symlog", linthresh=max(min(abs(b) for b in bounds) / 10, 1e-9))
    ax.set_xlim(low * 3, high * 3)
    ax.set_yticks(range(len(rows)), labels)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(f"{spec.data['x_label']}; dashed: the bound")


def _draw_histogram(fig: Any, spec: PlotSpec) -> None:
    import numpy as np

    series = spec.data["series"]
    ax = _axes(fig, 2.6, left=0.7, right=2.4)
    values = [v for _, _, vs in series for v in vs]
    edges = np.histogram_bin_edges(values + spec.data["bounds"], bins=30)
    for i, (name, control, vs) in enumerate(series):
        ax.hist(vs, bins=edges, histtype="step", lw=1.4, ls="--" if control else "-",
                color=f"C{i}", label=f"{name} (control)" if control else name)
    for bound in spec.data["bounds"]:
        ax.axvline(bound, color="#444444", ls=":", lw=1)
    ax.set_xlabel(f"{spec.data['x_label']}; dotted: the bound")
    ax.set_ylabel("count")
    _legend(ax)


_DRAW = {"timeline": _draw_timeline, "history": _draw_history, "curves": _draw_curves,
         "intervals": _draw_intervals, "histogram": _draw_histogram}


def draw(spec: PlotSpec) -> bytes:
    """The PNG bytes of ``spec``, with its source hash in a ``falsify-source`` text chunk."""
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    style: Any = _STYLE  # matplotlib types rc keys as a Literal of every name
    with matplotlib.style.context("default"), matplotlib.rc_context(style):
        fig = Figure()
        FigureCanvasAgg(fig)
        _DRAW[spec.kind](fig, spec)
        fig.axes[0].set_title(spec.title, loc="left")
        buf = io.BytesIO()
        fig.savefig(buf, format="png",
                    metadata={"Software": None, SOURCE_KEY: spec.source_hash})
    return buf.getvalue()


def draw_many(specs: Sequence[PlotSpec]) -> list[bytes]:
    """PNG bytes of each spec, in order; across processes when there are many."""
    workers = min(os.cpu_count() or 1, 8)
    if len(specs) < _PARALLEL_FROM or workers < 2:
        return [draw(s) for s in specs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(draw, specs, chunksize=max(1, len(specs) // (workers * 4))))


def read_source_hash(path: Path) -> str | None:
    """The ``falsify-source`` hash in the PNG at ``path``; None when it is not a falsify plot.

    Text chunks precede the image data, so only the head of the file is read."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return None
    return source_hash_of(head)


def source_hash_of(data: bytes) -> str | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\x00")
            if key == SOURCE_KEY.encode("latin-1"):
                return value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = body.partition(b"\x00")
            if key == SOURCE_KEY.encode("latin-1"):
                return zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"IDAT":
            return None  # matplotlib writes text chunks before the image data
        pos += 12 + length
    return None
