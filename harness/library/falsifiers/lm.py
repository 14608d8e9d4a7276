"""Falsifiers of the language-model claims (library claims/lm.yaml), over live torch and MLX models.

Perplexity claims take ``lm-eval`` subjects: a model subject paired with an eval set subject
(and a reference model), so "the same model on four examples" is a subject like any other.
Scores are computed once per (model, eval set) in a session and shared by the claims that need
them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from harness.metrics.dedup import near_duplicates
from harness.metrics.lm import (
    EvalSet,
    LmEval,
    NllStats,
    added_vocabulary,
    duplicate_count,
    evalset_nll,
    finite_fraction,
    max_abs_difference,
    new_row_distances,
    quantization_step,
    relative_difference,
    save_and_reload,
)

pytestmark = pytest.mark.live

# Rows of the logit batch: enough sentences to carry every kind of new token, small enough that
# the [rows, T, V] logits stay a few megabytes.
LOGIT_ROWS = 32

Scorer = Callable[[str, Any, str, EvalSet], NllStats]


@pytest.fixture(scope="session")
def lm_score() -> Scorer:
    """Token-weighted NLL of a model on an eval set, computed once per session per pair."""
    done: dict[tuple[str, str], NllStats] = {}

    def score(model_id: str, model: Any, evalset_id: str, evalset: EvalSet) -> NllStats:
        key = (model_id, evalset_id)
        if key not in done:
            done[key] = evalset_nll(model, evalset)
        return done[key]

    return score


def _pair(workspace: Any, subject_id: str) -> LmEval:
    pair = workspace.resolve(subject_id)
    if not isinstance(pair, LmEval):
        msg = (f"subject {subject_id!r} is a {type(pair).__name__}; this claim scores a model on "
               f"an eval set: give it a subject of kind lm-eval (model, evalset, reference)")
        raise TypeError(msg)
    return pair


def _declare(evidence: Any, pair: LmEval) -> tuple[Any, EvalSet]:
    model, evalset = pair.model, pair.evalset
    evidence.input(model.path)
    evidence.input(evalset.path)
    evidence.attach("evalset", {"subject": pair.evalset_id, "file": evalset.path.name,
                                "sha256": evalset.sha256, "lines": evalset.n_raw,
                                "examples": evalset.n_dedup,
                                "duplicates_removed": evalset.n_duplicates})
    return model, evalset


def _measure_nll(evidence: Any, stats: NllStats) -> None:
    n = stats.n_tokens
    evidence.measure("bits_per_token", stats.bits_per_token, unit="bits", n=n)
    evidence.measure("bits_per_byte", stats.bits_per_byte, unit="bits/byte", n=n)
    evidence.measure("n_tokens", n, unit="count")
    evidence.measure("n_examples", stats.n_examples, unit="count")


@pytest.mark.claim("ENG-PPL-SANE")
def test_eng_ppl_sane(evidence, subject, workspace, lm_score):
    """Token-weighted perplexity of the model on the eval set, and the same on its reference."""
    pair = _pair(workspace, subject.id)
    model, evalset = _declare(evidence, pair)
    stats = lm_score(pair.model_id, model, pair.evalset_id, evalset)
    if pair.reference_id is None:
        msg = (f"lm-eval subject {pair.id!r} names no reference model; ENG-PPL-SANE compares the "
               f"perplexity with the same weights on another backend: set reference = \"<id>\"")
        raise ValueError(msg)
    reference = pair.reference
    assert reference is not None  # reference_id is set, so the pair loaded it
    evidence.input(reference.path)
    ref = lm_score(pair.reference_id, reference, pair.evalset_id, evalset)
    evidence.measure("ppl", stats.perplexity, unit="perplexity", n=stats.n_tokens)
    evidence.measure("mean_nll", stats.mean_nll, unit="nats", n=stats.n_tokens)
    _measure_nll(evidence, stats)
    evidence.measure("n_duplicate_examples", duplicate_count(evalset.texts), unit="count")
    evidence.measure("n_duplicates_removed", evalset.n_duplicates, unit="count")
    _measure_near_duplicates(evidence, subject.id, evalset)
    evidence.measure("reference_ppl", ref.perplexity, unit="perplexity", n=ref.n_tokens)
    evidence.measure("reference_n_tokens", ref.n_tokens, unit="count")
    evidence.measure("ppl_rel_diff_vs_reference",
                     relative_difference(value=stats.perplexity, reference=ref.perplexity),
                     unit="ratio")
    evidence.note(f"{pair.model_id} ({model.backend}) on {pair.evalset_id}; reference "
                  f"{pair.reference_id} ({reference.backend})")


def _measure_near_duplicates(evidence: Any, subject_id: str, evalset: EvalSet) -> None:
    """Near-duplicate examples at the contract's Jaccard threshold (harness.metrics.dedup)."""
    threshold = evidence.claim.params_for(subject_id)["near_dup_jaccard"].to("ratio").value
    dups = near_duplicates(evalset.texts, threshold)
    evidence.measure("near_dup_fraction", dups.fraction, unit="ratio", n=dups.n)
    evidence.measure("distinct_clusters", dups.distinct, unit="count", n=dups.n)
    if dups.groups:
        evidence.attach("near_duplicates", dups.examples(evalset.texts))
        evidence.note(f"{dups.duplicate_rows} of {dups.n} examples repeat an earlier one up to "
                      f"case, zero-width characters, punctuation or small edits "
                      f"({len(dups.groups)} cluster(s), the largest of {len(dups.groups[0])})")


