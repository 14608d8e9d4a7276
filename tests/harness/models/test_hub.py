"""Model subjects named by a Hub id (``hub = "org/name"``), read from a real local Hub cache.

The cache is laid out in a temporary folder in huggingface_hub's own format (checked with its
``scan_cache_dir``) and holds a tiny real Llama saved by ``save_pretrained``; HF_HOME points at
it. Nothing is downloaded: a model that is not cached is an error naming the id, the cache folder
and the fix.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.models import ModelLoadError, open_model
from harness.models.hub import HUB_ALIAS, hub_cache_dir, resolve_hub
from harness.provenance import InputHasher
from harness.workspace import SubjectUnavailable, Workspace, WorkspaceError
from tests.harness.models.hubcache import put_in_cache, tiny_model

REPO = "org/tiny"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hubmodels")
    return {"a": tiny_model(root / "a", seed=0), "b": tiny_model(root / "b", seed=1)}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> Path:
    """A Hub cache holding org/tiny at main, read-only for the property test."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    put_in_cache(cache, REPO, models["a"])
    return cache


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HF_HOME in tmp, with nothing else choosing the cache; returns its hub cache folder."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "hf" / "hub"


def _workspace(root: Path, subject: str, form: str = "falsify.toml") -> Workspace:
    (root / "contracts").mkdir(parents=True, exist_ok=True)
    if form == "falsify.toml":
        (root / "falsify.toml").write_text(f"[subjects.mine]\n{subject}\n")
    else:
        (root / "pyproject.toml").write_text(f"[tool.falsify.subjects.mine]\n{subject}\n")
    return Workspace.discover(root)


def test_the_cache_is_the_hub_librarys_own_format(shared_cache: Path) -> None:
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(shared_cache)
    assert not info.warnings
    (repo,) = info.repos
    assert (repo.repo_id, repo.repo_type, set(repo.refs)) == (REPO, "model", {"main"})
    (revision,) = repo.revisions
    assert revision.snapshot_path == resolve_hub(REPO, cache_dir=shared_cache)
    assert {f.file_name for f in revision.files} >= {"config.json", "model.safetensors",
                                                      "tokenizer.json"}


@pytest.mark.parametrize("form", ["falsify.toml", "pyproject.toml"])
def test_a_hub_subject_loads_live_from_the_cache(tmp_path: Path, hf_home: Path,
                                                 models: dict[str, Path], form: str) -> None:
    commit = put_in_cache(hf_home, REPO, models["a"])
    assert hub_cache_dir() == hf_home
    ws = _workspace(tmp_path / "project", f'kind = "model"\nhub = "{REPO}"', form)
    model = ws.resolve("mine")
    assert model.path == hf_home / "models--org--tiny" / "snapshots" / commit
    assert model.backend == "torch"
    ids = model.encode("the cat sat")
    assert len(ids) == len("the cat sat")  # byte-level, no merges: one id per byte
    nll = model.token_nll(np.asarray([ids]))
    assert nll.shape == (1, len(ids) - 1)
    assert np.all(np.isfinite(nll))
    direct = open_model(models["a"]).token_nll(np.asarray([ids]))
    np.testing.assert_array_equal(nll, direct)  # the same bytes, read through the cache's links


def test_revision_by_commit_hash_and_branch(tmp_path: Path, hf_home: Path,
                                            models: dict[str, Path]) -> None:
    main = put_in_cache(hf_home, REPO, models["a"])
    other = put_in_cache(hf_home, REPO, models["b"], ref=None)  # cached, no branch names it
    dev = put_in_cache(hf_home, REPO, models["b"], ref="dev")
    assert other == dev != main
    for revision, commit in ((other, other), ("dev", dev), ("main", main)):
        ws = _workspace(tmp_path / revision[:8], f'kind = "model"\nhub = "{REPO}"\n'
                                                 f'revision = "{revision}"')
        assert ws.resolve("mine").path.name == commit
    ids = np.asarray([list(range(10))])
    ws = _workspace(tmp_path / "by-hash", f'kind = "model"\nhub = "{REPO}"\nrevision = "{other}"')
    np.testing.assert_array_equal(ws.resolve("mine").token_nll(ids),
                                  open_model(models["b"]).token_nll(ids))


