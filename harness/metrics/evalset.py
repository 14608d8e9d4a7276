"""Eval sets (``kind = "evalset"``): a file of examples, read, normalised and deduplicated.

Two formats, chosen by the subject's ``format`` option:

- ``lines`` (the default): one example per line of a UTF-8 text file (lines split as Python's
  ``str.splitlines``). Blank lines are dropped.
- ``jsonl``: JSON Lines, one JSON object per line (split at ``\\n`` only, so a U+2028 inside a
  string stays in its example), the example's text in the string field ``text_field`` (default
  ``"text"``). Blank lines are dropped; a line that is not JSON, not an object, or lacks the field
  as a non-empty string is an error naming the file, the line and the fix.

Either way each example is NFC-normalised with whitespace runs collapsed to one space, and exact
duplicates (SHA-256 of the normalised text) are removed, keeping the first. Counting, the same for
both formats: ``n_raw`` examples read (non-blank lines or objects), ``n_dedup`` examples kept and
scored (what a falsifier reports as ``n_examples``), ``n_duplicates = n_raw - n_dedup``.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.workspace import SubjectSpec, Workspace

__all__ = [
    "FORMATS",
    "EvalSet",
    "EvalSetError",
    "duplicate_count",
    "load_evalset",
    "normalise_text",
    "parse_jsonl",
    "read_evalset",
]

FORMATS = ("lines", "jsonl")
_WHITESPACE = re.compile(r"\s+")


class EvalSetError(ValueError):
    """An eval set that cannot be used: names the file and the fix."""


@dataclass(frozen=True)
class EvalSet:
    """A deduplicated eval set read from a file (``format`` ``lines`` or ``jsonl``).

    Fields:
        name: the subject id (or file name) the set was loaded as.
        path: the file the examples came from.
        texts: the normalised, deduplicated examples, in file order.
        sha256: hex SHA-256 of the file's bytes, exactly as read.
        n_raw: examples in the file: non-blank lines (``lines``) or objects (``jsonl``).
        n_dedup: examples kept after deduplication (``len(texts)``): the examples scored.
        n_duplicates: examples dropped as exact duplicates of an earlier one (after normalisation).
        format: ``lines`` or ``jsonl``.
    """

    name: str
    path: Path
    texts: tuple[str, ...]
    sha256: str
    n_raw: int
    n_dedup: int
    n_duplicates: int
    format: str = "lines"

    @property
    def n_bytes(self) -> int:
        """UTF-8 bytes of all kept examples."""
        return sum(len(t.encode("utf-8")) for t in self.texts)


def normalise_text(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, ends stripped."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        lineno = data[: exc.start].count(b"\n") + 1
        msg = f"{path}:{lineno}: not UTF-8 (byte {exc.start}); re-encode the file as UTF-8"
        raise EvalSetError(msg) from None


def parse_jsonl(text: str, path: Path, text_field: str = "text") -> list[str]:
    """The ``text_field`` string of every object of a JSON Lines file, blank lines skipped."""
    fix = f'each line holds one JSON object such as {{"{text_field}": "an example"}}'
    out: list[str] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value: Any = json.loads(line)
        except (ValueError, RecursionError) as exc:
            why = (exc.msg if isinstance(exc, json.JSONDecodeError) else
                   "nested too deep" if isinstance(exc, RecursionError) else str(exc))
            msg = f"{path}:{lineno}: not JSON ({why}); {fix}"
            raise EvalSetError(msg) from None
        out.append(_field(value, path, lineno, text_field, fix))
    return out


def _field(value: Any, path: Path, lineno: int, text_field: str, fix: str) -> str:
    if not isinstance(value, dict):
        msg = f"{path}:{lineno}: a JSON {type(value).__name__}, not an object; {fix}"
        raise EvalSetError(msg)
    if text_field not in value:
        keys = ", ".join(sorted(value)[:8]) or "none"
        msg = (f"{path}:{lineno}: the object has no {text_field!r} field (its keys: {keys}); "
               f"{fix}, or set text_field to the field that holds the text")
        raise EvalSetError(msg)
    found = value[text_field]
    if not isinstance(found, str) or not normalise_text(found):
        what = "an empty string" if isinstance(found, str) else f"a JSON {type(found).__name__}"
        msg = (f"{path}:{lineno}: field {text_field!r} is {what}, not the example's text; "
               f"{fix}, or remove the line")
        raise EvalSetError(msg)
    return found


def read_evalset(path: Path, name: str | None = None, fmt: str = "lines",
                 text_field: str = "text") -> EvalSet:
    """Read, normalise and deduplicate the eval set at ``path`` in format ``fmt``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read the eval set ({exc.strerror}); check the subject's path"
        raise EvalSetError(msg) from None
    text = _decode(path, data)
    if fmt == "jsonl":
        raw = parse_jsonl(text.removeprefix("\ufeff"), path, text_field)
    elif fmt == "lines":
        raw = text.splitlines()
    else:
        msg = f"{path}: unknown eval set format {fmt!r}; use one of {', '.join(FORMATS)}"
        raise EvalSetError(msg)
    kept, n_raw = _dedup(normalise_text(r) for r in raw)
    if not kept:
        msg = (f"{path}: the eval set is empty (no non-blank lines); put one example per line "
               f"in the file, or point the subject at the right file")
        raise EvalSetError(msg)
    return EvalSet(name or path.name, path, tuple(kept), hashlib.sha256(data).hexdigest(),
                   n_raw, len(kept), n_raw - len(kept), fmt)


def _dedup(texts: Iterable[str]) -> tuple[list[str], int]:
    """The non-blank texts, first occurrence of each kept; and how many non-blank were read."""
    kept: list[str] = []
    seen: set[bytes] = set()
    n_raw = 0
    for line in texts:
        if not line:
            continue
        n_raw += 1
        key = _text_key(line)
        if key not in seen:
            seen.add(key)
            kept.append(line)
    return kept, n_raw


def load_evalset(spec: SubjectSpec, workspace: Workspace) -> EvalSet:
    """Workspace loader for ``kind = "evalset"``: options ``path`` (a UTF-8 file), ``format``
    (``lines``, the default, or ``jsonl``) and ``text_field`` (``jsonl`` only; ``"text"``)."""
    del workspace  # the path is already absolute in the spec
    options: Mapping[str, Any] = spec.options
    fmt = options.get("format", "lines")
    if fmt not in FORMATS:
        msg = f"subject {spec.id!r}: format must be one of {', '.join(FORMATS)}, got {fmt!r}"
        raise EvalSetError(msg)
    if "text_field" in options and fmt != "jsonl":
        msg = (f"subject {spec.id!r}: text_field applies to format = \"jsonl\" only; add "
               f"format = \"jsonl\" or remove text_field")
        raise EvalSetError(msg)
    field = options.get("text_field", "text")
    if not isinstance(field, str) or not field:
        msg = f"subject {spec.id!r}: text_field must be a non-empty string, got {field!r}"
        raise EvalSetError(msg)
    return read_evalset(spec.path(), spec.id, fmt, field)


def duplicate_count(texts: Iterable[str]) -> int:
    """How many of ``texts`` repeat an earlier one exactly (SHA-256 of the UTF-8 text)."""
    seen: set[bytes] = set()
    dupes = 0
    for text in texts:
        key = _text_key(text)
        if key in seen:
            dupes += 1
        seen.add(key)
    return dupes
