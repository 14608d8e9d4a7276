"""AGP counting on hand-checked rows, gate rows from a file, and gate rows from a live gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.metrics.text import TextPolicy
from harness.runs.agp import GateRow, count_gate_rows, gate_rows_from, read_gate_rows
from harness.runs.gate_client import GateClient, GateProcess
from harness.runs.validation import BundleError

POLICY = TextPolicy("NFC", "collapse")
# (asr_text, proposal, accepted, reference); edits counted by hand in the comments.
ROWS = [
    GateRow("u1", "abcx", "abcd", True, "abcd", "stable"),      # 1 -> 0: improved
    GateRow("u2", "abcd", "abce", True, "abcd", "stable"),      # 0 -> 1: worse
    GateRow("u3", "abxd", "abyd", True, "abcd", "boundary"),    # 1 -> 1: unchanged
    GateRow("u4", "xbcd", "abcd", False, "abcd", "uncertain"),  # rejected: after = before = 1
    GateRow("u5", "a  b", "a b", True, "a b", "novelty"),       # 0 -> 0 under collapse
    GateRow("u6", "zzzz", "abzz", True, "abcd", "stable"),      # 4 -> 2: improved
]


def test_counts_match_the_hand_count() -> None:
    c = count_gate_rows(ROWS, POLICY)
    assert (c.rows, c.accepted, c.rejected) == (6, 5, 1)
    assert (c.accepted_improved, c.accepted_unchanged, c.accepted_worse) == (2, 2, 1)
    assert [w.feat_id for w in c.worse_rows] == ["u2"]
    assert (c.worse_rows[0].edits_before, c.worse_rows[0].edits_after) == (0, 1)
    # before: 1+0+1+1+0+4 = 7 edits; after: 0+1+1+1+0+2 = 5; references: 4*5 + 3 = 23 chars
    assert (c.edits_before, c.edits_after, c.reference_chars) == (7, 5, 23)
    assert c.cer_before == pytest.approx(7 / 23)
    assert c.cer_after == pytest.approx(5 / 23)


def test_no_rows_counts_zero() -> None:
    c = count_gate_rows([], POLICY)
    assert (c.rows, c.accepted, c.accepted_worse, c.cer_before) == (0, 0, 0, 0.0)


def test_gate_rows_file_round_trip_and_problems(tmp_path: Path) -> None:
    path = tmp_path / "gate.jsonl"
    lines = [json.dumps(r.to_json(), ensure_ascii=False) for r in ROWS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_gate_rows(path) == ROWS
    bad = dict(ROWS[0].to_json(), accepted="yes")
    path.write_text("\n".join([*lines, json.dumps(bad), lines[1]]) + "\n", encoding="utf-8")
    with pytest.raises(BundleError) as info:
        read_gate_rows(path)
    found = [str(p) for p in info.value.problems]
    assert found == ["gate.jsonl:7:accepted: expected boolean, got 'yes'",
                     "gate.jsonl:8:feat_id: duplicate feat_id 'u2' (first at line 2)"]


def test_rows_through_a_live_gate(tmp_path: Path) -> None:
    """The same counting over rows that went through a real gate process."""
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("abcd\nefgh\n", encoding="utf-8")

    class Pred:
        def __init__(self, fid: str, hyp: str, ref: str) -> None:
            self.feat_id, self.asr_text, self.reference_text = fid, hyp, ref
            self.partition = "stable"

    preds = [Pred("u1", "abcd eQgh", "abcd efgh"), Pred("u2", "abcd", "abcd")]
    with GateProcess(lexicon, "lexicon") as gate:
        rows = gate_rows_from(GateClient(gate.url), preds)
    assert [(r.feat_id, r.proposal, r.accepted) for r in rows] == [
        ("u1", "abcd efgh", True), ("u2", "abcd", False)]
    c = count_gate_rows(rows, POLICY)
    assert (c.accepted, c.accepted_improved, c.accepted_worse) == (1, 1, 0)
