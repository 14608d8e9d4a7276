"""Live checks: a training run checks the claims bound to it as it trains, and records each check.

- :class:`LiveClaims`: the plain interface for custom torch or MLX loops
  (``live.log(step, loss=...)``, ``live.check(step)``, ``live.should_stop``, ``live.close()``);
- :class:`FalsifyCallback`: a Hugging Face ``transformers.TrainerCallback`` (``on_log``,
  ``on_evaluate``), which stops the Trainer with ``control.should_training_stop``;
- :class:`FalsifyLightningCallback`: a ``lightning.pytorch.Callback``, which stops the Trainer
  with ``trainer.should_stop``.

All three feed one :class:`LiveClaims`. Which claims run is the contracts' answer: every claim
bound to the run's subject that has a measure function (:mod:`harness.runs.live.measures`); a
claim marked ``kill: true`` in its binding is a kill criterion. The callbacks are imported only
when asked for, so ``LiveClaims`` needs neither transformers nor lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.runs.live.measures import register
from harness.runs.live.session import Check, LiveClaims, LiveError, RunKilled, Stop

if TYPE_CHECKING:
    from harness.runs.live.hf import FalsifyCallback
    from harness.runs.live.pl import FalsifyLightningCallback

__all__ = ["Check", "FalsifyCallback", "FalsifyLightningCallback", "LiveClaims", "LiveError",
           "RunKilled", "Stop", "register"]


def __getattr__(name: str) -> Any:
    if name == "FalsifyCallback":
        from harness.runs.live.hf import FalsifyCallback

        return FalsifyCallback
    if name == "FalsifyLightningCallback":
        from harness.runs.live.pl import FalsifyLightningCallback

        return FalsifyLightningCallback
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
