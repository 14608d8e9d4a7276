"""The demo's tokenizer parity subjects: ground truth from the demo tokenizer, and two ports.

``tokenizer-parity`` holds ``parity.jsonl``: real N'Ko and English dev lines and edge cases (the
empty string, runs of spaces and tabs, N'Ko combining tone marks, emoji with a skin-tone
modifier, special tokens inside text, accented Latin, digits, contractions), each with the ids
the reference ``tokenizers`` library gives it. The port under test is falsify's pure-Python BPE
(``harness.metrics.bpe_port``) reading the demo's tokenizer.json; the control's port reads a
copy whose first two merge rules were written in the wrong order (a faulty export step that
re-sorted the merges), which changes how N'Ko bytes combine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.demo import CORPORA_DIR, lm
from harness.demo.build import Builder, library_versions
from harness.metrics.tokparity import parity_jsonl
from harness.workspace import SubjectSpec

__all__ = ["EDGE_CASES", "demo_tokenizer_port", "demo_tokenizer_port_merge_swapped"]

TOKPARITY_VERSION = 1
LINES = 7  # dev lines per script
EDGE_CASES = ("", " ", "     ", "a     b", "\t\ttabs\tand\nnewlines\n", "ߒߞߏ ߞߊ߬ ߓߟߏ߫",
              "ߊ߬ߟߎ߫ ߞߊ߲߫", "👍🏽 emoji 🤖 ok", "<|endoftext|>after a special token<|endoftext|>",
              "naïve café, déjà vu", "don't 12345 67.8", "ߒߞߏ and English ߞߊ߬ mixed")


def _texts() -> list[str]:
    nko = (CORPORA_DIR / "nqo_Nkoo.dev").read_text("utf-8").splitlines()[:LINES]
    eng = (CORPORA_DIR / "eng_Latn.dev").read_text("utf-8").splitlines()[:LINES]
    return [*nko, *eng, *EDGE_CASES]


def parity_dir(builder: Builder) -> Path:
    """parity.jsonl: each text with the ids the demo tokenizer gives it through `tokenizers`."""
    tok = lm.tokenizer_dir(builder)
    inputs = {"version": TOKPARITY_VERSION, "tokenizer": tok.name, "texts": _texts(),
              "libraries": library_versions("tokenizers")}

    def make(out: Path) -> dict[str, Any]:
        from tokenizers import Tokenizer

        reference = Tokenizer.from_file(str(tok / "tokenizer.json"))
        out.mkdir(parents=True, exist_ok=True)
        data = parity_jsonl(_texts(), lambda t: reference.encode(t).ids)
        (out / "parity.jsonl").write_bytes(data)
        return {"rows": len(_texts()), "edge_cases": len(EDGE_CASES)}

    return builder.artifact("tokenizer-parity", inputs, make)


def swapped_dir(builder: Builder) -> Path:
    """Control port data: the demo tokenizer.json with merge rules 0 and 1 swapped."""
    tok = lm.tokenizer_dir(builder)
    inputs = {"version": TOKPARITY_VERSION, "tokenizer": tok.name, "swap": [0, 1]}

    def make(out: Path) -> dict[str, Any]:
        data = json.loads((tok / "tokenizer.json").read_text("utf-8"))
        merges = data["model"]["merges"]
        merges[0], merges[1] = merges[1], merges[0]
        out.mkdir(parents=True, exist_ok=True)
        (out / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        return {"swapped": [merges[1], merges[0]]}

    return builder.artifact("tokenizer-port-merge-swapped", inputs, make)


ARTIFACTS = {"tokenizer-parity": parity_dir, "tokenizer-port-merge-swapped": swapped_dir}


def _spec(workspace: Any, subject_id: str, port: Path | None) -> SubjectSpec:
    builder = Builder.for_workspace(workspace)
    reference = lm.tokenizer_dir(builder) / "tokenizer.json"
    return SubjectSpec(subject_id, "tokenizer-port",
                       {"reference": str(reference), "port": str(port or reference),
                        "parity": str(parity_dir(builder) / "parity.jsonl")}, source="demo")


def demo_tokenizer_port(workspace: Any) -> SubjectSpec:
    """The pure-Python port reading the demo tokenizer.json, against the parity file."""
    return _spec(workspace, "demo-tokenizer-port", None)


def demo_tokenizer_port_merge_swapped(workspace: Any) -> SubjectSpec:
    """Control: the port reading a tokenizer.json with two merge rules out of order."""
    folder = swapped_dir(Builder.for_workspace(workspace))
    return _spec(workspace, "demo-tokenizer-port-merge-swapped", folder / "tokenizer.json")
