"""What a probe or an intervention sees: the live subject of a claim, its model, its reference.

A claim's subject may be a model or a pair (kind ``lm-eval``: a model scored on an eval set,
beside a reference model that holds the trusted weights). Probes reach the model through
:meth:`ProbeContext.model` and the trusted load through :meth:`ProbeContext.reference`, whatever
the subject's kind. Everything resolves through the context's own workspace, so an intervention
applied to ``ctx.model()`` is what the falsifier measures next in that workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.contracts import Claim, ContractSet, SubjectRef
from harness.demo import CORPORA_DIR
from harness.models.base import pack_rows
from harness.probes.registry import ProbeUnsupported
from harness.workspace import Workspace

__all__ = ["FALLBACK_TEXT", "ProbeContext", "is_live_model"]

FALLBACK_TEXT = CORPORA_DIR / "eng_Latn.dev"


def is_live_model(obj: Any) -> bool:
    return all(hasattr(obj, name) for name in ("logits", "backend", "vocab_size", "encode"))


@dataclass(frozen=True)
class ProbeContext:
    workspace: Workspace
    contracts: ContractSet
    claim: Claim
    subject: SubjectRef

    def live(self) -> Any:
        return self.workspace.resolve(self.subject.id)

    def model_id(self) -> str:
        live = self.live()
        model_id = getattr(live, "model_id", None)
        return model_id if isinstance(model_id, str) else self.subject.id

    def model(self) -> Any:
        """The live model under the subject (the subject itself, or a pair's model)."""
        live = self.live()
        model = live if is_live_model(live) else getattr(live, "model", None)
        if not is_live_model(model):
            msg = (f"subject {self.subject.id!r} is a {type(live).__name__}, not a model or a "
                   f"(model, eval set) pair: this probe looks at models")
            raise ProbeUnsupported(msg)
        return model

    def reference(self) -> Any | None:
        """The pair's reference model (the trusted load of the same weights), if it names one."""
        if getattr(self.live(), "reference_id", None) is None:
            return None
        return self.live().reference

    def texts(self) -> list[str]:
        """The pair's eval texts, or the packaged English dev text for a bare model."""
        evalset = getattr(self.live(), "evalset", None)
        if evalset is not None:
            return list(evalset.texts)
        return FALLBACK_TEXT.read_text("utf-8").splitlines()

    def tokens(self, rows: int = 4, length: int = 64) -> np.ndarray:
        """Up to ``rows`` x ``length`` ids of the eval text as the subject's model encodes it."""
        model = self.model()
        packed = pack_rows(map(model.encode, self.texts()), rows, length)
        if packed is None:
            msg = f"the eval text of {self.subject.id!r} encodes to fewer than {length} tokens"
            raise ProbeUnsupported(msg)
        return packed
