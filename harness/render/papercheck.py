"""``falsify paper check``: the paper cites only numbers the ledger stands behind.

For every ``\\ev{KEY}`` and ``\\evci{KEY}`` in ``paper/**/*.tex`` (``paper/generated/`` excluded,
LaTeX comments ignored) it is a problem when

1. KEY names no claim, no measurement of it, a measurement the claim does not bind to the paper
   (``paper.measurements``), or a subject the claim does not have;
2. the claim is not at a fresh PASS: every subject's latest verdict a fresh PASS, every negative
   control's the one it must get (the gate's policy, with the clock and input hashes);
3. a literal number *next to* the citation disagrees with the ledger.

A decision's macros (``DECISION.outcome``, ``DECISION.decided``) are cited like numbers: a problem
when the decision was never recorded (``falsify decide``) or is FLAGGED (its evidence was amended,
replaced or went stale since, or its rule now gives another outcome).

"Next to" means: in the same sentence, where a sentence ends at ``.``, ``!`` or ``?`` followed by
white space (not the period of "e.g.", "i.e.", "cf.", "Fig." and the like) or at a blank line.
A literal "looks like the same quantity" when it is written with a unit of the same dimension as
the cited measurement, directly after the number (``3.41 nats``,
``3.41\\,nats``, ``17.2~bits``, ``12.5\\,\\%``, ``1{,}024 tokens``). It agrees when the ledger's
value or either CI bound, converted to the literal's unit, rounds to the literal at the literal's
own precision (``3.4 nats`` agrees with 3.412 nats; :func:`harness.printed.agrees`, the rule
README checks use too). Bare numbers (no unit) are never compared:
they are section numbers, years and counts of other things far more often than restated results;
nor is a percentage followed by ``CI``, ``confidence`` or ``credible`` (a level, not a result).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import Claim, ContractSet
from harness.decision_records import DecisionStatus
from harness.printed import PrintedNumber, agrees
from harness.records import Measurement, Record
from harness.render.fmt import measurement_text
from harness.status import StatusReport
from harness.units import Quantity, UnitError, parse_unit

__all__ = ["Citation", "PaperProblem", "check_paper", "citations", "paper_sources"]

_CITE = re.compile(r"\\(ev|evci)\s*\{([^{}]*)\}")
_MASKED = re.compile(r"\\(?:ev|evci|ref|eqref|autoref|cref|Cref|label|cite[a-zA-Z]*|input|include|"
                     r"url|href|includegraphics)\*?\s*(?:\[[^\]]*\])?\s*\{[^{}]*\}")
_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
_NUMBER = re.compile(
    r"(?<![\w.\\}])(?P<num>-?\d{1,3}(?:(?:\{,\}|,)\d{3})+|-?\d+)(?P<frac>\.\d+)?"
    r"\$?(?:\s|~|\\,|\\ |\\;|\\:|\\!)*(?P<unit>\\%|%|[A-Za-z][A-Za-z/]*(?![A-Za-z/]))"
    r"(?!(?:\s|~|\\,|-)*(?:CI|confidence|credible))")  # "95 % CI" is a level, not a result
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")
# A period after these ends no sentence.
_ABBREVIATIONS = frozenset({"e.g", "i.e", "cf", "vs", "etc", "al", "fig", "figs", "eq", "eqs",
                            "sec", "tab", "resp", "approx", "no", "ca"})


@dataclass(frozen=True)
class PaperProblem:
    file: Path
    line: int
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}; {self.fix}"


@dataclass(frozen=True)
class Citation:
    file: Path
    line: int
    macro: str
    key: str
    start: int

    @property
    def parts(self) -> tuple[str, str, str | None]:
        """(claim, measure, subject or None) of ``CLAIM.measure[@subject]``."""
        main, at, subject = self.key.partition("@")
        claim, _, measure = main.rpartition(".")
        return claim, measure, (subject if at else None)


def paper_sources(paper_dir: Path) -> list[Path]:
    """The paper's own ``.tex`` files: every one under ``paper_dir`` but ``generated/``. A
    project has a paper when there is one; without it, nothing paper-related is rendered or
    checked."""
    if not paper_dir.is_dir():
        return []
    generated = (paper_dir / "generated").resolve()
    return sorted(p for p in paper_dir.rglob("*.tex")
                  if generated not in p.resolve().parents)


def _strip_comments(text: str) -> str:
    return _COMMENT.sub(lambda m: " " * len(m.group(0)), text)


def citations(path: Path, text: str) -> list[Citation]:
    """Every citation in ``text`` (comments ignored), with its line."""
    clean = _strip_comments(text)
    return [Citation(path, clean.count("\n", 0, m.start()) + 1, m.group(1), m.group(2).strip(),
                     m.start()) for m in _CITE.finditer(clean)]


def _key_problems(c: Citation, contracts: ContractSet) -> list[str]:
    claim_id, measure, subject = c.parts
    if claim_id not in contracts:
        return [f"\\{c.macro}{{{c.key}}} cites unknown claim {claim_id!r}"]
    claim = contracts[claim_id]
    if measure not in claim.measures:
        known = ", ".join(claim.measures)
        return [f"\\{c.macro}{{{c.key}}}: {claim_id} measures no {measure!r} "
                f"(it measures {known})"]
    bound = [str(m) for m in (claim.paper or {}).get("measurements", ())]
    problems = []
    if measure not in bound:
        problems.append(f"\\{c.macro}{{{c.key}}}: {measure} is not bound to the paper; add it "
                        f"to paper.measurements of {claim_id} in {claim.source.name}")
    if subject is not None and claim.subject(subject) is None:
        problems.append(f"\\{c.macro}{{{c.key}}}: {claim_id} has no subject {subject!r}")
    return problems


def _subject(claim: Claim, subject: str | None) -> str | None:
    if subject is not None:
        return subject
    return claim.subjects[0].id if claim.subjects else None


def _status_problem(c: Citation, claim: Claim, report: StatusReport) -> str | None:
    state = next((s for s in report.claims if s.claim.id == claim.id), None)
    if state is None or state.passing:
        return None
    bad = "; ".join(f"{r.subject}: {r.shown_verdict}" + (f" ({r.stale[0]})" if r.stale else "")
                    for r in state.rows if not r.ok)
    return (f"\\{c.macro}{{{c.key}}} cites {claim.id}, whose latest evidence is not a fresh "
            f"PASS: {bad}")


# --- literals next to a citation ------------------------------------------------------------

@dataclass(frozen=True)
class Literal:
    text: str
    value: float
    decimals: int
    unit: str
    start: int


def _literals(sentence: str, offset: int) -> Iterator[Literal]:
    masked = _MASKED.sub(lambda m: " " * len(m.group(0)), sentence)
    for m in _NUMBER.finditer(masked):
        word = m.group("unit")
        name = "percent" if word in ("%", "\\%") else word
        try:
            unit = parse_unit(name).name
        except UnitError:
            continue
        digits = re.sub(r"\{,\}|,", "", m.group("num"))
        frac = m.group("frac") or ""
        yield Literal(m.group(0).strip(), float(digits + frac), max(len(frac) - 1, 0), unit,
                      offset + m.start())


def _agrees(lit: Literal, m: Measurement) -> bool | None:
    """True/False when comparable; None when the literal is another kind of quantity."""
    candidates = [*(m.values if m.values is not None else (m.value,)), *(m.ci or ())]
    try:
        converted = [Quantity.of(v, m.unit).to(lit.unit).value for v in candidates]
    except UnitError:
        return None
    return agrees(PrintedNumber(lit.text, lit.value, -lit.decimals), converted)


def _ends_sentence(text: str, end: int) -> bool:
    if text[end - 1] != ".":
        return True
    word = re.search(r"([A-Za-z.]*)\.$", text[:end])
    return word is None or word.group(1).lower() not in _ABBREVIATIONS


def _sentences(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.group(0).count("\n") < 2 and not _ends_sentence(text, m.start()):
            continue
        yield start, text[start:m.start()]
        start = m.end()
    yield start, text[start:]


def _literal_problems(path: Path, text: str, contracts: ContractSet,
                      latest: Mapping[tuple[str, str], Record]) -> Iterator[PaperProblem]:
    clean = _strip_comments(text)
    for start, sentence in _sentences(clean):
        cited = citations(path, sentence)
        if not cited:
            continue
        measured = []
        for c in cited:
            claim_id, measure, subject = c.parts
            if claim_id not in contracts:
                continue
            sid = _subject(contracts[claim_id], subject)
            record = latest.get((claim_id, sid or ""))
            m = record.measurement(measure) if record is not None else None
            if m is not None and record is not None:
                measured.append((c, m, record))
        for lit in _literals(sentence, start):
            verdicts = [(c, m, r, _agrees(lit, m)) for c, m, r in measured]
            comparable = [v for v in verdicts if v[3] is not None]
            if comparable and not any(v[3] for v in comparable):
                c, m, r, _ = comparable[0]
                yield PaperProblem(
                    path, clean.count("\n", 0, lit.start) + 1,
                    f"literal '{lit.text}' next to \\{c.macro}{{{c.key}}} disagrees with the "
                    f"ledger: {measurement_text(m, with_n=False)} (record {r.id})",
                    f"write \\{c.macro}{{{c.key}}} instead of the literal, or correct it")


def _decision_problem(c: Citation, decisions: Sequence[DecisionStatus]) -> list[str] | None:
    """None when KEY is no decision's; else what keeps the citation from standing."""
    key, _, part = c.key.rpartition(".")
    found = next((s for s in decisions if s.decision.paper_key == key), None)
    if found is None:
        return None
    if part not in ("outcome", "decided"):
        return [f"\\{c.macro}{{{c.key}}}: a decision has .outcome and .decided, not {part!r}"]
    if found.record is None:
        return [f"\\{c.macro}{{{c.key}}} cites decision {found.decision.id}, which is not "
                f"decided yet (falsify decide {found.decision.id})"]
    if found.flagged:
        return [f"\\{c.macro}{{{c.key}}} cites decision {found.decision.id}, which is FLAGGED "
                f"and not a fresh PASS of its evidence: {'; '.join(found.flags)}"]
    return []


