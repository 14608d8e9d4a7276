"""Models behind an OpenAI-compatible server: the real mlx_lm.server on loopback, and hostile
peers for every way a server can fail (each a ServedError naming the url and the fix)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.models.served import ServedError, ServedModel, ServerProcess, load_openai_endpoint
from harness.workspace import SubjectSpec, SubjectUnavailable, Workspace, WorkspaceError
from tests.harness.runs.hostile import answer_head, hostile_server, read_request


def test_the_real_server_matches_the_local_load_and_stops(demo_dirs: dict[str, Path]) -> None:
    from harness.models import open_model

    folder = demo_dirs["lm-mlx"]
    local = open_model(folder)
    server = ServerProcess(folder)
    try:
        served = ServedModel(server.url)
        served.health()
        prompt = "The history of the city"
        got = served.complete(prompt, 8)
        ids = local.encode(prompt)
        want = local.generate_greedy(ids, 8)
        assert list(got.tokens) == want[:len(got.tokens)]
        assert got.prompt_tokens == len(ids)
        logits = np.asarray(local.logits(np.asarray([ids + want])), np.float64)[0]
        top = logits.max(-1, keepdims=True)
        logp = logits - (np.log(np.exp(logits - top).sum(-1, keepdims=True)) + top)
        local_lp = [logp[len(ids) - 1 + i, t] for i, t in enumerate(got.tokens)]
        assert np.allclose(got.logprobs, local_lp, atol=1e-4)
        for score in (lambda: served.logits(np.asarray([ids])), lambda: served.encode(prompt),
                      lambda: served.token_nll(np.asarray([ids]))):
            with pytest.raises(SubjectUnavailable, match="returns no prompt log-probabilities"):
                score()  # SKIPPED with why, never approximated
    finally:
        server.close()
    assert server.proc.poll() is not None  # stopped and reaped
    with pytest.raises(ServedError, match="no answer after 1 attempt"):
        ServedModel(server.url, retries=0).complete("x", 1)


def _json(payload: Any, status: str = "200 OK"):
    body = json.dumps(payload).encode()

    def behave(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(answer_head(status, len(body)) + body)
        conn.close()
    return behave


def _raw(data: bytes):
    def behave(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(data)
        conn.close()
    return behave


@pytest.mark.parametrize(("behaviour", "message"), [
    (_json({"error": "boom"}, "500 Internal Server Error"), "answered HTTP 500"),
    (_raw(answer_head("200 OK", 9) + b"not json!"), "answered non-JSON"),
    (_json({"choices": [{"text": "hi"}]}), "without per-token ids and logprobs"),
    (_json({"choices": []}), "without per-token ids and logprobs"),
    (_raw(b"SSH-2.0-OpenSSH\r\n"), "is this an OpenAI-compatible server"),
])
def test_a_server_that_answers_garbage_is_an_error(behaviour: Any, message: str) -> None:
    with hostile_server(behaviour) as url, pytest.raises(ServedError, match=message) as err:
        ServedModel(url + "/v1", retries=0, timeout_s=3).complete("hello", 4)
    assert url in str(err.value)


def test_a_down_server_is_an_error_after_the_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServedError, match=r"no answer after 3 attempt\(s\).*start the server"):
        ServedModel(f"http://127.0.0.1:{port}/v1", retries=2, backoff_s=0.01).complete("x", 1)


def test_the_api_key_is_sent_and_never_described(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []
    ok = {"choices": [{"text": "a", "finish_reason": "length",
                       "logprobs": {"content": [{"id": 5, "logprob": -0.5}]}}],
          "usage": {"prompt_tokens": 2}}
    body = json.dumps(ok).encode()

    def behave(conn: socket.socket) -> None:
        seen.append(read_request(conn))
        conn.sendall(answer_head("200 OK", len(body)) + body)
        conn.close()

    monkeypatch.setenv("FALSIFY_TEST_KEY", "sk-secret-123")
    with hostile_server(behave) as url:
        served = ServedModel(url + "/v1", api_key_env="FALSIFY_TEST_KEY", retries=0)
        got = served.complete("hi", 1)
    assert got.tokens == (5,)
    assert got.prompt_tokens == 2
    assert b"Authorization: Bearer sk-secret-123" in seen[0]
    assert "sk-secret" not in served.describe()
    assert "sk-secret" not in repr(served)
    monkeypatch.delenv("FALSIFY_TEST_KEY")
    with pytest.raises(ServedError, match=r"\$FALSIFY_TEST_KEY is not set"):
        served.complete("hi", 1)


def test_loader_options_are_checked(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, {}, tmp_path / "pyproject.toml")
    ok = load_openai_endpoint(SubjectSpec("e", "openai-endpoint",
                                          {"url": "http://127.0.0.1:9/v1", "retries": 1}), ws)
    assert (ok.url, ok.model, ok.retries) == ("http://127.0.0.1:9/v1", "default_model", 1)
    for options, message in (({}, "needs url"), ({"url": "ftp://x"}, "must start with http"),
                             ({"url": "http://x", "retries": -1}, "retries must be"),
                             ({"url": "http://x", "model": 3}, "model must be")):
        with pytest.raises(WorkspaceError, match=message) as err:
            load_openai_endpoint(SubjectSpec("e", "openai-endpoint", options), ws)
        assert "[tool.falsify.subjects.e]" in str(err.value)


@pytest.mark.parametrize(("answer", "says"), [
    ({"choices": [{"text": "x", "logprobs": {"content": [{"id": 5, "logprob": -0.1}]}}]},
     "returns no prompt log-probabilities"),
    ({"choices": [{"text": "The x", "logprobs": {"token_logprobs": [None, -0.1]}}]},
     "scoring needs a local copy of the tokenizer"),
])
def test_scoring_a_text_on_a_server_is_skipped_with_why(answer: Any, says: str) -> None:
    """Perplexity needs prompt log-probabilities; without them the claim is SKIPPED with the
    reason, never approximated from the generated tokens' logprobs."""
    with hostile_server(_json(answer)) as url:
        served = ServedModel(f"{url}/v1", retries=0)
        with pytest.raises(SubjectUnavailable, match=says) as caught:
            served.token_nll(np.zeros((1, 4), np.int64))
        assert "bind this claim to the local load" in str(caught.value)
