"""Curves written by the real loggers: torch's SummaryWriter, Lightning's CSVLogger, and JSON
Lines through the json module (the library a plain loop writes them with)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def summary_writer_curves(out: Path, series: Mapping[str, Sequence[float]],
                          stride: int = 1) -> Path:
    """Each series logged by SummaryWriter.add_scalar at steps 0, stride, 2 * stride, ..."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out))
    for tag, values in series.items():
        for i, value in enumerate(values):
            writer.add_scalar(tag, value, i * stride)
    writer.close()
    return out


def csv_logger_curves(out: Path, train_loss: Sequence[float],
                      val_loss: Mapping[int, float] | None = None,
                      hparams: Mapping[str, Any] | None = None) -> Path:
    """Lightning's CSVLogger: train_loss at every step, val_loss at the steps given."""
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(str(out), name="run", version=0)
    if hparams:
        logger.log_hyperparams(dict(hparams))
    for step, value in enumerate(train_loss):
        metrics: dict[str, Any] = {"train_loss": value}
        if val_loss and step in val_loss:
            metrics["val_loss"] = val_loss[step]
        logger.log_metrics(metrics, step=step)
    logger.save()
    logger.finalize("success")
    return Path(logger.log_dir)


def jsonl_curves(out: Path, series: Mapping[str, Sequence[float]], stride: int = 10) -> Path:
    """One JSON object per step with every series' value at it (json.dumps writes NaN and
    Infinity as the Python loops that log them do)."""
    length = max(len(v) for v in series.values())
    lines = []
    for i in range(length):
        entry: dict[str, Any] = {"step": i * stride}
        entry.update({name: float(v[i]) for name, v in series.items() if i < len(v)})
        lines.append(json.dumps(entry) + "\n")
    out.write_text("".join(lines), encoding="utf-8")
    return out


def noisy(start: float, end: float, n: int, noise: float, seed: int = 0) -> list[float]:
    """A curve from ``start`` to ``end`` (linear) with seeded Gaussian batch noise."""
    rng = np.random.default_rng(seed)
    return [float(v) for v in np.linspace(start, end, n) + rng.normal(0.0, noise, n)]
