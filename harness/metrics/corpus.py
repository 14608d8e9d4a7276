"""Token-shard corpora and their audit: is this corpus real text or a pile of ``<unk>``?

A corpus is a list of token shards: raw ``.bin`` files of ``uint16``/``uint32`` ids (the dtype from
the subject's options or a ``<shard>.json`` sidecar ``{"dtype": "uint16"}``) or ``.npy`` arrays.
Shards are opened memory-mapped and counted in chunks, so memory stays bounded whatever their size.

The audit is one pass of :func:`numpy.bincount` per chunk, accumulated in int64. Chunks are small
(:data:`CHUNK_TOKENS`) on purpose: ``bincount`` casts its input to int64, and a chunk whose int64
copy stays in cache counts several times faster than one bincount over a whole shard.
"""

from __future__ import annotations

import glob
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from harness.workspace import SubjectSpec, Workspace

__all__ = [
    "BIN_DTYPES",
    "CHUNK_TOKENS",
    "Corpus",
    "CorpusAudit",
    "CorpusError",
    "ShardAudit",
    "audit",
    "count_ids",
    "entropy_bits",
    "load_corpus",
    "open_shard",
    "read_tokenizer_vocab",
]

CHUNK_TOKENS = 1 << 18
BIN_DTYPES = ("uint16", "uint32")
SHARD_SUFFIXES = (".bin", ".npy")

IntArray = npt.NDArray[np.int64]


class CorpusError(ValueError):
    """A shard or corpus spec that cannot be audited: names the file and the fix."""


@dataclass(frozen=True)
class Corpus:
    """Token shards and the vocabulary they were written against."""

    name: str
    shards: tuple[Path, ...]
    vocab_size: int
    unk_id: int | None
    dtype: str | None = None  # for .bin shards without a sidecar
    tokenizer: Path | None = None

    def tokens(self, shard: Path) -> npt.NDArray[np.integer[Any]]:
        """The shard's ids, memory-mapped and flat."""
        return open_shard(shard, self.dtype)


@dataclass(frozen=True)
class ShardAudit:
    """One shard's share of the audit."""

    path: Path
    tokens: int
    unk_count: int
    out_of_range: int


@dataclass(frozen=True)
class CorpusAudit:
    """Unigram statistics of a whole corpus.

    ``out_of_range`` counts ids outside ``[0, vocab_size)``: a corrupt shard or a wrong vocabulary.
    They are part of ``total_tokens`` but not of the unigram distribution.
    """

    corpus: str
    vocab_size: int
    total_tokens: int
    unk_count: int
    distinct_tokens: int
    entropy_bits: float
    out_of_range: int
    shards: tuple[ShardAudit, ...]
    top_tokens: tuple[tuple[int, int], ...]  # (id, count), most frequent first

    @property
    def unk_ratio(self) -> float:
        return self.unk_count / self.total_tokens if self.total_tokens else math.nan

    @property
    def entropy_ceiling_bits(self) -> float:
        """log2|V|: the entropy of the uniform distribution over the vocabulary."""
        return math.log2(self.vocab_size)


# --- shards -----------------------------------------------------------------------------------


