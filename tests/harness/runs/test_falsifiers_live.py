"""The ASR and AGP falsifiers end to end in a fresh workspace (pytester): a gate that is down is
SKIPPED with the reason, a malformed bundle is ERROR naming file:line:field."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from tests.harness.runs.kit import make_bundle, set_field

REPO = Path(__file__).resolve().parents[3]


def workspace(root: Path, area: str, subjects: dict[str, dict[str, str]]) -> None:
    (root / "contracts").mkdir()
    (root / "falsifiers").mkdir()
    shutil.copy(REPO / "contracts" / f"{area}.yaml", root / "contracts")
    # the falsifiers come from the claim library: contracts/<area>.yaml uses its claims by name
    lines = ['[project]\nname = "ws"\nversion = "0"\n']
    for sid, options in subjects.items():
        lines.append(f"[tool.falsify.subjects.{sid}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    (root / "pyproject.toml").write_text("\n".join(lines) + "\n")


def agp_subjects() -> list[str]:
    """Every subject and control contracts/agp.yaml binds (each needs a table in the toy)."""
    from harness.safeyaml import load_yaml

    use = load_yaml(REPO / "contracts" / "agp.yaml")["uses"][0]
    return [*use["subjects"], *(c["subject"] for c in use["controls"])]


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_gate_down_is_skipped_with_the_reason(pytester: pytest.Pytester) -> None:
    bundle = make_bundle(pytester.path / "runs" / "nqo")
    gate = {"kind": "gate-endpoint", "url": dead_url(), "path": str(bundle), "retries": 1}
    subjects = agp_subjects()
    workspace(pytester.path, "agp", dict.fromkeys(subjects, gate))
    result = pytester.runpytest("falsifiers", "-m", "live", "-rs", "--no-record")
    result.assert_outcomes(skipped=len(subjects))
    result.stdout.fnmatch_lines(["*demo-gate-lexicon is not available*did not answer /health*"])


def test_malformed_bundle_is_an_error_naming_the_row(pytester: pytest.Pytester) -> None:
    nqo = make_bundle(pytester.path / "runs" / "nqo")
    latn = make_bundle(pytester.path / "runs" / "latn", script="latn")
    set_field(nqo / "test_predictions.jsonl", 3, "partition", '"elsewhere"')
    pair = {"kind": "bundle-pair", "a": str(nqo), "b": str(latn)}
    workspace(pytester.path, "asr", {"demo-nqo-vs-latn-trajectory": pair})
    result = pytester.runpytest("falsifiers", "-m", "live", "--no-record", "-k",
                                "nko_beats_latin and trajectory")
    result.assert_outcomes(errors=1)
    result.stdout.no_fnmatch_line("*split.json*")
    result.stdout.fnmatch_lines([
        "*nqo/test_predictions.jsonl:3:partition: 'elsewhere' is not one of*",
        "*ASR-NKO-BEATS-LATIN*demo-nqo-vs-latn-trajectory*ERROR*falsifier raised*"])
