"""Table cells shared by the README, site and PR renderers: plain text, escaped by the caller."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from harness.records import Record
from harness.render.fmt import age, measurement_text, short_sha, stamp
from harness.render.history import Entry
from harness.render.view import ClaimView, RowView

__all__ = [
    "age_text",
    "env_text",
    "expr_words",
    "measures_text",
    "reproduce_command",
    "role_text",
    "verdict_text",
]

_WORDS = (("<=", "≤"), (">=", "≥"), ("!=", "≠"), ("==", "="))


def verdict_text(rv: RowView) -> str:
    if rv.record is None:
        return "no evidence yet"
    return rv.row.shown_verdict


def role_text(rv: RowView) -> str:
    if rv.ref.role != "control":
        return "subject"
    text = f"control, must get {rv.row.expect}"
    holds = rv.control_holds
    if holds is None or rv.row.verdict in ("ERROR", "SKIPPED"):
        return text
    return f"{text}: {'holds' if holds else 'NO POWER'}"


def measures_text(record: Record | Entry | None, names: Iterable[str], digits: int) -> str:
    if record is None:
        return "—"
    if isinstance(record, Entry):  # README and site both show an entry: formatted once
        return _entry_measures(record, tuple(names), digits)
    parts = [measurement_text(m, digits) for n in names if (m := record.measurement(n))]
    return "; ".join(parts) or "—"


@lru_cache(maxsize=1 << 16)
def _entry_measures(entry: Entry, names: tuple[str, ...], digits: int) -> str:
    """Keyed by the whole entry (its measurements included), so never stale."""
    parts = [measurement_text(m, digits) for n in names if (m := entry.measurement(n))]
    return "; ".join(parts) or "—"


def age_text(rv: RowView, newest: datetime | None) -> str:
    created = rv.created
    if created is None or newest is None:
        return "—"
    return age(created, newest)


def recorded_text(record: Record | Entry | None) -> str:
    return "—" if record is None else stamp(record.created)


def expr_words(text: str) -> str:
    """An expression as it reads: one line, with ≤ ≥ ≠ for the operators."""
    flat = " ".join(text.split())
    for op, word in _WORDS:
        flat = flat.replace(op, word)
    return flat


def reproduce_command(record: Record) -> str | None:
    """``pytest 'falsifiers/x.py::test_y[subject]' -m live`` from the record's node id; for a
    falsifier from the claim library (its node id names no file of the project), the
    falsifiers folder with ``--claim`` and ``--subject``, which works wherever it is installed."""
    node = " ".join(record.node_id.split())
    if not node:
        return None
    path = node.split("::", 1)[0]
    if path.startswith("harness/library/") or not path.endswith(".py"):
        return (f"pytest falsifiers/ -m live --claim {shlex.quote(record.claim)} "
                f"--subject {shlex.quote(record.subject)}")
    return f"pytest {shlex.quote(node)} -m live"


def git_text(record: Record) -> dict[str, str]:
    git: dict[str, Any] = record.provenance.get("git") or {}
    dirty = git.get("dirty")
    return {"commit": str(git.get("commit") or "—"), "branch": str(git.get("branch") or "—"),
            "dirty": "unknown" if dirty is None else ("yes" if dirty else "no"),
            "diff": short_sha(git.get("diff_sha256")),
            "why": str(git.get("why") or "")}


def env_text(record: Record) -> str:
    env: dict[str, Any] = record.provenance.get("env") or {}
    parts = [f"python {env.get('python', '?')}"]
    packages = env.get("packages") or {}
    parts += [f"{k} {v}" for k, v in sorted(packages.items()) if v]
    device = env.get("device")
    if device:
        name = env.get("device_name")
        parts.append(f"device {device}" + (f" ({name})" if name else ""))
    if env.get("platform"):
        parts.append(str(env["platform"]))
    return ", ".join(parts)


def claim_verdict_text(view: ClaimView) -> str:
    """One line: passing, or what keeps the claim from passing."""
    if all(rv.record is None for rv in view.rows):
        return "no evidence yet"
    if view.passing:
        return "PASS: fresh PASS on every subject, every control gets its verdict"
    problems = sorted({str(rv.row.problem) for rv in view.rows if rv.row.problem})
    return "not passing: " + ", ".join(problems)


def slug(claim_id: str) -> str:
    """GitHub's anchor for a heading that is just the claim id."""
    return re.sub(r"[^a-z0-9_\- ]", "", claim_id.lower()).replace(" ", "-")


def history_note(c: ClaimView, shown: int) -> str:
    n = len(c.history)
    if n <= shown:
        return f"{n} record(s), newest first"
    return f"newest {shown} of {n} records; `falsify show {c.id}` lists every one"


def provenance_info(c: ClaimView) -> dict[str, Any] | None:
    """Provenance of the claim's most recent latest record, as text fields."""
    record = c.latest
    if record is None:
        return None
    inputs = [{"path": str(i.get("path")), "kind": str(i.get("kind", "?")),
               "sha": short_sha(i.get("sha256"), 16)} for i in record.inputs]
    return {"record": record.id, "subject": record.subject, "created": stamp(record.created),
            **git_text(record), "env": env_text(record), "inputs": inputs}
