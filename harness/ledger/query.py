"""Reading the ledger: every record, the latest evidence per claim and subject, history, staleness.

Records are ordered by (created, segment name, line). ``latest()`` answers from the summary index
(``harness.ledger.index``) and returns light :class:`Summary` objects; ``Ledger.load`` reads the
full :class:`Record` behind one by its byte offset.

Amendments. A record whose ``amends`` names another record supersedes it: the named record drops
out of ``latest()`` and the amending record takes its place in time (it corrects that evidence;
it is not newer evidence). Several amendments of one record: the last one appended wins. An
amendment of an amendment follows the chain to the original.

Reading answers only from verified bytes: before its first answer a ``Ledger`` checks every
segment as ``falsify verify`` does (incrementally: only bytes it has not checked under their
current key, ``harness.ledger.trust``), and any problem raises :class:`LedgerTampered` naming
every ``file:line``; nothing is skipped. A torn last line of a segment whose writer is still
running (it holds the segment's lock) is a write in progress and is left out.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.ledger.index import SegmentIndex, Summary, is_cached, load_index, parse_line
from harness.ledger.latest import latest
from harness.ledger.pool import file_sizes, map_segments
from harness.ledger.segment import LedgerError, segment_paths, split_lines, verify_hint
from harness.ledger.trust import LedgerTampered, VerifiedCache, fingerprint, segment_key
from harness.ledger.verify import Ref, SegmentCheck, cross_checks
from harness.provenance import InputHasher, MissingInputError
from harness.records import Record, RecordFormatError

if TYPE_CHECKING:
    from harness.codeid import CodeNow
    from harness.ledger.verify import Problem
    from harness.workspace import Workspace

__all__ = ["EXTERNAL", "UNVERIFIABLE", "Evidence", "Ledger", "Summary", "code_drift",
           "is_stale", "staleness"]

UNVERIFIABLE = "unverifiable:"
# An input the claim declares external and unverifiable by design (contract `external_inputs`).
EXTERNAL = "external:"


class Ledger:
    """A read-only, verified view of the ledger under ``ledger_dir``, indexed in ``index_dir``.

    Segments are listed, checked and indexed once, on first use; ``refresh()`` looks again.
    ``checks``: extra per-segment checks (signatures, say) that every read runs with the
    built-in ones, as ``falsify verify`` does.
    """

    def __init__(self, ledger_dir: Path, index_dir: Path | None = None, *,
                 checks: Sequence[SegmentCheck] = ()) -> None:
        self.ledger_dir = Path(ledger_dir)
        self.index_dir = index_dir
        self.checks = tuple(checks)
        self._paths: list[Path] | None = None
        self._loaded: dict[Path, SegmentIndex] = {}
        self._keys: dict[str, str] | None = None
        self._read: dict[str, bytes] = {}

    @classmethod
    def for_workspace(cls, workspace: Workspace) -> Ledger:
        return cls(workspace.ledger_dir, workspace.cache_dir / "ledger-index")

    def refresh(self) -> None:
        self._paths = self._keys = None
        self._loaded.clear()
        self._read.clear()

    def segments(self) -> list[Path]:
        if self._paths is None:
            self._paths = segment_paths(self.ledger_dir)
        return self._paths

    def _cache(self, name: str) -> Path | None:
        if self.index_dir is None:
            return None
        tag = hashlib.sha256(str(self.ledger_dir.resolve()).encode()).hexdigest()[:16]
        return self.index_dir / f"{name}-{tag}.json"

    def verified_keys(self) -> dict[str, str]:
        """Check the ledger (what was not checked under its current key), then each segment's
        key. LedgerTampered, naming every problem's file:line, when a check fails."""
        if self._keys is not None:
            return self._keys
        keys: dict[str, str] = {}
        for path in self.segments():
            keys[path.name], data = segment_key(path, self.checks)
            if data is not None:
                self._read[path.name] = data
        cache = VerifiedCache(self._cache("verified"), self.ledger_dir, fingerprint(self.checks))
        if cache.keys() != keys:
            self._check_all(keys)
            cache.save(keys)
        self._keys = keys
        return keys

    def _check_all(self, keys: dict[str, str]) -> None:
        problems: list[Problem] = []
        failed = self._build_cold(keys, problems)
        for path in self.segments():
            if path in failed:
                continue
            try:
                self._load(path, keys[path.name])
            except LedgerTampered as exc:
                problems.extend(exc.problems)
        if not problems:
            problems = _across([self._loaded[p] for p in self.segments()])
        if problems:
            raise LedgerTampered(problems)

    def _build_cold(self, keys: dict[str, str], problems: list[Problem]) -> set[Path]:
        """Check and index the segments with no saved index on every core (a fresh checkout's
        first read); a tampered one's problems go to ``problems``, and it is returned."""
        cold = [p for p in self.segments()
                if p not in self._loaded and not is_cached(self.index_dir, p)]
        calls = [(p, self.index_dir, keys[p.name], self.checks) for p in cold]
        sizes = file_sizes(cold)
        failed: set[Path] = set()
        for path, built in zip(cold, map_segments(_build, calls, sizes), strict=True):
            if isinstance(built, SegmentIndex):
                self._loaded[path] = built
                self._read.pop(path.name, None)
            else:
                problems.extend(built)
                failed.add(path)
        return failed

    def _load(self, path: Path, key: str) -> SegmentIndex:
        if path not in self._loaded:
            self._loaded[path] = load_index(path, self.index_dir, key,
                                            self._read.pop(path.name, None), self.checks)
        return self._loaded[path]

    def _index(self, path: Path) -> SegmentIndex:
        return self._load(path, self.verified_keys()[path.name])

    def indexes(self) -> list[SegmentIndex]:
        self.verified_keys()
        return [self._index(p) for p in self.segments()]

    def __len__(self) -> int:
        return sum(len(ix) for ix in self.indexes())

    # --- summaries and latest ---------------------------------------------------------------

    def _ordered(self, keep: Callable[[SegmentIndex, int], bool]) -> list[Summary]:
        ixs = self.indexes()
        found = [(ix.cols["created"][r], ix.name, r, i)
                 for i, ix in enumerate(ixs) for r in range(len(ix)) if keep(ix, r)]
        found.sort()
        return [ixs[i].summary(r) for _, _, r, i in found]

    def summaries(self) -> list[Summary]:
        """Every record's summary, in ledger order."""
        return self._ordered(lambda ix, r: True)

    def latest(self, kind: str = "claim") -> dict[tuple[str, str], Summary]:
        """The latest record of ``kind`` per (claim, subject), amendments applied.

        Kind ``mutation`` (``falsify mutate``) has one record per claim, subject ``*``; kind
        ``decision`` (``falsify decide``) one per decision id (in the claim column), subject
        ``*``."""
        if kind not in ("claim", "hypothesis", "mutation", "decision"):
            msg = (f"latest() takes kind 'claim', 'hypothesis', 'mutation' or 'decision', "
                   f"not {kind!r}")
            raise ValueError(msg)
        found = self._latest(kind, ("claim", "subject"))
        return {(k[0], k[1]): v for k, v in found.items()}

    def latest_hypotheses(self) -> dict[tuple[str, str, str], Summary]:
        """The latest hypothesis record per (claim, subject, hypothesis id)."""
        found = self._latest("hypothesis", ("claim", "subject", "hypothesis"))
        return {(k[0], k[1], k[2] or ""): v for k, v in found.items()}

    def _latest(self, kind: str, key: tuple[str, ...]) -> dict[tuple[Any, ...], Summary]:
        keys = self.verified_keys()
        return latest(self.segments(), keys, self._index, kind, key, self._cache(f"latest-{kind}"))

    # --- full records ------------------------------------------------------------------------

    def load(self, summary: Summary) -> Record:
        """The full record behind ``summary``, read at its byte offset."""
        self.verified_keys()
        with summary.segment.open("rb") as fh:
            fh.seek(summary.offset)
            raw = fh.read(summary.length)
        record = _record(parse_line(raw, summary.segment, summary.line), summary.segment,
                         summary.line)
        if record.id != summary.id:
            msg = (f"{summary.where}: the ledger index is out of date (expected record "
                   f"{summary.id}, found {record.id}); delete {self.index_dir} and retry")
            raise LedgerError(msg)
        return record

    def history(self, claim: str, subject: str | None = None) -> list[Record]:
        """Every record of ``claim`` (on ``subject`` when given), in ledger order."""

        def keep(ix: SegmentIndex, r: int) -> bool:
            return ix.value("claim", r) == claim and subject in (None, ix.value("subject", r))

        return [self.load(summary) for summary in self._ordered(keep)]

    def get(self, record_id: str) -> Record:
        """The record with id ``record_id``; LedgerError when there is none."""
        for ix in self.indexes():
            for r, rid in enumerate(ix.cols["id"]):
                if rid == record_id:
                    return self.load(ix.summary(r))
        msg = f"no record {record_id!r} in {self.ledger_dir}"
        raise LedgerError(msg)

    def records(self) -> list[Record]:
        """Every record, fully parsed, in ledger order (no index: reads every line)."""
        self.verified_keys()
        found: list[tuple[str, str, int, Record]] = []
        for path in self.segments():
            found.extend((r.created, path.name, line, r)
                         for line, r in _read_segment(path, self._index(path).size))
        found.sort(key=lambda t: t[:3])
        return [t[3] for t in found]

    def verify(self, known_claims: set[str] | None = None) -> list[Problem]:
        from harness.ledger.verify import verify

        return verify(self.ledger_dir, known_claims, checks=self.checks)