@pytest.mark.claim("LM-VAL-BELOW-UNIFORM")
def test_val_below_uniform(evidence, subject, workspace, lm_score):
    """Held-out NLL per token in nats, beside the model's own vocabulary size (for ln|V|)."""
    pair = _pair(workspace, subject.id)
    model, evalset = _declare(evidence, pair)
    stats = lm_score(pair.model_id, model, pair.evalset_id, evalset)
    evidence.measure("val_nll", stats.mean_nll, unit="nats", n=stats.n_tokens)
    evidence.measure("vocab_size", model.vocab_size, unit="count")
    evidence.measure("tokenizer_vocab_size", model.tokenizer_vocab_size, unit="count")
    _measure_nll(evidence, stats)


def _measure_tie(evidence: Any, prefix: str, model: Any) -> None:
    evidence.measure(f"{prefix}_shares_storage", int(model.head_shares_storage()), unit="1")
    diff = max_abs_difference(a=model.output_projection(), b=model.input_embedding())
    evidence.measure(f"{prefix}_max_abs_diff", diff, unit="1")


@pytest.mark.claim("TIED-WEIGHTS-INTACT")
def test_tied_weights_intact(evidence, subject, workspace, tmp_path):
    """Where the config ties the head, the output projection is the embedding: after load and
    after a save + reload through the model's own framework."""
    model = workspace.resolve(subject.id)
    evidence.input(model.path)
    evidence.measure("tied_in_config", int(model.tied_in_config), unit="1")
    evidence.measure("vocab_size", model.vocab_size, unit="count")
    _measure_tie(evidence, "head", model)
    reloaded = save_and_reload(model, tmp_path / "roundtrip")
    _measure_tie(evidence, "reload", reloaded)
    q = model.quantization
    evidence.note(f"{model.backend} {model.dtype}" + (f", {q.bits}-bit groups of {q.group_size}"
                                                       if q is not None else ""))


def _padded(rows: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = True
    return ids, mask


def _resize_text(claim: Any) -> str:
    """The eval set subject the new tokens were added for: the binding's ``declares.text``."""
    text = claim.declares.get("text")
    if not isinstance(text, str):
        msg = (f"{claim.id} measures the new rows on the text they were added for: name that "
               f"eval set subject in the claim's uses: entry, declares: {{text: SUBJECT_ID}}")
        raise ValueError(msg)
    return text


@pytest.mark.claim("EMBED-RESIZE-FINITE")
def test_embed_resize_finite(evidence, subject, workspace):
    """New rows: finite logits on text that uses them, near their constituents' mean, and a
    tokenizer that pays for them in fewer tokens on the text they were added for."""
    model = workspace.resolve(subject.id)
    text = workspace.resolve(_resize_text(evidence.claim))
    evidence.input(model.path)
    evidence.input(text.path)
    added = added_vocabulary(model.path)
    rows = [model.encode(t) for t in text.texts[:LOGIT_ROWS]]
    ids, mask = _padded(rows, model.eos_id if model.eos_id is not None else 0)
    logits = model.logits(ids)[mask]  # real positions only: [tokens, V]
    evidence.measure("finite_logit_fraction", finite_fraction(logits), unit="ratio",
                     n=int(logits.size))
    evidence.measure("new_ids_in_batch", int(np.isin(ids[mask], added.ids).sum()), unit="count")
    embedding = model.input_embedding()
    dist = new_row_distances(embedding, added)
    evidence.measure("n_new_tokens", len(added.ids), unit="count")
    evidence.measure("n_rows_initialised", dist.n_initialised, unit="count")
    evidence.measure("n_rows_fallback", dist.n_fallback, unit="count")
    evidence.measure("max_new_row_abs_error", dist.max_abs, unit="1")
    q = model.quantization
    step = 0.0 if q is None else quantization_step(embedding[list(added.ids)], q.group_size)
    evidence.measure("quantization_step", step, unit="1")
    evidence.measure("max_new_row_dist", dist.max_l2, unit="1")
    evidence.measure("new_row_rel_dist", dist.max_l2 / dist.mean_old_row_norm, unit="ratio")
    old_rows, new_rows = added.encode_old(text.texts), added.encode_new(text.texts)
    old = sum(len(r) for r in old_rows)
    new = sum(len(r) for r in new_rows)
    evidence.measure("tokens_old", old, unit="count")
    evidence.measure("tokens_new", new, unit="count")
    evidence.measure("new_token_uses", sum(int(np.isin(r, added.ids).sum()) for r in new_rows),
                     unit="count")
    evidence.measure("compression", old / new, unit="ratio", n=len(text.texts))
    evidence.attach("new_tokens", [{"id": i, "token": t, "split": list(s)} for i, t, s in
                                   zip(added.ids[:20], added.tokens[:20], added.splits[:20],
                                       strict=True)])
