"""A byte-level BPE encoder in pure Python: the port a user writes for another runtime.

The program ships a browser tokenizer checked against ground-truth (text, ids) pairs; this is the
same algorithm as a few dozen lines of Python (what such a port contains), reading the
``tokenizer.json`` that ``tokenizers`` saved: added tokens are split out first, the rest is
pre-tokenized with the GPT-2 pattern, mapped byte by byte to printable characters, and merged by
rank. TOKENIZER-PARITY checks it, or any other port, against the reference ``tokenizers`` output.
It is hand-written because it is the thing under test: a library encoder would only test itself.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import regex

__all__ = ["BytePairPort", "PortError"]

# The pattern tokenizers' ByteLevel pre-tokenizer uses (use_regex: true), as in GPT-2.
GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


class PortError(ValueError):
    """The tokenizer file is not one this port reads; the message names the file and the key."""


@cache
def _byte_chars() -> tuple[str, ...]:
    """GPT-2's map from each byte to a printable character (bytes_to_unicode)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return tuple(out[b] for b in range(256))


@dataclass(frozen=True)
class BytePairPort:
    vocab: dict[str, int]
    ranks: dict[tuple[str, str], int]
    added: dict[str, int]

    @classmethod
    def from_file(cls, path: Path) -> BytePairPort:
        try:
            data = json.loads(path.read_text("utf-8"))
            model = data["model"]
            if model.get("type") != "BPE":
                msg = f"{path}: model.type is {model.get('type')!r}; this port reads BPE"
                raise PortError(msg)
            merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)
                      for m in model["merges"]]
            vocab = {str(k): int(v) for k, v in model["vocab"].items()}
            added = {t["content"]: int(t["id"]) for t in data.get("added_tokens", [])}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError,
                AttributeError, ValueError) as exc:
            if isinstance(exc, PortError):
                raise
            msg = f"{path}: not a tokenizers BPE file this port reads ({exc!r})"
            raise PortError(msg) from exc
        ranks = {(a, b): i for i, (a, b) in enumerate(merges)}
        return cls(vocab, ranks, added)

    def _bpe(self, word: str) -> list[str]:
        parts = list(word)
        while len(parts) > 1:
            ranked = [r for pair in itertools.pairwise(parts)
                      if (r := self.ranks.get(pair)) is not None]
            if not ranked:
                break
            rank = min(ranked)
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and self.ranks.get((parts[i], parts[i + 1])) == rank:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def _encode_plain(self, text: str) -> list[int]:
        chars = _byte_chars()
        ids = []
        for piece in GPT2_PATTERN.findall(text):
            word = "".join(chars[b] for b in piece.encode("utf-8"))
            ids += [self.vocab[p] for p in self._bpe(word)]
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: added tokens matched first (longest first), then BPE."""
        if not self.added:
            return self._encode_plain(text)
        pattern = regex.compile("|".join(regex.escape(t) for t in
                                         sorted(self.added, key=len, reverse=True)))
        ids, start = [], 0
        for m in pattern.finditer(text):
            ids += self._encode_plain(text[start:m.start()])
            ids.append(self.added[m.group()])
            start = m.end()
        return ids + self._encode_plain(text[start:])
