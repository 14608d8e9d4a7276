"""What a run says about itself, measured against what it logged: the run's own "card".

Two claims (library ``claims/runcards.yaml``):

- ``BEST-CHECKPOINT-CONSISTENT``: the checkpoint a Trainer run calls best
  (``best_model_checkpoint`` in ``trainer_state.json``) is the one with the best logged value of
  the validation metric, and early stopping came ``patience`` evaluations after it;
- ``DOC-NUMBERS-MATCH-LOG``: every number a README restates (a ``run-doc`` quote) rounds to what
  the log holds, at the precision it is printed with.

Which metric ranks checkpoints, and which way, is the researcher's to say, never read from the
run: a run that ranked a loss as greater-is-better, or ranked by the wrong metric, is consistent
with its own ``TrainingArguments``, so checking it against them could never fail. The defaults
are the Trainer's own rule for what a run means by "best": ``eval_loss``, and a metric whose
name ends in ``loss`` is minimised, any other maximised (``TrainingArguments.__post_init__``).
The run's own arguments are kept out of it for another reason too: the Trainer saves them only
as ``training_args.bin``, a pickle, which falsify does not unpickle. What the Trainer did record
in ``trainer_state.json`` is used: ``best_model_checkpoint``, ``best_metric``, ``global_step``,
``max_steps`` and the ``EarlyStoppingCallback``'s patience and threshold (``stateful_callbacks``).

Each measure function takes ``(evidence, log)`` and only measures (thresholds live in the
contract), so a training callback can call the same functions on a run as it trains.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.printed import agrees
from harness.runs.logs import RunLog, RunLogError, Series
from harness.runs.rundoc import FIELDS, Found, Quote, RunDoc, find_quotes
from harness.units import Quantity, UnitError

__all__ = ["MEASURES", "BestChoice", "Ranking", "best_choice", "logged_value",
           "measure_best_checkpoint_consistent", "measure_doc_numbers_match_log", "ranking"]

_CHECKPOINT = re.compile(r"checkpoint-(\d+)$")


@dataclass(frozen=True)
class Ranking:
    """Which series ranks checkpoints, and whether greater is better."""

    metric: str
    greater_is_better: bool

    @property
    def words(self) -> str:
        return f"{self.metric} ({'higher' if self.greater_is_better else 'lower'} is better)"


def ranking(metric: str | None = None, greater_is_better: bool | None = None) -> Ranking:
    """The ranking a researcher means, with the Trainer's defaults for what is not given."""
    name = metric or "eval_loss"
    if not name.startswith("eval_"):
        name = f"eval_{name}"  # the Trainer's own prefixing of metric_for_best_model
    better = (not name.endswith("loss")) if greater_is_better is None else greater_is_better
    return Ranking(name, better)


@dataclass(frozen=True)
class BestChoice:
    """The run's best checkpoint beside the best of its logged evaluations."""

    ranking: Ranking
    evals: tuple[tuple[int, float], ...]  # (step, value) in step order
    claimed_step: int
    claimed_path: str
    best_metric: float | None
    global_step: int
    max_steps: int | None
    patience: int | None
    threshold: float | None

    @property
    def optimum(self) -> float:
        values = [v for _, v in self.evals]
        return max(values) if self.ranking.greater_is_better else min(values)

    @property
    def best_step(self) -> int:
        """The first evaluation at the optimum (the Trainer keeps the first of a tie)."""
        return next(s for s, v in self.evals if v == self.optimum)

    @property
    def claimed_value(self) -> float | None:
        return next((v for s, v in self.evals if s == self.claimed_step), None)

    @property
    def step_offset(self) -> int:
        """0 when the claimed checkpoint holds the optimum (any of a tie), else the steps from
        the first evaluation at the optimum to it."""
        return 0 if self.claimed_value == self.optimum else self.claimed_step - self.best_step

    @property
    def evals_after_best(self) -> int:
        return sum(1 for s, _ in self.evals if s > self.best_step)


def _state(log: RunLog, key: str) -> Any:
    return log.metadata.get(key)


