"""The probe and intervention registries, filled by decorators.

A probe asks whether a hypothesis's condition is present in a live subject; it records what it
measured on the ``evidence`` it is handed and returns a :class:`Finding` (CONFIRMED, REFUTED or
INCONCLUSIVE, with reasons in words). An intervention removes the condition from the loaded
subject, in place, and returns a sentence saying what it changed. Contracts name them::

    hypotheses:
      - id: H4A
        statement: the tied lm_head was not tied after load
        probe: tied_weights
        intervention: retie_head

Built-ins live in this package; a workspace adds its own with ``[tool.falsify] probes =
["my_project.probes"]`` (modules imported before lookup).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from harness.records import Status

if TYPE_CHECKING:
    from harness.evidence import Evidence
    from harness.probes.context import ProbeContext

__all__ = [
    "BUILTIN_MODULES",
    "INTERVENTIONS",
    "PROBES",
    "Finding",
    "InterventionError",
    "ProbeUnsupported",
    "RegistryError",
    "get_intervention",
    "get_probe",
    "intervention",
    "probe",
]

BUILTIN_MODULES = ("harness.probes.weights", "harness.probes.norms", "harness.probes.residual",
                   "harness.probes.attention", "harness.probes.corpus")


class RegistryError(LookupError):
    """A probe or intervention name that nothing registered."""


class ProbeUnsupported(Exception):
    """The probe cannot look at this subject (wrong kind, backend, architecture): INCONCLUSIVE."""


class InterventionError(RuntimeError):
    """The intervention cannot remove the condition from this subject; says why."""


@dataclass(frozen=True)
class Finding:
    """A probe's answer: is the hypothesis's condition present in the subject?"""

    status: Status
    reasons: tuple[str, ...]

    @classmethod
    def confirmed(cls, *reasons: str) -> Finding:
        return cls(Status.CONFIRMED, reasons)

    @classmethod
    def refuted(cls, *reasons: str) -> Finding:
        return cls(Status.REFUTED, reasons)

    @classmethod
    def inconclusive(cls, *reasons: str) -> Finding:
        return cls(Status.INCONCLUSIVE, reasons)


ProbeFn = Callable[["ProbeContext", "Evidence"], Finding]
InterventionFn = Callable[["ProbeContext"], str]
F = TypeVar("F", bound=Callable[..., Any])

PROBES: dict[str, ProbeFn] = {}
INTERVENTIONS: dict[str, InterventionFn] = {}


def _register(table: dict[str, Any], kind: str, name: str) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        existing = table.get(name)
        if existing is not None and existing is not fn:
            msg = (f"{kind} {name!r} is registered twice ({existing.__module__}."
                   f"{existing.__qualname__} and {fn.__module__}.{fn.__qualname__}); rename one")
            raise ValueError(msg)
        table[name] = fn
        return fn

    return decorate


def probe(name: str) -> Callable[[F], F]:
    """Register ``fn(ctx, evidence) -> Finding`` as the probe ``name``."""
    return _register(PROBES, "probe", name)


def intervention(name: str) -> Callable[[F], F]:
    """Register ``fn(ctx) -> str`` (what it changed) as the intervention ``name``."""
    return _register(INTERVENTIONS, "intervention", name)


def load_modules(extra: Iterable[str] = ()) -> None:
    """Import the built-in probe modules and ``extra`` ones, which register on import."""
    for module in (*BUILTIN_MODULES, *extra):
        importlib.import_module(module)


def _lookup(table: dict[str, Any], kind: str, name: str, extra: Iterable[str]) -> Any:
    load_modules(extra)
    if name not in table:
        msg = (f"no {kind} named {name!r}; registered: {', '.join(sorted(table)) or 'none'}. "
               f"Register one with @harness.probes.{kind}({name!r}) in a module listed under "
               f"[tool.falsify] probes")
        raise RegistryError(msg)
    return table[name]


def get_probe(name: str, extra: Iterable[str] = ()) -> ProbeFn:
    fn: ProbeFn = _lookup(PROBES, "probe", name, extra)
    return fn


def get_intervention(name: str, extra: Iterable[str] = ()) -> InterventionFn:
    fn: InterventionFn = _lookup(INTERVENTIONS, "intervention", name, extra)
    return fn
