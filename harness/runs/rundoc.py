"""A Markdown document beside the run it describes (kind ``run-doc``): README numbers vs the log.

A README or model card restates a run's numbers ("trained on 126 shards", "final CER 20.57 %").
The subject names the document, the ``run-log`` subject it describes, and one *quote* per
sentence whose number the log must bear out::

    [subjects.my-card]
    kind = "run-doc"
    doc = "README.md"
    run = "my-run"                      # a subject of kind run-log
    quotes = [
      {text = "trained on {} shards", series = "train_shards", take = "last", unit = "count"},
      {text = "final CER {} %", series = "eval_cer", take = "last", unit = "percent"},
      {text = "for {} epochs", field = "epoch", unit = "count"},
    ]

``text`` is the sentence as written with ``{}`` where the number stands; it matches anywhere in
the document, case-insensitively, with any run of white space for a space (none needed beside
the number: "20.57%" and "20.57 %" both match) and Markdown emphasis around the number. The
number is what the log holds, read as ``take`` (first, last, min, max, sum or count of the
series' points) or as a run ``field`` (the Trainer's ``global_step`` and ``epoch``), converted
from the series' declared unit to the quote's ``unit``. Every place a quote matches is checked;
a quote that matches nowhere is reported, because the sentence it guarded has changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.printed import NUMBER, PrintedNumber, parse_printed
from harness.runs.logs import RunLog
from harness.units import UnitError, parse_unit

if TYPE_CHECKING:
    from harness.workspace import SubjectSpec, Workspace

__all__ = ["FIELDS", "TAKES", "Found", "Quote", "RunDoc", "RunDocError", "find_quotes",
           "load_run_doc", "parse_quotes"]

TAKES = ("first", "last", "min", "max", "sum", "count")
# Run fields a quote may restate, with their units (the Trainer's trainer_state.json keys).
FIELDS = {"global_step": "count", "epoch": "count"}
_EMPHASIS = r"[*_`]{0,3}"
_MAX_DOC_BYTES = 4 << 20


class RunDocError(ValueError):
    """A run-doc subject or quote that cannot be used: names where, what is wrong, the fix."""


@dataclass(frozen=True)
class Quote:
    """One sentence of the document and the log value its number restates."""

    text: str
    unit: str
    series: str | None = None
    take: str = "last"
    field: str | None = None

    @property
    def source(self) -> str:
        """What in the log the number restates, in words: ``eval_loss (min)``, ``epoch``."""
        return f"{self.series} ({self.take})" if self.series else f"field {self.field}"

    def pattern(self) -> re.Pattern[str]:
        """The sentence as a regex: literal words, flexible white space, the number captured
        whole (never the "1" of "1,234" nor the "2" of "2.5")."""
        before, _, after = self.text.partition("{}")
        start = "" if before.strip() else r"(?<![\w.,])"
        number = rf"{_EMPHASIS}(?P<num>{NUMBER})(?![\d,.]\d){_EMPHASIS}"
        return re.compile(start + _literal(before) + r"\s*" + number + r"\s*" + _literal(after),
                          re.IGNORECASE)


def _literal(part: str) -> str:
    return r"\s+".join(re.escape(word) for word in part.split())


@dataclass(frozen=True)
class Found:
    """A quote's number where it stands in the document: its line and its printed form."""

    quote: Quote
    line: int
    printed: PrintedNumber
    context: str


