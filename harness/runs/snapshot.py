"""Snapshot identity: which test set a run was scored on.

Two runs are comparable only when they were scored on the same snapshot: the same dataset
(``dataset_sha256``, as split.json declares it), the same number of test rows, and the same set
of test ``feat_id``s (``feat_id_set_sha256``: the sha256 of the sorted ids, each UTF-8 encoded
and followed by ``\\n``). The reader recomputes the row count and the id-set hash from the rows
and refuses a split.json that disagrees, so an identity is always what the rows say.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from harness.keywords import paired

__all__ = ["Snapshot", "feat_id_set_sha256", "snapshot_difference"]


def feat_id_set_sha256(feat_ids: Iterable[str]) -> str:
    """sha256 of the sorted ids, each followed by a newline (order of input is irrelevant)."""
    h = hashlib.sha256()
    for fid in sorted(feat_ids):
        h.update(fid.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """The identity of a test snapshot."""

    dataset: str
    dataset_sha256: str
    n_rows: int
    feat_id_set_sha256: str

    def same_as(self, other: Snapshot) -> bool:
        return (self.dataset_sha256, self.n_rows, self.feat_id_set_sha256) == (
            other.dataset_sha256, other.n_rows, other.feat_id_set_sha256)

    def __str__(self) -> str:
        return (f"dataset {self.dataset} sha256 {self.dataset_sha256[:12]}, {self.n_rows} test "
                f"rows, feat_id set sha256 {self.feat_id_set_sha256[:12]}")


@paired
def snapshot_difference(*, a: Snapshot, b: Snapshot, label_a: str = "a",
                        label_b: str = "b") -> str | None:
    """None when ``a`` and ``b`` are the same snapshot, else a sentence quoting both identities."""
    if a.same_as(b):
        return None
    differs = [name for name, x, y in (
        ("dataset_sha256", a.dataset_sha256, b.dataset_sha256),
        ("n_rows", a.n_rows, b.n_rows),
        ("feat_id_set_sha256", a.feat_id_set_sha256, b.feat_id_set_sha256)) if x != y]
    return (f"not the same snapshot ({', '.join(differs)} differ): {label_a} is {a}; "
            f"{label_b} is {b}; runs are comparable only on one snapshot")
