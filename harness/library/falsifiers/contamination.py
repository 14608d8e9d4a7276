"""Falsifier of EVAL-NOT-CONTAMINATED (library claims/contamination.yaml).

Subjects are ``eval-vs-train`` pairs (harness.metrics.contamination). The near-duplicate search
is :func:`harness.metrics.dedup.cross_duplicates`, the machinery the eval-set near-duplicate guard
uses within one set; the matches are attached with both texts, the training file and its line.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.metrics.contamination import EvalVsTrain
from harness.metrics.dedup import canonical_text, cross_duplicates

pytestmark = pytest.mark.live


def _pair(workspace: Any, subject_id: str) -> EvalVsTrain:
    pair = workspace.resolve(subject_id)
    if not isinstance(pair, EvalVsTrain):
        msg = (f"subject {subject_id!r} is a {type(pair).__name__}; this claim compares an eval "
               f"set with training text: give it a subject of kind eval-vs-train")
        raise TypeError(msg)
    return pair


@pytest.mark.claim("EVAL-NOT-CONTAMINATED")
def test_eval_not_contaminated(evidence, subject, workspace):
    """Eval examples with a near duplicate among the training lines, at the claim's Jaccard."""
    pair = _pair(workspace, subject.id)
    evalset = pair.evalset
    evidence.input(evalset.path)
    for path in pair.train_paths:
        evidence.input(path)
    train = pair.train_lines()
    threshold = evidence.claim.params_for(subject.id)["contamination_jaccard"].to("ratio").value
    texts = list(evalset.texts)
    found = cross_duplicates(texts, [t.text for t in train], threshold)
    n = found.n
    evidence.measure("contaminated_fraction", found.fraction, unit="ratio", n=n)
    evidence.measure("contaminated", len(found.matches), unit="count")
    evidence.measure("exact_copies", sum(
        canonical_text(texts[m.query]) == canonical_text(train[m.reference].text)
        for m in found.matches), unit="count")
    evidence.measure("n_examples", n, unit="count")
    evidence.measure("train_lines", len(train), unit="count")
    if found.matches:
        examples = found.examples(texts, [t.text for t in train])
        for e, m in zip(examples, found.matches, strict=False):
            line = train[m.reference]
            e["train_file"], e["train_line"] = line.path.name, line.line
            del e["train_row"]
        evidence.attach("contaminated_examples", examples)
        first = found.matches[0]
        where = train[first.reference]
        evidence.note(f"{len(found.matches)} of {n} eval examples have a near duplicate in the "
                      f"training text; first: eval row {first.query} ~ {where.path.name}:"
                      f"{where.line} (Jaccard {first.jaccard:.2f})")
