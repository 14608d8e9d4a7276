"""Input mutants: a mutated copy of a subject's files, configured as that subject in a workspace.

Each operator copies the files a subject is read from into a scratch folder, applies one defect
seen in the field, and returns the workspace config entries that make the subject (or the eval
set it names) resolve to the copy. The claim's real falsifier then runs on it unchanged, as the
negative controls of harness/demo/faults.py run on their faulty copies: nothing measured is
written by hand.

Operators by subject kind:

- ``lm-eval`` (a model on an eval set; the eval set file is mutated):
  ``halve-evalset`` keeps the first half of the lines; ``nan-rows`` writes ``nan`` in place of
  every tenth line (a missing text exported by a data frame); ``empty-input`` leaves no line.
- ``bundle-pair`` (two run bundles; their test_predictions.jsonl are mutated, and every total
  file, the split and the results are recomputed to agree, so only the rows tell):
  ``halve-rows`` keeps the first half of both runs' rows; ``shuffle-pairs`` moves run b's
  feat_ids one row on (each id now names another utterance, the set of ids unchanged);
  ``nan-rows`` writes NaN for the cer_edits of every tenth row of run a (an exporter that wrote
  a failed decode as NaN); ``empty-input`` leaves both runs with no row.

- ``corpus`` (token shards, each mutated with its sidecar): ``halve-shards`` keeps the first half
  of every shard's ids; ``corrupt-ids`` writes the largest id of the dtype over every hundredth
  id (a shard written against another vocabulary, or a torn write); ``empty-input`` leaves every
  shard empty.

Other kinds (models, matrices, endpoints, fault suites) have no input operator yet:
their claims get contract and measurement mutants only, and the report says so.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from harness.mutate.operators import Layer, Mutant
from harness.workspace import SubjectSpec, Workspace

__all__ = ["InputMutant", "input_kinds", "input_mutants"]

T = TypeVar("T")
NAN_EVERY = 10  # one row in ten: enough to move a corpus number, few enough to look plausible
PREDICTIONS = "test_predictions.jsonl"

# (scratch folder) -> workspace config entries {subject id: {kind, ...}}
Make = Callable[[Path], dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class InputMutant:
    """An input mutant of one subject: ``make(scratch)`` writes the copy and returns the config
    entries; ``replaced`` are the subject ids whose live objects must load again."""

    mutant: Mutant
    subject: str
    make: Make
    replaced: tuple[str, ...]


# --- eval sets ------------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines()


def _halve(items: list[T]) -> list[T]:
    return items[: len(items) // 2]


def _nan(lines: list[str]) -> list[str]:
    return ["nan" if i % NAN_EVERY == NAN_EVERY - 1 else line for i, line in enumerate(lines)]


def _empty(items: list[T]) -> list[T]:
    del items
    return []


_EVALSET_OPS: tuple[tuple[str, str, Callable[[list[str]], list[str]]], ...] = (
    ("halve-evalset", "the eval set cut to its first half", _halve),
    ("nan-rows", f"every {NAN_EVERY}th eval line replaced by 'nan'", _nan),
    ("empty-input", "the eval set emptied (n = 0)", _empty),
)


def _evalset_mutants(ws: Workspace, spec: SubjectSpec) -> list[InputMutant]:
    evalset_id = spec.options.get("evalset")
    if not isinstance(evalset_id, str):
        return []
    source = ws.spec(evalset_id).path()
    out = []
    for op, words, edit in _EVALSET_OPS:
        def make(scratch: Path, edit: Callable[[list[str]], list[str]] = edit,
                 op: str = op) -> dict[str, dict[str, Any]]:
            target = scratch / f"{source.stem}.{op}{source.suffix}"
            lines = edit(_lines(source))
            target.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
            return {evalset_id: {"kind": "evalset", "path": str(target)}}
        mutant = Mutant(op, op, Layer.INPUT, f"{words} ({evalset_id}: {source.name})")
        out.append(InputMutant(mutant, spec.id, make, (spec.id, evalset_id)))
    return out


# --- run bundles --------------------------------------------------------------------------------


def _read_rows(folder: Path) -> list[dict[str, Any]]:
    text = (folder / PREDICTIONS).read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def _partitions(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    out = {}
    for name in names:
        mine = [r for r in rows if r.get("partition") == name]
        edits = sum(int(r["cer_edits"]) for r in mine if r["cer_edits"] == r["cer_edits"])
        chars = sum(int(r["reference_chars"]) for r in mine)
        out[name] = {"rows": len(mine), "cer_edits": edits, "reference_chars": chars,
                     "cer": edits / chars if chars else 0.0}
    return out


def _cooked_copy(source: Path, target: Path, rows: list[dict[str, Any]]) -> Path:
    """``source`` copied to ``target`` with ``rows`` as its predictions and every derived file
    (results totals, partitions, split size and feat_id set) recomputed to agree with them."""
    from harness.runs.snapshot import feat_id_set_sha256

    shutil.copytree(source, target, symlinks=False)
    with (target / PREDICTIONS).open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    finite = [r for r in rows if r["cer_edits"] == r["cer_edits"]]  # NaN != NaN
    edits = sum(int(r["cer_edits"]) for r in finite)
    chars = sum(int(r["reference_chars"]) for r in rows)
    results = json.loads((target / "results.json").read_text("utf-8"))
    results.update(test_cer=edits / chars if chars else 0.0, test_rows=len(rows))
    _write_json(target / "results.json", results)
    parts_file = target / "test_metrics_by_partition.json"
    parts = json.loads(parts_file.read_text("utf-8"))
    parts["partitions"] = _partitions(rows, list(parts["partitions"]))
    _write_json(parts_file, parts)
    split = json.loads((target / "split.json").read_text("utf-8"))
    split.update(n_rows=len(rows),
                 feat_id_set_sha256=feat_id_set_sha256(r["feat_id"] for r in rows))
    _write_json(target / "split.json", split)
    return target


def _shift_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [r["feat_id"] for r in rows]
    shifted = ids[1:] + ids[:1]
    return [{**r, "feat_id": f} for r, f in zip(rows, shifted, strict=True)]


def _nan_edits(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "cer_edits": float("nan")} if i % NAN_EVERY == NAN_EVERY - 1 else r
            for i, r in enumerate(rows)]


RowEdit = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _keep(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows


_PAIR_OPS: tuple[tuple[str, str, RowEdit, RowEdit], ...] = (
    ("halve-rows", "both runs cut to their first half of rows", _halve, _halve),
    ("shuffle-pairs", "run b's feat_ids moved one row on: every pair joins two utterances",
     _keep, _shift_ids),
    ("nan-rows", f"cer_edits of every {NAN_EVERY}th row of run a written as NaN", _nan_edits,
     _keep),
    ("empty-input", "both runs left with no row (n = 0)", _empty, _empty),
)


def _pair_mutants(spec: SubjectSpec) -> list[InputMutant]:
    a, b = spec.path("a"), spec.path("b")
    out = []
    for op, words, edit_a, edit_b in _PAIR_OPS:
        def make(scratch: Path, edit_a: RowEdit = edit_a, edit_b: RowEdit = edit_b,
                 op: str = op) -> dict[str, dict[str, Any]]:
            new_a = _cooked_copy(a, scratch / f"a-{op}", edit_a(_read_rows(a)))
            new_b = _cooked_copy(b, scratch / f"b-{op}", edit_b(_read_rows(b)))
            return {spec.id: {"kind": "bundle-pair", "a": str(new_a), "b": str(new_b)}}
        mutant = Mutant(op, op, Layer.INPUT, words)
        out.append(InputMutant(mutant, spec.id, make, (spec.id,)))
    return out


# --- token corpora --------------------------------------------------------------------------


def _corrupt(ids: Any) -> Any:
    out = ids.copy()
    out[::100] = np.iinfo(out.dtype).max
    return out


_CORPUS_OPS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("halve-shards", "every shard cut to its first half of ids", lambda ids: ids[: len(ids) // 2]),
    ("corrupt-ids", "every 100th id of every shard overwritten with the dtype's largest id",
     _corrupt),
    ("empty-input", "every shard emptied (n = 0)", lambda ids: ids[:0]),
)


def _corpus_mutants(ws: Workspace, spec: SubjectSpec) -> list[InputMutant]:
    corpus = ws.resolve(spec.id)
    out = []
    for op, words, edit in _CORPUS_OPS:
        def make(scratch: Path, edit: Callable[[Any], Any] = edit,
                 op: str = op) -> dict[str, dict[str, Any]]:
            folder = scratch / op
            folder.mkdir()
            for shard in corpus.shards:
                ids = np.asarray(corpus.tokens(shard))
                mutated = np.ascontiguousarray(edit(ids), dtype=ids.dtype)
                if shard.suffix == ".npy":
                    np.save(folder / shard.name, mutated)
                else:
                    mutated.tofile(folder / shard.name)
                side = shard.with_suffix(".json")
                if side.is_file():
                    shutil.copy2(side, folder / side.name)
            entry: dict[str, Any] = {"kind": "corpus", "shards": str(folder)}
            for key in ("tokenizer", "dtype", "vocab_size", "unk_id"):
                value = spec.options.get(key)
                if value is not None:
                    entry[key] = value if isinstance(value, int) else str(value)
            return {spec.id: entry}
        out.append(InputMutant(Mutant(op, op, Layer.INPUT, words), spec.id, make, (spec.id,)))
    return out


_BY_KIND: dict[str, Callable[[Workspace, SubjectSpec], list[InputMutant]]] = {
    "lm-eval": _evalset_mutants,
    "bundle-pair": lambda ws, spec: _pair_mutants(spec),
    "corpus": _corpus_mutants,
}


def input_kinds() -> tuple[str, ...]:
    """Subject kinds that have input operators."""
    return tuple(sorted(_BY_KIND))


def input_mutants(ws: Workspace, subject_id: str) -> tuple[str, list[InputMutant]]:
    """The subject's kind and its input mutants (none for a kind without operators)."""
    spec = ws.spec(subject_id)
    make = _BY_KIND.get(spec.kind)
    return spec.kind, ([] if make is None else make(ws, spec))
