"""Claim families: p-values of claims tested together, corrected together at read time.

Testing many claims at alpha each inflates the chance that one passes by luck. A contract file may
group claims into a family with a stated correction::

    families:
      - id: asr-superiority
        correction: holm        # holm (Holm-Bonferroni, family-wise) or bh (Benjamini-Hochberg)
        alpha: 0.05
        p_value: p_value        # the measurement each member's records carry
        claims: [ASR-NKO-BEATS-LATIN, TRAJECTORY-BEATS-BASELINE]

Every (member claim, subject) is one test. Nothing is recorded for the family: like STALE, the
correction is derived whenever the ledger is read, from each test's latest record, by
``statsmodels.stats.multitest.multipletests``; so a new record of one member re-adjusts all. A
test whose own verdict is PASS but whose adjusted p is not below alpha is held back: status and
the gate show it INCONCLUSIVE with the reason, never PASS. A member with no usable p (missing
record, no p measurement, NaN) counts as p = 1, so a family never looks smaller than it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CORRECTIONS", "Family", "FamilyResult", "FamilyTest", "adjust", "compile_family",
           "cross_check_families", "evaluate_families", "family_results"]

# contract word -> (statsmodels method, the name shown to readers)
CORRECTIONS: Mapping[str, tuple[str, str]] = {
    "holm": ("holm", "Holm-Bonferroni"),
    "bh": ("fdr_bh", "Benjamini-Hochberg"),
}


@dataclass(frozen=True)
class Family:
    id: str
    title: str
    correction: str
    alpha: float
    p_value: str
    claims: tuple[str, ...]
    source: Path

    @property
    def method_name(self) -> str:
        return CORRECTIONS[self.correction][1]


@dataclass(frozen=True)
class FamilyTest:
    """One member test: its raw p (None when it has none) and its adjusted p."""

    claim: str
    subject: str
    verdict: str
    raw_p: float | None
    adjusted_p: float
    family: Family
    n_tests: int

    @property
    def held_back(self) -> bool:
        """A PASS that the family's correction does not carry."""
        return self.verdict == "PASS" and not self.adjusted_p < self.family.alpha

    @property
    def reason(self) -> str:
        return (f"family {self.family.id}: adjusted p {self.adjusted_p:.3g} >= "
                f"{self.family.alpha:g} ({self.family.correction} over "
                f"{self.n_tests} tests; raw p "
                f"{'none' if self.raw_p is None else f'{self.raw_p:.3g}'})")


@dataclass(frozen=True)
class FamilyResult:
    family: Family
    tests: tuple[FamilyTest, ...]


def adjust(p_values: Sequence[float], correction: str, alpha: float) -> tuple[float, ...]:
    """Adjusted p-values by ``correction`` (holm or bh), as statsmodels computes them."""
    from statsmodels.stats.multitest import multipletests

    if not p_values:
        return ()
    _, adjusted, _, _ = multipletests(list(p_values), alpha=alpha,
                                      method=CORRECTIONS[correction][0])
    return tuple(float(x) for x in adjusted)


def compile_family(raw: Mapping[str, Any], path: Path) -> tuple[Family | None, list[str]]:
    """A family from its contract mapping (schema-checked already), or the problems."""
    where = f"{path}: family {raw.get('id')}"
    problems = []
    if raw["correction"] not in CORRECTIONS:
        problems.append(f"{where}: key correction: {raw['correction']!r} is not one of "
                        f"{', '.join(CORRECTIONS)}")
    alpha = float(raw["alpha"])
    if not 0.0 < alpha < 1.0:
        problems.append(f"{where}: key alpha: {alpha} must lie strictly between 0 and 1")
    if len(set(raw["claims"])) != len(raw["claims"]):
        problems.append(f"{where}: key claims: a claim is listed twice")
    if problems:
        return None, problems
    return Family(raw["id"], raw.get("title", raw["id"]), raw["correction"], alpha,
                  raw.get("p_value", "p_value"), tuple(raw["claims"]), path), []


def cross_check_families(families: Mapping[str, Family], claims: Mapping[str, Any]) -> list[str]:
    """Every member is a known claim that declares the family's p-value measurement, and no
    claim sits in two families (its one verdict cannot answer two corrections)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for fam in families.values():
        for claim_id in fam.claims:
            claim = claims.get(claim_id)
            where = f"{fam.source}: family {fam.id}: key claims"
            if claim is None:
                problems.append(f"{where}: unknown claim {claim_id!r}; list claims the contracts "
                                f"define")
            elif fam.p_value not in claim.measures:
                problems.append(f"{where}: claim {claim_id} declares no measure "
                                f"{fam.p_value!r}; its falsifier must record the p-value the "
                                f"family corrects (or set p_value: to the one it records)")
            if claim_id in seen:
                problems.append(f"{where}: claim {claim_id} is already in family {seen[claim_id]}")
            seen[claim_id] = fam.id
    return problems


def _raw_p(record: Any, name: str) -> float | None:
    if record is None:
        return None
    for m in record.measurements:
        if m.name == name and getattr(m, "values", None) is None:
            value = float(m.value)
            return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None
    return None


def evaluate_families(families: Iterable[Family], claims: Mapping[str, Any],
                      records: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], FamilyTest]:
    """(claim, subject) -> its test in its family, from each test's latest record.

    ``records``: (claim, subject) -> the latest full record (anything with ``verdict`` and
    ``measurements``), absent when there is none. Controls are not tests of the family.
    """
    out: dict[tuple[str, str], FamilyTest] = {}
    for fam in families:
        keys = [(c, ref.id) for c in fam.claims if c in claims for ref in claims[c].subjects]
        raws = [_raw_p(records.get(k), fam.p_value) for k in keys]
        adjusted = adjust([1.0 if p is None else p for p in raws], fam.correction, fam.alpha)
        for key, raw, adj in zip(keys, raws, adjusted, strict=True):
            record = records.get(key)
            verdict = "MISSING" if record is None else str(getattr(record.verdict, "value",
                                                                   record.verdict))
            out[key] = FamilyTest(key[0], key[1], verdict, raw, adj, fam, len(keys))
    return out


def family_results(families: Iterable[Family],
                   tests: Mapping[tuple[str, str], FamilyTest]) -> tuple[FamilyResult, ...]:
    """The tests grouped by family, in the family's claim order."""
    return tuple(FamilyResult(f, tuple(t for t in tests.values() if t.family.id == f.id))
                 for f in families)
