"""Hostile HTTP peers on real loopback sockets: each connection handed to a behaviour function."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Behaviour = Callable[[socket.socket], None]


def read_request(conn: socket.socket) -> bytes:
    """The request's head and the body its Content-Length declares (best effort, 2 s)."""
    conn.settimeout(2.0)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            want = int(line.split(b":", 1)[1])
            while len(body) < want:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
    return data


def answer_head(status: str = "200 OK", length: int | None = None,
                content_type: str = "application/json") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reset(conn: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0) instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


@contextmanager
def hostile_server(behaviour: Behaviour) -> Iterator[str]:
    """A listening socket on 127.0.0.1 running ``behaviour`` per connection, in threads."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        try:
            behaviour(conn)
        except OSError:
            pass  # the client hung up on us: that is what the tests want
        finally:
            conn.close()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def drip(conn: socket.socket, data: bytes, every_s: float, until_s: float = 30.0) -> None:
    """Send ``data`` one byte at a time, one every ``every_s``, for at most ``until_s``."""
    end = time.monotonic() + until_s
    for i in range(len(data)):
        if time.monotonic() > end:
            return
        conn.sendall(data[i:i + 1])
        time.sleep(every_s)
