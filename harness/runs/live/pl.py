"""The PyTorch Lightning callback: the run's logged metrics are checked against its claims.

Lightning keeps the latest value of every ``self.log``-ged metric in ``trainer.callback_metrics``.
The callback reads it at each training step Lightning logs (every ``log_every_n_steps``) and at
the end of each validation run, at ``trainer.global_step``. Which names are validation metrics is
learnt from the first validation (names that first appear during it) unless ``val_metrics``
names them; epoch aggregates (``*_epoch``) are left out of the step curves. A kill criterion that
is FAIL sets ``trainer.should_stop``: Lightning ends the run cleanly after the current step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning.pytorch as pl

from harness.runs.live.session import LiveClaims

__all__ = ["FalsifyLightningCallback"]


def _scalars(metrics: Mapping[str, Any], names: set[str] | None = None) -> dict[str, float]:
    out = {}
    for name, value in metrics.items():
        if names is not None and name not in names:
            continue
        numel = getattr(value, "numel", None)
        if numel is not None and numel() != 1:
            continue
        out[name] = float(value)
    return out


class FalsifyLightningCallback(pl.Callback):
    """``Trainer(callbacks=[FalsifyLightningCallback("run-7", subject="my-run")])``.

    Takes a :class:`LiveClaims` (``live=``) or the arguments to make one (``framework`` is
    ``lightning``). |V| comes from ``vocab_size`` in the module's hparams when the subject
    declares none, as Lightning's ``hparams.yaml`` gives it to the run-log reader.
    """

    def __init__(self, run_id: str | None = None, *, live: LiveClaims | None = None,
                 val_metrics: Sequence[str] | None = None, **options: Any) -> None:
        super().__init__()
        if live is None:
            if run_id is None:
                msg = "FalsifyLightningCallback needs a run id, or live=LiveClaims(...)"
                raise TypeError(msg)
            live = LiveClaims(run_id, framework="lightning", **options)
        self.live = live
        self._val: set[str] | None = set(val_metrics) if val_metrics is not None else None
        self._before_val: set[str] = set()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        vocab = getattr(pl_module, "hparams", {}).get("vocab_size")
        if isinstance(vocab, int):
            self.live.set_vocab_size(vocab)

    def _stop_if_killed(self, trainer: pl.Trainer) -> None:
        if self.live.should_stop:
            trainer.should_stop = True

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        every = int(getattr(trainer, "log_every_n_steps", 1))  # set by Lightning, not declared
        if not trainer.is_global_zero or every == 0 or step % every != 0:
            return
        val = self._val or set()
        names = {n for n in trainer.callback_metrics if n not in val and not n.endswith("_epoch")}
        self.live.log(step, **_scalars(trainer.callback_metrics, names))
        self.live.check(step)
        self._stop_if_killed(trainer)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._before_val = set(trainer.callback_metrics)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if self._val is None:
            self._val = set(trainer.callback_metrics) - self._before_val
        metrics = _scalars(trainer.callback_metrics, self._val)
        if metrics:
            self.live.log(trainer.global_step, **metrics)
            self.live.check(trainer.global_step, evaluation=True)
            self._stop_if_killed(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self.live.close()