def _refs(ix: SegmentIndex, rows: Iterable[int]) -> list[Ref]:
    vocab, cols = ix.vocab, ix.cols
    return [(ix.path, r + 1, cols["id"][r], str(vocab[cols["claim"][r]]),
             str(vocab[cols["subject"][r]]), cols["amends"][r]) for r in rows]


def _across(ixs: list[SegmentIndex]) -> list[Problem]:
    """``cross_checks`` over the indexed records. A million records with no duplicate id
    (every honest ledger) need only the amending records and the ones they name: the common
    case costs one set of ids, not a million references (which run when an id repeats)."""
    ids = [rid for ix in ixs for rid in ix.cols["id"]]
    if len(set(ids)) != len(ids):
        return cross_checks(ref for ix in ixs for ref in _refs(ix, range(len(ix))))
    targets = {t for ix in ixs for t in ix.cols["amends"] if t is not None}
    if not targets:
        return []
    # every amending record and every record one names, each once, in ledger order
    return cross_checks(ref for ix in ixs for ref in _refs(ix, [
        r for r, (rid, t) in enumerate(zip(ix.cols["id"], ix.cols["amends"], strict=True))
        if t is not None or rid in targets]))


def _build(path: Path, index_dir: Path | None, key: str,
           checks: Sequence[SegmentCheck]) -> SegmentIndex | list[Problem]:
    """One segment checked and indexed (in a pool process): its index, or its problems."""
    try:
        return load_index(path, index_dir, key, None, checks)
    except LedgerTampered as exc:
        return list(exc.problems)


