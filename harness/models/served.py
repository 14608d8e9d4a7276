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
    tokenizer = "path/to/folder"       # optional: the tokenizer it serves with, for scoring
                                       # (default: the reference subject's folder)

A demo subject may instead name ``serve`` (a model folder): the loader starts a real server on a
free loopback port (``server = "mlx_lm"``, the default, runs ``mlx_lm.server``; ``"scoring"``
runs :mod:`harness.demo.scoring_server`) and stops it when the process ends.

Generation is greedy (``temperature: 0``) with ``logprobs: true``: the server returns each
generated token's id and log-probability. Scoring a text (perplexity, NLL) needs the server to
echo prompt log-probabilities (``echo`` with ``logprobs``, as vLLM does) and a local copy of the
tokenizer it serves with: each row is sent as text, and the server must count exactly the
row's tokens (``usage.prompt_tokens``), or the record is an ERROR saying so. A server that does
not echo cannot score, so those claims are SKIPPED with that reason, never approximated from the
generated tokens. A server that is down, or answers anything but the protocol's JSON, is a
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.models.base import check_mask, special_ids
from harness.procs import preexec
from harness.runs import bounded_http as bh
from harness.workspace import SubjectSpec, SubjectUnavailable, Workspace, WorkspaceError

__all__ = ["SERVERS", "Completion", "ServedError", "ServedModel", "ServerProcess", "echoed_scores",
           "load_openai_endpoint"]

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
    # where the tokenizer it serves with lives: asked on the first scoring call
    tokenizer_source: Callable[[], Path] | None = field(default=None, repr=False)
    _echo: str | None = field(default=None, repr=False)  # prompt_logprobs(), asked once
    _local: _LocalTokenizer | None = field(default=None, repr=False)
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
            why = ("it returns prompt log-probabilities, but scoring needs a local copy of the "
                   "tokenizer it serves with: set reference = \"<the local model subject>\" or "
                   "tokenizer = \"<folder>\"")
        return SubjectUnavailable(
            f"{self.describe()} cannot give {what}: {why}; bind this claim to the local load of "
            f"the same model (SERVED-MATCHES-LOCAL says which it is)")

    def _scoring(self, what: str) -> _LocalTokenizer:
        """The local tokenizer to score through the server with, or SKIPPED with why."""
        if self._local is None:
            if self.prompt_logprobs() is not None or self.tokenizer_source is None:
                raise self._cannot_score(what)
            self._local = _LocalTokenizer(self.tokenizer_source())
        return self._local

    @property
    def path(self) -> Path:
        """The folder of the tokenizer the server scores with (declare it as an input)."""
        return self._scoring("a text's tokens (perplexity, NLL)").path

    @property
    def config(self) -> dict[str, Any]:
        return self._scoring("a text's tokens (perplexity, NLL)").config

    @property
    def eos_id(self) -> int | None:
        return self._scoring("a text's tokens (perplexity, NLL)").eos_id

    @property
    def bos_id(self) -> int | None:
        return self._scoring("a text's tokens (perplexity, NLL)").bos_id

    def logits(self, ids: Any) -> Any:
        raise self._cannot_score("logits")

    def encode(self, text: str) -> list[int]:
        return self._scoring("a text's tokens (perplexity, NLL)").encode(text)

    def token_nll(self, ids: Any, mask: Any = None) -> Any:
        """NLL [B, T-1] of each row's tokens after the first, from the server's echoed prompt
        log-probabilities; each row goes as its text, one request a row."""
        local = self._scoring("token NLL (perplexity)")
        arr = np.asarray(ids)
        keep = check_mask(mask, arr.shape)
        lengths = (np.asarray(mask).astype(bool).sum(1) if mask is not None
                   else np.full(arr.shape[0], arr.shape[1]))
        out = np.zeros(keep.shape, dtype=np.float64)
        for b, n in enumerate(lengths.tolist()):
            if n >= 2:
                out[b, :n - 1] = -self._echo_scores(local, [int(i) for i in arr[b, :n]])
        return out

    def _echo_scores(self, local: _LocalTokenizer, row: list[int]) -> np.ndarray:
        """log p(row[t] | row[:t]) for t >= 1, as the server echoes them."""
        text, n = local.decode(row), len(row)
        answer = self._call("/completions", {
            "model": self.model, "prompt": text, "max_tokens": 1, "temperature": 0,
            "echo": True, "logprobs": 1, "stream": False})
        return echoed_scores(f"{self.url}/completions", answer, n, f"{local.path}", text)

    def close(self) -> None:
        if self.process is not None:
            self.process.close()


