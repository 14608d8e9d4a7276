"""The compiled record-schema predicate agrees with jsonschema, on valid and broken records."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.ledger.schema import SCHEMA_PATH, compile_schema, record_schema
from harness.ledger.synth import write_synthetic_ledger
from harness.records import Measurement
from tests.harness.ledger_factory import make_record

SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
REFERENCE = jsonschema.Draft202012Validator(SCHEMA)
FAST = record_schema()

SEEDS = [
    make_record().sealed(None).to_json(),
    make_record(kind="hypothesis", hypothesis="H1", verdict="REFUTED").sealed("a" * 64).to_json(),
    make_record(kind="amendment", amends="x", role="control", expect="FAIL",
                measurements=(Measurement("v", math.nan, "nats", n=3, ci=(1.0, 2.0),
                                          ci_level=0.9),)).sealed(None).to_json(),
]

leaf = (st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2) | st.just(1.0)
        | st.sampled_from(["", "PASS", "CONFIRMED", "claim", "amendment", "control", "nan",
                           "a" * 64, "2026-11-01T12:00:00.000000Z", " x"]))
value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["record", "why", "id", "x"]), inner,
                                       max_size=3), max_leaves=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _paths(v, (*prefix, i))
    return found


def _mutate(record: dict[str, Any], path: tuple[Any, ...], action: str, new: Any) -> None:
    parent = record
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent["unexpected"] = new
    else:
        parent[last] = new


@settings(max_examples=400, deadline=None)
@given(seed=st.sampled_from(SEEDS), data=st.data(),
       action=st.sampled_from(["replace", "replace", "delete", "add"]), new=value)
def test_compiled_predicate_agrees_with_jsonschema(seed: dict[str, Any], data: st.DataObject,
                                                   action: str, new: Any) -> None:
    """One random change anywhere in a valid record: both validators give the same answer."""
    record = copy.deepcopy(seed)
    path = data.draw(st.sampled_from(_paths(record)))
    _mutate(record, path, action, new)
    assert FAST.is_valid(record) == REFERENCE.is_valid(record)
    assert bool(FAST.errors(record)) == (not REFERENCE.is_valid(record))


DELETE = object()
CASES = [  # (seed, path, new value, valid per the schema): one per keyword the compiler knows
    (0, ("claim",), "", False), (0, ("id",), "a b", False), (0, ("created",), "2026-11-01", False),
    (0, ("verdict",), "CONFIRMED", False), (1, ("hypothesis",), None, False),
    (2, ("amends",), None, False), (2, ("measurements", 0, "ci_level"), 1.0, False),
    (2, ("measurements", 0, "ci_level"), 0, False), (2, ("measurements", 0, "value"), 1.0, False),
    (2, ("measurements", 0, "n"), -1, False), (2, ("measurements", 0, "n"), 1.5, False),
    (2, ("measurements", 0, "n"), 2.0, True), (2, ("measurements", 0, "ci"), [1.0], False),
    (2, ("measurements", 0, "ci"), [1, 2, 3], False), (0, ("schema",), 0, False),
    (0, ("schema",), True, False), (0, ("expect",), "CONFIRMED", False),
    (0, ("inputs",), [{"path": "x", "kind": "file", "sha256": "z", "bytes": 1}], False),
    (0, ("inputs",), [{"path": "x", "kind": "dir", "sha256": "b" * 64, "bytes": 0}], True),
    (0, ("provenance", "git"), DELETE, False), (0, ("guards", 0, "holds"), 1, False),
    (0, ("unexpected",), 1, False), (0, ("reasons",), [1], False), (0, ("prev",), "", False),
    (0, ("kind",), "hypothesis", False), (1, ("verdict",), "PASS", False),
    (2, ("measurements", 0, "nonfinite"), DELETE, False), (0, ("hash",), "A" * 64, False),
]


@pytest.mark.parametrize(("seed", "path", "new", "valid"), CASES)
def test_each_keyword_agrees(seed: int, path: tuple[Any, ...], new: Any, valid: bool) -> None:
    """Targeted changes, one per keyword: the compiled answer is jsonschema's."""
    record = copy.deepcopy(SEEDS[seed])
    _mutate(record, path, "delete" if new is DELETE else "replace", new)
    assert REFERENCE.is_valid(record) is valid
    assert FAST.is_valid(record) is valid


