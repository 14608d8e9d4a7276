"""Grow a model's vocabulary: new tokens whose embedding rows start at their constituent mean.

A new token's row is the mean of the old rows of the pieces the *old* tokenizer splits it into
(the overall mean row when that split is empty); a tied head follows the embedding, an untied
head gets the same rule on its own rows. torch models go through transformers'
``resize_token_embeddings``; MLX has no resize of its own, so a quantized MLX embedding is
dequantized, the new rows are set and quantized with the same bits and group size, and the old
rows keep their packed values bit for bit. Every result is measured on the saved folder, reloaded
through ``open_model``.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

from harness.models.base import LiveModel, ModelLoadError
from harness.models.folder import inspect_folder
from harness.models.load import open_model

__all__ = [
    "ResizeResult",
    "add_tokens_constituent_mean",
    "frequent_nko_words",
    "resize_uninitialised",
]

# A N'Ko word: a letter (U+07CA-07EA) then letters, combining tone/nasal marks, tone apostrophes,
# lajanyalan and dantayalan. Digits and punctuation (U+07F7-07F9) end a word.
_NKO_WORD = re.compile("[\u07ca-\u07ea][\u07ca-\u07f5\u07fa\u07fd]*")


def frequent_nko_words(n: int = 250, tokenize: Callable[[str], Sequence[int]] | None = None,
                       corpus: Path | None = None) -> list[str]:
    """The ``n`` most frequent N'Ko words of the N'Ko training corpus (ties by code point order).

    With ``tokenize``, only words it splits into two or more tokens are kept: the words a
    vocabulary extension would add.
    """
    from harness.demo import CORPORA_DIR

    text = (corpus or CORPORA_DIR / "nqo_Nkoo").read_text(encoding="utf-8")
    counts = Counter(_NKO_WORD.findall(text))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    words: list[str] = []
    for word, _ in ranked:
        if len(words) == n:
            break
        if tokenize is None or len(tokenize(word)) >= 2:
            words.append(word)
    return words


@dataclass(frozen=True)
class ResizeResult:
    """What a resize did, measured on the saved folder after reloading it.

    ``max_distance`` is the largest L2 distance of a new row from its constituent mean and
    ``max_abs_error`` the largest elementwise gap (both on dequantized rows). For a quantized
    embedding ``quantization_bound`` is the largest quantization step (|scale|) among the new
    rows' groups: MLX's affine quantizer snaps its grid so that zero is representable, so
    rounding can move an element by up to about one step (not half of one); and
    ``gap_to_own_quantization`` is the largest gap between a saved row and MLX's own
    quantize-then-dequantize of its constituent mean (0 when nothing but quantization moved it).
    """

    source: Path
    path: Path
    backend: str
    new_tokens: tuple[str, ...]
    new_ids: tuple[int, ...]
    skipped: tuple[str, ...]  # already one token of the old vocabulary
    rows_initialised: int  # from a non-empty constituent split
    rows_fallback: int  # overall mean row: the old tokenizer split the token into nothing
    old_vocab_size: int
    new_vocab_size: int
    max_distance: float
    max_abs_error: float
    quantization_bound: float | None
    gap_to_own_quantization: float | None
    old_rows_max_change: float
    head_follows: bool

    def facts(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(source=str(self.source), path=str(self.path))
        return data


@dataclass(frozen=True)
class _Plan:
    words: tuple[str, ...]
    splits: tuple[tuple[int, ...], ...]
    skipped: tuple[str, ...]


def _plan(tokenizer: Any, words: Sequence[str]) -> _Plan:
    vocab = tokenizer.get_vocab()
    kept, splits, skipped = [], [], []
    for word in dict.fromkeys(words):
        pieces = tuple(tokenizer.encode(word, add_special_tokens=False))
        if word in vocab or len(pieces) == 1:
            skipped.append(word)
            continue
        kept.append(word)
        splits.append(pieces)
    if not kept:
        msg = "no new tokens to add: every word is already one token of the vocabulary"
        raise ValueError(msg)
    return _Plan(tuple(kept), tuple(splits), tuple(skipped))


def _add_to_tokenizer(tokenizer: Any, plan: _Plan) -> list[int]:
    from tokenizers import AddedToken

    # A token that carries its leading space starts at a word boundary by construction;
    # single_word would refuse it, since the character before the space is a word character.
    tokenizer.add_tokens([AddedToken(w, single_word=not w[:1].isspace(), normalized=False)
                          for w in plan.words])
    ids: list[int] = [int(i) for i in tokenizer.convert_tokens_to_ids(list(plan.words))]
    return ids


def _means(old: np.ndarray, splits: Sequence[Sequence[int]]) -> np.ndarray:
    """float64 means of the old rows of each split (the overall mean row for an empty split)."""
    rows = old.astype(np.float64)
    overall = rows.mean(axis=0)
    return np.stack([rows[list(s)].mean(axis=0) if s else overall for s in splits])


def _fresh_dir(out: Path) -> Path:
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def _source_path(source: Path | str | LiveModel) -> Path:
    return Path(source.path) if hasattr(source, "path") else Path(source)


def add_tokens_constituent_mean(source: Path | str | LiveModel, new_tokens: list[str],
                                out: Path) -> ResizeResult:
    """Add ``new_tokens`` to the model at ``source`` (folder or live model); save it to ``out``."""
    folder = inspect_folder(_source_path(source))
    resize = _resize_torch if folder.backend == "torch" else _resize_mlx
    plan, ids = resize(folder.path, new_tokens, _fresh_dir(out))
    return _measure(folder.path, Path(out), plan, ids)


def _hf_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def _resize_torch(source: Path, words: Sequence[str], out: Path) -> tuple[_Plan, list[int]]:
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = _hf_tokenizer(source)
    model: Any = AutoModelForCausalLM.from_pretrained(source, local_files_only=True,
                                                      dtype="auto")  # keep the file's dtype
    plan = _plan(tokenizer, words)
    ids = _add_to_tokenizer(tokenizer, plan)
    rows = model.get_input_embeddings().weight.shape[0]
    old_in = model.get_input_embeddings().weight.detach().float().clone()
    old_out = model.get_output_embeddings().weight.detach().float().clone()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the rows are overwritten below; the seed only fixes the bytes
        model.resize_token_embeddings(max(rows, len(tokenizer)), mean_resizing=False)
    with torch.no_grad():
        emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
        emb[ids] = torch.from_numpy(_means(old_in.numpy(), plan.splits)).to(emb.dtype)
        if head.data_ptr() != emb.data_ptr():
            head[ids] = torch.from_numpy(_means(old_out.numpy(), plan.splits)).to(head.dtype)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return plan, ids


def _resize_mlx(source: Path, words: Sequence[str], out: Path) -> tuple[_Plan, list[int]]:
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import load_model, save_config, save_model

    tokenizer = _hf_tokenizer(source)
    model, config = load_model(source)
    plan = _plan(tokenizer, words)
    ids = _add_to_tokenizer(tokenizer, plan)
    grown = []
    for name, module in _row_modules(model):
        total = max(int(module.weight.shape[0]), len(tokenizer))
        grown.append((name, _grow_rows(module, total, ids, plan.splits)))
    model.update_modules(tree_unflatten(grown))
    config["vocab_size"] = max(int(m.weight.shape[0]) for _, m in grown)
    save_model(out, model)
    save_config(config, out / "config.json")
    tokenizer.save_pretrained(out)
    if (source / "generation_config.json").is_file():
        shutil.copy(source / "generation_config.json", out)
    return plan, ids


def _row_modules(model: Any) -> list[tuple[str, Any]]:
    """The embedding, and the lm_head when the model has its own."""
    nn = import_module("mlx.nn")
    kinds = (nn.Embedding, nn.QuantizedEmbedding)
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)][:1]
    if isinstance(model.get("lm_head"), nn.Module):
        found.append(("lm_head", model["lm_head"]))
    if not found:
        msg = f"no embedding found in {type(model).__name__}"
        raise ModelLoadError(msg)
    return found


def _grow_rows(module: Any, total: int, ids: Sequence[int],
               splits: Sequence[Sequence[int]]) -> Any:
    """A copy of ``module`` with ``total`` rows; rows ``ids`` set to constituent means."""
    mx, nn = import_module("mlx.core"), import_module("mlx.nn")
    from harness.models.mlx_backend import dense_weight

    dense = np.array(dense_weight(module).astype(mx.float32))
    block = mx.array(_means(dense, splits).astype(np.float32))
    rows = mx.array(np.asarray(ids, dtype=np.int32))
    hidden = dense.shape[1]
    if isinstance(module, nn.QuantizedEmbedding | nn.QuantizedLinear):
        parts = mx.quantize(block.astype(module.scales.dtype), module.group_size, module.bits,
                            mode=module.mode)
        names = ("weight", "scales", "biases")[: len(parts)]
        grown = (nn.QuantizedEmbedding(total, hidden, module.group_size, module.bits, module.mode)
                 if isinstance(module, nn.QuantizedEmbedding) else
                 nn.QuantizedLinear(hidden, total, False, module.group_size, module.bits,
                                    module.mode))
        for name, part in zip(names, parts, strict=True):
            grown[name] = _scatter(module[name], total, rows, part)
        return grown
    grown = (nn.Embedding(total, hidden) if isinstance(module, nn.Embedding)
             else nn.Linear(hidden, total, bias=False))
    grown.weight = _scatter(module.weight, total, rows, block.astype(module.weight.dtype))
    return grown


def _scatter(old: Any, total: int, rows: Any, values: Any) -> Any:
    mx = import_module("mlx.core")
    pad = mx.zeros((total - old.shape[0], *old.shape[1:]), dtype=old.dtype)
    full = mx.concatenate([old, pad], axis=0)
    full[rows] = values
    return full


def _measure(source: Path, out: Path, plan: _Plan, ids: list[int]) -> ResizeResult:
    before, after = open_model(source), open_model(out)
    old = before.input_embedding().astype(np.float64)
    new = after.input_embedding().astype(np.float64)
    gap = new[ids] - _means(old, plan.splits)
    untouched = np.setdiff1d(np.arange(old.shape[0]), ids)
    return ResizeResult(
        source=source, path=out, backend=after.backend, new_tokens=plan.words,
        new_ids=tuple(ids), skipped=plan.skipped,
        rows_initialised=sum(1 for s in plan.splits if s),
        rows_fallback=sum(1 for s in plan.splits if not s),
        old_vocab_size=before.vocab_size, new_vocab_size=after.vocab_size,
        max_distance=float(np.linalg.norm(gap, axis=1).max()),
        max_abs_error=float(np.abs(gap).max()), quantization_bound=_bound(after, ids),
        gap_to_own_quantization=_own_quantization_gap(after, new[ids], _means(old, plan.splits)),
        old_rows_max_change=float(np.abs(new[untouched] - old[untouched]).max()),
        head_follows=_head_follows(before, after, plan, ids))


def _bound(model: LiveModel, ids: Sequence[int]) -> float | None:
    if model.quantization is None or model.backend != "mlx":
        return None
    from harness.models.mlx_backend import MlxModel, _embedding

    if not isinstance(model, MlxModel):
        return None
    mx = import_module("mlx.core")
    scales = _embedding(model.module).scales[mx.array(np.asarray(ids, dtype=np.int32))]
    return float(np.abs(np.array(scales.astype(mx.float32))).max())


def _own_quantization_gap(model: LiveModel, rows: np.ndarray, means: np.ndarray) -> float | None:
    q = model.quantization
    if q is None or model.backend != "mlx":
        return None
    mx = import_module("mlx.core")
    parts = mx.quantize(mx.array(means.astype(np.float32)), q.group_size, q.bits, mode=q.mode)
    again = mx.dequantize(*parts, group_size=q.group_size, bits=q.bits, mode=q.mode)
    return float(np.abs(np.array(again.astype(mx.float32)) - rows).max())


def _head_follows(before: LiveModel, after: LiveModel, plan: _Plan, ids: list[int]) -> bool:
    if after.head_shares_storage():
        return True
    want = _means(before.output_projection().astype(np.float64), plan.splits)
    got = after.output_projection().astype(np.float64)[ids]
    return bool(np.allclose(got, want, atol=1e-5))


def resize_uninitialised(source: Path, words: Sequence[str], out: Path,
                         seed: int = 0) -> dict[str, Any]:
    """The negative control: add ``words`` and grow the embedding the way transformers does when
    asked not to initialise from the old rows (``mean_resizing=False``).

    transformers 5 then initialises the new rows by the model's ``_init_weights``: draws from
    N(0, initializer_range), unrelated to the trained rows and to the tokens' pieces. The tied
    head follows. Returns what was measured on the saved rows.
    """
    import torch
    from transformers import AutoModelForCausalLM

    out = _fresh_dir(out)
    tokenizer = _hf_tokenizer(source)
    model: Any = AutoModelForCausalLM.from_pretrained(source, local_files_only=True,
                                                      dtype=torch.float32)
    plan = _plan(tokenizer, words)
    ids = _add_to_tokenizer(tokenizer, plan)
    rows = model.get_input_embeddings().weight.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.resize_token_embeddings(max(rows, len(tokenizer)), mean_resizing=False)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    emb = open_model(out).input_embedding().astype(np.float64)
    new, old = emb[ids], np.delete(emb, ids, axis=0)
    means = _means(emb, plan.splits)  # the pieces' rows are old rows, untouched by the resize
    return {"new_tokens": len(ids), "new_ids": [ids[0], ids[-1]], "seed": seed,
            "initializer_range": model.config.initializer_range,
            "new_row_std": float(new.std()), "old_row_std": float(old.std()),
            "new_row_norm_mean": float(np.linalg.norm(new, axis=1).mean()),
            "old_row_norm_mean": float(np.linalg.norm(old, axis=1).mean()),
            "max_distance_from_constituent_mean": float(np.linalg.norm(new - means, axis=1).max()),
            "finite": bool(np.isfinite(emb).all())}
