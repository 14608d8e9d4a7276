"""Contract and measurement mutants: realistic defects re-judged on a claim's real measurements.

Two layers of the operator library live here (input mutants, which need the live subject, are in
:mod:`harness.mutate.inputs`):

- contract mutants change the loaded :class:`~harness.contracts.Claim`:
  ``drop-guard:<id>`` removes one guard; ``flip:<comparison>`` negates one comparison of the
  predicate (``a < b`` becomes ``not (a < b)``, i.e. ``a >= b``; a chain or a ``between`` is
  negated whole).
- measurement mutants change what a falsifier recorded, as a defect in its code would:
  ``swap-unit:nats->bits`` (and ``bits->nats``, ``ratio->percent``, ``percent->ratio``) relabels
  the unit of every measurement the claim judges in that unit, value unchanged (the right number
  under the wrong name); ``value-in:bits`` (and the other three) keeps the declared unit but
  records the number as computed in the other one (log2 where ln was meant: "ln(151643) =
  17.21"; a percentage written as a ratio); ``zero-n`` records every non-count measurement the
  predicate reads with ``n = 0`` (a rate over nothing).

What "killed" means is written beside each class in :func:`kill_rule` and docs/INTERNALS.md.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from harness.contracts import Claim
from harness.expr import Expr, parse
from harness.records import Measurement
from harness.units import parse_unit

__all__ = [
    "UNIT_SWAPS",
    "Layer",
    "Mutant",
    "comparisons",
    "contract_mutants",
    "flip_text",
    "kill_rule",
    "measurement_mutants",
]

# (declared unit, the unit a defect labels it with): the field's classic slips.
UNIT_SWAPS: tuple[tuple[str, str], ...] = (
    ("nats", "bits"), ("bits", "nats"), ("ratio", "percent"), ("percent", "ratio"))


class Layer(enum.StrEnum):
    CONTRACT = "contract"
    MEASUREMENT = "measurement"
    INPUT = "input"


@dataclass(frozen=True)
class Mutant:
    """One defect: a stable id (what a contract's ``mutation.limitations`` names), its operator,
    the layer it changes, and what it does in words."""

    id: str
    operator: str
    layer: Layer
    description: str


def kill_rule(layer: Layer) -> str:
    """When a mutant of ``layer`` counts as killed, in words (shown with every result)."""
    if layer is Layer.CONTRACT:
        return ("re-judged on the baseline records of every subject and control that met its "
                "expectation (subjects PASS, controls their expected verdict), the mutated "
                "contract misses one of them")
    if layer is Layer.MEASUREMENT:
        return ("re-judged by the claim's own contract, the mutated measurements of a subject "
                "that PASSed no longer PASS")
    return "the falsifier, run live on the mutated copy of a subject that PASSed, does not PASS"


# --- contract mutants ---------------------------------------------------------------------------


def _walk(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(current.children())))


def comparisons(expr: Expr) -> list[tuple[int, str]]:
    """(position, source text) of every comparison in ``expr``, in reading order.

    The parse tree is :mod:`harness.expr`'s own; a comparison node is the one with ``ops``.
    """
    found = [(n.pos, n.src) for n in _walk(expr.root) if getattr(n, "ops", None)]
    return sorted(found)


def flip_text(text: str, pos: int, src: str) -> str:
    """``text`` with the comparison ``src`` at ``pos`` negated."""
    if text[pos:pos + len(src)] != src:
        msg = f"comparison {src!r} is not at column {pos + 1} of {text!r}"
        raise ValueError(msg)
    return f"{text[:pos]}not ({src}){text[pos + len(src):]}"


def _unique(ids: list[str], base: str) -> str:
    if base not in ids:
        return base
    k = 2
    while f"{base}#{k}" in ids:
        k += 1
    return f"{base}#{k}"


def contract_mutants(claim: Claim) -> list[tuple[Mutant, Claim]]:
    """Every contract mutant of ``claim`` with the mutated claim (same id and sha256: the
    mutated claim is never recorded as the claim)."""
    out: list[tuple[Mutant, Claim]] = []
    ids: list[str] = []
    for guard in claim.guards:
        mid = _unique(ids, f"drop-guard:{guard.id}")
        ids.append(mid)
        kept = tuple(g for g in claim.guards if g is not guard)
        out.append((Mutant(mid, "drop-guard", Layer.CONTRACT,
                           f"guard {guard.id} ({guard.text.strip()}) removed"),
                    replace(claim, guards=kept)))
    text = claim.predicate.text
    for pos, src in comparisons(claim.predicate):
        words = " ".join(src.split())
        mid = _unique(ids, f"flip:{words}")
        ids.append(mid)
        flipped = flip_text(text, pos, src)
        out.append((Mutant(mid, "flip-comparison", Layer.CONTRACT,
                           f"predicate comparison {words} negated"),
                    replace(claim, predicate=parse(flipped), predicate_text=flipped)))
    return out


# --- measurement mutants ------------------------------------------------------------------------

Transform = Callable[[Sequence[Measurement]], list[Measurement]]


def _used(claim: Claim) -> set[str]:
    names = set(claim.predicate.names())
    for guard in claim.guards:
        names |= guard.check.names()
    return names & set(claim.measures)


def _relabel(names: set[str], old: str, new: str) -> Transform:
    def apply(ms: Sequence[Measurement]) -> list[Measurement]:
        return [replace(m, unit=new) if m.name in names and parse_unit(m.unit).name == old
                else m for m in ms]
    return apply


def _rescale(names: set[str], old: str, new: str) -> Transform:
    scale = parse_unit(old).factor / parse_unit(new).factor

    def apply(ms: Sequence[Measurement]) -> list[Measurement]:
        out = []
        for m in ms:
            if m.name in names and parse_unit(m.unit).name == old:
                ci = None if m.ci is None else (m.ci[0] * scale, m.ci[1] * scale)
                m = replace(m, value=m.value * scale, ci=ci)
                if m.values is not None:
                    m = replace(m, values=tuple(v * scale for v in m.values),
                                cis=None if m.cis is None else tuple(
                                    None if c is None else (c[0] * scale, c[1] * scale)
                                    for c in m.cis))
            out.append(m)
        return out
    return apply


def _zero_n(names: set[str]) -> Transform:
    def apply(ms: Sequence[Measurement]) -> list[Measurement]:
        return [replace(m, n=0) if m.name in names else m for m in ms]
    return apply


def measurement_mutants(claim: Claim) -> list[tuple[Mutant, Transform]]:
    """The measurement mutants that apply to ``claim``: only measurements its predicate or
    guards read are touched (a change nothing reads cannot change a verdict: an equivalent
    mutant, left out)."""
    used = _used(claim)
    out: list[tuple[Mutant, Transform]] = []
    for old, new in UNIT_SWAPS:
        names = {n for n in used if claim.measures[n].unit == old}
        if names:
            shown = ", ".join(sorted(names))
            out.append((Mutant(f"swap-unit:{old}->{new}", "swap-unit", Layer.MEASUREMENT,
                               f"{shown} labelled {new}, the value still in {old}"),
                        _relabel(names, old, new)))
            out.append((Mutant(f"value-in:{new}", "value-in", Layer.MEASUREMENT,
                               f"{shown} computed in {new}, labelled {old}"),
                        _rescale(names, old, new)))
    rates = {n for n in claim.predicate.names() & set(claim.measures)
             if claim.measures[n].unit != "count"}
    if rates:
        shown = ", ".join(sorted(rates))
        out.append((Mutant("zero-n", "zero-n", Layer.MEASUREMENT,
                           f"{shown} recorded with n = 0 (a rate over nothing)"),
                    _zero_n(rates)))
    return out