def _quote(raw: Any, where: str) -> Quote:
    if not isinstance(raw, Mapping):
        msg = f"{where}: a quote is a table {{text, series or field, take, unit}}"
        raise RunDocError(msg)
    unknown = sorted(set(raw) - {"text", "series", "take", "field", "unit"})
    if unknown:
        msg = f"{where}: unknown key(s) {', '.join(unknown)}; a quote has text, series or " \
              f"field, take and unit"
        raise RunDocError(msg)
    text = raw.get("text")
    if not isinstance(text, str) or text.count("{}") != 1:
        msg = (f"{where}: text must be the sentence with one {{}} where the number stands, "
               f"e.g. \"trained on {{}} shards\"")
        raise RunDocError(msg)
    series, field = raw.get("series"), raw.get("field")
    if (series is None) == (field is None):
        msg = f"{where}: give either series (a series of the run log) or field (one of " \
              f"{', '.join(FIELDS)}), not both and not neither"
        raise RunDocError(msg)
    if field is not None and field not in FIELDS:
        msg = f"{where}: field {field!r} is not one of {', '.join(FIELDS)}"
        raise RunDocError(msg)
    take = raw.get("take", "last")
    if take not in TAKES:
        msg = f"{where}: take {take!r} is not one of {', '.join(TAKES)}"
        raise RunDocError(msg)
    unit = raw.get("unit")
    try:
        parse_unit(str(unit))
    except UnitError as exc:
        msg = f"{where}: unit: {exc}; give the unit the document writes the number in"
        raise RunDocError(msg) from None
    return Quote(text, str(unit), None if series is None else str(series), str(take),
                 None if field is None else str(field))


def parse_quotes(raw: Any, where: str) -> tuple[Quote, ...]:
    """The subject's ``quotes`` list, each checked; a RunDocError naming the entry if not."""
    if not isinstance(raw, list) or not raw:
        msg = (f"{where}: quotes must be a non-empty list of tables, e.g. [{{text = \"trained "
               f"on {{}} shards\", series = \"train_shards\", take = \"last\", "
               f"unit = \"count\"}}]")
        raise RunDocError(msg)
    return tuple(_quote(item, f"{where}: quotes[{i}]") for i, item in enumerate(raw))


def find_quotes(text: str, quote: Quote) -> list[Found]:
    """Every place ``quote`` matches in ``text``, with the number as printed there."""
    found = []
    for m in quote.pattern().finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.append(Found(quote, line, parse_printed(m.group("num")), m.group(0)))
    return found


@dataclass(frozen=True)
class RunDoc:
    """A Markdown document, the run-log subject it describes, and the quotes to check."""

    id: str
    doc: Path
    run_id: str
    quotes: tuple[Quote, ...]
    workspace: Workspace

    @property
    def run(self) -> RunLog:
        log = self.workspace.resolve(self.run_id)
        if not isinstance(log, RunLog):
            msg = (f"run-doc subject {self.id!r}: run {self.run_id!r} is a "
                   f"{type(log).__name__}, not a run log; name a subject of kind run-log")
            raise RunDocError(msg)
        return log

    def text(self) -> str:
        try:
            data = self.doc.read_bytes()
        except OSError as exc:
            msg = f"{self.doc}: cannot read ({exc.strerror}); check the run-doc subject's doc"
            raise RunDocError(msg) from None
        if len(data) > _MAX_DOC_BYTES:
            msg = f"{self.doc}: over {_MAX_DOC_BYTES:,} bytes; point doc at the README itself"
            raise RunDocError(msg)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"{self.doc}: byte {exc.start} is not UTF-8; save the document as UTF-8"
            raise RunDocError(msg) from None


def load_run_doc(spec: SubjectSpec, workspace: Workspace) -> RunDoc:
    """Workspace loader for ``kind = "run-doc"``: options ``doc``, ``run``, ``quotes``."""
    where = spec.where(workspace)
    run = spec.options.get("run")
    if not isinstance(run, str):
        msg = f"{where}: run must be the id of the run-log subject the document describes"
        raise RunDocError(msg)
    doc = spec.options.get("doc")
    if not isinstance(doc, str):
        msg = f"{where}: doc must be the path of the Markdown file (README.md, a model card)"
        raise RunDocError(msg)
    path = Path(doc) if Path(doc).is_absolute() else workspace.root / doc
    return RunDoc(spec.id, path, run, parse_quotes(spec.options.get("quotes"), where),
                  workspace)
