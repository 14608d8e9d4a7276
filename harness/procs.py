"""Child processes that do not outlive the process that started them."""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["die_with_parent", "preexec"]


def die_with_parent() -> None:  # pragma: no cover (runs in the child before exec)
    """Linux: the child gets SIGTERM when the process that started it dies, even by SIGKILL
    (a served model's server when the tests die; a cluster task's pytest when its node dies)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def preexec() -> Callable[[], None] | None:
    """The ``preexec_fn`` for such a child here: ``die_with_parent`` on Linux, else None."""
    return die_with_parent if sys.platform == "linux" else None
