"""Tokenizer parity: the pure-Python BPE port against the tokenizers library on generated text,
the parity file reader on damaged files, and the first-difference report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.demo.build import Builder
from harness.demo.lm import tokenizer_dir
from harness.metrics.bpe_port import BytePairPort, PortError
from harness.metrics.tokparity import first_difference, parity_jsonl, read_parity
from harness.workspace import Workspace, WorkspaceError

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def tokenizer_json() -> Path:
    return tokenizer_dir(Builder.for_workspace(Workspace.discover(HERE))) / "tokenizer.json"


# N'Ko letters, digits and combining tone marks; Latin with accents; whitespace of every kind;
# punctuation; emoji and modifiers; the special tokens themselves.
ALPHABET = st.sampled_from([
    *map(chr, range(0x07C0, 0x07FB)), *"abcXYZ éèïçÆß", *"0123456789", *" \t\n\r\u00a0\u2009",
    *".,'’\"!?-()[]«»", "👍", "🏽", "🤖", "\u200b", "\u0301", "<|endoftext|>", "<pad>", "'s", "'ll",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(ALPHABET, max_size=40))
def test_the_port_encodes_generated_text_as_tokenizers_does(tokenizer_json, parts):
    from tokenizers import Tokenizer

    text = "".join(parts)
    reference = Tokenizer.from_file(str(tokenizer_json))
    assert BytePairPort.from_file(tokenizer_json).encode(text) == reference.encode(text).ids


def test_two_merges_out_of_order_change_some_encodings(tokenizer_json, tmp_path):
    data = json.loads(tokenizer_json.read_text("utf-8"))
    merges = data["model"]["merges"]
    merges[0], merges[1] = merges[1], merges[0]
    swapped = tmp_path / "tokenizer.json"
    swapped.write_text(json.dumps(data), "utf-8")
    good, bad = BytePairPort.from_file(tokenizer_json), BytePairPort.from_file(swapped)
    text = "ߒߞߏ ߞߊ߬ ߓߟߏ߫ ߊ߬ߟߎ߫"
    assert first_difference(good.encode(text), bad.encode(text)) is not None


@given(a=st.lists(st.integers(0, 5), max_size=8), b=st.lists(st.integers(0, 5), max_size=8))
def test_first_difference_is_the_first_unequal_position(a, b):
    at = first_difference(a, b)
    if a == b:
        assert at is None
    else:
        assert at is not None
        assert a[:at] == b[:at]
        assert at == min(len(a), len(b)) or a[at] != b[at]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.text(max_size=10), st.lists(st.integers(0, 99), max_size=4)),
                     min_size=1, max_size=5),
       damage=st.sampled_from(["none", "not-json", "ids-text", "negative", "bytes"]),
       at=st.integers(0, 4))
def test_parity_files_round_trip_or_name_the_bad_line(tmp_path, rows, damage, at):
    body = [json.dumps({"text": t, "ids": ids}, ensure_ascii=False).encode() for t, ids in rows]
    bad = min(at, len(body) - 1)
    if damage == "not-json":
        body[bad] = b"{text: 1"
    elif damage == "ids-text":
        body[bad] = b'{"text": "x", "ids": "1 2"}'
    elif damage == "negative":
        body[bad] = b'{"text": "x", "ids": [1, -2]}'
    elif damage == "bytes":
        body[bad] = b'{"text": "\xff"}'
    path = tmp_path / f"parity-{damage}-{bad}.jsonl"
    path.write_bytes(b"\n".join(body) + b"\n")
    if damage == "none":
        got = read_parity(path)
        assert [(r.text, list(r.ids)) for r in got] == [(t, ids) for t, ids in rows]
    else:
        with pytest.raises(WorkspaceError, match=rf"{path.name}:{bad + 1}: "):
            read_parity(path)


def test_parity_jsonl_is_what_the_reader_reads(tmp_path):
    texts = ["", "a b", "ߒߞߏ\n"]
    path = tmp_path / "p.jsonl"
    path.write_bytes(parity_jsonl(texts, lambda t: [len(t), 7]))
    assert [(r.text, r.ids) for r in read_parity(path)] == [(t, (len(t), 7)) for t in texts]


def test_a_file_the_port_cannot_read_names_itself(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"model": {"type": "Unigram"}}')
    with pytest.raises(PortError, match="Unigram"):
        BytePairPort.from_file(path)
    path.write_text("{")
    with pytest.raises(PortError, match=r"tokenizer\.json"):
        BytePairPort.from_file(path)
