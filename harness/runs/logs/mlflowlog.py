"""MLflow file stores (``mlruns/``), read through MLflow's own client (the ``mlflow`` extra).

A subject names one run: by ``run_id``, or by ``experiment`` and/or ``run_name`` (a selection
that matches no run or several is a :class:`RunLogError` listing the runs the store holds), or
by pointing ``path`` at the run's own folder (``mlruns/<experiment id>/<run id>``). Every metric
becomes a series read with ``MlflowClient.get_metric_history`` (step, value, and the timestamp
as the wall time, in seconds); params, tags and the run's info go into ``metadata``.

MLflow's file-store reader raises bare ``ValueError``, ``TypeError`` or ``Exception`` on a
damaged file, naming neither the file nor the line, and it silently accepts lines that a cut or
a flipped byte leaves behind: a metric line cut from ``ts 2.5 12`` to ``ts 2.5 1`` still reads,
a line of two fields reads as step 0, a form feed splits one line into two. So each file of the
run is checked before MLflow reads it (whole lines, UTF-8, ``timestamp value step`` per line),
with the file, the line and the fix in the error; the values themselves are MLflow's: as many
points as lines were checked (a run still logging may have appended more since).

MLflow 3 refuses ``file:`` tracking URIs unless ``MLFLOW_ALLOW_FILE_STORE`` is set (the file
store is in maintenance mode): it is set for the read and restored after. MLflow's file store
creates an empty ``.trash`` folder in a store that lacks one; it writes nothing else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.runs.logs import (
    RUN_SELECTORS,
    Point,
    RunLog,
    RunLogError,
    Series,
    require_file,
    step_of,
)
from harness.units import Unit

__all__ = ["INSTALL", "is_mlflow_run", "is_mlflow_store", "read_mlflow"]

INSTALL = "pip install 'falsify[mlflow]'"
_ALLOW = "MLFLOW_ALLOW_FILE_STORE"
_RUN_FOLDERS = ("metrics", "params", "artifacts")  # MLflow skips a run folder lacking one
_INTEGER = re.compile(r"-?[0-9]+")
_RUN_ID = re.compile(r"[A-Za-z0-9][\w-]{0,255}")  # what MLflow accepts as a run id
_LISTED = 20


def is_mlflow_run(path: Path) -> bool:
    """A run folder of a file store: ``metrics/`` and ``params/`` (its ``meta.yaml`` is checked
    when the run is read, so that a missing one is named rather than the folder skipped)."""
    return (path / "metrics").is_dir() and (path / "params").is_dir()


def is_mlflow_store(path: Path) -> bool:
    """The root of a file store: ``mlruns/``, or a folder with MLflow's ``.trash`` or its
    default experiment ``0/meta.yaml``."""
    return path.is_dir() and (path.name == "mlruns" or (path / ".trash").is_dir()
                              or (path / "0" / "meta.yaml").is_file())


@contextmanager
def _file_store_allowed() -> Iterator[None]:
    old = os.environ.get(_ALLOW)
    os.environ[_ALLOW] = "true"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(_ALLOW, None)
        else:
            os.environ[_ALLOW] = old


def _client(store: Path, where: Path) -> Any:
    """An ``MlflowClient`` on ``store``; a RunLogError naming the extra when MLflow is missing."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        msg = (f"{where}: reading an MLflow store needs MLflow's client: {INSTALL} "
               f"(mlflow-skinny)")
        raise RunLogError(msg) from None
    try:
        return MlflowClient(tracking_uri=store.resolve().as_uri())
    except OSError as exc:
        msg = (f"{store}: MLflow's file store creates {store / '.trash'} when it is missing and "
               f"cannot here ({exc.strerror}); create that folder or copy the store somewhere "
               f"writable")
        raise RunLogError(msg) from None


# -- the files of a run, checked before MLflow reads them --------------------------------------

