"""The public API for falsifier authors: import everything a falsifier needs from here.

    from harness.api import Evidence, LiveModel, SubjectRef, Workspace, evalset_nll

What the plugin's fixtures are:

- ``evidence``: an :class:`Evidence` (``measure``, ``input``, ``note``, ``attach``).
- ``subject``: a :class:`SubjectRef` (``id``, ``role``, ``expect``) from the claim's subjects and
  controls.
- ``workspace``: the :class:`Workspace`; ``workspace.resolve(id)`` returns the live object of the
  subject's kind (each kind's type is below; docs/API.md lists them with their methods and units).

| kind            | ``workspace.resolve(id)`` returns                        |
|-----------------|----------------------------------------------------------|
| ``model``       | a :class:`LiveModel` (torch/transformers or MLX/mlx-lm)  |
| ``evalset``     | an :class:`EvalSet`                                      |
| ``lm-eval``     | an :class:`LmEval` (model + eval set + optional reference) |
| ``corpus``      | a :class:`Corpus`                                        |
| ``bundle``      | a :class:`Bundle`                                        |
| ``bundle-pair`` | a :class:`BundlePair`                                    |
| ``run-matrix``  | a :class:`RunMatrix`                                     |
| ``gate-endpoint`` | a :class:`GateEndpoint`                                |
| ``fault-suite`` | a :class:`FaultSuite`                                    |
| ``run-log``     | a :class:`RunLog` (named series of step, value, wall time) |
| ``run-doc``     | a ``RunDoc`` (a Markdown file, its run log, the quotes)  |
| ``finetune-pair`` | a :class:`FineTunePair` (base, tuned, English and N'Ko sets) |
| ``eval-vs-train`` | an :class:`EvalVsTrain` (an eval set and the training text files) |
| ``group``       | a ``SubjectGroup`` (members of one configuration, one per seed) |

A subject that cannot be had raises :class:`SubjectUnavailable` (the verdict is SKIPPED).

Importing this module imports neither torch nor mlx (nor the optional ``runs`` extra): every
name below but the core types is imported on first use (PEP 562), and a model's framework only
when a model is loaded. Type checkers see every name through the ``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness.contracts import Claim, SubjectRef
from harness.evidence import Evidence
from harness.records import Measurement
from harness.workspace import SubjectSpec, SubjectUnavailable, Workspace, WorkspaceError

if TYPE_CHECKING:
    from harness.bisect.confusion import FaultSuite
    from harness.metrics.contamination import EvalVsTrain
    from harness.metrics.corpus import Corpus, CorpusAudit
    from harness.metrics.corpus import audit as audit_corpus
    from harness.metrics.dedup import cross_duplicates
    from harness.metrics.evalset import EvalSet, EvalSetError
    from harness.metrics.forgetting import NllDifference, example_nll, paired_nll_difference
    from harness.metrics.lm import (
        LmEval,
        NllStats,
        NonFiniteNllError,
        evalset_nll,
        token_nll_stats,
    )
    from harness.metrics.scan import FineTunePair, LayerScan, ScanError, scan_layers
    from harness.models import LiveModel, ModelLoadError, Quantization, open_model
    from harness.runs.bundle import Bundle, BundlePair, PredictionRow, RunInfo
    from harness.runs.gate_client import GateClient, GateEndpoint, GateResult, GateUnavailable
    from harness.runs.logs import Point, RunLog, RunLogError, Series
    from harness.runs.matrix import Cell, MatrixReport, RunMatrix

__all__ = [
    "Bundle",
    "BundlePair",
    "Cell",
    "Claim",
    "Corpus",
    "CorpusAudit",
    "EvalSet",
    "EvalSetError",
    "EvalVsTrain",
    "Evidence",
    "FaultSuite",
    "FineTunePair",
    "GateClient",
    "GateEndpoint",
    "GateResult",
    "GateUnavailable",
    "LayerScan",
    "LiveModel",
    "LmEval",
    "MatrixReport",
    "Measurement",
    "ModelLoadError",
    "NllDifference",
    "NllStats",
    "NonFiniteNllError",
    "Point",
    "PredictionRow",
    "Quantization",
    "RunInfo",
    "RunLog",
    "RunLogError",
    "RunMatrix",
    "ScanError",
    "Series",
    "SubjectRef",
    "SubjectSpec",
    "SubjectUnavailable",
    "Workspace",
    "WorkspaceError",
    "audit_corpus",
    "cross_duplicates",
    "evalset_nll",
    "example_nll",
    "open_model",
    "paired_nll_difference",
    "scan_layers",
    "token_nll_stats",
]

# name -> "module:attribute" that defines it, imported when the name is first used.
_LAZY: dict[str, str] = {
    "FaultSuite": "harness.bisect.confusion:FaultSuite",
    "Corpus": "harness.metrics.corpus:Corpus",
    "CorpusAudit": "harness.metrics.corpus:CorpusAudit",
    "audit_corpus": "harness.metrics.corpus:audit",
    "EvalSet": "harness.metrics.evalset:EvalSet",
    "EvalSetError": "harness.metrics.evalset:EvalSetError",
    "LmEval": "harness.metrics.lm:LmEval",
    "NllStats": "harness.metrics.lm:NllStats",
    "NonFiniteNllError": "harness.metrics.lm:NonFiniteNllError",
    "evalset_nll": "harness.metrics.lm:evalset_nll",
    "token_nll_stats": "harness.metrics.lm:token_nll_stats",
    "EvalVsTrain": "harness.metrics.contamination:EvalVsTrain",
    "cross_duplicates": "harness.metrics.dedup:cross_duplicates",
    "FineTunePair": "harness.metrics.scan:FineTunePair",
    "LayerScan": "harness.metrics.scan:LayerScan",
    "ScanError": "harness.metrics.scan:ScanError",
    "scan_layers": "harness.metrics.scan:scan_layers",
    "NllDifference": "harness.metrics.forgetting:NllDifference",
    "example_nll": "harness.metrics.forgetting:example_nll",
    "paired_nll_difference": "harness.metrics.forgetting:paired_nll_difference",
    "LiveModel": "harness.models:LiveModel",
    "ModelLoadError": "harness.models:ModelLoadError",
    "Quantization": "harness.models:Quantization",
    "open_model": "harness.models:open_model",
    "Bundle": "harness.runs.bundle:Bundle",
    "BundlePair": "harness.runs.bundle:BundlePair",
    "PredictionRow": "harness.runs.bundle:PredictionRow",
    "RunInfo": "harness.runs.bundle:RunInfo",
    "GateClient": "harness.runs.gate_client:GateClient",
    "GateEndpoint": "harness.runs.gate_client:GateEndpoint",
    "GateResult": "harness.runs.gate_client:GateResult",
    "GateUnavailable": "harness.runs.gate_client:GateUnavailable",
    "Cell": "harness.runs.matrix:Cell",
    "MatrixReport": "harness.runs.matrix:MatrixReport",
    "RunMatrix": "harness.runs.matrix:RunMatrix",
    "Point": "harness.runs.logs:Point",
    "RunLog": "harness.runs.logs:RunLog",
    "RunLogError": "harness.runs.logs:RunLogError",
    "Series": "harness.runs.logs:Series",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        msg = f"module 'harness.api' has no attribute {name!r}; the public names are in __all__"
        raise AttributeError(msg)
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # once imported, an ordinary module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
