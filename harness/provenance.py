"""Provenance of a record: the git state, the environment, and the sha256 of every input.

``git_info`` and ``env_info`` are computed once per process: a pytest session records hundreds of
records against one checkout and one interpreter. ``InputHasher`` streams files in 1 MiB chunks
and, in a local run, remembers each file's sha256 by its stat key (absolute path, device, inode,
size, mtime_ns, ctime_ns) in a JSON cache file, so a 16 GB model folder is read once, not once per
record. A strict hasher (``InputHasher(..., strict=True)``, the default when ``CI=true``, and what
the gate uses) never answers from the cache: it re-reads every byte. :func:`hash_input` is that
strict path as one function.

Nothing here imports torch or mlx: versions come from package metadata, and the device is asked
of torch only when some other code has already imported it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from harness.atomic import write_atomic

__all__ = [
    "CHUNK_BYTES",
    "InputHasher",
    "MissingInputError",
    "ProvenanceError",
    "clear_caches",
    "collect",
    "env_info",
    "git_info",
    "hash_input",
    "sha256_file",
    "strict_by_default",
]

CHUNK_BYTES = 1 << 20
# A file modified or re-stat'ed (mtime or ctime) less than this long ago may change again within
# the same timestamp tick ("racily clean", as git calls it), so its hash is used but not remembered.
_RACY_WINDOW_NS = 2_000_000_000
# 2: entries keyed by device, inode and ctime too (format 1 trusted size and mtime alone, which
# `cp -p` and `rsync -t` restore after rewriting a file).
_CACHE_FORMAT = 2
# Values of $CI that mean "this is a CI run" (GitHub, GitLab and most others set CI=true).
_CI_TRUE = frozenset({"true", "1", "yes"})
# hash() writes the cache file itself once this much uncached work has piled up; the rest waits
# for save() (the plugin calls it at session end), and costs little to redo if it never comes.
_SAVE_AFTER_BYTES = 64 << 20
_SAVE_AFTER_NS = 500_000_000
# distribution name -> key in env_info()["packages"]
_PACKAGES = {"torch": "torch", "mlx": "mlx", "mlx-lm": "mlx_lm", "transformers": "transformers",
             "numpy": "numpy"}

_GIT_CACHE: dict[tuple[Path, Path | None], dict[str, Any]] = {}
_ENV_CACHE: dict[str, Any] = {}


class ProvenanceError(ValueError):
    """Provenance cannot be taken: names the path and the fix."""


class MissingInputError(ProvenanceError, FileNotFoundError):
    """An input file or folder does not exist here."""


def clear_caches() -> None:
    """Forget the per-process git and environment snapshots (tests, long-lived daemons)."""
    _GIT_CACHE.clear()
    _ENV_CACHE.clear()


# --- git -------------------------------------------------------------------------------------

def _no_git(why: str) -> dict[str, Any]:
    return {"commit": None, "branch": None, "dirty": None, "diff_sha256": None, "root": None,
            "why": why}


def _git_snapshot(root: Path, ledger: Path | None) -> dict[str, Any]:
    import git

    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return _no_git(f"{root} is not inside a git repository")
    except git.GitCommandNotFound:
        return _no_git("the git executable is not installed")
    with repo:
        return _describe_repo(repo, ledger)


def _describe_repo(repo: Any, ledger: Path | None = None) -> dict[str, Any]:
    import git

    try:
        commit: str | None = repo.head.commit.hexsha
    except ValueError:  # a repository with no commit yet
        commit = None
    try:
        branch: str | None = repo.active_branch.name
    except TypeError:  # detached HEAD, as in most CI checkouts
        branch = None
    try:
        diff = repo.git.diff("HEAD", "--no-color", "--no-ext-diff") if commit else ""
        untracked = [name for name in sorted(repo.untracked_files)
                     if not _in_ledger(Path(repo.working_tree_dir) / name, ledger)]
    except git.GitCommandError as exc:
        return {**_no_git(f"git diff failed: {exc.stderr.strip()}"), "commit": commit}
    text = diff + "\n" + "\n".join(f"untracked {name}" for name in untracked)
    dirty = bool(diff) or bool(untracked)
    return {"commit": commit, "branch": branch, "dirty": dirty,
            "diff_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "root": repo.working_tree_dir, "why": None}


def _in_ledger(path: Path, ledger: Path | None) -> bool:
    return ledger is not None and path.resolve().is_relative_to(ledger)


def git_info(root: Path | str, ledger: Path | str | None = None) -> dict[str, Any]:
    """Commit, branch, dirty flag and sha256 of ``git diff HEAD`` plus untracked file names.

    Untracked files inside ``ledger`` (the folder the caller writes evidence to) are left out:
    they are the evidence being written, not a change to what it was measured on. Without
    that, under ``pytest -n 2`` the second worker saw the first one's new segment and marked
    all its records dirty, and a gate under CI refused them.

    Outside a repository every value is None and ``why`` says so. Computed once per process
    for each (root, ledger).
    """
    folder = None if ledger is None else Path(ledger).resolve()
    key = (Path(root).resolve(), folder)
    if key not in _GIT_CACHE:
        _GIT_CACHE[key] = _git_snapshot(key[0], folder)
    return dict(_GIT_CACHE[key])


# --- environment -----------------------------------------------------------------------------

def _version(distribution: str) -> str | None:
    from importlib import metadata  # here: readers import this module, only writers ask (~50 ms)

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _device() -> tuple[str, str | None]:
    """("cuda", name) or ("mps", None) when torch is already imported and sees one, else cpu."""
    torch = sys.modules.get("torch")
    if torch is None:
        return "cpu", None
    try:
        if torch.cuda.is_available():
            return "cuda", str(torch.cuda.get_device_name(0))
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps", None
    except (AttributeError, RuntimeError):  # a partial or broken torch install
        return "cpu", None
    return "cpu", None


def env_info() -> dict[str, Any]:
    """Python, platform, machine, package versions (from metadata), the device, and the host
    (harness.machine: CPU model, cores, load average at start, torch threads)."""
    if not _ENV_CACHE:
        _ENV_CACHE.update({
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "packages": {key: _version(dist) for dist, key in _PACKAGES.items()},
        })
    from harness.machine import machine_info

    device, name = _device()  # asked each time: torch may have been imported since
    return {**_ENV_CACHE, "packages": dict(_ENV_CACHE["packages"]), "device": device,
            "device_name": name, "host": machine_info()}


def collect(root: Path | str) -> dict[str, Any]:
    """The ``provenance`` object of a record: ``{"git": git_info(root), "env": env_info()}``."""
    return {"git": git_info(root), "env": env_info()}


# --- input hashing ---------------------------------------------------------------------------

def strict_by_default() -> bool:
    """True in CI (``CI=true``): input hashes are then re-read from the bytes, never cached."""
    return os.environ.get("CI", "").strip().lower() in _CI_TRUE


def sha256_file(path: Path) -> str:
    """sha256 of the file's bytes, streamed in ``CHUNK_BYTES`` chunks through one buffer.

    A file that fits one chunk is read in one call: allocating (and zeroing) a 1 MiB buffer for
    each of thousands of small files in a folder would cost more than hashing them."""
    with path.open("rb", buffering=0) as fh:
        if os.fstat(fh.fileno()).st_size < CHUNK_BYTES:
            return hashlib.sha256(fh.read()).hexdigest()
        digest = hashlib.sha256()
        buffer = bytearray(CHUNK_BYTES)
        view = memoryview(buffer)
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _stat_key(st: os.stat_result) -> list[int]:
    """What must all be unchanged for a cached hash to stand: device, inode, size, mtime, ctime.

    ``cp -p`` and ``rsync -t`` restore size and mtime after a rewrite; the inode (a file
    replaced by rename) and the ctime (any write or utime; no tool can set it back) do not."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _walk_files(folder: Path) -> Iterator[Path]:
    """Every regular file under ``folder``, following links, each real folder visited once."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath, name)


class InputHasher:
    """sha256 of input files and folders, remembered across processes in ``cache_path``.

    ``root``: paths under it are reported relative to it (portable across checkouts); others
    are reported absolute. ``aliases`` maps a recorded prefix to the folder it stands for
    wherever that folder is now (``{".falsify-cache": $FALSIFY_CACHE}``): a path in the folder
    is reported under the prefix, and a recorded path under the prefix resolves into the folder.
    The longest recorded prefix a path is under wins, and the deepest folder: the demo's
    ``.falsify-cache/demo`` maps to the shared demo cache, the rest of ``.falsify-cache`` to
    the project's.
    ``cache_path=None`` keeps the cache in memory only. ``hash()`` saves the cache after
    expensive work (64 MiB or half a second of hashing); call ``save()`` when done to keep the
    rest.

    ``strict``: never answer from the cache file: each file is read from its bytes, once per
    hasher (a file met again with the same stat key, outside the racy window, is not re-read;
    one record set naming one model folder thirty times costs one read). Fresh hashes still
    refresh the cache file. None (the default) means strict in CI (:func:`strict_by_default`).
    The gate, ``falsify pr`` and ``falsify verify --inputs`` are strict everywhere: a cache may
    speed a local run up, but the answers a gate rests on come from the bytes.
    """

    def __init__(self, cache_path: Path | None, root: Path | None = None, *,
                 strict: bool | None = None, aliases: dict[str, Path] | None = None) -> None:
        self.cache_path = cache_path
        self.root = None if root is None else root.resolve()
        self.strict = strict_by_default() if strict is None else strict
        # Longest first: a recorded path takes the most specific prefix it is under
        # (".falsify-cache/demo" before ".falsify-cache": the demo lives apart from the cache).
        self.aliases = dict(sorted(((PurePosixPath(k).parts, Path(os.path.abspath(v)))
                                    for k, v in (aliases or {}).items()),
                                   key=lambda kv: -len(kv[0])))
        self._entries: dict[str, dict[str, Any]] = self._load()
        # What a lookup may answer from: the cache file's entries, or in strict mode only the
        # files this hasher read itself.
        self._trusted: dict[str, dict[str, Any]] = {} if self.strict else self._entries
        self._dirty = False
        self._unsaved_bytes = 0
        self._unsaved_ns = 0

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.cache_path is None or not self.cache_path.is_file():
            return {}
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a cache, not evidence: a broken one is rebuilt, never trusted
        if not isinstance(data, dict) or data.get("format") != _CACHE_FORMAT:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def resolve(self, path: Path | str) -> Path:
        """``path`` made absolute, relative paths taken from ``root`` (else the cwd)."""
        p = Path(path).expanduser()
        if not p.is_absolute():
            for prefix, folder in self.aliases.items():
                if p.parts[:len(prefix)] == prefix:
                    return Path(os.path.abspath(folder.joinpath(*p.parts[len(prefix):])))
            p = (self.root or Path.cwd()) / p
        return Path(os.path.abspath(p))

    def display(self, path: Path) -> str:
        """How a record writes ``path``: under an alias, relative to root, else absolute."""
        # The deepest folder holding ``path`` names it (the demo may lie inside the cache).
        under = [(prefix, folder) for prefix, folder in self.aliases.items()
                 if path.is_relative_to(folder)]
        if under:
            prefix, folder = max(under, key=lambda pf: len(pf[1].parts))
            return PurePosixPath(*prefix, path.relative_to(folder).as_posix()).as_posix()
        if self.root is not None and path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix()
        return str(path)

    def hash(self, path: Path | str) -> dict[str, Any]:
        """``{"path", "kind": "file"|"dir", "sha256", "bytes"}`` of a file or a folder."""
        target = self.resolve(path)
        if not target.exists():
            msg = (f"input {path} not found (looked for {target}); build or fetch it, or fix the "
                   f"path passed to evidence.input()")
            raise MissingInputError(msg)
        if target.is_dir():
            sha, size = self._hash_dir(target)
            kind = "dir"
        else:
            sha, size = self._hash_file(target)
            kind = "file"
        if self._unsaved_bytes >= _SAVE_AFTER_BYTES or self._unsaved_ns >= _SAVE_AFTER_NS:
            self.save()
        return {"path": self.display(target), "kind": kind, "sha256": sha, "bytes": size}

    def _hash_file(self, path: Path) -> tuple[str, int]:
        key = str(path)
        st = path.stat()
        stamp = _stat_key(st)
        hit = self._trusted.get(key)
        if hit and hit.get("stat") == stamp:
            return str(hit["sha256"]), st.st_size
        began = time.monotonic_ns()
        sha = sha256_file(path)
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_WINDOW_NS:
            self._entries[key] = self._trusted[key] = {"stat": stamp, "sha256": sha}
            self._dirty = True
            self._unsaved_bytes += st.st_size
            self._unsaved_ns += time.monotonic_ns() - began
        return sha, st.st_size

    def _hash_dir(self, folder: Path) -> tuple[str, int]:
        """sha256 over the sorted (relative path, file sha256) pairs; total bytes."""
        pairs: list[tuple[str, str]] = []
        total = 0
        for file in _walk_files(folder):
            sha, size = self._hash_file(file)
            pairs.append((file.relative_to(folder).as_posix(), sha))
            total += size
        digest = hashlib.sha256()
        for rel, sha in sorted(pairs):
            digest.update(f"{rel}\0{sha}\n".encode())
        return digest.hexdigest(), total

    def save(self) -> None:
        """Write new cache entries, merged with what other processes wrote meanwhile."""
        if not self._dirty or self.cache_path is None:
            return
        merged = {**self._load(), **self._entries}
        text = json.dumps({"format": _CACHE_FORMAT, "entries": merged}, sort_keys=True)
        write_atomic(self.cache_path, text.encode("utf-8"))
        self._entries = merged
        if not self.strict:
            self._trusted = merged
        self._dirty = False
        self._unsaved_bytes = self._unsaved_ns = 0


def hash_input(path: Path | str, root: Path | None = None) -> dict[str, Any]:
    """An input's ``{"path", "kind", "sha256", "bytes"}`` read from its bytes now, no cache.

    What ``falsify verify --inputs`` and the gate compare with a record's inputs; ``root``
    resolves a relative recorded path, as for :class:`InputHasher`."""
    return InputHasher(None, root=root, strict=True).hash(path)
