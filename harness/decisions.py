"""Decisions: the kill, ship and promotion criteria of a research plan, as rules over evidence.

A contract file's ``decisions:`` section names the (claim, subject) evidence a decision rests on,
its outcomes, which of them are *success* outcomes (those that act on the claims being true:
ship, promote, continue), and an ordered rule: the first ``when:`` clause whose conditions all
hold gives the outcome, else the ``default``. A condition reads one cited piece of evidence::

    fresh PASS          the latest verdict is PASS and the evidence is fresh
    FAIL                FAIL, fresh or not
    stale FAIL|ERROR    FAIL or ERROR on evidence that is not fresh
    any                 anything, no evidence at all (MISSING) included

``fresh`` means what ``falsify decide`` checks (:mod:`harness.decision_records`): the latest record
is not STALE, its inputs could be checked, and the claim's negative controls hold. A key absent
from a clause accepts anything; the key ``all`` applies to every cited piece.

The one safety rule, checked when the contract loads: a clause that reaches a success outcome
must accept nothing but a fresh PASS on every cited piece, and the default may not be a success
outcome. The check enumerates every state a cited piece can be in, so no phrasing of a condition
slips a stale, SUSPECT, ERROR or missing verdict into a success.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.records import canonical_json, sha256_text

__all__ = [
    "ALL",
    "STATES",
    "VERDICTS",
    "Cited",
    "Clause",
    "Condition",
    "Decision",
    "DecisionError",
    "EvidenceState",
    "compile_decision",
    "cross_check",
    "parse_condition",
]

VERDICTS = ("PASS", "FAIL", "SUSPECT", "INCONCLUSIVE", "ERROR", "SKIPPED", "MISSING")
ALL = "all"


class DecisionError(ValueError):
    """A condition or rule that cannot be used; the message says what to write instead."""


@dataclass(frozen=True, order=True)
class EvidenceState:
    """What a decision reads of one cited (claim, subject): its latest verdict (MISSING when
    there is no record) and whether that evidence is fresh."""

    verdict: str
    fresh: bool

    def __str__(self) -> str:
        return f"{'fresh' if self.fresh else 'not fresh'} {self.verdict}"


# Every state a cited piece of evidence can be in; MISSING is never fresh.
STATES = tuple(EvidenceState(v, f) for v in VERDICTS for f in (True, False)
               if not (v == "MISSING" and f))


@dataclass(frozen=True)
class Condition:
    """``[fresh|stale] VERDICT[|VERDICT...]`` or ``any``: the states of a cited piece it takes."""

    text: str
    verdicts: frozenset[str]
    freshness: frozenset[bool]

    def accepts(self, state: EvidenceState) -> bool:
        return state.verdict in self.verdicts and state.fresh in self.freshness

    @property
    def accepted(self) -> frozenset[EvidenceState]:
        return frozenset(s for s in STATES if self.accepts(s))


ANY = Condition("any", frozenset(VERDICTS), frozenset((True, False)))


def parse_condition(text: str) -> Condition:
    """A condition from its text; DecisionError naming the part that is wrong and the fix."""
    words = text.split()
    if words in (["any"], ["*"]):
        return ANY
    freshness = frozenset((True, False))
    if words and words[0].lower() in ("fresh", "stale"):
        freshness = frozenset((words[0].lower() == "fresh",))
        words = words[1:]
    if len(words) != 1:
        msg = (f"bad condition {text!r}; write [fresh|stale] VERDICT[|VERDICT...] (e.g. "
               f"'fresh PASS', 'FAIL|SUSPECT') or 'any'")
        raise DecisionError(msg)
    verdicts = []
    for part in words[0].split("|"):
        verdict = part.strip().upper()
        if verdict not in VERDICTS:
            msg = (f"bad condition {text!r}: unknown verdict {part!r}; verdicts are "
                   f"{', '.join(VERDICTS)}")
            raise DecisionError(msg)
        verdicts.append(verdict)
    return Condition(" ".join(text.split()), frozenset(verdicts), freshness)


@dataclass(frozen=True)
class Cited:
    """One piece of evidence a decision rests on; ``key`` is how the rule names it."""

    claim: str
    subject: str
    key: str


@dataclass(frozen=True)
class Clause:
    when: Mapping[str, Condition]  # cited key (or ``all``) -> condition
    outcome: str
    why: str = ""

    def condition(self, key: str) -> Condition:
        """What the clause asks of ``key``: its own condition and ``all``'s, both."""
        own, every = self.when.get(key, ANY), self.when.get(ALL, ANY)
        return Condition(f"{own.text} and {every.text}", own.verdicts & every.verdicts,
                         own.freshness & every.freshness)

    def holds(self, states: Mapping[str, EvidenceState]) -> bool:
        return all(self.condition(key).accepts(state) for key, state in states.items())

    def text(self) -> str:
        return ", ".join(f"{k}: {c.text}" for k, c in self.when.items())


