"""Signatures in every read, checked once per segment key: the signing checks behind the readers.

:class:`SignatureCheck` plugs :func:`harness.ledger.signing.segment_trust` into the verified
reads (:class:`~harness.ledger.verify.SegmentCheck`): a segment whose signature shows tampering
(a signature that does not verify, a key not trusted, records dropped or altered after signing)
makes every reader refuse, as ``falsify verify`` reports it. An unsigned segment or tail is not
tampering: whether to rely on it is the gate's policy (``signing.gate_problems``).

:func:`cached_trust` is ``signing.trust_all`` remembered per segment under the segment's key
with its ``.sig`` as a companion (``harness.ledger.trust.segment_key``) and the trusted keys'
fingerprints: a warm gate re-reads no segment to check its signature, and any write to a segment
or its signature re-checks it.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.atomic import save_cache
from harness.ledger.keys import PublicKey
from harness.ledger.pool import file_sizes, map_segments
from harness.ledger.problem import Problem
from harness.ledger.segment import segment_paths
from harness.ledger.signing import SegmentTrust, segment_trust, sig_path
from harness.ledger.trust import segment_key
from harness.ledger.verify import Chain

__all__ = ["SignatureCheck", "cached_trust"]

_FORMAT = 1


class SignatureCheck:
    """The signature of each segment, as an extra check of every verified read."""

    def __init__(self, trusted: dict[str, PublicKey]) -> None:
        self.trusted = trusted
        self._last: tuple[Path, bytes, SegmentTrust] | None = None

    def __getstate__(self) -> dict[str, object]:
        return {"trusted": self.trusted}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.trusted = state["trusted"]  # type: ignore[assignment]
        self._last = None

    def _trust(self, path: Path, data: bytes) -> SegmentTrust:
        last = self._last  # the same bytes object of the same read, never an equal-sized one
        if last is not None and last[0] == path and last[1] is data:
            return last[2]
        found = segment_trust(path, self.trusted, data)
        self._last = (path, data, found)
        return found

    def vouched(self, path: Path, data: bytes) -> int:
        """The first lines of ``data`` that a trusted key's valid signature covers."""
        found = self._trust(path, data)
        return 0 if found.tampered else found.signed

    def fingerprint(self) -> str:
        return "signatures:v1:" + ",".join(sorted(self.trusted))

    def companions(self, path: Path) -> list[Path]:
        return [sig_path(path)]

    def check(self, path: Path, data: bytes, chain: Chain) -> list[Problem]:
        found = self._trust(path, data)
        self._last = None
        return list(found.problems) if found.tampered else []


def _to_json(t: SegmentTrust) -> dict[str, object]:
    return {"records": t.records, "signed": t.signed, "tampered": t.tampered,
            "key": None if t.key is None else t.key.fingerprint,
            "problems": [[str(p.path), p.line, p.record_id, p.message, p.fix]
                         for p in t.problems]}


def _from_json(data: dict[str, object], path: Path,
               trusted: dict[str, PublicKey]) -> SegmentTrust | None:
    key = data["key"]
    if key is not None and key not in trusted:
        return None
    problems = tuple(Problem(Path(p[0]), p[1], p[2], p[3], p[4])
                     for p in data["problems"])  # type: ignore[attr-defined]
    return SegmentTrust(path, int(data["records"]), int(data["signed"]),  # type: ignore[call-overload]
                        None if key is None else trusted[str(key)], problems,
                        bool(data["tampered"]))


def cached_trust(ledger_dir: Path, trusted: dict[str, PublicKey],
                 cache: Path | None) -> dict[str, SegmentTrust]:
    """``signing.trust_all``, each segment's answer reused while its key (its bytes, its
    ``.sig``) and the trusted keys are unchanged."""
    check = SignatureCheck(trusted)
    saved: dict[str, list[object]] = {}
    if cache is not None:
        try:
            data = json.loads(cache.read_bytes())
            if data.get("format") == _FORMAT and data.get("trusted") == check.fingerprint():
                saved = data["segments"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            saved = {}  # a cache, not evidence: every signature is checked again
    found: dict[str, SegmentTrust] = {}
    keys: dict[str, str] = {}
    unknown: list[Path] = []
    for path in segment_paths(Path(ledger_dir)):
        key = keys[path.name] = segment_key(path, [check])[0]
        old = saved.get(path.name)
        trust = None
        if isinstance(old, list) and len(old) == 2 and old[0] == key:
            try:
                trust = _from_json(old[1], path, trusted)  # type: ignore[arg-type]
            except (KeyError, TypeError, ValueError, IndexError):
                trust = None
        if trust is None:
            unknown.append(path)
        else:
            found[path.name] = trust
    checked = map_segments(segment_trust, [(p, trusted) for p in unknown],
                           file_sizes(unknown))
    found.update({p.name: t for p, t in zip(unknown, checked, strict=True)})
    found = {name: found[name] for name in keys}  # segment order
    keep = {name: [keys[name], _to_json(t)] for name, t in found.items()}
    if cache is not None and keep != saved:
        save_cache(cache, json.dumps({"format": _FORMAT, "trusted": check.fingerprint(),
                                      "segments": keep}, sort_keys=True).encode())
    return found
