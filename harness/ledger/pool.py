"""Segments checked on every core: the cold reads of a large ledger, spread over processes.

A ledger is many independent segments, so checking and indexing them is a map. Below
``PARALLEL_BYTES`` of work (a warm cache, one new session) the map runs here; above it, in a
``ProcessPoolExecutor`` of ``workers()`` forked processes, but only while this process has a
single OS thread (``/proc/self/task``): forking a process that holds other threads (torch's
OpenMP pool in a pytest run, say) can deadlock the child, and the alternatives (spawn,
forkserver) re-run the caller's ``__main__``, which a user's unguarded script cannot survive. A
process with threads, or without ``/proc`` (macOS), maps here. ``FALSIFY_WORKERS=1`` keeps
everything in this process.

Hand-written only as far as choosing when to fan out: the pool is the standard library's.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["PARALLEL_BYTES", "file_sizes", "map_segments", "workers"]

T = TypeVar("T")
PARALLEL_BYTES = 64 * 1024 * 1024


def workers() -> int:
    """``FALSIFY_WORKERS`` when set (at least 1), else the cores this process may use."""
    raw = os.environ.get("FALSIFY_WORKERS", "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            msg = f"FALSIFY_WORKERS={raw!r} is not a whole number; set it to 1 or more, or unset it"
            raise ValueError(msg) from None
    return max(1, len(os.sched_getaffinity(0)))


def file_sizes(paths: Sequence[os.PathLike[str]]) -> list[int]:
    """Each file's size in bytes (0 when it cannot be read): the work ``map_segments`` weighs."""
    sizes = []
    for path in paths:
        try:
            sizes.append(os.stat(path).st_size)
        except OSError:
            sizes.append(0)
    return sizes


def _single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def map_segments(fn: Callable[..., T], calls: Sequence[tuple[Any, ...]],
                 sizes: Sequence[int]) -> list[T]:
    """``[fn(*call) for call in calls]``, in order, on every core when the work (``sizes``,
    bytes per call) is large enough to repay starting processes. ``fn`` must be a module-level
    function and its arguments picklable."""
    n = min(workers(), len(calls))
    with _gc_paused():
        if n <= 1 or sum(sizes) < PARALLEL_BYTES or not _single_threaded():
            return [fn(*call) for call in calls]
        context = multiprocessing.get_context("fork")
        chunk = max(1, len(calls) // (n * 8))
        try:
            with ProcessPoolExecutor(n, mp_context=context) as pool:
                return list(pool.map(fn, *zip(*calls, strict=True), chunksize=chunk))
        finally:
            _await_single_thread()


def _await_single_thread(limit_s: float = 2.0) -> None:
    """Wait (briefly) for the pool's helper threads to end, so that the next map may fork."""
    deadline = time.monotonic() + limit_s
    while not _single_threaded() and time.monotonic() < deadline:
        time.sleep(0.005)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while records are parsed: they hold no cycles, and the
    collector's passes over a million live dicts cost a third of a cold read. Forked workers
    inherit the pause."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
