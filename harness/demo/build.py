"""Build the demo workspace's artifacts once, cache them by their inputs, reuse them afterwards.

Each artifact lives in ``<cache>/demo/<name>-<key>`` where the key hashes everything the artifact
depends on (corpus bytes, hyperparameters, seed, library versions, the keys of the artifacts it
is made from). An artifact is built into a temporary folder and renamed into place when complete,
under a file lock, so parallel workers never see half an artifact and never build one twice.
Each folder holds a ``build.json`` with what was measured while building it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import platform
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["BUILD_FILE", "Builder", "build_demo", "file_digest", "library_versions", "read_build"]

BUILD_FILE = "build.json"
BUILD_SCHEMA_VERSION = 1

Make = Callable[[Path], Mapping[str, Any]]


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def library_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (without importing them)."""
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def _key(name: str, inputs: Mapping[str, Any]) -> str:
    blob = json.dumps({"name": name, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class Builder:
    """Builds artifacts into ``root``; with ``rebuild`` each one is rebuilt once by this builder."""

    root: Path
    rebuild: bool = False
    progress: bool = False
    built: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def for_workspace(cls, workspace: Any, rebuild: bool = False,
                      progress: bool = False) -> Builder:
        return cls(Path(workspace.cache_dir) / "demo", rebuild, progress)

    def artifact(self, name: str, inputs: Mapping[str, Any], make: Make) -> Path:
        """The folder of artifact ``name`` built from ``inputs`` by ``make(folder)``."""
        target = self.root / f"{name}-{_key(name, inputs)}"
        if target.name in self.built:
            return target
        with _locked(self.root / f".{target.name}.lock"):
            fresh = (target / BUILD_FILE).is_file() and not self.rebuild
            if not fresh:
                self._make(target, name, inputs, make)
        self.built[target.name] = target
        return target

    def _make(self, target: Path, name: str, inputs: Mapping[str, Any], make: Make) -> None:
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        start = time.perf_counter()
        facts = dict(make(tmp))
        record = {"schema_version": BUILD_SCHEMA_VERSION, "name": name, "key": target.name,
                  "inputs": inputs, "seconds": round(time.perf_counter() - start, 3),
                  "platform": platform.platform(), "facts": facts}
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / BUILD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)


def read_build(folder: Path) -> dict[str, Any]:
    """The build record of an artifact folder."""
    record: dict[str, Any] = json.loads((folder / BUILD_FILE).read_text())
    return record


def build_demo(workspace: Any, rebuild: bool = False, progress: bool = True) -> dict[str, Path]:
    """Build (or reuse) every demo artifact; return {artifact name: folder}."""
    from tqdm import tqdm

    from harness.demo import lm

    builder = Builder.for_workspace(workspace, rebuild, progress)
    steps = lm.ARTIFACTS
    out: dict[str, Path] = {}
    with tqdm(total=len(steps), desc="demo build", disable=not progress, unit="artifact") as bar:
        for name, step in steps.items():
            bar.set_postfix_str(name)
            out[name] = step(builder)
            bar.update()
    return out
