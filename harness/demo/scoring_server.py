"""The demo's scoring server: a real OpenAI-compatible ``/v1/completions`` over a model folder.

Run it as ``python -m harness.demo.scoring_server --model FOLDER --port 0``; it binds 127.0.0.1,
prints the port on the first line of stdout, and serves ``GET /health``, ``GET /v1/models`` and
``POST /v1/completions`` with the semantics vLLM gives ``echo`` and ``logprobs``:

* the prompt (a string, parsed with the folder's tokenizer, special tokens included, nothing
  added) is echoed with ``logprobs.token_logprobs[0] = null`` and, at every later position, the
  log-probability of that prompt token given the tokens before it;
* then up to ``max_tokens`` greedy tokens (``temperature`` must be 0), stopping after the end of
  sequence, each with its log-probability (also as ``logprobs.content[].id / .logprob``, the
  form mlx_lm.server gives);
* ``usage.prompt_tokens`` counts the prompt as parsed.

Why falsify ships one: perplexity through a server needs prompt log-probabilities, and no server
installable on the project's CPU machines returns them right. mlx_lm.server answers ``echo``
with HTTP 400; ``transformers serve`` lists ``echo`` and ``logprobs`` as unsupported; the
llama.cpp server returns generated tokens only; llama-cpp-python (0.3.36) scores each prompt
token under the distribution that follows it when the model has no BOS token, and drops the
first real token's score when it has one. vLLM does it right but needs a GPU build. This server
is that protocol over the same torch code the local load runs, in its own process.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from harness.procs import serve_announced

__all__ = ["MAX_BODY_BYTES", "MAX_NEW_TOKENS", "complete", "main"]

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_NEW_TOKENS = 512


class BadRequest(ValueError):
    """The request breaks the protocol: HTTP 400 with the reason."""


def _prompt_ids(model: Any, prompt: Any) -> list[int]:
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, str):
        ids: list[int] = model.tokenizer.encode(prompt, add_special_tokens=False)
    elif isinstance(prompt, list) and all(isinstance(i, int) and not isinstance(i, bool)
                                          for i in prompt):
        ids = list(prompt)
    else:
        msg = "prompt must be one string or one list of token ids"
        raise BadRequest(msg)
    if not ids:
        msg = "the prompt is empty"
        raise BadRequest(msg)
    if max(ids) >= model.vocab_size or min(ids) < 0:
        msg = f"token ids must lie in [0, {model.vocab_size})"
        raise BadRequest(msg)
    return ids


def _int(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        msg = f"{key} must be an integer in [{low}, {high}], got {value!r}"
        raise BadRequest(msg)
    return value


def complete(model: Any, body: Any, name: str) -> dict[str, Any]:
    """The answer to one ``/v1/completions`` request body (a BadRequest when it breaks the
    protocol)."""
    if not isinstance(body, dict):
        msg = "the body must be a JSON object"
        raise BadRequest(msg)
    if body.get("stream"):
        msg = "stream is not supported; send stream: false"
        raise BadRequest(msg)
    if body.get("temperature", 1.0) != 0:
        msg = "only greedy decoding is served: send temperature: 0"
        raise BadRequest(msg)
    ids = _prompt_ids(model, body.get("prompt"))
    room = int(model.config.get("max_position_embeddings", 0)) - len(ids)
    if room < 0:
        msg = f"the prompt has {len(ids)} tokens, over the model's {room + len(ids)} positions"
        raise BadRequest(msg)
    n_new = min(_int(body, "max_tokens", 16, 0, MAX_NEW_TOKENS), room)
    echo, logprobs = bool(body.get("echo", False)), body.get("logprobs")
    new = model.generate_greedy(ids, n_new) if n_new else []
    if model.eos_id in new:
        new = new[:new.index(model.eos_id) + 1]
    full = ids + new
    nll = (np.asarray(model.token_nll(np.asarray([full], dtype=np.int64)), dtype=np.float64)[0]
           if len(full) > 1 else np.zeros(0))
    scores: list[float | None] = [None, *(-float(x) for x in nll)]
    shown = full if echo else new
    choice: dict[str, Any] = {
        "index": 0, "text": model.decode(shown),
        "finish_reason": "stop" if new and new[-1] == model.eos_id else "length"}
    if logprobs is not None and logprobs is not False:
        first = 0 if echo else len(ids)
        choice["logprobs"] = {
            "tokens": [model.decode([t]) for t in shown],
            "token_logprobs": scores[first:],
            "top_logprobs": None,
            "content": [{"id": t, "token": model.decode([t]), "logprob": s}
                        for t, s in zip(new, scores[len(ids):], strict=True)]}
    if any(s is not None and not math.isfinite(s) for s in scores):
        choice["warning"] = "non-finite log-probabilities"
    return {"id": f"cmpl-{time.monotonic_ns()}", "object": "text_completion", "model": name,
            "choices": [choice], "usage": {"prompt_tokens": len(ids),
                                           "completion_tokens": len(new),
                                           "total_tokens": len(full)}}


class _Handler(BaseHTTPRequestHandler):
    server: _ScoringServer
    protocol_version = "HTTP/1.1"
    timeout = 30.0  # a client that stalls mid-request is dropped

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a parent that does not drain stderr must never block the server."""

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, allow_nan=True).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status != 200:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.name,
                                                         "object": "model"}]})
        else:
            self._send(404, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/v1/completions":
            self._send(404, {"error": f"no such path {self.path}; try POST /v1/completions"})
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self._send(400, {"error": f"send a Content-Length of at most {MAX_BODY_BYTES}"})
            return
        try:
            body = json.loads(self.rfile.read(int(length)).decode("utf-8"))
            with self.server.lock:  # one forward pass at a time
                answer = complete(self.server.model, body, self.server.name)
        except (BadRequest, ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._send(400, {"error": {"message": str(exc)[:300], "type": "invalid_request"}})
            return
        self._send(200, answer)


class _ScoringServer(HTTPServer):
    def __init__(self, port: int, model: Any, name: str) -> None:
        self.model, self.name, self.lock = model, name, threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.demo.scoring_server",
                                     description="OpenAI-compatible completions with echoed "
                                                 "prompt log-probabilities, on 127.0.0.1.")
    parser.add_argument("--model", type=Path, required=True, help="a torch or MLX model folder")
    parser.add_argument("--port", type=int, default=0, help="0 binds an ephemeral port")
    parser.add_argument("--name", default="default_model", help="the model name it answers to")
    args = parser.parse_args(argv)
    from harness.models.load import open_model

    return serve_announced(_ScoringServer(args.port, open_model(args.model), args.name))


if __name__ == "__main__":
    sys.exit(main())
