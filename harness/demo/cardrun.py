"""The demo's "run card" training script: a tiny Qwen3 trained on byte-level shards of the demo's
English lines with the Hugging Face Trainer and ``EarlyStoppingCallback``; it writes its own
``README.md`` at the end, as training scripts that publish a model card do.

Run as a process, in the folder it trains into (``python -m harness.demo.cardrun ...``, the
demo builder does so): the Trainer writes ``output_dir`` into ``trainer_state.json`` as
``best_model_checkpoint``, so a run started in its own folder with ``output_dir="."`` records
the same bytes wherever the demo cache lives.

What it does, step by step:

1. Packs the first ``shard_tokens * full_shards + tail_tokens`` byte tokens of the English lines
   into ``shards/shard-NNNNN.npy`` of ``shard_tokens`` tokens each (``np.save``): the plan is
   ``ceil(tokens / shard_tokens)`` shards, the last one a short tail.
2. Loads the shards into (context + 1)-token windows; a shard too short for one window is
   skipped, and says so on stderr. The real failure of a tail shard: the log records the shards
   it trained on.
3. Trains with eval, save and log every epoch, ``load_best_model_at_end`` on ``eval_loss``, and
   early stopping after ``patience`` evaluations without improvement.
4. Logs the data it trained on (``train_shards``, ``train_shards_skipped``, ``train_tokens``)
   through ``Trainer.log``, saves the state, and writes ``README.md``.

The faulty steps of the demo's negative controls are options of this script:
``--greater-is-better`` ranks ``eval_loss`` as a metric to maximise (a loss is minimised), and
``--readme-count planned`` writes the README's shard count from the plan, not from what the
loader read. The Trainer's wall-clock throughput keys (``*_runtime``, ``*_per_second``) are
dropped as they are logged, by a callback, so two builds from one seed give the same bytes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.demo import CORPORA_DIR

__all__ = ["CardRecipe", "main", "pack_shards", "read_shards"]

EOS = 256  # bytes are tokens 0-255; the line separator is 256
VOCAB = 258


@dataclass(frozen=True)
class CardRecipe:
    """Everything the card run depends on besides the corpus and the library versions."""

    context: int = 32
    shard_tokens: int = 66  # two training windows per shard
    full_shards: int = 125
    tail_tokens: int = 20  # the 126th shard: shorter than one window
    dev_windows: int = 48
    hidden_size: int = 48
    intermediate_size: int = 96
    batch_size: int = 25
    lr: float = 3e-3
    max_epochs: int = 80
    patience: int = 8
    seed: int = 0
    threads: int = 1


def _byte_stream(name: str, limit: int) -> np.ndarray:
    out: list[int] = []
    for line in (CORPORA_DIR / name).read_text("utf-8").splitlines():
        if line.strip():
            out.extend(line.encode("utf-8"))
            out.append(EOS)
        if len(out) >= limit:
            break
    return np.asarray(out[:limit], dtype=np.uint16)


def pack_shards(folder: Path, recipe: CardRecipe) -> list[Path]:
    """Write the planned shards; return their paths (the plan: every shard written)."""
    total = recipe.shard_tokens * recipe.full_shards + recipe.tail_tokens
    stream = _byte_stream("eng_Latn", total)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(math.ceil(total / recipe.shard_tokens)):
        path = folder / f"shard-{i + 1:05d}.npy"
        np.save(path, stream[i * recipe.shard_tokens:(i + 1) * recipe.shard_tokens])
        paths.append(path)
    return paths


def read_shards(paths: list[Path], width: int) -> tuple[np.ndarray, list[Path]]:
    """The ``width``-token windows of every shard that holds at least one, and the shards read."""
    windows, read = [], []
    for path in paths:
        tokens = np.load(path)
        n = len(tokens) // width
        if n == 0:
            print(f"{path.name}: {len(tokens)} tokens, shorter than one {width}-token window; "
                  f"skipped", file=sys.stderr)
            continue
        windows.append(tokens[:n * width].reshape(n, width).astype(np.int64))
        read.append(path)
    return np.concatenate(windows), read


class _Windows:
    """A map-style dataset of causal-LM examples (labels are the inputs; the model shifts)."""

    def __init__(self, windows: np.ndarray) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        ids = torch.from_numpy(self.windows[i])
        return {"input_ids": ids, "labels": ids.clone()}


def _model(recipe: CardRecipe) -> Any:
    from harness.demo.lm import LMRecipe, _qwen3

    return _qwen3(LMRecipe(vocab_size=VOCAB, hidden_size=recipe.hidden_size, num_layers=1,
                           num_heads=2, num_kv_heads=1,
                           intermediate_size=recipe.intermediate_size, context=recipe.context))


def _no_wall_clock() -> Any:
    from transformers import TrainerCallback

    class NoWallClock(TrainerCallback):
        """Drops the throughput keys of the entry just logged: they vary from build to build."""

        def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            entry = state.log_history[-1]
            for key in [k for k in entry if k.endswith(("_runtime", "_per_second"))]:
                del entry[key]

    return NoWallClock()


def train(out: Path, recipe: CardRecipe, greater_is_better: bool | None,
          readme_count: str) -> dict[str, Any]:
    """Pack, train, log and write the README into ``out`` (the demo starts the script in it,
    so the Trainer's output_dir, recorded in every trainer_state.json, is ``.``); torch's
    thread count, determinism and RNG are restored afterwards."""
    from harness.demo.lm import _deterministic_torch

    with _deterministic_torch(recipe.threads, recipe.seed):
        return _train(out, recipe, greater_is_better, readme_count)


def _train(out: Path, recipe: CardRecipe, greater_is_better: bool | None,
           readme_count: str) -> dict[str, Any]:
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    width = recipe.context + 1
    planned = pack_shards(out / "shards", recipe)
    train_windows, read = read_shards(planned, width)
    dev = _byte_stream("eng_Latn.dev", recipe.dev_windows * width).reshape(-1, width)
    args = TrainingArguments(
        output_dir=os.path.relpath(out), eval_strategy="epoch", save_strategy="epoch",
        logging_strategy="epoch", num_train_epochs=recipe.max_epochs,
        per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=recipe.dev_windows, learning_rate=recipe.lr,
        load_best_model_at_end=True, metric_for_best_model="eval_loss",
        greater_is_better=greater_is_better, save_total_limit=2, save_only_model=True,
        report_to="none", seed=recipe.seed, data_seed=recipe.seed, use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=_model(recipe), args=args, train_dataset=_Windows(train_windows),
                      eval_dataset=_Windows(dev.astype(np.int64)),
                      callbacks=[EarlyStoppingCallback(recipe.patience), _no_wall_clock()])
    trainer.train()
    facts = {"train_shards": len(read), "train_shards_skipped": len(planned) - len(read),
             "train_tokens": int(train_windows.size)}
    trainer.log(dict(facts))
    trainer.save_state()
    shards = len(planned) if readme_count == "planned" else len(read)
    _write_readme(out / "README.md", trainer.state, shards, facts["train_tokens"])
    return {**facts, "planned_shards": len(planned), "readme_shards": shards}


def _write_readme(path: Path, state: Any, shards: int, tokens: int) -> None:
    evals = [e for e in state.log_history if "eval_loss" in e]
    best = min(evals, key=lambda e: e["eval_loss"])
    flos = next(e["total_flos"] for e in state.log_history if "total_flos" in e)
    train_loss = next(e["train_loss"] for e in state.log_history if "train_loss" in e)
    path.write_text(
        "# Demo card run\n\n"
        "A one-layer Qwen3 over UTF-8 bytes, trained with the Hugging Face Trainer on the demo's "
        "English lines and stopped early on its eval loss.\n\n"
        f"- Trained on {shards} shards ({tokens:,} tokens) for {int(state.epoch)} epochs.\n"
        f"- Best eval loss: {best['eval_loss']:.4f} nats, at epoch {int(best['epoch'])}.\n"
        f"- Mean train loss over the run: {train_loss:.3f} nats.\n"
        f"- Training compute: {flos:.2e} FLOs.\n", "utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--greater-is-better", choices=["default", "true"], default="default")
    parser.add_argument("--readme-count", choices=["processed", "planned"],
                        default="processed")
    parsed = parser.parse_args(argv)
    gib = True if parsed.greater_is_better == "true" else None
    facts = train(Path.cwd(), CardRecipe(), gib, parsed.readme_count)
    print(facts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
