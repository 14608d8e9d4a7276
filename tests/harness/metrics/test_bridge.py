"""The Bambara Latin to N'Ko bridge, its subject files, and BRIDGE-CLEAN-RATE's falsifier run live
on the demo's bridge subjects and its negative control."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.demo import CORPORA_DIR
from harness.ledger import Ledger
from harness.metrics.bridge import (
    BridgeError,
    bam_latn_to_nqo,
    nko_to_latin,
    read_bridge,
    skeleton,
)
from harness.metrics.text import corpus_cer

ROOT = Path(__file__).resolve().parents[3]
NKO_DEV = CORPORA_DIR / "nqo_Nkoo.dev"


@pytest.mark.parametrize(("latin", "nko"), [
    ("ka", "\u07de\u07ca"),                     # ka: KA A
    ("bɛ", "\u07d3\u07cd"),                     # bɛ: BA E (open e)
    ("kan", "\u07de\u07ca\u07f2"),              # a final n after a vowel: the nasal mark
    ("n bɛ", "\u07d2 \u07d3\u07cd"),            # a lone n: the syllabic N
    ("ɲɔgɔn", "\u07e2\u07d0\u07dc\u07d0\u07f2"),
    ("nyaa", "\u07e2\u07ca"),                   # ny is NYA; a long vowel is written once
    ("1893,", "\u07c1\u07c8\u07c9\u07c3\u07f8"),  # digits in logical order, the N'Ko comma
])
def test_transliteration_of_known_words(latin: str, nko: str) -> None:
    assert bam_latn_to_nqo(latin) == nko


def test_skeleton_drops_tone_marks_and_keeps_the_nasal_mark() -> None:
    assert skeleton("\u07de\u07ca\u07eb\u07f2") == "\u07de\u07ca\u07f2"


def test_round_trip_of_the_real_nko_dev_lines_is_nearly_exact() -> None:
    refs = [skeleton(line) for line in NKO_DEV.read_text("utf-8").splitlines()]
    back = [bam_latn_to_nqo(nko_to_latin(line)) for line in refs]
    assert corpus_cer(hyps=back, refs=refs).cer < 0.05


@given(st.text(alphabet="abdefgijklmnoprstuwyɛɔɲ ", max_size=60))
def test_latin_letters_never_survive_the_bridge(text: str) -> None:
    """Every Bambara letter becomes an N'Ko one: no Latin letter is left in the output."""
    assert not any(ch.isascii() and ch.isalpha() for ch in bam_latn_to_nqo(text))


def test_unaligned_files_name_both_files_and_their_counts(tmp_path: Path) -> None:
    source, reference = tmp_path / "s.txt", tmp_path / "r.txt"
    source.write_text("ka\nbɛ\n", "utf-8")
    reference.write_text("\u07de\u07ca\n", "utf-8")
    with pytest.raises(BridgeError, match=r"s\.txt has 2 lines but .*r\.txt has 1"):
        read_bridge("b", "bam-latn-nqo", source, reference)


def test_blank_line_is_named(tmp_path: Path) -> None:
    source, reference = tmp_path / "s.txt", tmp_path / "r.txt"
    source.write_text("ka\n \n", "utf-8")
    reference.write_text("\u07de\u07ca\n\u07de\u07ca\n", "utf-8")
    with pytest.raises(BridgeError, match=r"s\.txt line 2 is blank"):
        read_bridge("b", "bam-latn-nqo", source, reference)


def test_unknown_bridge_lists_the_known(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("ka\n", "utf-8")
    with pytest.raises(BridgeError, match="known: bam-latn-nqo, none"):
        read_bridge("b", "latin-arabic", path, path)


@pytest.fixture(scope="module")
def bridge_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """BRIDGE-CLEAN-RATE's falsifier run live on the demo subjects into a fresh ledger."""
    folder = tmp_path_factory.mktemp("bridge-ledger")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "falsifiers/", "-m", "live", "--claim",
         "BRIDGE-CLEAN-RATE", "--ledger", str(folder), "-q", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    ledger = Ledger(folder, tmp_path_factory.mktemp("index"))
    return {r.subject: str(r.verdict) for r in ledger.records()}


def test_the_demo_bridge_fails_the_seed_criterion(bridge_run: dict[str, str]) -> None:
    assert bridge_run["demo-bridge-bam-nqo"] == "FAIL"


def test_the_same_text_in_both_scripts_passes(bridge_run: dict[str, str]) -> None:
    assert bridge_run["demo-bridge-roundtrip"] == "PASS"


def test_the_bridge_that_does_nothing_fails(bridge_run: dict[str, str]) -> None:
    assert bridge_run["demo-bridge-roundtrip-identity"] == "FAIL"
