"""Falsifiers of the corpus claims (library claims/corpus.yaml): audits of live token shards."""

from __future__ import annotations

import math

import pytest

from harness.metrics.corpus import audit

pytestmark = pytest.mark.live


@pytest.mark.claim("CORPUS-NOT-DEGENERATE")
def test_corpus_not_degenerate(evidence, subject, workspace):
    """Unigram audit of every shard: <unk> share, distinct ids and entropy against log2|V|."""
    corpus = workspace.resolve(subject.id)
    for shard in corpus.shards:
        evidence.input(shard)
    if corpus.tokenizer is not None:
        evidence.input(corpus.tokenizer)
    result = audit(corpus, progress=False)
    n = result.total_tokens
    evidence.measure("total_tokens", n, unit="count")
    evidence.measure("unk_count", result.unk_count, unit="count", n=n)
    evidence.measure("unk_ratio", result.unk_ratio, unit="ratio", n=n)
    evidence.measure("distinct_tokens", result.distinct_tokens, unit="count", n=n)
    evidence.measure("entropy_bits", result.entropy_bits, unit="bits", n=n)
    evidence.measure("entropy_ceiling", math.log2(corpus.vocab_size), unit="bits")
    evidence.measure("vocab_size", corpus.vocab_size, unit="count")
    evidence.measure("out_of_range_ids", result.out_of_range, unit="count", n=n)
    if corpus.unk_id is None:
        evidence.note("the vocabulary names no <unk> id: unk_count is 0 by construction")
    evidence.attach("shards", [
        {"shard": s.path.name, "tokens": s.tokens, "unk_count": s.unk_count,
         "out_of_range_ids": s.out_of_range} for s in result.shards])
    evidence.attach("top_tokens", [{"id": i, "count": c} for i, c in result.top_tokens])
