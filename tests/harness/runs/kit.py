"""Small real run bundles for the tests, written with the demo's bundle writer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.demo.bundles import RunSpec, write_bundle
from harness.metrics.text import TextPolicy, char_edits, ref_chars

POLICY = TextPolicy("NFC", "collapse")
PAIRS = [("ߊ߬ ߦߋ߫ ߓߊ߯ߙߊ", "ߊ߬ ߦߋ߫ ߓߊ߯ߙߊ߫"), ("a ye baara", "a ye baara kɛ"),
         ("ߒ ߓߘߊ߫", "ߒ ߓߘߊ߫"), ("n bɛ taa", "n bɛ taa"), ("so", "sɔ"),
         ("ߞߊ߬ ߕߊ߯", "ߞߊ߬ ߕߊ߯ ߓߌ߬ߟߊ߫")]
PARTS = ("stable", "boundary", "uncertain", "novelty", "stable", "boundary")


def row(i: int, hyp: str, ref: str, *, script: str = "nqo", mode: str = "trajectory",
        partition: str | None = None) -> dict[str, Any]:
    return {"feat_id": f"utt{i:05d}", "audio_id": f"a{i}", "split": "test", "script": script,
            "mode": mode, "asr_text": hyp, "reference_text": ref,
            "cer_edits": char_edits(hyp=hyp, ref=ref,
                                    policy=POLICY), "reference_chars": ref_chars(ref, POLICY),
            "trajectory_scalars": {"entropy_mean": 0.5 + i / 10},
            "partition": partition or PARTS[i % len(PARTS)]}


def rows_for(pairs: Sequence[tuple[str, str]], **kw: Any) -> list[dict[str, Any]]:
    return [row(i, h, r, **kw) for i, (h, r) in enumerate(pairs)]


def make_bundle(folder: Path, pairs: Sequence[tuple[str, str]] = PAIRS, *,
                script: str = "nqo", mode: str = "trajectory", seed: int = 0,
                dataset: str = "test set") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_bundle(folder, RunSpec(script, mode, seed), rows_for(pairs, script=script, mode=mode),
                 dataset)
    return folder


def rewrite_lines(path: Path, edit: Any) -> None:
    """Apply ``edit(lines) -> lines`` to the raw lines of a JSONL file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8")


def set_field(path: Path, line: int, key: str, value: Any) -> None:
    """Set ``key`` of the JSON object on 1-based ``line`` (value written as raw JSON text)."""
    def edit(lines: list[str]) -> list[str]:
        data = json.loads(lines[line - 1])
        data[key] = "__RAW__"
        lines[line - 1] = json.dumps(data, ensure_ascii=False).replace('"__RAW__"', value)
        return lines
    rewrite_lines(path, edit)
