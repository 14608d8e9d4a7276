"""The demo repair gate: a real HTTP service (stdlib ``http.server``) on loopback.

Run it as ``python -m harness.runs.gate_server --port 0 --lexicon FILE --policy lexicon``; it
binds 127.0.0.1, prints the port it bound on the first line of stdout, and serves:

``GET /health``
    ``{"status": "ok", "policy": ..., "lexicon_words": n, "lexicon_sha256": ...}``
``POST /propose``
    body ``{"rows": [{"feat_id": "...", "text": "..."}, ...]}`` (at most ``MAX_ROWS`` rows);
    answer ``{"results": [{"feat_id", "proposal", "accepted", "repaired_words", "reason"}]}``
    in request order. A malformed request gets 400 with ``{"error": "..."}``.

Hostile clients cannot pin it: a request (headers and body) must arrive within
``request_deadline_s`` (408, or the connection closed, when it does not); ``Content-Length`` must
be one plain decimal number (400 otherwise, 411 when missing, no chunked bodies); a body over
``max_body_bytes`` gets 413 unread; at most ``max_connections`` are served at once (503 beyond).
Every error answer closes the connection, so a half-read body never poisons the next request.

The repair model (one line each, all learnt from the lexicon file, one word per line, built
from the N'Ko training corpus):

* a word is *well-formed* when every character bigram of it (with word-boundary marks) occurs
  in some lexicon word: a word with an unseen bigram cannot be written in this orthography;
* an out-of-lexicon, ill-formed word is replaced when exactly one lexicon word lies at
  Levenshtein distance 1 from it and that word has the same length (a one-character
  substitution); every other word is left alone. A well-formed out-of-lexicon word is taken to
  be a real word the lexicon lacks; insertions and deletions are not repaired because they move
  word and punctuation boundaries, the repairs most likely to make a line worse.

Policies decide which proposals are accepted:

* ``lexicon``: accept only when at least one word was repaired, every repaired word is in the
  lexicon, and no ill-formed word remains anywhere in the proposal;
* ``accept-all``: accept every proposal (the negative control: a gate that checks nothing).

With ``--proposer URL`` (an OpenAI-compatible API base, e.g. the real ``mlx_lm.server``) the
repairs come from a model instead: for every ill-formed word that has a lexicon word one edit
away, the gate asks ``POST URL/completions`` for a greedy completion of ``<word>=`` and takes its
first word as the model's spelling (answers are cached per word; each request has a total
deadline and a size cap; a proposer that fails makes the gate answer 502). The model policies:

* ``model-lexicon``: keep a spelling only when it is the word's one lexicon neighbour (a
  one-character substitution); accept when at least one word was repaired;
* ``model-near``: keep any spelling that is a lexicon word one substitution away (a plausible
  check that is too weak: a control);
* ``model-all``: keep every spelling and accept every line (the control that checks nothing).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import socket
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

from harness.procs import serve_announced
from harness.runs import bounded_http as bh
from harness.runs.bounded_http import DeadlineReader

__all__ = ["MAX_BODY_BYTES", "MAX_CONNECTIONS", "MAX_ROWS", "MODEL_POLICIES", "POLICIES",
           "REQUEST_DEADLINE_S", "Lexicon", "ModelProposer", "Proposal", "ProposerError", "main",
           "make_server", "propose"]

MODEL_POLICIES = ("model-lexicon", "model-near", "model-all")
POLICIES = ("lexicon", "accept-all", *MODEL_POLICIES)
PROPOSER_MAX_BYTES = 1024 * 1024
MAX_ROWS = 1000
MAX_BODY_BYTES = 16 * 1024 * 1024
REQUEST_DEADLINE_S = 10.0
MAX_CONNECTIONS = 64
_LENGTH = re.compile(r"[0-9]{1,15}")
_BOW, _EOW = "\x02", "\x03"  # word-boundary marks for bigrams; never in text


def _bigrams(word: str) -> set[str]:
    marked = f"{_BOW}{word}{_EOW}"
    return {marked[i:i + 2] for i in range(len(marked) - 1)}


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))} | {word}


@dataclass(frozen=True)
class Proposal:
    """The gate's answer for one text."""

    proposal: str
    accepted: bool
    repaired_words: int
    reason: str


