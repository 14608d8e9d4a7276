"""Snapshot identity: the feat_id set hash, and the sentence that quotes both identities."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from harness.runs.snapshot import Snapshot, feat_id_set_sha256, snapshot_difference


def test_hash_is_the_documented_one() -> None:
    expected = hashlib.sha256(b"a\nb\n").hexdigest()
    assert feat_id_set_sha256(["b", "a"]) == expected


@given(st.lists(st.text(min_size=1), unique=True), st.randoms())
def test_hash_ignores_order(ids: list[str], rnd) -> None:
    shuffled = list(ids)
    rnd.shuffle(shuffled)
    assert feat_id_set_sha256(ids) == feat_id_set_sha256(shuffled)


def test_difference_quotes_both_identities() -> None:
    a = Snapshot("d", "1" * 64, 10, feat_id_set_sha256(["x"]))
    same = Snapshot("other name", "1" * 64, 10, feat_id_set_sha256(["x"]))
    b = Snapshot("d", "1" * 64, 11, feat_id_set_sha256(["x", "y"]))
    assert snapshot_difference(a=a, b=same) is None
    text = snapshot_difference(a=a, b=b, label_a="nqo run", label_b="latn run")
    assert text is not None
    assert "n_rows, feat_id_set_sha256 differ" in text
    assert f"nqo run is {a}" in text
    assert f"latn run is {b}" in text
    assert "10 test rows" in text
    assert "11 test rows" in text
