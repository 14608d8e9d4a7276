"""Evidence made by code that has since changed: a changed falsifier module (or a conftest or
falsifiers-folder helper it uses) makes its claim's evidence STALE, naming the file; a changed
harness package is drift, shown by `falsify status` (text, --json) and `falsify pr`, not stale.
Real pytest runs in a temp workspace, real files, a real git repository for `pr --base`."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import git
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.codeid import CodeNow, harness_identity
from harness.ledger import LedgerWriter, code_drift, is_stale, staleness, verify
from tests.harness.ledger_factory import PROVENANCE, claim_sha, make_record
from tests.harness.toyspace import FALSIFIER, write_toyspace

ALL_PASS = FALSIFIER.replace('"few-lines": (3, 20)', '"few-lines": (30, 20)')
# The falsifier imports a constant (not a function: found from its import statements, not from
# what its globals point to) from a helper, which imports from a second helper in turn.
WITH_HELPER = ALL_PASS.replace("import pytest\n", "import pytest\nfrom toyhelp import WIDTHS\n",
                               1).replace("    lines, width = SPEC[subject.id]",
                                          "    lines, _ = SPEC[subject.id]\n"
                                          "    width = WIDTHS[subject.id]")
HELPER = ("from toybase import WIDE\n"
          'WIDTHS = {"short-lines": 20, "few-lines": 20, "long-lines": WIDE}\n')
BASE = "WIDE = 200\n"
ACTOR = git.Actor("t", "t@example.org")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*args, "--root", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


def records(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for seg in sorted((root / "evidence" / "ledger").glob("*.jsonl"))
            for line in seg.read_text().splitlines()]


@pytest.fixture
def green(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FALSIFY_CACHE", str(pytester.path / ".cache"))
    write_toyspace(pytester.path, falsifier=WITH_HELPER,
                   extra={"falsifiers/toyhelp.py": HELPER, "falsifiers/toybase.py": BASE,
                          "falsifiers/conftest.py": "# fixtures of the toy falsifiers\n"})
    pytester.runpytest("falsifiers", "-p", "no:randomly").assert_outcomes(passed=3)
    return pytester.path


def test_records_carry_falsifier_and_harness_code(green: Path) -> None:
    """Each record names its module, the conftest and the helpers it imports (directly and
    through the first helper), with sha256s, and the harness version and package hash; the
    ledger still verifies against the schema."""
    recs = records(green)
    assert len(recs) == 3
    code = recs[0]["provenance"]["code"]
    assert [f["path"] for f in code["falsifier"]] == [
        "falsifiers/test_toy.py", "falsifiers/conftest.py", "falsifiers/toybase.py",
        "falsifiers/toyhelp.py"]
    assert code["falsifier"][0]["sha256"] == sha(green / "falsifiers" / "test_toy.py")
    assert code["harness"] == harness_identity()
    assert not verify(green / "evidence" / "ledger", {"TOY-TEXT-NOT-TINY"})


def test_xdist_workers_record_the_same_code(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Under -n 2 each worker takes the code identity itself; every record carries the same."""
    monkeypatch.setenv("FALSIFY_CACHE", str(pytester.path / ".cache"))
    write_toyspace(pytester.path, falsifier=WITH_HELPER,
                   extra={"falsifiers/toyhelp.py": HELPER, "falsifiers/toybase.py": BASE})
    pytester.runpytest("falsifiers", "-n", "2").assert_outcomes(passed=3)
    codes = {json.dumps(r["provenance"]["code"], sort_keys=True) for r in records(pytester.path)}
    assert len(codes) == 1
    assert len(json.loads(codes.pop())["falsifier"]) == 3


