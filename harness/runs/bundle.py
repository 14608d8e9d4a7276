"""Run bundles: the folder a training run leaves behind, read and checked row by row.

A bundle is a folder holding::

    results.json                    what the run is, how CER was counted, its test CER
    split.json                      the snapshot it was tested on (see harness.runs.snapshot)
    vocab.json                      the model's output vocabulary
    train.log                       the training log (must be non-empty)
    <checkpoint>                    the file results.json names (must be non-empty)
    test_predictions.jsonl          one row per test utterance (run_prediction.schema.json)
    test_metrics_by_partition.json  per-partition totals, checked against the rows

:func:`read_bundle` streams the rows, validates every one, cross-checks the files against each
other and collects EVERY problem as ``file:line:field: message``; any problem raises one
:class:`~harness.runs.validation.BundleError` naming them all (the verdict is ERROR). A missing
bundle folder raises :class:`~harness.workspace.SubjectUnavailable` (the verdict is SKIPPED).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.keywords import paired_fields
from harness.metrics.text import TextPolicy
from harness.runs.snapshot import Snapshot, feat_id_set_sha256
from harness.runs.validation import BundleError, Check, Problem, parse_json, schema_check
from harness.workspace import SubjectSpec, SubjectUnavailable, Workspace

__all__ = [
    "JSON_FILES",
    "PARTITIONS",
    "PREDICTIONS",
    "Bundle",
    "BundlePair",
    "PredictionRow",
    "ProblemLog",
    "RunInfo",
    "decode_jsonl_line",
    "iter_prediction_rows",
    "load_bundle",
    "load_bundle_pair",
    "read_bundle",
]

PARTITIONS = ("stable", "boundary", "uncertain", "novelty")
PREDICTIONS = "test_predictions.jsonl"
JSON_FILES = {"results.json": "run_results", "split.json": "run_split",
              "vocab.json": "run_vocab", "test_metrics_by_partition.json":
              "run_metrics_by_partition"}
_FIX = ("Fix the files named above (or regenerate the bundle from the run) and re-run; the "
        "formats are in contracts/schema/run_*.schema.json.")
_KEEP = 10_000  # problems kept in full; the rest are counted


class ProblemLog:
    """Problems found so far: the first ``_KEEP`` in full, all of them counted."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.total = 0

    def add(self, file: str, line: int | None, field: str, message: str) -> None:
        self.total += 1
        if len(self.items) < _KEEP:
            self.items.append(Problem(file, line, field, message))

    def raise_if_any(self, where: Path) -> None:
        if self.total:
            omitted = self.total - len(self.items)
            extra = [Problem("...", None, "", f"{omitted} more not kept")] if omitted else []
            raise BundleError(where, [*self.items, *extra], _FIX)


@dataclass(frozen=True, slots=True)
class PredictionRow:
    """One test utterance of a run (run_prediction.schema.json), with its line in the file."""

    line: int
    feat_id: str
    audio_id: str
    script: str
    mode: str
    asr_text: str
    reference_text: str
    cer_edits: int
    reference_chars: int
    trajectory_scalars: Mapping[str, float]
    partition: str


@dataclass(frozen=True)
class RunInfo:
    """results.json: what the run is and how its CER was counted."""

    run_id: str
    script: str
    mode: str
    seed: int
    synthetic: bool
    checkpoint: str
    normalization: str
    whitespace: str
    test_cer: float
    test_rows: int
    generator: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Bundle:
    """A run bundle that read without a single problem."""

    path: Path
    info: RunInfo
    snapshot: Snapshot
    rows: tuple[PredictionRow, ...]
    vocab_size: int

    @property
    def label(self) -> str:
        return f"{self.info.script}/{self.info.mode}/seed {self.info.seed} ({self.path.name})"

    def text_policy(self) -> TextPolicy:
        """The metrics TextPolicy this run declared for its CER (results.json cer_policy)."""
        return TextPolicy(normalization=self.info.normalization, whitespace=self.info.whitespace)


@paired_fields
@dataclass(frozen=True, kw_only=True)
class BundlePair:
    """Two bundles a claim compares, ``a`` against ``b`` (e.g. N'Ko against Latin)."""

    a: Bundle
    b: Bundle