def test_records_hash_the_snapshot_so_a_new_snapshot_is_stale(
        tmp_path: Path, hf_home: Path, models: dict[str, Path]) -> None:
    """The input a falsifier declares (model.path) is the resolved snapshot, hashed by content
    through the links, and written under the Hub cache alias so another machine's cache checks
    it; moving refs/main to another snapshot changes the hash."""
    first = put_in_cache(hf_home, REPO, models["a"])
    ws = _workspace(tmp_path / "p", f'kind = "model"\nhub = "{REPO}"')
    hasher = InputHasher(None, root=ws.root, strict=True, aliases=ws.input_aliases())
    before = hasher.hash(ws.resolve("mine").path)
    assert before["path"] == f"{HUB_ALIAS}/models--org--tiny/snapshots/{first}"
    assert before["kind"] == "dir"
    assert before["bytes"] > 10_000
    assert hasher.resolve(before["path"]) == hf_home / "models--org--tiny" / "snapshots" / first
    assert before["sha256"] == InputHasher(None, strict=True).hash(models["a"])["sha256"]
    second = put_in_cache(hf_home, REPO, models["b"])  # refs/main now names a new snapshot
    fresh = Workspace.discover(ws.root)
    after = InputHasher(None, root=ws.root, strict=True,
                        aliases=fresh.input_aliases()).hash(fresh.resolve("mine").path)
    assert after["path"].endswith(second)
    assert after["sha256"] != before["sha256"]


def test_not_cached_is_an_error_naming_the_id_the_cache_and_the_fix(
        tmp_path: Path, hf_home: Path) -> None:
    ws = _workspace(tmp_path / "p", 'kind = "model"\nhub = "someone/absent-model"')
    with pytest.raises(ModelLoadError) as caught:
        ws.resolve("mine")
    text = str(caught.value)
    assert not isinstance(caught.value, SubjectUnavailable)  # the plugin's ERROR, not SKIPPED
    assert "'someone/absent-model'" in text
    assert str(ws.config_path) in text
    assert str(hf_home / "models--someone--absent-model") in text
    assert "hf download someone/absent-model" in text
    assert "HF_HOME" in text


def test_an_uncached_revision_lists_what_is_cached(tmp_path: Path, hf_home: Path,
                                                   models: dict[str, Path]) -> None:
    commit = put_in_cache(hf_home, REPO, models["a"])
    ws = _workspace(tmp_path / "p", f'kind = "model"\nhub = "{REPO}"\nrevision = "v2"')
    with pytest.raises(ModelLoadError, match="not at revision 'v2'") as caught:
        ws.resolve("mine")
    assert f"cached: main, {commit[:12]}" in str(caught.value)


@pytest.mark.parametrize("form", ["falsify.toml", "pyproject.toml"])
def test_path_and_hub_together_is_a_config_error(tmp_path: Path, form: str) -> None:
    key = "subjects.mine" if form == "falsify.toml" else "tool.falsify.subjects.mine"
    with pytest.raises(WorkspaceError) as caught:
        _workspace(tmp_path, f'kind = "model"\npath = "m"\nhub = "{REPO}"', form)
    text = str(caught.value)
    assert f"{tmp_path / form}: [{key}] sets both 'path' and 'hub'; keep one" in text


def test_revision_without_hub_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"\[subjects.mine\] sets 'revision' but not 'hub'"):
        _workspace(tmp_path, 'kind = "model"\npath = "m"\nrevision = "main"')


_ID_CHARS = string.ascii_letters + string.digits + "-_./ \\:~@\n"


@settings(max_examples=150, deadline=None)
@given(repo_id=st.one_of(st.text(_ID_CHARS, max_size=40), st.text(max_size=20),
                         st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)),
       revision=st.one_of(st.none(), st.text(_ID_CHARS, max_size=50),
                          st.text(string.hexdigits.lower(), min_size=40, max_size=40)))
@example(repo_id="", revision=None)
@example(repo_id="org/tiny/extra", revision=None)
@example(repo_id="../org/tiny", revision=None)
@example(repo_id="org/../tiny", revision=None)
@example(repo_id="models--org--tiny", revision=None)
@example(repo_id="org/Tiny", revision=None)  # ids are case-sensitive in the cache
@example(repo_id="org/tiny", revision="../../../../etc/passwd")
@example(repo_id="org/tiny", revision="refs/../main")
@example(repo_id="org/tiny", revision="main\n")
@example(repo_id="org/tiny", revision="")
@example(repo_id="org/tiny", revision="0" * 40)
@example(repo_id="org/other", revision="main")
def test_malformed_or_absent_ids_and_revisions_get_a_clear_error(
        shared_cache: Path, repo_id: Any, revision: Any) -> None:
    """Every id or revision that is not a cached snapshot is a ModelLoadError naming what was
    wrong (never a traceback from the library, never another model)."""
    if repo_id == REPO and revision in (None, "main"):
        return  # the one cached snapshot
    with pytest.raises(ModelLoadError) as caught:
        resolve_hub(repo_id, revision, where="falsify.toml: subject 'x'", cache_dir=shared_cache)
    text = str(caught.value)
    assert text.startswith("falsify.toml: subject 'x': ")
    assert repr(repo_id) in text or repr(revision) in text
    assert any(fix in text for fix in ("hf download", "write it as", "write e.g.", "revision"))


