"""A small, always-run load test of the demo gate process: 8 clients x 200 requests on loopback,
every answer matched to its request; the full one (32 clients, 10,000) is tests/bench."""

from __future__ import annotations

from pathlib import Path

from harness.runs.gate_client import GateProcess
from harness.runs.gate_server import Lexicon
from tests.harness.runs.load import run_load
from tests.harness.runs.test_gate import WORDS


def test_eight_clients_lose_and_mix_up_nothing(tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    with GateProcess(lexicon, "lexicon") as gate:
        report = run_load(gate.url, Lexicon(WORDS), "lexicon", clients=8, requests=1600,
                          bound_s=120)
    print(report.summary())
    assert report.lost == 0, report.errors[:3]
    assert report.mixed == 0
    assert report.answered == 1600
