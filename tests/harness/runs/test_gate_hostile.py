"""The gate client against hostile servers on real loopback sockets: every failure is its own
error naming the endpoint, the limit and the fix, within the deadline, with bounded memory; and
the falsifier that meets one records ERROR."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.runs.gate_client import (
    GateBadJSON,
    GateClient,
    GateContentType,
    GateGarbled,
    GateHTTPError,
    GateOversize,
    GateProtocolError,
    GateReset,
    GateShortRead,
    GateTimeout,
    GateUnavailable,
)
from tests.harness.runs.hostile import (
    answer_head,
    drip,
    hostile_server,
    read_request,
    reset,
)

HEALTH = b'{"status": "ok"}'


def slow_body(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(answer_head(length=len(HEALTH) + 1000))
    drip(conn, HEALTH + b" " * 1000, 0.1)


def slow_head(conn: socket.socket) -> None:
    read_request(conn)
    drip(conn, answer_head(length=len(HEALTH)) + HEALTH, 0.1)


def silent(conn: socket.socket) -> None:
    read_request(conn)
    time.sleep(10)


def huge_declared(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(answer_head(length=300 * 1024 * 1024))
    conn.sendall(b"[" * 65536)


def huge_streamed(conn: socket.socket) -> None:
    """300 MB of '[' without a Content-Length: the old client read it whole, then recursed."""
    read_request(conn)
    conn.sendall(answer_head())
    block = b"[" * (1 << 20)
    for _ in range(300):
        conn.sendall(block)


def deep_json(conn: socket.socket) -> None:
    read_request(conn)
    body = b"[" * 200_000 + b"]" * 200_000
    conn.sendall(answer_head(length=len(body)) + body)


def garbage(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


def resets(conn: socket.socket) -> None:
    read_request(conn)
    reset(conn)


def truncated(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(answer_head(length=100) + HEALTH[:10])


def answers(status: str, body: bytes, content_type: str = "application/json") -> Callable[
        [socket.socket], None]:
    def behaviour(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(answer_head(status, len(body), content_type) + body)
    return behaviour


CASES = [
    ("slow-drip body", slow_body, GateTimeout, ["within 1 s", "total deadline 1 s per request",
                                                "raise timeout_s"]),
    ("slow-drip head", slow_head, GateTimeout, ["within 1 s", "raise timeout_s"]),
    ("silent", silent, GateTimeout, ["within 1 s"]),
    ("300 MB declared", huge_declared, GateOversize, ["declares 314,572,800 bytes",
                                                      "limit: 1,048,576 bytes",
                                                      "raise max_response_bytes"]),
    ("300 MB streamed", huge_streamed, GateOversize, ["went past 1,048,576 bytes"]),
    ("JSON nested 200,000 deep", deep_json, GateBadJSON, ["nested too deep"]),
    ("not HTTP", garbage, GateGarbled, ["not an HTTP answer", "fix url"]),
    ("reset", resets, GateReset, ["reset", "on all 2 attempt(s)", "check its logs"]),
    ("truncated", truncated, GateShortRead, ["closed after 10 of the body's declared bytes"]),
    ("HTTP 500", answers("500 Oops", b"boom"), GateHTTPError,
     ["answered HTTP 500", "check its logs"]),
    ("HTML", answers("200 OK", b"<html/>", "text/html"), GateContentType,
     ["Content-Type 'text/html'", "does not point at a repair gate"]),
    ("bad JSON", answers("200 OK", b"{nope"), GateBadJSON, ["non-JSON"]),
]


@pytest.mark.parametrize(("name", "behaviour", "error", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_hostile_answer_is_its_own_error_within_the_deadline(
        name: str, behaviour: Callable[[socket.socket], None], error: type[Exception],
        words: list[str]) -> None:
    with hostile_server(behaviour) as url:
        client = GateClient(url, timeout_s=1.0, retries=1, backoff_s=0.01,
                            max_response_bytes=1 << 20)
        start = time.monotonic()
        with pytest.raises(error) as info:
            client.health()
        took = time.monotonic() - start
    assert isinstance(info.value, GateProtocolError)  # so the verdict is ERROR
    text = str(info.value)
    assert text.startswith(f"repair gate at {url}/health: ") or f"at {url}/health" in text
    for word in words:
        assert word in text, text
    assert took < 3.5, f"{name} held the client {took:.1f} s"


def test_refused_is_still_unavailable_not_an_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(GateUnavailable, match="after 2 attempt"):
        GateClient(url, retries=1, backoff_s=0.01, timeout_s=1.0).health()


def test_memory_stays_bounded_on_a_300_mb_answer() -> None:
    """The old client read 300 MB whole (peak 642 MB), then json recursed into a RecursionError.
    Peak Python allocations while the client meets the answer, traced."""
    import tracemalloc

    with hostile_server(huge_streamed) as url:
        tracemalloc.start()
        try:
            with pytest.raises(GateOversize, match=r"went past 8,388,608 bytes"):
                GateClient(url, timeout_s=20.0, retries=0).health()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 32 * 1024 * 1024, f"peak {peak:,} bytes"  # the 8 MiB cap and buffers


def _workspace(root: Path, url: str) -> None:
    from tests.harness.runs.kit import make_bundle
    from tests.harness.runs.test_falsifiers_live import agp_subjects, workspace

    bundle = make_bundle(root / "runs" / "nqo")
    gate = {"kind": "gate-endpoint", "url": url, "path": str(bundle), "retries": 0,
            "timeout_s": 1.0}
    workspace(root, "agp", dict.fromkeys(agp_subjects(), gate))


def test_a_slow_drip_gate_is_an_error_verdict_in_the_falsifier(
        pytester: pytest.Pytester) -> None:
    from tests.harness.runs.test_falsifiers_live import agp_subjects

    with hostile_server(slow_body) as url:
        _workspace(pytester.path, url)
        result = pytester.runpytest("falsifiers", "-m", "live", "-p", "no:randomly")
    result.assert_outcomes(errors=len(agp_subjects()))
    result.stdout.fnmatch_lines(["*AGP-ACCEPTED-WORSE-ZERO*demo-gate-lexicon*ERROR*"])
    segments = list((pytester.path / "evidence" / "ledger").glob("*.jsonl"))
    records = [json.loads(line) for seg in segments for line in seg.read_text().splitlines()]
    assert {r["verdict"] for r in records} == {"ERROR"}
    assert all("GateTimeout" in " ".join(r["reasons"]) or "within 1 s" in " ".join(r["reasons"])
               for r in records)


# --- any answer at all: a result or a Gate error, within the deadline -------------------------

_SCRIPT: dict[str, tuple[bytes, str]] = {}


def scripted(conn: socket.socket) -> None:
    data, ending = _SCRIPT["now"]
    read_request(conn)
    conn.sendall(data)
    if ending == "reset":
        reset(conn)
    elif ending == "stall":
        time.sleep(2.0)


@st.composite
def raw_answers(draw: st.DrawFn) -> tuple[bytes, str]:
    status = draw(st.sampled_from(["200 OK", "503 Busy", "404 No", "200", "999 X", "abc"]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9", "ICY", ""]))
    body = draw(st.one_of(st.just(HEALTH), st.binary(max_size=300),
                          st.just(b'{"status": "ok", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}")))
    headers = draw(st.lists(st.sampled_from([
        "Content-Type: application/json", "Content-Type: text/plain", "Content-Length: 5",
        f"Content-Length: {len(body)}", "Content-Length: -1", "Content-Length: abc",
        "Content-Length: 99999999999", "Transfer-Encoding: chunked", "Connection: close",
        "X: " + "y" * 70000]), max_size=4))
    head = f"{version} {status}\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n"
    cut = draw(st.integers(0, len(body)))
    ending = draw(st.sampled_from(["close", "reset", "stall"]))
    return head.encode() + body[:cut], ending


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_answers())
@example((answer_head(length=100) + HEALTH, "stall"))
@example((answer_head() + b"[" * 100_000, "close"))
def test_any_raw_answer_is_a_result_or_a_gate_error_in_time(case: tuple[bytes, str]) -> None:
    _SCRIPT["now"] = case
    with hostile_server(scripted) as url:
        start = time.monotonic()
        error = ""
        try:
            GateClient(url, timeout_s=0.5, retries=0, max_response_bytes=1 << 16).health()
        except (GateProtocolError, GateUnavailable) as exc:  # nothing else may escape
            error = str(exc)
        took = time.monotonic() - start
    assert not error or url in error
    assert took < 2.0
