"""The demo's eval sets and the (model, eval set) pairs its language-model claims score.

- ``demo-eng-dev``: the shipped FLORES-200 English dev set (997 lines), held out from the demo
  model's training text (the NLLB-Seed English lines).
- ``demo-eng-4``: the first four lines of that file, written to the cache: the field's "perplexity
  on four examples" fault, used as a negative control.
- ``demo-eng-4x30``: those four lines in 30 cosmetic variants each, written to the cache by a
  faulty "augmentation" step (``variants``): a zero-width space moved, the case changed, a
  period added. Exact deduplication keeps all 120; the near-duplicate guard finds 4 sentences.
- ``demo-nko-dev``: the FLORES-200 N'Ko dev set, for the resized-embedding claims.
- ``demo-eng-dev-contaminated``: the English dev set with one line in ten replaced by a training
  line, lightly edited (``contaminate``: a faulty step that drew eval lines from the training
  split); ``demo-*-vs-train`` pair an eval set with the demo model's training text (kind
  ``eval-vs-train``) for the contamination claim.
- ``demo-<model>-eng-dev`` / ``demo-torch-eng-4`` / ``demo-torch-eng-4x30``: kind ``lm-eval``
  pairs of a model subject and an eval set, each with a ``reference`` subject holding the same
  weights on the other backend (or, for a broken load, the correct one) for agreement checks.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from harness.demo import CORPORA_DIR
from harness.workspace import SubjectSpec, Workspace

__all__ = [
    "cached_text",
    "contaminate",
    "demo_eng_4",
    "demo_eng_4x30",
    "demo_eng_dev",
    "demo_eng_dev_contaminated",
    "demo_eng_dev_contaminated_vs_train",
    "demo_eng_dev_vs_train",
    "demo_mlx_eng_dev",
    "demo_nko_dev",
    "demo_nko_dev_vs_train",
    "demo_torch_eng_4",
    "demo_torch_eng_4x30",
    "demo_torch_eng_dev",
    "demo_untied_head_eng_dev",
    "variants",
]

ENG_DEV = CORPORA_DIR / "eng_Latn.dev"
TRAIN_TEXT = (CORPORA_DIR / "eng_Latn", CORPORA_DIR / "nqo_Nkoo")  # the demo LM's training text
CONTAMINATION_EVERY = 10  # one dev line in ten replaced by a training line
NKO_DEV = CORPORA_DIR / "nqo_Nkoo.dev"
FEW = 4
VARIANTS = 30
ZWSP = "\u200b"


def _evalset(subject_id: str, path: Path) -> SubjectSpec:
    return SubjectSpec(subject_id, "evalset", {"path": str(path)}, "demo")


def demo_eng_dev(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _evalset("demo-eng-dev", ENG_DEV)


def demo_nko_dev(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _evalset("demo-nko-dev", NKO_DEV)


def cached_text(workspace: Workspace, name: str, data: bytes) -> Path:
    """``data`` written once to the cache, under a name keyed by its sha256."""
    key = hashlib.sha256(data).hexdigest()[:16]
    target = workspace.cache_dir / "evalsets" / f"{name}.{key}.txt"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def demo_eng_4(workspace: Workspace) -> SubjectSpec:
    """The first four lines of the English dev set, as their own file (built once)."""
    head = b"".join(ENG_DEV.read_bytes().splitlines(keepends=True)[:FEW])
    return _evalset("demo-eng-4", cached_text(workspace, f"eng_Latn.dev.first{FEW}", head))


def variants(sentence: str, count: int = VARIANTS) -> list[str]:
    """The faulty step: ``count`` cosmetic copies of one sentence, each distinct byte for byte.

    Variant ``k`` combines a case (as is, lower-cased, first word upper-cased), an ending (as is,
    one more period) and a zero-width space (none, or after word 1 to 4): 3 x 2 x 5 = 30. Each
    survives NFC and whitespace cleanup as a different line, so exact dedup keeps every one.
    """
    out = []
    for k in range(count):
        case, end, zwsp = k % 3, (k // 3) % 2, (k // 6) % 5
        words = sentence.split(" ")
        if case == 1:
            words = [w.lower() for w in words]
        elif case == 2:
            words[0] = words[0].upper()
        if zwsp:
            at = min(zwsp, len(words) - 1)
            words[at - 1] += ZWSP
        out.append(" ".join(words) + ("." if end else ""))
    return out


def demo_eng_4x30(workspace: Workspace) -> SubjectSpec:
    """The first four dev sentences in 30 variants each: 120 lines, 4 sentences (built once)."""
    head = ENG_DEV.read_text("utf-8").splitlines()[:FEW]
    lines = [v for sentence in head for v in variants(sentence)]
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    name = f"eng_Latn.dev.first{FEW}x{VARIANTS}"
    return _evalset("demo-eng-4x30", cached_text(workspace, name, data))


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


def demo_torch_eng_4x30(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _pair("demo-torch-eng-4x30", "demo-torch", "demo-eng-4x30", "demo-mlx")


def demo_untied_head_eng_dev(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _pair("demo-untied-head-eng-dev", "demo-untied-head", "demo-eng-dev", "demo-torch")


# ----------------------------------------------------------------------------- contamination


def contaminate(dev: list[str], train: list[str], every: int = CONTAMINATION_EVERY,
                seed: int = 0) -> list[str]:
    """The faulty step: every ``every``-th dev line replaced by a training line of 8 words or
    more, lightly edited so that exact matching misses it (one word dropped, the next two
    swapped, the first letter's case flipped, the final period removed)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pool = [t for t in train if len(t.split()) >= 8]
    out = list(dev)
    for row in range(every // 2, len(out), every):
        words = pool[int(rng.integers(len(pool)))].split()
        drop = int(rng.integers(1, len(words) - 3))
        del words[drop]
        words[drop], words[drop + 1] = words[drop + 1], words[drop]
        words[0] = words[0][:1].swapcase() + words[0][1:]
        out[row] = " ".join(words).rstrip(".")
    return out


def demo_eng_dev_contaminated(workspace: Workspace) -> SubjectSpec:
    """Control eval set: one English dev line in ten is an edited English training line."""
    dev = ENG_DEV.read_text("utf-8").splitlines()
    train = TRAIN_TEXT[0].read_text("utf-8").splitlines()
    data = "".join(line + "\n" for line in contaminate(dev, train)).encode("utf-8")
    return _evalset("demo-eng-dev-contaminated",
                    cached_text(workspace, "eng_Latn.dev.contaminated", data))


def _vs_train(subject_id: str, evalset: str) -> SubjectSpec:
    return SubjectSpec(subject_id, "eval-vs-train",
                       {"evalset": evalset, "train": [str(p) for p in TRAIN_TEXT]}, "demo")


def demo_eng_dev_vs_train(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _vs_train("demo-eng-dev-vs-train", "demo-eng-dev")


def demo_nko_dev_vs_train(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _vs_train("demo-nko-dev-vs-train", "demo-nko-dev")


def demo_eng_dev_contaminated_vs_train(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _vs_train("demo-eng-dev-contaminated-vs-train", "demo-eng-dev-contaminated")
