"""Training run logs as subjects (kind ``run-log``): named series of (step, value, wall time).

One reader per format, each in its own module and each using the format's own library where one
exists (the ``tensorboard`` package for event files, the stdlib ``csv`` and ``json`` modules for
CSV and JSON Lines, :mod:`harness.safeyaml` for Lightning's ``hparams.yaml``):

- ``trainer``: a Hugging Face Trainer output folder (``trainer_state.json``, ``checkpoint-*/``);
- ``tensorboard``: a folder of ``events.out.tfevents.*`` files;
- ``csv``: a PyTorch Lightning ``CSVLogger`` folder (``metrics.csv``, ``hparams.yaml``);
- ``jsonl``: JSON Lines, one object per logged step with a ``step`` key;
- ``asr-train-log``: the ``train.log`` of an ASR run bundle (``epoch``/``step`` lines with
  ``name value`` or ``name: value`` or ``name=value`` pairs);
- ``mlflow``: one run of an MLflow file store (``mlruns/``), read with MLflow's own client (the
  ``mlflow`` extra, imported only when such a log is read), chosen by ``run_id`` or by
  ``experiment`` and ``run_name``.

A bad log is a :class:`RunLogError` naming the file, the line, row or record, and the fix; the
verdict is ERROR, never SKIPPED. Every value is kept as read, NaN and infinities included:
whether a loss is finite is a claim to check, not a reader's call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.units import Unit, UnitError, parse_unit

if TYPE_CHECKING:
    from harness.workspace import SubjectSpec, Workspace

__all__ = [
    "FORMATS",
    "RUN_SELECTORS",
    "Point",
    "RunLog",
    "RunLogError",
    "Series",
    "detect_format",
    "load_run_log",
    "read_run_log",
]

FORMATS = ("trainer", "tensorboard", "csv", "jsonl", "asr-train-log", "mlflow")
RUN_SELECTORS = ("run_id", "experiment", "run_name")  # subject options naming an MLflow run


class RunLogError(ValueError):
    """A run log that cannot be read as it stands: names the file, the line/row and the fix."""


@dataclass(frozen=True)
class Point:
    """One logged value: the step it was logged at, the value, and the wall time when known."""

    step: int
    value: float
    wall_time: float | None = None


@dataclass(frozen=True)
class Series:
    """A named metric's points in step order, with the unit the subject config declares."""

    name: str
    points: tuple[Point, ...]
    unit: Unit | None
    source: Path

    @property
    def steps(self) -> list[int]:
        return [p.step for p in self.points]

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.points]

    def first_non_finite(self) -> Point | None:
        """The first point whose value is NaN or infinite, or None."""
        return next((p for p in self.points if not math.isfinite(p.value)), None)


@dataclass(frozen=True)
class RunLog:
    """A training run's logged series, its source files, and the run's metadata.

    ``series(name)`` returns one :class:`Series` and refuses (:class:`RunLogError`) a name the log
    lacks, an empty series, and a series whose unit the subject config does not declare.
    ``metadata`` holds what the format records besides series: for ``trainer``, ``best_metric``,
    ``best_model_checkpoint``, ``global_step``, ``max_steps``, ``stateful_callbacks`` (the
    early-stopping patience among them), ``checkpoints`` (folder names, by step) and
    ``config`` (the ``config.json`` the Trainer saved, when present); for ``csv``, ``hparams``;
    for ``mlflow``, the run's ``run_id``, ``run_name``, ``experiment``, ``status``, ``params``,
    ``tags`` and the rest of its info.
    """

    path: Path
    format: str
    all_series: Mapping[str, Series]
    files: tuple[Path, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted(self.all_series)

    def series(self, name: str) -> Series:
        found = self.all_series.get(name)
        if found is None:
            msg = (f"{self.path}: the {self.format} log has no series {name!r}; it has "
                   f"{', '.join(self.names) or 'none'}; ask for one of those or log {name!r}")
            raise RunLogError(msg)
        if not found.points:
            msg = f"{found.source}: series {name!r} is empty; log at least one value"
            raise RunLogError(msg)
        if found.unit is None:
            msg = (f"{self.path}: series {name!r} has no unit; declare it in the subject's "
                   f"config, e.g. units = {{{name} = \"nats\"}}")
            raise RunLogError(msg)
        return found

    def unit(self, name: str) -> Unit:
        unit = self.series(name).unit
        assert unit is not None  # series() refuses a series without one
        return unit


def number(value: Any, where: str) -> float:
    """``value`` as a float, or a RunLogError naming ``where`` (bools and strings refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str) and value.strip().lower() in {"nan", "inf", "-inf", "+inf",
                                                                 "infinity", "-infinity"}:
            return float(value)
        msg = f"{where}: {value!r} is not a number; write the metric's value as a number"
        raise RunLogError(msg)
    return float(value)


def step_of(value: Any, where: str) -> int:
    """``value`` as a non-negative integer step, or a RunLogError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) \
            or value < 0:
        msg = f"{where}: step {value!r} is not a non-negative integer; log the global step"
        raise RunLogError(msg)
    return int(value)


def build_series(raw: Mapping[str, Iterable[Point]], units: Mapping[str, Unit],
                 source: Path) -> dict[str, Series]:
    """Series from raw points (sorted by step, stably), each with its declared unit or None."""
    return {name: Series(name, tuple(sorted(points, key=lambda p: p.step)), units.get(name),
                         source) for name, points in raw.items()}


def parse_units(raw: Any, where: str) -> dict[str, Unit]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        msg = f"{where}: units must be a table of series name = unit, e.g. {{loss = \"nats\"}}"
        raise RunLogError(msg)
    units = {}
    for name, text in raw.items():
        try:
            units[str(name)] = parse_unit(str(text))
        except UnitError as exc:
            msg = f"{where}: units.{name}: {exc}"
            raise RunLogError(msg) from None
    return units


