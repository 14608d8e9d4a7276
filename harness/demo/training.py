"""The demo's training runs: short seeded CPU trainings of the demo LM, logged by real tools.

Each run trains a small configuration of the demo model (:func:`harness.demo.lm._qwen3`, the
tiny tied Qwen3; :data:`SMALL` keeps each run to seconds) on the demo's own tokenizer and
corpora, and is logged by the library a researcher would use:

- ``demo-trainer-run`` / ``demo-trainer-tb``: a Hugging Face ``Trainer`` run (eval and a
  checkpoint every ``eval_every`` steps, ``load_best_model_at_end``), read from its
  ``trainer_state.json`` and from the TensorBoard events its ``report_to="tensorboard"`` wrote;
- ``demo-trainer-nan``: the same Trainer run with a learning rate that diverges: the weights
  overflow and the loss turns NaN (the Trainer logs the NaN loss as the running mean,
  ``logging_nan_inf_filter``; its gradient norm and eval loss show the NaN);
- ``demo-lightning-run`` / ``demo-lightning-flat`` / ``demo-lightning-diverge``: a PyTorch
  Lightning module logged by ``CSVLogger`` (``metrics.csv``, ``hparams.yaml``), trained well,
  with a learning rate of 0 (the loss only wanders with the batches), and with a learning rate
  that makes the loss climb;
- ``demo-mlx-run-bits``: a plain MLX loop writing JSON Lines, its losses in bits (declared so);
- ``demo-mlx-aprender`` / ``demo-mlx-aprender-bits``: the MLX loop whose validation split was
  tokenized from the other language's file (the faulty step): the training loss falls while
  the validation loss climbs above ln|V|; logged in nats, and in bits.

Every number in these logs is written by the library while the run trains; a fault is made by
its faulty step (a learning rate, a data split), never by editing a log. Each run is cached in
the demo cache keyed by its recipe, the corpora and the library versions.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.demo.build import Builder, library_versions
from harness.demo.lm import (
    TRAIN_TEXT,
    LMRecipe,
    _corpus_digests,
    _lines,
    _qwen3,
    _token_stream,
    _windows,
    tokenizer_dir,
)
from harness.demo.tokenizer import EOS
from harness.workspace import SubjectSpec

__all__ = [
    "SMALL",
    "RunRecipe",
    "demo_lightning_diverge",
    "demo_lightning_flat",
    "demo_lightning_run",
    "demo_mlx_aprender",
    "demo_mlx_aprender_bits",
    "demo_mlx_run_bits",
    "demo_trainer_nan",
    "demo_trainer_run",
    "demo_trainer_tb",
    "train_with_trainer",
]

VERSION = 2  # 2: relative Trainer paths, TensorBoard events in runs/, no wall time in JSON Lines
# The demo LM's architecture at a size that trains a few dozen steps in seconds on two cores:
# the demo tokenizer (|V| = 2048), one layer, 64 wide, 32-token windows.
SMALL = LMRecipe(hidden_size=64, num_layers=1, num_heads=2, num_kv_heads=1,
                 intermediate_size=128, context=32, threads=1)


@dataclass(frozen=True)
class RunRecipe:
    """One training run: everything its log depends on besides the corpora and libraries."""

    steps: int = 80
    batch_size: int = 8
    lr: float = 3e-3
    warmup: int = 0  # steps of linear warmup to lr (Lightning runs); 0: lr from the start
    log_every: int = 1
    eval_every: int = 10
    eval_windows: int = 32
    seed: int = 0
    train_text: str = "both"  # "both" (English + N'Ko, as the demo LM) or "nqo_Nkoo"
    val_text: str = "eng_Latn.dev"
    unit: str = "nats"  # the unit the loop logs its losses in (MLX runs)


def _inputs(builder: Builder, run: RunRecipe, libs: tuple[str, ...]) -> dict[str, Any]:
    return {"version": VERSION, "model": asdict(SMALL), "run": asdict(run),
            "tokenizer": tokenizer_dir(builder, SMALL).name, "corpora": _corpus_digests(),
            "libraries": library_versions(*libs)}


@functools.cache
def _text_windows(tokenizer_json: Path, name: str) -> np.ndarray:
    """[N, context + 1] token windows of one shipped text (tokenized once per process)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    limit = SMALL.nko_lines if name == "nqo_Nkoo" else None
    eos = tok.token_to_id(EOS)
    if eos is None:
        msg = f"{tokenizer_json}: no {EOS} token; rebuild the demo (falsify demo build --rebuild)"
        raise ValueError(msg)
    stream = _token_stream(tok, _lines(name, limit), eos)
    return _windows(stream, SMALL.context + 1)


