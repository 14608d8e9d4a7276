"""The repair gate over real HTTP on loopback: health, propose, down, garbage, retries."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from harness.runs.gate_client import (
    GateClient,
    GateLaunchError,
    GateProcess,
    GateProtocolError,
    GateUnavailable,
)
from harness.runs.gate_server import Lexicon, make_server, propose
from harness.workspace import SubjectUnavailable

WORDS = ["ߊ߬", "ߦߋ߫", "ߓߊ߯ߙߊ߫", "ߞߊ߬", "ߕߊ߯", "ߓߌ߬ߟߊ߫", "ߘߏ߫", "ߟߊ߫"]


@pytest.fixture
def lexicon_path(tmp_path: Path) -> Path:
    path = tmp_path / "lexicon.txt"
    path.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def gate(lexicon_path: Path) -> Iterator[GateProcess]:
    with GateProcess(lexicon_path, "lexicon") as process:
        yield process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_repair_model_on_a_hand_made_lexicon() -> None:
    """An ill-formed word one substitution from exactly one lexicon word is repaired."""
    lex = Lexicon(WORDS)
    assert lex.well_formed("ߓߊ߯ߙߊ߫")
    assert not lex.well_formed("ߓߊ߯ߙQ߫")  # a Latin letter inside N'Ko: unseen bigrams
    assert lex.repair("ߓߊ߯ߙQ߫") == "ߓߊ߯ߙߊ߫"
    assert lex.repair("ߓߊ߯ߙ߫") == "ߓߊ߯ߙ߫"  # a deletion: not repaired (substitutions only)
    accepted = propose(lex, "ߊ߬ ߦߋ߫ ߓߊ߯ߙQ߫", "lexicon")
    assert accepted.accepted
    assert accepted.proposal == "ߊ߬ ߦߋ߫ ߓߊ߯ߙߊ߫"
    assert accepted.repaired_words == 1
    left_ill = propose(lex, "ߊ߬ ߦߋ߫ ߓߊ߯ߙQ߫ ZZZߊ", "lexicon")
    assert not left_ill.accepted
    assert "ill-formed" in left_ill.reason
    assert not propose(lex, "ߊ߬ ߦߋ߫", "lexicon").accepted  # nothing to repair
    assert propose(lex, "ߊ߬ ߦߋ߫ ZZZߊ", "accept-all").accepted


def test_health_and_propose_over_real_http(gate: GateProcess) -> None:
    client = GateClient(gate.url)
    health = client.health()
    assert health["status"] == "ok"
    assert health["policy"] == "lexicon"
    assert health["lexicon_words"] == len(WORDS)
    results = client.propose([("u1", "ߊ߬ ߦߋ߫ ߓߊ߯ߙQ߫"), ("u2", "ߞߊ߬ ߕߊ߯")])
    assert [r.feat_id for r in results] == ["u1", "u2"]
    assert results[0].accepted
    assert results[0].proposal == "ߊ߬ ߦߋ߫ ߓߊ߯ߙߊ߫"
    assert not results[1].accepted


def test_propose_batches_many_rows_in_order(gate: GateProcess) -> None:
    rows = [(f"u{i}", "ߞߊ߬ ߕQ߯") for i in range(450)]
    results = GateClient(gate.url).propose(rows)
    assert [r.feat_id for r in results] == [f"u{i}" for i in range(450)]
    assert all(r.proposal == "ߞߊ߬ ߕߊ߯" for r in results)


def test_malformed_request_gets_400_named(gate: GateProcess) -> None:
    client = GateClient(gate.url, retries=0)
    with pytest.raises(GateProtocolError, match=r"HTTP 400.*rows"):
        client._request("/propose", {"rows": [{"feat_id": 1}]})
    with pytest.raises(GateProtocolError, match="HTTP 404"):
        client._request("/nope")


def test_gate_down_is_unavailable_with_a_clear_message() -> None:
    client = GateClient(f"http://127.0.0.1:{free_port()}", retries=2, backoff_s=0.01,
                        timeout_s=1.0)
    with pytest.raises(GateUnavailable) as info:
        client.health()
    assert isinstance(info.value, SubjectUnavailable)  # so the verdict is SKIPPED
    assert "did not answer /health after 3 attempt(s)" in str(info.value)
    assert "start the gate or fix its url" in str(info.value)


class _Scripted(BaseHTTPRequestHandler):
    """A real HTTP server that answers from a script: for error paths a real gate never takes."""

    answers: ClassVar[list[tuple[int, bytes]]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 (stdlib names)


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[_Scripted]]]:
    handler = type("Handler", (_Scripted,), {"answers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_retries_ride_out_a_503(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    handler.answers[:] = [(503, b"busy"), (503, b"busy"), (200, b'{"status": "ok"}')]
    assert GateClient(url, retries=3, backoff_s=0.01).health() == {"status": "ok"}


def test_retries_give_up_as_unavailable(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    handler.answers[:] = [(503, b"busy")]
    with pytest.raises(GateUnavailable, match="503"):
        GateClient(url, retries=1, backoff_s=0.01).health()


@pytest.mark.parametrize(("status", "body", "match"), [
    (200, b"<html>hello</html>", "non-JSON"),
    (200, b'{"status": "degraded"}', "not healthy"),
    (500, b"boom", "HTTP 500"),
])
def test_garbage_health_is_a_protocol_error(scripted: tuple[str, type[_Scripted]], status: int,
                                            body: bytes, match: str) -> None:
    url, handler = scripted
    handler.answers[:] = [(status, body)]
    with pytest.raises(GateProtocolError, match=match):
        GateClient(url, retries=0).health()


@pytest.mark.parametrize(("answer", "match"), [
    ({"results": []}, "with 1 items"),
    ({"results": [{"feat_id": "other", "proposal": "x", "accepted": True,
                   "repaired_words": 0, "reason": ""}]}, "expected 'u1'"),
    ({"results": [{"feat_id": "u1", "proposal": "x", "accepted": "yes",
                   "repaired_words": 0, "reason": ""}]}, r"accepted \(bool\)"),
])
def test_garbage_propose_is_a_protocol_error(scripted: tuple[str, type[_Scripted]],
                                             answer: object, match: str) -> None:
    url, handler = scripted
    handler.answers[:] = [(200, json.dumps(answer).encode())]
    with pytest.raises(GateProtocolError, match=match):
        GateClient(url, retries=0).propose([("u1", "text")])


def test_launched_gate_is_stopped_by_close(lexicon_path: Path) -> None:
    process = GateProcess(lexicon_path, "accept-all")
    pid = process.proc.pid
    assert GateClient(process.url).health()["policy"] == "accept-all"
    process.close()
    process.close()  # twice is fine
    assert process.proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(GateUnavailable):
        GateClient(process.url, retries=0, timeout_s=1.0).health()


def test_a_gate_that_cannot_start_is_a_launch_error(tmp_path: Path) -> None:
    with pytest.raises(GateLaunchError, match=r"lexicon .* does not exist"):
        GateProcess(tmp_path / "missing.txt", "lexicon", start_timeout_s=20)


def test_in_process_server_refuses_unknown_policy() -> None:
    with pytest.raises(ValueError, match="unknown gate policy 'maybe'"):
        make_server(Lexicon(WORDS), "maybe")
