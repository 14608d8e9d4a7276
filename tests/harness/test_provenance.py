"""Provenance: git state, environment, and streamed, cached sha256 of input files and folders."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from harness import provenance
from harness.provenance import InputHasher, MissingInputError, env_info, git_info

OLD_NS = 1_600_000_000 * 10**9  # 2020: safely outside the racy-clean window


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    provenance.clear_caches()
    yield
    provenance.clear_caches()


def workdir(r: git.Repo) -> Path:
    return Path(str(r.working_tree_dir))


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    r = git.Repo.init(tmp_path / "repo", initial_branch="main")
    with r.config_writer() as cw:
        cw.set_value("user", "name", "t")
        cw.set_value("user", "email", "t@example.org")
    (workdir(r) / "a.txt").write_text("alpha\n")
    r.index.add(["a.txt"])
    r.index.commit("first")
    return r


def test_git_info_clean_checkout(repo: git.Repo) -> None:
    """A clean checkout: its commit and branch, not dirty."""
    info = git_info(workdir(repo))
    assert info["commit"] == repo.head.commit.hexsha
    assert info["branch"] == "main"
    assert info["dirty"] is False
    assert len(info["diff_sha256"]) == 64


def test_git_info_dirty_and_untracked_change_the_diff_hash(repo: git.Repo) -> None:
    """An edit and an untracked file each make the tree dirty and change the diff hash."""
    root = workdir(repo)
    clean = git_info(root)["diff_sha256"]
    (root / "a.txt").write_text("beta\n")
    provenance.clear_caches()
    edited = git_info(root)
    (root / "new.txt").write_text("x")
    provenance.clear_caches()
    untracked = git_info(root)
    assert edited["dirty"] is True
    assert untracked["dirty"] is True
    assert len({clean, edited["diff_sha256"], untracked["diff_sha256"]}) == 3


def test_git_info_is_computed_once_per_process(repo: git.Repo) -> None:
    """A second call returns the first snapshot, even after the tree changed."""
    root = workdir(repo)
    first = git_info(root)
    (root / "a.txt").write_text("changed\n")
    assert git_info(root) == first


def test_git_info_from_a_subfolder_and_detached_head(repo: git.Repo) -> None:
    """A subfolder finds its repository; a detached HEAD has no branch."""
    root = workdir(repo)
    (root / "sub").mkdir()
    repo.git.checkout(repo.head.commit.hexsha)
    info = git_info(root / "sub")
    assert info["commit"] == repo.head.commit.hexsha
    assert info["branch"] is None


def test_git_info_outside_a_repository(tmp_path: Path) -> None:
    """Outside a repository every field is None and `why` says so."""
    info = git_info(tmp_path)
    assert info["commit"] is None
    assert info["dirty"] is None
    assert info["diff_sha256"] is None
    assert "not inside a git repository" in info["why"]


def test_env_info_versions_from_metadata() -> None:
    """Versions come from package metadata; absent packages are None."""
    import numpy

    env = env_info()
    assert env["packages"]["numpy"] == numpy.__version__
    assert set(env["packages"]) == {"torch", "mlx", "mlx_lm", "transformers", "numpy"}
    assert env["python"].count(".") == 2
    assert env["device"] in ("cpu", "cuda", "mps")


def test_env_info_does_not_import_torch() -> None:
    """Taking the environment never imports torch or mlx (they cost seconds to import)."""
    code = ("import sys; from harness.provenance import env_info; e = env_info(); "
            "print('torch' in sys.modules, 'mlx' in sys.modules, e['device'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "cpu"]


def _old(path: Path) -> Path:
    os.utime(path, ns=(OLD_NS, OLD_NS))
    return path


def test_file_hash_streams_in_chunks(tmp_path: Path) -> None:
    """A file larger than one chunk hashes to its sha256, with its size."""
    data = os.urandom(3 * provenance.CHUNK_BYTES + 12345)
    f = tmp_path / "weights.bin"
    f.write_bytes(data)
    got = InputHasher(None).hash(f)
    assert got == {"path": str(f), "kind": "file", "sha256": hashlib.sha256(data).hexdigest(),
                   "bytes": len(data)}


def test_folder_hash_is_over_sorted_relative_paths_and_file_hashes(tmp_path: Path) -> None:
    """A folder's sha256 covers each file's relative path and content hash, in sorted order."""
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    files = {"config.json": b"{}", "sub/w.safetensors": b"\x00" * 100, "tok.json": "ߒ".encode()}
    for rel, data in files.items():
        (model / rel).write_bytes(data)
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(f"{rel}\0{hashlib.sha256(files[rel]).hexdigest()}\n".encode())
    got = InputHasher(None, root=tmp_path).hash("model")
    assert got == {"path": "model", "kind": "dir", "sha256": digest.hexdigest(), "bytes": 104}


def test_folder_hash_changes_when_a_file_is_renamed(tmp_path: Path) -> None:
    """Renaming a file inside a folder changes the folder's hash."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"x")
    before = InputHasher(None).hash(tmp_path / "d")["sha256"]
    (tmp_path / "d" / "a").rename(tmp_path / "d" / "b")
    assert InputHasher(None).hash(tmp_path / "d")["sha256"] != before


