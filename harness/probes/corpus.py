"""Probe of the token stream a subject is scored on: real text, or a pile of ``<unk>``?

The eval texts are encoded with the subject's own tokenizer and audited with
:func:`harness.metrics.corpus.audit` (unk share, distinct ids, unigram entropy). The verdict comes
from the corpus claim's contract (:data:`CORPUS_CLAIM`), so the thresholds stay there: the claim
FAILing on the stream confirms the hypothesis, PASSing refutes it.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.evidence import Evidence
from harness.metrics.corpus import Corpus, audit
from harness.probes.context import ProbeContext
from harness.probes.registry import Finding, InterventionError, intervention, probe
from harness.records import Status
from harness.verdict import judge

__all__ = ["CORPUS_CLAIM", "corpus_sanity", "restore_tokenizer"]

CORPUS_CLAIM = "CORPUS-NOT-DEGENERATE"


def _stream(model: Any, texts: list[str]) -> np.ndarray:
    ids: list[int] = []
    for text in texts:
        ids += model.encode(text)
    return np.asarray(ids, dtype=np.int64)


def _audit_stream(model: Any, ids: np.ndarray) -> Any:
    unk = getattr(model.tokenizer, "unk_token_id", None)
    with tempfile.TemporaryDirectory(prefix="falsify-stream-") as tmp:
        shard = Path(tmp) / "stream.npy"
        np.save(shard, ids)
        corpus = Corpus("eval stream", (shard,), model.vocab_size,
                        unk if isinstance(unk, int) else None)
        return audit(corpus, progress=False)


@probe("corpus_sanity")
def corpus_sanity(ctx: ProbeContext, evidence: Evidence) -> Finding:
    """Does the eval text, as the subject tokenizes it, pass the corpus claim?"""
    model = ctx.model()
    result = _audit_stream(model, _stream(model, ctx.texts()))
    n = result.total_tokens
    evidence.measure("total_tokens", n, unit="count")
    evidence.measure("unk_count", result.unk_count, unit="count", n=n)
    evidence.measure("unk_ratio", result.unk_ratio if n else 0.0, unit="ratio", n=n)
    evidence.measure("distinct_tokens", result.distinct_tokens, unit="count", n=n)
    evidence.measure("entropy_bits", result.entropy_bits, unit="bits", n=n)
    evidence.measure("entropy_ceiling", math.log2(model.vocab_size), unit="bits")
    evidence.measure("vocab_size", model.vocab_size, unit="count")
    evidence.measure("out_of_range_ids", result.out_of_range, unit="count", n=n)
    if CORPUS_CLAIM not in ctx.contracts:
        return Finding.inconclusive(f"no claim {CORPUS_CLAIM} in the contracts to judge the "
                                    f"stream by (its thresholds decide this probe)")
    verdict = judge(ctx.contracts[CORPUS_CLAIM], ctx.subject.id, evidence.measurements)
    why = f"{CORPUS_CLAIM} on the tokenized eval text: {verdict.format()}"
    if verdict.status is Status.FAIL:
        return Finding.confirmed(why)
    if verdict.status is Status.PASS:
        return Finding.refuted(why)
    return Finding.inconclusive(why)


@intervention("restore_tokenizer")
def restore_tokenizer(ctx: ProbeContext) -> str:
    """Give the subject the tokenizer loaded with its reference checkpoint."""
    model, reference = ctx.model(), ctx.reference()
    if reference is None or reference.backend != model.backend:
        msg = "restoring the tokenizer needs a reference checkpoint on the same backend"
        raise InterventionError(msg)
    before = model.tokenizer_vocab_size
    model.tokenizer = reference.tokenizer
    model.tokenizer_vocab_size = reference.tokenizer_vocab_size
    model.eos_id, model.bos_id = reference.eos_id, reference.bos_id
    return (f"tokenizer replaced by the one saved with {reference.path.name} "
            f"({before} -> {reference.tokenizer_vocab_size} entries)")