@pytest.mark.parametrize("edited", ["test_toy.py", "toyhelp.py", "toybase.py", "conftest.py"])
def test_editing_falsifier_code_makes_evidence_stale(green: Path, edited: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Edit the module, its helper or its conftest after the run: status says STALE naming the
    file with both hashes, --json too, and the gate fails; the other claims' files are fine."""
    code, out = run(green, capsys, "gate")
    assert code == 0, out
    path = green / "falsifiers" / edited
    before = sha(path)
    path.write_text(path.read_text() + "# edited after the record\n")
    code, out = run(green, capsys, "status")
    assert "PASS (STALE)" in out
    assert f"falsifier falsifiers/{edited} changed since the record: sha256 {before[:12]}…" in out
    _, out = run(green, capsys, "status", "--json")
    rows = json.loads(out)["claims"][0]["rows"]
    assert all(r["stale"] == [f"falsifier falsifiers/{edited} changed since the record: sha256 "
                              f"{before[:12]}… → {sha(path)[:12]}…"] for r in rows)
    code, out = run(green, capsys, "gate")
    assert code == 1
    assert "3 stale" in out


def test_harness_drift_is_shown_not_stale(green: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A record made by other harness code: status text and --json show the drift, the row
    stays fresh and the gate passes; a record with no code identity says so, also as drift."""
    recs = records(green)
    ledger = green / "evidence" / "ledger"
    writer = LedgerWriter(ledger, "feedfacefeedface", "drift")
    try:
        for rec in recs:
            code = {**rec["provenance"]["code"], "harness": {"version": "0.0.9",
                                                             "sha256": "ab" * 32}}
            old = make_record("TOY-TEXT-NOT-TINY", rec["subject"], role=rec["role"],
                              expect=rec["expect"], verdict=rec["verdict"])
            writer.append(replace(old, claim_sha256=rec["claim_sha256"],
                                  provenance={**PROVENANCE, "code": code},
                                  measurements=records_measurements(rec)))
    finally:
        writer.close()
    code, out = run(green, capsys, "status")
    assert "code drift (shown, not stale):" in out
    here = harness_identity()
    assert (f"harness code changed since the record: 0.0.9 sha256 abababababab… → "
            f"{here['version']} sha256 {here['sha256'][:12]}…: 3 row(s)") in out
    assert "STALE" not in out
    _, out = run(green, capsys, "status", "--json")
    rows = json.loads(out)["claims"][0]["rows"]
    assert all(r["fresh"] and r["drift"][0].startswith("harness code changed") for r in rows)
    assert run(green, capsys, "gate")[0] == 0


def records_measurements(rec: dict[str, Any]) -> tuple[Any, ...]:
    from harness.records import Measurement

    return tuple(Measurement.from_json(m) for m in rec["measurements"])


def test_old_records_without_code_still_read(tmp_path: Path) -> None:
    """A record made before code identity: it reads, is not stale for it, and drift says why."""
    rec = make_record("C", created=datetime.now(UTC))
    assert rec.code is None
    now = CodeNow(tmp_path)
    assert staleness(rec, claim_sha("C"), None, datetime.now(UTC), None, now) == []
    assert code_drift(rec, now)[0].startswith("code identity not recorded")


# --- property: staleness over edits of falsifier files ----------------------------------------

FILES = ("falsifiers/test_x.py", "falsifiers/conftest.py", "falsifiers/helper.py")
EDITS = st.sampled_from(["same-bytes", "append", "flip-byte", "delete", "rewrite-equal"])


def _edit(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "append":
        path.write_bytes(data + b"\n# x\n")
    elif how == "flip-byte":
        path.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    elif how == "delete":
        path.unlink()
    elif how == "rewrite-equal":
        path.write_bytes(bytes(data))


@settings(max_examples=80, deadline=None)
@given(edits=st.dictionaries(st.sampled_from(FILES), EDITS, max_size=3),
       sources=st.lists(st.text(min_size=1, max_size=40), min_size=3, max_size=3))
@example(edits={"falsifiers/test_x.py": "append"}, sources=["a", "b", "c"])  # the case
@example(edits={"falsifiers/helper.py": "delete"}, sources=["a", "b", "c"])
def test_staleness_names_exactly_the_changed_files(edits: dict[str, str],
                                                   sources: list[str]) -> None:
    """Whatever edits hit the recorded files: the evidence is stale iff some file's bytes
    changed or it is gone, and each such file is named once; rewriting equal bytes is fresh."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in zip(FILES, sources, strict=True):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        code = {"falsifier": [{"path": n, "sha256": sha(root / n)} for n in FILES],
                "harness": harness_identity()}
        rec = replace(make_record("C"), provenance={**PROVENANCE, "code": code})
        before = {n: sha(root / n) for n in FILES}
        for name, how in edits.items():
            _edit(root / name, how)
        reasons = staleness(rec, claim_sha("C"), None, datetime.now(UTC), None, CodeNow(root))
        changed = [n for n in FILES
                   if not (root / n).exists() or sha(root / n) != before[n]]
        assert is_stale(reasons) == bool(changed)
        assert len(reasons) == len(changed)
        for name, reason in zip(changed, reasons, strict=True):
            verb = "is gone" if not (root / name).exists() else "changed"
            assert reason.startswith(f"falsifier {name} {verb} since the record")
        assert code_drift(rec, CodeNow(root)) == []


# --- falsify pr --base ----------------------------------------------------------------------

def _commit_all(repo: git.Repo, message: str) -> None:
    repo.git.add("-A")
    repo.index.commit(message, author=ACTOR, committer=ACTOR)


def test_pr_lists_claims_whose_falsifier_changed_since_base(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A falsifier module edited and committed after REF, no new evidence: `falsify pr --base
    REF` lists the claim with the file and both hashes (read from git at REF); re-running the
    falsifier records new evidence and the list empties."""
    root = pytester.path
    monkeypatch.setenv("FALSIFY_CACHE", str(root / ".cache"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    write_toyspace(root, falsifier=ALL_PASS)
    (root / ".gitignore").write_text(".cache/\n__pycache__/\n")
    repo = git.Repo.init(root, initial_branch="main")
    pytester.runpytest("falsifiers", "-p", "no:randomly").assert_outcomes(passed=3)
    _commit_all(repo, "evidence")
    module = root / "falsifiers" / "test_toy.py"
    at_base = sha(module)
    module.write_text(module.read_text().replace("    evidence.input(path)\n",
                                                 "    evidence.input(path)  # the data file\n"))
    _commit_all(repo, "falsifier edited")
    code, out = run(root, capsys, "pr", "--base", "HEAD~1")
    assert code == 1
    assert "#### Falsifier changed since the base, no new evidence" in out
    assert (f"| `TOY-TEXT-NOT-TINY` | `falsifiers/test_toy.py` | {at_base[:12]}… → "
            f"{sha(module)[:12]}… | 3 |") in out
    pytester.runpytest("falsifiers", "-p", "no:randomly").assert_outcomes(passed=3)
    code, out = run(root, capsys, "pr", "--base", "HEAD~1")
    assert code == 0, out
    assert "Falsifier changed since the base" not in out


def test_index_keeps_code_cold_and_warm(tmp_path: Path) -> None:
    """Summaries carry the records' code identity, from a fresh index and from a cached one."""
    from harness.ledger import Ledger

    code = {"falsifier": [{"path": "falsifiers/test_lm.py", "sha256": "a" * 64},
                          {"path": "falsifiers/conftest.py", "sha256": "b" * 64}],
            "harness": {"version": "0.1.0", "sha256": "c" * 64}}
    writer = LedgerWriter(tmp_path / "ledger", "0123456789abcdef", "main")
    try:
        writer.append(replace(make_record("C", "s1"), provenance={**PROVENANCE, "code": code}))
        writer.append(make_record("C", "s2"))
    finally:
        writer.close()
    for _ in ("cold", "warm"):
        latest = Ledger(tmp_path / "ledger", tmp_path / "index").latest()
        assert latest[("C", "s1")].code == code
        assert latest[("C", "s2")].code is None


@pytest.mark.parametrize(("dirty", "commit_known", "stale"),
                         [(False, True, True), (True, True, False), (False, False, False)])
def test_legacy_records_are_checked_through_their_git_commit(
        tmp_path: Path, dirty: bool, commit_known: bool, stale: bool) -> None:
    """A record without code identity, made at a clean commit this clone has: its falsifier
    module (from the node id) is read at that commit and compared with now. A dirty checkout or
    an unknown commit cannot tell, and says so only as drift."""
    repo = git.Repo.init(tmp_path, initial_branch="main")
    module = tmp_path / "falsifiers" / "test_x.py"
    module.parent.mkdir()
    module.write_text("def test_x(): pass\n")
    _commit_all(repo, "falsifier")
    then = sha(module)
    commit = repo.head.commit.hexsha if commit_known else "f" * 40
    git_info = {**PROVENANCE["git"], "commit": commit, "dirty": dirty}
    rec = replace(make_record("C"), provenance={**PROVENANCE, "git": git_info},
                  node_id="falsifiers/test_x.py::test_x[s]")
    module.write_text("def test_x(): assert True\n")
    now = CodeNow(tmp_path)
    reasons = staleness(rec, claim_sha("C"), None, datetime.now(UTC), None, now)
    expected = [f"falsifier falsifiers/test_x.py changed since the record (read at its commit "
                f"{commit[:10]}): sha256 {then[:12]}… → {sha(module)[:12]}…"]
    assert reasons == (expected if stale else [])
    assert code_drift(rec, now)[0].startswith("code identity not recorded")
    now.close()
