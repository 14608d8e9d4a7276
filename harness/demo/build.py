"""Build the demo workspace's artifacts once, cache them by their inputs, reuse them afterwards.

Each artifact lives in ``<demo cache>/<name>-<key>`` (``Workspace.demo_dir``: shared by every
project on the machine, recorded as ``.falsify-cache/demo/...``) where the key hashes everything
the artifact depends on (corpus bytes, hyperparameters, seed, library versions, the keys of the
artifacts it is made from). An artifact is built into a temporary folder and renamed into place
when complete, under a file lock, so parallel workers (and projects) never see half an artifact
and never build one twice.
Each folder holds a ``build.json`` with what was measured while building it.

Reproducible bytes: an artifact folder is a recorded input of evidence, so two builds from the
same seeds must give the same bytes. ``build.json`` therefore holds only what the build
determines (name, key, inputs, facts); what varies from build to build (wall and CPU seconds,
the platform string, the temporary folder's path in a tool's log) goes to ``.<folder>.log.json``
beside the folder, outside what is hashed.
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

__all__ = ["BUILD_FILE", "Builder", "build_all", "build_demo", "file_digest", "library_versions",
           "read_build", "read_build_log"]

BUILD_FILE = "build.json"
# 2: build.json holds only what the build determines; the key includes this version, so
# artifacts built under version 1 (timings inside build.json) are rebuilt.
BUILD_SCHEMA_VERSION = 2

Make = Callable[[Path], Mapping[str, Any]]
# Facts that differ between two builds of the same inputs: kept out of the artifact's bytes.
VOLATILE_FACTS = frozenset({"train_seconds", "train_cpu_seconds"})


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
    blob = json.dumps({"name": name, "inputs": inputs, "build": BUILD_SCHEMA_VERSION},
                      sort_keys=True, default=str)
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
        return cls(Path(workspace.demo_dir), rebuild, progress)

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
        made = dict(make(tmp))
        volatile = {k: v for k, v in made.items() if k in VOLATILE_FACTS}
        facts = _portable(made, str(tmp), str(target))
        record = {"schema_version": BUILD_SCHEMA_VERSION, "name": name, "key": target.name,
                  "inputs": inputs,
                  "facts": {k: v for k, v in facts.items() if k not in VOLATILE_FACTS}}
        log = {"key": target.name, "seconds": round(time.perf_counter() - start, 3),
               "platform": platform.platform(), "facts": volatile}
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / BUILD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        _log_path(target).write_text(json.dumps(log, indent=2, sort_keys=True, default=str))


def _portable(value: Any, tmp: str, target: str) -> Any:
    """``value`` with the build's own folder paths written relative (``.`` for the folder)."""
    if isinstance(value, str):
        return value.replace(tmp, ".").replace(target, ".")
    if isinstance(value, Mapping):
        return {k: _portable(v, tmp, target) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_portable(v, tmp, target) for v in value]
    return value


def _log_path(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.log.json")


def read_build(folder: Path) -> dict[str, Any]:
    """The build record of an artifact folder."""
    record: dict[str, Any] = json.loads((folder / BUILD_FILE).read_text())
    return record


def read_build_log(folder: Path) -> dict[str, Any]:
    """What varied while building ``folder`` (seconds, platform, timings); {} when not kept."""
    path = _log_path(folder)
    if not path.is_file():
        return {}
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def build_demo(workspace: Any, rebuild: bool = False, progress: bool = True) -> dict[str, Path]:
    """Build (or reuse) every demo artifact; return {artifact name: folder}."""
    from tqdm import tqdm

    from harness.demo import export, finetune, lm, moe, ratings, reasoning, repairer, tokparity

    builder = Builder.for_workspace(workspace, rebuild, progress)
    steps = {**lm.ARTIFACTS, **finetune.ARTIFACTS, **moe.ARTIFACTS, **tokparity.ARTIFACTS,
             **export.ARTIFACTS, **ratings.ARTIFACTS, **reasoning.ARTIFACTS,
             **repairer.ARTIFACTS}
    out: dict[str, Path] = {}
    with tqdm(total=len(steps), desc="demo build", disable=not progress, unit="artifact") as bar:
        for name, step in steps.items():
            bar.set_postfix_str(name)
            out[name] = step(builder)
            bar.update()
    return out


def build_all(workspace: Any, progress: bool = False) -> list[str]:
    """Build every demo artifact and every demo subject's files (corpora, eval sets, bundles).

    Each demo subject's spec function builds what the subject needs into the workspace cache
    from the seeds and corpora shipped in ``harness/demo``; what is already built is reused.
    Returns the demo subject ids that were resolved.
    """
    import importlib

    from harness.demo.registry import DEMO_SUBJECTS

    build_demo(workspace, progress=progress)
    for target in DEMO_SUBJECTS.values():  # the demo's own spec, even where a config overrides
        module, _, name = target.partition(":")
        getattr(importlib.import_module(module), name)(workspace)
    return list(DEMO_SUBJECTS)