def _record(data: dict[str, Any], path: Path, line: int) -> Record:
    try:
        return Record.from_json(data)
    except (RecordFormatError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise LedgerError(verify_hint(path, line, f"not a valid record ({exc})")) from None


def _read_segment(path: Path, size: int) -> list[tuple[int, Record]]:
    """The records on the first ``size`` bytes (the verified, complete lines) of ``path``."""
    with path.open("rb") as fh:
        lines, _, _ = split_lines(fh.read(size))
    return [(n, _record(parse_line(raw, path, n), path, n)) for n, raw in enumerate(lines, 1)]


# --- staleness -------------------------------------------------------------------------------

class Evidence(Protocol):
    """What staleness reads: a Record or a Summary."""

    @property
    def claim_sha256(self) -> str: ...
    @property
    def created(self) -> str: ...
    @property
    def inputs(self) -> tuple[dict[str, Any], ...]: ...
    @property
    def code(self) -> dict[str, Any] | None: ...


def _short(sha: str | None) -> str:
    return f"{sha[:12]}…" if sha else "none"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if abs(seconds) >= size:
            return f"{round(seconds / size, 1):g} {unit}"
    return f"{round(seconds, 1):g} s"


def parse_created(text: str) -> datetime:
    """A record's ``created`` stamp as an aware UTC datetime."""
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def external_why(path: str, external: Iterable[Any]) -> str | None:
    """Why ``path`` is external by design, when one of the claim's ``external_inputs`` says so."""
    for declared in external:
        if declared.matches(path):
            return str(declared.why)
    return None


def _input_reasons(inputs: Iterable[dict[str, Any]], hasher: InputHasher,
                   external: Iterable[Any]) -> list[str]:
    reasons: list[str] = []
    for item in inputs:
        path, then = str(item.get("path")), item.get("sha256")
        try:
            now = hasher.hash(path)["sha256"]
        except MissingInputError:
            why = external_why(path, external)
            if why is not None:
                reasons.append(f"{EXTERNAL} input {path} is external by design ({why}); "
                               f"recorded sha256 {_short(then)}, not checked")
            else:
                reasons.append(f"{UNVERIFIABLE} input {path} is not here to hash "
                               f"(recorded sha256 {_short(then)}); rebuild or fetch it: "
                               f"falsify verify --inputs --rebuild")
            continue
        if now != then:
            reasons.append(f"input {path} changed: sha256 {_short(then)} → {_short(now)}")
    return reasons


def _legacy_reasons(record: Evidence, code: CodeNow) -> list[str]:
    """A record without code identity: its falsifier module (from the pytest node id) as it was
    at the record's git commit, when that commit is here and its checkout was clean."""
    node, provenance = getattr(record, "node_id", None), getattr(record, "provenance", None)
    git = provenance.get("git") if isinstance(provenance, dict) else None
    if not node or not isinstance(git, dict) or not git.get("commit") or git.get("dirty"):
        return []
    commit, path = str(git["commit"]), str(node).split("::")[0]
    then = code.sha256_at(commit, path)
    if then is None:
        return []
    current = code.sha256(path)
    if current is None:
        return [f"falsifier {path} is gone since the record (made at commit {commit[:10]})"]
    if current == then:
        return []
    return [f"falsifier {path} changed since the record (read at its commit {commit[:10]}): "
            f"sha256 {_short(then)} → {_short(current)}"]


def _falsifier_reasons(record: Evidence, code: CodeNow) -> list[str]:
    recorded = record.code
    if recorded is None:
        return _legacy_reasons(record, code)
    reasons: list[str] = []
    for item in recorded.get("falsifier", ()):
        path, then = str(item.get("path")), item.get("sha256")
        current = code.sha256(path)
        if current is None:
            reasons.append(f"falsifier {path} is gone since the record "
                           f"(recorded sha256 {_short(then)})")
        elif current != then:
            reasons.append(f"falsifier {path} changed since the record: sha256 "
                           f"{_short(then)} → {_short(current)}")
    return reasons


def staleness(record: Evidence, claim_sha256_now: str | None, max_age_s: float | None,
              now: datetime, hasher: InputHasher | None,
              code: CodeNow | None = None, external: Iterable[Any] = ()) -> list[str]:
    """Why ``record`` no longer stands for its claim, in words; empty when fresh.

    A reason starting with ``unverifiable:`` (an input that is not here to hash) does not make
    the record stale by itself: :func:`is_stale` ignores it and the gate's policy decides.
    With ``code`` (the code as it is now), a falsifier source file that changed or is gone since
    the record makes it stale, naming the file; harness changes are :func:`code_drift`. A full
    Record without code identity (made before it was recorded) is checked through its git commit:
    its falsifier module then against the module now, when the commit is here and was clean.
    An input missing here that ``external`` (the claim's ``external_inputs``) declares external
    gives an ``external:`` reason instead, shown but never counted as stale or unverifiable.
    """
    if now.tzinfo is None:
        msg = "staleness() needs an aware datetime for `now`, e.g. datetime.now(UTC)"
        raise ValueError(msg)
    reasons: list[str] = []
    if claim_sha256_now is not None and record.claim_sha256 != claim_sha256_now:
        reasons.append(f"contract changed since the record: sha256 "
                       f"{_short(record.claim_sha256)} → {_short(claim_sha256_now)}")
    if hasher is not None:
        reasons.extend(_input_reasons(record.inputs, hasher, external))
    if code is not None:
        reasons.extend(_falsifier_reasons(record, code))
    if max_age_s is not None and math.isfinite(max_age_s):
        age = (now - parse_created(record.created)).total_seconds()
        if age > max_age_s:
            reasons.append(f"older than max age {_duration(max_age_s)}: {_duration(age)}")
    return reasons


def is_stale(reasons: Iterable[str]) -> bool:
    """True when any reason is more than an unverifiable or external input."""
    return any(not r.startswith((UNVERIFIABLE, EXTERNAL)) for r in reasons)


NO_CODE_IDENTITY = ("code identity not recorded (the record predates it): its harness cannot be "
                    "compared, its falsifier module only through the record's git commit; "
                    "re-run the falsifier to record it")


def code_drift(record: Evidence, code: CodeNow) -> list[str]:
    """How the code that made ``record`` differs from the code here, where that does not make
    the evidence stale: the harness package changed, or the record names no code at all."""
    recorded = record.code
    if recorded is None:
        return [NO_CODE_IDENTITY]
    then, here = recorded.get("harness") or {}, code.harness
    if then.get("sha256") == here["sha256"]:
        return []
    return [f"harness code changed since the record: {then.get('version')} sha256 "
            f"{_short(then.get('sha256'))} → {here['version']} sha256 {_short(here['sha256'])}"]
