"""falsify verify: tampering, broken chains, torn lines, duplicates, orphans, schema."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from harness.ledger import SCHEMA_PATH, LedgerError, LedgerWriter, Problem, verify
from harness.records import Measurement, Record, Status
from tests.harness.ledger_factory import make_record


def write(folder: Path, *records: Record, session: str = "s") -> tuple[Path, list[Record]]:
    with LedgerWriter(folder, session) as writer:
        sealed = [writer.append(r) for r in records]
    assert writer.path is not None
    return writer.path, sealed


def five(folder: Path) -> tuple[Path, list[Record]]:
    return write(folder, *(make_record(f"C-{i}") for i in range(5)))


def edit_line(path: Path, line: int, old: bytes, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_bytes(b"\n".join(lines))


def where(problems: list[Problem]) -> list[tuple[int | None, str | None]]:
    return [(p.line, p.record_id) for p in problems]


def test_a_sound_ledger_has_no_problems(tmp_path: Path) -> None:
    """Every kind of record the harness writes passes every check."""
    base = make_record("C", "m")
    _, (sealed,) = write(tmp_path, base)
    write(tmp_path, make_record("C", "m", kind="hypothesis", hypothesis="H4A",
                                verdict="CONFIRMED"),
          make_record("C", "ctl", role="control", expect="FAIL", verdict="FAIL"),
          make_record("C", "m", kind="amendment", amends=sealed.id, verdict="ERROR"),
          make_record("C", "m", verdict="ERROR",
                      measurements=(Measurement("val_nll", math.nan, "nats"),
                                    Measurement("ppl", math.inf, "perplexity", n=3))),
          session="t")
    assert verify(tmp_path, known_claims={"C"}) == []


def test_one_changed_byte_names_the_record_and_the_chain_break(tmp_path: Path) -> None:
    """One byte changed inside record 3: verify names record 3 and the break at line 4."""
    path, recs = five(tmp_path)
    edit_line(path, 3, b"val_nll 4.21", b"val_nll 3.21")
    problems = verify(tmp_path)
    assert where(problems) == [(3, recs[2].id), (4, recs[3].id)]
    assert f"record {recs[2].id} was altered after it was written" in problems[0].message
    assert "hash chain broken" in problems[1].message
    assert str(problems[0]).startswith(f"{path}:3: record {recs[2].id} was altered")
    assert "(fix: records are only ever appended by falsify" in str(problems[0])


def test_a_byte_that_breaks_the_json_still_names_the_record(tmp_path: Path) -> None:
    """A change that breaks the JSON: the line, the record id it carried, the chain break."""
    path, recs = five(tmp_path)
    edit_line(path, 2, b'"guards":[', b'"guards":{')
    problems = verify(tmp_path)
    assert where(problems) == [(2, recs[1].id), (3, recs[2].id)]
    assert problems[0].message.startswith("not valid JSON")


def test_changed_stored_hash(tmp_path: Path) -> None:
    """Editing the stored hash itself is caught on both sides."""
    path, recs = five(tmp_path)
    other = "1" if recs[1].hash[0] == "0" else "0"
    edit_line(path, 2, recs[1].hash.encode(), (other + recs[1].hash[1:]).encode())
    assert where(verify(tmp_path)) == [(2, recs[1].id), (3, recs[2].id)]


def test_removed_line_and_removed_start(tmp_path: Path) -> None:
    """A deleted record breaks the chain where it was; a deleted first record too."""
    path, recs = five(tmp_path)
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:2] + lines[3:]))
    problems = verify(tmp_path)
    assert where(problems) == [(3, recs[3].id)]
    assert "records were removed, reordered or inserted" in problems[0].message
    path.write_bytes(b"\n".join(lines[1:]))
    assert "must have prev null" in verify(tmp_path)[0].message


def test_torn_last_line(tmp_path: Path) -> None:
    """A truncated last line is reported by file:line with the fix; earlier lines are clean."""
    path, _ = five(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-300])
    (problem,) = verify(tmp_path)
    assert (problem.path, problem.line) == (path, 5)
    assert problem.message.startswith("torn last line (")
    assert "the writer was killed mid-append" in problem.message
    assert problem.fix.startswith("the earlier records are intact")
    assert "falsify ledger repair" in problem.fix
    assert "pytest 'falsifiers/test_lm.py::test_val_below_uniform[demo-torch]'" in problem.fix


def test_duplicate_ids_across_segments(tmp_path: Path) -> None:
    """A segment copied under a second name duplicates every id in it."""
    path, recs = write(tmp_path, make_record(), make_record())
    copy = path.with_name("29990101T000000000000Z-copy-main.jsonl")
    copy.write_bytes(path.read_bytes())
    problems = verify(tmp_path)
    assert [(p.path, p.line, p.record_id) for p in problems] == [
        (copy, 1, recs[0].id), (copy, 2, recs[1].id)]
    assert f"first at {path}:1" in problems[0].message


def test_records_of_unknown_claims(tmp_path: Path) -> None:
    """A record of a claim no contract defines is an orphan, with the fix."""
    _, recs = write(tmp_path, make_record("KEPT"), make_record("GONE"))
    problems = verify(tmp_path, known_claims={"KEPT"})
    assert where(problems) == [(2, recs[1].id)]
    assert "no contract defines" in problems[0].message
    assert verify(tmp_path) == []


def test_amendments_must_name_a_record_of_the_same_claim(tmp_path: Path) -> None:
    """An amendment of a missing record, or of another claim's record, is reported."""
    _, (target,) = write(tmp_path, make_record("C", "m"))
    _, recs = write(tmp_path, make_record("C", "m", kind="amendment", amends="missing"),
                    make_record("D", "m", kind="amendment", amends=target.id), session="t")
    problems = verify(tmp_path)
    assert where(problems) == [(1, recs[0].id), (2, recs[1].id)]
    assert "not in the ledger" in problems[0].message
    assert "but is itself about D/m" in problems[1].message


