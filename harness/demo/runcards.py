"""The demo's run cards: Trainer runs of ``harness.demo.cardrun`` and the READMEs they wrote.

Each run is a real process (``python -m harness.demo.cardrun``) started in the artifact's own
folder, cached like every demo artifact (``harness.demo.build``), keyed by the recipe, the
script's options, the corpus bytes and the library versions:

- ``demo-card-run``: early stopping on ``eval_loss`` as the Trainer ranks a loss by default
  (lower is better); the README counts the shards the loader read.
- ``demo-card-wrong-best``: control: the same run with ``greater_is_better=True``, the faulty
  step, so the Trainer calls the first evaluation best and stops ``patience`` evaluations later.
- ``demo-card-run-126``: the same run again, with the faulty README step: the shard count is
  taken from the plan (126) while the loader skipped the tail shard and the log says 125.
- ``demo-card-doc`` / ``demo-card-doc-126``: kind ``run-doc``: each run's README paired with
  its run log, and the sentences whose numbers the log must bear out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import harness
from harness.demo import CORPORA_DIR
from harness.demo.build import Builder, file_digest, library_versions
from harness.demo.cardrun import CardRecipe
from harness.workspace import SubjectSpec, Workspace

__all__ = [
    "CARD_QUOTES",
    "CARD_UNITS",
    "RUNS",
    "card_run_dir",
    "demo_card_doc",
    "demo_card_doc_126",
    "demo_card_run",
    "demo_card_run_126",
    "demo_card_wrong_best",
]

BUILDER_VERSION = 1
LIBS = ("torch", "transformers", "accelerate", "safetensors", "numpy")
CARD_UNITS = {"loss": "nats", "eval_loss": "nats", "train_loss": "nats",
              "train_shards": "count", "train_shards_skipped": "count",
              "train_tokens": "count", "total_flos": "count"}
# The README's sentences and what in the log each number restates (see harness.runs.rundoc).
CARD_QUOTES: list[dict[str, str]] = [
    {"text": "Trained on {} shards", "series": "train_shards", "take": "last", "unit": "count"},
    {"text": "shards ({} tokens)", "series": "train_tokens", "take": "last", "unit": "count"},
    {"text": "for {} epochs", "field": "epoch", "unit": "count"},
    {"text": "Best eval loss: {} nats", "series": "eval_loss", "take": "min", "unit": "nats"},
    {"text": "Training compute: {} FLOs", "series": "total_flos", "take": "last",
     "unit": "count"},
]


def _run(out: Path, options: list[str]) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    root = str(Path(harness.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": path, "TOKENIZERS_PARALLELISM": "false"}
    start, cpu = time.perf_counter(), time.process_time()
    done = subprocess.run([sys.executable, "-m", "harness.demo.cardrun", *options], cwd=out,
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        msg = (f"the demo card run ({' '.join(options) or 'no options'}) failed with exit code "
               f"{done.returncode}:\n{done.stderr[-4000:]}")
        raise RuntimeError(msg)
    skipped = [line for line in done.stderr.splitlines() if line.endswith("skipped")]
    return {"options": options, "skipped": skipped,
            "train_seconds": round(time.perf_counter() - start, 2),
            "train_cpu_seconds": round(time.process_time() - cpu, 2)}


def card_run_dir(builder: Builder, name: str, options: tuple[str, ...] = ()) -> Path:
    """The Trainer output folder of one card run with the script's ``options``."""
    inputs = {"version": BUILDER_VERSION, "recipe": asdict(CardRecipe()),
              "options": list(options),
              "script": file_digest(Path(__file__).with_name("cardrun.py")),
              "corpora": {n: file_digest(CORPORA_DIR / n) for n in ("eng_Latn", "eng_Latn.dev")},
              "libraries": library_versions(*LIBS)}
    return builder.artifact(name, inputs, lambda out: _run(out, list(options)))


# artifact name -> the script's options
_GOOD = "card-run"
_WRONG_BEST = "card-run-wrong-best"
_PLANNED = "card-run-readme-planned"
RUNS: dict[str, tuple[str, ...]] = {_GOOD: (), _WRONG_BEST: ("--greater-is-better", "true"),
                                    _PLANNED: ("--readme-count", "planned")}


def _run_log(workspace: Workspace, subject_id: str, run: str) -> SubjectSpec:
    folder = card_run_dir(Builder.for_workspace(workspace), run, RUNS[run])
    return SubjectSpec(subject_id, "run-log",
                       {"path": str(folder), "format": "trainer", "units": dict(CARD_UNITS)},
                       "demo")


def demo_card_run(workspace: Workspace) -> SubjectSpec:
    """The card run, early stopping on eval_loss with the Trainer's own direction for a loss."""
    return _run_log(workspace, "demo-card-run", _GOOD)


def demo_card_wrong_best(workspace: Workspace) -> SubjectSpec:
    """Control: the card run with greater_is_better=True for eval_loss."""
    return _run_log(workspace, "demo-card-wrong-best", _WRONG_BEST)


def demo_card_run_126(workspace: Workspace) -> SubjectSpec:
    """The card run whose script writes the README's shard count from the plan."""
    return _run_log(workspace, "demo-card-run-126", _PLANNED)


def _doc(workspace: Workspace, subject_id: str, run_id: str, run: str) -> SubjectSpec:
    folder = card_run_dir(Builder.for_workspace(workspace), run, RUNS[run])
    return SubjectSpec(subject_id, "run-doc",
                       {"doc": str(folder / "README.md"), "run": run_id,
                        "quotes": [dict(q) for q in CARD_QUOTES]}, "demo")


def demo_card_doc(workspace: Workspace) -> SubjectSpec:
    """The card run's README beside its log."""
    return _doc(workspace, "demo-card-doc", "demo-card-run", _GOOD)


def demo_card_doc_126(workspace: Workspace) -> SubjectSpec:
    """Control: the README that says 126 shards beside the log that says 125."""
    return _doc(workspace, "demo-card-doc-126", "demo-card-run-126", _PLANNED)
