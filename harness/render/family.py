"""Claim families as the evidence README shows them: each test's raw and adjusted p-value.

The adjustment is derived at read time (harness.family) from each member's latest record; the
table says which correction, over how many tests, and which PASSes it holds back (shown
INCONCLUSIVE everywhere else too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from markupsafe import Markup

from harness.render.escape import md_code, md_text
from harness.render.templating import md_table, safe

__all__ = ["families_markdown", "family_macros"]


def _p(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def _shown(test: Any) -> str:
    if test.verdict == "MISSING":
        return "no evidence yet"
    return "INCONCLUSIVE (FAMILY)" if test.held_back else test.verdict


def _family_table(result: Any) -> Markup:
    fam = result.family
    rows = [[safe(md_code(t.claim, cell=True)), safe(md_code(t.subject, cell=True)), t.verdict,
             _p(t.raw_p), _p(t.adjusted_p),
             "yes" if t.adjusted_p < fam.alpha else "no", _shown(t)]
            for t in result.tests]
    head = md_text(f"{fam.title} ({fam.id}): {fam.method_name} ({fam.correction}) over "
                   f"{len(result.tests)} tests at alpha {fam.alpha:g}, on each test's "
                   f"{fam.p_value}; a test with no p counts as p = 1.")
    table = md_table(["claim", "subject", "own verdict", "raw p", "adjusted p",
                      f"adjusted p < {fam.alpha:g}", "shown"], rows)
    return safe(f"{head}\n\n{table}")


def families_markdown(results: Sequence[Any], claim_ids: Iterable[str]) -> Markup | None:
    """The families with a member among ``claim_ids`` (one area's claims), or None."""
    wanted = set(claim_ids)
    shown = [r for r in results if wanted & set(r.family.claims)]
    if not shown:
        return None
    return safe("\n\n".join(_family_table(r) for r in shown))


def family_macros(results: Sequence[Any]) -> list[tuple[str, str, str]]:
    """(key, LaTeX value, note) for the paper: per test ``FAMILY.adjusted_p@CLAIM@subject`` and
    ``FAMILY.raw_p@CLAIM@subject``; per family ``FAMILY.correction``, ``FAMILY.tests`` and
    ``FAMILY.alpha``."""
    out = []
    for r in results:
        fam = r.family
        note = f"family {fam.id}: {fam.method_name} over {len(r.tests)} tests, read time"
        out += [(f"{fam.id}.correction", fam.method_name, note),
                (f"{fam.id}.tests", str(len(r.tests)), note),
                (f"{fam.id}.alpha", f"{fam.alpha:g}", note)]
        for t in r.tests:
            where = f"@{t.claim}@{t.subject}"
            shown = f"{note}; {t.subject}: {_shown(t)}"
            out += [(f"{fam.id}.adjusted_p{where}", f"{t.adjusted_p:.3g}", shown),
                    (f"{fam.id}.raw_p{where}", _p(t.raw_p) if t.raw_p is None
                     else f"{t.raw_p:.3g}", shown)]
    return out
