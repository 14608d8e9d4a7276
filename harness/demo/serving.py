"""The demo's served models: a real server started on loopback by the subject.

``demo-served-mlx`` serves the demo LM's MLX folder with ``mlx_lm.server``, the one ``demo-mlx``
loads. The control, ``demo-served-other-checkpoint``, is a deployment slip: the server was
started on another checkpoint (the 6-block scan base, same tokenizer) while the evidence we hold
is for demo-mlx.

``demo-served-scoring`` serves the demo LM's torch folder with the demo scoring server
(:mod:`harness.demo.scoring_server`), which echoes prompt log-probabilities, so perplexity
claims run through it: ``demo-served-eng-dev`` scores FLORES English dev over HTTP against
``demo-torch`` loaded here. Its control, ``demo-served-other-eng-dev``, is the same slip: the
scoring server started on the scan base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.demo import finetune, lm
from harness.demo.build import Builder
from harness.workspace import SubjectSpec

__all__ = ["demo_served_eng_dev", "demo_served_mlx", "demo_served_other_checkpoint",
           "demo_served_other_eng_dev", "demo_served_scoring", "demo_served_scoring_other"]


def _spec(subject_id: str, folder: Path, reference: str = "demo-mlx",
          server: str = "mlx_lm") -> SubjectSpec:
    return SubjectSpec(subject_id, "openai-endpoint",
                       {"serve": str(folder), "reference": reference, "server": server},
                       source="demo")


def demo_served_mlx(workspace: Any) -> SubjectSpec:
    """mlx_lm.server on the demo LM's MLX folder; its reference is that folder loaded here."""
    return _spec("demo-served-mlx", lm.mlx_dir(Builder.for_workspace(workspace), False))


def demo_served_other_checkpoint(workspace: Any) -> SubjectSpec:
    """Control: the server started on the scan base's MLX folder instead."""
    builder = Builder.for_workspace(workspace)
    return _spec("demo-served-other-checkpoint",
                 finetune.mlx_copy(builder, finetune.base_dir(builder)))


def demo_served_scoring(workspace: Any) -> SubjectSpec:
    """The demo scoring server on the demo LM's torch folder; its reference is demo-torch."""
    return _spec("demo-served-scoring", lm.torch_dir(Builder.for_workspace(workspace)),
                 "demo-torch", "scoring")


def demo_served_scoring_other(workspace: Any) -> SubjectSpec:
    """Control: the scoring server started on the scan base's torch folder instead."""
    builder = Builder.for_workspace(workspace)
    return _spec("demo-served-scoring-other", finetune.base_dir(builder), "demo-torch", "scoring")


def _eng_dev(subject_id: str, model: str) -> SubjectSpec:
    return SubjectSpec(subject_id, "lm-eval", {"model": model, "evalset": "demo-eng-dev",
                                               "reference": "demo-torch"}, "demo")


def demo_served_eng_dev(workspace: Any) -> SubjectSpec:
    """FLORES English dev scored through the scoring server, against demo-torch here."""
    del workspace
    return _eng_dev("demo-served-eng-dev", "demo-served-scoring")


def demo_served_other_eng_dev(workspace: Any) -> SubjectSpec:
    """Control: the same through the scoring server started on the scan base."""
    del workspace
    return _eng_dev("demo-served-other-eng-dev", "demo-served-scoring-other")