def echoed_scores(where: str, answer: Any, n: int, tokenizer: str, text: str) -> np.ndarray:
    """log p(token t | tokens before it), t = 1 .. n-1, from an answer to an echo request for a
    prompt the local ``tokenizer`` encodes into ``n`` tokens; a ServedError for anything else."""
    try:
        scores = answer["choices"][0]["logprobs"]["token_logprobs"]
        counted = answer["usage"]["prompt_tokens"]
    except (KeyError, IndexError, TypeError):
        msg = (f"{where} answered an echo request without choices[0].logprobs.token_logprobs "
               f"and usage.prompt_tokens: {json.dumps(answer)[:200]}")
        raise ServedError(msg) from None
    if counted != n or isinstance(counted, bool):
        msg = (f"{where} parsed a prompt into {counted!r} tokens where the local tokenizer "
               f"({tokenizer}) gives {n} ({text[:60]!r}): the server tokenizes otherwise "
               f"(another tokenizer, an added BOS token, or a window whose text re-tokenizes "
               f"differently), so its scores would be for other tokens; point tokenizer at the "
               f"folder the server was started on")
        raise ServedError(msg)
    got = scores[1:n] if isinstance(scores, list) and len(scores) >= n else None
    if got is None or not all(isinstance(x, int | float) and not isinstance(x, bool)
                              for x in got):
        msg = (f"{where} echoed {json.dumps(scores)[:120]} as token_logprobs for a prompt of "
               f"{n} tokens: it needs a number at every position after the first")
        raise ServedError(msg)
    return np.asarray(got, dtype=np.float64)


class _LocalTokenizer:
    """The tokenizer a server serves with, loaded here from its folder (no weights)."""

    def __init__(self, folder: Path) -> None:
        from transformers import AutoTokenizer

        self.path = folder
        self.config: dict[str, Any]
        try:
            self.config = json.loads((folder / "config.json").read_text("utf-8"))
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            msg = (f"{folder}: cannot load the tokenizer a served model is scored with ({exc}); "
                   f"point tokenizer (or reference) at the folder the server was started on")
            raise ServedError(msg) from None
        self.eos_id, self.bos_id = special_ids(self.tokenizer, self.config)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False)
        return ids

    def decode(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=False,
                                     clean_up_tokenization_spaces=False)
        return str(text)


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


SERVERS = ("mlx_lm", "scoring")


class ServerProcess:
    """A real server on 127.0.0.1 serving ``model`` until :meth:`close`: ``mlx_lm.server``, or
    (``server="scoring"``) the demo's scoring server, which echoes prompt log-probabilities."""

    def __init__(self, model: Path, *, server: str = "mlx_lm",
                 start_timeout_s: float = 90.0) -> None:
        self.model = model  # the folder it serves
        self.server = server
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        if server == "scoring":
            cmd = [sys.executable, "-m", "harness.demo.scoring_server", "--model", str(model),
                   "--port", str(self.port)]
        else:
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
        name = "mlx_lm.server" if self.server == "mlx_lm" else "the demo scoring server"
        msg = f"{name} on port {self.port} {state}; its output:\n{tail or '(empty)'}"
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
    for key in ("url", "model", "reference", "api_key_env", "serve", "server", "tokenizer"):
        if key in opts and (not isinstance(opts[key], str) or not opts[key]):
            msg = f"{where}: {key} must be a non-empty string, got {opts[key]!r}"
            raise WorkspaceError(msg)
    if ("url" in opts) == ("serve" in opts):
        msg = f"{where}: an openai-endpoint needs url = \"http://host:port/v1\""
        raise WorkspaceError(msg)
    if opts.get("server", "mlx_lm") not in SERVERS:
        msg = f"{where}: server must be one of {', '.join(SERVERS)}, got {opts['server']!r}"
        raise WorkspaceError(msg)
    process = None
    if "serve" in opts:
        process = ServerProcess(Path(opts["serve"]), server=opts.get("server", "mlx_lm"))
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
                       process=process, tokenizer_source=_tokenizer_source(spec, workspace))


def _tokenizer_source(spec: SubjectSpec, workspace: Workspace) -> Callable[[], Path] | None:
    """Where the served tokenizer is: ``tokenizer``, else the reference subject's folder."""
    if "tokenizer" in spec.options:
        return lambda: spec.path("tokenizer")
    reference = spec.options.get("reference")
    if reference is None:
        return None

    def folder() -> Path:
        from harness.models.load import model_folder

        return model_folder(workspace.spec(str(reference)), workspace)
    return folder