class Lexicon:
    """Words, their character bigrams, and a deletion index for distance-1 neighbours."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(w for w in words if w)
        self.bigrams: set[str] = set()
        self._index: dict[str, set[str]] = defaultdict(set)
        for w in self.words:
            self.bigrams |= _bigrams(w)
            for d in _deletions(w):
                self._index[d].add(w)
        joined = "\n".join(sorted(self.words)).encode("utf-8")
        self.sha256 = hashlib.sha256(joined).hexdigest()

    @classmethod
    def from_file(cls, path: Path) -> Lexicon:
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls(line.strip() for line in lines)

    def well_formed(self, word: str) -> bool:
        return word in self.words or _bigrams(word) <= self.bigrams

    def neighbours(self, word: str) -> list[str]:
        """Lexicon words at Levenshtein distance exactly 1 from ``word``."""
        found: set[str] = set()
        for d in _deletions(word):
            found |= self._index.get(d, set())
        return sorted(w for w in found if Levenshtein.distance(word, w) == 1)

    def repair(self, word: str) -> str:
        """``word``, or its one-substitution repair when that is the only distance-1 word."""
        if self.well_formed(word):
            return word
        near = self.neighbours(word)
        return near[0] if len(near) == 1 and len(near[0]) == len(word) else word


class ProposerError(RuntimeError):
    """The proposer model could not be asked, or answered outside the protocol (HTTP 502)."""


class ModelProposer:
    """A model's spelling of a word from an OpenAI-compatible ``/completions``, cached per word."""

    def __init__(self, url: str, model: str = "default_model", key_env: str | None = None,
                 timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/") + "/completions"
        self.model, self.key_env, self.timeout_s = model, key_env, timeout_s
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"{self.url} (model {self.model!r})"

    def __call__(self, word: str) -> str:
        with self._lock:
            if word in self._seen:
                return self._seen[word]
        headers = {"Content-Type": "application/json"}
        if self.key_env:
            headers["Authorization"] = f"Bearer {os.environ.get(self.key_env, '')}"
        body = json.dumps({"model": self.model, "prompt": f"{word}=", "temperature": 0,
                           "max_tokens": len(word) + 4, "stream": False}).encode()
        try:
            answer = bh.request(self.url, "POST", body, headers,
                                bh.HttpLimits(self.timeout_s, PROPOSER_MAX_BYTES))
        except bh.HttpFailure as exc:
            msg = f"proposer {self.describe()}: {exc.what}"
            raise ProposerError(msg) from None
        try:
            if answer.status != 200:
                raise ValueError(f"HTTP {answer.status}")
            text = json.loads(answer.body.decode("utf-8"))["choices"][0]["text"]
            if not isinstance(text, str):
                raise TypeError("choices[0].text is not a string")
        except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as exc:
            msg = f"proposer {self.describe()} answered {answer.body[:120]!r} ({exc})"
            raise ProposerError(msg) from None
        spelling = text.split()[0] if text.split() else ""
        with self._lock:
            self._seen[word] = spelling
        return spelling

    @property
    def asked(self) -> int:
        return len(self._seen)


def _keep(lexicon: Lexicon, word: str, spelling: str, policy: str) -> bool:
    """Whether ``policy`` keeps the model's ``spelling`` of the ill-formed ``word``."""
    if spelling.split() != [spelling]:
        return False  # empty, or more than one word: never a word's spelling
    if policy == "model-all":
        return True
    one_sub = (spelling in lexicon.words and len(spelling) == len(word)
               and Levenshtein.distance(word, spelling) == 1)
    return one_sub and (policy == "model-near" or lexicon.neighbours(word) == [spelling])


def _propose_by_model(lexicon: Lexicon, text: str, policy: str,
                      spell: Callable[[str], str]) -> Proposal:
    words = text.split()
    fixed = list(words)
    for i, word in enumerate(words):
        if lexicon.well_formed(word) or not lexicon.neighbours(word):
            continue  # only ill-formed words with a lexicon word one edit away are asked about
        spelling = spell(word)
        if _keep(lexicon, word, spelling, policy):
            fixed[i] = spelling
    repaired = sum(a != b for a, b in zip(words, fixed, strict=True))
    proposal = " ".join(fixed)
    if policy == "model-all":
        return Proposal(proposal, True, repaired, "model-all: the model's spellings, unchecked")
    if repaired == 0:
        return Proposal(proposal, False, 0, "no spelling of the model passed the check")
    why = ("the word's one lexicon neighbour" if policy == "model-lexicon"
           else "a lexicon word one substitution away")
    return Proposal(proposal, True, repaired, f"every kept spelling is {why}")


def propose(lexicon: Lexicon, text: str, policy: str,
            spell: Callable[[str], str] | None = None) -> Proposal:
    """Repair ``text`` word by word and decide acceptance under ``policy`` (``spell``: the
    model's spelling of a word, required by the model policies)."""
    if policy in MODEL_POLICIES:
        if spell is None:
            msg = f"policy {policy!r} needs a proposer model (--proposer URL)"
            raise ValueError(msg)
        return _propose_by_model(lexicon, text, policy, spell)
    words = text.split()
    fixed = [lexicon.repair(w) for w in words]
    repaired = sum(a != b for a, b in zip(words, fixed, strict=True))
    proposal = " ".join(fixed)
    if policy == "accept-all":
        return Proposal(proposal, True, repaired, "accept-all: nothing is checked")
    ill = [w for w in fixed if not lexicon.well_formed(w)]
    if repaired == 0:
        return Proposal(proposal, False, 0, "nothing to repair")
    if ill:
        return Proposal(proposal, False, repaired, f"{len(ill)} ill-formed word(s) remain")
    return Proposal(proposal, True, repaired, "every repaired word is in the lexicon")


def _parse_rows(body: Any) -> list[tuple[str, str]]:
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        msg = 'body must be {"rows": [{"feat_id": str, "text": str}, ...]}'
        raise ValueError(msg)
    if len(rows) > MAX_ROWS:
        msg = f"{len(rows)} rows in one request; send at most {MAX_ROWS}"
        raise ValueError(msg)
    out = []
    for i, row in enumerate(rows):
        ok = isinstance(row, dict) and isinstance(row.get("feat_id"), str) and isinstance(
            row.get("text"), str)
        if not ok:
            msg = f"rows[{i}] must be an object with string feat_id and text"
            raise ValueError(msg)
        out.append((row["feat_id"], row["text"]))
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _GateServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.deadline = time.monotonic() + self.server.request_deadline_s
        super().setup()
        # every read waits only until the request's deadline, so a slow drip cannot pin us
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, lambda: self.deadline))

    def handle_one_request(self) -> None:
        self.deadline = time.monotonic() + self.server.request_deadline_s
        super().handle_one_request()  # a read past the deadline closes the connection

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a parent that does not drain stderr must never block the gate."""

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        if status != 200:
            self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            if status != 200:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client left (reset, timed out): nothing to answer
            self.close_connection = True

    def do_GET(self) -> None:
        if "Content-Length" in self.headers or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # a body we do not read must not become a request
        if self.path != "/health":
            self._send(404, {"error": f"no such path {self.path}; try GET /health"})
            return
        lex = self.server.lexicon
        health: dict[str, Any] = {"status": "ok", "policy": self.server.policy,
                                  "lexicon_words": len(lex.words), "lexicon_sha256": lex.sha256}
        if self.server.proposer is not None:
            health["proposer"] = self.server.proposer.describe()
        self._send(200, health)

    def _length(self) -> int | None:
        """The body's length, or None after answering 400, 411 or 413."""
        if self.headers.get("Transfer-Encoding") is not None:
            self._send(400, {"error": "Transfer-Encoding is not accepted; send Content-Length"})
            return None
        values = self.headers.get_all("Content-Length") or []
        if not values:
            self._send(411, {"error": "Content-Length is required"})
            return None
        texts = {v.strip() for v in values}
        if len(texts) != 1 or not _LENGTH.fullmatch(next(iter(texts))):
            shown = ", ".join(repr(v) for v in values)[:100]
            self._send(400, {"error": f"Content-Length {shown} is not one decimal number"})
            return None
        length = int(next(iter(texts)))
        limit = self.server.max_body_bytes
        if length > limit:
            self._send(413, {"error": f"body of {length} bytes; send at most {limit}"})
            return None
        return length

    def _body(self, length: int) -> bytes | None:
        """The body, or None after answering 408 (too slow) or 400 (shorter than declared)."""
        try:
            data = self.rfile.read(length)
        except TimeoutError:
            self._send(408, {"error": f"the request did not arrive within "
                                      f"{self.server.request_deadline_s:g} s"})
            return None
        except OSError:
            self.close_connection = True
            return None
        if len(data) < length:
            self._send(400, {"error": f"body of {len(data)} bytes, shorter than its "
                                      f"Content-Length {length}"})
            return None
        return data

    def do_POST(self) -> None:
        if self.path != "/propose":
            self.close_connection = True
            self._send(404, {"error": f"no such path {self.path}; try POST /propose"})
            return
        length = self._length()
        body = None if length is None else self._body(length)
        if body is None:
            return
        try:
            rows = _parse_rows(json.loads(body.decode("utf-8")))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._send(400, {"error": f"{type(exc).__name__}: {exc}"[:300]})
            return
        results = []
        try:
            for fid, text in rows:
                p = propose(self.server.lexicon, text, self.server.policy, self.server.proposer)
                results.append({"feat_id": fid, "proposal": p.proposal, "accepted": p.accepted,
                                "repaired_words": p.repaired_words, "reason": p.reason})
        except ProposerError as exc:
            self._send(502, {"error": str(exc)[:300]})
            return
        self._send(200, {"results": results})


