"""Client of a repair gate over real HTTP, and the launcher of the demo gate process.

Every request has a total deadline (``timeout_s``: connect, send, headers and body together) and
a cap on the answer's size (``max_response_bytes``), so no gate can hold a falsifier or fill its
memory. Failure modes map onto verdicts:

* the gate cannot be reached (refused, no route, 503) after the retries:
  :class:`GateUnavailable`, a :class:`~harness.workspace.SubjectUnavailable`, so SKIPPED;
* the gate answers, but not what the protocol says: a :class:`GateProtocolError`, so ERROR,
  one class per failure, each naming the endpoint, the limit and the fix:
  :class:`GateTimeout` (not complete by the deadline: a stall or a slow drip),
  :class:`GateOversize`, :class:`GateShortRead`, :class:`GateReset` (reset after the retries),
  :class:`GateGarbled` (not HTTP), :class:`GateHTTPError` (not 200),
  :class:`GateContentType` (not JSON by its header), :class:`GateBadJSON`, and the plain
  :class:`GateProtocolError` for JSON of the wrong shape or rows out of order;
* the demo gate process does not come up: :class:`GateLaunchError`, so ERROR (a demo that
  cannot start is a harness fault, not a missing subject).

Every launched process is stopped by :meth:`GateProcess.close`, which is also registered with
``atexit``, so no test or falsifier run leaves a gate behind.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from harness.runs import bounded_http as bh
from harness.workspace import SubjectSpec, SubjectUnavailable, Workspace, WorkspaceError

__all__ = [
    "MAX_RESPONSE_BYTES",
    "GateBadJSON",
    "GateClient",
    "GateContentType",
    "GateEndpoint",
    "GateGarbled",
    "GateHTTPError",
    "GateLaunchError",
    "GateOversize",
    "GateProcess",
    "GateProtocolError",
    "GateReset",
    "GateResult",
    "GateShortRead",
    "GateTimeout",
    "GateUnavailable",
    "load_gate_endpoint",
]

BATCH = 200
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # 200 rows of answers are about 100 KB


class GateUnavailable(SubjectUnavailable):
    """The gate cannot be reached: the subject is not available here (SKIPPED)."""


class GateProtocolError(ValueError):
    """The gate answered something the protocol does not allow (ERROR)."""


class GateTimeout(GateProtocolError):
    """The answer was not complete within the total deadline (ERROR)."""


class GateOversize(GateProtocolError):
    """The answer is larger than the size cap (ERROR)."""


class GateShortRead(GateProtocolError):
    """The connection closed before the declared body was complete (ERROR)."""


class GateReset(GateProtocolError):
    """The connection was reset on every attempt (ERROR)."""


class GateGarbled(GateProtocolError):
    """The bytes are not an HTTP answer (ERROR)."""


class GateHTTPError(GateProtocolError):
    """An HTTP status other than 200 (and 503, which is retried) (ERROR)."""


class GateContentType(GateProtocolError):
    """A 200 answer whose Content-Type is not JSON (ERROR)."""


class GateBadJSON(GateProtocolError):
    """A 200 JSON answer whose body is not JSON (ERROR)."""


class GateLaunchError(RuntimeError):
    """The demo gate process did not start (ERROR)."""


@dataclass(frozen=True)
class GateResult:
    feat_id: str
    proposal: str
    accepted: bool
    repaired_words: int
    reason: str


_FIXES: dict[type[bh.HttpFailure], tuple[type[GateProtocolError], str]] = {
    bh.HttpTimeout: (GateTimeout, "the gate is stalled or too slow: fix it, or raise timeout_s "
                                  "in its subject table"),
    bh.HttpOversize: (GateOversize, "the gate answers far more than 200 rows need: fix it, or "
                                    "raise max_response_bytes in its subject table"),
    bh.HttpShortRead: (GateShortRead, "the gate died or cut its answer: check its logs"),
    bh.HttpReset: (GateReset, "the gate drops connections: check its logs and its load"),
    bh.HttpMalformed: (GateGarbled, "the url does not point at an HTTP gate: fix url"),
}


class GateClient:
    """JSON over HTTP: a total deadline and a size cap per request, bounded retries."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, retries: int = 3,
                 backoff_s: float = 0.2, max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.limits = bh.HttpLimits(timeout_s, max_response_bytes)

    def _once(self, path: str, body: bytes | None) -> bh.HttpAnswer:
        return bh.request(self.url + path, "POST" if body is not None else "GET", body,
                          {"Content-Type": "application/json"}, self.limits)

    def _request(self, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        last: bh.HttpFailure | str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                answer = self._once(path, body)
            except (bh.HttpUnreachable, bh.HttpReset) as exc:  # transient: try again
                last = exc
                continue
            except bh.HttpFailure as exc:
                raise self._error(path, exc) from None
            if answer.status == 503:
                last = "503 Service Unavailable"
                continue
            return self._decode(path, answer)
        if isinstance(last, bh.HttpReset):
            raise self._error(path, last, f" on all {self.retries + 1} attempt(s)")
        msg = (f"repair gate at {self.url} did not answer {path} after {self.retries + 1} "
               f"attempt(s) ({last}); start the gate or fix its url in the workspace config")
        raise GateUnavailable(msg)

    def _error(self, path: str, exc: bh.HttpFailure, tries: str = "") -> GateProtocolError:
        cls, fix = _FIXES[type(exc)]
        limit = f" (limit: {exc.limit})" if exc.limit else ""
        return cls(f"repair gate at {self.url}{path}: {exc.what}{tries}{limit}; {fix}")

    def _decode(self, path: str, answer: bh.HttpAnswer) -> Any:
        data = answer.body
        snippet = data[:200].decode("utf-8", "replace")
        where = f"repair gate at {self.url}{path}"
        if answer.status != 200:
            fix = ("the gate failed: check its logs" if answer.status >= 500 else
                   "the gate refused the request: check the url and the gate's version")
            msg = f"{where} answered HTTP {answer.status}: {snippet!r}; {fix}"
            raise GateHTTPError(msg)
        if answer.content_type.split(";")[0].strip().lower() != "application/json":
            msg = (f"{where} answered Content-Type {answer.content_type or '(none)'!r}, not "
                   f"application/json: {snippet!r}; the url does not point at a repair gate")
            raise GateContentType(msg)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            msg = f"{where} answered non-JSON: {snippet!r}"
            raise GateBadJSON(msg) from None
        except RecursionError:  # json recurses once per nesting level
            msg = f"{where} answered JSON nested too deep to read: {snippet[:60]!r}"
            raise GateBadJSON(msg) from None

    def health(self) -> dict[str, Any]:
        """GET /health; GateProtocolError unless it says status ok."""
        answer = self._request("/health")
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            msg = f"repair gate at {self.url}/health is not healthy: {answer!r:.200}"
            raise GateProtocolError(msg)
        return answer

    def propose(self, rows: Sequence[tuple[str, str]]) -> list[GateResult]:
        """POST /propose in batches; results come back in the order of ``rows``."""
        out: list[GateResult] = []
        for start in range(0, len(rows), BATCH):
            batch = rows[start:start + BATCH]
            answer = self._request("/propose", {"rows": [
                {"feat_id": fid, "text": text} for fid, text in batch]})
            out += _results(self.url, answer, [fid for fid, _ in batch])
        return out


def _results(url: str, answer: Any, feat_ids: list[str]) -> list[GateResult]:
    items = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(items, list) or len(items) != len(feat_ids):
        msg = (f"repair gate at {url}/propose: expected {{'results': [...]}} with "
               f"{len(feat_ids)} items, got {answer!r:.200}")
        raise GateProtocolError(msg)
    return [_result(url, item, fid, i) for i, (item, fid) in enumerate(
        zip(items, feat_ids, strict=True))]


def _result(url: str, item: Any, feat_id: str, i: int) -> GateResult:
    types = {"feat_id": str, "proposal": str, "accepted": bool, "repaired_words": int,
             "reason": str}
    if not isinstance(item, dict) or any(not isinstance(item.get(k), t)
                                         for k, t in types.items()):
        msg = (f"repair gate at {url}/propose: results[{i}] must hold "
               f"{', '.join(f'{k} ({t.__name__})' for k, t in types.items())}; got {item!r:.200}")
        raise GateProtocolError(msg)
    if item["feat_id"] != feat_id:
        msg = (f"repair gate at {url}/propose: results[{i}] is for {item['feat_id']!r}, "
               f"expected {feat_id!r} (answers must keep request order)")
        raise GateProtocolError(msg)
    return GateResult(item["feat_id"], item["proposal"], item["accepted"],
                      item["repaired_words"], item["reason"])


def _first_line(stream: IO[str], timeout_s: float) -> str | None:
    box: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: box.put(stream.readline()), daemon=True).start()
    try:
        return box.get(timeout=timeout_s)
    except queue.Empty:
        return None


