"""Claims: loaded from ``contracts/*.yaml``, checked against the JSON Schema, then compiled.

A contract error always names the file, the claim id and the offending key, and says what to do.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import pickle
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from harness.atomic import save_cache
from harness.decisions import Decision, compile_decision, cross_check
from harness.expr import Expr, ExprError, parse
from harness.records import CLAIM_VERDICTS, Status, canonical_json, sha256_text
from harness.safeyaml import YamlError, load_yaml, read_capped
from harness.units import AmbiguousNumber, Quantity, UnitError, parse_quantity, parse_unit
from harness.vectors import QuantityVector

__all__ = [
    "SCHEMA_DIR",
    "Claim",
    "ContractError",
    "ContractSet",
    "ExternalInput",
    "Guard",
    "Hypothesis",
    "MeasureSpec",
    "Statistics",
    "SubjectRef",
    "load_contracts",
    "parse_duration",
]

SCHEMA_DIR = Path(__file__).parent / "schema"
_ID = re.compile(r"^[A-Z0-9][A-Z0-9._-]*$")


class ContractError(ValueError):
    """A contract that cannot be used. Carries every problem found, each with file and claim."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class MeasureSpec:
    name: str
    unit: str
    doc: str = ""
    min_n: int | None = None  # below it the tool's own guard min_n.<name> fails
    vector: bool = False  # one value per element (layer, seed): evidence.measure_vector


@dataclass(frozen=True)
class Guard:
    id: str
    check: Expr
    text: str
    doc: str = ""


@dataclass(frozen=True)
class Statistics:
    confidence: float = 0.95
    decide_on_ci: bool = False


@dataclass(frozen=True)
class Hypothesis:
    id: str
    statement: str
    probe: str | None = None
    intervention: str | None = None


@dataclass(frozen=True)
class SubjectRef:
    """A subject of a claim, or a negative control (role ``control``) with its expected verdict."""

    id: str
    role: str = "subject"
    expect: Status | None = None
    params: Mapping[str, Quantity] = field(default_factory=dict)
    why: str = ""

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class ExternalInput:
    """An input the claim declares external and unverifiable by design (``external_inputs``).

    ``path`` is a glob pattern (``fnmatch``) over input paths as records write them."""

    path: str
    why: str

    def matches(self, recorded_path: str) -> bool:
        return fnmatch.fnmatchcase(recorded_path, self.path)


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str
    area: str
    source: Path
    milestones: tuple[str, ...]
    max_age_s: float | None
    measures: Mapping[str, MeasureSpec]
    params: Mapping[str, Quantity]
    predicate: Expr
    predicate_text: str
    guards: tuple[Guard, ...]
    statistics: Statistics
    subjects: tuple[SubjectRef, ...]
    controls: tuple[SubjectRef, ...]
    hypotheses: tuple[Hypothesis, ...]
    paper: Mapping[str, Any] | None
    declares: Mapping[str, Any]
    sha256: str
    raw: Mapping[str, Any]
    external_inputs: tuple[ExternalInput, ...] = ()
    library: str | None = None  # the falsifier module of a library claim used by name
    criterion: bool = False  # a decision criterion: its FAIL is evidence, not a broken build
    machine_bound: bool = False  # a speed claim: evidence from another kind of machine is STALE

    @property
    def all_subjects(self) -> tuple[SubjectRef, ...]:
        return self.subjects + self.controls

    def subject(self, subject_id: str) -> SubjectRef | None:
        for ref in self.all_subjects:
            if ref.id == subject_id:
                return ref
        return None

    def params_for(self, subject_id: str) -> dict[str, Quantity]:
        merged = dict(self.params)
        ref = self.subject(subject_id)
        if ref is not None:
            merged.update(ref.params)
        return merged