class _GateServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: a burst of clients waits, not SYN-retries

    def __init__(self, port: int, lexicon: Lexicon, policy: str, *, request_deadline_s: float,
                 max_body_bytes: int, max_connections: int,
                 proposer: ModelProposer | None = None) -> None:
        self.lexicon = lexicon
        self.policy = policy
        self.proposer = proposer
        self.request_deadline_s = request_deadline_s
        self.max_body_bytes = max_body_bytes
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # full: say so at once, pin nothing
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def _refuse_busy(sock: socket.socket) -> None:
    body = b'{"error": "the gate is serving its maximum of connections; retry"}'
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    try:
        sock.settimeout(1.0)
        sock.sendall(head + body)
    except OSError:
        pass


def make_server(lexicon: Lexicon, policy: str, port: int = 0, *,
                request_deadline_s: float = REQUEST_DEADLINE_S,
                max_body_bytes: int = MAX_BODY_BYTES,
                max_connections: int = MAX_CONNECTIONS,
                proposer: ModelProposer | None = None) -> ThreadingHTTPServer:
    """A gate bound to 127.0.0.1:``port`` (0: an ephemeral port), not yet serving."""
    if policy not in POLICIES:
        msg = f"unknown gate policy {policy!r}; choose one of {', '.join(POLICIES)}"
        raise ValueError(msg)
    if (policy in MODEL_POLICIES) != (proposer is not None):
        msg = (f"policy {policy!r} needs a proposer model (--proposer URL)"
               if proposer is None else f"policy {policy!r} takes no proposer; use one of "
                                        f"{', '.join(MODEL_POLICIES)}")
        raise ValueError(msg)
    return _GateServer(port, lexicon, policy, request_deadline_s=request_deadline_s,
                       max_body_bytes=max_body_bytes, max_connections=max_connections,
                       proposer=proposer)


