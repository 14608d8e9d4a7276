"""Which function measures a claim over a run's log: the registry the live checks look claims up in.

A measure function takes the :class:`~harness.evidence.Evidence` of one (claim, run) and the
run's :class:`~harness.runs.logs.RunLog`, and records measurements and notes on the evidence; the
contract judges. The same functions serve the pytest falsifiers, which read a finished log from
disk, and the checks a run makes of itself while it trains (an in-memory log), so a verdict during
training and one after it are one computation.

Modules that define such functions publish them as ``MEASURES: dict[claim id, function]``;
:data:`PROVIDERS` lists the modules of falsify's own claims, imported on first use. A project adds
its own with :func:`register` (or the ``measures=`` argument of ``LiveClaims``).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.evidence import Evidence
    from harness.runs.logs import RunLog

__all__ = ["PRELOAD", "PROVIDERS", "MeasureFn", "measures", "preload", "register"]

MeasureFn = Callable[["Evidence", "RunLog"], None]

# Modules whose MEASURES table holds falsify's run-log claims: training curves, run cards.
PROVIDERS = ("harness.runs.curves", "harness.runs.runcards")

_REGISTERED: dict[str, MeasureFn] = {}


def register(claim_id: str, fn: MeasureFn) -> None:
    """Make ``fn`` the measure function of ``claim_id`` for live checks in this process."""
    known = measures()
    if claim_id in known and known[claim_id] is not fn:
        msg = (f"claim {claim_id} already has a measure function "
               f"({known[claim_id].__module__}.{known[claim_id].__qualname__}); a claim is "
               f"measured one way, so register it once")
        raise ValueError(msg)
    _REGISTERED[claim_id] = fn


def _provided(module_name: str) -> Mapping[str, MeasureFn]:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # this installation has no such claims: nothing to add
            return {}
        raise
    table = getattr(module, "MEASURES", None)
    if not isinstance(table, Mapping):
        msg = f"{module_name} has no MEASURES table (claim id -> measure function)"
        raise TypeError(msg)
    return table


def measures() -> dict[str, MeasureFn]:
    """Every known claim id -> measure function: the providers' tables, then registered ones."""
    found: dict[str, MeasureFn] = {}
    for module_name in PROVIDERS:
        for claim_id, fn in _provided(module_name).items():
            if claim_id in found and found[claim_id] is not fn:
                msg = f"claim {claim_id} has measure functions in two modules ({module_name})"
                raise ValueError(msg)
            found[claim_id] = fn
    return {**found, **_REGISTERED}


# What a provider's measures import on first use, by module: scipy.stats costs about 2.5 s.
# Kept here rather than in the providers: a provider's source is the code identity of its
# records, so a table there would make their evidence stale for no change in what they measure.
PRELOAD: dict[str, tuple[str, ...]] = {"harness.runs.curves": ("scipy.stats",)}


def preload(fns: list[MeasureFn]) -> None:
    """Import what :data:`PRELOAD` (or a module's own ``PRELOAD`` tuple) names for the modules
    of ``fns``: heavy imports their measures make on first use. Run in a background thread by
    ``LiveClaims``: the import then overlaps the run's first steps instead of stalling its first
    check. Import errors are left for the measure itself to raise, where they become the
    verdict."""
    import sys

    for module_name in sorted({fn.__module__ for fn in fns}):
        module = sys.modules.get(module_name)
        names = (*PRELOAD.get(module_name, ()), *getattr(module, "PRELOAD", ()))
        for name in names:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
