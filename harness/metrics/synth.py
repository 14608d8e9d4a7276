"""Synthetic (hypothesis, reference) rows for tests and benchmarks of the CER metrics.

References are real lines from the embedded corpora (CC BY-SA 4.0, see
``harness/demo/data/corpora/SOURCE.md``); hypotheses are those lines with seeded character
errors. Nothing here stands in for a measurement: the rows exist to exercise and time the
metrics over realistic text (N'Ko with combining marks, Bambara Latin with ɛ ɔ ɲ ŋ).

Error model, per reference code point: with probability ``error_rate`` an error is made at that
position, which is a substitution (1/2), a deletion (1/4) or an insertion before it (1/4).
Substituted and inserted characters are drawn from the same line, so they stay in its script.
Error positions are drawn with replacement, so two errors may land on one position.

The references depend only on ``n`` and the corpora (line ``i`` of the rows is line
``i mod L`` of the interleaved corpora); ``seed`` and ``error_rate`` drive the errors only. Two
calls with the same ``n`` and different seeds therefore give two "systems" over the SAME rows,
which is what a paired significance test needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from harness.demo import CORPORA_DIR
from harness.keywords import paired_fields

__all__ = ["DEFAULT_CORPORA", "SynthRows", "corpus_lines", "synth_rows"]

DEFAULT_CORPORA = ("nqo_Nkoo", "bam_Latn")


@paired_fields
@dataclass(frozen=True, kw_only=True)
class SynthRows:
    """Aligned rows: ``hyps[i]`` is a noisy copy of ``refs[i]``, from corpus ``langs[i]``."""

    hyps: tuple[str, ...]
    refs: tuple[str, ...]
    langs: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.refs)


@cache
def _read_corpus(name: str) -> tuple[str, ...]:
    path = CORPORA_DIR / name
    if not path.is_file():
        msg = f"corpus {name!r} not found at {path}; known corpora: {_known()}"
        raise FileNotFoundError(msg)
    text = path.read_text(encoding="utf-8")
    return tuple(line for line in text.split("\n") if line.strip())


def _known() -> str:
    return ", ".join(sorted(p.name for p in CORPORA_DIR.iterdir() if p.name != "SOURCE.md"))


def corpus_lines(names: Sequence[str] = DEFAULT_CORPORA) -> tuple[tuple[str, str], ...]:
    """Non-blank lines of the named corpora, interleaved line by line, as ``(lang, line)``."""
    corpora = [_read_corpus(name) for name in names]
    longest = max((len(c) for c in corpora), default=0)
    return tuple(
        (name, lines[i])
        for i in range(longest)
        for name, lines in zip(names, corpora, strict=True)
        if i < len(lines)
    )


def synth_rows(
    n: int, seed: int = 0, error_rate: float = 0.1, *, corpora: Sequence[str] = DEFAULT_CORPORA
) -> SynthRows:
    """``n`` rows of real reference lines and hypotheses with seeded character errors."""
    if n < 0:
        msg = f"n must be >= 0, got {n}"
        raise ValueError(msg)
    if not 0.0 <= error_rate <= 1.0:
        msg = f"error_rate must be within [0, 1], got {error_rate}"
        raise ValueError(msg)
    pool = corpus_lines(corpora)
    if not pool:
        msg = f"corpora {list(corpora)} hold no lines"
        raise ValueError(msg)
    langs = tuple(pool[i % len(pool)][0] for i in range(n))
    refs = tuple(pool[i % len(pool)][1] for i in range(n))
    hyps = _corrupt(refs, np.random.default_rng(seed), error_rate)
    return SynthRows(hyps=hyps, refs=refs, langs=langs)


def _corrupt(refs: Sequence[str], rng: np.random.Generator, rate: float) -> tuple[str, ...]:
    lens = np.fromiter((len(r) for r in refs), dtype=np.int64, count=len(refs))
    counts = rng.binomial(lens, rate)
    total = int(counts.sum())
    row_len = np.repeat(lens, counts)
    # Positions and source characters as fractions of the row length: one vectorised draw.
    pos = (rng.random(total) * row_len).astype(np.int64)
    src = (rng.random(total) * row_len).astype(np.int64)
    ops = rng.choice(np.array([0, 0, 1, 2]), size=total)  # 0 sub, 1 del, 2 ins
    row = np.repeat(np.arange(len(refs)), counts)
    order = np.lexsort((-pos, row))  # per row, rightmost edit first: earlier indices stay valid
    starts = np.concatenate(([0], np.cumsum(counts))).tolist()
    pos_l, src_l, ops_l = pos[order].tolist(), src[order].tolist(), ops[order].tolist()
    return tuple(
        _apply(ref, pos_l[a:b], src_l[a:b], ops_l[a:b])
        for ref, a, b in zip(refs, starts[:-1], starts[1:], strict=True)
    )


def _apply(ref: str, pos: list[int], src: list[int], ops: list[int]) -> str:
    if not pos:
        return ref
    chars = list(ref)
    for p, s, op in zip(pos, src, ops, strict=True):
        if op != 2 and p >= len(chars):  # an earlier deletion at the same spot ate the end
            continue
        if op == 0:
            chars[p] = ref[s]
        elif op == 1:
            del chars[p]
        else:
            chars.insert(p, ref[s])
    return "".join(chars)
