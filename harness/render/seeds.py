"""Per-seed results of a claim over a seed group (harness.groups), as a README table.

The falsifier of a group claim attaches ``seeds``: one entry per member with its seed label, both
runs' CERs, the paired delta with its CI and its p-value. The table shows each subject's latest
record, so the control's reversed seed sits beside the subject's seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from harness.render.escape import md_code
from harness.render.templating import md_table, safe

__all__ = ["seeds_table"]


def _num(value: Any, digits: int = 4) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def _ci(value: Any) -> str:
    if not isinstance(value, list) or len(value) != 2:
        return "—"
    return f"[{_num(value[0])}, {_num(value[1])}]"


def seeds_table(rows: Any) -> Markup | None:
    """One line per (subject, seed) of the rows whose latest record attached ``seeds``."""
    lines = []
    for rv in rows:
        record = rv.record
        entries = None if record is None else record.attachments.get("seeds")
        if not isinstance(entries, list):
            continue
        for e in entries:
            if not isinstance(e, Mapping):
                continue
            p = e.get("p_value")
            lines.append([safe(md_code(rv.ref.id, cell=True)), str(e.get("seed", "?")),
                          _num(e.get("cer_a")), _num(e.get("cer_b")), _num(e.get("delta")),
                          _ci(e.get("ci")), "—" if not isinstance(p, int | float) else f"{p:.3g}"])
    if not lines:
        return None
    return md_table(["subject", "seed", "CER a", "CER b", "CER a − CER b", "CI", "p"], lines)
