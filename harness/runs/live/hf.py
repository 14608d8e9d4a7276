"""The Hugging Face Trainer callback: each log and evaluation is checked against the run's claims.

The Trainer hands every logged dict to ``on_log`` (training losses, and an evaluation's metrics
too) and an evaluation's metrics again to ``on_evaluate``; both feed one :class:`LiveClaims`,
which ignores the repeat. Values are logged under the Trainer's own names (``loss``,
``grad_norm``, ``eval_loss``), as ``trainer_state.json`` holds them, so the contract and the
run-log subject that reads the finished run name the same series. A kill criterion that is FAIL
sets ``control.should_training_stop``: the Trainer ends the run cleanly (its ``on_train_end``,
saving and logging run as usual) after the current step.

Note the Trainer's ``logging_nan_inf_filter`` (on by default): it logs a NaN or infinite loss as
the mean of the finite ones, so a diverged step shows in ``grad_norm`` rather than in ``loss``;
the finiteness claim checks both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from harness.runs.live.session import LiveClaims

__all__ = ["FalsifyCallback"]

def numbers(logs: Mapping[str, Any] | None) -> dict[str, float]:
    """The numeric entries of a Trainer log dict (it also logs strings, e.g. for some runs)."""
    return {k: float(v) for k, v in (logs or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


class FalsifyCallback(TrainerCallback):
    """``Trainer(..., callbacks=[FalsifyCallback("run-7", subject="my-run")])``.

    Takes a :class:`LiveClaims` (``live=``) or the arguments to make one (``framework`` is
    ``transformers``). |V| comes from the model's config when the subject declares none.
    """

    def __init__(self, run_id: str | None = None, *, live: LiveClaims | None = None,
                 **options: Any) -> None:
        if live is None:
            if run_id is None:
                msg = "FalsifyCallback needs a run id, or live=LiveClaims(...)"
                raise TypeError(msg)
            live = LiveClaims(run_id, framework="transformers", **options)
        self.live = live

    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, **kwargs: Any) -> None:
        vocab = getattr(getattr(kwargs.get("model"), "config", None), "vocab_size", None)
        if isinstance(vocab, int):
            self.live.set_vocab_size(vocab)

    def _feed(self, state: TrainerState, control: TrainerControl,
              logs: Mapping[str, Any] | None, *, evaluation: bool = False) -> None:
        if not state.is_world_process_zero:  # one process records: one segment per run
            return
        self.live.log(state.global_step, **numbers(logs))
        self.live.check(state.global_step, evaluation=evaluation)
        if self.live.should_stop:
            control.should_training_stop = True

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._feed(state, control, logs)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, metrics: Mapping[str, Any] | None = None,
                    **kwargs: Any) -> None:
        self._feed(state, control, metrics, evaluation=True)

    def on_train_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.live.close()
