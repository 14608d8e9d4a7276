"""A misconfigured subject is never a green run.

A subject a contract names that no config defines (and no demo provides) is an ERROR naming the
subject, the claim, the config file read (or where one was looked for) and the table to add in that
file's form; SKIPPED only when the run asks (``--skip-unconfigured``, ``skip_unconfigured``). A
misplaced or misspelled table, kind or option is a usage error naming the file, the key and the
right spelling. The property test generates such mistakes; a few run pytest end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.plugin import unconfigured_verdict
from harness.records import Status
from harness.workspace import SubjectNotConfigured, Workspace, WorkspaceError
from tests.harness.toyspace import write_toyspace

REPO = Path(__file__).resolve().parents[2]

CONTRACT = """\
area: mine
title: My claims
claims:
  - id: MY-FILE-NOT-EMPTY
    title: my eval set is not empty
    statement: my eval set holds at least one line.
    milestones: [core]
    measures:
      n_lines: {unit: count}
    params:
      min_lines: 1 count
    predicate: n_lines >= min_lines
    subjects: [my-evals]
    controls:
      - subject: my-empty
        expect: FAIL
        why: an empty file
"""

FALSIFIER = '''\
import pytest

pytestmark = pytest.mark.live


@pytest.mark.claim("MY-FILE-NOT-EMPTY")
def test_lines(evidence, subject, workspace):
    path = workspace.spec(subject.id).path()
    evidence.input(path)
    evidence.measure("n_lines", len(path.read_text().splitlines()), unit="count")
'''

GOOD = {"my-evals": ("evals.txt", "one\ntwo\n"), "my-empty": ("empty.txt", "")}


def project(root: Path, config: str | None, *, pyproject: bool = False,
            subjects: tuple[str, ...] = ("my-evals", "my-empty")) -> Path:
    """A user's project: one contract, one falsifier that resolves its subject, real files."""
    write_toyspace(root, contract=CONTRACT, falsifier=FALSIFIER)
    (root / "falsifiers" / "test_toy.py").rename(root / "falsifiers" / "test_mine.py")
    for name in subjects:
        file, text = GOOD[name]
        (root / file).write_text(text)
    if config is not None and pyproject:
        (root / "pyproject.toml").write_text(f'[project]\nname = "toy"\n{config}')
    elif config is not None:
        (root / "falsify.toml").write_text(config)
    return root


def tables(prefix: str, names: tuple[str, ...] = ("my-evals", "my-empty")) -> str:
    return "".join(f'[{prefix}subjects.{n}]\nkind = "evalset"\npath = "{GOOD[n][0]}"\n'
                   for n in names)


def run_pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CI": ""}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "--rootdir", str(root), "falsifiers", "-m", "live", "--no-record", "-rA", *args],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)


# end to end: pytest in a subprocess, in a fresh project ------------------------------------------


def test_an_unconfigured_subject_is_a_red_run_naming_the_fix(tmp_path: Path) -> None:
    root = project(tmp_path, tables("", ("my-evals",)))  # my-empty is named but not defined
    result = run_pytest(root)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "ERROR my-empty" in out
    assert "claim MY-FILE-NOT-EMPTY: subject 'my-empty' is not configured" in out
    assert f"{root / 'falsify.toml'} defines no such subject" in out
    assert "add [subjects.my-empty] with kind" in out
    skipped = run_pytest(root, "--skip-unconfigured")
    assert skipped.returncode == 0, skipped.stdout
    assert "SKIPPED" in skipped.stdout
    assert "not configured" in skipped.stdout


def test_no_config_at_all_says_where_one_was_looked_for(tmp_path: Path) -> None:
    root = project(tmp_path, None)
    result = run_pytest(root)
    assert result.returncode == 1, result.stdout
    assert "no config was found (looked for" in result.stdout
    assert "add [subjects.my-evals] with kind" in result.stdout
    (root / "pyproject.toml").write_text('[tool.falsify]\nskip_unconfigured = true\n')
    assert run_pytest(root).returncode == 0


