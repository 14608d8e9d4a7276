"""The demo's byte-level BPE tokenizer, trained with `tokenizers` on real English and N'Ko text.

Training is deterministic for a given corpus, vocabulary size and `tokenizers` version; the
result is cached under the workspace cache keyed by those inputs, so it is built once.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from harness.demo import CORPORA_DIR

__all__ = ["SPECIAL_TOKENS", "TRAIN_FILES", "UNK", "tokenizer_key", "train_tokenizer"]

UNK = "<unk>"
EOS = "<|endoftext|>"
PAD = "<pad>"
SPECIAL_TOKENS = (UNK, EOS, PAD)  # ids 0, 1, 2
TRAIN_FILES = ("eng_Latn", "nqo_Nkoo")
DEFAULT_VOCAB = 2048


def tokenizer_key(vocab_size: int = DEFAULT_VOCAB) -> str:
    """A short hash of everything the trained tokenizer depends on."""
    import tokenizers

    h = hashlib.sha256()
    for name in TRAIN_FILES:
        h.update(name.encode())
        h.update(hashlib.sha256((CORPORA_DIR / name).read_bytes()).digest())
    h.update(json.dumps([vocab_size, SPECIAL_TOKENS, tokenizers.__version__]).encode())
    return h.hexdigest()[:16]


def train_tokenizer(out_dir: Path, vocab_size: int = DEFAULT_VOCAB) -> Path:
    """Train (or reuse) the BPE tokenizer into ``out_dir/tokenizer.json``; return that path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "tokenizer.json"
    stamp = out_dir / "tokenizer.key"
    key = tokenizer_key(vocab_size)
    if target.is_file() and stamp.is_file() and stamp.read_text() == key:
        return target
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train([str(CORPORA_DIR / name) for name in TRAIN_FILES], trainer)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")  # xdist workers may build at once
    tok.save(str(tmp))
    tmp.replace(target)
    stamp_tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
    stamp_tmp.write_text(key)
    stamp_tmp.replace(stamp)
    return target
