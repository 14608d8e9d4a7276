"""Eval-set contamination: eval examples with a near duplicate in the training text.

A subject of kind ``eval-vs-train`` names an eval set subject and the training text files (one
example per line, UTF-8) that the model it evaluates was trained on::

    [tool.falsify.subjects.flores-dev-vs-train]
    kind = "eval-vs-train"
    evalset = "flores-eng-dev"                # an evalset subject
    train = ["data/train.en", "data/train.fr"]  # paths, relative to the project root

The comparison is :func:`harness.metrics.dedup.cross_duplicates`: the same canonical form,
character 5-gram shingles, MinHash LSH (datasketch) and exact-Jaccard confirmation as the eval-set
near-duplicate guard, at the claim's threshold. A match names the training file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.workspace import SubjectSpec, Workspace, WorkspaceError

__all__ = ["EvalVsTrain", "TrainLine", "load_eval_vs_train"]


@dataclass(frozen=True)
class TrainLine:
    path: Path
    line: int  # 1-based
    text: str


@dataclass(frozen=True)
class EvalVsTrain:
    """An eval set and the training text it must not overlap."""

    id: str
    evalset_id: str
    train_paths: tuple[Path, ...]
    workspace: Workspace

    @property
    def evalset(self) -> Any:
        return self.workspace.resolve(self.evalset_id)

    def train_lines(self) -> list[TrainLine]:
        """Every non-blank line of every training file; a file that is missing or not UTF-8 is
        an error naming it (and the line)."""
        out = []
        for path in self.train_paths:
            try:
                raw = path.read_bytes()
            except OSError as exc:
                msg = f"eval-vs-train {self.id!r}: cannot read training text {path}: {exc}"
                raise WorkspaceError(msg) from exc
            for number, line in enumerate(raw.split(b"\n"), start=1):
                try:
                    text = line.decode("utf-8").strip()
                except UnicodeDecodeError as exc:
                    msg = (f"{path}:{number}: not UTF-8 ({exc.reason} at byte {exc.start}); "
                           f"re-encode the training text as UTF-8")
                    raise WorkspaceError(msg) from exc
                if text:
                    out.append(TrainLine(path, number, text))
        if not out:
            msg = f"eval-vs-train {self.id!r}: the training files hold no text: {self.train_paths}"
            raise WorkspaceError(msg)
        return out


def load_eval_vs_train(spec: SubjectSpec, workspace: Workspace) -> EvalVsTrain:
    """Workspace loader for ``kind = "eval-vs-train"``: options ``evalset`` and ``train``."""
    where = spec.where(workspace)
    evalset = spec.options.get("evalset")
    if not isinstance(evalset, str) or not evalset:
        msg = f"{where}: an eval-vs-train subject needs evalset = \"<evalset subject id>\""
        raise WorkspaceError(msg)
    train = spec.options.get("train")
    if isinstance(train, str):
        train = [train]
    if not isinstance(train, list) or not train or not all(
            isinstance(p, str) and p for p in train):
        msg = (f"{where}: train must be a training text file or a list of them (one example per "
               f"line), got {train!r}")
        raise WorkspaceError(msg)
    paths = tuple(p if p.is_absolute() else workspace.root / p for p in map(Path, train))
    return EvalVsTrain(spec.id, evalset, paths, workspace)
