"""The pytest side of ``falsify cluster run`` (the driver is :mod:`harness.cluster`).

Two options, registered by the plugin only when given:

- ``--falsify-items=FILE``: after collection (``--collect-only`` included), write the selected
  claim-bound items as JSON, ``[{"nodeid", "claim", "subject"}]``, so the driver plans tasks from
  exactly what this pytest would run (``-m``, ``--claim``, ``--falsify-select=stale`` applied).
- ``--falsify-lost=FILE``: ``{nodeid: cause}`` for items the cluster lost on every attempt (their
  node died, their process was killed). Each is judged ERROR with that cause in its setup, before
  any fixture loads a model, and recorded like any other verdict: the record carries the claim's
  hash, the falsifier's code identity and this machine's provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.select_hooks import claim_item

__all__ = ["ClusterHooks", "ItemLost"]


class ItemLost(Exception):
    """Raised in setup for an item the cluster lost; the plugin records ERROR with its cause."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.falsify_reason = cause


class ClusterHooks:
    def __init__(self, items_file: Path | None, lost_file: Path | None) -> None:
        self.items_file = items_file
        self.lost: dict[str, str] = {}
        if lost_file is not None:
            try:
                data = json.loads(Path(lost_file).read_text("utf-8"))
            except (OSError, ValueError) as exc:
                msg = f"--falsify-lost {lost_file}: not a readable JSON object ({exc})"
                raise pytest.UsageError(msg) from None
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                msg = f"--falsify-lost {lost_file}: must map node ids to causes (strings)"
                raise pytest.UsageError(msg)
            self.lost = data

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.items_file is None or getattr(session.config, "workerinput", None) is not None:
            return
        rows: list[dict[str, Any]] = []
        for item in session.items:
            found = claim_item(item)
            if found is not None:
                rows.append({"nodeid": item.nodeid, "claim": found[0], "subject": found[1]})
        self.items_file.write_text(json.dumps(rows, indent=1) + "\n", "utf-8")

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Runs after the plugin's own setup hook (which opens the item's evidence) and before
        pytest's, which sets up the fixtures: a lost item loads nothing."""
        cause = self.lost.get(item.nodeid)
        if cause is not None:
            raise ItemLost(cause)
