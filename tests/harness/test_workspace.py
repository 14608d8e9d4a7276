"""Workspace discovery and subject resolution: config first, then the demo; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.workspace import SubjectUnavailable, Workspace, WorkspaceError
from tests.harness.toyspace import write_toyspace


def space(tmp_path: Path, config: str) -> Workspace:
    write_toyspace(tmp_path)
    (tmp_path / "falsify.toml").write_text(config)
    return Workspace.discover(tmp_path / "contracts")


def test_discovers_root_from_a_subfolder(tmp_path: Path) -> None:
    ws = space(tmp_path, 'ledger = "records"\n')
    assert ws.root == tmp_path.resolve()
    assert ws.ledger_dir == tmp_path.resolve() / "records"


def test_configured_subject_resolves_paths_against_the_root(tmp_path: Path) -> None:
    ws = space(tmp_path, '[subjects.my-corpus]\nkind = "corpus"\npath = "data/shards"\n')
    spec = ws.spec("my-corpus")
    assert spec.kind == "corpus"
    assert spec.source == "config"
    assert spec.path() == (tmp_path / "data" / "shards").resolve()


def test_unconfigured_subject_falls_back_to_the_demo(tmp_path: Path) -> None:
    ws = space(tmp_path, "")
    assert ws.spec("demo-run-matrix").source == "demo"


def test_unknown_subject_is_unavailable_with_the_fix(tmp_path: Path) -> None:
    ws = space(tmp_path, "")
    with pytest.raises(SubjectUnavailable, match=r"add \[tool\.falsify\.subjects\.nope\]"):
        ws.spec("nope")


def test_subject_without_kind_names_the_file(tmp_path: Path) -> None:
    ws = space(tmp_path, '[subjects.x]\npath = "a"\n')
    with pytest.raises(WorkspaceError, match=r"falsify\.toml: \[tool\.falsify\.subjects\.x\] "
                                             r"needs a 'kind'"):
        ws.spec("x")


def test_unknown_kind_is_an_error(tmp_path: Path) -> None:
    ws = space(tmp_path, '[subjects.x]\nkind = "telescope"\n')
    with pytest.raises(WorkspaceError, match="unknown kind 'telescope'"):
        ws.resolve("x")


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    write_toyspace(tmp_path)
    (tmp_path / "falsify.toml").write_text("[subjects\n")
    with pytest.raises(WorkspaceError, match=r"falsify\.toml: not valid TOML"):
        Workspace.discover(tmp_path)


def test_no_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="no falsify workspace"):
        Workspace.discover(tmp_path)
