"""The schema compiler: agreement with jsonschema, every problem by field, strict JSON."""

from __future__ import annotations

import contextlib

import jsonschema
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.metrics import text
from harness.runs.validation import (
    SCHEMA_DIR,
    BundleError,
    NonFinite,
    Problem,
    SchemaError,
    compile_schema,
    load_schema,
    parse_json,
    schema_check,
)
from tests.harness.runs.kit import row

RUN_SCHEMAS = sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("run_*.json"))


def test_the_six_bundle_schemas_exist_and_are_valid_draft_2020_12() -> None:
    """One schema per persisted bundle file, each a valid JSON Schema."""
    assert RUN_SCHEMAS == ["run_gate_row", "run_metrics_by_partition", "run_prediction",
                           "run_results", "run_split", "run_vocab"]
    for name in RUN_SCHEMAS:
        jsonschema.Draft202012Validator.check_schema(load_schema(name))
        schema_check(name)  # compiles: uses only keywords the compiler enforces


def test_cer_policy_enums_match_the_metrics_module() -> None:
    """results.json may only name policies harness.metrics.text can apply."""
    policy = load_schema("run_results")["properties"]["cer_policy"]["properties"]
    assert set(policy["normalization"]["enum"]) == set(text.NORMALIZATIONS)
    assert set(policy["whitespace"]["enum"]) == set(text.WHITESPACE_POLICIES)


def test_unsupported_keyword_is_refused_at_compile_time() -> None:
    """A schema keyword the compiler does not enforce can never be silently ignored."""
    with pytest.raises(SchemaError, match="oneOf"):
        compile_schema({"oneOf": [{"type": "string"}]})


def test_every_problem_of_a_row_is_reported_by_field() -> None:
    """Missing, extra, wrong-typed and out-of-enum fields are all reported, not just the first."""
    bad = row(0, "a", "b")
    del bad["audio_id"]
    bad["extra"] = 1
    bad["cer_edits"] = "3"
    bad["partition"] = "weird"
    bad["split"] = "train"
    fields = dict(schema_check("run_prediction")(bad, ""))
    assert set(fields) == {"audio_id", "extra", "cer_edits", "partition", "split"}
    assert "required" in fields["audio_id"]
    assert "'weird' is not one of" in fields["partition"]


def test_nonfinite_numbers_are_named() -> None:
    """NaN and Infinity parse to NonFinite and are reported where they stand."""
    value, dups = parse_json('{"a": NaN, "b": [Infinity], "c": -Infinity}')
    assert value == {"a": NonFinite("NaN"), "b": [NonFinite("Infinity")],
                     "c": NonFinite("-Infinity")}
    assert dups == []
    data = row(0, "a", "b")
    data["trajectory_scalars"] = {"entropy_mean": NonFinite("NaN")}
    (field, message), = schema_check("run_prediction")(data, "")
    assert field == "trajectory_scalars.entropy_mean"
    assert "NaN is not a finite number" in message


def test_duplicate_keys_are_reported() -> None:
    _, dups = parse_json('{"a": 1, "a": 2}')
    assert dups == [("a", "duplicate key: a JSON object must name each field once")]


def test_bundle_error_shows_first_problems_and_the_count() -> None:
    problems = [Problem("f.jsonl", i, "x", "bad") for i in range(1, 31)]
    err = BundleError("/b", problems, "fix it")
    text_ = str(err)
    assert "30 problem(s)" in text_
    assert "f.jsonl:1:x: bad" in text_
    assert "f.jsonl:20:x: bad" in text_
    assert "f.jsonl:21:x" not in text_
    assert "... and 10 more" in text_
    assert text_.endswith("fix it")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False,
                                                                    allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)
FIELDS = list(row(0, "a", "b"))


@st.composite
def mutated_rows(draw: st.DrawFn) -> dict[str, object]:
    data = row(draw(st.integers(0, 99)), draw(st.text(max_size=10)), draw(st.text(max_size=10)))
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*FIELDS, "other"]))
        action = draw(st.sampled_from(["drop", "set"]))
        if action == "drop":
            data.pop(key, None)
        else:
            data[key] = draw(json_values)
    return data


@settings(max_examples=400, deadline=None)
@given(mutated_rows())
@example({"cer_edits": 1.0, **{k: v for k, v in row(0, "a", "b").items() if k != "cer_edits"}})
@example({**row(0, "a", "b"), "cer_edits": True})
@example({**row(0, "a", "b"), "trajectory_scalars": {"x": 1}})
def test_compiled_prediction_check_agrees_with_jsonschema(data: dict[str, object]) -> None:
    """For any row, the compiled check finds a problem exactly when jsonschema does."""
    ours = schema_check("run_prediction")(data, "")
    theirs = list(jsonschema.Draft202012Validator(load_schema("run_prediction")).iter_errors(
        data))
    assert bool(ours) == bool(theirs), (ours, [e.message for e in theirs])


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_compiled_checks_agree_with_jsonschema_on_any_json(value: object) -> None:
    """Every bundle schema, on arbitrary JSON documents."""
    for name in RUN_SCHEMAS:
        ours = schema_check(name)(value, "")
        theirs = list(jsonschema.Draft202012Validator(load_schema(name)).iter_errors(value))
        assert bool(ours) == bool(theirs), (name, value, ours)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parse_json_never_crashes_on_text(text_: str) -> None:
    """Arbitrary text either parses or raises ValueError; nothing else escapes."""
    with contextlib.suppress(ValueError):
        parse_json(text_)