def _early_stopping(log: RunLog) -> tuple[int | None, float | None]:
    callbacks = _state(log, "stateful_callbacks") or {}
    found = callbacks.get("EarlyStoppingCallback") if isinstance(callbacks, Mapping) else None
    if isinstance(found, list):  # several instances are saved as a list
        found = found[0] if found else None
    args = found.get("args", {}) if isinstance(found, Mapping) else {}
    patience, threshold = args.get("early_stopping_patience"), args.get("early_stopping_threshold")
    return (int(patience) if isinstance(patience, int | float) else None,
            float(threshold) if isinstance(threshold, int | float) else None)


def best_choice(log: RunLog, rank: Ranking) -> BestChoice:
    """What the run calls best and what its log says is best; a RunLogError when the run
    records no best checkpoint or has no finite evaluation of the metric."""
    state = _state(log, "state_file") or log.path
    if log.format != "trainer":
        msg = (f"{log.path}: a {log.format} log records no best checkpoint; this claim reads a "
               f"Hugging Face Trainer output folder (format = \"trainer\")")
        raise RunLogError(msg)
    pointer = _state(log, "best_model_checkpoint")
    m = _CHECKPOINT.search(str(pointer).rstrip("/")) if pointer else None
    if m is None:
        msg = (f"{state}: best_model_checkpoint is {pointer!r}, not a checkpoint-N folder; train "
               f"with load_best_model_at_end=True and metric_for_best_model so the Trainer "
               f"tracks its best checkpoint")
        raise RunLogError(msg)
    series: Series = log.series(rank.metric)
    evals = tuple((p.step, p.value) for p in series.points if math.isfinite(p.value))
    if not evals:
        msg = f"{series.source}: {rank.metric} has no finite value; nothing ranks checkpoints"
        raise RunLogError(msg)
    patience, threshold = _early_stopping(log)
    best_metric, max_steps = _state(log, "best_metric"), _state(log, "max_steps")
    return BestChoice(rank, evals, int(m.group(1)), str(pointer),
                      float(best_metric) if isinstance(best_metric, int | float) else None,
                      int(_state(log, "global_step") or 0),
                      int(max_steps) if isinstance(max_steps, int) else None,
                      patience, threshold)


def measure_best_checkpoint_consistent(evidence: Any, log: RunLog, *, metric: str | None = None,
                                       greater_is_better: bool | None = None) -> None:
    """BEST-CHECKPOINT-CONSISTENT on a Trainer run log (``metric``/``greater_is_better``: the
    ranking the researcher means; the Trainer's defaults when not given)."""
    choice = best_choice(log, ranking(metric, greater_is_better))
    if choice.patience is None:
        msg = (f"{_state(log, 'state_file')}: no EarlyStoppingCallback in stateful_callbacks; "
               f"this claim checks when early stopping came: train with "
               f"EarlyStoppingCallback(early_stopping_patience=...) or bind another claim")
        raise RunLogError(msg)
    n = len(choice.evals)
    evidence.measure("best_step_offset", choice.step_offset, unit="count", n=n)
    evidence.measure("best_checkpoint_saved", int(_saved(log, choice.claimed_step)), unit="1")
    evidence.measure("evals_after_best", choice.evals_after_best, unit="count", n=n)
    evidence.measure("patience", choice.patience, unit="count")
    stopped = choice.max_steps is not None and choice.global_step < choice.max_steps
    evidence.measure("stopped_early", int(stopped), unit="1")
    evidence.measure("threshold_set", int(bool(choice.threshold)), unit="1")
    evidence.measure("n_evals", n, unit="count")
    gap = abs(choice.best_metric - choice.optimum) if choice.best_metric is not None else math.inf
    evidence.measure("best_metric_rel_gap", gap / max(abs(choice.optimum), 1e-300), unit="ratio")
    _explain(evidence, choice)


def _saved(log: RunLog, step: int) -> bool:
    return f"checkpoint-{step}" in (_state(log, "checkpoints") or [])


def _explain(evidence: Any, choice: BestChoice) -> None:
    order = [s for s, _ in choice.evals]
    evidence.attach("best_checkpoint", {
        "ranking": choice.ranking.words, "claimed": choice.claimed_path,
        "claimed_step": choice.claimed_step, "claimed_value": choice.claimed_value,
        "best_metric": choice.best_metric, "logged_best_step": choice.best_step,
        "logged_best_value": choice.optimum, "evaluations": len(order),
        "last_eval_step": order[-1], "global_step": choice.global_step,
        "max_steps": choice.max_steps, "patience": choice.patience,
        "early_stopping_threshold": choice.threshold})
    if choice.step_offset:
        where = (f"evaluation {order.index(choice.claimed_step) + 1} of {len(order)}"
                 if choice.claimed_step in order else "a step with no evaluation")
        evidence.note(
            f"the run calls {choice.claimed_path} best ({where}, {choice.ranking.metric} "
            f"{choice.claimed_value}), but by {choice.ranking.words} the best evaluation is at "
            f"step {choice.best_step} ({choice.optimum}); the run ranked checkpoints another "
            f"way: check metric_for_best_model and greater_is_better in its TrainingArguments")


