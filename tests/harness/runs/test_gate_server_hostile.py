"""The demo gate server against hostile clients over a real socket: bad Content-Length is 400,
a stalled body 408, a big body 413, and no request pins a handler thread past its deadline."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.runs.gate_client import GateClient
from harness.runs.gate_server import Lexicon, make_server
from tests.harness.runs.test_gate import WORDS

DEADLINE_S = 0.5
MAX_BODY = 4096
ROWS = json.dumps({"rows": [{"feat_id": "u1", "text": "ߊ߬ ߦߋ߫ ߓߊ߯ߙQ߫"}]}).encode()


@pytest.fixture(scope="module")
def gate() -> Iterator[tuple[str, int]]:
    server = make_server(Lexicon(WORDS), "lexicon", request_deadline_s=DEADLINE_S,
                         max_body_bytes=MAX_BODY, max_connections=16)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", int(server.server_address[1])
    server.shutdown()
    server.server_close()


def exchange(addr: tuple[str, int], data: bytes, *, close_write: bool = True,
             wait_s: float = DEADLINE_S + 3) -> tuple[int | None, bytes, float]:
    """Send raw bytes; (status or None when closed without an answer, answer, seconds)."""
    start = time.monotonic()
    with socket.create_connection(addr, timeout=wait_s) as sock:
        try:
            sock.sendall(data)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close first (413 unread, 400 early)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    took = time.monotonic() - start
    if not answer.startswith(b"HTTP/"):
        return None, answer, took
    return int(answer.split(b" ", 2)[1]), answer, took


def post(length: str | None, body: bytes, extra: str = "") -> bytes:
    head = "POST /propose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return (head + extra + "\r\n").encode("latin-1") + body


@pytest.mark.parametrize(("length", "body", "close_write", "status"), [
    ("abc", ROWS, True, 400),
    ("-1", ROWS, True, 400),
    ("+5", ROWS, True, 400),
    ("1e3", ROWS, True, 400),
    (" 0x10", ROWS, True, 400),
    (None, ROWS, True, 411),
    (str(MAX_BODY + 1), b"", True, 413),
    ("99999999999999999999", b"", True, 400),
    (str(len(ROWS) + 50), ROWS, True, 400),   # a short body, then the client closes
    (str(len(ROWS) + 50), ROWS, False, 408),  # a short body, then the client stalls
    (str(len(ROWS)), ROWS, True, 200),
])
def test_bad_lengths_and_short_bodies(gate: tuple[str, int], length: str | None, body: bytes,
                                      close_write: bool, status: int) -> None:
    got, answer, took = exchange(gate, post(length, body), close_write=close_write)
    assert got == status, answer[:300]
    assert took < DEADLINE_S + 2


def test_two_different_lengths_and_chunked_bodies_are_refused(gate: tuple[str, int]) -> None:
    assert exchange(gate, post("5", ROWS, "Content-Length: 6\r\n"))[0] == 400
    assert exchange(gate, post(None, b"5\r\nhello\r\n0\r\n\r\n",
                               "Transfer-Encoding: chunked\r\n"))[0] == 400


def test_a_slow_drip_of_headers_is_cut_at_the_deadline(gate: tuple[str, int]) -> None:
    """One byte every 50 ms (each read well inside any per-read timeout): cut at the deadline."""
    start = time.monotonic()
    cut = False
    with socket.create_connection(gate, timeout=10) as sock:
        for byte in post(str(len(ROWS)), ROWS):
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                cut = True
                break
            if _readable(sock):  # an answer (408) or the close
                cut = True
                break
            time.sleep(0.05)
    assert cut, "the server kept a dripping client past its deadline"
    assert time.monotonic() - start < DEADLINE_S + 1.5


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def test_idle_connections_do_not_pin_threads(gate: tuple[str, int]) -> None:
    """More idle connections than the server's 16 slots: each is cut at the deadline, and the
    gate answers again right after."""
    socks = [socket.create_connection(gate) for _ in range(24)]
    time.sleep(DEADLINE_S + 0.5)
    for s in socks:
        s.close()
    health = GateClient(f"http://{gate[0]}:{gate[1]}", timeout_s=2.0, retries=3,
                        backoff_s=0.1).health()
    assert health["status"] == "ok"


HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=24)
LENGTHS = st.one_of(st.integers(-10, MAX_BODY * 2).map(str), HEADER_TEXT, st.none(),
                    st.sampled_from(["abc", "-1", "", " ", "1_0", "٣", "0" * 30]))


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, bool]:
    method = draw(st.sampled_from(["POST", "GET", "PUT", "POST", "BREW", "post"]))
    path = draw(st.sampled_from(["/propose", "/health", "/", "/propose?x=1", "*"]))
    body = draw(st.one_of(st.just(ROWS), st.binary(max_size=600),
                          st.just(b'{"rows": [' + b"[" * 3000 + b"]")))
    length = draw(LENGTHS)
    extra = draw(st.lists(st.tuples(st.sampled_from(["X-A", "Content-Length",
                                                     "Transfer-Encoding", "Expect"]),
                                    HEADER_TEXT), max_size=2))
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in extra)
    cut = draw(st.integers(0, len(body)))
    return (head + "\r\n").encode("utf-8") + body[:cut], draw(st.booleans())


ALLOWED = {200, 400, 404, 408, 411, 413, 417, 431, 501, 503, 505}


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(requests())
@example((post("abc", ROWS), True))
@example((b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n{", True))
@example((post("-1", ROWS), True))
@example((post(str(len(ROWS) + 9), ROWS), False))
def test_fuzzed_requests_get_an_answer_or_a_close_within_the_deadline(
        gate: tuple[str, int], case: tuple[bytes, bool]) -> None:
    data, close_write = case
    status, answer, took = exchange(gate, data, close_write=close_write)
    assert status is None or status in ALLOWED, answer[:300]
    assert took < DEADLINE_S * 2 + 2
    if status == 200 and answer.split(b"\r\n\r\n", 1)[1]:
        json.loads(answer.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1", 1)[0])


def test_after_the_fuzz_no_handler_thread_is_left(gate: tuple[str, int]) -> None:
    time.sleep(DEADLINE_S * 2 + 0.5)
    handlers = [t for t in threading.enumerate() if "process_request" in t.name]
    assert handlers == []
