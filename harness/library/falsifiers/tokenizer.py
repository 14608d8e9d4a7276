"""Falsifier of TOKENIZER-PARITY (library claims/tokenizer.yaml): a port against ground truth."""

from __future__ import annotations

from typing import Any

import pytest

from harness.metrics.bpe_port import BytePairPort
from harness.metrics.tokparity import TokenizerPort, first_difference, read_parity

pytestmark = pytest.mark.live


def _subject(workspace: Any, subject_id: str) -> TokenizerPort:
    port = workspace.resolve(subject_id)
    if not isinstance(port, TokenizerPort):
        msg = (f"subject {subject_id!r} is a {type(port).__name__}; this claim checks a ported "
               f"tokenizer: give it a subject of kind tokenizer-port")
        raise TypeError(msg)
    return port


@pytest.mark.claim("TOKENIZER-PARITY")
def test_tokenizer_parity(evidence, subject, workspace):
    """Each parity row through the reference (tokenizers) and through the port."""
    from tokenizers import Tokenizer

    pair = _subject(workspace, subject.id)
    for path in (pair.reference, pair.port, pair.parity):
        evidence.input(path)
    rows = read_parity(pair.parity)
    reference = Tokenizer.from_file(str(pair.reference))
    port = BytePairPort.from_file(pair.port)
    ref_bad = [r for r in rows if tuple(reference.encode(r.text).ids) != r.ids]
    bad: list[dict[str, Any]] = []
    for r in rows:
        got = port.encode(r.text)
        at = first_difference(r.ids, got)
        if at is not None:
            bad.append({"line": r.line, "text": r.text, "position": at,
                        "expected": list(r.ids[at:at + 5]), "got": got[at:at + 5]})
    evidence.measure("mismatched_rows", len(bad), unit="count")
    evidence.measure("reference_mismatches", len(ref_bad), unit="count")
    evidence.measure("n_rows", len(rows), unit="count")
    evidence.measure("n_tokens", sum(len(r.ids) for r in rows), unit="count")
    if bad:
        evidence.attach("mismatches", bad[:10])
        first = bad[0]
        evidence.note(f"first mismatch: {pair.parity.name}:{first['line']} "
                      f"{first['text'][:40]!r} at token {first['position']}: expected "
                      f"{first['expected']}, the port gave {first['got']}")
    if ref_bad:
        evidence.note(f"the reference no longer gives the ids of {pair.parity.name}:"
                      f"{ref_bad[0].line}; regenerate the parity file")
