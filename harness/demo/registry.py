"""The embedded demo workspace's subjects: id -> "module:function(workspace) -> SubjectSpec".

Each function builds what it needs into the workspace cache (keyed by the builder's inputs) on
first use and returns the subject's spec. Add one line per demo subject; keep them sorted by area.
"""

from __future__ import annotations

DEMO_SUBJECTS: dict[str, str] = {
    # corpus
    "demo-corpus": "harness.demo.corpus:demo_corpus",
    "demo-corpus-unk": "harness.demo.corpus:demo_corpus_unk",
}
