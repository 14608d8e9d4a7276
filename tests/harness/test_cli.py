"""The `falsify` command over a real workspace whose ledger a real pytest run wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.harness.toyspace import CONTRACT, FALSIFIER, write_toyspace

ALL_PASS = FALSIFIER.replace('"few-lines": (3, 20)', '"few-lines": (30, 20)')


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args, "--root", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def space(pytester: pytest.Pytester) -> Path:
    write_toyspace(pytester.path)
    pytester.runpytest("falsifiers")
    return pytester.path


@pytest.fixture
def green(pytester: pytest.Pytester) -> Path:
    write_toyspace(pytester.path, falsifier=ALL_PASS)
    pytester.runpytest("falsifiers")
    return pytester.path


def test_status_table_and_ship_percent(space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(space, capsys, "status")
    assert code == 0
    assert "few-lines" in out
    assert "SUSPECT" in out
    assert "control→FAIL" in out
    assert "milestone core: 0/1 claims at fresh PASS (0 % shipped)" in out


def test_status_json(green: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(green, capsys, "status", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["milestones"]["core"] == {"claims": 1, "passing": 1, "ship_percent": 100.0}
    rows = data["claims"][0]["rows"]
    assert [r["verdict"] for r in rows] == ["PASS", "PASS", "FAIL"]


def test_show_lists_claim_and_history(space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(space, capsys, "show", "TOY-TEXT-NOT-TINY")
    assert code == 0
    assert "predicate: mean_line_bytes <= max_line_bytes" in out
    assert "control long-lines must get FAIL" in out
    assert "mean_line_bytes 200 bytes" in out
    assert "evidence history (3 record(s))" in out


def test_show_unknown_claim_is_usage_error(space: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(space, capsys, "show", "NOPE")
    assert code == 2
    assert "unknown claim 'NOPE'" in out


def test_gate_fails_on_suspect_with_table(space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(space, capsys, "gate")
    assert code == 1
    assert "suspect" in out
    assert "few-lines" in out
    assert "gate: FAIL" in out


def test_gate_passes_when_all_fresh(green: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(green, capsys, "gate")
    assert code == 0, out
    assert "gate: PASS" in out


def test_gate_usage_errors(space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(space, capsys, "gate", "--milestone", "nope")[0] == 2
    assert run(space, capsys, "gate", "--claim", "NOPE")[0] == 2


def test_gate_missing_evidence(pytester: pytest.Pytester,
                               capsys: pytest.CaptureFixture[str]) -> None:
    write_toyspace(pytester.path)
    code, out = run(pytester.path, capsys, "gate")
    assert code == 1
    assert out.count("missing") >= 3


def test_contract_change_makes_evidence_stale(green: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    contract = green / "contracts" / "toy.yaml"
    contract.write_text(CONTRACT.replace("max_line_bytes: 80 bytes", "max_line_bytes: 81 bytes"))
    code, out = run(green, capsys, "gate")
    assert code == 1
    assert "stale" in out
    assert "contract changed since the record" in out
    _, status = run(green, capsys, "status")
    assert "PASS (STALE)" in status


def test_powerless_control_fails_gate(pytester: pytest.Pytester,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    weak = CONTRACT.replace("max_line_bytes: 80 bytes", "max_line_bytes: 500 bytes")
    write_toyspace(pytester.path, contract=weak, falsifier=ALL_PASS)
    pytester.runpytest("falsifiers")
    code, out = run(pytester.path, capsys, "gate")
    assert code == 1
    assert "powerless" in out


def test_verify_clean_and_tampered(green: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(green, capsys, "verify")[0] == 0
    segment = next((green / "evidence" / "ledger").glob("*.jsonl"))
    segment.write_text(segment.read_text().replace('"n_lines"', '"n_linez"', 1))
    code, out = run(green, capsys, "verify")
    assert code == 1
    assert f"{segment}:1" in out


def test_contracts_check_orphans_both_ways(pytester: pytest.Pytester,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    extra = {"falsifiers/test_more.py": 'import pytest\n\n@pytest.mark.claim("GHOST")\n'
                                        'def test_ghost(evidence):\n    pass\n'}
    second = CONTRACT.replace("TOY-TEXT-NOT-TINY", "TOY-UNMEASURED").replace("area: toy", "")
    write_toyspace(pytester.path, extra={**extra, "contracts/more.yaml": second})
    code, out = run(pytester.path, capsys, "contracts", "check")
    assert code == 1
    assert "claim TOY-UNMEASURED has no falsifier" in out
    assert "test_more.py:3: falsifier names unknown claim 'GHOST'" in out


def test_contracts_check_clean(pytester: pytest.Pytester,
                               capsys: pytest.CaptureFixture[str]) -> None:
    write_toyspace(pytester.path)
    code, out = run(pytester.path, capsys, "contracts", "check")
    assert code == 0
    assert "1 claim(s) valid" in out


def test_no_workspace_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(tmp_path, capsys, "status")
    assert code == 2
    assert "no falsify workspace" in out


def test_amend_appends_a_correction(green: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An amendment is a new record naming the one it amends; the original stays intact."""
    _, shown = run(green, capsys, "show", "TOY-TEXT-NOT-TINY", "--json")
    history = json.loads(shown)["history"]
    original = next(r for r in history if r["subject"] == "short-lines")
    code, out = run(green, capsys, "amend", original["id"], "--why", "data file was truncated",
                    "--verdict", "INCONCLUSIVE")
    assert code == 0
    assert "PASS → INCONCLUSIVE" in out
    _, status = run(green, capsys, "status", "--json")
    row = json.loads(status)["claims"][0]["rows"][0]
    assert row["verdict"] == "INCONCLUSIVE"
    assert "data file was truncated" in row["reasons"][0]
    _, shown = run(green, capsys, "show", "TOY-TEXT-NOT-TINY", "--json")
    ids = [r["id"] for r in json.loads(shown)["history"]]
    assert original["id"] in ids
    assert len(ids) == 4
    assert run(green, capsys, "verify")[0] == 0
    assert run(green, capsys, "gate")[0] == 1


