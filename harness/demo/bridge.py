"""The demo's cross-script bridge subjects (kind ``bridge``, harness.metrics.bridge).

- ``demo-bridge-bam-nqo``: the FLORES-200 Bambara (Latin) dev lines carried into N'Ko by the
  rule-based transliterator, against the FLORES-200 N'Ko dev lines. The two files are separate
  human translations of each English sentence, not transliterations of each other: this is the
  measurement the seed's kill criterion asks for, on the data the demo has.
- ``demo-bridge-roundtrip``: the N'Ko dev lines written in Latin letters by the table read
  backwards (built once into the cache), carried back into N'Ko: the same text in both scripts,
  where a working bridge is clean on nearly every line.
- ``demo-bridge-roundtrip-identity``: that Latin source with the bridge that does nothing, a
  negative control: Latin letters are never a clean N'Ko line.
"""

from __future__ import annotations

from harness.demo import CORPORA_DIR
from harness.demo.evalsets import cached_text
from harness.metrics.bridge import nko_to_latin
from harness.workspace import SubjectSpec, Workspace

__all__ = ["demo_bridge_bam_nqo", "demo_bridge_roundtrip", "demo_bridge_roundtrip_identity"]

BAM_DEV = CORPORA_DIR / "bam_Latn.dev"
NKO_DEV = CORPORA_DIR / "nqo_Nkoo.dev"


def _bridge(subject_id: str, source: str, bridge: str) -> SubjectSpec:
    return SubjectSpec(subject_id, "bridge",
                       {"source": source, "reference": str(NKO_DEV), "bridge": bridge}, "demo")


def _roundtrip_source(workspace: Workspace) -> str:
    text = NKO_DEV.read_text("utf-8")
    latin = "".join(nko_to_latin(line) + "\n" for line in text.splitlines())
    return str(cached_text(workspace, "nqo_Nkoo.dev.latin", latin.encode()))


def demo_bridge_bam_nqo(workspace: Workspace) -> SubjectSpec:
    del workspace
    return _bridge("demo-bridge-bam-nqo", str(BAM_DEV), "bam-latn-nqo")


def demo_bridge_roundtrip(workspace: Workspace) -> SubjectSpec:
    return _bridge("demo-bridge-roundtrip", _roundtrip_source(workspace), "bam-latn-nqo")


def demo_bridge_roundtrip_identity(workspace: Workspace) -> SubjectSpec:
    return _bridge("demo-bridge-roundtrip-identity", _roundtrip_source(workspace), "none")
