"""A real git repository with a tiny package, a contract and a falsifier measuring its output.

``make_history`` writes 20 commits; one of them plants a regression in ``toypkg.scale.double``
and, optionally, a span of commits breaks the package's import (the falsifier errors there).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import git

CONTRACT = """\
area: toy
claims:
  - id: TOY-DOUBLE
    title: double() doubles
    statement: toypkg.scale.double(21) is 42.
    measures:
      value: {unit: count, doc: "double(21)"}
    params:
      want: 42 count
    predicate: value == want
    subjects: [toy-double]
    controls:
      - subject: toy-half
        expect: FAIL
"""

FALSIFIER = '''\
import pytest

pytestmark = pytest.mark.live


@pytest.mark.claim("TOY-DOUBLE")
def test_double(evidence, subject):
    from toypkg import scale

    fn = scale.double if subject.id == "toy-double" else scale.half
    evidence.input(scale.__file__)
    evidence.measure("value", fn(21), unit="count")
'''

GOOD = "def double(x):\n    return 2 * x\n\n\ndef half(x):\n    return x / 2\n"
BAD = "def double(x):\n    return 2 * x + 1  # off by one\n\n\ndef half(x):\n    return x / 2\n"


def _write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_history(root: Path, n: int = 20, regression: int = 13,
                 broken: range = range(0)) -> list[str]:
    """``n`` commits on top of a good base commit; returns [base, c1, ..., cn] shas."""
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Test").set_value("user", "email", "t@example.org")
    _write(root, "pyproject.toml", '[project]\nname = "toy"\nversion = "0"\n')
    _write(root, ".gitignore", "__pycache__/\n*.pyc\n.falsify-cache/\nevidence/\n")
    _write(root, "contracts/toy.yaml", textwrap.dedent(CONTRACT))
    _write(root, "falsifiers/test_toy.py", FALSIFIER)
    _write(root, "toypkg/__init__.py", "")
    _write(root, "toypkg/scale.py", GOOD)
    repo.index.add(["pyproject.toml", ".gitignore", "contracts", "falsifiers", "toypkg"])
    shas = [repo.index.commit("base: double() doubles").hexsha]
    for i in range(1, n + 1):
        _write(root, "NOTES.md", f"change {i}\n")
        scale = BAD if i >= regression else GOOD
        if i in broken:
            scale = "def double(x) return 2 * x\n"  # a syntax error: the falsifier errors
        _write(root, "toypkg/scale.py", scale)
        repo.index.add(["NOTES.md", "toypkg/scale.py"])
        label = "regress double()" if i == regression else f"change {i}"
        shas.append(repo.index.commit(label).hexsha)
    repo.close()
    return shas
