"""The evidence ledger: append-only, hash-chained segments of records (DESIGN rules 4-6, 11).

Write with :class:`LedgerWriter` (one segment per writer), read with :class:`Ledger` (indexed
``latest()``, ``history()``, ``get()``, ``records()``), check with :func:`verify`, and decide
freshness with :func:`staleness` (a changed falsifier module is stale; a changed harness is
:func:`code_drift`, shown but not stale). Each writer signs its segment's head with its key
(:mod:`harness.ledger.signing`); :func:`check_signatures` names dropped, altered and forged
records, unknown keys and unsigned segments. ``docs/INTERNALS.md`` describes the file formats.

What a reader is guaranteed. Every answer of a :class:`Ledger` (and so of ``falsify gate``,
``status``, ``show``, ``render``, ``paper check``, ``pr`` and ``amend``) comes from bytes that
passed, at the start of that read, every check :func:`verify` makes of them: each line valid JSON of
a readable schema version, valid against the record schema, in canonical form, with a hash that
recomputes and a ``prev`` naming the line before it; no torn or newline-less last line (a live
writer's line in progress is left out, not read); no duplicate record id; no amendment of a record
that is not in the ledger or is about another claim or subject; and every extra
:class:`SegmentCheck` the reader was given (the CLI gives
:class:`~harness.ledger.signed_reads.SignatureCheck`: a signature showing tampering refuses). Any
failure raises :class:`LedgerTampered` listing every problem by file:line with its fix; no reader
answers from part of a ledger. Caches (the segment index, the saved ``latest()``, render history and
records) are keyed by each segment's key (:mod:`harness.ledger.trust`), which any write to the
segment changes, so a cache never answers for bytes other than those on disk; a cold read and a warm
one give the same answer.

What is not guaranteed by these checks alone: who wrote a record. A record forged with a recomputed
hash, a chain rebuilt around an inserted record, a new segment, or whole lines cut off a segment's
end still verify; signatures catch those: a signed segment altered after signing is refused by every
CLI reader (:class:`SignatureCheck`), and whether unsigned evidence may be relied on is the gate's
policy (:func:`check_signatures`, ``signing.gate_problems``). Records of claims the contracts no
longer define are reported by ``falsify verify`` but still read (``falsify status`` lists them). The
answer reflects the ledger when the read began: an edit racing a running command is seen by the next
one. The cache folder is trusted as much as the code: whoever can write it can also replace falsify;
CI starts without one.
"""

from harness.ledger.query import (
    EXTERNAL,
    UNVERIFIABLE,
    Evidence,
    Ledger,
    Summary,
    code_drift,
    is_stale,
    staleness,
)
from harness.ledger.segment import SEGMENT_SUFFIX, LedgerError, is_live, segment_paths
from harness.ledger.signing import check_signatures
from harness.ledger.store import (
    Durability,
    LedgerWriter,
    MergeReport,
    Repair,
    merge,
    repair_torn_tail,
)
from harness.ledger.trust import LedgerTampered
from harness.ledger.verify import SCHEMA_PATH, Chain, Problem, SegmentCheck, verify

__all__ = [
    "EXTERNAL",
    "SCHEMA_PATH",
    "SEGMENT_SUFFIX",
    "UNVERIFIABLE",
    "Chain",
    "Durability",
    "Evidence",
    "Ledger",
    "LedgerError",
    "LedgerTampered",
    "LedgerWriter",
    "MergeReport",
    "Problem",
    "Repair",
    "SegmentCheck",
    "Summary",
    "check_signatures",
    "code_drift",
    "is_live",
    "is_stale",
    "merge",
    "repair_torn_tail",
    "segment_paths",
    "staleness",
    "verify",
]
