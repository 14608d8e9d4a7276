"""The demo's eval sets and the (model, eval set) pairs its language-model claims score.

- ``demo-eng-dev``: the shipped FLORES-200 English dev set (997 lines), held out from the demo
  model's training text (the NLLB-Seed English lines).
- ``demo-eng-4``: the first four lines of that file, written to the cache: the field's "perplexity
  on four examples" fault, used as a negative control.
- ``demo-nko-dev``: the FLORES-200 N'Ko dev set, for the resized-embedding claims.
- ``demo-<model>-eng-dev`` / ``demo-torch-eng-4``: kind ``lm-eval`` pairs of a model subject and
  an eval set, each with a ``reference`` subject holding the same weights on the other backend
  (or, for a broken load, the correct one) for agreement checks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.demo import CORPORA_DIR
from harness.workspace import SubjectSpec, Workspace

__all__ = [
    "demo_eng_4",
    "demo_eng_dev",
    "demo_mlx_eng_dev",
    "demo_nko_dev",
    "demo_torch_eng_4",
    "demo_torch_eng_dev",
    "demo_untied_head_eng_dev",
]

ENG_DEV = CORPORA_DIR / "eng_Latn.dev"
NKO_DEV = CORPORA_DIR / "nqo_Nkoo.dev"
FEW = 4


def _evalset(subject_id: str, path: Path) -> SubjectSpec:
    return SubjectSpec(subject_id, "evalset", {"path": str(path)}, "demo")


def demo_eng_dev(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _evalset("demo-eng-dev", ENG_DEV)


def demo_nko_dev(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _evalset("demo-nko-dev", NKO_DEV)


def demo_eng_4(workspace: Workspace) -> SubjectSpec:
    """The first four lines of the English dev set, as their own file (built once)."""
    head = b"".join(ENG_DEV.read_bytes().splitlines(keepends=True)[:FEW])
    key = hashlib.sha256(head).hexdigest()[:16]
    target = workspace.cache_dir / "evalsets" / f"eng_Latn.dev.first{FEW}.{key}.txt"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(head)
        tmp.replace(target)
    return _evalset("demo-eng-4", target)


def _pair(subject_id: str, model: str, evalset: str, reference: str) -> SubjectSpec:
    return SubjectSpec(subject_id, "lm-eval",
                       {"model": model, "evalset": evalset, "reference": reference}, "demo")


def demo_torch_eng_dev(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _pair("demo-torch-eng-dev", "demo-torch", "demo-eng-dev", "demo-mlx")


def demo_mlx_eng_dev(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _pair("demo-mlx-eng-dev", "demo-mlx", "demo-eng-dev", "demo-torch")


def demo_torch_eng_4(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _pair("demo-torch-eng-4", "demo-torch", "demo-eng-4", "demo-mlx")


def demo_untied_head_eng_dev(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _pair("demo-untied-head-eng-dev", "demo-untied-head", "demo-eng-dev", "demo-torch")
