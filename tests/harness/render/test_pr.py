"""`falsify pr --base REF` on a real git repository with two commits of ledger history."""

from __future__ import annotations

import re
from pathlib import Path

import git
import pytest

from harness.cli import main
from harness.render.gitstate import snapshot_at
from tests.harness.render.space import Space, lm_ms, toy_ms

ACTOR = git.Actor("Test", "test@example.org")


def commit(repo: git.Repo, message: str) -> str:
    repo.git.add("contracts", "evidence/ledger", "pyproject.toml")
    return str(repo.index.commit(message, author=ACTOR, committer=ACTOR).hexsha)


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Space, git.Repo]:
    space = Space(tmp_path)
    # The records are dated at a fixed BASE_TIME while `falsify pr` reads the real clock: an age
    # limit would make the base rows STALE once the calendar passes it. Age is tested elsewhere.
    toy = space.root / "contracts" / "toy.yaml"
    toy.write_text(toy.read_text().replace("max_age: 30d", "max_age: 36500d"))
    r = git.Repo.init(tmp_path)
    space.append(
        space.record("LM-LOSS", "demo-torch", measurements=lm_ms(3.4)),
        space.record("LM-LOSS", "demo-mlx", "FAIL", measurements=lm_ms(12.0)),
        space.record("LM-LOSS", "demo-untied", "FAIL", measurements=lm_ms(9.8)),
        space.record("TOY-TEXT-NOT-TINY", "short-lines", measurements=toy_ms(20.0)),
        space.record("TOY-TEXT-NOT-TINY", "few-lines", measurements=toy_ms(20.0)),
        space.record("TOY-TEXT-NOT-TINY", "long-lines", "PASS", measurements=toy_ms(20.0)))
    commit(r, "base evidence")
    return space, r


def change(space: Space) -> None:
    """mlx now passes, the toy control now fails as it must, and the toy contract is edited."""
    space.append(space.record("LM-LOSS", "demo-mlx", hours=1, measurements=lm_ms(3.5)),
                 space.record("TOY-TEXT-NOT-TINY", "long-lines", "FAIL", hours=1,
                              measurements=toy_ms(200.0)))
    path = space.root / "contracts" / "toy.yaml"
    path.write_text(path.read_text().replace("its mean line is short", "its mean line is brief"))


def test_snapshot_reads_the_past_without_checkout(repo: tuple[Space, git.Repo]) -> None:
    space, r = repo
    change(space)
    snap = snapshot_at(space.root, "HEAD", space.root / "contracts", space.ledger_dir)
    try:
        assert len(snap.ledger.records()) == 6
        assert "short" in snap.contracts["TOY-TEXT-NOT-TINY"].statement
        assert snap.commit == r.head.commit.hexsha
    finally:
        snap.close()
    assert len(space.ledger().records()) == 8  # the working tree is untouched
    assert "brief" in (space.root / "contracts" / "toy.yaml").read_text()


def test_pr_markdown_and_exit_code(repo: tuple[Space, git.Repo], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    space, _ = repo
    change(space)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    out = tmp_path / "pr.md"
    code = main(["pr", "--root", str(space.root), "--base", "HEAD", "--output", str(out)])
    assert code == 1  # the toy claim is stale now: the gate refuses
    text = out.read_text()
    assert capsys.readouterr().out == text
    head = text.splitlines()[0]
    assert head.startswith("### falsify gate FAIL: ")
    assert "2 new record(s)" in head
    assert "ship core 0 % → 50 %, lm 0 % → 100 %" in head
    assert "| `LM-LOSS` | `demo-mlx` | subject | FAIL | PASS |" in text
    assert "| `TOY-TEXT-NOT-TINY` | `long-lines` | control | PASS | FAIL (STALE) |" in text
    assert "contract changed since the record" in text
    assert "#### Gone stale" in text
    assert "| `TOY-TEXT-NOT-TINY` | `short-lines` | PASS (STALE) |" in text
    assert "| `core` | 0 % (0/2) | 50 % (1/2) |" in text  # the toy control had no power
    assert "| `lm` | 0 % (0/1) | 100 % (1/1) |" in text
    assert re.search(r"A stale-only run \(`pytest falsifiers/ -m live --falsify-select=stale`\) "
                     r"would execute [1-9][0-9]* of [0-9]+ \(claim, subject\) item\(s\)\.", text)


def test_step_summary_is_appended(repo: tuple[Space, git.Repo], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    space, r = repo
    space.append(space.record("LM-LOSS", "demo-mlx", hours=1, measurements=lm_ms(3.5)))
    commit(r, "more evidence")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    main(["pr", "--root", str(space.root), "--base", "HEAD~1"])
    text = summary.read_text()
    assert text.startswith("earlier step\n### falsify gate ")
    assert "1 new record(s)" in text


def test_new_evidence_shows_the_sample_each_record_rests_on(
        repo: tuple[Space, git.Repo], tmp_path: Path) -> None:
    space, _r = repo
    space.append(space.record("TOY-TEXT-NOT-TINY", "few-lines", hours=1,
                              measurements=toy_ms(21.0, n=7)))
    out = tmp_path / "pr.md"
    main(["pr", "--root", str(space.root), "--base", "HEAD", "--output", str(out)])
    assert r"| PASS | mean\_line\_bytes n=7 |" in out.read_text()


def test_unknown_ref_is_a_usage_error(repo: tuple[Space, git.Repo],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    space, _ = repo
    assert main(["pr", "--root", str(space.root), "--base", "no-such-branch"]) == 2
    assert "unknown git ref 'no-such-branch'" in capsys.readouterr().err


def test_base_without_ledger_or_contracts(tmp_path: Path) -> None:
    """A base commit from before falsify: everything is new, nothing breaks."""
    r = git.Repo.init(tmp_path)
    (tmp_path / "README").write_text("before\n")
    r.git.add("README")
    r.index.commit("before falsify", author=ACTOR, committer=ACTOR)
    space = Space(tmp_path)
    space.append(space.record("LM-LOSS", "demo-torch", measurements=lm_ms(3.4)))
    out = tmp_path / "pr.md"
    assert main(["pr", "--root", str(tmp_path), "--base", "HEAD", "--output", str(out)]) == 1
    assert "| `LM-LOSS` | `demo-torch` | subject | — | PASS |" in out.read_text()
