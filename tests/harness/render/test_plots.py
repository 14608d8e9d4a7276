"""Plots: accepted attachment shapes, the embedded source hash, repeatable bytes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.render.plots import PlotSpec, curve_data, draw, read_source_hash, source_hash_of

JSON = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)


def test_generic_shape() -> None:
    data = curve_data({"x": [0, 1, 2], "series": {"b": [1, None, 3], "a": [0.5, 0.1, 0.0]},
                       "x_label": "layer", "y_label": "max |Δ|"})
    assert data == {"x": [0.0, 1.0, 2.0], "x_label": "layer", "y_label": "max |Δ|",
                    "series": {"a": [0.5, 0.1, 0.0], "b": [1.0, None, 3.0]}}


def test_flat_per_layer_shape() -> None:
    data = curve_data({"layers": [0, 1], "max_abs_diff": [0.0, math.inf]})
    assert data is not None
    assert data["x_label"] == "layers"
    assert data["series"] == {"max_abs_diff": [0.0, None]}  # non-finite: a gap, kept visible


def test_unplottable_shapes() -> None:
    assert curve_data([1, 2, 3]) is None
    assert curve_data({"layers": [0, 1], "y": [1]}) is None  # lengths differ
    assert curve_data({"x": [0, "a"], "series": {"y": [1, 2]}}) is None
    assert curve_data({"x": [], "series": {"y": []}}) is None


@settings(max_examples=200)
@given(JSON)
def test_curve_data_never_raises(value: Any) -> None:
    data = curve_data(value)
    if data is not None:
        assert all(len(s) == len(data["x"]) for s in data["series"].values())


def test_png_carries_its_source_hash_and_repeats(tmp_path: Path) -> None:
    spec = PlotSpec("curves", "T: per_layer", {"x_label": "layer", "y_label": "",
                                               "lines": [["s: y", [0.0, 1.0], [1.0, None]]]})
    first, second = draw(spec), draw(spec)
    assert first == second
    assert source_hash_of(first) == spec.source_hash
    (tmp_path / "p.png").write_bytes(first)
    assert read_source_hash(tmp_path / "p.png") == spec.source_hash
    assert b"Software" not in first
    other = PlotSpec("curves", "T: per_layer", {**spec.data, "y_label": "nats"})
    assert other.source_hash != spec.source_hash


def test_foreign_files_have_no_source_hash(tmp_path: Path) -> None:
    assert source_hash_of(b"GIF89a") is None
    assert read_source_hash(tmp_path / "missing.png") is None


def test_marks_are_kept_where_a_run_stopped() -> None:
    data = curve_data({"x": [1, 2, 3], "series": {"loss": [4.0, 3.0, None]},
                       "marks": [{"x": 3, "label": "stopped"}, {"x": "nope"}]})
    assert data is not None
    assert data["marks"] == [[3.0, "stopped"]]


def test_a_curve_without_marks_keeps_its_shape() -> None:
    data = curve_data({"x": [1], "series": {"loss": [4.0]}})
    assert data is not None
    assert "marks" not in data


def test_a_mark_is_drawn(tmp_path: Path) -> None:
    plain = {"x_label": "step", "y_label": "loss", "lines": [["r: loss", [1.0, 2.0], [4.0, 3.0]]]}
    marked = PlotSpec("curves", "T: stopped_run", {**plain, "marks": [[2.0, "r: stopped"]]})
    assert draw(marked) != draw(PlotSpec("curves", "T: stopped_run", plain))


def test_interval_sides_and_histograms_draw() -> None:
    from harness.render.plots import interval_data

    below = interval_data({"estimate": 0.01, "ci": [0.0, 0.02], "bound": 0.05})
    above = interval_data({"estimate": 2.0, "ci": [1.8, 2.3], "bound": 1.5, "better": "above"})
    assert below is not None
    assert above is not None
    assert below["above"] is False
    assert above["above"] is True
    rows = [["fast", False, 2.0, 1.8, 2.3, 1.5, True], ["noisy", False, 1.5, 1.1, 1.9, 1.5, True],
            ["rebuilt", True, 1.0, 0.9, 1.1, 1.5, True], ["kept", False, 0.01, 0.0, 0.02, 0.05,
                                                           False]]
    for spec in (PlotSpec("intervals", "speed", {"x_label": "ratio", "rows": rows}),
                 PlotSpec("histogram", "thinking", {
                     "x_label": "thinking tokens", "bounds": [48.0],
                     "series": [["fixed", False, [6, 9, 30, 31]],
                                ["unfixed", True, [8, 20, 120, 198]]]})):
        png = draw(spec)
        assert source_hash_of(png) == spec.source_hash


def test_a_long_legend_label_widens_the_figure_rather_than_being_clipped() -> None:
    import io

    import matplotlib.image

    def image(label: str):  # type: ignore[no-untyped-def]
        spec = PlotSpec("curves", "T: per_layer", {"x_label": "layer", "y_label": "",
                                                   "lines": [[label, [0.0, 1.0], [1.0, 2.0]]]})
        return matplotlib.image.imread(io.BytesIO(draw(spec)))

    short, long = image("s: y"), image("demo-torch-tied-embeddings-after-resize: per_layer_nll")
    assert short.shape[1] == 640  # 8 inches at 80 dpi: short labels fit the margin
    assert long.shape[1] > 640
    ink = (long[:, :, :3].min(axis=2) < 0.9).any(axis=0)
    assert not ink[-4:].any()  # nothing drawn up to the right edge: the label ends inside
