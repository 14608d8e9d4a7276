"""The README's code blocks are true: its marked example runs as written, every other block parses.

The example (the blocks marked ``<!-- falsify:example NAME -->``) is written into a fresh project
and run with ``pytest -m live`` in a child process against the demo subjects, sharing the demo
build of this checkout's tests; the verdicts are read back from the ledger it wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import harness.api
from harness.contracts import load_contracts
from harness.ledger import Ledger
from tests.harness.readme_blocks import Block, block_problems, blocks, stray_markers

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/API.md", "docs/INTERNALS.md")
ALL_BLOCKS = [(doc, b) for doc in DOCS for b in blocks((ROOT / doc).read_text("utf-8"))]
EXAMPLES = sorted({(doc, b.example) for doc, b in ALL_BLOCKS if b.example})


@pytest.mark.parametrize(("doc", "block"), ALL_BLOCKS,
                         ids=[f"{d}:{b.line}-{b.lang or 'text'}" for d, b in ALL_BLOCKS])
def test_block_parses(doc: str, block: Block) -> None:
    """Every python, toml and yaml block parses and holds only what the code accepts."""
    assert block_problems(block, doc) == []


@pytest.mark.parametrize("doc", DOCS)
def test_markers_stand_before_blocks(doc: str) -> None:
    """A marker whose block moved away would silently stop the block from being run."""
    assert stray_markers((ROOT / doc).read_text("utf-8")) == []


def test_readme_has_a_runnable_example() -> None:
    """The README's falsifier example is marked, so it is run below."""
    langs = {b.lang for d, b in ALL_BLOCKS if d == "README.md" and b.example}
    assert {"yaml", "python"} <= langs


def _write_project(root: Path, name: str, parts: list[Block]) -> None:
    (root / "contracts").mkdir(parents=True)
    (root / "falsifiers").mkdir()
    config = root / "falsify.toml"
    config.write_text("", encoding="utf-8")
    for i, block in enumerate(parts):
        if block.lang == "yaml":
            (root / "contracts" / f"{name}-{i}.yaml").write_text(block.code, encoding="utf-8")
        elif block.lang == "python":
            (root / "falsifiers" / f"test_{name}_{i}.py").write_text(block.code, encoding="utf-8")
        elif block.lang == "toml":
            target = root / ("pyproject.toml" if "[tool.falsify" in block.code else "falsify.toml")
            target.write_text(block.code, encoding="utf-8")
            if target.name == "pyproject.toml":
                config.unlink()


def _run_live(project: Path, ledger: Path) -> subprocess.CompletedProcess[str]:
    plugin: list[str] = []
    if not any(ep.value == "harness.plugin" for ep in entry_points(group="pytest11")):
        plugin = ["-p", "harness.plugin"]  # not installed as a package: name the plugin
    # The environment is inherited: the child finds the demo build every test of this checkout
    # uses (the machine's shared demo cache, or $FALSIFY_CACHE's when that is set).
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "falsifiers", "-m", "live", f"--ledger={ledger}",
         f"--rootdir={project}", "-p", "no:cacheprovider", "-q", *plugin],
        cwd=project, env=env, capture_output=True, text=True, check=False, timeout=1800)


@pytest.mark.parametrize(("doc", "name"), EXAMPLES, ids=[f"{d}:{n}" for d, n in EXAMPLES])
def test_example_runs_as_written(doc: str, name: str, tmp_path: Path) -> None:
    """The example's claim and falsifier, copied verbatim into a new project, get the verdicts
    the claim asks for: PASS on every subject, each control its expected verdict."""
    parts = [b for d, b in ALL_BLOCKS if d == doc and b.example == name]
    project, ledger = tmp_path / "project", tmp_path / "ledger"
    _write_project(project, name, parts)
    ledger.mkdir()
    out = _run_live(project, ledger)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    claims = load_contracts(project / "contracts").claims.values()
    expected = {(c.id, ref.id): "PASS" if ref.expect is None else ref.expect.value
                for c in claims for ref in c.all_subjects}
    latest = Ledger(ledger).latest()
    assert {key: s.verdict.value for key, s in latest.items()} == expected


# --- the checks themselves catch the class of stale snippets ---------------------------------

