"""A real Hugging Face Hub cache laid out in a temporary folder, and a tiny model to put in it.

The layout is the one huggingface_hub writes (``models--org--name/{blobs,snapshots,refs}``):
files are content-addressed blobs, a snapshot is a folder of relative links into ``blobs``, and
``refs/<branch>`` holds a commit hash. Tests check that the library's own ``scan_cache_dir``
reads it back.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tiny_model(out: Path, seed: int = 0) -> Path:
    """A real, untrained (seeded) one-layer Llama (~100 KB) with a byte-level tokenizer, written
    by ``save_pretrained``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(["<eos>", *alphabet])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=128, tie_word_embeddings=True, eos_token_id=0,
                         bos_token_id=None, pad_token_id=None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>").save_pretrained(out)
    return out


def _blob_name(data: bytes, name: str) -> str:
    """What the Hub names a blob: the sha256 of an LFS file, the git blob sha1 of the rest."""
    if name.endswith(".safetensors"):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def put_in_cache(cache: Path, repo_id: str, folder: Path, ref: str | None = "main") -> str:
    """Store every file of ``folder`` as one snapshot of ``repo_id`` in the Hub cache ``cache``;
    point ``refs/<ref>`` at it (none when ``ref`` is None). Returns the snapshot's commit hash."""
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    tree = hashlib.sha1()
    for path in files:
        tree.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    commit = tree.hexdigest()
    snapshot = storage / "snapshots" / commit
    for path in files:
        data = path.read_bytes()
        rel = path.relative_to(folder)
        blob = storage / "blobs" / _blob_name(data, rel.name)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():  # the same snapshot stored again: its links are there
            link.symlink_to(os.path.relpath(blob, link.parent))
    if ref is not None:
        (storage / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (storage / "refs" / ref).write_text(commit)
    return commit
