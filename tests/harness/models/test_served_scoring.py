"""Perplexity through a server's echoed prompt log-probabilities (harness.models.served), against
the real demo scoring server (harness.demo.scoring_server) on loopback.

The class: a served perplexity that is not the served model's perplexity of these tokens: the
server tokenizes otherwise, answers a malformed or short echo, or the client scores other
positions than the local load. Each such answer is a ServedError naming the url; a right answer
gives the local load's numbers.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.demo.scoring_server import BadRequest, complete
from harness.metrics.lm import token_nll_stats
from harness.models.served import ServedError, ServedModel, ServerProcess, echoed_scores
from harness.workspace import SubjectUnavailable
from tests.harness.runs.hostile import answer_head, hostile_server, read_request

ENGLISH = ["The history of the city goes back to the Roman period.",
           "A train leaves the station at nine, and another one at ten.",
           "Scientists measured the temperature of the lake every morning for a year.",
           "She said that the results were not what anyone had expected."]


@pytest.fixture(scope="module")
def scoring(demo_dirs: dict[str, Path]) -> Any:
    server = ServerProcess(demo_dirs["lm-torch"], server="scoring")
    yield server
    server.close()


def test_served_perplexity_equals_the_local_load(scoring: Any, demo_dirs: dict[str, Path],
                                                 torch_model: Any) -> None:
    folder = demo_dirs["lm-torch"]
    served = ServedModel(scoring.url, reference="demo-torch", tokenizer_source=lambda: folder)
    assert served.prompt_logprobs() is None  # it echoes
    assert (served.eos_id, served.bos_id, served.path) == (torch_model.eos_id,
                                                           torch_model.bos_id, folder)
    for max_len in (512, 12):  # whole examples, then sliding windows of 12 tokens
        here = token_nll_stats(torch_model, ENGLISH, max_len, batch_size=3)
        there = token_nll_stats(served, ENGLISH, max_len, batch_size=3)
        assert (there.n_tokens, there.n_windows) == (here.n_tokens, here.n_windows)
        assert there.total_nll == pytest.approx(here.total_nll, rel=1e-6)


def test_a_server_with_another_tokenizer_is_an_error(demo_dirs: dict[str, Path]) -> None:
    """The reasoner's word-level tokenizer behind the server, the demo LM's BPE here."""
    server = ServerProcess(demo_dirs["reasoner-fixed"], server="scoring")
    try:
        served = ServedModel(server.url, tokenizer_source=lambda: demo_dirs["lm-torch"])
        ids = np.asarray([[1, *served.encode(ENGLISH[0])]])
        with pytest.raises(ServedError, match=r"parsed a prompt into .* tokens where the local "
                                              r"tokenizer") as err:
            served.token_nll(ids)
        assert server.url in str(err.value)
    finally:
        server.close()


def test_without_a_local_tokenizer_scoring_is_skipped_with_why(scoring: Any) -> None:
    served = ServedModel(scoring.url)
    for call in (lambda: served.path, lambda: served.encode("x"),
                 lambda: served.token_nll(np.zeros((1, 3), np.int64))):
        with pytest.raises(SubjectUnavailable, match="scoring needs a local copy of the "
                                                     "tokenizer"):
            call()


def test_an_echo_over_http_that_drops_a_score_is_an_error(demo_dirs: dict[str, Path]) -> None:
    """A live answer of the right shape whose last prompt score is missing."""
    body = json.dumps({"choices": [{"logprobs": {"token_logprobs": [None, -1.0]}}],
                       "usage": {"prompt_tokens": 3}}).encode()

    def behave(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(answer_head("200 OK", len(body)) + body)
        conn.close()

    with hostile_server(behave) as url:
        served = ServedModel(url + "/v1", retries=0,
                             tokenizer_source=lambda: demo_dirs["lm-torch"])
        with pytest.raises(ServedError, match="needs a number") as err:
            served.token_nll(np.asarray([[1, 5, 6]]))  # the probe passes: two scores for "The"
        assert url in str(err.value)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-50, 5)
                    | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=5)
                    | st.dictionaries(st.sampled_from(["choices", "logprobs", "token_logprobs",
                                                       "usage", "prompt_tokens", "x"]), inner,
                                      max_size=4),
                    max_leaves=12)


@st.composite
def echo_answers(draw: st.DrawFn) -> tuple[Any, int, bool]:
    """A right answer for a prompt of n tokens, then maybe one part of it replaced."""
    n = draw(st.integers(1, 6))
    scores = [None, *draw(st.lists(st.floats(-30, 0), min_size=n - 1, max_size=n - 1))]
    extra = draw(st.lists(st.floats(-30, 0), max_size=2))
    answer: Any = {"choices": [{"logprobs": {"token_logprobs": scores + extra}}],
                   "usage": {"prompt_tokens": n}}
    where = draw(st.sampled_from(["none", "answer", "choices", "logprobs", "scores", "score",
                                  "usage", "count"]))
    junk = draw(JSON)
    if where == "answer":
        answer = junk
    elif where == "choices":
        answer["choices"] = junk
    elif where == "logprobs":
        answer["choices"][0]["logprobs"] = junk
    elif where == "scores":
        answer["choices"][0]["logprobs"]["token_logprobs"] = junk
    elif where == "score" and n > 1:
        i = draw(st.integers(1, n - 1))
        answer["choices"][0]["logprobs"]["token_logprobs"][i] = junk
    elif where == "usage":
        answer["usage"] = junk
    elif where == "count":
        answer["usage"]["prompt_tokens"] = junk
    return answer, n, where == "none" or (where == "score" and n == 1)


@settings(max_examples=400, deadline=None)
@given(echo_answers())
def test_an_echo_answer_is_read_exactly_or_refused(case: tuple[Any, int, bool]) -> None:
    """Any answer gives the n-1 scores it holds at positions 1..n-1, or a ServedError: never a
    shifted, shortened or silently coerced list, never another exception; a right answer is
    always read."""
    answer, n, right = case
    try:
        got = echoed_scores("http://h/v1/completions", answer, n, "tok", "text")
    except ServedError as exc:
        said = str(exc)
        assert not right, said
        assert "http://h/v1/completions" in said
        return
    scores = answer["choices"][0]["logprobs"]["token_logprobs"]
    assert answer["usage"]["prompt_tokens"] == n
    assert got.tolist() == [float(x) for x in scores[1:n]]
    assert all(type(x) in (int, float) for x in scores[1:n])


BODY_KEYS = st.sampled_from(["prompt", "max_tokens", "temperature", "echo", "logprobs",
                             "stream", "model"])


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    body: dict[str, Any] = {"prompt": draw(st.sampled_from(ENGLISH) | st.text(max_size=12)
                                           | st.lists(st.integers(-3, 3000), max_size=5)),
                            "max_tokens": draw(st.integers(-1, 4) | st.none()),
                            "temperature": draw(st.sampled_from([0, 0.0, 0.7, None])),
                            "echo": draw(st.booleans()), "logprobs": draw(st.sampled_from(
                                [None, 1, True, False]))}
    for key in draw(st.lists(BODY_KEYS, max_size=2)):
        body[key] = draw(JSON)
    return draw(st.just(body) | JSON)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_the_scoring_server_answers_any_body_by_the_protocol_or_400(torch_model: Any,
                                                                    body: Any) -> None:
    try:
        answer = complete(torch_model, body, "m")
    except BadRequest:
        return
    choice, usage = answer["choices"][0], answer["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    if "logprobs" in choice:
        scores = choice["logprobs"]["token_logprobs"]
        if body.get("echo"):
            assert len(scores) == usage["total_tokens"]
            assert scores[0] is None
        else:
            assert len(scores) == usage["completion_tokens"]
        assert all(isinstance(s, float) and s <= 0 for s in scores if s is not None)