def _exit_with_parent(parent: int) -> None:
    """Exit when the parent process is gone, so a killed test run leaves no gate behind."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)
    threading.Thread(target=watch, daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.runs.gate_server",
                                     description="Demo N'Ko repair gate on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="0 binds an ephemeral port")
    parser.add_argument("--lexicon", type=Path, required=True, help="one word per line")
    parser.add_argument("--policy", choices=POLICIES, default="lexicon")
    parser.add_argument("--request-deadline-s", type=float, default=REQUEST_DEADLINE_S,
                        help="a request (headers and body) must arrive within this (408)")
    parser.add_argument("--max-body-bytes", type=int, default=MAX_BODY_BYTES,
                        help="larger bodies get 413 unread")
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS,
                        help="connections served at once; more get 503")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when the launching process dies")
    parser.add_argument("--proposer", help="an OpenAI-compatible API base whose model proposes "
                                           "the repairs (the model-* policies)")
    parser.add_argument("--proposer-model", default="default_model")
    parser.add_argument("--proposer-key-env", help="the variable holding the proposer's API key")
    parser.add_argument("--proposer-timeout-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    if (args.policy in MODEL_POLICIES) != (args.proposer is not None):
        parser.error(f"policy {args.policy} {'needs' if args.proposer is None else 'takes no'} "
                     f"--proposer")
    proposer = (ModelProposer(args.proposer, args.proposer_model, args.proposer_key_env,
                              args.proposer_timeout_s) if args.proposer else None)
    if not args.lexicon.is_file():
        parser.error(f"lexicon {args.lexicon} does not exist; build it with the demo "
                     f"(harness.demo.bundles) or pass a file of one word per line")
    if args.exit_with_parent:
        _exit_with_parent(os.getppid())
    return serve_announced(make_server(
        Lexicon.from_file(args.lexicon), args.policy, args.port,
        request_deadline_s=args.request_deadline_s, max_body_bytes=args.max_body_bytes,
        max_connections=args.max_connections, proposer=proposer))


if __name__ == "__main__":
    sys.exit(main())