def test_amend_cannot_make_a_pass(green: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, shown = run(green, capsys, "show", "TOY-TEXT-NOT-TINY", "--json")
    rid = json.loads(shown)["history"][0]["id"]
    code, out = run(green, capsys, "amend", rid, "--why", "trust me", "--verdict", "PASS")
    assert code == 2
    assert "only a falsifier run can record a PASS" in out


@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"], ["gate", "--help"],
                                  ["render", "--help"], ["bisect", "--help"], ["pr", "--help"],
                                  ["mutate", "--help"], ["keys", "--help"],
                                  ["attest", "--help"], ["verify", "--help"]])
def test_help_renders(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Every help page prints (argparse %-formats help strings; a stray % breaks it)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: falsify" in out
    if argv == ["--help"]:  # every command is listed, though only the chosen one's is imported
        for name in ("status", "gate", "render", "paper", "pr", "bisect", "mutate", "keys",
                     "attest", "amend", "demo"):
            assert f"    {name}" in out, name
    if argv == ["gate", "--help"]:
        assert "--require-signed" in out  # options another module adds to a core command


# A reader command imports only what it uses: each module below costs 0.1-1.5 s of startup.
HEAVY = ("numpy", "pytest", "torch", "mlx", "matplotlib", "jsonschema", "datasketch",
         "harness.mutate", "harness.bisect")
IMPORTS = """
import sys
from harness.cli import main
code = main(sys.argv[2:] + ["--root", sys.argv[1]])
heavy = sys.argv[2:3] and [m for m in {heavy!r} if m in sys.modules]
print("HEAVY", sorted(heavy), code)
"""


@pytest.mark.parametrize("command", ["gate", "status", "verify", "show"])
def test_reader_commands_import_nothing_heavy(green: Path, command: str) -> None:
    cmd = [command, "TOY-TEXT-NOT-TINY"] if command == "show" else [command]
    env = {**os.environ, "FALSIFY_CACHE": str(green / "cache")}
    script = IMPORTS.format(heavy=HEAVY)
    for _ in ("cold", "warm"):
        out = subprocess.run([sys.executable, "-c", script, str(green), *cmd], env=env,
                             capture_output=True, text=True, check=False, timeout=300)
        line = next(x for x in out.stdout.splitlines() if x.startswith("HEAVY"))
        assert line.startswith("HEAVY []"), (line, out.stderr)