def test_valid_records_pass(tmp_path: Path) -> None:
    """The factory's and the synthetic ledger's records are valid for both validators."""
    write_synthetic_ledger(tmp_path, 300, per_segment=100)
    records = [json.loads(line) for seg in sorted(tmp_path.iterdir())
               for line in seg.read_bytes().splitlines()] + SEEDS
    assert all(FAST.is_valid(r) and REFERENCE.is_valid(r) for r in records)


@pytest.mark.parametrize(("schema", "good", "bad"), [
    ({"type": "string", "format": "email", "maxLength": 3}, "a", "abcd"),
    ({"enum": [1, True]}, 1, 2),
    ({"type": "integer"}, 2.0, True),
    ({"type": "array", "uniqueItems": True}, [1, 2], [1, 1]),
])
def test_unknown_keywords_fall_back_to_jsonschema(schema: dict[str, Any], good: Any,
                                                  bad: Any) -> None:
    """A keyword the compiler does not know is answered by jsonschema itself."""
    check = compile_schema(schema)
    assert check(good) is True
    assert check(bad) is False


def test_errors_name_the_json_path() -> None:
    """Messages come from jsonschema, with the JSON path of the fault."""
    record = copy.deepcopy(SEEDS[0])
    record["measurements"][0]["ci_level"] = 2
    assert FAST.errors(record) == ["$.measurements[0].ci_level: 2 is greater than or equal to "
                                   "the maximum of 1"]


@pytest.mark.parametrize("packages", [{"torch": "2.13.0", "mlx": None}, {"torch": 2.13},
                                      {"torch": ["2"]}, {}])
def test_additional_properties_with_a_schema_is_compiled_and_agrees(
        packages: dict[str, Any]) -> None:
    """`additionalProperties: {type: [string, null]}` (the package versions) is checked by the
    compiled predicate itself, never by a jsonschema fallback, and agrees with jsonschema."""
    record = copy.deepcopy(SEEDS[0])
    record["provenance"]["env"]["packages"] = packages
    fell_back: list[dict[str, Any]] = []

    def fallback(sub: dict[str, Any]) -> Any:
        fell_back.append(sub)
        return jsonschema.Draft202012Validator(sub).is_valid

    from harness.ledger.schema import _Compiler

    predicate = _Compiler(SCHEMA, fallback).node(SCHEMA)
    assert predicate(record) == REFERENCE.is_valid(record)
    assert fell_back == []


def test_the_record_schema_is_valid_against_its_metaschema() -> None:
    """RecordSchema checks its schema only when jsonschema is first needed; this checks it."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)


SMALL = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-3, 3)
                     | st.sampled_from(["", "a", "ab"]),
                     lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.sampled_from(["a", "b", "c"]), kids, max_size=3),
                     max_leaves=6)
NEW_KEYWORDS = [{"maximum": 1}, {"minProperties": 2}, {"maxProperties": 1},
                {"anyOf": [{"type": "string"}, {"maximum": 0}]},
                {"type": "object", "minProperties": 1, "additionalProperties": {"maximum": 2}}]


@settings(max_examples=300, deadline=None)
@given(schema=st.sampled_from(NEW_KEYWORDS), value=SMALL)
def test_maximum_properties_counts_and_anyof_agree(schema: dict[str, Any], value: Any) -> None:
    """The keywords the claim and config schemas add (maximum, min/maxProperties, anyOf)."""
    assert compile_schema(schema)(value) == jsonschema.Draft202012Validator(schema).is_valid(value)


def test_claim_and_config_schemas_compile_without_jsonschema() -> None:
    """Valid contracts and configs are answered by the compiled predicate alone: no keyword of
    those schemas falls back (falling back is correct, only slower)."""
    from harness.config_schema import config_schema
    from harness.contracts import _claim_schema
    from harness.ledger.schema import _Compiler

    for schema in (_claim_schema(), config_schema(), json.loads(SCHEMA_PATH.read_text())):
        fell: list[dict[str, Any]] = []
        compiler = _Compiler(schema, lambda sub, fell=fell: fell.append(sub) or (lambda v: True))
        compiler.node(schema)
        for sub in schema.get("$defs", {}).values():
            compiler.node(sub)
        assert fell == []
