"""Language-model metrics: eval sets, token-weighted NLL, perplexity and bits per byte.

Everything here works on the numpy arrays the model protocol (:mod:`harness.models`) returns, so
this module imports without torch or mlx. The log-probabilities themselves are computed inside
the model's framework (``model.token_nll``); this module decides *which* tokens are scored, with
how much context, and adds them up in float64.

Conventions, stated once:

- Eval sets (one example per line, or JSON Lines) are read by :mod:`harness.metrics.evalset`:
  NFC-normalised, whitespace runs collapsed, blank examples dropped, exact duplicates removed.
- Each example is scored on its own. It is encoded without special tokens and prefixed with the
  model's BOS id, or its EOS id when it has no BOS (the GPT-2/Qwen convention: EOS separates
  documents, so it is the natural "start of text" context). The prefix is context only; every
  real token of the example, the first included, is predicted exactly once. No EOS is appended,
  so the end of an example is not scored.
- Perplexity is token-weighted: ``exp(total NLL / total predicted tokens)`` over the whole set,
  never a mean of per-example perplexities (which over-weights short, surprising examples).
- Bits per byte divide the same total NLL (in bits) by the UTF-8 bytes of the scored text, which
  makes models with different tokenizers comparable.
- An example longer than ``max_len`` tokens is scored with the strided sliding window of the
  transformers documentation ("Perplexity of fixed-length models"): windows of ``max_len``
  tokens start every ``stride`` tokens; each window scores only the tokens the previous window
  did not reach, so every token is scored once, with at least ``max_len - stride`` tokens of
  context once the first window is past.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from harness.keywords import paired
from harness.metrics.evalset import (  # re-exported: falsifiers import eval sets from here
    EvalSet,
    EvalSetError,
    duplicate_count,
    load_evalset,
    normalise_text,
    read_evalset,
)

if TYPE_CHECKING:
    from harness.workspace import SubjectSpec, Workspace

__all__ = [
    "AddedVocab",
    "EvalSet",
    "EvalSetError",
    "LmEval",
    "NllStats",
    "NonFiniteNllError",
    "RowDistances",
    "ScoringModel",
    "Window",
    "added_vocabulary",
    "duplicate_count",
    "evalset_nll",
    "finite_fraction",
    "load_evalset",
    "load_lm_eval",
    "max_abs_difference",
    "max_positions",
    "new_row_distances",
    "normalise_text",
    "quantization_step",
    "read_evalset",
    "relative_difference",
    "save_and_reload",
    "sliding_windows",
    "token_nll_stats",
]

LN2 = math.log(2.0)


class NonFiniteNllError(ValueError):
    """The model produced a NaN or infinite NLL: the measurement is void (verdict ERROR)."""


# --------------------------------------------------------------------------------------------
# Model + eval set pairs (kind "lm-eval")


@dataclass(frozen=True)
class LmEval:
    """A model scored on an eval set, optionally beside a reference model.

    A claim about "the perplexity of model M on set S" needs both; a negative control such as
    "the same model on four examples" is then just another pair. ``reference`` names the same
    weights on another backend (or a trusted load of them), for agreement checks. The parts are
    resolved through the workspace on first use, so a pair costs nothing until it is scored.
    """

    id: str
    model_id: str
    evalset_id: str
    reference_id: str | None
    workspace: Workspace

    @property
    def model(self) -> Any:
        return self.workspace.resolve(self.model_id)

    @property
    def evalset(self) -> EvalSet:
        evalset = self.workspace.resolve(self.evalset_id)
        if not isinstance(evalset, EvalSet):
            msg = (f"lm-eval subject {self.id!r}: evalset {self.evalset_id!r} is a "
                   f"{type(evalset).__name__}, not an eval set; name a subject of kind evalset")
            raise EvalSetError(msg)
        return evalset

    @property
    def reference(self) -> Any | None:
        return None if self.reference_id is None else self.workspace.resolve(self.reference_id)


def load_lm_eval(spec: SubjectSpec, workspace: Workspace) -> LmEval:
    """Workspace loader for ``kind = "lm-eval"``: options ``model``, ``evalset``, ``reference``.

    Each option is the id of another subject of the same workspace (``reference`` optional).
    """
    where = spec.where(workspace)
    ids: dict[str, str | None] = {}
    for key in ("model", "evalset", "reference"):
        value = spec.options.get(key)
        if value is not None and not isinstance(value, str):
            msg = f"{where}: {key!r} must be a subject id string, got {value!r}"
            raise EvalSetError(msg)
        ids[key] = value
    model_id, evalset_id = ids["model"], ids["evalset"]
    if model_id is None or evalset_id is None:
        msg = (f"{where}: an lm-eval subject needs model = \"<model subject id>\" and "
               f"evalset = \"<evalset subject id>\"")
        raise EvalSetError(msg)
    return LmEval(spec.id, model_id, evalset_id, ids["reference"], workspace)


# --------------------------------------------------------------------------------------------
# Token NLL


class ScoringModel(Protocol):
    """The part of :class:`harness.models.LiveModel` that scoring needs."""

    @property
    def path(self) -> Path: ...

    @property
    def bos_id(self) -> int | None: ...

    @property
    def eos_id(self) -> int | None: ...

    def encode(self, text: str) -> list[int]: ...

    def token_nll(self, ids: npt.NDArray[np.int64],
                  mask: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True)
class NllStats:
    """Token-weighted NLL over a set of examples.

    Fields:
        total_nll: sum of the NLL of every predicted token, in nats.
        n_tokens: predicted (scored) tokens.
        n_bytes: UTF-8 bytes of the scored text.
        n_examples: examples scored.
        n_windows: model calls' rows (one per example, more for examples longer than max_len).
    """

    total_nll: float
    n_tokens: int
    n_bytes: int
    n_examples: int
    n_windows: int

    @property
    def mean_nll(self) -> float:
        """Nats per predicted token: total NLL over total tokens (token-weighted)."""
        return self.total_nll / self.n_tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean_nll)

    @property
    def bits_per_token(self) -> float:
        return self.mean_nll / LN2

    @property
    def bits_per_byte(self) -> float:
        return self.total_nll / LN2 / self.n_bytes


@dataclass(frozen=True)
class Window:
    """One model call's row: tokens ``seq[begin:end]``, scoring global positions ``[first, end)``.

    Output index ``j`` of ``token_nll`` on the row predicts row position ``j + 1``, i.e. global
    position ``begin + j + 1``; the scored outputs are ``[first - begin - 1, end - begin - 1)``.
    """

    example: int
    begin: int
    end: int
    first: int


def sliding_windows(length: int, max_len: int, stride: int, example: int = 0) -> list[Window]:
    """Windows over a sequence of ``length`` tokens whose position 0 is context only.

    The transformers-docs recipe: a window of up to ``max_len`` tokens starts every ``stride``
    tokens and scores the tokens past the previous window's end, so positions ``1 .. length-1``
    are each scored exactly once.
    """
    if max_len < 2:
        msg = f"max_len must be at least 2 tokens (one context, one predicted), got {max_len}"
        raise ValueError(msg)
    if not 1 <= stride < max_len:
        msg = (f"stride must be in [1, max_len - 1] = [1, {max_len - 1}] so that every window "
               f"keeps context for the tokens it scores, got {stride}")
        raise ValueError(msg)
    windows: list[Window] = []
    prev_end = 1  # position 0 (the BOS/EOS prefix) is never a target
    for begin in range(0, max(length - 1, 0), stride):
        end = min(begin + max_len, length)
        windows.append(Window(example, begin, end, prev_end))
        prev_end = end
        if end == length:
            break
    return windows


def _prefix_id(model: ScoringModel) -> int | None:
    return model.bos_id if model.bos_id is not None else model.eos_id


def _encode_examples(model: ScoringModel, texts: Sequence[str]) -> list[list[int]]:
    prefix = _prefix_id(model)
    sequences = []
    for text in texts:
        ids = list(model.encode(text))
        if prefix is not None and (not ids or ids[0] != prefix):
            ids.insert(0, prefix)
        sequences.append(ids)
    return sequences


def token_nll_stats(model: ScoringModel, texts: Sequence[str], max_len: int,
                    stride: int | None = None, batch_size: int = 32) -> NllStats:
    """Token-weighted NLL of ``model`` over ``texts`` (see the module docstring for the rules).

    ``max_len`` is the longest row the model is given (at most its max positions); ``stride``
    defaults to ``max_len // 2``. Rows are sorted by length and batched ``batch_size`` at a time
    with right padding, so padding never reaches a scored position under causal attention.
    Raises :class:`NonFiniteNllError` when any scored token's NLL is NaN or infinite.
    """
    if not texts:
        msg = "no texts to score; the eval set is empty"
        raise ValueError(msg)
    if batch_size < 1:
        msg = f"batch_size must be at least 1, got {batch_size}"
        raise ValueError(msg)
    step = max_len // 2 if stride is None else stride
    sequences = _encode_examples(model, texts)
    windows = [w for i, seq in enumerate(sequences)
               for w in sliding_windows(len(seq), max_len, step, i)]
    windows.sort(key=lambda w: w.end - w.begin, reverse=True)
    total = 0.0
    n_tokens = 0
    for start in range(0, len(windows), batch_size):
        batch = windows[start:start + batch_size]
        batch_total, batch_tokens = _score_batch(model, sequences, batch, texts)
        total += batch_total
        n_tokens += batch_tokens
    if n_tokens == 0:
        msg = f"no token was scored: every example encodes to nothing with {model.path}"
        raise ValueError(msg)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return NllStats(total, n_tokens, n_bytes, len(texts), len(windows))


def evalset_nll(model: Any, evalset: EvalSet, batch_size: int = 32) -> NllStats:
    """:func:`token_nll_stats` of ``model`` on every example of ``evalset``, with windows as long
    as the model's max positions and half that stride."""
    return token_nll_stats(model, evalset.texts, max_positions(model), batch_size=batch_size)


