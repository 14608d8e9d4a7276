"""A project without a paper gets no paper files and no paper errors.

A paper is any ``.tex`` file under the paper folder (``paper/``, or the config's ``paper``)
outside ``generated/``. Without one, ``falsify render`` renders no paper bindings (no
``generated/`` folder appears) and ``falsify paper check`` says there is nothing to check and
exits 0; with one, both work as before.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.cli import main
from tests.harness.render.space import populated

# What a paper folder may hold: (path under it, is it the paper's own source?)
ENTRIES = {
    "generated/evidence.tex": False,   # a render's output left from before
    "generated/tables/lm.tex": False,
    "references.bib": False,
    "figure.png": False,
    "notes.md": False,
    "main.tex": True,
    "sections/results.tex": True,
}
MAIN = "\\documentclass{article}\n\\begin{document}\nLoss is low.\n\\end{document}\n"


def _run(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*args, "--root", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


def _lay_out(paper: Path, entries: list[str]) -> None:
    for name in entries:
        target = paper / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(MAIN if name.endswith(".tex") else "x\n")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(folder=st.sampled_from([None, "paper", "docs/paper"]),
       entries=st.lists(st.sampled_from(sorted(ENTRIES)), unique=True, max_size=4))
@example(folder=None, entries=[])                                   # the case: no paper/
@example(folder="paper", entries=[])                                # an empty paper/
@example(folder="paper", entries=["generated/evidence.tex", "references.bib"])  # no main file
@example(folder="paper", entries=["main.tex"])
def test_paper_files_only_for_a_paper(folder: str | None, entries: list[str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Paper files are rendered and the paper checked exactly when a paper source exists; a
    claim's paper binding alone never creates them; without a paper both commands exit 0."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        populated(root)  # its LM-LOSS claim binds three measurements to the paper
        where = folder or "paper"
        if folder == "docs/paper":
            (root / "falsify.toml").write_text(f'paper = "{folder}"\n')
        paper = root / where
        if folder is not None:
            paper.mkdir(parents=True)
            _lay_out(paper, entries)
        has_paper = folder is not None and any(ENTRIES[e] for e in entries)
        before = sorted(p for p in root.rglob("*") if p.is_file() and where in str(p))
        code, out = _run(capsys, root, "render")
        assert code == 0, out
        evidence = paper / "generated" / "evidence.tex"
        tables = paper / "generated" / "tables" / "lm.tex"
        if has_paper:
            assert "no paper" not in out
            assert evidence.is_file()
            assert tables.is_file()
        else:
            assert f"no paper at {where}/: nothing to render" in out
            after = sorted(p for p in root.rglob("*") if p.is_file() and where in str(p))
            assert after == before  # nothing written, nothing removed
            assert folder is not None or not paper.exists()
        assert (root / "evidence" / "lm" / "README.md").is_file()
        assert _run(capsys, root, "render", "--check")[0] == 0
        code, out = _run(capsys, root, "paper", "check")
        assert code == 0, out
        assert (f"no paper at {where}/: nothing to check" in out) == (not has_paper)


def test_render_only_paper_without_a_paper(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    populated(tmp_path)
    code, out = _run(capsys, tmp_path, "render", "--only", "paper")
    assert code == 0
    assert "no paper at paper/: nothing to render" in out
    assert not (tmp_path / "paper").exists()
    assert _run(capsys, tmp_path, "render", "--only", "paper", "--check")[0] == 0


def test_paper_check_still_finds_problems_in_a_paper(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """With a paper, nothing changes: a citation of an unknown claim is a problem (exit 1)."""
    populated(tmp_path)
    _lay_out(tmp_path / "paper", ["main.tex"])
    main_tex = tmp_path / "paper" / "main.tex"
    main_tex.write_text(MAIN.replace("Loss is low.", "Loss is \\ev{NOPE.val_nll@demo-torch}."))
    assert _run(capsys, tmp_path, "render")[0] == 0
    code, out = _run(capsys, tmp_path, "paper", "check")
    assert code == 1
    assert "unknown claim 'NOPE'" in out
