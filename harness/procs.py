"""Child processes that do not outlive the process that started them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["die_with_parent", "preexec", "serve_announced"]


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


def serve_announced(server: Any) -> int:
    """Print the port ``server`` (a bound ``http.server``) listens on as stdout's first line, for
    the launcher to read, then serve until interrupted; the socket is closed after."""
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
