"""Code identity of evidence: which falsifier code and which harness code made a record.

A record's ``provenance["code"]`` is::

    {"falsifier": [{"path": "falsifiers/test_lm.py", "sha256": "…"}, …],
     "harness": {"version": "0.1.0", "sha256": "…"}}

``falsifier`` lists the test function's own module first, then the other source files it rests
on: every ``conftest.py`` from the module's folder up to the workspace root (they hold its
fixtures) and the modules under the falsifiers folder that its source (or theirs, transitively)
imports, found by reading the import statements and looking the names up among loaded modules.
Paths are relative to the workspace root when under it; a library falsifier of an installed
falsify is written ``harness/library/falsifiers/<area>.py`` as in a source checkout.
``harness`` is the package version and the sha256 of the package's files (version strings are
not code identity: ``0.1.0`` stays ``0.1.0`` across a hundred commits).

Readers (``harness.ledger.staleness``) compare a record's falsifier files with the files now: a
changed one makes the evidence STALE; a changed harness is drift, shown but not stale.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.provenance import sha256_file

__all__ = ["CodeNow", "falsifier_sources", "harness_identity", "record_code"]


def _package_files(package: Path) -> Iterable[Path]:
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


@cache
def harness_identity() -> dict[str, str]:
    """``{"version", "sha256"}`` of the harness package this process imported (once per process).

    The sha256 is over the sorted ``relative path \\0 file sha256`` lines of every file in the
    package folder (sources, templates, schemas, the demo corpora), caches excluded."""
    import harness

    package = Path(harness.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in _package_files(package):
        digest.update(f"{path.relative_to(package).as_posix()}\0{sha256_file(path)}\n".encode())
    return {"version": harness.__version__, "sha256": digest.hexdigest()}


def _package_parent() -> Path:
    import harness

    return Path(harness.__file__).resolve().parent.parent


def _display(path: Path, root: Path) -> str:
    """A recorded path: relative to the root when under it; a library falsifier of an installed
    falsify as ``harness/library/...`` (the same path as in a source checkout); else absolute."""
    if path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    if path.is_relative_to(_package_parent() / "harness"):
        return path.relative_to(_package_parent()).as_posix()
    return str(path)


def _file_of(module: ModuleType | None) -> Path | None:
    name = getattr(module, "__file__", None)
    return Path(name).resolve() if name else None


def _imported(path: Path, package: str | None) -> set[str]:
    """Every module name the source at ``path`` imports, anywhere in it (inside functions too),
    relative imports resolved against ``package``; for ``from m import x`` also ``m.x``."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                try:
                    base = importlib.util.resolve_name("." * node.level + base, package)
                except (ImportError, ValueError):
                    continue
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _used_modules(module: ModuleType, within: Path) -> dict[Path, ModuleType]:
    """The loaded modules under ``within`` that ``module``'s source imports (by name, so an
    imported constant counts as much as a function)."""
    own = _file_of(module)
    if own is None:
        return {}
    found: dict[Path, ModuleType] = {}
    for name in _imported(own, module.__package__):
        loaded = sys.modules.get(name)
        path = _file_of(loaded)
        if loaded is not None and path is not None and path.is_relative_to(within):
            found[path] = loaded
    return found


def _conftests(module_file: Path, root: Path) -> list[Path]:
    out = []
    folder = module_file.parent
    while True:
        if (folder / "conftest.py").is_file():
            out.append(folder / "conftest.py")
        if folder == root or folder == folder.parent or not folder.is_relative_to(root):
            return out
        folder = folder.parent


def falsifier_sources(module: ModuleType, falsifiers_dir: Path, root: Path) -> list[Path]:
    """The test module's file, then the conftests and falsifiers-folder modules it rests on."""
    own = _file_of(module)
    if own is None:
        msg = f"test module {module.__name__} has no source file; cannot record its sha256"
        raise ValueError(msg)
    within = falsifiers_dir.resolve()
    seen, todo = {own}, [module]
    while todo:
        for path, used in _used_modules(todo.pop(), within).items():
            if path not in seen:
                seen.add(path)
                todo.append(used)
    helpers = (seen - {own}) | set(_conftests(own, root.resolve()))
    return [own, *sorted(helpers - {own})]


def record_code(module: ModuleType, falsifiers_dir: Path, root: Path) -> dict[str, Any]:
    """The ``provenance["code"]`` object for a record made by a test in ``module``."""
    root = root.resolve()
    files = [{"path": _display(p, root), "sha256": sha256_file(p)}
             for p in falsifier_sources(module, falsifiers_dir, root)]
    return {"falsifier": files, "harness": harness_identity()}


class CodeNow:
    """The code as it is now, for staleness: a recorded falsifier path's sha256 (None when the
    file is gone), and this process's harness identity. Each file is read once.

    For records made before code identity was recorded, :meth:`sha256_at` reads a file as it
    was at the record's git commit, from the repository's object store."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._files: dict[str, str | None] = {}
        self._at: dict[tuple[str, str], str | None] = {}
        self._repo: Any = None

    def sha256(self, path: str) -> str | None:
        if path not in self._files:
            target = Path(path) if Path(path).is_absolute() else self.root / path
            if not target.is_file() and path.startswith("harness/"):  # an installed library
                target = _package_parent() / path
            self._files[path] = sha256_file(target) if target.is_file() else None
        return self._files[path]

    @property
    def harness(self) -> dict[str, str]:
        return harness_identity()

    def sha256_at(self, commit: str, path: str) -> str | None:
        """sha256 of ``path`` (relative to the root) at git ``commit``; None when that cannot be
        read here: no repository, a commit this clone lacks, no such file at the commit."""
        key = (commit, path)
        if key not in self._at:
            self._at[key] = self._read_at(commit, path)
        return self._at[key]

    def _read_at(self, commit: str, path: str) -> str | None:
        import git

        try:
            if self._repo is None:
                self._repo = git.Repo(self.root, search_parent_directories=True)
            top = Path(str(self._repo.working_tree_dir)).resolve()
            rel = (self.root / path).resolve().relative_to(top).as_posix()
            blob = self._repo.commit(commit).tree / rel
            return hashlib.sha256(blob.data_stream.read()).hexdigest()
        except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.BadName, git.BadObject,
                git.GitCommandError, KeyError, ValueError):
            return None

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None
