"""Tiny real trainings on CPU for the live-check tests: a Trainer, a Lightning and an MLX run.

Each is a seeded run of seconds. The faulty run is made by its faulty step: plain SGD at a learning
rate of 100 with no gradient clipping, whose loss grows a thousandfold a step until, at step 4,
the gradient norm is NaN (the Trainer's NaN filter hides it in the logged loss); the Lightning
and MLX runs overflow the same way (SGD at 1e3 and 1e4), where the logged loss itself turns NaN.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from pathlib import Path
from typing import Any

VOCAB = 64
CONTRACT = """\
area: training
title: Training runs
uses:
  - claim: TRAIN-LOSS-FINITE
    kill: true
    subjects: [tiny-run, tiny-lightning, tiny-mlx]
    controls:
      - subject: tiny-run-diverging
        expect: FAIL
        why: SGD at learning rate 100 with no clipping; the gradient norm turns NaN at step 4
  - claim: TRAIN-LOSS-DESCENDS
    subjects: [tiny-run, tiny-lightning]
    controls:
      - subject: tiny-run-diverging
        expect: FAIL
        why: the loss grows a thousandfold a step before it turns NaN
  - claim: VAL-BELOW-UNIFORM-AT-BEST
    subjects: [tiny-run, tiny-lightning]
    controls:
      - subject: tiny-run-diverging
        expect: FAIL
        why: its only evaluation is NaN
"""


def workspace(root: Path, contract: str = CONTRACT) -> Path:
    """A falsify project at ``root``: the contract above and run-log subjects with units."""
    (root / "contracts").mkdir(parents=True, exist_ok=True)
    (root / "contracts" / "training.yaml").write_text(contract, encoding="utf-8")
    subjects = "".join(textwrap.dedent(f"""
        [tool.falsify.subjects.{sid}]
        kind = "run-log"
        path = "runs/{sid}"
        units = {{loss = "nats", eval_loss = "nats", train_loss = "nats", val_loss = "nats"}}
        """) for sid in ("tiny-run", "tiny-run-diverging", "tiny-lightning", "tiny-mlx"))
    (root / "pyproject.toml").write_text("[project]\nname = \"tiny\"\nversion = \"0\"\n"
                                         + subjects, encoding="utf-8")
    return root


def tiny_lm(seed: int = 0) -> Any:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         intermediate_size=64, max_position_embeddings=64,
                         tie_word_embeddings=True, pad_token_id=2, eos_token_id=1,
                         bos_token_id=None)
    torch.manual_seed(seed)
    return Qwen3ForCausalLM(config)


def token_rows(n: int = 48, length: int = 16, seed: int = 0) -> list[dict[str, Any]]:
    """Rows of a repeating pattern the model can learn in a few dozen steps."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        start = int(torch.randint(3, VOCAB - length, (1,), generator=gen))
        row = torch.arange(start, start + length)
        rows.append({"input_ids": row, "labels": row})
    return rows


DIVERGING = {"lr": 100.0, "clip": 0.0, "optim": "sgd"}


def train_hf(out: Path, callbacks: list[Any], *, lr: float = 3e-3, steps: int = 12,
             clip: float = 1.0, eval_steps: int = 4, optim: str = "adamw_torch") -> Any:
    """A Trainer run of the tiny LM, logging every step and evaluating every ``eval_steps``."""
    from transformers import Trainer, TrainingArguments

    data = token_rows()
    args = TrainingArguments(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=4,
        per_device_eval_batch_size=8, logging_steps=1, eval_strategy="steps",
        eval_steps=eval_steps, save_strategy="no", report_to=[], seed=0, use_cpu=True,
        learning_rate=lr, max_grad_norm=clip, optim=optim, lr_scheduler_type="constant",
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=tiny_lm(), args=args, train_dataset=data[:40],
                      eval_dataset=data[40:], callbacks=callbacks)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        trainer.train()
    return trainer


def records(ledger: Path) -> list[dict[str, Any]]:
    """Every record of every segment under ``ledger``, in file order."""
    import json

    return [json.loads(line) for seg in sorted(ledger.glob("*.jsonl"))
            for line in seg.read_text(encoding="utf-8").splitlines()]


def verify(root: Path) -> tuple[int, str]:
    """``falsify verify`` over the project, in a fresh process, as a user runs it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "verify", "--root", str(root),
                           "--allow-unsigned"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def lightning_module(lr: float, optimizer: str = "adamw") -> Any:
    """The tiny LM as a LightningModule logging train_loss each step and val_loss per validation."""
    import lightning.pytorch as pl
    import torch

    class TinyLM(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.save_hyperparameters({"vocab_size": VOCAB, "lr": lr})
            self.model = tiny_lm()

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            loss = self.model(input_ids=batch, labels=batch).loss
            self.log("train_loss", loss, on_step=True, on_epoch=False)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val_loss", self.model(input_ids=batch, labels=batch).loss)

        def configure_optimizers(self) -> Any:
            if optimizer == "sgd":
                return torch.optim.SGD(self.parameters(), lr=lr)
            return torch.optim.AdamW(self.parameters(), lr=lr)

    return TinyLM()


def train_lightning(out: Path, callbacks: list[Any], *, lr: float = 3e-3,
                    optimizer: str = "adamw", steps: int = 12) -> Any:
    """A Lightning run of ``steps`` steps, logging every step, validating every 4."""
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.loggers import CSVLogger

    rows = [r["input_ids"] for r in token_rows()]
    train = torch.utils.data.DataLoader(torch.stack(rows[:40]), batch_size=4)
    val = torch.utils.data.DataLoader(torch.stack(rows[40:]), batch_size=8)
    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", devices=1, log_every_n_steps=1,
                         val_check_interval=4, check_val_every_n_epoch=None,
                         num_sanity_val_steps=0, logger=CSVLogger(str(out), name="tiny"),
                         callbacks=callbacks, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        trainer.fit(lightning_module(lr, optimizer), train, val)
    return trainer


def mlx_loop(live: Any, *, lr: float, steps: int = 30) -> int:
    """A bigram LM in MLX trained with SGD by a plain loop that logs its loss to ``live`` every
    step and stops when ``live.should_stop``; returns the last step run."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    mx.random.seed(0)
    rows = mx.array([r["input_ids"].tolist() for r in token_rows()])
    model = nn.Sequential(nn.Embedding(VOCAB, 32), nn.Linear(32, VOCAB))

    def loss_fn(model: Any, x: Any, y: Any) -> Any:
        return nn.losses.cross_entropy(model(x), y).mean()

    step_fn = nn.value_and_grad(model, loss_fn)
    optimizer = optim.SGD(learning_rate=lr)
    step = 0
    for step in range(1, steps + 1):
        batch = rows[(step * 4) % 40:(step * 4) % 40 + 4]
        loss, grads = step_fn(model, batch[:, :-1], batch[:, 1:])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        live.log(step, loss=loss.item())
        live.check(step)
        if live.should_stop:
            break
    return step
