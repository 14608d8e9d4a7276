"""Tokenizer parity: a ported tokenizer against ground-truth (text, ids) pairs.

A subject of kind ``tokenizer-port`` names three files::

    [tool.falsify.subjects.browser-tokenizer]
    kind = "tokenizer-port"
    reference = "model/tokenizer.json"   # read by the `tokenizers` library: the ground truth
    port = "web/tokenizer.json"          # read by the port under test (harness.metrics.bpe_port)
    parity = "tests/parity.jsonl"        # {"text": ..., "ids": [...]} per line

The parity file is checked twice: the reference must reproduce every row (the ground truth is
true), and the port must match every row. A mismatch is reported with the row, the text and the
first token position where the ids differ.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.workspace import SubjectSpec, Workspace, WorkspaceError

__all__ = ["ParityRow", "TokenizerPort", "first_difference", "load_tokenizer_port",
           "parity_jsonl", "read_parity"]


@dataclass(frozen=True)
class ParityRow:
    line: int  # 1-based line of the parity file
    text: str
    ids: tuple[int, ...]


def read_parity(path: Path) -> list[ParityRow]:
    """The rows of a parity file; a bad line is an error naming the file, the line and the fix."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"cannot read parity file {path}: {exc}"
        raise WorkspaceError(msg) from exc
    rows = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            msg = f"{where}: not a JSON line ({exc}); write one {{\"text\", \"ids\"}} per line"
            raise WorkspaceError(msg) from exc
        text, ids = (obj.get("text"), obj.get("ids")) if isinstance(obj, dict) else (None, None)
        if not isinstance(text, str) or not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
            msg = (f"{where}: a parity row is {{\"text\": string, \"ids\": [non-negative "
                   f"integers]}}, got {line[:80]!r}")
            raise WorkspaceError(msg)
        rows.append(ParityRow(number, text, tuple(ids)))
    if not rows:
        msg = f"{path}: no parity rows; write one {{\"text\", \"ids\"}} per line"
        raise WorkspaceError(msg)
    return rows


def parity_jsonl(texts: Sequence[str], encode: Any) -> bytes:
    """A parity file: each text with the ids ``encode`` gives it (the reference's)."""
    return "".join(json.dumps({"text": t, "ids": list(encode(t))}, ensure_ascii=False) + "\n"
                   for t in texts).encode("utf-8")


def first_difference(expected: Sequence[int], got: Sequence[int]) -> int | None:
    """The first token position where two id sequences differ, or None when equal."""
    for i, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return i
    return None if len(expected) == len(got) else min(len(expected), len(got))


@dataclass(frozen=True)
class TokenizerPort:
    id: str
    reference: Path
    port: Path
    parity: Path


def load_tokenizer_port(spec: SubjectSpec, workspace: Workspace) -> TokenizerPort:
    """Workspace loader for ``kind = "tokenizer-port"``: ``reference``, ``port``, ``parity``."""
    where = spec.where(workspace)
    paths = {}
    for key in ("reference", "port", "parity"):
        value = spec.options.get(key)
        if not isinstance(value, str) or not value:
            msg = (f"{where}: a tokenizer-port needs {key} = \"<path>\" (reference and port: "
                   f"tokenizer.json files; parity: a JSONL file of text and ids)")
            raise WorkspaceError(msg)
        path = Path(value)
        paths[key] = path if path.is_absolute() else workspace.root / path
    return TokenizerPort(spec.id, paths["reference"], paths["port"], paths["parity"])
