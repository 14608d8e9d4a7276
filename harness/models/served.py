"""Models behind an OpenAI-compatible server (mlx_lm.server, vLLM, llama.cpp), over real HTTP.

A subject of kind ``openai-endpoint``::

    [tool.falsify.subjects.served]
    kind = "openai-endpoint"
    url = "http://127.0.0.1:8080/v1"   # the API base
    model = "default_model"            # the name the server knows the model by
    reference = "my-model"             # optional: the local model subject this server serves
    api_key_env = "MY_API_KEY"         # optional: the key is read from this variable, sent as
                                       # a bearer token, and never written anywhere
    timeout_s = 30                     # per request (connect, send, answer), and
    retries = 2                        # retries on refused or reset connections, with backoff

A demo subject may instead name ``serve`` (an MLX model folder): the loader starts the real
``mlx_lm.server`` on a free loopback port and stops it when the process ends.

Generation is greedy (``temperature: 0``) with ``logprobs: true``: the server returns each
generated token's id and log-probability. Servers that do not echo prompt log-probabilities
cannot score a text, so perplexity claims against them are SKIPPED with that reason, never
approximated. A server that is down, or answers anything but the protocol's JSON, is a
:class:`ServedError`: an ERROR naming the url, what came back and the fix.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.procs import preexec
from harness.runs import bounded_http as bh
from harness.workspace import SubjectSpec, SubjectUnavailable, Workspace, WorkspaceError

__all__ = ["Completion", "ServedError", "ServedModel", "ServerProcess", "load_openai_endpoint"]

MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class ServedError(ValueError):
    """The server is down or did not answer as an OpenAI-compatible API does (ERROR)."""

    def __init__(self, msg: str, status: int | None = None) -> None:
        super().__init__(msg)
        self.status = status  # the HTTP status when the server answered one, else None


@dataclass(frozen=True)
class Completion:
    tokens: tuple[int, ...]
    logprobs: tuple[float, ...]
    text: str
    finish_reason: str | None
    prompt_tokens: int | None  # as the server counted them (usage.prompt_tokens), if it says


@dataclass
class ServedModel:
    url: str  # the API base, e.g. http://127.0.0.1:8080/v1
    model: str = "default_model"
    reference: str | None = None  # the local model subject it should serve
    api_key_env: str | None = None
    timeout_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.25
    process: ServerProcess | None = field(default=None, repr=False)
    _echo: str | None = field(default=None, repr=False)  # prompt_logprobs(), asked once
    backend = "openai-endpoint"

    def describe(self) -> str:
        """What a record may say about the endpoint: never the key."""
        key = f", key from ${self.api_key_env}" if self.api_key_env else ""
        return f"{self.url} (model {self.model!r}{key})"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                msg = (f"{self.describe()}: ${self.api_key_env} is not set; export the API key "
                       f"in that variable (it is never written to the ledger)")
                raise ServedError(msg)
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        url = self.url.rstrip("/") + path
        body = None if payload is None else json.dumps(payload).encode()
        limits = bh.HttpLimits(self.timeout_s, MAX_RESPONSE_BYTES)
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                answer = bh.request(url, "POST" if body else "GET", body, self._headers(), limits)
            except (bh.HttpUnreachable, bh.HttpReset) as exc:
                last = exc.what
                continue
            except bh.HttpFailure as exc:
                msg = f"{url}: {exc.what}; is this an OpenAI-compatible server?"
                raise ServedError(msg) from None
            return _decode(url, answer)
        msg = (f"{url}: no answer after {self.retries + 1} attempt(s) ({last}); start the "
               f"server or fix url in the workspace config")
        raise ServedError(msg)

    def health(self) -> None:
        """GET /health beside the API base (mlx_lm.server, vLLM, llama.cpp): ServedError unless
        it says ok."""
        base = self.url.rstrip("/").removesuffix("/v1")
        answer = ServedModel(base, self.model, None, self.api_key_env, self.timeout_s,
                             self.retries, self.backoff_s)._call("/health")
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            msg = f"{base}/health is not ok: {json.dumps(answer)[:200]}"
            raise ServedError(msg)

    def complete(self, prompt: str, max_tokens: int) -> Completion:
        """Greedy completion of ``prompt`` with the generated tokens' ids and logprobs."""
        answer = self._call("/completions", {
            "model": self.model, "prompt": prompt, "max_tokens": max_tokens,
            "temperature": 0, "logprobs": True, "stream": False})
        where = f"{self.url}/completions"
        try:
            choice = answer["choices"][0]
            content = choice["logprobs"]["content"]
            tokens = tuple(int(c["id"]) for c in content)
            logprobs = tuple(float(c["logprob"]) for c in content)
        except (KeyError, IndexError, TypeError, ValueError):
            msg = (f"{where} answered without per-token ids and logprobs "
                   f"(choices[0].logprobs.content[].id, .logprob): {json.dumps(answer)[:200]}; "
                   f"the claim needs a server that returns them (mlx_lm.server, vLLM)")
            raise ServedError(msg) from None
        usage = answer.get("usage") if isinstance(answer, dict) else None
        counted = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return Completion(tokens, logprobs, str(choice.get("text", "")),
                          choice.get("finish_reason"),
                          counted if isinstance(counted, int) else None)

    def prompt_logprobs(self) -> str | None:
        """Whether the server scores a prompt: None when it returns prompt log-probabilities
        (``echo`` with ``logprobs``, as vLLM's completions do), else what it answered instead.
        Asked once, with a one-token prompt."""
        if self._echo is None:
            try:
                answer = self._call("/completions", {
                    "model": self.model, "prompt": "The", "max_tokens": 1, "temperature": 0,
                    "echo": True, "logprobs": 1, "stream": False})
            except ServedError as exc:  # refusing the request says no; a down server is ERROR
                if exc.status is None or not 400 <= exc.status < 500:
                    raise
                self._echo = f"refused the request: {exc}"
                return self._echo
            try:
                scored = answer["choices"][0]["logprobs"]["token_logprobs"]
                ok = isinstance(scored, list) and len(scored) >= 2
            except (KeyError, IndexError, TypeError):
                ok = False
            self._echo = "" if ok else f"answered {json.dumps(answer)[:160]}"
        return self._echo or None

    def _cannot_score(self, what: str) -> SubjectUnavailable:
        """A scoring claim on a served model is SKIPPED with why, never approximated from the
        generated tokens' logprobs."""
        instead = self.prompt_logprobs()
        if instead is not None:
            why = (f"it returns no prompt log-probabilities (asked /completions with echo and "
                   f"logprobs; it {instead})")
        else:
            why = ("it returns prompt log-probabilities, but falsify does not yet score through "
                   "a server (the local tokenizer must be shown to match the server's first)")
        return SubjectUnavailable(
            f"{self.describe()} cannot give {what}: {why}; bind this claim to the local load of "
            f"the same model (SERVED-MATCHES-LOCAL says which it is)")

    def logits(self, ids: Any) -> Any:
        raise self._cannot_score("logits")

    def encode(self, text: str) -> list[int]:
        raise self._cannot_score("a text's tokens (perplexity, NLL)")

    def token_nll(self, ids: Any, mask: Any = None) -> Any:
        raise self._cannot_score("token NLL (perplexity)")

    def close(self) -> None:
        if self.process is not None:
            self.process.close()


