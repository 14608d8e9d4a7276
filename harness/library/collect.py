"""Collecting library falsifiers beside a project's own, and selecting tests by claim and subject.

When pytest collects the project's falsifiers folder, the library falsifier modules whose claims
the project's contracts use (``uses:``) are collected with it, as the real modules they are
(``harness/library/falsifiers/<area>.py``, imported under their package name). A library
module holds the falsifiers of all its area's claims; only those of claims this project uses
are collected, so a project that uses one claim of an area never sees the others' tests.

``--claim ID`` and ``--subject ID`` (repeatable) keep only the matching claim-bound tests, so
``pytest falsifiers/ -m live --claim LM-VAL-BELOW-UNIFORM --subject my-llama`` reruns one
record wherever its falsifier lives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.contracts import Claim, ContractSet, SubjectRef
from harness.library import LIBRARY_DIR
from harness.workspace import SubjectUnavailable, Workspace, WorkspaceError

__all__ = ["LibraryCollection", "SubjectKindError", "check_kind"]

_LIBRARY_FALSIFIERS = LIBRARY_DIR / "falsifiers"


def _claims_of(obj: Any) -> list[str]:
    marks = getattr(obj, "pytestmark", [])
    return [m.args[0] for m in marks if getattr(m, "name", "") == "claim" and m.args]


class LibraryCollection:
    """pytest hooks: library modules in the falsifiers folder, and ``--claim``/``--subject``.

    ``falsifiers_dir`` and ``contracts`` are called lazily: a run outside any falsify workspace
    (``falsifiers_dir()`` None) collects exactly as pytest alone would.
    """

    def __init__(self, falsifiers_dir: Callable[[], Path | None],
                 contracts: Callable[[], ContractSet]) -> None:
        self._falsifiers_dir = falsifiers_dir
        self._contracts = contracts

    def used(self) -> dict[str, str]:
        """Library claim id -> falsifier module name, for the claims the contracts use."""
        return {c.id: c.library for c in self._contracts().claims.values()
                if c.library is not None}

    def modules(self) -> list[Path]:
        names = sorted(set(self.used().values()))
        return [_LIBRARY_FALSIFIERS / f"{name.rpartition('.')[2]}.py" for name in names]

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        """The falsifiers folder's children, and the library modules its contracts use."""
        report = yield
        if not isinstance(collector, pytest.Directory) or not report.passed:
            return report
        try:
            folder = self._falsifiers_dir()
            if folder is None or collector.path.resolve() != folder.resolve():
                return report
            modules = self.modules()
        except pytest.UsageError as exc:  # a wrong config or contract: its message, no traceback
            report.outcome, report.longrepr, report.result = "failed", str(exc), []
            return report
        have = {getattr(node, "path", None) for node in report.result}
        report.result.extend(pytest.Module.from_parent(collector, path=path)
                             for path in modules if path not in have)
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makeitem(self, collector: pytest.Collector, name: str,
                                  obj: object) -> Any:
        """In a library module, a falsifier of a claim this project does not use is not
        collected (its claim is not in the contracts, and it is not this project's test)."""
        path = getattr(collector, "path", None)
        if not isinstance(collector, pytest.Module) or path is None:
            return None
        if not Path(path).resolve().is_relative_to(_LIBRARY_FALSIFIERS):
            return None
        claims = _claims_of(obj)
        if claims and not set(claims) & set(self.used()):
            return []
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        claims = set(config.option.falsify_claims or ())
        subjects = set(config.option.falsify_subjects or ())
        if not claims and not subjects:
            return
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            (keep if _selected(item, claims, subjects) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def _selected(item: pytest.Item, claims: set[str], subjects: set[str]) -> bool:
    mark = item.get_closest_marker("claim")
    if mark is None or not mark.args:
        return False
    if claims and mark.args[0] not in claims:
        return False
    if not subjects:
        return True
    callspec = getattr(item, "callspec", None)
    ref = callspec.params.get("subject") if callspec is not None else None
    subject = getattr(ref, "id", None) or mark.kwargs.get("subject")
    return subject in subjects


class SubjectKindError(TypeError):
    """A claim's falsifier takes subjects of other kinds than the one it was bound to."""


def check_kind(workspace: Workspace, claim: Claim, ref: SubjectRef) -> None:
    """Before the falsifier runs: a claim that declares ``subject_kinds`` (every library claim
    does) bound to a subject of another kind is an ERROR that says so, not an AttributeError
    from deep inside the falsifier. An unconfigured subject is left to its own verdict."""
    kinds = claim.raw.get("subject_kinds") or ()
    if not kinds:
        return
    try:
        spec = workspace.spec(ref.id)
    except (WorkspaceError, SubjectUnavailable):
        return
    if spec.kind not in kinds:
        where = ("a demo subject" if spec.source == "demo"
                 else f"configured in {workspace.config_path}")
        msg = (f"{claim.id} takes subjects of kind {' or '.join(kinds)}, but {ref.id} is of kind "
               f"{spec.kind} ({where}); bind the claim to a subject of that kind (README: "
               f"Claims from the library, and Subjects)")
        raise SubjectKindError(msg)
