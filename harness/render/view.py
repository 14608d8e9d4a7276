"""What every renderer shows, computed once from the contracts and the ledger and nothing else.

Determinism (DESIGN rule 3): the clock never enters a render. STALE here means what the ledger
and the contracts alone can say: the contract changed since the record, or the record is older
than the claim's max age *measured against the newest record in the ledger*. Input-hash
staleness needs the input files themselves, which are not part of the ledger; `falsify status`,
`falsify gate` and `falsify verify --inputs` check it. What the ledger and the contracts alone say
about inputs is marked (``status.declared_input_marks``): EXTERNAL for an input the claim declares
external by design, UNVERIFIABLE for one recorded outside the workspace, which no clone can check.
Whether a cache happens to hold the inputs never enters a render, so `render --check` gives the
same answer on every machine.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from harness.atomic import save_cache
from harness.contracts import Claim, ContractSet, Hypothesis, SubjectRef
from harness.decision_records import DecisionStatus, decision_statuses
from harness.ledger import Summary
from harness.ledger.query import parse_created
from harness.records import Record
from harness.render.fmt import DEFAULT_DIGITS
from harness.render.history import Entry, history_entries
from harness.render.liveruns import LiveRun, in_area, live_runs
from harness.status import ClaimState, Row, StatusReport, compute_status

__all__ = [
    "AreaView",
    "ClaimView",
    "EvidenceView",
    "HypothesisView",
    "RowView",
    "build_view",
    "key_measures",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KEY_MEASURES = 3


@dataclass(frozen=True)
class RowView:
    """One subject or control of a claim with its latest record (None when there is none)."""

    ref: SubjectRef
    row: Row
    record: Record | None

    @property
    def created(self) -> datetime | None:
        return None if self.record is None else parse_created(self.record.created)

    @property
    def control_holds(self) -> bool | None:
        """For a control: did it get the verdict it must get? None when not decided."""
        if self.ref.role != "control" or self.record is None:
            return None
        return self.row.verdict == self.row.expect


@dataclass(frozen=True)
class HypothesisView:
    """A hypothesis and the latest probe result on each subject that has one."""

    hypothesis: Hypothesis
    results: tuple[Summary, ...]  # the index knows all a probe result shows: no full load
    declared: bool = True


@dataclass(frozen=True)
class ClaimView:
    claim: Claim
    state: ClaimState
    rows: tuple[RowView, ...]
    history: tuple[Entry, ...]  # claim and amendment records, in ledger order
    hypotheses: tuple[HypothesisView, ...]
    mutation: Record | None = None  # the latest ``falsify mutate`` record of the claim

    @property
    def id(self) -> str:
        return self.claim.id

    @property
    def passing(self) -> bool:
        return self.state.passing

    @cached_property
    def key_measures(self) -> tuple[str, ...]:
        return key_measures(self.claim)

    @property
    def digits(self) -> int:
        paper = self.claim.paper or {}
        return int(paper.get("digits", DEFAULT_DIGITS))

    @property
    def latest(self) -> Record | None:
        """The most recent of the rows' latest records."""
        found = [rv.record for rv in self.rows if rv.record is not None]
        return max(found, key=lambda r: (r.created, r.id)) if found else None

    @property
    def verdicts(self) -> tuple[str, ...]:
        return tuple(sorted({rv.row.verdict for rv in self.rows}))


@dataclass(frozen=True)
class AreaView:
    area: str
    title: str
    claims: tuple[ClaimView, ...]
    live: tuple[LiveRun, ...] = ()  # the runs that checked a claim of the area as they trained

    @property
    def n_records(self) -> int:
        return sum(len(c.history) for c in self.claims)


@dataclass(frozen=True)
class EvidenceView:
    contracts: ContractSet
    report: StatusReport
    areas: tuple[AreaView, ...]
    newest: datetime | None
    n_records: int
    ledger_label: str
    decisions: tuple[DecisionStatus, ...] = ()  # harness.decision_records

    @property
    def claims(self) -> list[ClaimView]:
        return [c for a in self.areas for c in a.claims]

    def area(self, name: str) -> AreaView:
        for a in self.areas:
            if a.area == name:
                return a
        msg = f"unknown area {name!r}"
        raise KeyError(msg)

    def claim(self, claim_id: str) -> ClaimView:
        for c in self.claims:
            if c.id == claim_id:
                return c
        msg = f"unknown claim {claim_id!r}"
        raise KeyError(msg)

    @property
    def milestones(self) -> list[tuple[str, int, int, float]]:
        """(name, claims at PASS, claims, ship %) per milestone, by name."""
        return [(name, p, t, self.report.ship_percent(name))
                for name, (p, t) in sorted(self.report.milestones.items())]


def key_measures(claim: Claim) -> tuple[str, ...]:
    """The measurements a table shows: the paper binding's, else the first few declared."""
    bound = (claim.paper or {}).get("measurements")
    if bound:
        return tuple(str(m) for m in bound)
    return tuple(claim.measures)[:KEY_MEASURES]


class _Preloaded:
    """The ledger's ``latest()`` with ``load()`` answered from records already loaded."""

    def __init__(self, latest: Mapping[tuple[str, str], Any],
                 by_id: Mapping[str, Record]) -> None:
        self._latest, self.by_id = latest, by_id

    def latest(self) -> Mapping[tuple[str, str], Any]:
        return self._latest

    def load(self, summary: Any) -> Record:
        return self.by_id[summary.id]


