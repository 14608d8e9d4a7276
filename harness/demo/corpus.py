"""The demo's token corpora: real text tokenized into uint16 shards, and the `<unk>` control.

``demo-corpus`` packs the real English, N'Ko and Bambara training text (documents of
:data:`DOC_LINES` lines, each followed by ``<|endoftext|>``) with the demo tokenizer into one
``.bin`` shard per language.

``demo-corpus-unk`` is the failure seen in the field, reproduced through the faulty path that
produced it rather than written as constants. A converter rebuilt the BPE model from the
``added_tokens`` list of ``tokenizer.json`` (the three special tokens) instead of ``model.vocab``,
and dropped the merges. The packer still believed it used the real 2,048-entry tokenizer. Every
byte of every document then falls outside the three-entry vocabulary and becomes ``<unk>`` (id 0);
only the packer's own ``<|endoftext|>`` (id 1) survives. The shards hold exactly two distinct ids,
about one ``<|endoftext|>`` per 10,000 ``<unk>``: 99.99 % ``<unk>``.

Both are built once into ``<demo cache>/corpus/<key>/`` where the key hashes every input.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.demo import CORPORA_DIR
from harness.demo.tokenizer import EOS, UNK, tokenizer_key, train_tokenizer
from harness.workspace import SubjectSpec

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from harness.workspace import Workspace

__all__ = ["DOC_LINES", "LANGUAGES", "demo_corpus", "demo_corpus_unk", "misloaded_tokenizer"]

LANGUAGES = ("eng_Latn", "nqo_Nkoo", "bam_Latn")
DOC_LINES = 64  # lines per packed document; one <|endoftext|> after each
BUILDER_VERSION = 1


def _tokenizer_path(workspace: Workspace) -> Path:
    return train_tokenizer(workspace.demo_dir / "tokenizer")


def real_tokenizer(path: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def misloaded_tokenizer(path: Path) -> Tokenizer:
    """The faulty converter: BPE rebuilt from ``added_tokens`` only, merges dropped."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    data = json.loads(path.read_text(encoding="utf-8"))
    vocab = {t["content"]: t["id"] for t in data["added_tokens"]}  # the bug: not model.vocab
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return tok


def _documents(language: str) -> list[str]:
    lines = (CORPORA_DIR / language).read_text(encoding="utf-8").splitlines()
    return ["\n".join(lines[i:i + DOC_LINES]) for i in range(0, len(lines), DOC_LINES)]


def pack(tok: Tokenizer, documents: list[str], eos_id: int) -> np.ndarray[Any, np.dtype[Any]]:
    """Token ids of the documents, each followed by ``eos_id``, as uint16."""
    ids: list[int] = []
    for encoding in tok.encode_batch(documents, add_special_tokens=False):
        ids.extend(encoding.ids)
        ids.append(eos_id)
    return np.asarray(ids, dtype=np.uint16)


def _write_shard(folder: Path, name: str, ids: np.ndarray[Any, np.dtype[Any]],
                 meta: dict[str, Any]) -> None:
    for suffix, payload in ((".bin", ids.tobytes()), (".json", json.dumps(meta).encode())):
        target = folder / f"{name}{suffix}"
        tmp = folder / f".{name}{suffix}.{os.getpid()}.tmp"
        tmp.write_bytes(payload)
        tmp.replace(target)


def _key(variant: str, tok_path: Path) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([variant, BUILDER_VERSION, DOC_LINES, LANGUAGES]).encode())
    h.update(tokenizer_key().encode())
    h.update(hashlib.sha256(tok_path.read_bytes()).digest())
    for name in LANGUAGES:
        h.update(hashlib.sha256((CORPORA_DIR / name).read_bytes()).digest())
    return f"{variant}-{h.hexdigest()[:16]}"


def _eos_id(tok_path: Path) -> int:
    """The packer's separator, taken from the real tokenizer whichever one encodes the text."""
    eos_id = real_tokenizer(tok_path).token_to_id(EOS)
    if eos_id is None:
        msg = f"{tok_path}: has no {EOS!r} token; delete it so the demo tokenizer is rebuilt"
        raise ValueError(msg)
    return int(eos_id)


def _build(workspace: Workspace, variant: str,
           make_tokenizer: Callable[[Path], Tokenizer]) -> tuple[Path, Path]:
    tok_path = _tokenizer_path(workspace)
    folder = workspace.demo_dir / "corpus" / _key(variant, tok_path)
    done = folder / "BUILT"
    if done.is_file():
        return folder, tok_path
    folder.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(tok_path)
    eos_id = _eos_id(tok_path)
    for language in LANGUAGES:
        ids = pack(tok, _documents(language), eos_id)
        meta = {"dtype": "uint16", "source": language, "variant": variant,
                "doc_lines": DOC_LINES, "tokenizer": str(tok_path)}
        _write_shard(folder, language, ids, meta)
    done.write_text(variant)
    return folder, tok_path


def _spec(subject_id: str, folder: Path, tok_path: Path) -> SubjectSpec:
    options = {"shards": str(folder), "tokenizer": str(tok_path), "dtype": "uint16"}
    return SubjectSpec(subject_id, "corpus", options, "demo")


def demo_corpus(workspace: Workspace) -> SubjectSpec:
    """Real English, N'Ko and Bambara text, tokenized with the demo tokenizer."""
    folder, tok_path = _build(workspace, "real", real_tokenizer)
    return _spec("demo-corpus", folder, tok_path)


def demo_corpus_unk(workspace: Workspace) -> SubjectSpec:
    """The same text through the mis-loaded tokenizer: 99.99 % ``<unk>``, two distinct ids."""
    folder, tok_path = _build(workspace, "unk", misloaded_tokenizer)
    return _spec("demo-corpus-unk", folder, tok_path)