def _split(builder: Builder, run: RunRecipe) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation windows for ``run``: the demo LM's training text (English and
    N'Ko) or one language of it, and the first ``eval_windows`` of a dev set."""
    tokenizer_json = tokenizer_dir(builder, SMALL) / "tokenizer.json"
    texts = TRAIN_TEXT if run.train_text == "both" else (run.train_text,)
    train = np.concatenate([_text_windows(tokenizer_json, t) for t in texts])
    val = _text_windows(tokenizer_json, run.val_text)[: run.eval_windows]
    return train, val


def _quiet() -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Environment variables set for the duration (the Trainer's TensorBoard folder is one)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _silenced(name: str) -> Iterator[None]:
    """A library's info logging (Lightning's "GPU available: False") off for the duration."""
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


# ------------------------------------------------------------------------- Trainer runs

TRAINER_LIBS = ("torch", "transformers", "tokenizers", "tensorboard", "numpy")
TRAINER_RUN = RunRecipe()
# 3e-3 typed as 3e3: AdamW moves every weight by about lr per step, the residual stream
# outgrows float32 in the norms' squares, and the gradients turn NaN a few steps in.
TRAINER_NAN = replace(TRAINER_RUN, lr=3e3)


def train_with_trainer(builder: Builder, run: RunRecipe, out: Path,
                       callbacks: tuple[Any, ...] = ()) -> dict[str, Any]:
    """Train ``run`` with a Hugging Face ``Trainer`` into ``out`` (trainer_state.json,
    checkpoints, TensorBoard events under ``runs/``); ``callbacks`` join the Trainer's
    (``harness.demo.liverun`` adds :class:`~harness.runs.live.FalsifyCallback`)."""
    import torch
    from transformers import Trainer, TrainingArguments

    train, val = _split(builder, run)
    start = time.perf_counter()
    torch.manual_seed(run.seed)
    torch.set_num_threads(SMALL.threads)
    model = _qwen3(SMALL)
    rows = [{"input_ids": torch.from_numpy(w), "labels": torch.from_numpy(w)} for w in train]
    evals = [{"input_ids": torch.from_numpy(w), "labels": torch.from_numpy(w)} for w in val]
    out.mkdir(parents=True, exist_ok=True)
    args = TrainingArguments(
        output_dir=".", max_steps=run.steps, per_device_train_batch_size=run.batch_size,
        per_device_eval_batch_size=run.eval_windows, logging_steps=run.log_every,
        eval_strategy="steps", eval_steps=run.eval_every, save_strategy="steps",
        save_steps=run.eval_every, load_best_model_at_end=True,
        metric_for_best_model="eval_loss", greater_is_better=False,
        report_to=["tensorboard"], seed=run.seed, data_seed=run.seed, use_cpu=True,
        learning_rate=run.lr, optim="adamw_torch", dataloader_num_workers=0,
        disable_tqdm=True, save_only_model=True)
    # Run from the output folder with output_dir ".": the Trainer writes the paths it records
    # (best_model_checkpoint) relative to it, the same in every build and cache.
    with _quiet(), contextlib.chdir(out), _environ(TENSORBOARD_LOGGING_DIR="runs"):
        trainer = Trainer(model=model, args=args, train_dataset=rows, eval_dataset=evals,
                          callbacks=list(callbacks))
        trainer.train()
        trainer.save_state()
        trainer.save_model()
    return {"train_seconds": round(time.perf_counter() - start, 2),
            "train_windows": len(rows), "eval_windows": len(evals),
            "ln_vocab_nats": round(math.log(SMALL.vocab_size), 4),
            "steps_trained": int(trainer.state.global_step)}


def _trainer_folder(builder: Builder, run: RunRecipe, name: str) -> Path:
    def make(out: Path) -> dict[str, Any]:
        found = train_with_trainer(builder, run, out)
        found.pop("steps_trained")  # the cached runs' metadata, as before
        return found

    return builder.artifact(name, _inputs(builder, run, TRAINER_LIBS), make)


def _trainer_spec(workspace: Any, subject_id: str, run: RunRecipe, name: str,
                  tensorboard: bool = False) -> SubjectSpec:
    folder = _trainer_folder(Builder.for_workspace(workspace), run, name)
    if tensorboard:
        events = folder / "runs"
        units = {"train/loss": "nats", "eval/loss": "nats"}
        return SubjectSpec(subject_id, "run-log",
                           {"path": str(events), "format": "tensorboard", "units": units,
                            "vocab_size": SMALL.vocab_size}, source="demo")
    return SubjectSpec(subject_id, "run-log",
                       {"path": str(folder), "format": "trainer",
                        "units": {"loss": "nats", "eval_loss": "nats"}}, source="demo")


def demo_trainer_run(workspace: Any) -> SubjectSpec:
    """A Trainer run that completes well: trainer_state.json, checkpoints, config.json."""
    return _trainer_spec(workspace, "demo-trainer-run", TRAINER_RUN, "train-trainer")


def demo_trainer_tb(workspace: Any) -> SubjectSpec:
    """The same Trainer run, read from the TensorBoard events it wrote (|V| given here: the
    event files hold no model config)."""
    return _trainer_spec(workspace, "demo-trainer-tb", TRAINER_RUN, "train-trainer",
                         tensorboard=True)


def demo_trainer_nan(workspace: Any) -> SubjectSpec:
    """Control: the Trainer run at a learning rate that diverges to NaN."""
    return _trainer_spec(workspace, "demo-trainer-nan", TRAINER_NAN, "train-trainer-nan")


# ------------------------------------------------------------------------ Lightning runs

LIGHTNING_LIBS = ("torch", "lightning", "transformers", "tokenizers", "numpy")
LIGHTNING_RUN = RunRecipe()
# The learning rate left at 0 (a scheduler's start value, a config default): the loss only
# wanders with the batches.
LIGHTNING_FLAT = replace(LIGHTNING_RUN, lr=0.0)
# Warmup to a peak learning rate a thousand times too high (3 for 3e-3), over the whole run:
# the loss falls while the rate is small, then climbs as it grows (an LR range test's curve).
LIGHTNING_DIVERGE = replace(LIGHTNING_RUN, lr=3.0, warmup=LIGHTNING_RUN.steps)


def _lightning_module(run: RunRecipe) -> Any:
    import lightning
    import torch

    from harness.demo.lm import _batch_loss

    class TinyLM(lightning.LightningModule):
        """The demo LM as a LightningModule: next-token loss, Adam, logged by name."""

        def __init__(self) -> None:
            super().__init__()
            self.save_hyperparameters({"vocab_size": SMALL.vocab_size, "lr": run.lr,
                                       "hidden_size": SMALL.hidden_size, "seed": run.seed})
            self.model = _qwen3(SMALL)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = _batch_loss(self.model, batch[0])
            self.log("train_loss", loss, on_step=True, on_epoch=False)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val_loss", _batch_loss(self.model, batch[0]), on_step=False,
                     on_epoch=True)

        def configure_optimizers(self) -> Any:
            opt = torch.optim.Adam(self.parameters(), lr=run.lr)
            if not run.warmup:
                return opt
            ramp = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda step: min(1.0, (step + 1) / run.warmup))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": ramp, "interval": "step"}}

    return TinyLM()