@dataclass(frozen=True)
class Decision:
    id: str
    title: str
    statement: str
    source: Path
    cites: tuple[Cited, ...]
    outcomes: tuple[str, ...]
    success: frozenset[str]
    clauses: tuple[Clause, ...]
    default: str
    sha256: str
    raw: Mapping[str, Any]

    @property
    def paper_key(self) -> str:
        return str((self.raw.get("paper") or {}).get("key", self.id))

    def evaluate(self, states: Mapping[str, EvidenceState]) -> tuple[str, int | None]:
        """The outcome for ``states`` (cited key -> state) and the 1-based clause that gave
        it (None: the default). Every cited key must have a state."""
        missing = [c.key for c in self.cites if c.key not in states]
        if missing:
            msg = f"decision {self.id}: no state for {', '.join(missing)}"
            raise DecisionError(msg)
        for i, clause in enumerate(self.clauses, 1):
            if clause.holds(states):
                return clause.outcome, i
        return self.default, None


def _cited(raw: Mapping[str, Any], where: str, problems: list[str]) -> tuple[Cited, ...]:
    found: list[Cited] = []
    for i, item in enumerate(raw["rests_on"]):
        key = str(item.get("as") or f"{item['claim']}@{item['subject']}")
        if key == ALL or any(c.key == key for c in found):
            problems.append(f"{where}: key rests_on[{i}]: {key!r} is named twice (or is the "
                            f"reserved word 'all'); give it another `as:` name")
            continue
        found.append(Cited(str(item["claim"]), str(item["subject"]), key))
    return tuple(found)


def _clause(raw: Mapping[str, Any], i: int, keys: Sequence[str], where: str,
            problems: list[str]) -> Clause | None:
    when: dict[str, Condition] = {}
    for key, text in raw["when"].items():
        if key != ALL and key not in keys:
            problems.append(f"{where}: key rule[{i}].when.{key}: not evidence this decision "
                            f"rests on; name one of {', '.join([*keys, ALL])}")
            continue
        try:
            when[key] = parse_condition(str(text))
        except DecisionError as exc:
            problems.append(f"{where}: key rule[{i}].when.{key}: {exc}")
    if len(when) != len(raw["when"]):
        return None
    return Clause(when, str(raw["outcome"]), " ".join(str(raw.get("why", "")).split()))


def success_leaks(decision: Decision) -> list[str]:
    """Why the rule could read something other than a fresh PASS as success; empty when safe."""
    leaks = []
    only = frozenset({EvidenceState("PASS", True)})
    for i, clause in enumerate(decision.clauses):
        if clause.outcome not in decision.success:
            continue
        for cited in decision.cites:
            accepted = clause.condition(cited.key).accepted
            extra = sorted(accepted - only)
            if extra:
                shown = ", ".join(str(s) for s in extra[:4]) + (" ..." if len(extra) > 4 else "")
                leaks.append(f"key rule[{i}]: success outcome {clause.outcome!r} is reached when "
                             f"{cited.key} is {shown}; a success needs a fresh PASS of every "
                             f"cited claim: write `{cited.key}: fresh PASS` (or `all: fresh "
                             f"PASS`)")
    if decision.default in decision.success:
        leaks.append(f"key default: {decision.default!r} is a success outcome, reached whatever "
                     f"the evidence says; make the default a non-success outcome (e.g. hold)")
    return leaks


