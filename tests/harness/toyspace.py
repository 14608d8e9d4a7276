"""A small falsify workspace on disk: one contract, one falsifier, real files, real ledger.

The falsifier measures real quantities of real files the test writes (line and token counts of a
text file), so the tests exercise the plugin end to end without any stand-in for a measurement.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

CONTRACT = """\
area: toy
title: Toy claims
claims:
  - id: TOY-TEXT-NOT-TINY
    title: The text file has enough lines and is below its byte budget
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
    subjects: [short-lines, few-lines]
    controls:
      - subject: long-lines
        expect: FAIL
        why: lines of 200 bytes break the budget
"""

FALSIFIER = '''\
import pytest
from pathlib import Path

pytestmark = pytest.mark.live
SPEC = {"short-lines": (40, 20), "few-lines": (3, 20), "long-lines": (40, 200)}


@pytest.mark.claim("TOY-TEXT-NOT-TINY")
def test_text(evidence, subject, tmp_path):
    lines, width = SPEC[subject.id]
    path = tmp_path / "data.txt"
    path.write_text("".join("x" * (width - 1) + "\\n" for _ in range(lines)))
    data = path.read_bytes().splitlines(keepends=True)
    evidence.input(path)
    evidence.measure("n_lines", len(data), unit="count")
    evidence.measure("mean_line_bytes", sum(map(len, data)) / len(data), unit="bytes")
'''


def write_toyspace(root: Path, contract: str = CONTRACT, falsifier: str = FALSIFIER,
                   extra: dict[str, str] | None = None) -> Path:
    (root / "contracts").mkdir(parents=True, exist_ok=True)
    (root / "falsifiers").mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "toy"\nversion = "0"\n')
    (root / "contracts" / "toy.yaml").write_text(textwrap.dedent(contract))
    (root / "falsifiers" / "test_toy.py").write_text(falsifier)
    for name, text in (extra or {}).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root