def forge(folder: Path, record: Record) -> Record:
    """A sealed line another tool wrote (the writer refuses a record that breaks the schema)."""
    sealed = record.sealed(None)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "20260101T000000000000Z-forged-main.jsonl").write_text(sealed.to_line(),
                                                                     encoding="utf-8")
    return sealed


def test_schema_violations_are_reported(tmp_path: Path) -> None:
    """A sealed record that breaks the schema (CONFIRMED on a claim record) is caught."""
    rec = forge(tmp_path, replace(make_record(), verdict=Status.CONFIRMED))
    (problem,) = verify(tmp_path)
    assert problem.message.startswith("schema: $.verdict")
    assert problem.record_id == rec.id


def test_writer_refuses_a_record_that_breaks_the_schema(tmp_path: Path) -> None:
    """What a signature vouches for is schema-valid: the writer writes nothing else."""
    with LedgerWriter(tmp_path, "s") as writer:
        with pytest.raises(LedgerError, match=r"not valid against the record schema.*verdict"):
            writer.append(replace(make_record(), verdict=Status.CONFIRMED))
        writer.append(make_record())
    assert verify(tmp_path) == []
    assert len(writer.path.read_bytes().splitlines()) == 1  # type: ignore[union-attr]


def test_newer_schema_version_is_reported(tmp_path: Path) -> None:
    """A record of a newer schema: 'unable to read record schema version N'."""
    forge(tmp_path, replace(make_record(), schema=7))
    (problem,) = verify(tmp_path)
    assert problem.message.startswith("unable to read record schema version 7")
    assert problem.fix == "upgrade falsify to a release that reads it"


def test_non_canonical_line(tmp_path: Path) -> None:
    """A line rewritten by another tool (same JSON, other spacing) is reported."""
    path, _ = write(tmp_path, make_record())
    data = json.loads(path.read_bytes())
    path.write_text(json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    assert "canonical" in verify(tmp_path)[0].message


def test_schema_file_is_valid_and_matches_records() -> None:
    """The schema is valid JSON Schema and every Record field is in it."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    fields = set(make_record().sealed(None).to_json())
    assert set(schema["required"]) == fields == set(schema["properties"])
    assert next(iter(schema["properties"])) == "schema"


@pytest.mark.parametrize("bad", [
    {"name": "x", "value": None, "unit": "nats"},
    {"name": "x", "value": 1.0, "unit": "nats", "nonfinite": "nan"},
    {"name": "x", "value": 1.0, "unit": "nats", "ci_level": 1.5},
])
def test_measurement_schema_rejects_inconsistent_values(bad: dict[str, object]) -> None:
    """A null value needs its nonfinite tag and a finite one must not have it."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    sub = {"$defs": schema["$defs"], "$ref": "#/$defs/measurement"}
    assert not jsonschema.Draft202012Validator(sub).is_valid(bad)