def _family_problem(c: Citation, report: StatusReport) -> list[str] | None:
    """None when KEY is no claim family's (harness.family); else what keeps it from standing:
    an unknown part, or a test whose adjusted p has no evidence or is held back."""
    head, _, rest = c.key.partition(".")
    found = next((r for r in report.families if r.family.id == head), None)
    if found is None:
        return None
    part, _, where = rest.partition("@")
    if not where:
        ok = part in ("correction", "tests", "alpha")
        return [] if ok else [f"\\{c.macro}{{{c.key}}}: a family has .correction, .tests, "
                              f".alpha and .adjusted_p@CLAIM@subject, .raw_p@CLAIM@subject"]
    test = next((t for t in found.tests if f"{t.claim}@{t.subject}" == where), None)
    if part not in ("adjusted_p", "raw_p") or test is None:
        return [f"\\{c.macro}{{{c.key}}}: family {head} has no test {where!r} "
                f"(part {part!r})"]
    if test.verdict != "PASS" or test.held_back:
        return [f"\\{c.macro}{{{c.key}}}: {test.claim} on {test.subject} is not a PASS its "
                f"family carries ({test.verdict}, adjusted p {test.adjusted_p:.3g})"]
    return []


def check_paper(paper_dir: Path, contracts: ContractSet, report: StatusReport,
                latest: Mapping[tuple[str, str], Record],
                decisions: Sequence[DecisionStatus] = ()) -> list[PaperProblem]:
    """Every problem in the paper's sources, in file and line order."""
    problems: list[PaperProblem] = []
    for path in paper_sources(paper_dir):
        text = path.read_text("utf-8")
        for c in citations(path, text):
            decided = _decision_problem(c, decisions)
            if decided is not None:
                problems += [PaperProblem(path, c.line, msg, "falsify decide once its evidence "
                                          "is fresh, or stop citing it") for msg in decided]
                continue
            family = _family_problem(c, report)
            if family is not None:
                problems += [PaperProblem(path, c.line, msg, "re-run the family's falsifiers, "
                                          "or stop citing it") for msg in family]
                continue
            found = _key_problems(c, contracts)
            if not found:
                status = _status_problem(c, contracts[c.parts[0]], report)
                found = [status] if status else []
            fix = ("re-run its falsifiers (pytest falsifiers/ -m live), or stop citing it"
                   if found and "fresh PASS" in found[0] else "fix the key")
            problems += [PaperProblem(path, c.line, msg, fix) for msg in found]
        problems += _literal_problems(path, text, contracts, latest)
    unique = {(p.file, p.line, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: (str(p.file), p.line, p.message))
