"""Thinking spans measured from live generation, and the span arithmetic under them.

The class of failure: a budget claim that counts the wrong tokens (the markers, the answer, the
prompt), misses a runaway span, or calls a span the model ended with end-of-sequence answered.
The property test builds generations from their parts and checks every count.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.demo.build import Builder
from harness.demo.reasoning import REASONING_RECIPE, THINK, prompts_dir, reasoner_dir
from harness.metrics.reasoning import load_reasoner, think_span
from harness.workspace import SubjectSpec, Workspace, WorkspaceError

START, END, EOS = 100, 101, 1
PLAIN = st.integers(2, 99)  # tokens that are neither marker nor end-of-sequence


@given(before=st.lists(PLAIN, max_size=5), thinking=st.lists(PLAIN, max_size=40),
       answer=st.lists(PLAIN, max_size=5), stop=st.sampled_from(["closed", "eos", "length"]),
       in_prompt=st.booleans())
def test_spans_count_only_what_is_inside(before, thinking, answer, stop, in_prompt):
    prompt = [*before, START] if in_prompt else before
    generated = thinking if in_prompt else [*before, START, *thinking]
    if stop == "closed":
        generated = [*generated, END, *answer, EOS]
    elif stop == "eos":
        generated = [*generated, EOS]
    count, how, answered = think_span(prompt, generated, START, END, EOS)
    assert count == len(thinking)
    assert how == stop
    assert answered == (stop == "closed" and bool(answer))


def test_no_span_opened_is_zero_and_a_runaway():
    assert think_span([5, 6], [7, 8, 9], START, END, EOS) == (0, "length", False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("reasoner")
    builder = Builder(root / "cache")
    small = replace(REASONING_RECIPE, sequences=300, steps=60)
    model = reasoner_dir(builder, "unfixed", small)
    prompts = prompts_dir(builder, small) / "prompts.txt"
    config = {"subjects": {
        "m": {"kind": "model", "path": str(model), "backend": "torch"},
        "t": {"kind": "reasoner", "model": "m", "prompts": str(prompts), "max_new_tokens": 60}}}
    return Workspace(root, config, root / "pyproject.toml")


def _reasoner(ws: Workspace, **options: object):
    spec = SubjectSpec("t", "reasoner", {**ws.config["subjects"]["t"], **options})
    return load_reasoner(spec, ws)


def test_a_forced_budget_bounds_every_span_and_a_seed_repeats(workspace):
    free = _reasoner(workspace, seed=3).spans()
    assert len(free) == 48
    assert free == _reasoner(workspace, seed=3).spans()  # seeded sampling repeats
    forced = _reasoner(workspace, seed=3, force_budget=5).spans()
    assert max(s.thinking for s in forced) <= 5
    assert all(s.stop != "length" for s in forced if s.forced)
    assert any(s.forced for s in forced)
    greedy = _reasoner(workspace, temperature=0).spans()
    assert greedy == _reasoner(workspace, temperature=0, seed=9).spans()  # no sampling


def test_config_mistakes_are_named(workspace, tmp_path: Path):
    for options, message in (({"think": ["<think>"]}, "think must be"),
                             ({"temperature": -1}, "temperature must be"),
                             ({"max_new_tokens": 0}, "max_new_tokens must be"),
                             ({"force_budget": "ten"}, "force_budget must be")):
        with pytest.raises(WorkspaceError, match=message) as err:
            _reasoner(workspace, **options)
        assert "[tool.falsify.subjects.t]" in str(err.value)
    two_tokens = _reasoner(workspace, think=["<think> so", "</think>"])
    with pytest.raises(WorkspaceError, match="is 2 tokens"):
        two_tokens.spans()
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", "utf-8")
    with pytest.raises(WorkspaceError, match="no prompts"):
        _reasoner(workspace, prompts=str(empty)).spans()
    assert THINK == "<think>"
