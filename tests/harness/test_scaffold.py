"""``falsify init``: a project in one command, idempotent, never overwriting a user's file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.contracts import load_contracts
from harness.library import library_claims
from harness.orphans import find_orphans
from harness.scaffold import copy_claim, init_project, write_demo_project
from harness.workspace import Workspace

FILES = ["falsify.toml", "contracts/README.md", "falsifiers/README.md", "contracts/model.yaml",
         ".github/workflows/falsify.yml", ".gitignore"]


def _falsify(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    main = "import sys; from harness.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", main, *args], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False)


def test_init_writes_a_project_that_checks_and_says_what_it_wrote(tmp_path: Path) -> None:
    done = _falsify(tmp_path, "init", "--claims", "model", "--claims", "lm-eval")
    assert done.returncode == 0, done.stderr
    for rel in FILES:
        assert (tmp_path / rel).is_file(), rel
        assert f"wrote {rel}" in done.stdout
    assert "pytest falsifiers/ -m live" in done.stdout  # what to do next
    ws = Workspace.discover(tmp_path)
    contracts = load_contracts(ws.contracts_dir)
    assert set(contracts.claims) == {"LM-VAL-BELOW-UNIFORM", "TIED-WEIGHTS-INTACT"}
    later = {c.id for c in library_claims().values()
             if {"model", "lm-eval"} & set(c.kinds)} - set(contracts.claims)
    written = "".join((ws.contracts_dir / f).read_text() for f in ("model.yaml", "lm-eval.yaml"))
    for claim_id in later:  # the others are offered with what they need, as comments
        assert f"# - claim: {claim_id}   # needs " in written
    assert find_orphans(contracts, ws.falsifiers_dir).problems == []
    for claim in contracts.claims.values():  # every subject and control is configured
        for ref in claim.all_subjects:
            assert ws.spec(ref.id).source == "config", ref.id
    again = _falsify(tmp_path, "init", "--claims", "model")
    assert again.returncode == 0
    assert "wrote" not in again.stdout
    assert "kept falsify.toml (exists; not overwritten)" in again.stdout


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(existing=st.sets(st.sampled_from(FILES)), kinds=st.lists(
    st.sampled_from(["model", "lm-eval", "corpus", "bundle-pair"]), max_size=3))
def test_init_never_changes_a_file_that_exists(tmp_path_factory: pytest.TempPathFactory,
                                               existing: set[str], kinds: list[str]) -> None:
    """Whatever the folder already holds, its bytes stay (``.gitignore`` only gains the cache
    line, appended), and each kept file is named."""
    root = tmp_path_factory.mktemp("p")
    before = {}
    for rel in existing:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# the user's own {rel}\n", "utf-8")
        before[rel] = (root / rel).read_bytes()
    done = init_project(root, kinds)
    for rel, data in before.items():
        now = (root / rel).read_bytes()
        if rel == ".gitignore":
            assert now == data + b".falsify-cache/\n"
        else:
            assert now == data, rel
            if rel != "contracts/model.yaml" or "model" in kinds:  # a file init would write
                assert root / rel in [p for p, _ in done.kept]
    report = done.report()
    assert all(f"wrote {p.relative_to(root)}" in report for p in done.written)


def test_copy_makes_the_claim_the_projects_own(tmp_path: Path) -> None:
    init_project(tmp_path, ["model"])
    ws = Workspace.discover(tmp_path)
    done = copy_claim(tmp_path, ws.contracts_dir, ws.falsifiers_dir, "TIED-WEIGHTS-INTACT")
    copied = tmp_path / "falsifiers" / "test_tied_weights_intact.py"
    assert copied in done.written
    source = copied.read_text("utf-8")
    assert 'claim("TIED-WEIGHTS-INTACT")' in source
    assert "EMBED-RESIZE-FINITE" not in source
    assert "ENG-PPL-SANE" not in source
    compile(source, str(copied), "exec")
    assert any("remove the uses: entry for TIED-WEIGHTS-INTACT" in hint for _, hint in done.kept)
    (tmp_path / "contracts" / "model.yaml").unlink()  # the user follows the hint: its only use
    contracts = load_contracts(ws.contracts_dir)
    own = contracts["TIED-WEIGHTS-INTACT"]
    assert own.library is None
    assert [r.id for r in own.subjects] == ["my-model"]
    assert find_orphans(contracts, ws.falsifiers_dir).problems == []


def test_unknown_kind_or_claim_is_a_usage_error(tmp_path: Path) -> None:
    done = _falsify(tmp_path, "init", "--claims", "modle")
    assert done.returncode == 2
    assert "no library claim takes subjects of kind 'modle'" in done.stderr
    done = _falsify(tmp_path, "init", "--copy", "NOPE")
    assert done.returncode == 2
    assert "'NOPE' is not a library claim" in done.stderr


def test_list_shows_every_library_claim(tmp_path: Path) -> None:
    done = _falsify(tmp_path, "init", "--list")
    assert done.returncode == 0
    for claim_id in library_claims():
        assert claim_id in done.stdout


def test_the_demo_project_is_the_repositorys_own_contracts(tmp_path: Path) -> None:
    """`falsify demo` in an empty folder writes the demo project: the same contracts this
    repository runs (its contracts/ are links to the shipped files)."""
    done = write_demo_project(tmp_path)
    assert tmp_path / "falsify.toml" in done.written
    repo = Path(__file__).resolve().parents[2] / "contracts"
    for path in sorted(repo.glob("*.yaml")):
        assert (tmp_path / "contracts" / path.name).read_bytes() == path.read_bytes()
    ws = Workspace.discover(tmp_path)
    contracts = load_contracts(ws.contracts_dir)
    assert len(contracts.claims) == 33
    assert all(c.library for c in contracts.claims.values())
    assert find_orphans(contracts, ws.falsifiers_dir).problems == []