def _decode(url: str, answer: bh.HttpAnswer) -> Any:
    snippet = answer.body[:200].decode("utf-8", "replace")
    if answer.status != 200:
        msg = f"{url} answered HTTP {answer.status}: {snippet!r}"
        raise ServedError(msg, answer.status)
    try:
        return json.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        msg = f"{url} answered non-JSON: {snippet!r}; is this an OpenAI-compatible server?"
        raise ServedError(msg) from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """The real ``mlx_lm.server`` on 127.0.0.1 serving ``model``, until :meth:`close`."""

    def __init__(self, model: Path, *, start_timeout_s: float = 90.0) -> None:
        self.model = model  # the folder it serves
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        cmd = [sys.executable, "-m", "mlx_lm.server", "--model", str(model), "--host",
               "127.0.0.1", "--port", str(self.port), "--log-level", "WARNING"]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=self._log,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=preexec())
        atexit.register(self.close)
        client = ServedModel(self.url, timeout_s=5.0, retries=0)
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                client.health()
                return
            except ServedError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self._fail()
                time.sleep(0.2)

    def _fail(self) -> None:
        self.close(keep_log=True)
        self._log.seek(0)
        tail = self._log.read()[-2000:]
        self._log.close()
        state = ("exited with status " + str(self.proc.returncode)
                 if self.proc.returncode is not None else "did not answer in time")
        msg = f"mlx_lm.server on port {self.port} {state}; its output:\n{tail or '(empty)'}"
        raise ServedError(msg)

    def close(self, keep_log: bool = False) -> None:
        """Stop the server (terminate, then kill) and reap it; safe to call twice."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not keep_log and not self._log.closed:
            self._log.close()
        atexit.unregister(self.close)


def _number(where: str, key: str, value: Any, default: float, low: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        msg = f"{where}: {key} must be a number >= {low:g}, got {value!r}"
        raise WorkspaceError(msg)
    return float(value)


def load_openai_endpoint(spec: SubjectSpec, workspace: Workspace) -> ServedModel:
    """Workspace loader for ``kind = "openai-endpoint"``: ``url`` (or, in the demo, ``serve``)."""
    where = spec.where(workspace)
    opts = spec.options
    for key in ("url", "model", "reference", "api_key_env", "serve"):
        if key in opts and (not isinstance(opts[key], str) or not opts[key]):
            msg = f"{where}: {key} must be a non-empty string, got {opts[key]!r}"
            raise WorkspaceError(msg)
    if ("url" in opts) == ("serve" in opts):
        msg = f"{where}: an openai-endpoint needs url = \"http://host:port/v1\""
        raise WorkspaceError(msg)
    process = None
    if "serve" in opts:
        process = ServerProcess(Path(opts["serve"]))
        url = process.url
    else:
        url = opts["url"]
        if not url.startswith(("http://", "https://")):
            msg = f"{where}: url must start with http:// or https://, got {url!r}"
            raise WorkspaceError(msg)
    return ServedModel(url, opts.get("model", "default_model"), opts.get("reference"),
                       opts.get("api_key_env"),
                       _number(where, "timeout_s", opts.get("timeout_s"), 30.0, 0.1),
                       int(_number(where, "retries", opts.get("retries"), 2, 0)),
                       process=process)