def _hypothesis_records(
        latest: Mapping[tuple[str, str, str], Summary]) -> dict[str, dict[str, list[Summary]]]:
    """claim -> hypothesis id -> the latest result of it on each subject."""
    out: dict[str, dict[str, list[Summary]]] = {}
    for (claim_id, _subject, hyp), summary in latest.items():
        out.setdefault(claim_id, {}).setdefault(hyp, []).append(summary)
    return out


def _hypotheses(claim: Claim, found: dict[str, list[Summary]]) -> tuple[HypothesisView, ...]:
    views = []
    for h in claim.hypotheses:
        results = sorted(found.pop(h.id, []), key=lambda r: r.subject)
        views.append(HypothesisView(h, tuple(results)))
    for hyp_id, records in sorted(found.items()):
        stray = Hypothesis(hyp_id or "(none)", "not declared in the contract")
        views.append(HypothesisView(stray, tuple(sorted(records, key=lambda r: r.subject)),
                                    declared=False))
    return tuple(views)


def _claim_view(state: ClaimState, latest: Mapping[tuple[str, str], Any],
                history: list[Entry], hyps: tuple[HypothesisView, ...],
                by_id: Mapping[str, Record], mutation: Record | None) -> ClaimView:
    claim = state.claim
    rows = []
    for ref, row in zip(claim.all_subjects, state.rows, strict=True):
        summary = latest.get((claim.id, ref.id))
        rows.append(RowView(ref, row, None if summary is None else by_id[summary.id]))
    return ClaimView(claim, state, tuple(rows), tuple(history), hyps, mutation)


def _mutation_records(ledger: Any) -> dict[str, Record]:
    """claim -> its latest mutation record (``falsify mutate``: one per claim)."""
    return {claim: ledger.load(summary)
            for (claim, _subject), summary in ledger.latest("mutation").items()}


_RECORDS_FORMAT = 1


@cache
def _records_tag() -> str:
    """Pickled records are only read back by the same record code and pickle protocol."""
    code = (Path(__file__).parent.parent / "records.py").read_bytes()
    return f"{_RECORDS_FORMAT}:{pickle.HIGHEST_PROTOCOL}:{hashlib.sha256(code).hexdigest()}"


def _load_latest(ledger: Any, summaries: list[Summary],
                 cache_dir: Path | None) -> dict[str, Record]:
    """The full record behind each summary, by id; kept in ``cache_dir`` between renders.

    A kept record is used only while its segment's verified key (which any write to the segment
    changes) and its place (offset) and id are those of the summary. Loading 8,000 records from
    their segments costs about three times reading them back from one pickle."""
    if cache_dir is None:
        return {s.id: ledger.load(s) for s in summaries}
    path = cache_dir / "latest-records.pickle"
    kept: dict[str, Record] = {}
    try:
        tag, found = pickle.loads(path.read_bytes())
        if tag == _records_tag() and isinstance(found, dict):
            kept = found
    except Exception:  # an unreadable cache entry means: read the ledger
        pass
    used: dict[str, Record] = {}
    by_id: dict[str, Record] = {}
    keys = ledger.verified_keys()
    for s in summaries:
        place = f"{s.segment.name}:{keys[s.segment.name]}:{s.offset}:{s.id}"
        record = kept.get(place)
        if not isinstance(record, Record) or record.id != s.id:
            record = ledger.load(s)
        used[place] = by_id[s.id] = record
    if used.keys() != kept.keys():
        save_cache(path, pickle.dumps((_records_tag(), used), protocol=pickle.HIGHEST_PROTOCOL))
    return by_id


def build_view(contracts: ContractSet, ledger: Any, *, ledger_label: str,
               cache_dir: Path | None = None) -> EvidenceView:
    """Everything the renderers show, from ``contracts`` and ``ledger`` (a :class:`Ledger`).

    The latest records are loaded in full; every other record only as a history
    :class:`Entry` (cached per segment in ``cache_dir`` when given, as are the latest
    records themselves).
    """
    keys = ledger.verified_keys()  # refuses a ledger that does not verify, before any read
    entries = history_entries(ledger.ledger_dir, cache_dir, keys)
    newest = parse_created(max(e.created for e in entries)) if entries else None
    latest = ledger.latest()
    by_id = _load_latest(ledger, list(latest.values()), cache_dir)
    report = compute_status(contracts, _Preloaded(latest, by_id), now=newest or EPOCH,
                            hasher=None)
    hyps = _hypothesis_records(ledger.latest_hypotheses())
    mutations = _mutation_records(ledger)
    history: dict[str, list[Entry]] = {}
    for e in entries:
        if e.kind not in ("hypothesis", "mutation"):  # probes and mutation scores: own tables
            history.setdefault(e.claim, []).append(e)
    states = {s.claim.id: s for s in report.claims}
    runs = live_runs(ledger)
    areas = []
    for area, ids in sorted(contracts.areas.items()):
        claims = tuple(_claim_view(states[i], latest, history.get(i, []),
                                   _hypotheses(contracts[i], dict(hyps.get(i, {}))), by_id,
                                   mutations.get(i))
                       for i in ids)
        areas.append(AreaView(area, contracts.area_titles.get(area, area), claims,
                              tuple(in_area(runs, ids))))
    return EvidenceView(contracts, report, tuple(areas), newest, len(entries), ledger_label,
                        _decisions(contracts, report, ledger, by_id))


def _decisions(contracts: ContractSet, report: StatusReport, ledger: Any,
               by_id: Mapping[str, Record]) -> tuple[DecisionStatus, ...]:
    """Every decision with its latest record and the flags the evidence now raises."""
    if not contracts.decisions:
        return ()
    latest = {claim: ledger.load(summary)
              for (claim, _subject), summary in ledger.latest("decision").items()}
    return decision_statuses(contracts.decisions, report, latest, by_id.get)
