"""Repair-gate rows: what the gate accepted, and whether each accepted repair helped.

A gate row (run_gate_row.schema.json) is one utterance through the gate: ``asr_text``, the
gate's ``proposal``, ``accepted``, and the ``reference_text`` it is scored against. Each
accepted row is classed by its per-row character edits against the reference (the reference
length is the same on both sides, so comparing edits is comparing per-row CER): improved,
unchanged or worsened. CER before the gate scores every ``asr_text``; CER after scores the
proposal where the gate accepted it and the ``asr_text`` where it did not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.metrics.text import TextPolicy, char_edits, ref_chars
from harness.runs.bundle import ProblemLog, decode_jsonl_line
from harness.runs.gate_client import GateClient
from harness.runs.validation import schema_check

__all__ = ["AgpCounts", "GateRow", "WorseRow", "count_gate_rows", "gate_rows_from",
           "read_gate_rows"]


@dataclass(frozen=True)
class GateRow:
    feat_id: str
    asr_text: str
    proposal: str
    accepted: bool
    reference_text: str
    partition: str

    def to_json(self) -> dict[str, Any]:
        return {"feat_id": self.feat_id, "asr_text": self.asr_text, "proposal": self.proposal,
                "accepted": self.accepted, "reference_text": self.reference_text,
                "partition": self.partition}


@dataclass(frozen=True)
class WorseRow:
    feat_id: str
    edits_before: int
    edits_after: int
    reference_chars: int


@dataclass(frozen=True)
class AgpCounts:
    """Counts over gate rows, and the corpus CER before and after the gate."""

    rows: int
    accepted: int
    accepted_improved: int
    accepted_unchanged: int
    accepted_worse: int
    edits_before: int
    edits_after: int
    reference_chars: int
    worse_rows: tuple[WorseRow, ...]

    @property
    def rejected(self) -> int:
        return self.rows - self.accepted

    @property
    def cer_before(self) -> float:
        return self.edits_before / self.reference_chars if self.reference_chars else 0.0

    @property
    def cer_after(self) -> float:
        return self.edits_after / self.reference_chars if self.reference_chars else 0.0


def count_gate_rows(rows: Sequence[GateRow], policy: TextPolicy) -> AgpCounts:
    """Class every accepted row as improved / unchanged / worse under the metrics ``policy``."""
    improved = unchanged = before_total = after_total = chars_total = 0
    worse: list[WorseRow] = []
    for row in rows:
        before = char_edits(hyp=row.asr_text, ref=row.reference_text, policy=policy)
        chars = ref_chars(row.reference_text, policy)
        after = (char_edits(hyp=row.proposal, ref=row.reference_text, policy=policy)
                 if row.accepted else before)
        before_total, after_total, chars_total = (before_total + before, after_total + after,
                                                  chars_total + chars)
        if not row.accepted:
            continue
        if after < before:
            improved += 1
        elif after == before:
            unchanged += 1
        else:
            worse.append(WorseRow(row.feat_id, before, after, chars))
    accepted = sum(r.accepted for r in rows)
    return AgpCounts(len(rows), accepted, improved, unchanged, len(worse), before_total,
                     after_total, chars_total, tuple(worse))


def gate_rows_from(client: GateClient, inputs: Iterable[Any]) -> list[GateRow]:
    """Send every prediction row's ``asr_text`` through the live gate; gate rows in input order.

    ``inputs`` are :class:`~harness.runs.bundle.PredictionRow`s (anything with feat_id,
    asr_text, reference_text and partition)."""
    src = list(inputs)
    results = client.propose([(r.feat_id, r.asr_text) for r in src])
    return [GateRow(r.feat_id, r.asr_text, g.proposal, g.accepted, r.reference_text, r.partition)
            for r, g in zip(src, results, strict=True)]


def read_gate_rows(path: Path) -> list[GateRow]:
    """Gate rows from a JSONL file; one BundleError listing every bad row and duplicate id."""
    log = ProblemLog()
    rows: list[GateRow] = []
    seen: dict[str, int] = {}
    check = schema_check("run_gate_row")
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            data = decode_jsonl_line(raw.rstrip(b"\r\n"), path.name, lineno, log, check)
            if data is None:
                continue
            first = seen.setdefault(data["feat_id"], lineno)
            if first != lineno:
                log.add(path.name, lineno, "feat_id",
                        f"duplicate feat_id {data['feat_id']!r} (first at line {first})")
                continue
            rows.append(GateRow(data["feat_id"], data["asr_text"], data["proposal"],
                                data["accepted"], data["reference_text"], data["partition"]))
    log.raise_if_any(path)
    return rows
