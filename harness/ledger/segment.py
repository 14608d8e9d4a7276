"""Segment files: naming, listing, splitting into lines, and telling a torn tail from a live one.

A segment is one writer's append-only JSONL file. Every complete line ends with ``\\n``; bytes
after the last ``\\n`` are a *tail*: either a record whose newline alone is missing, a line a live
writer is writing right now (its segment is locked), or a line torn by a writer that died.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.records import canonical_json, sha256_text

__all__ = [
    "SEGMENT_SUFFIX",
    "LedgerError",
    "Tail",
    "body_hash",
    "is_live",
    "line_hash_ok",
    "safe_name",
    "segment_paths",
    "split_lines",
    "verify_hint",
]

SEGMENT_SUFFIX = ".jsonl"
_SAFE = re.compile(r"[^A-Za-z0-9_.]+")


class LedgerError(ValueError):
    """The ledger cannot be read or written: names the file and line, and the fix."""


def verify_hint(path: Path, line: int, problem: str) -> str:
    return f"{path}:{line}: {problem}; run `falsify verify` for the full report and the fix"


def safe_name(text: str) -> str:
    """``text`` with anything but letters, digits, ``_`` and ``.`` replaced by ``_``."""
    return _SAFE.sub("_", text).strip("_.") or "x"


def segment_paths(ledger_dir: Path) -> list[Path]:
    """The segments of a ledger, by name (names start with a UTC stamp)."""
    if not ledger_dir.is_dir():
        return []
    return sorted(p for p in ledger_dir.iterdir()
                  if p.name.endswith(SEGMENT_SUFFIX) and p.is_file())


def is_live(path: Path) -> bool:
    """True when a writer holds the segment's exclusive lock right now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock when we got it
    return False


@dataclass(frozen=True)
class Tail:
    """Bytes after the last newline of a segment."""

    line: int
    offset: int
    data: bytes


def split_lines(data: bytes) -> tuple[list[bytes], list[int], Tail | None]:
    """Complete lines (without newline), their byte offsets, and the tail if any."""
    parts = data.split(b"\n")
    rest = parts.pop()
    offsets: list[int] = []
    pos = 0
    for part in parts:
        offsets.append(pos)
        pos += len(part) + 1
    tail = Tail(len(parts) + 1, pos, rest) if rest else None
    return parts, offsets, tail


def body_hash(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of every field but ``hash``: what ``Record.hash`` covers."""
    return sha256_text(canonical_json({k: v for k, v in data.items() if k != "hash"}))


def line_hash_ok(raw: bytes) -> dict[str, Any] | None:
    """The record on ``raw`` when it is complete JSON whose hash recomputes, else None."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("hash"), str):
        return None
    try:
        ok = body_hash(data) == data["hash"]
    except ValueError:  # a NaN smuggled in: canonical JSON refuses it
        return None
    return data if ok else None
