"""Benchmark: the cost of checking a run's claims while it trains (FalsifyCallback).

Opt in with ``python -m pytest tests/bench/test_bench_live.py -m bench -s``. A demo-size run: the
demo LM's architecture (2-layer, 128-wide Qwen3, |V| 2,048) trained by the Hugging Face Trainer on
the demo's own training windows (its BPE tokenizer, built into the demo cache once), batch 32,
context 128, logging every step and evaluating every 10 steps, so the callback checks at every
step: the most it can cost. Each of two rounds trains the run without the callback and then with it,
from the same seed, so the two share the machine's load; the ratio is of their medians.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness.live.trainings import workspace

pytestmark = pytest.mark.bench

STEPS = 20
CONTRACT = """\
area: training
title: Training runs
uses:
  - claim: TRAIN-LOSS-FINITE
    kill: true
    subjects: [demo-size-run]
    controls: [{subject: demo-size-run-diverging, expect: FAIL}]
  - claim: TRAIN-LOSS-DESCENDS
    subjects: [demo-size-run]
    controls: [{subject: demo-size-run-diverging, expect: FAIL}]
  - claim: VAL-BELOW-UNIFORM-AT-BEST
    subjects: [demo-size-run]
    controls: [{subject: demo-size-run-diverging, expect: FAIL}]
"""


@pytest.fixture(autouse=True)
def _opt_in(request: pytest.FixtureRequest) -> None:
    if "bench" not in request.config.getoption("markexpr"):
        pytest.skip("benchmark: opt in with -m bench")


@pytest.fixture(scope="module")
def demo_windows() -> tuple[Any, Any]:
    """The demo LM's training and English dev windows, tokenized by the demo tokenizer."""
    from harness.demo.build import Builder
    from harness.demo.lm import RECIPE, _data, tokenizer_dir
    from harness.workspace import demo_cache_dir

    data = _data(tokenizer_dir(Builder(demo_cache_dir())) / "tokenizer.json", RECIPE)
    return data.train, data.dev["eng_Latn.dev"][:64]


def _train(out: Path, windows: tuple[Any, Any], callbacks: list[Any]) -> float:
    import torch
    from transformers import Trainer, TrainingArguments

    from harness.demo.lm import RECIPE, _qwen3

    train, dev = windows
    rows = [{"input_ids": torch.from_numpy(w), "labels": torch.from_numpy(w)} for w in train]
    eval_rows = [{"input_ids": torch.from_numpy(w), "labels": torch.from_numpy(w)} for w in dev]
    torch.manual_seed(0)
    args = TrainingArguments(
        output_dir=str(out), max_steps=STEPS, per_device_train_batch_size=RECIPE.batch_size,
        per_device_eval_batch_size=64, logging_steps=1, eval_strategy="steps", eval_steps=10,
        save_strategy="no", report_to=[], seed=0, use_cpu=True, learning_rate=RECIPE.lr,
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=_qwen3(RECIPE), args=args, train_dataset=rows,
                      eval_dataset=eval_rows, callbacks=callbacks)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        trainer.train()
    return time.perf_counter() - start


def test_bench_callback_overhead(benchmark: Any, demo_windows: tuple[Any, Any],
                                 tmp_path: Path) -> None:
    """Wall time of a demo-size Trainer run with FalsifyCallback over the same run without."""
    from harness.runs.live import FalsifyCallback

    root = workspace(tmp_path, CONTRACT)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8") + (
        '\n[tool.falsify.subjects.demo-size-run]\nkind = "run-log"\npath = "runs/x"\n'
        'units = {loss = "nats", eval_loss = "nats"}\n'), encoding="utf-8")
    times: dict[str, list[float]] = {"without": [], "with": []}
    callbacks: list[Any] = []

    def pair() -> None:
        times["without"].append(_train(tmp_path / "without", demo_windows, []))
        callback = FalsifyCallback(f"demo-size-run-{len(callbacks)}", subject="demo-size-run",
                                   root=root)
        callbacks.append(callback)
        times["with"].append(_train(tmp_path / "with", demo_windows, [callback]))

    benchmark.group = "live-callback"
    benchmark.pedantic(pair, rounds=2, iterations=1)
    ratio = statistics.median(times["with"]) / statistics.median(times["without"])
    checks = len(callbacks[-1].live.checks)
    benchmark.extra_info.update({"without_s": times["without"], "with_s": times["with"],
                                 "ratio": ratio, "checks_per_run": checks})
    print(f"\nlive-callback: without {statistics.median(times['without']):.2f} s, with "
          f"{statistics.median(times['with']):.2f} s (median of {len(times['with'])}), ratio "
          f"{ratio:.3f}, {checks} checks of {len(callbacks[-1].live.claims)} claims per run")
    assert {c.status for c in callbacks[-1].live.checks} <= {"PASS", "INCONCLUSIVE", "SUSPECT"}
