"""Validation of records against ``harness/schema/record.schema.json``, fast enough for 100k.

jsonschema costs about a millisecond per record, and ``falsify verify`` checks every record. The
schema file therefore stays the one definition, but the yes/no question is answered by a
predicate compiled from it, for the plain keywords the record schema uses (type, enum, const,
pattern, minLength, numeric bounds, items, minItems, maxItems, required, properties,
additionalProperties, min/maxProperties, oneOf, anyOf, allOf, not, if/then/else, local $ref).
The claim and config schemas use the same compiler. A keyword outside that set makes its
subschema fall back to jsonschema. When the predicate says no, jsonschema itself produces the
messages. ``tests/harness/test_ledger_schema.py`` checks that both agree.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_PATH", "RecordSchema", "compile_schema", "record_schema"]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "record.schema.json"
Check = Callable[[Any], bool]
_ANNOTATIONS = frozenset({"description", "title", "$schema", "$id", "$defs", "default",
                          "examples", "$comment"})


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "number": _is_number,
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or float(v).is_integer()),
}


class _Compiler:
    """Turns one schema node into a predicate; jsonschema answers for unknown keywords."""

    def __init__(self, root: dict[str, Any], fallback: Callable[[dict[str, Any]], Check]):
        self.defs: dict[str, Any] = root.get("$defs", {})
        self.fallback = fallback

    def node(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            msg = f"not a JSON Schema node: {schema!r}"
            raise TypeError(msg)
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("then", "else"):
                continue
            make = getattr(self, "k_" + keyword.lstrip("$"), None)
            check = make(value, schema) if make is not None else None
            if check is None:
                return self.fallback({"$defs": self.defs, **schema})
            checks.append(check)
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def k_ref(self, ref: str, _: Any) -> Check | None:
        if not ref.startswith("#/$defs/"):
            return None
        target = self.defs[ref.removeprefix("#/$defs/")]
        cell: list[Check] = []  # compiled on first use: the reference may be recursive

        def check(v: Any) -> bool:
            if not cell:
                cell.append(self.node(target))
            return cell[0](v)

        return check

    def k_type(self, types: str | list[str], _: Any) -> Check:
        tests = [_TYPES[t] for t in ([types] if isinstance(types, str) else types)]
        if len(tests) == 1:
            return tests[0]
        return lambda v: any(t(v) for t in tests)

    def k_enum(self, values: list[Any], _: Any) -> Check | None:
        if not all(isinstance(x, str) for x in values):
            return None  # jsonschema's equality of numbers and booleans: leave it to it
        allowed = frozenset(values)
        return lambda v: isinstance(v, str) and v in allowed

    def k_const(self, value: Any, _: Any) -> Check | None:
        return self.k_enum([value], _)

    def k_pattern(self, pattern: str, _: Any) -> Check:
        rx = re.compile(pattern)
        return lambda v: not isinstance(v, str) or rx.search(v) is not None

    def k_minLength(self, n: int, _: Any) -> Check:  # noqa: N802 (the keyword's own name)
        return lambda v: not isinstance(v, str) or len(v) >= n

    def k_minimum(self, n: float, _: Any) -> Check:
        return lambda v: not _is_number(v) or v >= n

    def k_maximum(self, n: float, _: Any) -> Check:
        return lambda v: not _is_number(v) or v <= n

    def k_minProperties(self, n: int, _: Any) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, dict) or len(v) >= n

    def k_maxProperties(self, n: int, _: Any) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, dict) or len(v) <= n

    def k_anyOf(self, branches: list[Any], _: Any) -> Check:  # noqa: N802
        checks = [self.node(b) for b in branches]
        return lambda v: any(c(v) for c in checks)

    def k_exclusiveMinimum(self, n: float, _: Any) -> Check:  # noqa: N802
        return lambda v: not _is_number(v) or v > n

    def k_exclusiveMaximum(self, n: float, _: Any) -> Check:  # noqa: N802
        return lambda v: not _is_number(v) or v < n

    def k_items(self, sub: Any, _: Any) -> Check | None:
        if not isinstance(sub, dict | bool):
            return None  # the array form of older drafts
        check = self.node(sub)
        return lambda v: not isinstance(v, list) or all(check(x) for x in v)

    def k_minItems(self, n: int, _: Any) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, list) or len(v) >= n

    def k_maxItems(self, n: int, _: Any) -> Check:  # noqa: N802
        return lambda v: not isinstance(v, list) or len(v) <= n

    def k_required(self, names: list[str], _: Any) -> Check:
        return lambda v: not isinstance(v, dict) or all(n in v for n in names)

    def k_dependentRequired(self, needs: dict[str, list[str]], _: Any) -> Check:  # noqa: N802
        pairs = list(needs.items())
        return lambda v: not isinstance(v, dict) or all(
            all(n in v for n in names) for key, names in pairs if key in v)

    def k_properties(self, props: dict[str, Any], _: Any) -> Check:
        checks = [(name, self.node(sub)) for name, sub in props.items()]

        def check(v: Any) -> bool:
            if isinstance(v, dict):
                for name, test in checks:
                    if name in v and not test(v[name]):
                        return False
            return True

        return check

    def k_additionalProperties(self, allowed: Any, schema: dict[str, Any]) -> Check | None:  # noqa: N802
        if allowed is True:
            return lambda v: True
        if "patternProperties" in schema or not isinstance(allowed, dict | bool):
            return None
        known = frozenset(schema.get("properties", {}))
        if allowed is False:
            return lambda v: not isinstance(v, dict) or known.issuperset(v)
        extra = self.node(allowed)  # a schema every property not named in `properties` meets
        return lambda v: not isinstance(v, dict) or all(
            extra(x) for k, x in v.items() if k not in known)

    def k_oneOf(self, branches: list[Any], _: Any) -> Check:  # noqa: N802
        checks = [self.node(b) for b in branches]
        return lambda v: sum(1 for c in checks if c(v)) == 1

    def k_allOf(self, branches: list[Any], _: Any) -> Check:  # noqa: N802
        checks = [self.node(b) for b in branches]
        return lambda v: all(c(v) for c in checks)

    def k_not(self, sub: Any, _: Any) -> Check:
        check = self.node(sub)
        return lambda v: not check(v)

    def k_if(self, sub: Any, schema: dict[str, Any]) -> Check:
        test = self.node(sub)
        then, other = self.node(schema.get("then", True)), self.node(schema.get("else", True))
        return lambda v: then(v) if test(v) else other(v)


def compile_schema(schema: dict[str, Any]) -> Check:
    """A predicate equal to ``jsonschema`` validity of ``schema`` (draft 2020-12)."""

    def fallback(sub: dict[str, Any]) -> Check:
        import jsonschema

        validator = jsonschema.validators.validator_for(schema)(sub)
        return lambda v: bool(validator.is_valid(v))

    return _Compiler(schema, fallback).node(schema)


class RecordSchema:
    """``errors(record)``: each schema violation as ``"$.json.path: message"``.

    jsonschema (about 0.1 s to import) is loaded only when a record fails the predicate or the
    schema uses a keyword the compiler leaves to it; ``tests/harness/test_ledger_schema.py``
    checks the schema file itself against its metaschema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._schema = schema
        self.is_valid = compile_schema(schema)

    @functools.cached_property
    def _validator(self) -> Any:
        import jsonschema

        cls = jsonschema.validators.validator_for(self._schema)
        cls.check_schema(self._schema)
        return cls(self._schema)

    def errors(self, data: Any) -> list[str]:
        if self.is_valid(data):
            return []
        found = sorted(self._validator.iter_errors(data), key=lambda e: e.json_path)
        return [f"{e.json_path}: {e.message}" for e in found]


@functools.cache
def record_schema() -> RecordSchema:
    return RecordSchema(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