def _sidecar_dtype(path: Path) -> str | None:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{sidecar}: not valid JSON ({exc}); write {{\"dtype\": \"uint16\"}} or delete it"
        raise CorpusError(msg) from None
    dtype = data.get("dtype") if isinstance(data, dict) else None
    if dtype is not None and not isinstance(dtype, str):
        msg = f"{sidecar}: 'dtype' must be a string such as \"uint16\""
        raise CorpusError(msg)
    return dtype


def _bin_dtype(path: Path, declared: str | None) -> np.dtype[Any]:
    side = _sidecar_dtype(path)
    if side is not None and declared is not None and side != declared:
        msg = (f"{path}: sidecar {path.with_suffix('.json').name} says dtype {side!r} but the "
               f"subject's options say {declared!r}; make them agree")
        raise CorpusError(msg)
    name = side or declared
    if name is None:
        msg = (f"{path}: a raw .bin shard needs a dtype; set dtype = \"uint16\" (or \"uint32\") in "
               f"the subject's options, or write {path.with_suffix('.json').name} beside it")
        raise CorpusError(msg)
    if name not in BIN_DTYPES:
        msg = f"{path}: dtype {name!r} is not supported for .bin; use {' or '.join(BIN_DTYPES)}"
        raise CorpusError(msg)
    return np.dtype(name)


def _open_bin(path: Path, dtype: str | None) -> npt.NDArray[np.integer[Any]]:
    dt = _bin_dtype(path, dtype)
    size = path.stat().st_size
    if size % dt.itemsize:
        msg = (f"{path}: {size} bytes is not a multiple of {dt.itemsize} ({dt.name}); the shard is "
               f"truncated or its dtype is wrong: rewrite it or fix the dtype")
        raise CorpusError(msg)
    return np.memmap(path, dtype=dt, mode="r")


def _open_npy(path: Path) -> npt.NDArray[np.integer[Any]]:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        msg = f"{path}: not a readable .npy array ({exc}); rewrite it with numpy.save"
        raise CorpusError(msg) from None
    if not np.issubdtype(arr.dtype, np.integer):
        msg = f"{path}: holds {arr.dtype} values, not integer token ids; save the ids as uint16/32"
        raise CorpusError(msg)
    if arr.size == 0:
        msg = f"{path}: the array is empty; re-run the tokenizer that writes it or drop the shard"
        raise CorpusError(msg)
    flat: npt.NDArray[np.integer[Any]] = arr.reshape(-1)
    return flat


def open_shard(path: Path, dtype: str | None = None) -> npt.NDArray[np.integer[Any]]:
    """The shard's ids as a flat, read-only, memory-mapped array; CorpusError when unreadable."""
    if not path.is_file():
        msg = f"{path}: shard not found; build it, or fix the subject's 'shards' option"
        raise CorpusError(msg)
    if path.suffix not in SHARD_SUFFIXES:
        msg = f"{path}: unknown shard type {path.suffix!r}; shards are .bin (raw ids) or .npy"
        raise CorpusError(msg)
    if path.stat().st_size == 0:
        msg = f"{path}: empty shard (0 bytes); re-run the tokenizer that writes it or drop it"
        raise CorpusError(msg)
    return _open_bin(path, dtype) if path.suffix == ".bin" else _open_npy(path)


# --- counting ---------------------------------------------------------------------------------


def _chunks(tokens: npt.NDArray[np.integer[Any]], size: int) -> Iterator[npt.NDArray[Any]]:
    for start in range(0, len(tokens), size):
        yield tokens[start:start + size]


def _count_chunk(chunk: npt.NDArray[Any], vocab_size: int, counts: IntArray) -> int:
    """Add the chunk's in-vocabulary ids to ``counts``; return how many were out of range."""
    if chunk.dtype.kind == "u" and chunk.dtype.itemsize <= 2:
        # At most 65,536 bins whatever the ids: count everything, then split off the tail.
        hist = np.bincount(chunk, minlength=vocab_size)
        counts += hist[:vocab_size]
        return int(hist[vocab_size:].sum())
    in_range = chunk
    if int(chunk.min()) < 0 or int(chunk.max()) >= vocab_size:
        in_range = chunk[(chunk >= 0) & (chunk < vocab_size)]
    counts += np.bincount(in_range.astype(np.int64, copy=False), minlength=vocab_size)
    return len(chunk) - len(in_range)


def count_ids(tokens: npt.NDArray[np.integer[Any]], vocab_size: int,
              chunk_tokens: int = CHUNK_TOKENS, counts: IntArray | None = None,
              progress: Any = None) -> tuple[IntArray, int]:
    """Unigram counts of ids in ``[0, vocab_size)`` (int64) and the number of ids outside it."""
    if chunk_tokens < 1:
        msg = f"chunk_tokens must be at least 1, got {chunk_tokens}"
        raise ValueError(msg)
    acc = np.zeros(vocab_size, dtype=np.int64) if counts is None else counts
    out_of_range = 0
    for chunk in _chunks(tokens, chunk_tokens):
        out_of_range += _count_chunk(chunk, vocab_size, acc)
        if progress is not None:
            progress.update(len(chunk))
    return acc, out_of_range


def entropy_bits(counts: npt.NDArray[np.integer[Any]]) -> float:
    """Shannon entropy, in bits, of the distribution the counts describe (0 for an empty one)."""
    nz = counts[counts > 0].astype(np.float64)
    total = nz.sum()
    if total == 0:
        return 0.0
    p = nz / total
    return float(-(p * np.log2(p)).sum())


# --- audit ------------------------------------------------------------------------------------


def audit(corpus: Corpus, progress: bool = True, chunk_tokens: int = CHUNK_TOKENS) -> CorpusAudit:
    """Count every shard of ``corpus`` in one streamed pass and summarise the unigram statistics."""
    from tqdm import tqdm

    arrays = [(path, corpus.tokens(path)) for path in corpus.shards]
    counts = np.zeros(corpus.vocab_size, dtype=np.int64)
    total = sum(len(tokens) for _, tokens in arrays)
    with tqdm(total=total, unit="tok", unit_scale=True, desc=f"audit {corpus.name}",
              disable=not progress) as bar:
        shards = tuple(_audit_shard(path, tokens, corpus, counts, chunk_tokens, bar)
                       for path, tokens in arrays)
    return _summarise(corpus, counts, shards)


def _audit_shard(path: Path, tokens: npt.NDArray[np.integer[Any]], corpus: Corpus,
                 counts: IntArray, chunk_tokens: int, bar: Any) -> ShardAudit:
    unk_before = _unk(counts, corpus.unk_id)
    _, out_of_range = count_ids(tokens, corpus.vocab_size, chunk_tokens, counts, bar)
    return ShardAudit(path, len(tokens), _unk(counts, corpus.unk_id) - unk_before, out_of_range)


def _unk(counts: IntArray, unk_id: int | None) -> int:
    return 0 if unk_id is None else int(counts[unk_id])


def _summarise(corpus: Corpus, counts: IntArray, shards: tuple[ShardAudit, ...],
               top: int = 10) -> CorpusAudit:
    ids = np.arange(len(counts))
    order = np.lexsort((ids, -counts))[:top]
    return CorpusAudit(
        corpus=corpus.name, vocab_size=corpus.vocab_size,
        total_tokens=sum(s.tokens for s in shards), unk_count=_unk(counts, corpus.unk_id),
        distinct_tokens=int(np.count_nonzero(counts)), entropy_bits=entropy_bits(counts),
        out_of_range=sum(s.out_of_range for s in shards), shards=shards,
        top_tokens=tuple((int(i), int(counts[i])) for i in order if counts[i] > 0),
    )


# --- loading ----------------------------------------------------------------------------------


def read_tokenizer_vocab(path: Path) -> tuple[int, int | None]:
    """(vocabulary size, unk id or None) of a Hugging Face ``tokenizer.json``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"{path}: tokenizer not found; fix the subject's 'tokenizer' option"
        raise CorpusError(msg) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not a tokenizer.json ({exc}); point 'tokenizer' at a tokenizer.json"
        raise CorpusError(msg) from None
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("vocab"), dict | list):
        msg = f"{path}: no model.vocab; point 'tokenizer' at a Hugging Face tokenizer.json"
        raise CorpusError(msg)
    pieces = _pieces(model["vocab"], data.get("added_tokens") or [])
    return max(pieces.values()) + 1, _tokenizer_unk(model, pieces)


def _pieces(vocab: dict[str, int] | list[Any], added: list[Any]) -> dict[str, int]:
    pieces = dict(vocab) if isinstance(vocab, dict) else {p[0]: i for i, p in enumerate(vocab)}
    pieces.update({t["content"]: int(t["id"]) for t in added if isinstance(t, dict)})
    return pieces


def _tokenizer_unk(model: Mapping[str, Any], pieces: Mapping[str, int]) -> int | None:
    if isinstance(model.get("unk_id"), int):  # Unigram models name the id
        return int(model["unk_id"])
    token = model.get("unk_token")
    return pieces.get(token) if isinstance(token, str) else None


def _where(spec: SubjectSpec, workspace: Workspace) -> str:
    if spec.source == "config":
        return f"{workspace.config_path}: [tool.falsify.subjects.{spec.id}]"
    return f"demo subject {spec.id!r}"


def _expand(entry: str, base: Path, where: str) -> list[Path]:
    path = Path(entry) if Path(entry).is_absolute() else base / entry
    if any(ch in entry for ch in "*?["):
        found = [Path(p) for p in sorted(glob.glob(str(path), recursive=True))]
    elif path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in SHARD_SUFFIXES)
    else:
        found = [path]
    if not found:
        msg = f"{where}: shards {entry!r} matches no .bin or .npy file under {base}; fix the path"
        raise CorpusError(msg)
    return found


def _shard_paths(value: Any, base: Path, where: str) -> tuple[Path, ...]:
    entries = [value] if isinstance(value, str | Path) else value
    if not isinstance(entries, list) or not entries:
        msg = (f"{where}: 'shards' must be a folder, a glob or a list of .bin/.npy paths, "
               f"got {value!r}")
        raise CorpusError(msg)
    paths = [p for e in entries for p in _expand(str(e), base, where)]
    return tuple(dict.fromkeys(paths))


def _int_option(opts: Mapping[str, Any], key: str, where: str) -> int | None:
    value = opts.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{where}: {key!r} must be a non-negative integer, got {value!r}"
        raise CorpusError(msg)
    return value


def _vocab(opts: Mapping[str, Any], tokenizer: Path | None, where: str) -> tuple[int, int | None]:
    size, unk = read_tokenizer_vocab(tokenizer) if tokenizer else (None, None)
    declared = _int_option(opts, "vocab_size", where)
    if declared is not None and size is not None and declared != size:
        msg = (f"{where}: vocab_size {declared} disagrees with {tokenizer} ({size} entries); "
               f"drop one or make them agree")
        raise CorpusError(msg)
    vocab_size = declared if declared is not None else size
    if not vocab_size:
        msg = f"{where}: give 'vocab_size' (a positive integer) or a 'tokenizer' (tokenizer.json)"
        raise CorpusError(msg)
    unk_option = _int_option(opts, "unk_id", where)
    unk_id = unk_option if unk_option is not None else unk
    if unk_id is not None and unk_id >= vocab_size:
        msg = f"{where}: unk_id {unk_id} is outside the vocabulary of {vocab_size} ids"
        raise CorpusError(msg)
    return vocab_size, unk_id


def _check_fits(corpus: Corpus, where: str) -> None:
    """Open every shard now (errors name the file) and refuse ids too narrow for the vocabulary."""
    for path in corpus.shards:
        dtype = corpus.tokens(path).dtype
        if dtype.kind == "u" and int(np.iinfo(dtype).max) + 1 < corpus.vocab_size:
            msg = (f"{where}: {path}: {dtype.name} cannot hold ids of a {corpus.vocab_size}-entry "
                   f"vocabulary (larger ids wrapped around); re-tokenize into uint32")
            raise CorpusError(msg)


def load_corpus(spec: SubjectSpec, workspace: Workspace) -> Corpus:
    """The corpus a ``kind = "corpus"`` subject names, every shard checked to be readable.

    Options: ``shards`` (a folder, a glob or a list of paths, relative to the workspace root),
    ``tokenizer`` (a tokenizer.json giving vocab size and unk id), ``vocab_size``, ``unk_id``,
    ``dtype`` (of raw .bin shards without a sidecar).
    """
    opts, where = spec.options, _where(spec, workspace)
    shards = _shard_paths(opts.get("shards"), workspace.root, where)
    raw_tok = opts.get("tokenizer")
    tokenizer = None if raw_tok is None else workspace.root / Path(str(raw_tok))
    vocab_size, unk_id = _vocab(opts, tokenizer, where)
    dtype = opts.get("dtype")
    if dtype is not None and not isinstance(dtype, str):
        msg = f"{where}: 'dtype' must be a string such as \"uint16\", got {dtype!r}"
        raise CorpusError(msg)
    corpus = Corpus(spec.id, shards, vocab_size, unk_id, dtype, tokenizer)
    _check_fits(corpus, where)
    return corpus
