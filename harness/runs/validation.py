"""Validation of run-bundle files against their JSON Schemas, reporting every problem by place.

The schemas (``harness/schema/run_*.schema.json``, shown as ``contracts/schema/`` in the
repository) are the language-neutral contract. This module compiles the small subset of JSON
Schema they use into plain Python checks, because a bundle holds up to ~300,000 rows and a
general validator costs tens of microseconds a row. A keyword outside the subset raises
:class:`SchemaError` at compile time, so a schema can never be silently half-enforced; the tests
check that the compiled checks and ``jsonschema`` agree on fuzzed rows.

Problems are collected, never raised one at a time: a reader reports EVERY problem it finds as
``file:line:field: message`` and raises one :class:`BundleError` at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "SCHEMA_DIR",
    "BundleError",
    "Check",
    "NonFinite",
    "Problem",
    "SchemaError",
    "compile_schema",
    "load_schema",
    "parse_json",
    "schema_check",
]

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
MAX_SHOWN = 20

# A check takes (value, field path) and returns the (field, message) problems found.
Check = Callable[[Any, str], list[tuple[str, str]]]


class SchemaError(ValueError):
    """A schema uses a keyword the compiler does not enforce."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place in one file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}:{self.field or '-'}: {self.message}"


class BundleError(ValueError):
    """A run bundle that cannot be used; carries every problem, shows the first ``MAX_SHOWN``."""

    def __init__(self, where: str | Path, problems: Sequence[Problem], fix: str = "") -> None:
        self.where = str(where)
        self.problems = tuple(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:MAX_SHOWN])
        more = len(self.problems) - MAX_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        advice = f"\n{fix}" if fix else ""
        super().__init__(f"{self.where}: {len(self.problems)} problem(s)\n{shown}{tail}{advice}")


@dataclass(frozen=True)
class NonFinite:
    """What the strict JSON reader puts where the text said NaN, Infinity or -Infinity."""

    text: str