def _score_batch(model: ScoringModel, sequences: Sequence[Sequence[int]],
                 batch: Sequence[Window], texts: Sequence[str]) -> tuple[float, int]:
    width = max(w.end - w.begin for w in batch)
    pad = _prefix_id(model) or 0
    ids = np.full((len(batch), width), pad, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.bool_)
    scored = np.zeros((len(batch), width - 1), dtype=np.bool_)
    for row, w in enumerate(batch):
        ids[row, : w.end - w.begin] = sequences[w.example][w.begin:w.end]
        mask[row, : w.end - w.begin] = True
        scored[row, w.first - w.begin - 1: w.end - w.begin - 1] = True
    nll = np.asarray(model.token_nll(ids, mask), dtype=np.float64)
    if nll.shape != scored.shape:
        msg = (f"{model.path}: token_nll returned shape {nll.shape} for ids of shape "
               f"{ids.shape}; expected {scored.shape} (one NLL per predicted position)")
        raise ValueError(msg)
    values = nll[scored]
    if not np.isfinite(values).all():
        _raise_non_finite(model, batch, nll, scored, texts)
    return float(values.sum()), int(values.size)


def _raise_non_finite(model: ScoringModel, batch: Sequence[Window],
                      nll: npt.NDArray[np.float64], scored: npt.NDArray[np.bool_],
                      texts: Sequence[str]) -> None:
    bad_rows = [row for row in range(len(batch))
                if not np.isfinite(nll[row][scored[row]]).all()]
    first = batch[bad_rows[0]]
    n_bad = int((~np.isfinite(nll[scored])).sum())
    msg = (f"{model.path}: {n_bad} scored token NLL(s) are NaN or infinite in this batch "
           f"(first: example {first.example}, {texts[first.example][:60]!r}); the model's "
           f"weights or logits are broken, so no loss or perplexity can be measured; check the "
           f"checkpoint for NaN/inf weights and the dtype (fp16 overflow)")
    raise NonFiniteNllError(msg)


