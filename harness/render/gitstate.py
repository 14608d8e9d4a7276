"""The contracts and the ledger as they were at a git ref, read from the object store.

Nothing is checked out: the blobs under the ledger folder and the contracts folder at the ref's
tree are read with GitPython and written into a private temporary folder, where the ordinary
:class:`~harness.ledger.Ledger` and :func:`~harness.contracts.load_contracts` read them. Reading
the past therefore follows exactly the rules of reading the present (ordering, amendments,
refusal of a corrupt line), with no second parser to drift from the first.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harness.contracts import ContractError, ContractSet, load_contracts
from harness.ledger import SEGMENT_SUFFIX, Ledger

__all__ = ["GitStateError", "Snapshot", "sha256s_at", "snapshot_at"]


class GitStateError(ValueError):
    """The repository or the ref cannot be read: names it and the fix."""


@dataclass
class Snapshot:
    """The state at ``ref``; ``problems`` says what could not be read (e.g. broken contracts)."""

    ref: str
    commit: str
    contracts: ContractSet
    ledger: Ledger
    problems: list[str] = field(default_factory=list)
    _tmp: Any = None

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _repo(root: Path) -> Any:
    import git

    try:
        return git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        msg = f"{root} is not inside a git repository; `falsify pr` compares against a git ref"
        raise GitStateError(msg) from None


def _commit(repo: Any, ref: str) -> Any:
    import git

    try:
        return repo.commit(ref)
    except (git.BadName, git.BadObject, ValueError):
        msg = (f"unknown git ref {ref!r}; fetch it first (e.g. `git fetch origin main`) and pass "
               f"--base origin/main")
        raise GitStateError(msg) from None


def _tree_path(repo: Any, folder: Path) -> str:
    top = Path(repo.working_tree_dir).resolve()
    try:
        return PurePosixPath(folder.resolve().relative_to(top)).as_posix()
    except ValueError:
        msg = f"{folder} is outside the repository at {top}; falsify pr reads only tracked folders"
        raise GitStateError(msg) from None


def files_at(repo: Any, commit: Any, folder: Path, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    """Name -> bytes of the files directly in ``folder`` at ``commit`` ending in ``suffixes``."""
    try:
        tree = commit.tree / _tree_path(repo, folder)
    except KeyError:
        return {}
    return {blob.name: blob.data_stream.read() for blob in tree.blobs
            if blob.name.endswith(suffixes)}


def _materialize(files: dict[str, bytes], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _contracts_from(folder: Path, ref: str) -> tuple[ContractSet, list[str]]:
    if not any(folder.iterdir()):
        return ContractSet({}, {}, {}), []
    try:
        return load_contracts(folder), []
    except ContractError as exc:
        return ContractSet({}, {}, {}), [f"the contracts at {ref} do not load: {p}"
                                         for p in exc.problems]


def snapshot_at(root: Path, ref: str, contracts_dir: Path, ledger_dir: Path) -> Snapshot:
    """The contracts and the ledger at ``ref`` (close() the snapshot when done)."""
    repo = _repo(root)
    with repo:
        commit = _commit(repo, ref)
        contracts = files_at(repo, commit, contracts_dir, (".yaml", ".yml"))
        segments = files_at(repo, commit, ledger_dir, (SEGMENT_SUFFIX,))
        sha = str(commit.hexsha)
    tmp = tempfile.TemporaryDirectory(prefix="falsify-pr-")
    base = Path(tmp.name)
    contract_set, problems = _contracts_from(_materialize(contracts, base / "contracts"), ref)
    ledger = Ledger(_materialize(segments, base / "ledger"))
    return Snapshot(ref, sha, contract_set, ledger, problems, tmp)


def sha256s_at(root: Path, ref: str, paths: Iterable[Path]) -> dict[Path, str | None]:
    """The sha256 of each file's bytes at ``ref`` (None where the ref has no such file, or the
    file is outside the repository), read from the object store like the rest of the past."""
    repo = _repo(root)
    out: dict[Path, str | None] = {}
    with repo:
        commit = _commit(repo, ref)
        for path in paths:
            try:
                blob = commit.tree / _tree_path(repo, path)
                out[path] = hashlib.sha256(blob.data_stream.read()).hexdigest()
            except (KeyError, GitStateError):
                out[path] = None
    return out