def parse_json(text: str) -> tuple[Any, list[tuple[str, str]]]:
    """Parse JSON text strictly: NaN/Infinity become :class:`NonFinite`, duplicate keys are
    reported. Returns the value and problems as (field, message); raises ``ValueError`` (with
    the column) when the text is not JSON at all."""
    duplicates: list[tuple[str, str]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    duplicates.append((key, "duplicate key: a JSON object must name each "
                                            "field once"))
                seen.add(key)
        return out

    value = json.loads(text, parse_constant=NonFinite, object_pairs_hook=pairs)
    return value, duplicates


# JSON types by exact Python type: the parser makes exactly these, and bool is not an int here.
_TYPE_OK: dict[str, Callable[[Any], bool]] = {
    "integer": lambda v: type(v) is int or (type(v) is float and v.is_integer()),
    "number": lambda v: type(v) is int or type(v) is float,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "null": lambda v: v is None,
}


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema means it: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$defs"})


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Mapping[str, Any]) -> Check:
        type_check: Check | None = None
        checks: list[Check] = []
        for key in schema:
            if key in _ANNOTATIONS or key in ("properties", "additionalProperties"):
                continue
            make = getattr(self, "k_" + key.lstrip("$"), None)
            if make is None:
                msg = f"schema keyword {key!r} is not supported by harness.runs.validation"
                raise SchemaError(msg)
            if key == "type":
                type_check = make(schema[key], schema)
            else:
                checks.append(make(schema[key], schema))
        if "properties" in schema or "additionalProperties" in schema:
            checks.append(self.k_properties(schema.get("properties", {}), schema))
        if not checks and type_check is not None:
            return type_check
        if len(checks) == 1 and type_check is None:
            return checks[0]

        def check(value: Any, path: str) -> list[tuple[str, str]]:
            if type_check is not None:  # the other keywords assume the type held
                wrong = type_check(value, path)
                if wrong:
                    return wrong
            out: list[tuple[str, str]] = []
            for c in checks:
                out += c(value, path)
            return out
        return check

    def k_ref(self, ref: str, _: Mapping[str, Any]) -> Check:
        if not ref.startswith("#/$defs/"):
            msg = f"only local '#/$defs/...' references are supported, not {ref!r}"
            raise SchemaError(msg)
        name = ref.removeprefix("#/$defs/")
        if name not in self.refs:
            self.refs[name] = self.compile(self.root["$defs"][name])
        return self.refs[name]

    def k_type(self, kind: str, _: Mapping[str, Any]) -> Check:
        ok = _TYPE_OK[kind]

        def check(value: Any, path: str) -> list[tuple[str, str]]:
            if ok(value):
                return []
            if isinstance(value, NonFinite) and kind in ("number", "integer"):
                return [(path, f"{value.text} is not a finite number; write a finite value")]
            return [(path, f"expected {kind}, got {_describe(value)}")]
        return check

    def k_const(self, expected: Any, _: Mapping[str, Any]) -> Check:
        def check(value: Any, path: str) -> list[tuple[str, str]]:
            ok = (type(value) is type(expected) and value == expected) or _json_equal(
                value, expected)
            return [] if ok else [(path, f"must be {expected!r}, got {_describe(value)}")]
        return check

    def k_enum(self, options: list[Any], _: Mapping[str, Any]) -> Check:
        strings = frozenset(o for o in options if type(o) is str)

        def check(value: Any, path: str) -> list[tuple[str, str]]:
            if type(value) is str and value in strings:
                return []
            if any(_json_equal(value, o) for o in options):
                return []
            allowed = ", ".join(repr(o) for o in options)
            return [(path, f"{_describe(value)} is not one of {allowed}")]
        return check

    def k_minLength(self, n: int, _: Mapping[str, Any]) -> Check:  # noqa: N802 (schema keyword)
        def check(value: Any, path: str) -> list[tuple[str, str]]:
            short = isinstance(value, str) and len(value) < n
            return [(path, f"must have at least {n} character(s)")] if short else []
        return check

    def k_pattern(self, pattern: str, _: Mapping[str, Any]) -> Check:
        rx = re.compile(pattern)

        def check(value: Any, path: str) -> list[tuple[str, str]]:
            bad = isinstance(value, str) and rx.search(value) is None
            return [(path, f"{_describe(value)} does not match {pattern}")] if bad else []
        return check

    def k_minimum(self, low: float, _: Mapping[str, Any]) -> Check:
        def check(value: Any, path: str) -> list[tuple[str, str]]:
            bad = _TYPE_OK["number"](value) and value < low
            return [(path, f"{_describe(value)} is below the minimum {low}")] if bad else []
        return check

    def k_minItems(self, n: int, _: Mapping[str, Any]) -> Check:  # noqa: N802 (schema keyword)
        def check(value: Any, path: str) -> list[tuple[str, str]]:
            short = isinstance(value, list) and len(value) < n
            return [(path, f"must hold at least {n} item(s)")] if short else []
        return check

    def k_items(self, item_schema: Mapping[str, Any], _: Mapping[str, Any]) -> Check:
        item = self.compile(item_schema)

        def check(value: Any, path: str) -> list[tuple[str, str]]:
            if not isinstance(value, list):
                return []
            out: list[tuple[str, str]] = []
            for i, v in enumerate(value):
                out += item(v, f"{path}[{i}]")
            return out
        return check

    def k_required(self, names: list[str], _: Mapping[str, Any]) -> Check:
        def check(value: Any, path: str) -> list[tuple[str, str]]:
            if not isinstance(value, dict):
                return []
            return [(_join(path, n), "missing (required field)") for n in names if n not in value]
        return check

    def k_properties(self, props: Mapping[str, Any], schema: Mapping[str, Any]) -> Check:
        known = {name: self.compile(sub) for name, sub in props.items()}
        extra = schema.get("additionalProperties", True)
        other: Check | None = None if isinstance(extra, bool) else self.compile(extra)
        allowed = ", ".join(sorted(known)) or "none"

        def check(value: Any, path: str) -> list[tuple[str, str]]:
            if type(value) is not dict:
                return []
            prefix = f"{path}." if path else ""
            out: list[tuple[str, str]] = []
            for key, v in value.items():
                sub = known.get(key, other)
                if sub is not None:
                    found = sub(v, prefix + key)
                    if found:
                        out.extend(found)
                elif extra is False:
                    out.append((prefix + key, f"unexpected field; allowed: {allowed}"))
            return out
        return check


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """Compile ``schema`` (the subset the run schemas use) into a fast check."""
    return _Compiler(schema).compile(schema)


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``harness/schema/<name>.schema.json`` as a dict."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@cache
def schema_check(name: str) -> Check:
    """The compiled check of schema ``name`` (e.g. ``run_prediction``)."""
    return compile_schema(load_schema(name))
