"""The demo repair gate: a real HTTP service (stdlib ``http.server``) on loopback.

Run it as ``python -m harness.runs.gate_server --port 0 --lexicon FILE --policy lexicon``; it
binds 127.0.0.1, prints the port it bound on the first line of stdout, and serves:

``GET /health``
    ``{"status": "ok", "policy": ..., "lexicon_words": n, "lexicon_sha256": ...}``
``POST /propose``
    body ``{"rows": [{"feat_id": "...", "text": "..."}, ...]}`` (at most ``MAX_ROWS`` rows);
    answer ``{"results": [{"feat_id", "proposal", "accepted", "repaired_words", "reason"}]}``
    in request order. A malformed request gets 400 with ``{"error": "..."}``.

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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

__all__ = ["MAX_BODY_BYTES", "MAX_ROWS", "POLICIES", "Lexicon", "Proposal", "main", "make_server",
           "propose"]

POLICIES = ("lexicon", "accept-all")
MAX_ROWS = 1000
MAX_BODY_BYTES = 16 * 1024 * 1024
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


def propose(lexicon: Lexicon, text: str, policy: str) -> Proposal:
    """Repair ``text`` word by word and decide acceptance under ``policy``."""
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

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a parent that does not drain stderr must never block the gate."""

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path != "/health":
            self._send(404, {"error": f"no such path {self.path}; try GET /health"})
            return
        lex = self.server.lexicon
        self._send(200, {"status": "ok", "policy": self.server.policy,
                         "lexicon_words": len(lex.words), "lexicon_sha256": lex.sha256})

    def do_POST(self) -> None:
        if self.path != "/propose":
            self._send(404, {"error": f"no such path {self.path}; try POST /propose"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"error": f"body of {length} bytes; send at most {MAX_BODY_BYTES}"})
            return
        try:
            rows = _parse_rows(json.loads(self.rfile.read(length).decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            self._send(400, {"error": str(exc)})
            return
        results = []
        for fid, text in rows:
            p = propose(self.server.lexicon, text, self.server.policy)
            results.append({"feat_id": fid, "proposal": p.proposal, "accepted": p.accepted,
                            "repaired_words": p.repaired_words, "reason": p.reason})
        self._send(200, {"results": results})


class _GateServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, lexicon: Lexicon, policy: str) -> None:
        self.lexicon = lexicon
        self.policy = policy
        super().__init__(("127.0.0.1", port), _Handler)


def make_server(lexicon: Lexicon, policy: str, port: int = 0) -> ThreadingHTTPServer:
    """A gate bound to 127.0.0.1:``port`` (0: an ephemeral port), not yet serving."""
    if policy not in POLICIES:
        msg = f"unknown gate policy {policy!r}; choose one of {', '.join(POLICIES)}"
        raise ValueError(msg)
    return _GateServer(port, lexicon, policy)


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
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when the launching process dies")
    args = parser.parse_args(argv)
    if not args.lexicon.is_file():
        parser.error(f"lexicon {args.lexicon} does not exist; build it with the demo "
                     f"(harness.demo.bundles) or pass a file of one word per line")
    if args.exit_with_parent:
        _exit_with_parent(os.getppid())
    server = make_server(Lexicon.from_file(args.lexicon), args.policy, args.port)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