def test_a_cached_mlx_repo_loads_with_the_mlx_backend(tmp_path: Path, hf_home: Path,
                                                      models: dict[str, Path]) -> None:
    pytest.importorskip("mlx_lm")
    import contextlib
    import io

    from mlx_lm.convert import convert

    mlx_dir = tmp_path / "tiny-mlx"
    with contextlib.redirect_stdout(io.StringIO()):
        convert(str(models["a"]), str(mlx_dir), dtype="float32")
    put_in_cache(hf_home, "mlx-community/tiny-mlx", mlx_dir)
    ids = np.asarray([list(range(2, 14))])
    expected = open_model(models["a"]).token_nll(ids)
    (tmp_path / "p").mkdir()
    os.symlink(mlx_dir, tmp_path / "p" / "tiny-mlx")
    for subject in ('hub = "mlx-community/tiny-mlx"', 'path = "tiny-mlx"'):
        ws = _workspace(tmp_path / "p", f'kind = "model"\nbackend = "mlx"\n{subject}')
        model = ws.resolve("mine")
        assert model.backend == "mlx"
        np.testing.assert_allclose(model.token_nll(ids), expected, rtol=1e-4, atol=1e-4)


HUB_CONTRACT = """\
area: hub
title: A model from the Hub cache
claims:
  - id: HUB-MODEL-TIED
    title: The cached model's head is its embedding
    statement: The output projection shares storage with the input embedding.
    milestones: [core]
    max_age: 30d
    measures:
      tied: {unit: count}
    predicate: tied == 1
    subjects: [cached, absent]
    controls:
      - subject: cached-untied
        expect: FAIL
        why: loaded with untie = true, the head is a separate matrix
"""

HUB_FALSIFIER = '''\
import numpy as np
import pytest

pytestmark = pytest.mark.live


@pytest.mark.claim("HUB-MODEL-TIED")
def test_tied(evidence, subject, workspace):
    model = workspace.resolve(subject.id)
    evidence.input(model.path)
    assert np.isfinite(model.token_nll(np.asarray([model.encode("a cat")]))).all()
    evidence.measure("tied", int(model.head_shares_storage()), unit="count")
'''


def test_a_falsifier_run_records_pass_for_cached_and_error_for_absent(
        tmp_path: Path, hf_home: Path, models: dict[str, Path]) -> None:
    """End to end through the plugin: the cached model is PASS with its snapshot and the ref
    that chose it hashed under the Hub alias; the uncached one is ERROR (red, exit 1), never
    SKIPPED; moving refs/main to a new snapshot makes the PASS stale."""
    import json
    import subprocess
    import sys

    from tests.harness.toyspace import write_toyspace

    first = put_in_cache(hf_home, REPO, models["a"])
    root = write_toyspace(tmp_path / "p", HUB_CONTRACT, HUB_FALSIFIER)
    (root / "falsify.toml").write_text(
        f'[subjects.cached]\nkind = "model"\nhub = "{REPO}"\n\n'
        f'[subjects.cached-untied]\nkind = "model"\nhub = "{REPO}"\nuntie = true\n\n'
        f'[subjects.absent]\nkind = "model"\nhub = "someone/absent"\n')
    ledger = tmp_path / "ledger"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
           "FALSIFY_CACHE": str(tmp_path / "c")}
    run = subprocess.run([sys.executable, "-m", "pytest", "falsifiers", "-m", "live", "-q",
                          "-p", "no:cacheprovider", "-p", "no:randomly", "--ledger", str(ledger)],
                         cwd=root, env=env, capture_output=True, text=True, timeout=600,
                         check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    records = {r["subject"]: r for f in sorted(ledger.glob("*.jsonl"))
               for r in map(json.loads, f.read_text().splitlines())}
    assert records["cached"]["verdict"] == "PASS"
    assert records["cached-untied"]["verdict"] == "FAIL"  # the control, as expected
    ref, snapshot = records["cached"]["inputs"]  # the ref, and the snapshot it chose
    assert ref["path"] == f"{HUB_ALIAS}/models--org--tiny/refs/main"
    assert snapshot["path"] == f"{HUB_ALIAS}/models--org--tiny/snapshots/{first}"
    assert records["absent"]["verdict"] == "ERROR"
    assert "'someone/absent' is not in the local Hugging Face cache" in \
        records["absent"]["reasons"][0]
    put_in_cache(hf_home, REPO, models["b"])  # a new snapshot at main
    status = subprocess.run([sys.executable, "-m", "harness.cli", "status", "--json",
                             "--ledger", str(ledger)], cwd=root, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert status.returncode == 0, status.stderr
    (claim,) = json.loads(status.stdout)["claims"]
    rows = {r["subject"]: r for r in claim["rows"]}
    (why,) = rows["cached"]["stale"]  # main names another snapshot: the PASS is stale
    assert f"{HUB_ALIAS}/models--org--tiny/refs/main" in why
