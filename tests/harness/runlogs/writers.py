"""Run logs written by the real libraries: a tiny seeded Trainer run on CPU (trainer_state.json,
checkpoints, TensorBoard events), torch's SummaryWriter, Lightning's CSVLogger, and MLflow's
fluent API into a file store."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path


def trainer_run(out: Path) -> Path:
    """A 6-step Trainer run of a tiny Qwen3, evaluated and checkpointed every 2 steps."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM, Trainer, TrainingArguments

    config = Qwen3Config(vocab_size=64, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         intermediate_size=64, max_position_embeddings=64,
                         tie_word_embeddings=True, pad_token_id=2, eos_token_id=1,
                         bos_token_id=None)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    gen = torch.Generator().manual_seed(0)
    rows = [torch.randint(3, 64, (16,), generator=gen) for _ in range(32)]
    data = [{"input_ids": r, "labels": r} for r in rows]
    args = TrainingArguments(
        output_dir=str(out), max_steps=6, per_device_train_batch_size=4,
        per_device_eval_batch_size=8, logging_steps=1, eval_strategy="steps", eval_steps=2,
        save_strategy="steps", save_steps=2, load_best_model_at_end=True,
        metric_for_best_model="eval_loss", greater_is_better=False, report_to=["tensorboard"],
        seed=0, use_cpu=True, learning_rate=3e-2,
        dataloader_num_workers=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data[:24], eval_dataset=data[24:])
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        trainer.train()
        trainer.save_state()
        trainer.save_model()
    return out


def summary_writer_run(out: Path, steps: int = 8) -> Path:
    """torch.utils.tensorboard: loss and val_bpb at known values."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out))
    for step in range(steps):
        writer.add_scalar("loss", 4.0 - 0.25 * step, step)
        if step % 2 == 0:
            writer.add_scalar("val_bpb", 2.0 - 0.125 * step, step)
    writer.close()
    return out


def csv_logger_run(out: Path, steps: int = 6) -> Path:
    """Lightning's CSVLogger: train_loss every step, val_loss every other, hparams."""
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(str(out), name="tiny", version=0)
    logger.log_hyperparams({"lr": 0.001, "layers": 2})
    for step in range(steps):
        metrics = {"train_loss": 3.0 - 0.5 * step, "epoch": step // 3}
        if step % 2 == 1:
            metrics["val_loss"] = 2.5 - 0.25 * step
        logger.log_metrics(metrics, step=step)
    logger.save()
    logger.finalize("success")
    return Path(logger.log_dir)


def jsonl_run(out: Path, steps: int = 5) -> Path:
    out.write_text("".join(json.dumps({"step": s * 10, "loss": 3.0 - s / 2, "time": 100.0 + s})
                           + "\n" for s in range(steps)), encoding="utf-8")
    return out


ASR_LOG = """\
loading data: 125 shards
epoch 1 step 100 train_loss 2.3104 lr 3e-4
step 100: val_loss: 2.1032 val_bpb: 1.2345
epoch 2 step 200 train_loss 1.9000 lr 3e-4
step 200 | val_loss=1.8000 | val_bpb=1.1000
done
"""


@cache
def event_file_bytes() -> bytes:
    """One SummaryWriter event file's bytes (written once per process)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = summary_writer_run(Path(tmp))
        (file,) = folder.glob("events.out.tfevents.*")
        return file.read_bytes()


@contextlib.contextmanager
def file_store(store: Path) -> Iterator[None]:
    """MLflow's fluent API pointed at a file store for the block, then restored."""
    import os

    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({"MLFLOW_TRACKING_URI": store.resolve().as_uri(),
                       "MLFLOW_ALLOW_FILE_STORE": "true"})
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def mlflow_run(store: Path, *, experiment: str = "tiny", run_name: str = "run-a",
               steps: int = 6, nan_at: int | None = None) -> str:
    """One run logged with mlflow.start_run / log_metric into the file store ``store``:
    loss every step (NaN at ``nan_at``), val/loss every other step, params and a tag.
    Returns the run id."""
    import mlflow

    store.mkdir(parents=True, exist_ok=True)
    with file_store(store):
        found = mlflow.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found else mlflow.create_experiment(experiment)
        with mlflow.start_run(experiment_id=exp_id, run_name=run_name) as run:
            mlflow.log_params({"lr": 0.001, "layers": 2})
            mlflow.set_tag("purpose", "test")
            for step in range(steps):
                loss = float("nan") if step == nan_at else 3.0 - 0.5 * step
                mlflow.log_metric("loss", loss, step=step)
                if step % 2 == 1:
                    mlflow.log_metric("val/loss", 2.5 - 0.25 * step, step=step)
        return str(run.info.run_id)


@cache
def mlflow_store_files() -> dict[str, bytes]:
    """One store's files (relative path -> bytes) with one run, written once per process."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "mlruns"
        mlflow_run(store)
        return {p.relative_to(store).as_posix(): p.read_bytes()
                for p in sorted(store.rglob("*")) if p.is_file()}