@dataclass(frozen=True)
class ContractSet:
    claims: Mapping[str, Claim]
    areas: Mapping[str, tuple[str, ...]]  # area -> claim ids in file order
    area_titles: Mapping[str, str]
    decisions: Mapping[str, Decision] = field(default_factory=dict)  # harness.decisions
    families: Mapping[str, Any] = field(default_factory=dict)  # id -> harness.family.Family

    def __getitem__(self, claim_id: str) -> Claim:
        try:
            return self.claims[claim_id]
        except KeyError:
            msg = f"unknown claim {claim_id!r}; known claims: {', '.join(sorted(self.claims))}"
            raise KeyError(msg) from None

    def __contains__(self, claim_id: object) -> bool:
        return claim_id in self.claims

    def milestones(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for claim in self.claims.values():
            for name in claim.milestones:
                out.setdefault(name, []).append(claim.id)
        return {k: sorted(v) for k, v in sorted(out.items())}


def parse_duration(text: str | int | float) -> float:
    """``30d``, ``12h``, ``90m``, ``45s`` (or bare seconds) as seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text))
    if match is None:
        msg = f"bad duration {text!r}; write e.g. 30d, 12h, 90m or 45s"
        raise ValueError(msg)
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return float(match.group(1)) * scale


@cache
def _claim_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMA_DIR / "claim.schema.json").read_text("utf-8"))
    return data


@cache
def _claim_schema_holds() -> Callable[[Any], bool]:
    from harness.ledger.schema import compile_schema

    return compile_schema(_claim_schema())


def _schema_problems(doc: Any, where: str) -> list[str]:
    if _claim_schema_holds()(doc):  # jsonschema's own verdict, compiled: no import, 10x faster
        return []
    import jsonschema

    validator = jsonschema.Draft202012Validator(_claim_schema())
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = list(err.absolute_path)
        claim = ""
        if len(path) >= 2 and path[0] == "claims" and isinstance(path[1], int):
            claims = doc.get("claims", [])
            if path[1] < len(claims) and isinstance(claims[path[1]], dict):
                claim = f" claim {claims[path[1]].get('id', '#' + str(path[1]))}:"
        key = "/".join(str(p) for p in path) or "(top level)"
        problems.append(f"{where}:{claim} key {key}: {err.message}")
    return problems


class _Compiler:
    """Turns one validated claim mapping into a Claim, collecting problems instead of stopping."""

    def __init__(self, raw: Mapping[str, Any], area: str, source: Path,
                 library: str | None = None) -> None:
        self.raw, self.area, self.source, self.library = raw, area, source, library
        self.where = f"{source}: claim {raw.get('id')}"
        if library is not None:
            self.where += " (from the claim library)"
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{self.where}: key {key}: {message}")

    def quantity(self, key: str, value: Any) -> Quantity | None:
        try:
            return parse_quantity(value)
        except UnitError as exc:
            self.fail(key, str(exc))
            return None

    def params(self, key: str, data: Mapping[str, Any] | None) -> dict[str, Quantity]:
        out = {}
        for name, value in (data or {}).items():
            q = self.quantity(f"{key}.{name}", value)
            if q is not None:
                out[name] = q
        return out

    def expr(self, key: str, text: str) -> Expr | None:
        try:
            return parse(text)
        except ExprError as exc:
            self.fail(key, str(exc))
            return None

    def measures(self) -> dict[str, MeasureSpec]:
        out = {}
        for name, spec in self.raw["measures"].items():
            spec = spec if isinstance(spec, dict) else {"unit": spec}
            try:
                unit = parse_unit(spec["unit"]).name
            except UnitError as exc:
                self.fail(f"measures.{name}.unit", str(exc))
                continue
            out[name] = MeasureSpec(name, unit, spec.get("doc", ""), spec.get("min_n"),
                                    spec.get("vector") is True)
        return out

    def subject_refs(self, key: str, items: list[Any], role: str) -> tuple[SubjectRef, ...]:
        refs = []
        for i, item in enumerate(items):
            item = {"id": item} if isinstance(item, str) else dict(item)
            sid = item.get("id") or item.get("subject")
            expect = None
            if role == "control":
                expect = Status.parse(item.get("expect", "FAIL"))
                if expect == Status.PASS or expect not in CLAIM_VERDICTS:
                    self.fail(f"{key}[{i}].expect", f"a negative control must expect a non-PASS "
                              f"verdict (FAIL, SUSPECT or INCONCLUSIVE), not {expect}")
            params = self.params(f"{key}[{i}].params", item.get("params"))
            refs.append(SubjectRef(str(sid), role, expect, params, item.get("why", "")))
        return tuple(refs)

    def check_names(self, measures: Mapping[str, MeasureSpec], params: dict[str, Quantity],
                    refs: tuple[SubjectRef, ...], exprs: list[tuple[str, Expr]]) -> None:
        for clash in sorted(set(measures) & set(params)):
            self.fail(f"params.{clash}", "a param may not share its name with a measurement")
        for ref in refs:
            for name in ref.params:
                if name not in params:
                    params_known = ", ".join(sorted(params)) or "none"
                    self.fail(f"subjects.{ref.id}.params.{name}",
                              f"unknown param; declare it under params (known: {params_known})")
        known = set(measures) | set(params)
        for key, expr in exprs:
            for name in sorted(expr.names() - known):
                self.fail(key, f"names {name!r}, which is neither measured nor a param; "
                          f"add it to measures or params")

    def check_units(self, measures: Mapping[str, MeasureSpec], params: dict[str, Quantity],
                    refs: tuple[SubjectRef, ...], exprs: list[tuple[str, Expr]]) -> None:
        """Judge each expression's units once per subject on unit-bearing sample values.

        Every part of every expression is judged (value problems such as a division by zero
        are left to real measurements), so every unit clash and every ambiguous bare number
        (DESIGN rule 12) is reported, with the param that holds it when a param does.
        """
        seen: set[str] = set()
        for ref in (SubjectRef("(default)"), *refs):
            env: dict[str, Quantity | QuantityVector] = {
                n: (QuantityVector.of([1.0] * 3, parse_unit(m.unit)) if m.vector
                    else Quantity.of(1.0, m.unit)) for n, m in measures.items()}
            env.update(params)
            env.update(ref.params)
            for key, expr in exprs:
                shape = expr.shape_problem(env)
                if shape is not None and f"{key}: {shape}" not in seen:
                    seen.add(f"{key}: {shape}")
                    self.fail(key, shape)
                for exc in expr.unit_problems(env):
                    where = key + self.param_key(exc, params, ref)
                    if f"{where}: {exc}" not in seen:
                        seen.add(f"{where}: {exc}")
                        self.fail(where, f"unit mismatch for subject {ref.id}: {exc}")

    def param_key(self, exc: UnitError, params: Mapping[str, Quantity], ref: SubjectRef) -> str:
        """`` (params.NAME)`` when an ambiguous bare number is the value of a param."""
        name = exc.operand if isinstance(exc, AmbiguousNumber) else ""
        if name in ref.params:
            role = "subjects" if ref.role == "subject" else "controls"
            return f" ({role}.{ref.id}.params.{name})"
        return f" (params.{name})" if name in params else ""

    def compile(self) -> Claim | None:
        raw = self.raw
        measures = self.measures()
        params = self.params("params", raw.get("params"))
        predicate = self.expr("predicate", raw["predicate"])
        guards = []
        for i, g in enumerate(raw.get("guards", [])):
            check = self.expr(f"guards[{i}].check", g["check"])
            if check is not None:
                guards.append(Guard(g["id"], check, g["check"], g.get("doc", "")))
        subjects = self.subject_refs("subjects", raw["subjects"], "subject")
        controls = self.subject_refs("controls", raw["controls"], "control")
        exprs = [("predicate", predicate)] if predicate is not None else []
        exprs += [(f"guards.{g.id}", g.check) for g in guards]
        self.check_names(measures, params, subjects + controls, exprs)
        if not self.problems:
            self.check_units(measures, params, subjects + controls, exprs)
        self.check_duplicate_subjects(subjects + controls)
        max_age = None
        if "max_age" in raw:
            try:
                max_age = parse_duration(raw["max_age"])
            except ValueError as exc:
                self.fail("max_age", str(exc))
        if self.problems or predicate is None:
            return None
        stats = raw.get("statistics", {})
        return Claim(
            id=raw["id"], title=raw["title"], statement=" ".join(raw["statement"].split()),
            area=self.area, source=self.source, milestones=tuple(raw.get("milestones", [])),
            max_age_s=max_age, measures=measures, params=params, predicate=predicate,
            predicate_text=raw["predicate"], guards=tuple(guards),
            statistics=Statistics(float(stats.get("confidence", 0.95)),
                                  bool(stats.get("decide_on_ci", False))),
            subjects=subjects, controls=controls,
            hypotheses=tuple(Hypothesis(h["id"], " ".join(h["statement"].split()),
                                        h.get("probe"), h.get("intervention"))
                             for h in raw.get("hypotheses", [])),
            paper=raw.get("paper"), declares=raw.get("declares", {}),
            sha256=sha256_text(canonical_json(raw)), raw=raw,
            external_inputs=tuple(ExternalInput(e["path"], " ".join(e["why"].split()))
                                  for e in raw.get("external_inputs", [])),
            library=self.library, criterion=bool(raw.get("criterion", False)),
            machine_bound=bool(raw.get("machine_bound", False)),
        )

    def check_duplicate_subjects(self, refs: tuple[SubjectRef, ...]) -> None:
        seen: set[str] = set()
        for ref in refs:
            if ref.id in seen:
                self.fail("subjects", f"subject {ref.id!r} is listed twice")
            seen.add(ref.id)


def _read_yaml(path: Path, data: bytes) -> tuple[Any, list[str]]:
    """The document, or the problem: bad syntax, not UTF-8, over a limit, a duplicate key."""
    try:
        return load_yaml(path, data), []
    except YamlError as exc:
        return None, [str(exc)]


@dataclass(frozen=True)
class _FileResult:
    """One contract file compiled: its area, title, claims by id (None: did not compile)."""

    area: str
    title: str
    claims: tuple[tuple[str, Claim | None], ...]
    problems: tuple[str, ...]
    decisions: tuple[Decision, ...] = ()
    families: tuple[Any, ...] = ()  # harness.family.Family


def _compile_file(path: Path, data: bytes) -> _FileResult:
    doc, errs = _read_yaml(path, data)
    if not errs and not isinstance(doc, dict):
        errs = [f"{path}: a contract file must be a YAML mapping with a 'claims' list, "
                f"got {type(doc).__name__}"]
    errs = errs or _schema_problems(doc, str(path))
    if errs:
        return _FileResult(path.stem, path.stem, (), tuple(errs))
    area = doc.get("area", path.stem)
    problems: list[str] = []
    claims = []
    for raw in doc.get("claims", []):
        compiler = _Compiler(raw, area, path)
        claims.append((raw["id"], compiler.compile()))
        problems += compiler.problems
    for i, use in enumerate(doc.get("uses", [])):
        raw, module, errs = _bound(doc, i, use, path)
        if raw is None:
            problems += errs
            continue
        compiler = _Compiler(raw, area, path, module)
        claims.append((raw["id"], compiler.compile()))
        problems += compiler.problems
    decisions = []
    for raw in doc.get("decisions", []):
        decision, errs = compile_decision(raw, path)
        problems += errs
        if decision is not None:
            decisions.append(decision)
    families = []
    for raw in doc.get("families", []):
        from harness.family import compile_family

        family, errs = compile_family(raw, path)
        problems += errs
        if family is not None:
            families.append(family)
    return _FileResult(area, doc.get("title", area), tuple(claims), tuple(problems),
                       tuple(decisions), tuple(families))


def _bound(doc: Mapping[str, Any], i: int, use: Any,
           path: Path) -> tuple[dict[str, Any] | None, str | None, list[str]]:
    """``uses[i]`` as a claim mapping: the library definition with the project's binding."""
    from harness.library import bind, library_claims

    binding = {"claim": use} if isinstance(use, str) else dict(use)
    claim_id = binding["claim"]
    known = library_claims()
    definition = known.get(claim_id)
    if definition is None:
        close = difflib.get_close_matches(claim_id, list(known), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        msg = (f"{path}: key uses[{i}]: {claim_id!r} is not a library claim; {hint}the library "
               f"has {', '.join(sorted(known))} (falsify init --list shows them with their "
               f"subject kinds)")
        return None, None, [msg]
    for key in ("subjects", "controls"):
        if key not in binding and key in doc:
            binding[key] = doc[key]
    if not binding.get("subjects"):
        msg = (f"{path}: key uses[{i}] ({claim_id}): no subjects; bind it with "
               f"`- claim: {claim_id}` and `subjects: [ID, ...]`, or set subjects: at the top "
               f"of the file (its falsifier takes subjects of kind "
               f"{' or '.join(definition.kinds) or 'any'})")
        return None, None, [msg]
    if not binding.get("controls"):
        msg = (f"{path}: key uses[{i}] ({claim_id}): no negative control; every claim needs one "
               f"(`controls: [{{subject: ID, expect: FAIL}}]`: a subject the claim must fail on, "
               f"to show the falsifier can fail)")
        return None, None, [msg]
    return bind(definition, binding), definition.module, []


# --- the compile cache: YAML, schema and compile cost about 1 ms per claim ------------------

_CACHE_FORMAT = 3  # 2: decisions; 3: families


@cache
def _code_tag() -> bytes:
    """What a compiled file depends on besides its bytes: this code, the schema, Python."""
    digest = hashlib.sha256(f"{_CACHE_FORMAT}:{sys.version_info[:2]}".encode())
    here = Path(__file__).parent
    for name in ("contracts.py", "decisions.py", "family.py", "safeyaml.py", "expr.py",
                 "expr_eval.py", "expr_vec.py", "vectors.py",
                 "units.py", "records.py",
                 "schema/claim.schema.json"):
        digest.update((here / name).read_bytes())
    for path in sorted((here / "library" / "claims").glob("*.yaml")):  # what uses: binds to
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


def _cache_path(cache_dir: Path, path: Path) -> Path:
    tag = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return cache_dir / f"{tag}-{path.stem}.pickle"


def _load_file(path: Path, cache_dir: Path | None) -> _FileResult:
    """``path`` compiled, from ``cache_dir`` while its bytes and this code are unchanged.

    Only files without problems are cached, so every error is reported fresh. The cache is
    only a cache: an unreadable or foreign entry is compiled again and overwritten.
    """
    try:
        data = read_capped(path)
    except YamlError as exc:
        return _FileResult(path.stem, path.stem, (), (str(exc),))
    if cache_dir is None:
        return _compile_file(path, data)
    key = hashlib.sha256(_code_tag() + str(path.resolve()).encode() + b"\0" + data).digest()
    cached = _cache_path(cache_dir, path)
    try:
        saved_key, result = pickle.loads(cached.read_bytes())
        if saved_key == key and isinstance(result, _FileResult):
            return result
    except Exception:  # any unreadable cache entry means: compile again
        pass
    result = _compile_file(path, data)
    if not result.problems:
        save_cache(cached, pickle.dumps((key, result), protocol=pickle.HIGHEST_PROTOCOL))
    return result


def load_contracts(contracts_dir: Path, cache_dir: Path | None = None) -> ContractSet:
    """Every claim in ``contracts_dir/*.yaml``; raises ContractError listing every problem.

    ``cache_dir``: where compiled files are kept between runs (keyed by each file's bytes and
    this code); None compiles every file.
    """
    problems: list[str] = []
    claims: dict[str, Claim] = {}
    areas: dict[str, tuple[str, ...]] = {}
    titles: dict[str, str] = {}
    decisions: dict[str, Decision] = {}
    families: dict[str, Any] = {}
    files = sorted(contracts_dir.glob("*.yaml")) + sorted(contracts_dir.glob("*.yml"))
    if not files:
        msg = (f"{contracts_dir}: no contracts (*.yaml) found; write one "
               f"(see README: Writing a claim)")
        raise ContractError([msg])
    for path in files:
        result = _load_file(path, cache_dir)
        problems += result.problems
        if not result.claims and result.problems:
            continue
        titles[result.area] = result.title
        ids: list[str] = []
        for claim_id, claim in result.claims:
            if claim_id in claims or claim_id in ids:
                other = claims[claim_id].source if claim_id in claims else path
                problems.append(f"{path}: claim {claim_id}: key id: duplicate claim id "
                                f"(also in {other}); claim ids must be unique")
                continue
            if claim is not None:
                claims[claim.id] = claim
                ids.append(claim.id)
        areas[result.area] = areas.get(result.area, ()) + tuple(ids)
        for decision in result.decisions:
            if decision.id in decisions:
                problems.append(f"{path}: decision {decision.id}: key id: duplicate decision id "
                                f"(also in {decisions[decision.id].source})")
            decisions[decision.id] = decision
        for family in result.families:
            if family.id in families:
                problems.append(f"{path}: family {family.id}: key id: duplicate family id "
                                f"(also in {families[family.id].source})")
            families[family.id] = family
    if not problems:
        from harness.family import cross_check_families

        problems += cross_check(decisions, claims) + cross_check_families(families, claims)
    if problems:
        raise ContractError(problems)
    return ContractSet(claims, areas, titles, decisions, families)


def valid_id(text: str) -> bool:
    return bool(_ID.match(text))
