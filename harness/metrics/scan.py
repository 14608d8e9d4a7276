"""The brain scan: a base model and its fine-tuned copy compared layer by layer on real text.

A subject of kind ``finetune-pair`` names two model subjects (``base``, ``tuned``), the eval sets
to scan them on (``english``, ``nko``: evalset subject ids) and, optionally, the layers the
fine-tune adapted (``adapted_layers``). Without that option the tuned folder's ``finetune.json``
(written by the demo's fine-tunes) or a PEFT ``adapter_config.json`` (``layers_to_transform``)
says which; with neither, the claims that need it are an ERROR that says what to add.

Config form::

    [tool.falsify.subjects.my-nko-finetune]
    kind = "finetune-pair"
    base = "qwen-8b"              # model subjects, same tokenizer
    tuned = "qwen-8b-nko"
    english = "flores-eng-dev"    # evalset subjects
    nko = "flores-nko-dev"
    adapted_layers = [28, 29, 30, 31, 32, 33, 34, 35]
    max_examples = 500            # optional: scan the first 500 examples of each set

The scan runs both models over the same token ids (right-padded batches, real positions only)
through :meth:`LiveModel.hidden_states` (forward hooks in torch, a recording wrapper per block in
MLX) and reduces each block's output per token: the mean L2 norm, the fraction of near-zero
activations (``|h| < threshold``, absolute, stated by the claim), and the mean L2 norm of the
change ``h_tuned - h_base`` relative to the base's mean norm (the shift). Nothing of the hidden
states is kept beyond the running sums, so memory stays one batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.workspace import SubjectSpec, Workspace, WorkspaceError

__all__ = ["FineTunePair", "LayerScan", "ScanError", "adapted_layers_of", "load_finetune_pair",
           "scan_layers"]

FT_FILE = "finetune.json"
PEFT_FILE = "adapter_config.json"


class ScanError(ValueError):
    """The pair cannot be scanned: the message names the subject or file and the fix."""


@dataclass(frozen=True)
class FineTunePair:
    """A base model, its fine-tuned copy, and the eval sets to compare them on."""

    id: str
    base_id: str
    tuned_id: str
    english_id: str
    nko_id: str
    declared_layers: tuple[int, ...] | None
    workspace: Workspace
    max_examples: int | None = None  # scan only the first N examples of each eval set

    def texts(self, which: str) -> list[str]:
        """The examples of the ``english`` or ``nko`` eval set that the scan reads."""
        texts = list(self.evalset(which).texts)
        return texts if self.max_examples is None else texts[: self.max_examples]

    @property
    def base(self) -> Any:
        return self.workspace.resolve(self.base_id)

    @property
    def tuned(self) -> Any:
        return self.workspace.resolve(self.tuned_id)

    def evalset(self, which: str) -> Any:
        return self.workspace.resolve(self.english_id if which == "english" else self.nko_id)

    def adapted_layers(self) -> tuple[int, ...]:
        """The layers the fine-tune could change: the subject's option, else the tuned folder's."""
        if self.declared_layers is not None:
            return self.declared_layers
        return adapted_layers_of(self.tuned.path, self.id)


def adapted_layers_of(folder: Any, subject_id: str) -> tuple[int, ...]:
    """Adapted layers from ``finetune.json`` or a PEFT ``adapter_config.json`` in ``folder``."""
    for name, key in ((FT_FILE, "adapted_layers"), (PEFT_FILE, "layers_to_transform")):
        path = folder / name
        if not path.is_file():
            continue
        try:
            value = json.loads(path.read_text(encoding="utf-8")).get(key)
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            msg = f"{path}: not a JSON object ({exc}); rewrite it or set adapted_layers"
            raise ScanError(msg) from exc
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list) and value and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            return tuple(sorted(set(value)))
        msg = f"{path}: {key!r} must be a non-empty list of layer indexes, got {value!r}"
        raise ScanError(msg)
    msg = (f"finetune-pair {subject_id!r}: the tuned model's folder {folder} has no {FT_FILE} or "
           f"{PEFT_FILE} saying which layers the fine-tune adapted; set adapted_layers = [...] "
           f"in the subject")
    raise ScanError(msg)


def load_finetune_pair(spec: SubjectSpec, workspace: Workspace) -> FineTunePair:
    """Workspace loader for ``kind = "finetune-pair"``."""
    where = spec.where(workspace)
    ids = {}
    for key in ("base", "tuned", "english", "nko"):
        value = spec.options.get(key)
        if not isinstance(value, str) or not value:
            msg = (f"{where}: a finetune-pair needs {key} = \"<subject id>\" (base, tuned: model "
                   f"subjects; english, nko: evalset subjects), got {value!r}")
            raise WorkspaceError(msg)
        ids[key] = value
    layers = spec.options.get("adapted_layers")
    declared: tuple[int, ...] | None = None
    if layers is not None:
        ok = isinstance(layers, list) and layers and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in layers)
        if not ok:
            msg = (f"{where}: adapted_layers must be a non-empty list of layer indexes "
                   f"(0 is the first decoder block), got {layers!r}")
            raise WorkspaceError(msg)
        declared = tuple(sorted(set(layers)))
    limit = spec.options.get("max_examples")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        msg = f"{where}: max_examples must be a positive whole number, got {limit!r}"
        raise WorkspaceError(msg)
    return FineTunePair(spec.id, ids["base"], ids["tuned"], ids["english"], ids["nko"], declared,
                        workspace, limit)


@dataclass(frozen=True)
class LayerScan:
    """Per decoder block (index 0 = the first block's output): both models' statistics and the
    change between them, over ``n_tokens`` real token positions. ``embedding_*`` is the same for
    the embedding output (the first block's input)."""

    l2_base: np.ndarray
    l2_tuned: np.ndarray
    sparsity_base: np.ndarray
    sparsity_tuned: np.ndarray
    shift: np.ndarray  # mean ||h_tuned - h_base|| per token
    embedding_shift: float
    n_tokens: int
    n_examples: int

    @property
    def delta_l2(self) -> np.ndarray:
        out: np.ndarray = self.l2_tuned - self.l2_base
        return out

    @property
    def rel_shift(self) -> np.ndarray:
        out: np.ndarray = self.shift / np.maximum(self.l2_base, np.finfo(np.float64).tiny)
        return out

    @property
    def n_layers(self) -> int:
        return len(self.l2_base)


def _same_ids(base: Any, tuned: Any, texts: Sequence[str], pair_id: str) -> list[list[int]]:
    rows = []
    for i, text in enumerate(texts):
        a, b = list(base.encode(text)), list(tuned.encode(text))
        if a != b:
            msg = (f"finetune-pair {pair_id!r}: base and tuned tokenize example {i} "
                   f"({text[:40]!r}) differently; a layer-by-layer comparison needs the same "
                   f"token ids: give both models the same tokenizer")
            raise ScanError(msg)
        if a:
            rows.append(a)
    return rows


def _batches(rows: list[list[int]], size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # similar lengths pad little
    for start in range(0, len(order), size):
        chunk = [rows[i] for i in order[start:start + size]]
        width = max(len(r) for r in chunk)
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=bool)
        for r, row in enumerate(chunk):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = True
        yield ids, mask


def scan_layers(base: Any, tuned: Any, texts: Sequence[str], *, threshold: float,
                pair_id: str = "?", batch_size: int = 32, max_len: int = 512) -> LayerScan:
    """Compare ``base`` and ``tuned`` block by block on ``texts`` (each example at most
    ``max_len`` tokens; longer ones are cut there, the same for both models)."""
    rows = [r[:max_len] for r in _same_ids(base, tuned, texts, pair_id)]
    if not rows:
        msg = f"finetune-pair {pair_id!r}: the eval set has no example with any token to scan"
        raise ScanError(msg)
    sums: dict[str, np.ndarray] | None = None
    n_tokens = 0
    for ids, mask in _batches(rows, batch_size):
        hb, ht = base.hidden_states(ids), tuned.hidden_states(ids)
        if len(hb) != len(ht):
            msg = (f"finetune-pair {pair_id!r}: base has {len(hb) - 1} blocks, tuned "
                   f"{len(ht) - 1}; a scan compares copies of one architecture")
            raise ScanError(msg)
        if sums is None:
            sums = {k: np.zeros(len(hb)) for k in ("l2b", "l2t", "zb", "zt", "shift")}
        for layer, (b, t) in enumerate(zip(hb, ht, strict=True)):
            b64, t64 = b[mask].astype(np.float64), t[mask].astype(np.float64)
            if not (np.isfinite(b64).all() and np.isfinite(t64).all()):
                msg = (f"finetune-pair {pair_id!r}: non-finite hidden states at "
                       f"{'the embedding' if layer == 0 else f'block {layer - 1}'}; the weights "
                       f"or the dtype are broken, no profile can be measured")
                raise ScanError(msg)
            sums["l2b"][layer] += np.linalg.norm(b64, axis=-1).sum()
            sums["l2t"][layer] += np.linalg.norm(t64, axis=-1).sum()
            sums["zb"][layer] += (np.abs(b64) < threshold).mean(axis=-1).sum()
            sums["zt"][layer] += (np.abs(t64) < threshold).mean(axis=-1).sum()
            sums["shift"][layer] += np.linalg.norm(t64 - b64, axis=-1).sum()
        n_tokens += int(mask.sum())
    assert sums is not None  # rows is not empty
    mean = {k: v / n_tokens for k, v in sums.items()}
    return LayerScan(l2_base=mean["l2b"][1:], l2_tuned=mean["l2t"][1:],
                     sparsity_base=mean["zb"][1:], sparsity_tuned=mean["zt"][1:],
                     shift=mean["shift"][1:],
                     embedding_shift=float(mean["shift"][0] / max(mean["l2b"][0], 1e-300)),
                     n_tokens=n_tokens, n_examples=len(rows))
