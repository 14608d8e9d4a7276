"""Example rows a claim's falsifier attached, as README tables: the evidence a reader checks by eye.

``contaminated_examples`` (EVAL-NOT-CONTAMINATED): each eval example with its near duplicate in
the training text, the training file and line, and their Jaccard similarity. Texts come from the
subject's files, so every cell goes through ``md_table``'s escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from harness.render.escape import md_code, md_text
from harness.render.templating import md_table, safe

__all__ = ["contamination_table", "simulated_lines"]

TEXT_CHARS = 90
SIMULATED_CHARS = 300


def _clip(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def contamination_table(rows: Any) -> Markup | None:
    """One line per attached match of each subject's latest record, or None when none has any."""
    lines = []
    for rv in rows:
        record = rv.record
        found = None if record is None else record.attachments.get("contaminated_examples")
        if not isinstance(found, list):
            continue
        for e in found:
            if not isinstance(e, Mapping):
                continue
            jac = e.get("jaccard")
            lines.append([safe(md_code(rv.ref.id, cell=True)), str(e.get("eval_row", "?")),
                          _clip(e.get("eval_text", "")),
                          f"{e.get('train_file', '?')}:{e.get('train_line', '?')}",
                          _clip(e.get("train_text", "")),
                          "—" if not isinstance(jac, int | float) else f"{jac:.2f}"])
    if not lines:
        return None
    return md_table(["subject", "eval row", "eval text", "training line", "training text",
                     "Jaccard"], lines)


def simulated_lines(rows: Any) -> list[Markup]:
    """One line per subject whose latest record says its data were simulated (an attachment
    ``simulated``: how they were made), so simulated data are never read as measured ones."""
    lines = []
    for rv in rows:
        how = None if rv.record is None else rv.record.attachments.get("simulated")
        if isinstance(how, str) and how.strip():
            text = " ".join(how.split())[:SIMULATED_CHARS]
            lines.append(safe(f"{md_code(rv.ref.id)}: {md_text(text)}"))
    return lines
