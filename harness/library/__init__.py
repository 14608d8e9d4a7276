"""The claim library: the claims falsify ships, each with its falsifier, usable by name.

A project's contract file binds a library claim to its own subjects with ``uses:``::

    uses:
      - claim: TIED-WEIGHTS-INTACT
        subjects: [my-llama]
        controls: [{subject: my-llama-untied, expect: FAIL}]
        params: {max_abs_diff: 0}

The definition (title, statement, measures, params, predicate, guards, hypotheses, the subject
kinds its falsifier takes) lives in ``harness/library/claims/<area>.yaml``; its falsifier in
``harness/library/falsifiers/<area>.py``, which the pytest plugin collects beside the project's
own ``falsifiers/`` whenever a contract uses one of its claims. A binding may set subjects,
controls, params (each overriding the library's default of that name), milestones, max_age,
statistics, external_inputs, mutation limitations, declares and a paper binding; a claim whose
predicate, guards or measures must change is copied into the project (``falsify init --copy``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["BINDING_KEYS", "FALSIFIERS_PACKAGE", "LIBRARY_DIR", "LibraryClaim", "bind",
           "library_claims"]

LIBRARY_DIR = Path(__file__).resolve().parent
FALSIFIERS_PACKAGE = "harness.library.falsifiers"

# What a project's ``uses:`` entry may set; everything else is the library's definition.
BINDING_KEYS = ("subjects", "controls", "params", "milestones", "max_age", "statistics",
                "external_inputs", "mutation", "paper", "declares", "kill", "criterion")


@dataclass(frozen=True)
class LibraryClaim:
    """One claim definition of the library and where its falsifier lives."""

    id: str
    area: str
    raw: Mapping[str, Any]
    source: Path

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.raw.get("subject_kinds", ()))

    @property
    def module(self) -> str:
        """The dotted name of the falsifier module."""
        return f"{FALSIFIERS_PACKAGE}.{self.area}"

    @property
    def module_path(self) -> Path:
        return LIBRARY_DIR / "falsifiers" / f"{self.area}.py"


def _definition_schema() -> dict[str, Any]:
    """The contract file schema, with subjects and controls optional (a project binds them)."""
    path = LIBRARY_DIR.parent / "schema" / "claim.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    claim = schema["$defs"]["claim"]
    claim["required"] = [k for k in claim["required"] if k not in ("subjects", "controls")]
    return schema


@cache
def library_claims() -> dict[str, LibraryClaim]:
    """Every library claim by id, read once per process. A broken library file is a bug of
    falsify itself, so it raises (with the file and the key) rather than being reported as a
    user's contract problem."""
    import jsonschema

    from harness.safeyaml import load_yaml

    validator = jsonschema.Draft202012Validator(_definition_schema())
    found: dict[str, LibraryClaim] = {}
    for path in sorted((LIBRARY_DIR / "claims").glob("*.yaml")):
        doc = load_yaml(path, path.read_bytes())
        for err in validator.iter_errors(doc):
            msg = f"{path}: key {'/'.join(map(str, err.absolute_path))}: {err.message}"
            raise ValueError(msg)
        for raw in doc["claims"]:
            if raw["id"] in found:
                msg = f"{path}: library claim {raw['id']} is also in {found[raw['id']].source}"
                raise ValueError(msg)
            found[raw["id"]] = LibraryClaim(raw["id"], doc.get("area", path.stem), raw, path)
    return found


def bind(definition: LibraryClaim, binding: Mapping[str, Any]) -> dict[str, Any]:
    """The claim a project's ``uses:`` entry makes: the definition with the binding's keys
    (params merged name by name, every other key replaced)."""
    raw = copy.deepcopy(dict(definition.raw))
    for key in BINDING_KEYS:
        if key not in binding:
            continue
        if key == "params":
            raw["params"] = {**raw.get("params", {}), **binding["params"]}
        else:
            raw[key] = copy.deepcopy(binding[key])
    raw.setdefault("controls", [])
    raw.setdefault("subjects", [])
    return raw
