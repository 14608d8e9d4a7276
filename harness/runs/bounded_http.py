"""HTTP with a total deadline per request and a size cap, for the gate client and server.

A socket timeout bounds each ``recv``, not the request: a peer that sends one byte every half
second never trips it. :class:`DeadlineReader` sets the socket's timeout to the time *left*
before every read, so the whole exchange ends by its deadline whatever the peer does. The stdlib
``http.client`` still parses the protocol (status line, header limits, chunked bodies); this
module only bounds time and bytes and names each way an exchange can fail.
"""

from __future__ import annotations

import http.client
import io
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DeadlineReader", "HttpAnswer", "HttpFailure", "HttpLimits", "HttpMalformed",
           "HttpOversize", "HttpReset", "HttpShortRead", "HttpTimeout", "HttpUnreachable",
           "request"]

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class HttpLimits:
    deadline_s: float = 10.0  # the whole request: connect, send, headers, body
    max_bytes: int = 8 * 1024 * 1024  # the answer's body


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    content_type: str
    body: bytes


class HttpFailure(Exception):
    """An exchange that did not complete; ``what`` says how, ``limit`` which bound applied."""

    def __init__(self, what: str, limit: str = "") -> None:
        self.what, self.limit = what, limit
        super().__init__(what)


class HttpUnreachable(HttpFailure):
    """No connection: refused, no route, no such host, or the connect timed out."""


class HttpTimeout(HttpFailure):
    """Connected, but the answer was not complete by the deadline (a stall or a slow drip)."""


class HttpOversize(HttpFailure):
    """The answer's body is larger than the cap (declared or actually sent)."""


class HttpShortRead(HttpFailure):
    """The peer closed the connection before the body it declared was complete."""


class HttpReset(HttpFailure):
    """The peer reset or closed the connection before any answer."""


class HttpMalformed(HttpFailure):
    """The bytes are not an HTTP answer (bad status line, too many or too long headers)."""


class DeadlineReader(io.RawIOBase):
    """A socket read side whose every ``recv`` waits at most until ``deadline()``."""

    def __init__(self, sock: socket.socket, deadline: Callable[[], float]) -> None:
        super().__init__()
        self.sock, self.deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline() - time.monotonic()
        if left <= 0:
            msg = "deadline passed"
            raise TimeoutError(msg)
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class _DeadlineSocket:
    """The connected socket as http.client sees it: sends and reads bounded by the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock, self._deadline = sock, deadline

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            msg = "deadline passed"
            raise TimeoutError(msg)
        return left

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(self._left())  # sendall's timeout is for the whole call
        self._sock.sendall(data)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        del mode, args, kwargs
        return io.BufferedReader(DeadlineReader(self._sock, lambda: self._deadline))

    def close(self) -> None:
        """http.client closes the connection while the body is still to be read (a real
        socket's makefile defers that); :func:`request` closes the socket when it is done."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def request(url: str, method: str = "GET", body: bytes | None = None,
            headers: Mapping[str, str] | None = None,
            limits: HttpLimits = HttpLimits()) -> HttpAnswer:
    """One request to ``url``, finished by ``limits.deadline_s`` with at most ``max_bytes``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpUnreachable(f"{url!r} is not an http:// or https:// URL")
    deadline = time.monotonic() + limits.deadline_s
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=limits.deadline_s)
    raw: socket.socket | None = None
    try:
        try:
            conn.connect()
        except OSError as exc:  # refused, unreachable, DNS, connect timeout
            raise HttpUnreachable(f"cannot connect ({type(exc).__name__}: {exc})",
                                  f"{limits.deadline_s:g} s") from None
        raw = conn.sock
        conn.sock = _DeadlineSocket(raw, deadline)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return _exchange(conn, method, target, body, dict(headers or {}), limits)
    except TimeoutError:
        raise HttpTimeout(f"the answer was not complete within {limits.deadline_s:g} s",
                          f"total deadline {limits.deadline_s:g} s per request") from None
    except http.client.IncompleteRead as exc:
        raise HttpShortRead(f"the connection closed after {len(exc.partial):,} of the body's "
                            f"declared bytes", "") from None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
        raise HttpReset(f"the connection was reset ({type(exc).__name__}: {exc})") from None
    except http.client.HTTPException as exc:
        raise HttpMalformed(f"not an HTTP answer ({type(exc).__name__}: {exc!s:.80})") from None
    except OSError as exc:
        raise HttpReset(f"the connection failed ({type(exc).__name__}: {exc})") from None
    finally:
        conn.close()
        if raw is not None:
            raw.close()


def _exchange(conn: http.client.HTTPConnection, method: str, target: str, body: bytes | None,
              headers: dict[str, str], limits: HttpLimits) -> HttpAnswer:
    headers.setdefault("Connection", "close")
    conn.request(method, target, body=body, headers=headers)
    resp = conn.getresponse()
    declared = resp.getheader("Content-Length")
    cap = f"{limits.max_bytes:,} bytes"
    if declared is not None and declared.strip().isdigit() and int(declared) > limits.max_bytes:
        raise HttpOversize(f"the answer declares {int(declared):,} bytes", cap)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = resp.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limits.max_bytes:
            raise HttpOversize(f"the answer went past {limits.max_bytes:,} bytes", cap)
        chunks.append(chunk)
    data = b"".join(chunks)
    if declared is not None and declared.strip().isdigit() and len(data) < int(declared):
        raise http.client.IncompleteRead(data, int(declared) - len(data))
    return HttpAnswer(resp.status, resp.getheader("Content-Type") or "", data)