def test_folder_with_a_symlink_loop_terminates(tmp_path: Path) -> None:
    """A symlink back to an ancestor folder is visited once, not forever."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"1")
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d")
    assert InputHasher(None).hash(tmp_path / "d")["bytes"] == 1


def test_missing_input_names_the_path(tmp_path: Path) -> None:
    """A missing input raises an error naming the path and the fix."""
    with pytest.raises(MissingInputError, match=r"input data/eng\.dev not found") as info:
        InputHasher(None, root=tmp_path).hash("data/eng.dev")
    assert str(tmp_path / "data" / "eng.dev") in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def _settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the racy window to 10 ms and wait it out, so files written just now are cached."""
    monkeypatch.setattr(provenance, "_RACY_WINDOW_NS", 10_000_000)
    time.sleep(0.03)


def _poison(cache: Path, path: Path) -> str:
    """Overwrite the cached sha256 of ``path`` in the cache file: an answer from it shows."""
    data = json.loads(cache.read_text())
    data["entries"][str(path)]["sha256"] = "0" * 64
    cache.write_text(json.dumps(data))
    return "0" * 64


def test_hash_cache_answers_only_while_the_stat_key_holds(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A second hasher answers from the cache file while device, inode, size, mtime and ctime
    hold; a rewrite that restores size and mtime (cp -p, rsync -t) changes the ctime: re-read."""
    cache = tmp_path / "cache" / "hashes.json"
    f = tmp_path / "model.bin"
    f.write_bytes(b"a" * 1000)
    _old(f)
    _settled(monkeypatch)
    hasher = InputHasher(cache, strict=False)
    hasher.hash(f)
    hasher.save()
    poisoned = _poison(cache, f)
    assert InputHasher(cache, strict=False).hash(f)["sha256"] == poisoned
    f.write_bytes(b"b" * 1000)  # same size; the mtime restored below, as cp -p does
    _old(f)
    _settled(monkeypatch)
    assert InputHasher(cache, strict=False).hash(f)["sha256"] == (
        hashlib.sha256(b"b" * 1000).hexdigest())


def test_strict_hasher_never_answers_from_the_cache_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """strict=True (and CI=true by default) reads the bytes even when the cache file has the key."""
    cache = tmp_path / "hashes.json"
    f = tmp_path / "f"
    f.write_bytes(b"data")
    _old(f)
    _settled(monkeypatch)
    hasher = InputHasher(cache, strict=False)
    hasher.hash(f)
    hasher.save()
    poisoned = _poison(cache, f)
    true = hashlib.sha256(b"data").hexdigest()
    assert InputHasher(cache, strict=True).hash(f)["sha256"] == true
    assert provenance.hash_input(f)["sha256"] == true
    monkeypatch.setenv("CI", "true")
    assert InputHasher(cache).strict
    assert InputHasher(cache).hash(f)["sha256"] == true
    monkeypatch.setenv("CI", "false")
    assert InputHasher(cache).hash(f)["sha256"] == poisoned


def test_expensive_hashing_saves_the_cache_by_itself(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the work threshold hash() writes the cache file without waiting for save()."""
    monkeypatch.setattr(provenance, "_SAVE_AFTER_BYTES", 100)
    cache = tmp_path / "hashes.json"
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(b"s")
    big.write_bytes(b"b" * 200)
    _settled(monkeypatch)
    hasher = InputHasher(cache, strict=False)
    hasher.hash(small)
    assert not cache.exists()
    hasher.hash(big)
    assert set(json.loads(cache.read_text())["entries"]) == {str(small), str(big)}


def test_recently_modified_files_are_not_cached(tmp_path: Path) -> None:
    """A file modified just now may change again within its mtime tick: hashed, not cached."""
    cache = tmp_path / "hashes.json"
    f = tmp_path / "fresh.txt"
    f.write_text("x")
    hasher = InputHasher(cache, strict=False)
    hasher.hash(f)
    hasher.save()
    assert not cache.exists()


def test_a_just_restored_mtime_is_not_cached_either(tmp_path: Path) -> None:
    """cp -p just now: an old mtime, but a ctime within the racy window: hashed, not cached."""
    cache = tmp_path / "hashes.json"
    f = tmp_path / "copied.bin"
    f.write_bytes(b"weights")
    _old(f)
    hasher = InputHasher(cache, strict=False)
    hasher.hash(f)
    hasher.save()
    assert not cache.exists()


def test_broken_cache_file_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A corrupt cache file is ignored and rewritten (it is a cache, not evidence)."""
    cache = tmp_path / "hashes.json"
    cache.write_text("{not json")
    f = tmp_path / "f"
    f.write_bytes(b"1")
    _old(f)
    _settled(monkeypatch)
    hasher = InputHasher(cache, strict=False)
    assert hasher.hash(f)["sha256"] == hashlib.sha256(b"1").hexdigest()
    hasher.save()
    assert json.loads(cache.read_text())["format"] == provenance._CACHE_FORMAT


def test_collect_has_git_and_env(repo: git.Repo) -> None:
    """collect() is the provenance object a record carries."""
    got = provenance.collect(workdir(repo))
    assert set(got) == {"git", "env"}
    assert got["git"]["commit"] == repo.head.commit.hexsha


def test_untracked_files_in_the_ledger_being_written_are_not_a_change(repo: git.Repo) -> None:
    """A new segment in the ledger the caller writes to is evidence, not a code change; an
    untracked file anywhere else still makes the tree dirty."""
    root = workdir(repo)
    ledger = root / "evidence" / "ledger"
    ledger.mkdir(parents=True)
    (ledger / "20261205T000000Z-abc-gw0.jsonl").write_text("{}\n")
    provenance.clear_caches()
    assert git_info(root, ledger)["dirty"] is False
    assert git_info(root)["dirty"] is True  # without naming the ledger, it is an untracked file
    (root / "notes.txt").write_text("x")
    provenance.clear_caches()
    assert git_info(root, ledger)["dirty"] is True