def detect_format(path: Path) -> str:
    """The format of the log at ``path``, from its files; a RunLogError when none fits."""
    if path.is_file():
        if path.name.startswith("events.out.tfevents."):
            return "tensorboard"
        if path.suffix in {".jsonl", ".ndjson"}:
            return "jsonl"
        if path.suffix == ".csv":
            return "csv"
        if path.suffix == ".log":
            return "asr-train-log"
    elif path.is_dir():
        from harness.runs.logs.mlflowlog import is_mlflow_run, is_mlflow_store
        if (path / "trainer_state.json").is_file() \
                or any(path.glob("checkpoint-*/trainer_state.json")):
            return "trainer"
        if is_mlflow_store(path) or is_mlflow_run(path):
            return "mlflow"
        if any(path.rglob("events.out.tfevents.*")):
            return "tensorboard"
        if (path / "metrics.csv").is_file():
            return "csv"
        if (path / "train.log").is_file():
            return "asr-train-log"
        if len(list(path.glob("*.jsonl"))) == 1:
            return "jsonl"
    else:
        msg = f"{path}: no such file or folder; point the run-log subject's path at the run's log"
        raise RunLogError(msg)
    msg = (f"{path}: cannot tell the log's format; set format = one of {', '.join(FORMATS)} "
           f"in the subject's config")
    raise RunLogError(msg)


def read_run_log(path: Path | str, *, format: str | None = None,
                 units: Mapping[str, Unit | str] | None = None,
                 run: Mapping[str, str] | None = None) -> RunLog:
    """Read the run log at ``path`` (format detected when not given); units by series name.
    ``run`` picks one run in a log that holds several (``mlflow``: ``run_id``, or
    ``experiment`` and ``run_name``)."""
    path = Path(path)
    fmt = format or detect_format(path)
    declared = {k: v if isinstance(v, Unit) else parse_unit(v) for k, v in (units or {}).items()}
    if run and fmt != "mlflow":
        msg = (f"{path}: {', '.join(sorted(run))} pick a run in an MLflow store; a {fmt} log "
               f"holds one run: drop them, or set format = \"mlflow\" for an mlruns/ folder")
        raise RunLogError(msg)
    if fmt == "mlflow":
        from harness.runs.logs.mlflowlog import read_mlflow
        return read_mlflow(path, declared, run)
    if fmt == "trainer":
        from harness.runs.logs.trainer import read_trainer
        return read_trainer(path, declared)
    if fmt == "tensorboard":
        from harness.runs.logs.tensorboard import read_tensorboard
        return read_tensorboard(path, declared)
    if fmt == "csv":
        from harness.runs.logs.csvlog import read_csv_log
        return read_csv_log(path, declared)
    if fmt == "jsonl":
        from harness.runs.logs.jsonl import read_jsonl
        return read_jsonl(path, declared)
    if fmt == "asr-train-log":
        from harness.runs.logs.asrlog import read_asr_log
        return read_asr_log(path, declared)
    msg = f"{path}: unknown run-log format {fmt!r}; use one of {', '.join(FORMATS)}"
    raise RunLogError(msg)


def load_run_log(spec: SubjectSpec, workspace: Workspace) -> RunLog:
    """Workspace loader for kind ``run-log`` (options ``path``, ``format``, ``units``; for
    ``mlflow`` the run's ``run_id``, or its ``experiment`` and ``run_name``; and ``series``
    (role = series name, e.g. ``{loss = "train_loss"}``) and ``vocab_size``, which the curve
    claims read from ``metadata``: :mod:`harness.runs.curves`)."""
    where = f"subject {spec.id!r}"
    units = parse_units(spec.options.get("units"), where)
    fmt = spec.options.get("format")
    run = {key: str(spec.options[key]) for key in RUN_SELECTORS if key in spec.options}
    log = read_run_log(spec.path(), format=str(fmt) if fmt else None, units=units, run=run)
    extra: dict[str, Any] = {}
    roles = spec.options.get("series")
    if roles is not None:
        if not isinstance(roles, Mapping) or not all(isinstance(v, str) for v in roles.values()):
            msg = (f"{where}: series must be a table of role = series name, e.g. "
                   f"{{loss = \"train_loss\", val_loss = \"val_loss\"}}")
            raise RunLogError(msg)
        extra["series"] = {str(k): v for k, v in roles.items()}
    vocab = spec.options.get("vocab_size")
    if vocab is not None:
        if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 2:
            msg = f"{where}: vocab_size = {vocab!r}; write |V| as an integer of at least 2"
            raise RunLogError(msg)
        extra["vocab_size"] = vocab
    return replace(log, metadata={**log.metadata, **extra}) if extra else log


def require_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read ({exc.strerror}); check the run-log subject's path"
        raise RunLogError(msg) from None


def whole_lines(text: str, file: Path) -> None:
    """Refuse a text log whose last line has no newline: a writer killed mid-line leaves one,
    and the cut line may still parse ("loss": 2.5 cut to "loss": 2), a silent partial read."""
    if text and not text.endswith("\n"):
        line = text.count("\n") + 1
        msg = (f"{file}: line {line}: the last line has no newline at its end, so the log may "
               f"be cut mid-line; if the run is still writing, read it when the line is done; "
               f"if the line is whole, end it with a newline")
        raise RunLogError(msg)


def nonempty(series: dict[str, Series], path: Path, what: str) -> dict[str, Series]:
    if not any(s.points for s in series.values()):
        msg = f"{path}: no {what} found; point the subject at the run's log or log some metrics"
        raise RunLogError(msg)
    return series
