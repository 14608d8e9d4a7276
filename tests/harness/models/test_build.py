"""The demo builder's cache: keyed by inputs, reused, rebuilt on request, never half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.demo.build import BUILD_FILE, Builder, read_build


def _counting_make(calls: list[Path]):  # type: ignore[no-untyped-def]
    def make(out: Path) -> dict[str, int]:
        calls.append(out)
        out.mkdir(parents=True)
        (out / "data.txt").write_text("x")
        return {"n": len(calls)}

    return make


def test_artifact_is_built_once_and_reused(tmp_path: Path) -> None:
    """The same inputs give the same folder, built once; another builder reuses it too."""
    calls: list[Path] = []
    first = Builder(tmp_path).artifact("thing", {"a": 1}, _counting_make(calls))
    again = Builder(tmp_path).artifact("thing", {"a": 1}, _counting_make(calls))
    assert first == again
    assert len(calls) == 1
    assert (first / "data.txt").read_text() == "x"
    record = read_build(first)
    assert record["facts"] == {"n": 1}
    assert record["inputs"] == {"a": 1}


def test_other_inputs_other_artifact(tmp_path: Path) -> None:
    """Changing any input changes the key and the folder."""
    calls: list[Path] = []
    a = Builder(tmp_path).artifact("thing", {"a": 1}, _counting_make(calls))
    b = Builder(tmp_path).artifact("thing", {"a": 2}, _counting_make(calls))
    assert a != b
    assert len(calls) == 2


def test_rebuild_forces_one_rebuild(tmp_path: Path) -> None:
    """rebuild=True builds again, once per builder."""
    calls: list[Path] = []
    Builder(tmp_path).artifact("thing", {}, _counting_make(calls))
    builder = Builder(tmp_path, rebuild=True)
    builder.artifact("thing", {}, _counting_make(calls))
    builder.artifact("thing", {}, _counting_make(calls))
    assert len(calls) == 2


def test_failed_build_leaves_no_artifact(tmp_path: Path) -> None:
    """A make that raises leaves nothing that looks built; the next call builds afresh."""

    def broken(out: Path) -> dict[str, int]:
        out.mkdir(parents=True)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Builder(tmp_path).artifact("thing", {}, broken)
    assert not [p for p in tmp_path.iterdir() if (p / BUILD_FILE).exists()]
    calls: list[Path] = []
    folder = Builder(tmp_path).artifact("thing", {}, _counting_make(calls))
    assert json.loads((folder / BUILD_FILE).read_text())["name"] == "thing"