def _never_matching(decision: Decision) -> list[str]:
    out = []
    for i, clause in enumerate(decision.clauses):
        for cited in decision.cites:
            if not clause.condition(cited.key).accepted:
                out.append(f"key rule[{i}].when: no state of {cited.key} meets "
                           f"{clause.condition(cited.key).text!r}: the clause can never hold")
    return out


def compile_decision(raw: Mapping[str, Any], source: Path) -> tuple[Decision | None, list[str]]:
    """One schema-checked ``decisions:`` entry as a Decision, or None and every problem."""
    where = f"{source}: decision {raw.get('id')}"
    problems: list[str] = []
    cites = _cited(raw, where, problems)
    keys = [c.key for c in cites]
    outcomes = tuple(str(o) for o in raw["outcomes"])
    for name in sorted({*raw["success"], raw["default"]} - set(outcomes)):
        problems.append(f"{where}: key success/default: {name!r} is not one of the outcomes "
                        f"({', '.join(outcomes)}); add it to outcomes")
    clauses = []
    for i, item in enumerate(raw["rule"]):
        if item["outcome"] not in outcomes:
            problems.append(f"{where}: key rule[{i}].outcome: {item['outcome']!r} is not one "
                            f"of the outcomes ({', '.join(outcomes)})")
        clause = _clause(item, i, keys, where, problems)
        if clause is not None:
            clauses.append(clause)
    if problems:
        return None, problems
    decision = Decision(
        id=str(raw["id"]), title=" ".join(str(raw["title"]).split()),
        statement=" ".join(str(raw.get("statement", "")).split()), source=source, cites=cites,
        outcomes=outcomes, success=frozenset(str(s) for s in raw["success"]),
        clauses=tuple(clauses), default=str(raw["default"]),
        sha256=sha256_text(canonical_json(dict(raw))), raw=raw)
    problems = [f"{where}: {p}" for p in success_leaks(decision) + _never_matching(decision)]
    return (None, problems) if problems else (decision, [])


def cross_check(decisions: Mapping[str, Decision], claims: Mapping[str, Any]) -> list[str]:
    """Problems between decisions and claims: a cited claim or subject that does not exist, a
    decision id that is also a claim id, a ``criterion`` claim no decision cites."""
    problems = []
    cited_claims = set()
    for d in decisions.values():
        if d.id in claims:
            problems.append(f"{d.source}: decision {d.id}: key id: {d.id} is also a claim id; "
                            f"decision and claim ids share the ledger's claim column")
        for i, c in enumerate(d.cites):
            cited_claims.add(c.claim)
            claim = claims.get(c.claim)
            if claim is None:
                problems.append(f"{d.source}: decision {d.id}: key rests_on[{i}].claim: unknown "
                                f"claim {c.claim!r}")
            elif claim.subject(c.subject) is None or claim.subject(c.subject).role != "subject":
                known = ", ".join(r.id for r in claim.subjects)
                problems.append(f"{d.source}: decision {d.id}: key rests_on[{i}].subject: "
                                f"{c.subject!r} is not a subject of {c.claim} (its subjects: "
                                f"{known}); a decision rests on subjects, not controls")
    for claim in claims.values():
        if getattr(claim, "criterion", False) and claim.id not in cited_claims:
            problems.append(f"{claim.source}: claim {claim.id}: key criterion: no decision "
                            f"rests on it; cite it in a decisions: entry, or drop criterion")
    return problems


def all_states() -> list[EvidenceState]:
    """Every state, for tests and for enumerating what a rule does."""
    return list(STATES)


def assignments(decision: Decision) -> itertools.product[tuple[EvidenceState, ...]]:
    """Every combination of states of the cited evidence (7^k·2 grows fast: small k only)."""
    return itertools.product(STATES, repeat=len(decision.cites))
