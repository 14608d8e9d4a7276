"""`falsify render` and `falsify render --check` on real workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from tests.harness.render.space import Space, lm_ms, populated


def run(root: Path, *args: str) -> int:
    return main(["render", "--root", str(root), *args])


def test_check_passes_after_render_and_names_every_drifted_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = populated(tmp_path)
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper" / "main.tex").write_text("\\input{generated/evidence.tex}\n")
    assert run(tmp_path, "--check") == 1
    assert "run `falsify render`" in capsys.readouterr().out
    assert run(tmp_path) == 0
    assert run(tmp_path, "--check") == 0
    capsys.readouterr()
    readme = tmp_path / "evidence" / "lm" / "README.md"
    readme.write_text(readme.read_text() + "hand edit\n")
    space.append(space.record("LM-LOSS", "demo-torch", hours=9, measurements=lm_ms(3.0)))
    assert run(tmp_path, "--check") == 1
    out = capsys.readouterr().out
    assert "differs: evidence/lm/README.md" in out
    assert "differs: paper/generated/evidence.tex" in out
    assert "differs: paper/generated/tables/lm.tex" in out
    assert "differs: evidence/lm/LM-LOSS.history.png" not in out  # a new plot: missing
    assert "missing: evidence/lm/LM-LOSS.history.png" in out
    assert "falsify render" in out


def test_check_reports_a_plot_whose_data_changed(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    space = populated(tmp_path)
    assert run(tmp_path) == 0
    space.append(space.record("TOY-TEXT-NOT-TINY", "short-lines", hours=8,
                              measurements={"n_lines": (40.0, "count"),
                                            "mean_line_bytes": (30.0, "bytes")}))
    capsys.readouterr()
    assert run(tmp_path, "--check", "--only", "readmes") == 1
    out = capsys.readouterr().out
    assert "differs: evidence/toy/TOY-TEXT-NOT-TINY.history.png" in out
    assert "paper/" not in out


def test_files_no_longer_rendered_are_removed_but_hand_written_ones_stay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    populated(tmp_path)
    assert run(tmp_path) == 0
    (tmp_path / "contracts" / "toy.yaml").unlink()
    mine = tmp_path / "evidence" / "toy" / "figure.png"
    mine.write_bytes(b"\x89PNG\r\n\x1a\n not ours")
    notes = tmp_path / "evidence" / "toy" / "notes.md"
    notes.write_text("keep me\n")
    assert run(tmp_path, "--check") == 1
    assert "no longer rendered: evidence/toy/README.md" in capsys.readouterr().out
    assert run(tmp_path) == 0
    assert not (tmp_path / "evidence" / "toy" / "README.md").exists()
    assert not (tmp_path / "evidence" / "toy" / "timeline.png").exists()
    assert mine.exists()
    assert notes.read_text() == "keep me\n"
    assert run(tmp_path, "--check") == 0


def test_empty_ledger_renders_and_checks(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    Space(tmp_path)
    (tmp_path / "evidence" / "ledger").rmdir()
    assert run(tmp_path) == 0
    assert "no evidence yet" in capsys.readouterr().out
    assert run(tmp_path, "--check") == 0


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    populated(tmp_path)
    assert run(tmp_path, "--check", "--site", str(tmp_path / "site")) == 2
    foreign = tmp_path / "elsewhere"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("x")
    assert run(tmp_path, "--site", str(foreign)) == 2
    assert "not a falsify site" in capsys.readouterr().err
    assert (foreign / "precious.txt").exists()


def test_a_corrupt_ledger_is_an_error_not_an_empty_render(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = populated(tmp_path)
    segment = next(space.ledger_dir.glob("*.jsonl"))
    segment.write_bytes(segment.read_bytes() + b"{not json}\n")
    assert run(tmp_path) == 1  # a check found a problem: refused, not a usage error
    assert f"{segment.name}:14: not valid JSON" in capsys.readouterr().err


def test_an_area_named_like_the_ledger_folder_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = populated(tmp_path)
    path = space.root / "contracts" / "lm.yaml"
    path.write_text(path.read_text().replace("area: lm", "area: ledger"))
    assert run(tmp_path) == 2
    assert "rename the area" in capsys.readouterr().err
    assert not (space.ledger_dir / "README.md").exists()


def test_console_script_exits_with_the_code_and_all_its_output(tmp_path: Path) -> None:
    """The console script (harness.cli:run) leaves with os._exit: its exit code is the
    command's and nothing it printed is lost, through a pipe as through a terminal."""
    import subprocess
    import sys

    populated(tmp_path)

    def script(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from harness.cli import run; sys.argv[1:] = sys.argv[2:]; run()"
        return subprocess.run([sys.executable, "-c", code, "-", "render", "--root",
                               str(tmp_path), *args], capture_output=True, text=True,
                              check=False)

    drift = script("--check")
    assert drift.returncode == 1
    assert drift.stdout.rstrip().endswith("run `falsify render` and commit the result")
    done = script("--site", str(tmp_path / "site"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("render: ")
    assert "render --site: " in done.stdout
    assert script("--check").stdout.startswith("render --check: all")