OLD_FALSIFIER = '''import pytest

pytestmark = pytest.mark.live


@pytest.mark.claim("LM-VAL-BELOW-UNIFORM")
def test_val_below_uniform(evidence, subject, workspace):
    model = workspace.resolve(subject.id)
    stats = heldout_nll(model, workspace.resolve("demo-eng-dev"))
    evidence.measure("val_nll", stats.mean_nll, unit="nats", n=stats.n_tokens)
'''

_IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)


@settings(max_examples=25, deadline=None)
@given(public=st.lists(st.sampled_from(sorted(harness.api.__all__)), min_size=1, max_size=5,
                       unique=True),
       stale=st.one_of(st.none(), _IDENT.filter(lambda n: n not in harness.api.__all__)))
@example(public=["Evidence"], stale="heldout_nll")
def test_python_names_must_be_public(public: list[str], stale: str | None) -> None:
    """An import of a name harness.api does not export is named; public names pass."""
    names = [*public, *([stale] if stale else [])]
    code = f"from harness.api import {', '.join(names)}\n\nprint({', '.join(names)})\n"
    problems = block_problems(Block("python", code, 7), "README.md")
    assert problems == ([] if stale is None else
                        [f"README.md:7: python block line 1: harness.api has no public name "
                         f"{stale!r} (see docs/API.md)"])


@pytest.mark.parametrize(("code", "fragment", "needle"), [
    (OLD_FALSIFIER, False, "Undefined name `heldout_nll`"),  # the README's old example
    ("from harness.metrics.lm import evalset_nll\n", False, "imports from harness.metrics.lm"),
    ("import harness.models\n", True, "imports harness.models"),
    ("def f(:\n", True, "python block line 1"),
])
def test_stale_python_is_named(code: str, fragment: bool, needle: str) -> None:
    """A python block that calls what nothing defines, or imports past the API, fails."""
    problems = block_problems(Block("python", code, 3, None, fragment), "README.md")
    assert any(needle in p for p in problems), problems


def test_fragment_may_use_names_defined_elsewhere() -> None:
    """A block marked as a fragment only has to compile and import from harness.api."""
    code = 'evidence.measure("val_nll", stats.mean_nll, unit="nats")\n'
    assert block_problems(Block("python", code, 1, None, True), "R.md") == []
    assert block_problems(Block("python", code, 1), "R.md") != []


@pytest.mark.parametrize(("lang", "code", "needle"), [
    ("toml", '[tool.falsify.subjects.m]\nkind = "model"\npaht = "/m"\n', "paht"),
    ("toml", '[subjects.m]\nkind = "modle"\npath = "/m"\n', "modle"),
    ("toml", "[subjects.m\n", "toml block"),
    ("yaml", "claims:\n  - id: X\n    predicate: val_nll < 17.21\n", "claim block"),
    ("yaml", "a: [1\n", "not valid YAML"),
])
def test_stale_config_and_claims_are_named(lang: str, code: str, needle: str) -> None:
    """A config block the schema refuses, or a claim block the contracts loader refuses, fails."""
    problems = block_problems(Block(lang, code, 5), "README.md")
    assert any(needle in p for p in problems), problems


# Anything but a fence character, NUL (CommonMark replaces it) and line breaks.
_NOT_IN_LINE = "`~\x00\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_CODE_LINE = st.text(st.characters(codec="utf-8", exclude_characters=_NOT_IN_LINE), max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["python", "yaml", "toml", "bash", ""]),
                          st.lists(_CODE_LINE, max_size=4),
                          st.sampled_from([None, "example claim", "example other", "fragment"])),
                max_size=6))
def test_blocks_are_found_with_their_markers(
        spec: list[tuple[str, list[str], str | None]]) -> None:
    """Every fenced block is extracted with its language, text, line and marker, in order."""
    text, want = ["# t\n\nSome words.\n"], []
    for lang, lines, marker in spec:
        text.append("\n" + (f"<!-- falsify:{marker} -->\n" if marker else ""))
        line = "".join(text).count("\n") + 1
        code = "".join(f"{ln}\n" for ln in lines)
        text.append(f"```{lang}\n{code}```\n\nA paragraph.\n")
        example = marker.split()[1] if marker and marker.startswith("example") else None
        want.append(Block(lang, code, line, example, marker == "fragment"))
    assert blocks("".join(text)) == want
    assert stray_markers("".join(text)) == []
