"""Paired arguments are keyword-only across the public API, and a positional call names them.

The test walks every module of ``harness`` and every name in its ``__all__``: a function, a
public method or a constructor that takes an order-sensitive pair (hyps/refs, edits/ref_chars,
a/b, x_a/x_b, before/after, value/reference, loaded/stored, ...) must take the pair by keyword
only. A new public function with a positional pair fails here, so the class stays closed.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import jiwer
import pytest
from hypothesis import given
from hypothesis import strategies as st

import harness
from harness.keywords import paired_parameters
from harness.metrics.text import TextPolicy, corpus_cer


def _public_callables() -> Iterator[tuple[str, Callable[..., Any], Callable[..., Any]]]:
    """(name, what to call, its signature's function) for every public function and class."""
    for info in pkgutil.walk_packages(harness.__path__, "harness."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if inspect.isfunction(obj):
                yield f"{info.name}.{name}", obj, obj
            elif inspect.isclass(obj) and obj.__module__ == info.name:
                for attr, value in vars(obj).items():
                    if inspect.isfunction(value) and (attr == "__init__"
                                                      or not attr.startswith("_")):
                        call = obj if attr == "__init__" else value
                        yield f"{info.name}.{name}.{attr}", call, value


PUBLIC = sorted(_public_callables(), key=lambda t: t[0])
WITH_PAIRS = [(name, call, fn) for name, call, fn in PUBLIC
              if paired_parameters(list(inspect.signature(fn).parameters))]


def test_the_enumeration_sees_the_api() -> None:
    names = {name for name, _, _ in WITH_PAIRS}
    assert {"harness.metrics.text.corpus_cer", "harness.metrics.stats.paired_bootstrap",
            "harness.runs.snapshot.snapshot_difference",
            "harness.bisect.layers.compare_layers"} <= names
    assert len(PUBLIC) > 300


@pytest.mark.parametrize(("name", "call", "fn"), WITH_PAIRS, ids=[n for n, _, _ in WITH_PAIRS])
def test_every_paired_parameter_is_keyword_only(name: str, call: Callable[..., Any],
                                                fn: Callable[..., Any]) -> None:
    params = inspect.signature(fn).parameters
    pairs = paired_parameters(list(params))
    positional = sorted(p for p in pairs if params[p].kind is not inspect.Parameter.KEYWORD_ONLY)
    assert not positional, f"{name} takes {positional} positionally; put them after '*'"


@pytest.mark.parametrize(("name", "call", "fn"), WITH_PAIRS, ids=[n for n, _, _ in WITH_PAIRS])
def test_a_positional_call_names_the_keywords(name: str, call: Callable[..., Any],
                                              fn: Callable[..., Any]) -> None:
    params = inspect.signature(fn).parameters
    pairs = sorted(paired_parameters(list(params)))
    method = "." in fn.__qualname__ and fn.__name__ != "__init__"
    n_positional = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params.values()) - method
    with pytest.raises(TypeError, match="by keyword only") as info:
        call(*[None] * (n_positional + len(pairs)))
    for key in pairs:
        assert f"{key}=" in str(info.value)


def test_the_issue_case_corpus_cer_positional() -> None:
    with pytest.raises(TypeError, match=r"corpus_cer\(\) takes hyps=, refs= by keyword only"):
        corpus_cer(["a b c"], ["a b d"])  # type: ignore[misc]


@given(rows=st.lists(st.tuples(st.text("abcde", min_size=1, max_size=12),
                               st.text("abcde", min_size=1, max_size=12)), min_size=1,
                     max_size=8))
def test_by_keyword_corpus_cer_is_jiwers_cer_whatever_the_order_written(
        rows: list[tuple[str, str]]) -> None:
    """jiwer.cer(reference=, hypothesis=) and corpus_cer(refs=, hyps=) agree, in any order."""
    hyps, refs = [h for h, _ in rows], [r for _, r in rows]
    policy = TextPolicy("none", "keep")
    ours = corpus_cer(refs=refs, hyps=hyps, policy=policy).cer
    assert ours == pytest.approx(jiwer.cer(reference=refs, hypothesis=hyps))