def _lightning_folder(builder: Builder, run: RunRecipe, name: str) -> Path:
    def make(out: Path) -> dict[str, Any]:
        import lightning
        import torch
        from lightning.pytorch.loggers import CSVLogger
        from torch.utils.data import DataLoader, TensorDataset

        train, val = _split(builder, run)
        start = time.perf_counter()
        torch.set_num_threads(SMALL.threads)
        lightning.seed_everything(run.seed, verbose=False)
        module = _lightning_module(run)
        loader = DataLoader(TensorDataset(torch.from_numpy(train)), batch_size=run.batch_size,
                            shuffle=True, generator=torch.Generator().manual_seed(run.seed))
        val_loader = DataLoader(TensorDataset(torch.from_numpy(val)),
                                batch_size=run.eval_windows)
        logger = CSVLogger(str(out), name="lightning", version=0)
        with _silenced("lightning.pytorch"):
            trainer = lightning.Trainer(
                max_steps=run.steps, accelerator="cpu", devices=1, logger=logger,
                log_every_n_steps=run.log_every, val_check_interval=run.eval_every,
                check_val_every_n_epoch=None, num_sanity_val_steps=0,
                enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, deterministic=True)
        with _quiet(), _silenced("lightning.pytorch"):
            trainer.fit(module, loader, val_loader)
        return {"train_seconds": round(time.perf_counter() - start, 2),
                "train_windows": len(train), "eval_windows": len(val),
                "ln_vocab_nats": round(math.log(SMALL.vocab_size), 4)}

    return builder.artifact(name, _inputs(builder, run, LIGHTNING_LIBS), make)


def _lightning_spec(workspace: Any, subject_id: str, run: RunRecipe, name: str) -> SubjectSpec:
    folder = _lightning_folder(Builder.for_workspace(workspace), run, name)
    return SubjectSpec(subject_id, "run-log",
                       {"path": str(folder / "lightning" / "version_0"), "format": "csv",
                        "units": {"train_loss": "nats", "val_loss": "nats"}}, source="demo")


def demo_lightning_run(workspace: Any) -> SubjectSpec:
    """A Lightning run logged by CSVLogger, trained well (|V| from its hparams.yaml)."""
    return _lightning_spec(workspace, "demo-lightning-run", LIGHTNING_RUN, "train-lightning")


def demo_lightning_flat(workspace: Any) -> SubjectSpec:
    """Control: the Lightning run with a learning rate of 0."""
    return _lightning_spec(workspace, "demo-lightning-flat", LIGHTNING_FLAT,
                           "train-lightning-flat")