# --------------------------------------------------------------------------------------------
# Added vocabulary (resized embeddings)


@dataclass(frozen=True)
class AddedVocab:
    """The non-special tokens added to a model's tokenizer, and how the tokenizer without them
    (the one the model was trained with) splits each.

    Fields:
        path: the tokenizer.json read.
        tokens: the added tokens' text, by id.
        ids: their ids.
        splits: each token's ids under the old tokenizer (empty when it encodes to nothing).
        old_json / new_json: the old and the current tokenizer, serialised.
    """

    path: Path
    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    splits: tuple[tuple[int, ...], ...]
    old_json: str
    new_json: str

    def encode_old(self, texts: Sequence[str]) -> list[list[int]]:
        return _encode_with(self.old_json, texts)

    def encode_new(self, texts: Sequence[str]) -> list[list[int]]:
        return _encode_with(self.new_json, texts)


def _encode_with(tokenizer_json: str, texts: Sequence[str]) -> list[list[int]]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    return [list(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False)]


def added_vocabulary(folder: Path) -> AddedVocab:
    """Read ``folder/tokenizer.json``: its non-special added tokens and their old splits.

    Adding tokens leaves the BPE model and merges untouched, so the tokenizer with those entries
    removed is exactly the tokenizer before the resize.
    """
    import json

    path = folder / "tokenizer.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        added = data["added_tokens"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = (f"{path}: cannot read the tokenizer's added_tokens ({exc}); save the tokenizer "
               f"with tokenizer.save_pretrained() next to the weights")
        raise ValueError(msg) from None
    new = sorted((int(t["id"]), str(t["content"])) for t in added if not t.get("special"))
    if not new:
        msg = (f"{path}: no added (non-special) tokens: this model's vocabulary was not "
               f"extended, so there are no new rows to check")
        raise ValueError(msg)
    data["added_tokens"] = [t for t in added if t.get("special")]
    old_json = json.dumps(data, ensure_ascii=False)
    tokens = tuple(t for _, t in new)
    splits = tuple(tuple(s) for s in _encode_with(old_json, tokens))
    return AddedVocab(path, tokens, tuple(i for i, _ in new), splits, old_json,
                      path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class RowDistances:
    """How far each new embedding row is from the mean of its constituents' rows."""

    max_l2: float
    max_abs: float
    n_initialised: int  # rows with a non-empty split: the target is the constituents' mean
    n_fallback: int  # rows whose split is empty: the target is the mean of all other rows
    mean_old_row_norm: float


def new_row_distances(embedding: npt.NDArray[Any], added: AddedVocab) -> RowDistances:
    """Distances of the added rows of ``embedding`` [V, H] from their constituent means."""
    emb = np.asarray(embedding, dtype=np.float64)
    ids = np.asarray(added.ids)
    if ids.max() >= emb.shape[0]:
        msg = (f"{added.path}: added token id {int(ids.max())} has no embedding row (the "
               f"embedding has {emb.shape[0]}); resize the embedding after adding tokens")
        raise ValueError(msg)
    old = np.delete(emb, ids, axis=0)
    overall = old.mean(axis=0)
    targets = np.stack([emb[list(s)].mean(axis=0) if s else overall for s in added.splits])
    gap = emb[ids] - targets
    n_init = sum(1 for s in added.splits if s)
    return RowDistances(float(np.linalg.norm(gap, axis=1).max()), float(np.abs(gap).max()),
                        n_init, len(added.splits) - n_init,
                        float(np.linalg.norm(old, axis=1).mean()))


def quantization_step(rows: npt.NDArray[Any], group_size: int) -> float:
    """The largest grid step among the quantization groups of ``rows`` [n, H] (dequantized).

    An affine-quantized group holds values ``bias + scale * q``: the smallest gap between two of
    its distinct values is ``scale`` (with 32 values on 16 levels, two adjacent levels are all
    but certain to be used; if not, the estimate is a multiple of the step: looser, never
    tighter). Groups of one repeated value carry no step. Rounding moves an element by at most
    one step (MLX's affine quantizer keeps zero exact, which can cost a full step at the far end
    of a group rather than half of one).
    """
    arr = np.asarray(rows, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] % group_size:
        msg = (f"rows of shape {arr.shape} do not split into quantization groups of "
               f"{group_size}; expected [n, H] with H a multiple of the group size")
        raise ValueError(msg)
    groups = np.sort(arr.reshape(arr.shape[0], -1, group_size), axis=-1)
    gaps = np.diff(groups, axis=-1)
    gaps[gaps <= 0] = np.inf
    steps = gaps.min(axis=-1)
    finite = steps[np.isfinite(steps)]
    return float(finite.max()) if finite.size else 0.0


# --------------------------------------------------------------------------------------------
# Small measurement helpers shared by falsifiers


def max_positions(model: Any) -> int:
    """The longest sequence the model's config allows (``max_position_embeddings``)."""
    value = model.config.get("max_position_embeddings")
    if not isinstance(value, int) or value < 2:
        msg = (f"{model.path}: config has no usable max_position_embeddings ({value!r}); "
               f"set it in config.json to the context length the model was trained for")
        raise ValueError(msg)
    return value


@paired
def max_abs_difference(*, a: npt.NDArray[Any], b: npt.NDArray[Any]) -> float:
    """Largest ``|a - b|`` over all entries; bit-identical entries count 0 (NaN included), any
    other pair involving NaN or inf counts inf. 0.0 means the arrays are bitwise equal."""
    x, y = np.ascontiguousarray(a), np.ascontiguousarray(b)
    if x.shape != y.shape:
        msg = f"cannot compare arrays of shapes {x.shape} and {y.shape} entry by entry"
        raise ValueError(msg)
    if x.size == 0:
        return 0.0
    same = (x.view(np.uint8).reshape(*x.shape, -1) == y.view(np.uint8).reshape(*y.shape, -1)
            ).all(axis=-1) if x.dtype == y.dtype else np.zeros(x.shape, dtype=np.bool_)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
    diff[np.isnan(diff)] = np.inf
    diff[same] = 0.0
    return float(diff.max())


def save_and_reload(model: Any, out_dir: Path) -> Any:
    """Save the live model with its own framework's writer into ``out_dir``, load it back.

    torch: ``save_pretrained`` (model and tokenizer); MLX: ``mlx_lm.utils.save`` (weights,
    config, tokenizer). The reload goes through :func:`harness.models.open_model`, like any
    subject's load.
    """
    from harness.models.load import open_model

    out_dir.mkdir(parents=True, exist_ok=True)
    if model.backend == "torch":
        model.module.save_pretrained(out_dir)
        model.tokenizer.save_pretrained(out_dir)
    elif model.backend == "mlx":
        from mlx_lm.utils import save

        save(out_dir, model.path, model.module, model.tokenizer, dict(model.config),
             donate_model=False)
    else:
        msg = f"{model.path}: no writer for backend {model.backend!r}; expected torch or mlx"
        raise ValueError(msg)
    return open_model(out_dir, model.backend)


def finite_fraction(values: npt.NDArray[Any]) -> float:
    """Fraction of entries of ``values`` that are finite (1.0 when all are)."""
    arr = np.asarray(values)
    if arr.size == 0:
        msg = "finite_fraction of an empty array is undefined"
        raise ValueError(msg)
    return float(np.isfinite(arr).sum()) / float(arr.size)


@paired
def relative_difference(*, value: float, reference: float) -> float:
    """``|value - reference| / |reference|``."""
    if reference == 0 or not math.isfinite(reference):
        msg = f"relative difference against a reference of {reference} is undefined"
        raise ValueError(msg)
    return abs(value - reference) / abs(reference)
