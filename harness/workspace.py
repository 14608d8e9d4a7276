"""The workspace: where contracts, evidence and subjects live, and how a subject id becomes live.

A subject id resolves first through the user's config (``falsify.toml`` or ``[tool.falsify]`` in
``pyproject.toml``), then through the embedded demo registry. Loaders are named by dotted strings
so that the core never imports torch or mlx until a falsifier asks for a model.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config_schema import COMMON_SUBJECT_KEYS

__all__ = [
    "LOADERS",
    "SubjectNotConfigured",
    "SubjectSpec",
    "SubjectUnavailable",
    "Workspace",
    "WorkspaceError",
    "demo_cache_dir",
    "workspace_root",
]


class WorkspaceError(ValueError):
    """The workspace config is wrong: names the file, the key and the fix."""


class SubjectUnavailable(LookupError):
    """A configured subject cannot be had here (a service down, a folder not built): SKIPPED."""


class SubjectNotConfigured(WorkspaceError):
    """A subject id that no config defines and no demo provides: a misconfigured project, so the
    verdict is ERROR (red) unless the run asked to skip such subjects (``--skip-unconfigured``
    or ``skip_unconfigured = true`` in the config)."""

    def __init__(self, msg: str, subject_id: str) -> None:
        super().__init__(msg)
        self.subject_id = subject_id


@dataclass(frozen=True)
class SubjectSpec:
    """A named live resource: what kind it is and where it lives."""

    id: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = "config"  # "config" or "demo"

    def where(self, workspace: Workspace) -> str:
        """Where the subject is defined, for error messages: its config table, or the demo."""
        if self.source == "config":
            return f"{workspace.config_path}: [tool.falsify.subjects.{self.id}]"
        return f"demo subject {self.id!r}"

    def path(self, key: str = "path") -> Path:
        value = self.options.get(key)
        if value is None:
            msg = f"subject {self.id!r} ({self.kind}) has no {key!r}"
            raise WorkspaceError(msg)
        return Path(value)


# kind -> "module:function" taking (spec, workspace) and returning the live object.
LOADERS: dict[str, str] = {
    "corpus": "harness.metrics.corpus:load_corpus",
    "model": "harness.models:load_model",
    "evalset": "harness.metrics.evalset:load_evalset",
    "lm-eval": "harness.metrics.lm:load_lm_eval",
    "bundle": "harness.runs.bundle:load_bundle",
    "bundle-pair": "harness.runs.bundle:load_bundle_pair",
    "run-matrix": "harness.runs.matrix:load_run_matrix",
    "gate-endpoint": "harness.runs.gate_client:load_gate_endpoint",
    "fault-suite": "harness.bisect.confusion:load_fault_suite",
    "run-log": "harness.runs.logs:load_run_log",
    "run-doc": "harness.runs.rundoc:load_run_doc",
    "bridge": "harness.metrics.bridge:load_bridge",
    "group": "harness.groups:load_group",
    "finetune-pair": "harness.metrics.scan:load_finetune_pair",
    "eval-vs-train": "harness.metrics.contamination:load_eval_vs_train",
    "tokenizer-port": "harness.metrics.tokparity:load_tokenizer_port",
    "decoder": "harness.metrics.decoding:load_decoder",
    "onnx-export": "harness.metrics.export:load_onnx_export",
    "rating-sheet": "harness.metrics.ratings:load_rating_sheet",
    "reasoner": "harness.metrics.reasoning:load_reasoner",
    "openai-endpoint": "harness.models.served:load_openai_endpoint",
}


def demo_cache_dir() -> Path:
    """The demo's artifact folder, shared by every project on the machine.

    ``FALSIFY_DEMO_CACHE`` when set; else ``$FALSIFY_CACHE/demo`` when ``FALSIFY_CACHE`` is set
    (the whole cache in one place, as CI and the tests use it); else the user cache directory,
    ``$XDG_CACHE_HOME/falsify/demo`` or ``~/.cache/falsify/demo``, so a new project reuses a
    demo another one built. The XDG rule is written out rather than taken from platformdirs: it
    is three lines, and the demo build already needs a POSIX system (its locks use fcntl).
    """
    explicit = os.environ.get("FALSIFY_DEMO_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("FALSIFY_CACHE")
    if cache:
        return Path(cache) / "demo"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "falsify" / "demo"


def _import(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return fn


def _find_root(start: Path) -> Path:
    here = start.resolve()
    for folder in (here, *here.parents):
        has_config = (folder / "falsify.toml").is_file() or (folder / "pyproject.toml").is_file()
        if (folder / "contracts").is_dir() and has_config:
            return folder
    msg = (f"no falsify workspace at or above {here}: expected a folder holding contracts/ and "
           f"pyproject.toml or falsify.toml; run falsify from your project, or pass --root")
    raise WorkspaceError(msg)


def workspace_root(start: Path) -> Path | None:
    """The falsify workspace at or above ``start`` (contracts/ and a config file), or None."""
    try:
        return _find_root(start)
    except WorkspaceError:
        return None


def _read_config(root: Path) -> tuple[dict[str, Any], Path | None]:
    own = root / "falsify.toml"
    pyproject = root / "pyproject.toml"
    data = _load_toml(pyproject) if pyproject.is_file() else {}
    _refuse_misplaced(data, pyproject)
    tool = data.get("tool")
    section = tool.get("falsify") if isinstance(tool, dict) else None
    if own.is_file():
        if section is not None:
            msg = (f"{pyproject}: [tool.falsify] is not read, because {own} exists and is read "
                   f"instead; move its tables into {own} (as [subjects.NAME], without the "
                   f"tool.falsify prefix) or delete {own}")
            raise WorkspaceError(msg)
        return _checked(_load_toml(own), own, ()), own
    if section is not None:
        return _checked(section, pyproject, ("tool", "falsify")), pyproject
    return {}, None


def _refuse_misplaced(data: Mapping[str, Any], pyproject: Path) -> None:
    """A falsify table in pyproject.toml that falsify would not read (``[subjects.x]`` at the top,
    ``[tool.falsfy]``) is a usage error naming the table and its right spelling, never ignored."""
    import difflib

    top = [k for k in data if k in ("subjects", "falsify")
           or difflib.get_close_matches(k, ["falsify"], cutoff=0.8)]
    tool = data.get("tool")
    near = [k for k in tool if k != "falsify"
            and difflib.get_close_matches(k, ["falsify"], cutoff=0.8)] if isinstance(
        tool, dict) else []
    for key, where in [(k, k) for k in top] + [(k, f"tool.{k}") for k in near]:
        value = data[key] if where == key else tool[key]  # type: ignore[index]
        names = sorted(value) if key == "subjects" and isinstance(value, dict) else []
        right = ", ".join(f"[tool.falsify.subjects.{n}]" for n in names) or "[tool.falsify]"
        msg = (f"{pyproject}: [{where}] is not read by falsify; in pyproject.toml write "
               f"{right} (subjects go in [tool.falsify.subjects.NAME]), or put "
               f"[subjects.NAME] in falsify.toml")
        raise WorkspaceError(msg)


def _checked(data: Any, path: Path, prefix: tuple[str, ...]) -> dict[str, Any]:
    from harness.config_schema import config_problems

    problems = config_problems(data, path, prefix)
    if problems:
        raise WorkspaceError("\n".join(problems))
    checked: dict[str, Any] = data
    return checked


_MAX_CONFIG_BYTES = 1 << 20


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_CONFIG_BYTES + 1)
        if len(data) > _MAX_CONFIG_BYTES:
            msg = f"{path}: over the {_MAX_CONFIG_BYTES:,}-byte limit for a config file"
            raise WorkspaceError(msg)
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid TOML ({exc}); fix the syntax"
        raise WorkspaceError(msg) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        msg = f"{path}: arrays or tables nested too deep to read; flatten them"
        raise WorkspaceError(msg) from None


class Workspace:
    """Paths, config and subject resolution for one project."""

    def __init__(self, root: Path, config: Mapping[str, Any] | None = None,
                 config_path: Path | None = None) -> None:
        self.root = root.resolve()
        self.config: Mapping[str, Any] = config or {}
        self.config_path = config_path
        self._live: dict[str, Any] = {}
        self._implied: dict[Path, tuple[Path, ...]] = {}

    @classmethod
    def discover(cls, start: Path | None = None) -> Workspace:
        root = _find_root(start or Path.cwd())
        config, path = _read_config(root)
        return cls(root, config, path)

    def _dir(self, key: str, default: str) -> Path:
        value = self.config.get(key, default)
        if not isinstance(value, str):
            msg = f"{self.config_path}: [tool.falsify] {key} must be a path string"
            raise WorkspaceError(msg)
        return self.root / value

    @property
    def contracts_dir(self) -> Path:
        return self._dir("contracts", "contracts")

    @property
    def ledger_dir(self) -> Path:
        return self._dir("ledger", "evidence/ledger")

    @property
    def evidence_dir(self) -> Path:
        return self.ledger_dir.parent

    @property
    def falsifiers_dir(self) -> Path:
        return self._dir("falsifiers", "falsifiers")

    @property
    def paper_dir(self) -> Path:
        return self._dir("paper", "paper")

    @property
    def cache_dir(self) -> Path:
        env = os.environ.get("FALSIFY_CACHE")
        return Path(env) if env else self._dir("cache", ".falsify-cache")

    @property
    def cache_prefix(self) -> str:
        """How records write a path in the cache: the configured cache folder relative to the
        root (``.falsify-cache``), wherever ``FALSIFY_CACHE`` puts the cache on this machine."""
        configured = self._dir("cache", ".falsify-cache")
        if configured.is_relative_to(self.root) and configured != self.root:
            return configured.relative_to(self.root).as_posix()
        return ".falsify-cache"

    @property
    def demo_dir(self) -> Path:
        """Where the demo's built artifacts live on this machine (see :func:`demo_cache_dir`)."""
        return demo_cache_dir()

    @property
    def demo_prefix(self) -> str:
        """How records write a path in the demo cache, wherever it lives on this machine:
        ``.falsify-cache/demo``, as when the demo was built inside each project's cache."""
        return f"{self.cache_prefix}/demo"

    def input_aliases(self) -> dict[str, Path]:
        """``InputHasher`` aliases: each recorded prefix -> this machine's folder for it; the
        demo's own prefix (the longer one) wins over the project cache's for demo paths, and
        ``.hf-hub-cache`` stands for this machine's Hugging Face Hub cache (``hub`` models)."""
        from harness.hubcache import HUB_ALIAS, hub_cache_dir

        return {self.cache_prefix: self.cache_dir, self.demo_prefix: self.demo_dir,
                HUB_ALIAS: hub_cache_dir()}

    def spec(self, subject_id: str) -> SubjectSpec:
        """The subject's spec: from the config when configured, else from the demo registry."""
        configured = self.config.get("subjects", {}).get(subject_id)
        if configured is not None:
            return self._configured_spec(subject_id, configured)
        from harness.demo.registry import DEMO_SUBJECTS

        target = DEMO_SUBJECTS.get(subject_id)
        if target is None:
            raise self.not_configured(subject_id)
        spec: SubjectSpec = _import(target)(self)
        return spec

    @property
    def skip_unconfigured(self) -> bool:
        """The config asks that subjects it does not define be SKIPPED rather than ERROR."""
        return self.config.get("skip_unconfigured") is True

    def not_configured(self, subject_id: str) -> SubjectNotConfigured:
        """The error for a subject id that neither the config nor the demo defines: which file
        was read (or where one was looked for) and the exact table to add in that file's form."""
        import difflib

        subjects = self.config.get("subjects", {})
        path = self.config_path
        if path is None:
            path = self.root / "falsify.toml"
            read = (f"no config was found (looked for {path} and a [tool.falsify] table in "
                    f"{self.root / 'pyproject.toml'})")
        else:
            read = f"{path} defines no such subject"
        table = (f"[tool.falsify.subjects.{subject_id}]" if path.name == "pyproject.toml"
                 else f"[subjects.{subject_id}]")
        close = difflib.get_close_matches(subject_id, list(subjects), n=1)
        hint = f" (did you mean {close[0]!r}, which it defines?)" if close else ""
        msg = (f"subject {subject_id!r} is not configured: {read}{hint}, and it is not a demo "
               f"subject; add {table} with kind = \"<one of {', '.join(sorted(LOADERS))}>\" "
               f"and that kind's options (README, Subjects) to {path}, or run pytest with "
               f"--skip-unconfigured to skip it")
        return SubjectNotConfigured(msg, subject_id)

    def _configured_spec(self, subject_id: str, data: Any) -> SubjectSpec:
        where = f"{self.config_path}: [tool.falsify.subjects.{subject_id}]"
        if not isinstance(data, dict) or "kind" not in data:
            msg = f"{where} needs a 'kind' (one of {', '.join(sorted(LOADERS))})"
            raise WorkspaceError(msg)
        options = {k: v for k, v in data.items() if k != "kind" and k not in COMMON_SUBJECT_KEYS}
        for key in ("path", "a", "b"):
            if isinstance(options.get(key), str):
                options[key] = str((self.root / options[key]).resolve())
        return SubjectSpec(subject_id, str(data["kind"]), options, "config")

    def resources(self, subject_id: str) -> dict[str, float]:
        """What one cluster task of the subject needs (``resources`` on its config table,
        checked by the schema): cpus (default 1), gpus (default 0), memory_gb (default: none
        reserved). A demo or unconfigured subject gets the defaults."""
        table = self.config.get("subjects", {}).get(subject_id)
        declared = table.get("resources", {}) if isinstance(table, dict) else {}
        return {"cpus": 1.0, "gpus": 0.0, **{k: float(v) for k, v in declared.items()}}

    def imply_input(self, path: Path, *implied: Path) -> None:
        """Say that a loader found ``path`` through ``implied`` (a Hub ref naming a snapshot):
        evidence declaring ``path`` declares those too (``Evidence.input``)."""
        key = Path(os.path.abspath(path))
        self._implied[key] = tuple(dict.fromkeys((*self._implied.get(key, ()), *implied)))

    def implied_inputs(self, path: Path) -> tuple[Path, ...]:
        return self._implied.get(Path(os.path.abspath(path)), ())

    def resolve(self, subject_id: str) -> Any:
        """The live object for ``subject_id``, loaded once per process."""
        if subject_id not in self._live:
            spec = self.spec(subject_id)
            target = LOADERS.get(spec.kind)
            if target is None:
                msg = (f"subject {subject_id!r} has unknown kind {spec.kind!r}; known kinds: "
                       f"{', '.join(sorted(LOADERS))}")
                raise WorkspaceError(msg)
            self._live[subject_id] = _import(target)(spec, self)
        return self._live[subject_id]