def demo_lightning_diverge(workspace: Any) -> SubjectSpec:
    """Control: the Lightning run with a learning rate at which the loss climbs."""
    return _lightning_spec(workspace, "demo-lightning-diverge", LIGHTNING_DIVERGE,
                           "train-lightning-diverge")


# ----------------------------------------------------------------------------- MLX runs

MLX_LIBS = ("mlx", "mlx-lm", "transformers", "tokenizers", "numpy")
# A plain MLX loop that logs its losses in bits (cross-entropy / ln 2), declared as bits.
MLX_BITS = replace(RunRecipe(), unit="bits")
# The faulty step: the loop trains on the N'Ko text while its validation split is tokenized
# from the English dev file. The training loss falls; the model moves probability to N'Ko
# tokens and the validation loss climbs above ln|V|.
MLX_APRENDER = replace(RunRecipe(), train_text="nqo_Nkoo", val_text="eng_Latn.dev")
MLX_APRENDER_BITS = replace(MLX_APRENDER, unit="bits", seed=1)


def _mlx_folder(builder: Builder, run: RunRecipe, name: str) -> Path:
    def make(out: Path) -> dict[str, Any]:
        import mlx.core as mx
        import mlx.nn as nn
        import mlx.optimizers as optim
        from mlx_lm.models.qwen3 import Model, ModelArgs

        train, val = _split(builder, run)
        start = time.perf_counter()
        mx.random.seed(run.seed)
        model = Model(ModelArgs.from_dict(  # type: ignore[no-untyped-call]
            _qwen3(SMALL).config.to_dict()))
        scale = 1.0 if run.unit == "nats" else 1.0 / math.log(2.0)

        def loss_fn(model: Any, batch: Any) -> Any:
            logits = model(batch[:, :-1])
            return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean") * scale

        step_fn = nn.value_and_grad(model, loss_fn)  # type: ignore[attr-defined]
        opt = optim.AdamW(learning_rate=run.lr)
        rng = np.random.default_rng(run.seed)
        val_batch = mx.array(val)
        out.mkdir(parents=True, exist_ok=True)
        with (out / "log.jsonl").open("w", encoding="utf-8") as log:
            for step in range(1, run.steps + 1):
                batch = mx.array(train[rng.integers(0, len(train), run.batch_size)])
                loss, grads = step_fn(model, batch)
                grads, norm = optim.clip_grad_norm(grads, 1.0)  # type: ignore[no-untyped-call]
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss, norm)
                # No wall time: the log is an input of evidence and must rebuild bit for bit.
                entry: dict[str, Any] = {"step": step, "train_loss": loss.item(),
                                         "grad_norm": norm.item()}
                if step % run.eval_every == 0:
                    entry["val_loss"] = loss_fn(model, val_batch).item()
                log.write(json.dumps(entry) + "\n")
        return {"train_seconds": round(time.perf_counter() - start, 2),
                "train_windows": len(train), "eval_windows": len(val), "unit": run.unit,
                "ln_vocab_nats": round(math.log(SMALL.vocab_size), 4),
                "log2_vocab_bits": round(math.log2(SMALL.vocab_size), 4)}

    return builder.artifact(name, _inputs(builder, run, MLX_LIBS), make)


def _mlx_spec(workspace: Any, subject_id: str, run: RunRecipe, name: str) -> SubjectSpec:
    folder = _mlx_folder(Builder.for_workspace(workspace), run, name)
    return SubjectSpec(subject_id, "run-log",
                       {"path": str(folder / "log.jsonl"), "format": "jsonl",
                        "units": {"train_loss": run.unit, "val_loss": run.unit},
                        "vocab_size": SMALL.vocab_size}, source="demo")


def demo_mlx_run_bits(workspace: Any) -> SubjectSpec:
    """A plain MLX loop logging JSON Lines, its losses in bits (|V| given here: the log holds
    no model config)."""
    return _mlx_spec(workspace, "demo-mlx-run-bits", MLX_BITS, "train-mlx-bits")


def demo_mlx_aprender(workspace: Any) -> SubjectSpec:
    """Control: training loss falls, validation loss (the other language) above ln|V|."""
    return _mlx_spec(workspace, "demo-mlx-aprender", MLX_APRENDER, "train-mlx-aprender")


def demo_mlx_aprender_bits(workspace: Any) -> SubjectSpec:
    """Control: the same faulty split logged in bits; its best validation loss lies between
    ln|V| and log2|V| nats, so only a check that converts bits and compares with ln|V| fails
    it (one that compares nats with log2|V|, the "ln(151643) = 17.21" slip, passes it)."""
    return _mlx_spec(workspace, "demo-mlx-aprender-bits", MLX_APRENDER_BITS,
                     "train-mlx-aprender-bits")