def _text(file: Path) -> str:
    data = require_file(file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        msg = (f"{file}: line {line}: not UTF-8 (byte {exc.start}); MLflow writes UTF-8, so "
               f"the file is damaged: copy the run again from where it was logged")
        raise RunLogError(msg) from None


def _line_fault(text: str, last: bool) -> str | None:
    """What is wrong with one metric line (with its line end), or None."""
    if not text.endswith("\n"):
        if last:
            return ("the last line has no newline at its end, so the file is cut mid-line; if "
                    "the run is still writing, read it when the line is done; otherwise copy "
                    "the file again from the run")
        return (f"the line ends with {text[-1]!r}, not a newline; the file is damaged: copy it "
                f"again from the run")
    if text.endswith("\r\n"):
        return ("the line ends with '\\r\\n'; MLflow writes '\\n' line ends: convert the file's "
                "line ends (dos2unix)")
    fields = text[:-1].split(" ")
    shape = len(fields) in (3, 5) and _INTEGER.fullmatch(fields[0]) is not None \
        and _is_number(fields[1]) and _INTEGER.fullmatch(fields[2]) is not None
    if not shape:
        return (f"{text[:-1][:80]!r} is not 'timestamp value step' (integer milliseconds, a "
                f"number, an integer step, separated by single spaces, as MLflow writes them); "
                f"the file is damaged or not MLflow's: copy it again from the run")
    if len(fields) == 5 and _is_number(fields[3]) and _INTEGER.fullmatch(fields[4]):
        # MLflow's fifth and fourth fields are a dataset's name and digest; "value step" there
        # is the next line, joined to this one by a damaged line end (a point silently lost)
        return ("two lines joined into one (the line end between them is damaged); copy the "
                "file again from the run")
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_metric(file: Path) -> int:
    """The number of lines of a metric file, each checked; a RunLogError naming the line."""
    lines = _text(file).splitlines(keepends=True)  # MLflow splits lines as str.splitlines does
    if not lines:
        msg = (f"{file}: empty: the series has no value (a run killed before its first value "
               f"was written leaves one); log a value or delete the file")
        raise RunLogError(msg)
    for number, line in enumerate(lines, start=1):
        fault = _line_fault(line, number == len(lines))
        if fault:
            msg = f"{file}: line {number}: {fault}"
            raise RunLogError(msg)
    return len(lines)


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _check_run(run_dir: Path) -> tuple[list[Path], dict[str, tuple[Path, int]]]:
    """Every file MLflow will read for the run, and each metric's file and line count."""
    meta = run_dir / "meta.yaml"
    if not meta.is_file():
        msg = (f"{meta}: missing; MLflow keeps a run's id, experiment and status there, so the "
               f"run folder is incomplete: copy it again from the store where it was logged")
        raise RunLogError(msg)
    for name in _RUN_FOLDERS:
        if not (run_dir / name).is_dir():
            msg = (f"{run_dir}: no {name}/ folder; MLflow reads a run folder only with "
                   f"{', '.join(f + '/' for f in _RUN_FOLDERS)}: create it empty or copy the "
                   f"run again")
            raise RunLogError(msg)
    text = _text(meta)
    if not text.strip():
        msg = f"{meta}: empty; the run folder is incomplete: copy it again from the store"
        raise RunLogError(msg)
    if not text.endswith("\n"):
        msg = (f"{meta}: line {text.count(chr(10)) + 1}: the last line has no newline at its "
               f"end, so the file is cut; copy the run again from the store")
        raise RunLogError(msg)
    metrics = {p.relative_to(run_dir / "metrics").as_posix(): (p, _check_metric(p))
               for p in _files_under(run_dir / "metrics")}
    others = [p for name in ("params", "tags") for p in _files_under(run_dir / name)]
    for file in others:
        _text(file)
    return [meta, *(f for f, _ in metrics.values()), *others], metrics


# -- reading through MLflow -----------------------------------------------------------------

def _mlflow_failed(what: Path, exc: Exception) -> RunLogError:
    """MLflow's error on files that passed the checks above: its own message, with the file.
    A YAML error carries the line; others (a meta.yaml missing a key, a run id that does not
    match its folder) name what MLflow found wrong."""
    import yaml

    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.YAMLError) and mark is not None:
        file = Path(str(mark.name)) if mark.name and mark.name != "<file>" else what
        msg = (f"{file}: line {mark.line + 1}: not valid YAML ({getattr(exc, 'problem', exc)}); "
               f"the file is damaged: copy the run again from the store")
        return RunLogError(msg)
    msg = (f"{what}: MLflow cannot read the run ({type(exc).__name__}: {exc}); the file is "
           f"damaged or from another MLflow: copy the run again from the store where it was "
           f"logged")
    return RunLogError(msg)