class GateProcess:
    """A demo gate running as a child process on 127.0.0.1 (an ephemeral port)."""

    def __init__(self, lexicon: Path, policy: str, *, start_timeout_s: float = 30.0,
                 proposer: Sequence[str] = ()) -> None:
        # the gate's stderr, read back only if it fails to start; closed in close()
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        cmd = [sys.executable, "-m", "harness.runs.gate_server", "--port", "0",
               "--lexicon", str(lexicon), "--policy", policy, "--exit-with-parent", *proposer]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, text=True, env=env)
        atexit.register(self.close)
        try:
            self.url = self._wait_up(start_timeout_s)
        except GateLaunchError:
            self.close()
            raise

    def _wait_up(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        if self.proc.stdout is None:  # pragma: no cover (stdout=PIPE above)
            msg = "gate process has no stdout"
            raise GateLaunchError(msg)
        line = _first_line(self.proc.stdout, timeout_s)
        if line is None or not line.strip().isdigit():
            self._fail(f"did not print its port within {timeout_s:.0f} s (got {line!r})")
        url = f"http://127.0.0.1:{int(str(line))}"
        client = GateClient(url, timeout_s=2.0, retries=0)
        while time.monotonic() < deadline:
            try:
                client.health()
                return url
            except GateUnavailable:
                if self.proc.poll() is not None:
                    self._fail(f"exited with status {self.proc.returncode}")
                time.sleep(0.05)
        self._fail(f"did not answer /health within {timeout_s:.0f} s")

    def _fail(self, what: str) -> NoReturn:
        self._stop()
        self._log.seek(0)
        stderr = self._log.read()[-2000:]
        self.close()
        msg = f"demo repair gate {what}; its stderr:\n{stderr or '(empty)'}"
        raise GateLaunchError(msg)

    def close(self) -> None:
        """Stop the process (terminate, then kill) and reap it; safe to call twice."""
        self._stop()
        self._log.close()
        atexit.unregister(self.close)

    def _stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> GateProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class GateEndpoint:
    """A live gate (``client``), the bundle whose N'Ko rows it is fed, and the demo process."""

    url: str
    client: GateClient
    inputs: Path
    process: GateProcess | None = None
    health: Mapping[str, Any] | None = None

    def close(self) -> None:
        if self.process is not None:
            self.process.close()


def load_gate_endpoint(spec: SubjectSpec, workspace: Workspace) -> GateEndpoint:
    """Workspace loader for kind ``gate-endpoint``.

    Options: ``path`` (the run bundle whose rows go through the gate) and either ``url`` (a gate
    already running) or ``lexicon`` and ``policy`` (launch the demo gate on loopback), with
    ``proposer`` (an ``openai-endpoint`` subject whose model proposes the repairs) for the
    ``model-*`` policies."""
    inputs = spec.path()
    opts = spec.options
    if "url" in opts:
        client = GateClient(str(opts["url"]), timeout_s=float(opts.get("timeout_s", 10.0)),
                            retries=int(opts.get("retries", 3)),
                            max_response_bytes=int(opts.get("max_response_bytes",
                                                            MAX_RESPONSE_BYTES)))
        return GateEndpoint(client.url, client, inputs, None, client.health())
    process = GateProcess(spec.path("lexicon"), str(opts.get("policy", "lexicon")),
                          proposer=_proposer_args(spec, workspace))
    # a model gate asks its proposer about every ill-formed word of a 200-row batch
    client = GateClient(process.url, timeout_s=600.0 if "proposer" in opts else 10.0)
    return GateEndpoint(process.url, client, inputs, process, client.health())


def _proposer_args(spec: SubjectSpec, workspace: Workspace) -> list[str]:
    """The demo gate's --proposer arguments for the ``proposer`` subject (none without one)."""
    from harness.models.served import ServedModel

    name = spec.options.get("proposer")
    if name is None:
        return []
    served = workspace.resolve(str(name))
    if not isinstance(served, ServedModel):
        msg = (f"{spec.where(workspace)}: proposer {name!r} must be an openai-endpoint subject "
               f"(the model that proposes repairs), not a {type(served).__name__}")
        raise WorkspaceError(msg)
    args = ["--proposer", served.url, "--proposer-model", served.model,
            "--proposer-timeout-s", str(served.timeout_s)]
    return args + (["--proposer-key-env", served.api_key_env] if served.api_key_env else [])
