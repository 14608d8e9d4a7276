"""The pytest side of ``--falsify-select=stale`` (the decision is :mod:`harness.select`).

Registered by the plugin only when the option is given, so a plain run pays nothing; the xdist
half only where xdist is installed (its hook names would be unknown without it).
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.contracts import SubjectRef
from harness.select import Item, Selection, evidence_report, plan

__all__ = ["StaleSelection", "StaleSelectionXdist", "claim_item"]

_WORKER_KEY = "falsify_stale_items"


def claim_item(node: pytest.Item) -> Item | None:
    """The (claim, subject) a collected test measures; None for a test bound to no claim."""
    mark = node.get_closest_marker("claim")
    if mark is None or not mark.args:
        return None
    callspec = getattr(node, "callspec", None)
    ref = callspec.params.get("subject") if callspec is not None else None
    subject = ref.id if isinstance(ref, SubjectRef) else mark.kwargs.get("subject")
    return None if subject is None else (str(mark.args[0]), str(subject))


class StaleSelection:
    """pytest hooks of ``--falsify-select=stale``; ``state`` is the plugin's FalsifySession."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.selection: Selection | None = None

    def _active(self, config: pytest.Config) -> bool:
        return getattr(config.option, "falsify_select", "all") == "stale"

    def plan(self) -> Selection:
        if self.selection is None:
            state = self.state
            report = evidence_report(state.workspace, state.contracts, state.ledger_dir)
            self.selection = plan(report)
        return self.selection

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        if not self._active(config):
            return
        handed = getattr(config, "workerinput", {}).get(_WORKER_KEY)
        wanted = ({tuple(i) for i in handed} if handed is not None else set(self.plan().run))
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for node in items:
            item = claim_item(node)
            (drop if item is not None and item not in wanted else keep).append(node)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Nothing stale is a result, not "no tests collected": exit 0, and the summary says
        what was checked (pytest's 5 stays for a selection with nothing in it at all)."""
        chosen = self.selection
        if (self._active(session.config) and chosen is not None and not chosen.run
                and chosen.keep and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.OK

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if not self._active(config) or self.selection is None:
            return
        terminalreporter.section("falsify: --falsify-select=stale")
        for (claim, subject), why in sorted(self.selection.run.items()):
            terminalreporter.write_line(f"run   {claim} {subject}: {why}")
        for (claim, subject), why in sorted(self.selection.keep.items()):
            terminalreporter.write_line(f"kept  {claim} {subject}: {why}")
        terminalreporter.write_line(self.selection.summary())


class StaleSelectionXdist:
    """Under xdist, the controller decides once and hands the items to every worker."""

    def __init__(self, selection: StaleSelection) -> None:
        self.selection = selection

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_WORKER_KEY] = sorted(self.selection.plan().run)