def _runs(client: Any, store: Path, experiment: str | None) -> list[Any]:
    """The store's active runs (of one experiment when named), as MLflow lists them."""
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        ids = [found.experiment_id] if found is not None else []
    else:
        ids = [e.experiment_id for e in client.search_experiments()]
    runs: list[Any] = []
    token = None
    while ids:
        page = client.search_runs(ids, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            break
    return runs


def _describe(runs: list[Any], names: Mapping[str, str]) -> str:
    if not runs:
        return "it holds no run"
    shown = [f"{r.info.run_id} (experiment {names.get(r.info.experiment_id, '?')!r}, run "
             f"{r.info.run_name!r})" for r in runs[:_LISTED]]
    more = f" and {len(runs) - _LISTED} more" if len(runs) > _LISTED else ""
    return f"it holds {', '.join(shown)}{more}"


def _listing(client: Any, store: Path) -> str:
    """The store's runs for an error message, or why MLflow could not list them."""
    try:
        names = {e.experiment_id: e.name for e in client.search_experiments()}
        return _describe(_runs(client, store, None), names)
    except Exception as exc:  # MLflow raises bare Exception on damaged stores
        try:
            _check_runs(store)
        except RunLogError as found:
            return f"MLflow could not list its runs: {found}"
        return f"MLflow could not list its runs ({type(exc).__name__}: {exc})"


def _check_runs(store: Path) -> None:
    """Check every run folder of the store: names the damaged file MLflow tripped on."""
    for run_dir in sorted(p for p in store.glob("*/*") if is_mlflow_run(p)):
        _check_run(run_dir)


def _run_folder(store: Path, run_id: str) -> Path | None:
    found = [p for p in [*store.glob(f"*/{run_id}"), *store.glob(f".trash/*/{run_id}")]
             if is_mlflow_run(p)]
    return found[0] if found else None


def _select(client: Any, store: Path, select: Mapping[str, str]) -> str:
    """The one run id the selection names in ``store``."""
    run_id = select.get("run_id")
    if run_id is not None:
        if _RUN_ID.fullmatch(run_id) is None:
            msg = (f"{store}: run_id {run_id!r} is not an MLflow run id (letters, digits, _ "
                   f"and -); copy it from the run's folder name or the MLflow UI")
            raise RunLogError(msg)
        if _run_folder(store, run_id) is None:
            msg = (f"{store}: no run {run_id!r} in this MLflow store; {_listing(client, store)}; "
                   f"set run_id to one of those")
            raise RunLogError(msg)
        return run_id
    experiment, name = select.get("experiment"), select.get("run_name")
    try:
        runs = _runs(client, store, experiment)
    except Exception as exc:  # MLflow raises bare Exception on damaged stores
        _check_runs(store)
        raise _mlflow_failed(store, exc) from None
    matched = [r for r in runs if name is None or r.info.run_name == name]
    if len(matched) != 1:
        wanted = ", ".join(f"{k} = {v!r}" for k, v in select.items())
        if wanted:
            how = "none" if not matched else f"{len(matched)} runs"
            what = f"{wanted} matches {how}"
        else:
            what = f"the store holds {len(matched)} runs and no run_id, experiment or run_name"
        msg = (f"{store}: {what}; {_listing(client, store)}; a run-log subject reads one run: "
               f"set run_id (or experiment and run_name) to name one")
        raise RunLogError(msg)
    return str(matched[0].info.run_id)


def _store_of(path: Path, select: Mapping[str, str]) -> tuple[Path, Mapping[str, str]]:
    """The store root and the selection, for ``path`` a store or a run folder inside one."""
    if is_mlflow_run(path):
        given = select.get("run_id")
        if given is not None and given != path.name:
            msg = (f"{path}: this is the folder of run {path.name!r}, not run_id {given!r}; "
                   f"point path at the store (mlruns/) or drop run_id")
            raise RunLogError(msg)
        store = path.parent.parent
        if store.name == ".trash":
            store = store.parent
        return store, {**select, "run_id": path.name}
    if not path.is_dir():
        msg = (f"{path}: no such folder; point the subject's path at the MLflow store (the "
               f"mlruns/ folder) or at a run folder inside it")
        raise RunLogError(msg)
    return path, select


def read_mlflow(path: Path, units: dict[str, Unit],
                select: Mapping[str, str] | None = None) -> RunLog:
    """Read the one run that ``select`` (``run_id``, ``experiment``, ``run_name``) names in the
    store at ``path``, or the run whose folder ``path`` is."""
    unknown = sorted(set(select or {}) - set(RUN_SELECTORS))
    if unknown:
        msg = (f"{path}: unknown run selector {', '.join(unknown)}; use "
               f"{', '.join(RUN_SELECTORS)}")
        raise RunLogError(msg)
    store, chosen = _store_of(path, dict(select or {}))
    with _file_store_allowed():
        client = _client(store, path)
        run_id = _select(client, store, chosen)
        run_dir = _run_folder(store, run_id)
        if run_dir is None:
            msg = f"{store}: MLflow lists run {run_id} but its folder is not in the store"
            raise RunLogError(msg)
        files, metrics = _check_run(run_dir)
        try:
            run = client.get_run(run_id)
            histories = {key: list(client.get_metric_history(run_id, key)) for key in metrics}
        except Exception as exc:  # MLflow raises bare Exception on damaged stores
            raise _mlflow_failed(run_dir / "meta.yaml", exc) from None
        exp_meta = run_dir.parent / "meta.yaml"
        try:
            experiment = client.get_experiment(run.info.experiment_id)
        except Exception as exc:  # MLflow raises bare Exception on damaged stores
            raise _mlflow_failed(exp_meta, exc) from None
    _check_selection(run, experiment, chosen, run_dir)
    series = {}
    for key, (file, count) in metrics.items():
        history = histories[key]
        if len(history) < count:
            msg = (f"{file}: MLflow read {len(history)} values from {count} lines; the file "
                   f"was rewritten while it was read: read it again")
            raise RunLogError(msg)
        history = history[:count]  # a live run appends: the lines checked, as they were
        points = [Point(step_of(m.step, f"{file}: line {n}"), float(m.value), m.timestamp / 1000)
                  for n, m in enumerate(history, start=1)]
        series[key] = Series(key, tuple(sorted(points, key=lambda p: p.step)), units.get(key),
                             file)
    # the experiment's meta.yaml and tags: MLflow reads them for the experiment's name
    files.extend(p for p in [exp_meta, *_files_under(run_dir.parent / "tags")] if p.is_file())
    metadata = _metadata(run, experiment, run_dir / "meta.yaml")
    return RunLog(path, "mlflow", series, tuple(files), metadata)


def _check_selection(run: Any, experiment: Any, chosen: Mapping[str, str], run_dir: Path) -> None:
    """A run folder given as the path must also fit the experiment and run name asked for."""
    for key, actual in (("experiment", experiment.name), ("run_name", run.info.run_name)):
        if key in chosen and chosen[key] != actual:
            msg = (f"{run_dir}: run {run.info.run_id} has {key} {actual!r}, not "
                   f"{chosen[key]!r}; fix {key} or point path at the run meant")
            raise RunLogError(msg)


def _seconds(ms: Any, key: str, meta: Path) -> float | None:
    """A run time in seconds; MLflow passes on whatever meta.yaml holds, text included."""
    if ms is None:
        return None
    if isinstance(ms, bool) or not isinstance(ms, int):
        msg = (f"{meta}: {key} {ms!r} is not a time in integer milliseconds; the file is "
               f"damaged: copy the run again from the store")
        raise RunLogError(msg)
    return ms / 1000


def _metadata(run: Any, experiment: Any, meta: Path) -> dict[str, Any]:
    info = run.info
    return {"run_id": info.run_id, "run_name": info.run_name,
            "experiment_id": info.experiment_id, "experiment": experiment.name,
            "status": info.status, "lifecycle_stage": info.lifecycle_stage,
            "start_time": _seconds(info.start_time, "start_time", meta),
            "end_time": _seconds(info.end_time, "end_time", meta),
            "user_id": info.user_id, "artifact_uri": info.artifact_uri,
            "params": dict(run.data.params), "tags": dict(run.data.tags),
            "experiment_tags": dict(experiment.tags)}
