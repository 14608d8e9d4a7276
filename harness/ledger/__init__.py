"""The evidence ledger: append-only, hash-chained segments of records (DESIGN rules 4-6).

Write with :class:`LedgerWriter` (one segment per writer), read with :class:`Ledger` (indexed
``latest()``, ``history()``, ``get()``, ``records()``), check with :func:`verify`, and decide
freshness with :func:`staleness`. Each writer signs its segment's head with its key
(:mod:`harness.ledger.signing`); :func:`check_signatures` names dropped, altered and forged
records, unknown keys and unsigned segments. ``docs/INTERNALS.md`` describes the file formats.
"""

from harness.ledger.query import UNVERIFIABLE, Evidence, Ledger, Summary, is_stale, staleness
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
    "is_live",
    "is_stale",
    "merge",
    "repair_torn_tail",
    "segment_paths",
    "staleness",
    "verify",
]
