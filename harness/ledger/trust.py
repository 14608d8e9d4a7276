"""What makes a read trusted: the segment key, the verified-ledger cache, and the refusal.

Every reader (``Ledger``: gate, status, show, render, paper check, pr, amend) answers only from
bytes that passed ``falsify verify``'s checks. Checking 100,000 records costs a minute, so each
segment's bytes are checked once and the result is remembered under the segment's *key*, and every
cache built from a segment (its index, the saved ``latest()``, the render's history rows and
latest records) is keyed by that same string: a cache answers only for the exact bytes it was
built from.

The key. ``device:inode:size:mtime_ns:ctime_ns``. Any write to a file (``write``, ``truncate``,
a rename over it, ``chmod``, and ``os.utime``, which sets mtime back) sets its ctime to the
kernel's clock, and no system call lets a process set ctime to a chosen value: an edit with the
size kept and the mtime restored still changes the key. A replaced file has a new inode. The one
gap is time granularity: the kernel stamps ctime from a coarse clock (a few milliseconds on Linux,
up to seconds on some file systems), so two writes inside one tick leave the same ctime. As git
does with its "racily clean" index entries, a segment whose ctime or mtime is less than
``RACY_S`` seconds old (or in the future) therefore gets the sha256 of its whole content appended
to its key: a recent file is compared by content, an older one by a key that any later write
changes. Hashing every segment on every read instead (0.2 s per 200 MB here) would cost a fifth of
the gate's one-second budget at 100,000 records for nothing the stat key misses.

Outside the guarantee: someone who can set the system clock back (root), a file system that does
not maintain ctime, and anyone who can write the cache folder (who could as well replace
falsify's code). CI starts from a fresh checkout with no cache, so it checks every byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from harness.atomic import save_cache
from harness.ledger.segment import LedgerError
from harness.ledger.verify import Problem, SegmentCheck

__all__ = ["RACY_S", "LedgerTampered", "VerifiedCache", "fingerprint", "segment_key"]

RACY_S = 5.0
_FORMAT = 1
_SHOWN = 20


class LedgerTampered(LedgerError):
    """The ledger failed a check that readers rely on: the problems, each with file:line and
    its fix. Readers refuse rather than answer from bytes that did not verify."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (str(p.path), p.line or 0))
        shown = "\n".join(f"  {p}" for p in self.problems[:_SHOWN])
        more = len(self.problems) - _SHOWN
        tail = f"\n  … and {more} more (`falsify verify` lists them all)" if more > 0 else ""
        super().__init__(f"the ledger does not verify ({len(self.problems)} problem(s)); no "
                         f"verdict is read from it until it does:\n{shown}{tail}")


def fingerprint(checks: Sequence[SegmentCheck]) -> str:
    """What the extra checks add to every cache key ("" when there are none)."""
    return "|".join(c.fingerprint() for c in checks)


def _stat_key(path: Path) -> tuple[str, os.stat_result]:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}", st


def _racy(st: os.stat_result, now_ns: int) -> bool:
    return now_ns - max(st.st_ctime_ns, st.st_mtime_ns) < RACY_S * 1e9


def segment_key(path: Path, checks: Sequence[SegmentCheck] = ()) -> tuple[str, bytes | None]:
    """The key of ``path``'s bytes (see the module docstring), and the bytes when reading them
    was part of making the key. Companion files of the checks join the key the same way."""
    key, st = _stat_key(path)
    data = None
    if _racy(st, time.time_ns()):
        data = path.read_bytes()
        key += ":sha256=" + hashlib.sha256(data).hexdigest()
    for check in checks:
        for other in check.companions(path):
            try:
                extra, est = _stat_key(other)
            except FileNotFoundError:
                key += "|-"
                continue
            if _racy(est, time.time_ns()):
                extra += ":sha256=" + hashlib.sha256(other.read_bytes()).hexdigest()
            key += "|" + extra
    return key, data


class VerifiedCache:
    """The segment keys of a ledger whose every check passed at the last read, in one small file.

    When every key still matches, the ledger is the one that verified and nothing is read.
    """

    def __init__(self, file: Path | None, ledger_dir: Path, checks: str) -> None:
        self.file = file
        self.tag = f"{Path(ledger_dir).resolve()}\n{checks}"

    def keys(self) -> dict[str, str] | None:
        if self.file is None:
            return None
        try:
            data = json.loads(self.file.read_bytes())
            if data.get("format") != _FORMAT or data.get("tag") != self.tag:
                return None
            return {str(k): str(v) for k, v in data["segments"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # a cache, not evidence: the ledger is checked again

    def save(self, keys: dict[str, str]) -> None:
        if self.file is not None:
            data = {"format": _FORMAT, "tag": self.tag, "segments": keys}
            save_cache(self.file, json.dumps(data, sort_keys=True).encode())