# --- DOC-NUMBERS-MATCH-LOG -------------------------------------------------------------------


def logged_value(log: RunLog, quote: Quote) -> Quantity:
    """What the log holds for ``quote``, in the quote's unit (UnitError when they cannot meet)."""
    if quote.field is not None:
        raw = log.metadata.get(quote.field)
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            msg = (f"{log.path}: the {log.format} log records no {quote.field}; quote a series "
                   f"instead (series = \"...\", take = \"last\")")
            raise RunLogError(msg)
        return Quantity.of(float(raw), FIELDS[quote.field]).to(quote.unit)
    assert quote.series is not None  # parse_quotes makes a quote name a series or a field
    series = log.series(quote.series)
    values = series.values
    taken = {"first": lambda: values[0], "last": lambda: values[-1], "min": lambda: min(values),
             "max": lambda: max(values), "sum": lambda: math.fsum(values),
             "count": lambda: float(len(values))}[quote.take]()
    unit = "count" if quote.take == "count" else log.unit(quote.series).name
    return Quantity.of(taken, unit).to(quote.unit)


@dataclass(frozen=True)
class Checked:
    found: Found
    logged: float

    @property
    def ok(self) -> bool:
        return agrees(self.found.printed, [self.logged])


def check_doc(doc: RunDoc, log: RunLog | None = None) -> tuple[list[Checked], list[Quote]]:
    """Every quoted number beside the log's value, and the quotes that match nowhere."""
    log = log if log is not None else doc.run
    text = doc.text()
    checked, unmatched = [], []
    for quote in doc.quotes:
        found = find_quotes(text, quote)
        if not found:
            unmatched.append(quote)
            continue
        try:
            value = logged_value(log, quote).value
        except UnitError as exc:
            msg = (f"run-doc {doc.id!r}: quote {quote.text!r} is in {quote.unit} but "
                   f"{quote.source} cannot be: {exc}; give the quote the unit the log's "
                   f"series converts to")
            raise RunLogError(msg) from None
        checked += [Checked(f, value) for f in found]
    return checked, unmatched


def measure_doc_numbers_match_log(evidence: Any, doc: RunDoc) -> None:
    """DOC-NUMBERS-MATCH-LOG on a run-doc subject (its document beside its run log)."""
    log = doc.run
    evidence.input(doc.doc)
    evidence.input(log.path)
    checked, unmatched = check_doc(doc, log)
    wrong = [c for c in checked if not c.ok]
    evidence.measure("n_quoted", len(checked), unit="count")
    evidence.measure("n_disagree", len(wrong), unit="count", n=len(checked))
    evidence.measure("n_quotes_unmatched", len(unmatched), unit="count", n=len(doc.quotes))
    evidence.attach("quotes", [_shown(doc.doc, c) for c in checked])
    for c in wrong:
        q = c.found.quote
        evidence.note(f"{doc.doc.name}:{c.found.line}: '{c.found.context}' says "
                      f"{c.found.printed.text} {q.unit}, the log says {c.logged:g} {q.unit} "
                      f"({q.source})")
    for q in unmatched:
        evidence.note(f"{doc.doc.name}: no sentence matches {q.text!r}; the document no longer "
                      f"says it that way: update the quote's text or the document")


def _shown(path: Path, c: Checked) -> dict[str, Any]:
    q = c.found.quote
    return {"where": f"{path.name}:{c.found.line}", "printed": c.found.printed.text,
            "unit": q.unit, "log": c.logged, "source": q.source, "agrees": c.ok}


MEASURES: dict[str, Callable[..., None]] = {
    "BEST-CHECKPOINT-CONSISTENT": measure_best_checkpoint_consistent,
    "DOC-NUMBERS-MATCH-LOG": measure_doc_numbers_match_log,
}
