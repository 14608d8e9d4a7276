"""The workspace config checked against ``schema/workspace.schema.json`` before anything uses it.

A wrong type or an unknown key is a usage error naming the file and the key as the user wrote it
(``subjects.x.backend`` in ``falsify.toml``, ``tool.falsify.subjects.x.backend`` in
``pyproject.toml``), never a traceback later. A new config key or subject option is added to the
schema, which is also the config's documentation for other tools.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["COMMON_SUBJECT_KEYS", "SCHEMA_PATH", "config_problems", "config_schema",
           "subject_kinds"]

SCHEMA_PATH = Path(__file__).parent / "schema" / "workspace.schema.json"


@cache
def config_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text("utf-8"))
    return data


# Keys every subject kind allows, which no loader sees (Workspace strips them): `resources`, what
# one cluster task of the subject needs (harness.cluster).
COMMON_SUBJECT_KEYS = frozenset({"resources"})


def subject_kinds() -> dict[str, frozenset[str]]:
    """Each subject kind the schema knows, with the options its loader takes."""
    out = {}
    for rule in config_schema()["$defs"]["subject"]["allOf"]:
        kind = rule["if"]["properties"]["kind"]["const"]
        out[kind] = frozenset(rule["then"]["properties"]) - {"kind"} - COMMON_SUBJECT_KEYS
    return out


@cache
def _config_holds() -> Callable[[Any], bool]:
    from harness.ledger.schema import compile_schema

    return compile_schema(config_schema())


def config_problems(data: Any, path: Path, prefix: Sequence[str] = ()) -> list[str]:
    """Every problem of ``data``, the config read from ``path``; empty when it is valid.

    ``prefix``: the keys above the config in its file (``("tool", "falsify")`` in pyproject).
    """
    where = f"{path}: [{'.'.join(prefix)}]" if prefix else f"{path}:"
    if not isinstance(data, dict):
        return [f"{where} must be a table, got {_shown(data)}; write it as a TOML table"]
    if _config_holds()(data):  # jsonschema's own verdict, compiled: no import (0.1 s) when valid
        return []
    import jsonschema

    validator = jsonschema.Draft202012Validator(config_schema())
    problems: set[str] = set()
    for err in validator.iter_errors(data):  # descends only as deep as the schema does
        for leaf in _leaves(err):
            problems.add(_message(leaf, path, prefix))
    return sorted(problems)


def _leaves(err: Any) -> list[Any]:
    """The most specific errors: an if/then failure's own reasons, not the allOf around them."""
    if err.validator in ("allOf", "anyOf") and err.context:
        if err.validator == "anyOf":
            return [err]
        return [leaf for sub in err.context for leaf in _leaves(sub)]
    return [err]


def _key(prefix: Sequence[str], path: Sequence[Any]) -> str:
    return ".".join([*prefix, *(str(p) for p in path)])


def _shown(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)
    return f"{kind} ({json.dumps(value, default=str)[:60]})"


def _message(err: Any, path: Path, prefix: Sequence[str]) -> str:
    at = list(err.absolute_path)
    key = _key(prefix, at)
    if err.validator == "additionalProperties":
        known = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(known))
        return _unknown(path, prefix, at, extra, known, err.instance)
    if err.validator == "required":
        kinds = ", ".join(sorted(subject_kinds()))
        return f"{path}: [{key}] needs a 'kind' (one of {kinds})"
    if err.validator == "not":  # a combination of keys refused: the "not" node says why
        return f"{path}: [{key}] {err.validator_value.get('description', err.message)}"
    if err.validator == "dependentRequired":
        needs = {k: v for k, v in err.validator_value.items() if k in err.instance}
        return "; ".join(f"{path}: [{key}] sets {k!r} but not {', '.join(map(repr, v))}, which "
                         f"it needs" for k, v in needs.items() if not set(v) <= set(err.instance))
    want = err.schema.get("description") or err.message
    hint = ""
    if err.validator == "enum" and isinstance(err.instance, str):
        hint = _closest(err.instance, [str(v) for v in err.validator_value])
    return f"{path}: key {key} must be {want}, got {_shown(err.instance)}{hint}"


def _closest(word: str, choices: Sequence[str]) -> str:
    """``; did you mean 'x'?`` for the nearest spelling among ``choices``, else empty.

    difflib (stdlib) is enough for ranking a dozen short config words."""
    import difflib

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""


def _unknown(path: Path, prefix: Sequence[str], at: list[Any], extra: list[str],
             known: list[str], table: Any) -> str:
    keys = ", ".join(_key(prefix, [*at, k]) for k in extra)
    hints = "".join(_closest(k, known) for k in extra)
    if not prefix and not at and "tool" in extra:
        return _pyproject_form_in_falsify_toml(path, keys, table.get("tool"))
    if len(at) == 2 and at[0] == "subjects":
        kind = table.get("kind")
        return (f"{path}: unknown option(s) {keys} for a subject of kind {kind}{hints}; "
                f"known: {', '.join(k for k in known if k != 'kind')}")
    return f"{path}: unknown key(s) {keys}{hints}; known here: {', '.join(known)}"


def _pyproject_form_in_falsify_toml(path: Path, keys: str, tool: Any) -> str:
    """falsify.toml holds what pyproject's [tool.falsify] holds: name the tables as they should
    be written there (the README's pyproject snippet pasted into falsify.toml)."""
    inner = tool.get("falsify") if isinstance(tool, dict) else None
    names = sorted(inner.get("subjects", {})) if isinstance(inner, dict) and isinstance(
        inner.get("subjects"), dict) else []
    wrote = ", ".join(f"[tool.falsify.subjects.{n}]" for n in names) or "[tool.falsify...]"
    right = ", ".join(f"[subjects.{n}]" for n in names) or "[subjects.NAME]"
    return (f"{path}: unknown key {keys}: falsify.toml holds the [tool.falsify] table's "
            f"contents, so write {right}, not {wrote} (that is pyproject.toml's form), and "
            f"ledger = \"...\" at the top")
