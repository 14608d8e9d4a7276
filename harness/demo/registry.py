"""The embedded demo workspace's subjects: id -> "module:function(workspace) -> SubjectSpec".

Each function builds what it needs into the workspace cache (keyed by the builder's inputs) on
first use and returns the subject's spec. Add one line per demo subject; keep them sorted by area.
"""

from __future__ import annotations

DEMO_SUBJECTS: dict[str, str] = {
    # corpus
    "demo-corpus": "harness.demo.corpus:demo_corpus",
    "demo-corpus-unk": "harness.demo.corpus:demo_corpus_unk",
    # lm: eval sets and (model, eval set) pairs
    "demo-eng-dev": "harness.demo.evalsets:demo_eng_dev",
    "demo-eng-4": "harness.demo.evalsets:demo_eng_4",
    "demo-nko-dev": "harness.demo.evalsets:demo_nko_dev",
    "demo-torch-eng-dev": "harness.demo.evalsets:demo_torch_eng_dev",
    "demo-mlx-eng-dev": "harness.demo.evalsets:demo_mlx_eng_dev",
    "demo-torch-eng-4": "harness.demo.evalsets:demo_torch_eng_4",
    "demo-untied-head-eng-dev": "harness.demo.evalsets:demo_untied_head_eng_dev",
}
