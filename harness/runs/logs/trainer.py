"""Hugging Face Trainer output folders: ``trainer_state.json`` and ``checkpoint-*/``.

The Trainer writes ``trainer_state.json`` (``log_history``, ``best_metric``,
``best_model_checkpoint``, ``global_step``) into each checkpoint and, with ``save_state()``, into
the output folder. The output folder's file is read when present, else the latest checkpoint's.
It is read with the stdlib json module: transformers' ``TrainerState.load_from_json`` does the
same json.load and builds no series, and would make the reader need torch.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.runs.logs import (
    Point,
    RunLog,
    RunLogError,
    build_series,
    nonempty,
    number,
    require_file,
    step_of,
)
from harness.units import Unit

__all__ = ["read_trainer"]

_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
# log_history keys that are not metrics: the step itself.
_NOT_SERIES = frozenset({"step"})


def checkpoints(folder: Path) -> list[Path]:
    """The ``checkpoint-N`` folders, by N."""
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if p.is_dir() and (m := _CHECKPOINT.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def _load_json(path: Path) -> Any:
    data = require_file(path)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        msg = f"{path}: byte {exc.start} is not UTF-8; the file is damaged, write it again"
        raise RunLogError(msg) from None
    except json.JSONDecodeError as exc:
        msg = (f"{path}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}); "
               f"the file is truncated or damaged: take it from an intact checkpoint")
        raise RunLogError(msg) from None


def read_trainer(folder: Path, units: dict[str, Unit]) -> RunLog:
    """Read a Trainer output folder (or one checkpoint folder)."""
    if not folder.is_dir():
        msg = f"{folder}: a Trainer log is the output folder; point the subject's path at it"
        raise RunLogError(msg)
    ckpts = checkpoints(folder)
    state_path = folder / "trainer_state.json"
    if not state_path.is_file():
        with_state = [c for c in ckpts if (c / "trainer_state.json").is_file()]
        if not with_state:
            msg = (f"{folder}: no trainer_state.json here nor in a checkpoint-*/ folder; "
                   f"call trainer.save_state() or point the path at the Trainer's output_dir")
            raise RunLogError(msg)
        state_path = with_state[-1] / "trainer_state.json"
    state = _load_json(state_path)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        msg = (f"{state_path}: no 'log_history' list; this is not a Trainer's "
               f"trainer_state.json")
        raise RunLogError(msg)
    raw: dict[str, list[Point]] = defaultdict(list)
    for i, entry in enumerate(state["log_history"]):
        where = f"{state_path}: log_history[{i}]"
        if not isinstance(entry, dict):
            msg = f"{where}: {type(entry).__name__} is not an object; each entry is an object"
            raise RunLogError(msg)
        if "step" not in entry:
            msg = f"{where}: no 'step' key; each log_history entry carries the global step"
            raise RunLogError(msg)
        step = step_of(entry["step"], where)
        for key, value in entry.items():
            if key not in _NOT_SERIES:
                raw[key].append(Point(step, number(value, f"{where}.{key}"), None))
    series = nonempty(build_series(raw, units, state_path), state_path, "log_history entries")
    files = [state_path]
    config_path = folder / "config.json"
    if not config_path.is_file() and ckpts:
        config_path = ckpts[-1] / "config.json"
    config = _load_json(config_path) if config_path.is_file() else None
    if config is not None:
        files.append(config_path)
    metadata: dict[str, Any] = {
        "best_metric": state.get("best_metric"),
        "best_model_checkpoint": state.get("best_model_checkpoint"),
        "best_global_step": state.get("best_global_step"),
        "global_step": state.get("global_step"),
        "max_steps": state.get("max_steps"),
        "stateful_callbacks": state.get("stateful_callbacks"),
        "epoch": state.get("epoch"),
        "checkpoints": [c.name for c in ckpts],
        "config": config,
        "state_file": str(state_path),
    }
    return RunLog(folder, "trainer", series, tuple(files), metadata)