def _rel(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _read_json(path: Path, schema: str, log: ProblemLog) -> dict[str, Any] | None:
    """A JSON file checked against its schema; None (with problems logged) when unusable."""
    name = _rel(path)
    if not path.is_file():
        log.add(name, None, "-", "missing: every run bundle holds this file")
        return None
    try:
        value, dups = parse_json(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        log.add(name, None, "-", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        log.add(name, line, "-", f"not valid JSON: {getattr(exc, 'msg', exc)} "
                f"(column {getattr(exc, 'colno', '?')})")
        return None
    found = [*dups, *schema_check(schema)(value, "")]
    for fld, message in found:
        log.add(name, None, fld, message)
    return value if not found else None


def _row(line: int, data: dict[str, Any]) -> PredictionRow:
    scalars = {k: float(v) for k, v in data["trajectory_scalars"].items()}
    return PredictionRow(line, data["feat_id"], data["audio_id"], data["script"], data["mode"],
                         data["asr_text"], data["reference_text"], int(data["cer_edits"]),
                         int(data["reference_chars"]), scalars, data["partition"])


def decode_jsonl_line(raw: bytes, name: str, lineno: int, log: ProblemLog,
                      check: Check) -> dict[str, Any] | None:
    """One JSONL line as a dict checked by ``check``; None (problems logged) when unusable."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        log.add(name, lineno, "-", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    if not text.strip():
        log.add(name, lineno, "-", "empty line: a JSONL file holds one JSON object per line")
        return None
    try:
        value, dups = parse_json(text)
    except ValueError as exc:
        log.add(name, lineno, "-", f"not valid JSON: {getattr(exc, 'msg', exc)} "
                f"(column {getattr(exc, 'colno', '?')})")
        return None
    found = [*dups, *check(value, "")]
    for fld, message in found:
        log.add(name, lineno, fld, message)
    return value if not found else None


def iter_prediction_rows(path: Path, log: ProblemLog, *, script: str | None = None,
                         mode: str | None = None) -> Iterator[PredictionRow]:
    """Stream the valid rows of a predictions file, logging every problem of every row
    (duplicate feat_ids, and script/mode that disagree with results.json, included)."""
    name = _rel(path)
    seen: dict[str, int] = {}
    check = schema_check("run_prediction")
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            data = decode_jsonl_line(raw.rstrip(b"\r\n"), name, lineno, log, check)
            if data is None:
                continue
            row = _row(lineno, data)
            first = seen.setdefault(row.feat_id, lineno)
            if first != lineno:
                log.add(name, lineno, "feat_id",
                        f"duplicate feat_id {row.feat_id!r} (first at line {first})")
                continue
            for fld, expected in (("script", script), ("mode", mode)):
                got = getattr(row, fld)
                if expected is not None and got != expected:
                    log.add(name, lineno, fld, f"is {got!r} but results.json says {expected!r}")
            yield row


def _info(data: Mapping[str, Any]) -> RunInfo:
    policy = data["cer_policy"]
    return RunInfo(data["run_id"], data["script"], data["mode"], int(data["seed"]),
                   bool(data["synthetic"]), data["checkpoint"], policy["normalization"],
                   policy["whitespace"], float(data["test_cer"]), int(data["test_rows"]),
                   dict(data.get("generator", {})))


def _check_nonempty(path: Path, log: ProblemLog, what: str) -> None:
    if not path.is_file():
        log.add(_rel(path), None, "-", f"missing: the bundle's {what}")
    elif path.stat().st_size == 0:
        log.add(_rel(path), None, "-", f"empty: the bundle's {what} has no content")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _cer(edits: int, chars: int) -> float:
    return edits / chars if chars else 0.0


def _check_results(folder: Path, info: RunInfo, rows: list[PredictionRow],
                   log: ProblemLog) -> None:
    edits = sum(r.cer_edits for r in rows)
    chars = sum(r.reference_chars for r in rows)
    if info.test_rows != len(rows):
        log.add(_rel(folder / "results.json"), None, "test_rows",
                f"declares {info.test_rows} but {PREDICTIONS} holds {len(rows)} rows")
    if not _close(info.test_cer, _cer(edits, chars)):
        log.add(_rel(folder / "results.json"), None, "test_cer",
                f"declares {info.test_cer!r} but the rows give {edits}/{chars} = "
                f"{_cer(edits, chars)!r}")


def _check_partitions(folder: Path, declared: Mapping[str, Any], rows: list[PredictionRow],
                      log: ProblemLog) -> None:
    name = _rel(folder / "test_metrics_by_partition.json")
    for part in PARTITIONS:
        sel = [r for r in rows if r.partition == part]
        totals = {"rows": len(sel), "cer_edits": sum(r.cer_edits for r in sel),
                  "reference_chars": sum(r.reference_chars for r in sel)}
        got = declared.get(part)
        if got is None:
            if sel:
                log.add(name, None, f"partitions.{part}",
                        f"missing, but {len(sel)} rows are {part}")
            continue
        for key, value in totals.items():
            if got[key] != value:
                log.add(name, None, f"partitions.{part}.{key}",
                        f"declares {got[key]} but the rows give {value}")
        if not _close(float(got["cer"]), _cer(totals["cer_edits"], totals["reference_chars"])):
            log.add(name, None, f"partitions.{part}.cer",
                    f"declares {got['cer']!r}, the rows give "
                    f"{_cer(totals['cer_edits'], totals['reference_chars'])!r}")


def _check_split(folder: Path, split: Mapping[str, Any], rows: list[PredictionRow],
                 log: ProblemLog) -> None:
    ids_sha = feat_id_set_sha256(r.feat_id for r in rows)
    name = _rel(folder / "split.json")
    if split["n_rows"] != len(rows):
        log.add(name, None, "n_rows", f"declares {split['n_rows']} but {PREDICTIONS} holds "
                f"{len(rows)} rows")
    if split["feat_id_set_sha256"] != ids_sha:
        log.add(name, None, "feat_id_set_sha256",
                f"declares {split['feat_id_set_sha256'][:12]}... but the rows' feat_ids hash to "
                f"{ids_sha[:12]}...")


def read_bundle(folder: Path) -> Bundle:
    """Read and check the bundle in ``folder``; BundleError listing every problem otherwise.

    Totals (results.json, split.json, metrics by partition) are checked against the rows only
    when every row is valid: against a partial set of rows they would all disagree, and those
    echoes would bury the row problems that caused them."""
    folder = Path(folder)
    if not folder.is_dir():
        msg = f"run bundle {folder} does not exist (or is not a folder)"
        raise SubjectUnavailable(msg)
    log = ProblemLog()
    docs = {f: _read_json(folder / f, schema, log) for f, schema in JSON_FILES.items()}
    results = docs["results.json"]
    info = None if results is None else _info(results)
    _check_nonempty(folder / "train.log", log, "training log")
    if info is not None:
        _check_nonempty(folder / info.checkpoint, log, "checkpoint (results.json checkpoint)")
    before = log.total
    rows = _read_rows(folder, info, log)
    if log.total == before:
        _check_totals(folder, docs, info, rows, log)
    log.raise_if_any(folder)
    split, vocab = docs["split.json"], docs["vocab.json"]
    if info is None or split is None or vocab is None:  # unreachable: logged above
        raise BundleError(folder, [Problem(folder.name, None, "-", "unreadable")], _FIX)
    snap = Snapshot(split["dataset"], split["dataset_sha256"], len(rows),
                    feat_id_set_sha256(r.feat_id for r in rows))
    return Bundle(folder, info, snap, tuple(rows), len(vocab["tokens"]))


def _check_totals(folder: Path, docs: Mapping[str, dict[str, Any] | None], info: RunInfo | None,
                  rows: list[PredictionRow], log: ProblemLog) -> None:
    split, parts = docs["split.json"], docs["test_metrics_by_partition.json"]
    if info is not None:
        _check_results(folder, info, rows, log)
    if parts is not None:
        _check_partitions(folder, parts["partitions"], rows, log)
    if split is not None:
        _check_split(folder, split, rows, log)


def _read_rows(folder: Path, info: RunInfo | None, log: ProblemLog) -> list[PredictionRow]:
    path = folder / PREDICTIONS
    if not path.is_file():
        log.add(_rel(path), None, "-", "missing: a run bundle holds one row per test utterance")
        return []
    script, mode = (None, None) if info is None else (info.script, info.mode)
    rows = list(iter_prediction_rows(path, log, script=script, mode=mode))
    if not rows and not log.total:
        log.add(_rel(path), None, "-", "no rows: a run bundle needs row-level predictions")
    return rows


def load_bundle(spec: SubjectSpec, workspace: Workspace) -> Bundle:
    """Workspace loader for kind ``bundle`` (option ``path``: the bundle folder)."""
    return read_bundle(spec.path())


def load_bundle_pair(spec: SubjectSpec, workspace: Workspace) -> BundlePair:
    """Workspace loader for kind ``bundle-pair`` (options ``a`` and ``b``: bundle folders)."""
    return BundlePair(a=read_bundle(spec.path("a")), b=read_bundle(spec.path("b")))
