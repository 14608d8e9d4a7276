"""The demo's served models: the real ``mlx_lm.server`` started on loopback by the subject.

``demo-served-mlx`` serves the demo LM's MLX folder, the one ``demo-mlx`` loads. The control,
``demo-served-other-checkpoint``, is a deployment slip: the server was started on another
checkpoint (the 6-block scan base, same tokenizer) while the evidence we hold is for demo-mlx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.demo import finetune, lm
from harness.demo.build import Builder
from harness.workspace import SubjectSpec

__all__ = ["demo_served_mlx", "demo_served_other_checkpoint"]


def _spec(subject_id: str, folder: Path) -> SubjectSpec:
    return SubjectSpec(subject_id, "openai-endpoint",
                       {"serve": str(folder), "reference": "demo-mlx"}, source="demo")


def demo_served_mlx(workspace: Any) -> SubjectSpec:
    """mlx_lm.server on the demo LM's MLX folder; its reference is that folder loaded here."""
    return _spec("demo-served-mlx", lm.mlx_dir(Builder.for_workspace(workspace), False))


def demo_served_other_checkpoint(workspace: Any) -> SubjectSpec:
    """Control: the server started on the scan base's MLX folder instead."""
    builder = Builder.for_workspace(workspace)
    return _spec("demo-served-other-checkpoint",
                 finetune.mlx_copy(builder, finetune.base_dir(builder)))
