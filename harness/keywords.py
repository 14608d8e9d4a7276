"""Paired arguments are keyword-only across the public API, with an error that names them.

``corpus_cer(hyps, refs)`` and jiwer's ``cer(reference, hypothesis)`` take the same two lists
in opposite orders; swapped positionally, they give a different denominator and a plausible,
wrong CER, silently. Every public function that takes such a pair (hypotheses and references,
edits and reference characters, run a and run b, a value and its reference, what was loaded
and what was stored) takes it by keyword only. A plain ``*`` would answer a positional call with
Python's generic "takes 0 positional arguments"; :func:`paired` answers with the keywords to
write. ``tests/harness/test_keywords.py`` enumerates the public API and keeps the class closed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

__all__ = ["PAIRED_NAMES", "paired", "paired_fields", "paired_parameters"]

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)

# Names that come in pairs whose order means something; a parameter ending in _a/_b (or named
# a/b) pairs with its sibling. Used by the test that enumerates the public API.
PAIRED_NAMES: tuple[tuple[str, str], ...] = (
    ("hyp", "ref"), ("hyps", "refs"), ("hypothesis", "reference"), ("edits", "ref_chars"),
    ("a", "b"), ("before", "after"), ("old", "new"), ("value", "reference"),
    ("loaded", "stored"), ("got", "want"), ("expected", "actual"),
)


def paired_parameters(names: list[str]) -> set[str]:
    """The members of ``names`` that belong to an order-sensitive pair."""
    present = set(names)
    found = {x for pair in PAIRED_NAMES if set(pair) <= present for x in pair}
    for name in names:
        for a, b in (("_a", "_b"), ("a_", "b_")):
            stem = name.removesuffix(a) if a.startswith("_") else name.removeprefix(a)
            if stem != name:
                twin = stem + b if b.startswith("_") else b + stem
                if twin in present:
                    found |= {name, twin}
    return found


def paired(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` (whose paired parameters follow a ``*``) refusing positional pairs by name."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    pairs = paired_parameters([p.name for p in params])
    keywords = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name in pairs]
    name = fn.__qualname__.removesuffix(".__init__")
    call = f"{name.rsplit('.', 1)[-1]}({', '.join(f'{k}=...' for k in keywords)}, ...)"

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if len(args) > positional:
            msg = (f"{name}() takes {', '.join(k + '=' for k in keywords)} by keyword only, "
                   f"so that a pair cannot be swapped silently; call it as {call}")
            raise TypeError(msg)
        return fn(*args, **kwargs)

    return wrapper


def paired_fields(cls: C) -> C:
    """A ``kw_only`` dataclass whose constructor refuses positional pairs by name."""
    init = vars(cls)["__init__"]
    setattr(cls, "__init__", paired(init))  # noqa: B010  (mypy: no assignment to a method)
    return cls
