"""Files replaced whole: written beside their place, then renamed over it.

A reader sees the old file or the new one, never a part (``os.replace`` is atomic on POSIX), and
two writers of the same file leave one complete version. Rendered files and every cache use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["save_cache", "write_atomic"]


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """``path`` holds ``data``, created with its folder if need be; ``mode``: chmod first
    (a temporary file is created 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_cache(path: Path, data: bytes) -> None:
    """:func:`write_atomic` for a cache: where it cannot be written, the next run recomputes."""
    with contextlib.suppress(OSError):
        write_atomic(path, data)