def test_the_pyproject_snippet_pasted_into_falsify_toml_is_a_usage_error(tmp_path: Path) -> None:
    root = project(tmp_path, tables("tool.falsify."))
    result = run_pytest(root)
    out = result.stdout + result.stderr
    assert result.returncode == 4, out  # pytest's usage error, before collection: nothing ran
    assert "plugin.py" not in out  # one message with the fix, no traceback through the plugin
    assert f"{root / 'falsify.toml'}: unknown key tool" in out
    assert "write [subjects.my-empty], [subjects.my-evals], not [tool.falsify.subjects.my-empty]" \
        in out
    status = subprocess.run([sys.executable, "-m", "harness.cli", "status", "--root", str(root)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                            text=True, timeout=120, check=False)
    assert status.returncode == 2, status.stdout + status.stderr
    assert "write [subjects.my-empty]" in status.stderr


def test_a_misspelled_kind_in_pyproject_is_a_usage_error(tmp_path: Path) -> None:
    config = tables("tool.falsify.").replace('"evalset"', '"evalst"', 1)
    result = run_pytest(project(tmp_path, config, pyproject=True))
    out = result.stdout + result.stderr
    assert result.returncode == 4, out
    assert "key tool.falsify.subjects.my-evals.kind must be one of" in out
    assert "did you mean 'evalset'?" in out


# the check itself, over generated mistakes -------------------------------------------------------

KINDS_OPTIONS = {"model": ["path", "backend", "untie", "dtype"], "evalset": ["path"],
                 "corpus": ["shards", "tokenizer", "vocab_size"]}


def _misspell(draw: st.DrawFn, word: str) -> str:
    """One edit (drop, double, swap or replace a letter) that is not the word itself."""
    i = draw(st.integers(0, len(word) - 1))
    edit = draw(st.sampled_from(["drop", "double", "swap", "replace"]))
    if edit == "drop" and len(word) > 3:
        out = word[:i] + word[i + 1:]
    elif edit == "swap" and i + 1 < len(word) and word[i] != word[i + 1]:
        out = word[:i] + word[i + 1] + word[i] + word[i + 2:]
    elif edit == "replace":
        out = word[:i] + draw(st.sampled_from("qxz")) + word[i + 1:]
    else:
        out = word[:i] + word[i] + word[i:]
    return out if out != word else word + "x"


@st.composite
def mistakes(draw: st.DrawFn) -> tuple[str, bool, str, str]:
    """(config text, is pyproject, what must be named, the right spelling or table)."""
    pyproject = draw(st.booleans())
    kind = draw(st.sampled_from(sorted(KINDS_OPTIONS)))
    option = draw(st.sampled_from(KINDS_OPTIONS[kind]))
    name = draw(st.sampled_from(["my-qwen", "evals", "m1"]))
    good = "tool.falsify." if pyproject else ""
    fault = draw(st.sampled_from(["prefix", "kind", "option", "table", "undefined"]))
    prefix, table, written_kind, written_option = good, "subjects", kind, option
    if fault == "prefix":
        prefix = "" if pyproject else "tool.falsify."
    elif fault == "kind":
        written_kind = _misspell(draw, kind)
    elif fault == "option":
        written_option = _misspell(draw, option)
    elif fault == "table":
        table = _misspell(draw, "subjects")
    value = "true" if option == "untie" else "1" if option == "vocab_size" else '"x"'
    body = (f'[{prefix}{table}.{name}]\nkind = "{written_kind}"\n{written_option} = {value}\n'
            if fault != "undefined" else f'[{good}subjects.other]\nkind = "evalset"\n')
    named = {"prefix": "subjects" if pyproject else "tool", "kind": written_kind,
             "option": written_option, "table": table, "undefined": name}[fault]
    right = {"prefix": f"[{good}subjects.{name}]", "kind": f"did you mean {kind!r}",
             "option": f"did you mean {option!r}", "table": "did you mean 'subjects'",
             "undefined": f"[{good}subjects.{name}]"}[fault]
    return body, pyproject, named, right


FIXTURE = [HealthCheck.function_scoped_fixture]


@settings(max_examples=120, deadline=None, suppress_health_check=FIXTURE)
@given(mistakes(), st.booleans())
@example(('[tool.falsify.subjects.my-qwen]\nkind = "model"\npath = "m"\n', False, "tool",
          "[subjects.my-qwen]"), False)
@example(('[tool.falsify.subject.my-qwen]\nkind = "model"\n', True, "subject",
          "did you mean 'subjects'"), False)
@example(('[tool.falsify.subjects.m1]\nkind = "modle"\n', True, "modle",
          "did you mean 'model'"), False)
@example(('[subjects.m1]\nkind = "model"\npath = "m"\n', True, "subjects",
          "[tool.falsify.subjects.m1]"), False)
@example(('[subjects.other]\nkind = "evalset"\n', False, "my-qwen", "[subjects.my-qwen]"), True)
def test_every_misconfiguration_is_red_and_named(tmp_path: Path,
                                                 case: tuple[str, bool, str, str],
                                                 asked_to_skip: bool) -> None:
    body, pyproject, named, right = case
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    write_toyspace(root)
    config = root / ("pyproject.toml" if pyproject else "falsify.toml")
    config.write_text(body)
    try:
        ws = Workspace.discover(root)
    except WorkspaceError as exc:  # a usage error (exit 2), raised while reading: red
        text, refused = str(exc), type(exc)
        assert refused is WorkspaceError
    else:
        assert right.startswith("["), f"not refused: {body}"  # only an undefined subject loads
        with pytest.raises(SubjectNotConfigured) as info:
            ws.spec(named)
        verdict = unconfigured_verdict(info.value, "MY-CLAIM", skip=False)
        assert verdict.status is Status.ERROR  # never SKIPPED unless asked
        if asked_to_skip:
            assert unconfigured_verdict(info.value, "MY-CLAIM", skip=True).status is \
                Status.SKIPPED
        text = verdict.reasons[0]
        assert "MY-CLAIM" in text
    assert str(config) in text
    assert named in text
    assert right in text


@pytest.mark.parametrize(("pyproject", "own", "words"), [
    ('[tool.falsfy.subjects.m]\nkind = "model"\n', None,
     "[tool.falsfy] is not read by falsify; in pyproject.toml write [tool.falsify]"),
    ('[subjects.m]\nkind = "model"\n', None,
     "[subjects] is not read by falsify; in pyproject.toml write [tool.falsify.subjects.m]"),
    ('[tool.falsify.subjects.m]\nkind = "model"\n', 'ledger = "x"\n',
     "[tool.falsify] is not read, because"),
])
def test_falsify_tables_pyproject_would_hide_are_refused(tmp_path: Path, pyproject: str,
                                                         own: str | None, words: str) -> None:
    """Tables falsify would skip (a misspelled tool name, no tool prefix, a pyproject section
    shadowed by falsify.toml) are named, never silently ignored."""
    write_toyspace(tmp_path)
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "toy"\n{pyproject}')
    if own is not None:
        (tmp_path / "falsify.toml").write_text(own)
    with pytest.raises(WorkspaceError) as info:
        Workspace.discover(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'pyproject.toml'}: ")
    assert words in str(info.value)
