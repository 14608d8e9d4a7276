"""Rendered pieces that depend only on immutable records, kept from one render to the next.

Most of a render changes with every new record: ages are measured against the newest one.
Some pieces do not: an area's plot specs (with their source hashes) and a claim's history
table are functions of the claim's contract and of records that never change once written.
Each is stored under a key that hashes everything it is made of (the records' own ``hash``
fields, the contract's ``sha256``, the code of ``harness/render``), so an entry can be used
without checking anything else: a different input is a different key.

One marshal file per workspace holds the pieces the last render used; pieces no longer used
are dropped when it is written, so it does not grow. The memo is only a cache: a missing,
unreadable or foreign file means every piece is computed, with the same bytes as a result.
"""

from __future__ import annotations

import hashlib
import marshal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from harness.atomic import save_cache

__all__ = ["Memo", "cached", "key", "scope"]

T = TypeVar("T")
_FORMAT = 1


@cache
def _code_tag() -> str:
    """A digest of the code a memoised piece comes from: any change there empties the memo."""
    here = Path(__file__).parent
    digest = hashlib.sha256(f"{_FORMAT}:{marshal.version}:{sys.version_info[:2]}".encode())
    files = [*sorted(here.glob("*.py")), *sorted((here / "templates").glob("*")),
             here.parent / "records.py", here.parent / "contracts.py"]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def key(namespace: str, parts: Iterable[str]) -> str:
    """A memo key: ``namespace`` and the sha256 of the code tag and ``parts``."""
    digest = hashlib.sha256(_code_tag().encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return f"{namespace}:{digest.hexdigest()}"


class Memo:
    """The pieces kept by the last render (``old``) and those this render uses (``used``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.old: dict[str, Any] = _load(path) if path is not None else {}
        self.used: dict[str, Any] = {}

    def save(self) -> None:
        """Write the pieces this render used, when they differ from the file's."""
        if self.path is not None and self.used.keys() != self.old.keys():
            save_cache(self.path, marshal.dumps((_code_tag(), self.used)))


def _load(path: Path) -> dict[str, Any]:
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if (not isinstance(data, tuple) or len(data) != 2 or data[0] != _code_tag()
            or not isinstance(data[1], dict)):
        return {}
    found: dict[str, Any] = data[1]
    return found


_ACTIVE: tuple[dict[str, Any], dict[str, Any]] | None = None  # (old, used) of this part


@contextmanager
def scope(memo: Memo | None) -> Iterator[dict[str, Any]]:
    """Within: :func:`cached` reads ``memo`` and records what it uses in the yielded dict."""
    global _ACTIVE
    used: dict[str, Any] = {}
    previous = _ACTIVE
    _ACTIVE = None if memo is None else (memo.old, used)
    try:
        yield used
    finally:
        _ACTIVE = previous


def cached(memo_key: Callable[[], str], compute: Callable[[], T],
           dump: Callable[[T], Any], load: Callable[[Any], T]) -> T:
    """``compute()``, or the piece kept under ``memo_key()`` (no memo in scope: computed).

    ``dump`` turns the piece into marshal-able values and ``load`` turns them back."""
    if _ACTIVE is None:
        return compute()
    old, used = _ACTIVE
    k = memo_key()
    if k in used:
        return load(used[k])
    if k in old:
        used[k] = old[k]
        return load(old[k])
    value = compute()
    used[k] = dump(value)
    return value
