"""A small workspace for render tests: two areas of real contracts and a real ledger.

``Space(root)`` writes ``contracts/`` and ``pyproject.toml``; ``space.record(...)`` builds a
complete record whose contract hash is the claim's current one (so it is fresh), and
``space.append(*records)`` writes them through a real :class:`LedgerWriter`.
"""

from __future__ import annotations

import dataclasses
import textwrap
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.contracts import ContractSet, load_contracts
from harness.ledger import Ledger, LedgerWriter
from harness.records import Measurement, Record
from harness.render.view import EvidenceView, build_view
from tests.harness.ledger_factory import BASE_TIME, make_record

__all__ = ["BASE_TIME", "LM", "TOY", "Space"]

TOY = """\
area: toy
title: Toy claims
claims:
  - id: TOY-TEXT-NOT-TINY
    title: The text file has enough lines | and is below its byte budget
    statement: The text file holds at least min_lines lines and its mean line is short.
    milestones: [core]
    max_age: 30d
    measures:
      n_lines: {unit: count, doc: lines in the file}
      mean_line_bytes: {unit: bytes}
    params:
      min_lines: 10 count
      max_line_bytes: 80 bytes
    predicate: mean_line_bytes <= max_line_bytes
    guards:
      - id: enough-lines
        check: n_lines >= min_lines
        doc: a budget on three lines says nothing
    subjects: [short-lines, few-lines]
    controls:
      - subject: long-lines
        expect: FAIL
        why: lines of 200 bytes break the budget
    hypotheses:
      - id: H1
        statement: the file was truncated by the writer
        probe: line_count
"""

LM = """\
area: lm
title: Language models
claims:
  - id: LM-LOSS
    title: Held-out loss is below the uniform baseline
    statement: Mean held-out NLL per token, in nats, is below ln|V|.
    milestones: [core, lm]
    measures:
      val_nll: {unit: nats}
      vocab_size: {unit: count}
      unk_ratio: {unit: ratio}
    predicate: val_nll < ln(vocab_size)
    subjects: [demo-torch, demo-mlx]
    controls:
      - subject: demo-untied
        expect: FAIL
    paper:
      table: lm
      caption: Held-out loss & the uniform baseline
      measurements: [val_nll, vocab_size, unk_ratio]
      digits: 3
"""


class Space:
    def __init__(self, root: Path, contracts: dict[str, str] | None = None) -> None:
        self.root = root
        (root / "contracts").mkdir(parents=True, exist_ok=True)
        (root / "pyproject.toml").write_text('[project]\nname = "space"\nversion = "0"\n')
        for name, text in (contracts or {"toy": TOY, "lm": LM}).items():
            (root / "contracts" / f"{name}.yaml").write_text(textwrap.dedent(text))
        self.ledger_dir = root / "evidence" / "ledger"
        self.ledger_dir.mkdir(parents=True, exist_ok=True)

    @property
    def contracts(self) -> ContractSet:
        return load_contracts(self.root / "contracts")

    def ledger(self) -> Ledger:
        return Ledger(self.ledger_dir, self.root / ".cache" / "index")

    def view(self) -> EvidenceView:
        return build_view(self.contracts, self.ledger(), ledger_label="evidence/ledger")

    def record(self, claim: str, subject: str, verdict: str = "PASS", *, hours: float = 0.0,
               measurements: dict[str, tuple[float, str] | tuple[float, str, tuple[float, float]]]
               | None = None, **kw: Any) -> Record:
        """A fresh record of ``claim`` on ``subject`` at BASE_TIME + ``hours``."""
        c = self.contracts[claim]
        ref = c.subject(subject)
        role = ref.role if ref is not None else "subject"
        expect = ref.expect.value if ref is not None and ref.expect is not None else None
        ms = None
        if measurements is not None:
            ms = tuple(Measurement(n, v[0], v[1], ci=v[2] if len(v) > 2 else None,  # type: ignore[misc]
                                   ci_level=0.95 if len(v) > 2 and v[2] else None,
                                   n=v[3] if len(v) > 3 else None)
                       for n, v in measurements.items())
        created: datetime = BASE_TIME + timedelta(hours=hours)
        rec = make_record(claim, subject, verdict=verdict, created=created, role=role,
                          expect=expect, measurements=ms, record_id=kw.pop("record_id", None)
                          or uuid.uuid4().hex, **kw)
        node = f"falsifiers/test_{c.area}.py::test_{claim.lower().replace('-', '_')}[{subject}]"
        return dataclasses.replace(rec, claim_sha256=c.sha256, node_id=node)

    def append(self, *records: Record) -> list[Record]:
        with LedgerWriter(self.ledger_dir, uuid.uuid4().hex[:16]) as writer:
            return [writer.append(r) for r in records]


def toy_ms(mean: float, n: int = 40) -> dict[str, Any]:
    return {"n_lines": (float(n), "count"),
            "mean_line_bytes": (mean, "bytes", (mean - 1, mean + 1), n)}


def lm_ms(nll: float, vocab: float = 2048.0, unk: float = 0.00012) -> dict[str, Any]:
    return {"val_nll": (nll, "nats", (nll - 0.05, nll + 0.05)), "vocab_size": (vocab, "count"),
            "unk_ratio": (unk, "ratio")}


def populated(root: Path) -> Space:
    """A workspace with history on both areas, a control, a hypothesis and a per-layer curve."""
    space = Space(root)
    recs = []
    for i in range(3):
        recs += [space.record("TOY-TEXT-NOT-TINY", "short-lines", hours=i,
                              measurements=toy_ms(20.0 + i)),
                 space.record("TOY-TEXT-NOT-TINY", "few-lines", "SUSPECT", hours=i,
                              measurements=toy_ms(20.0, n=3)),
                 space.record("TOY-TEXT-NOT-TINY", "long-lines", "FAIL", hours=i,
                              measurements=toy_ms(200.0))]
    curve = {"per_layer": {"layers": [0, 1, 2, 3], "max_abs_diff": [0.0, 0.01, 0.02, 0.4]}}
    recs += [space.record("LM-LOSS", "demo-torch", hours=4, measurements=lm_ms(3.412),
                          attachments=curve),
             space.record("LM-LOSS", "demo-mlx", hours=4, measurements=lm_ms(3.415)),
             space.record("LM-LOSS", "demo-untied", "FAIL", hours=4,
                          measurements=lm_ms(9.8, unk=0.5)),
             space.record("TOY-TEXT-NOT-TINY", "few-lines", "CONFIRMED", kind="hypothesis",
                          hypothesis="H1", hours=5)]
    space.append(*recs)
    return space
