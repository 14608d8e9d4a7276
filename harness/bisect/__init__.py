"""Bisection: which commit, which hypothesis, which layer made a claim fail.

- :mod:`harness.bisect.commits`: binary search over the commits between a good and a bad one,
  each probed commit's falsifier run in its own git worktree.
- :mod:`harness.bisect.hypotheses`: a claim's hypotheses probed on the live subject, and their
  interventions tried alone and together until the claim flips.
- :mod:`harness.bisect.layers`: two subjects compared layer by layer on the same tokens.

Nothing here imports torch or mlx at import time.
"""

from harness.bisect.commits import BisectError, CommitBisection, CommitRun, bisect_commits
from harness.bisect.search import Outcome, SearchResult, bisect_first_bad, run_bound

__all__ = [
    "BisectError",
    "CommitBisection",
    "CommitRun",
    "Outcome",
    "SearchResult",
    "bisect_commits",
    "bisect_first_bad",
    "run_bound",
]
