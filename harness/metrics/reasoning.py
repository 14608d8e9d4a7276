"""Thinking spans: how many tokens a model generates between its think markers, live.

A subject of kind ``reasoner`` names a model, prompts and the decoding setting::

    [tool.falsify.subjects.thinking]
    kind = "reasoner"
    model = "my-model"               # a torch model subject
    prompts = "eval/prompts.txt"     # one prompt per line (as the chat template renders it)
    think = ["<think>", "</think>"]  # the markers; each must be one token of the tokenizer
    max_new_tokens = 256             # optional (default 256)
    temperature = 1.0                # optional (default 1.0; 0 is greedy)
    seed = 0                         # optional: prompt i samples with seed + i
    force_budget = 64                # optional decoding fix: </think> forced after this many

The thinking span opens at the first ``<think>`` (in the prompt or generated) and closes at the
first ``</think>`` after it; its length is the generated tokens in between. A span still open
when ``max_new_tokens`` runs out is ``unclosed`` (a runaway, counted at its length so far); one
the model ended with end-of-sequence is ``ended`` (malformed: no answer follows). Sampling
draws from the float64 softmax with a seeded numpy generator, so a run repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.workspace import SubjectSpec, Workspace, WorkspaceError

__all__ = ["Reasoner", "Span", "load_reasoner", "think_span"]


@dataclass(frozen=True)
class Span:
    line: int  # the prompt's line in the prompts file
    thinking: int  # generated tokens inside the span
    stop: str  # "closed" by the end marker, "eos" inside the span, or "length" (a runaway)
    answered: bool  # tokens other than end-of-sequence followed the closed span
    forced: bool  # the decoding setting closed it

    @property
    def closed(self) -> bool:
        return self.stop == "closed"


def think_span(prompt: Sequence[int], generated: Sequence[int], start: int, end: int,
               eos: int | None) -> tuple[int, str, bool]:
    """(thinking tokens, how the span stopped, answered) of one generation, from its ids."""
    opened = start in prompt
    count = 0
    for i, token in enumerate(generated):
        if not opened:
            opened = token == start
            continue
        if token == end:
            answer = generated[i + 1:]
            return count, "closed", bool(answer) and answer[0] != eos
        if token == eos:
            return count, "eos", False
        count += 1
    return count, "length", False


@dataclass(frozen=True)
class Reasoner:
    id: str
    model: Any  # a torch LiveModel
    prompts: Path
    think: tuple[str, str]
    max_new_tokens: int
    temperature: float
    seed: int
    force_budget: int | None

    def _ids(self) -> tuple[int, int]:
        tok = self.model.tokenizer
        ids = []
        for marker in self.think:
            encoded = tok.encode(marker, add_special_tokens=False)
            if len(encoded) != 1:
                msg = (f"subject {self.id!r}: think marker {marker!r} is {len(encoded)} tokens "
                       f"of {self.model.path}'s tokenizer; name markers that are one token each")
                raise WorkspaceError(msg)
            ids.append(int(encoded[0]))
        return ids[0], ids[1]

    def lines(self) -> list[tuple[int, str]]:
        try:
            text = self.prompts.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            msg = f"cannot read prompts {self.prompts}: {exc}"
            raise WorkspaceError(msg) from exc
        lines = [(i, t) for i, t in enumerate(text.splitlines(), start=1) if t.strip()]
        if not lines:
            msg = f"{self.prompts}: no prompts; write one per line"
            raise WorkspaceError(msg)
        return lines

    def spans(self) -> list[Span]:
        """Generate for every prompt, live, and measure each thinking span."""
        import torch

        start, end = self._ids()
        eos = self.model.eos_id
        out = []
        for line, text in self.lines():
            prompt = list(self.model.encode(text))
            rng = np.random.default_rng(self.seed + line)
            generated, forced = self._generate(torch, prompt, rng, start, end, eos)
            thinking, stop, answered = think_span(prompt, generated, start, end, eos)
            out.append(Span(line, thinking, stop, answered, forced))
        return out

    def _next(self, logits: Any, rng: np.random.Generator) -> int:
        scores = logits.double().numpy()
        if self.temperature == 0:
            return int(scores.argmax())
        scores = scores / self.temperature
        p = np.exp(scores - scores.max())
        return min(int(np.searchsorted(np.cumsum(p / p.sum()), rng.random())), len(p) - 1)

    def _generate(self, torch: Any, prompt: list[int], rng: np.random.Generator, start: int,
                  end: int, eos: int | None) -> tuple[list[int], bool]:
        module = self.model.module
        generated: list[int] = []
        inside, thinking, forced = start in prompt, 0, False
        with torch.inference_mode():
            res = module(input_ids=torch.tensor([prompt]), use_cache=True)
            while len(generated) < self.max_new_tokens:
                token = self._next(res.logits[0, -1], rng)
                if inside and self.force_budget is not None and thinking >= self.force_budget \
                        and token != end:
                    token, forced = end, True
                generated.append(token)
                if token == eos:
                    break
                if inside:  # counted as think_span counts: every token but the end marker
                    inside = token != end
                    thinking += int(inside)
                else:
                    inside = token == start
                res = module(input_ids=torch.tensor([[token]]),
                             past_key_values=res.past_key_values, use_cache=True)
        return generated, forced


def _whole(where: str, key: str, value: Any, default: int, low: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        msg = f"{where}: {key} must be a whole number >= {low}, got {value!r}"
        raise WorkspaceError(msg)
    return value


def load_reasoner(spec: SubjectSpec, workspace: Workspace) -> Reasoner:
    """Workspace loader for ``kind = "reasoner"``."""
    where = spec.where(workspace)
    model_id, prompts = spec.options.get("model"), spec.options.get("prompts")
    if not isinstance(model_id, str) or not model_id:
        msg = f"{where}: a reasoner needs model = \"<model subject id>\", got {model_id!r}"
        raise WorkspaceError(msg)
    if not isinstance(prompts, str) or not prompts:
        msg = f"{where}: a reasoner needs prompts = \"<a text file, one prompt per line>\""
        raise WorkspaceError(msg)
    think = spec.options.get("think", ["<think>", "</think>"])
    if not (isinstance(think, list) and len(think) == 2
            and all(isinstance(t, str) and t for t in think) and think[0] != think[1]):
        msg = f"{where}: think must be [\"<start marker>\", \"<end marker>\"], got {think!r}"
        raise WorkspaceError(msg)
    temperature = spec.options.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) \
            or not 0 <= temperature <= 10:
        msg = f"{where}: temperature must be a number from 0 (greedy) to 10, got {temperature!r}"
        raise WorkspaceError(msg)
    model = workspace.resolve(model_id)
    if getattr(model, "backend", None) != "torch" or getattr(model, "module", None) is None:
        msg = (f"{where}: model = {model_id!r} must be a torch model subject (thinking spans "
               f"are generated with the torch model's key/value cache)")
        raise WorkspaceError(msg)
    budget = spec.options.get("force_budget")
    path = Path(prompts)
    return Reasoner(spec.id, model, path if path.is_absolute() else workspace.root / path,
                    (think[0], think[1]),
                    _whole(where, "max_new_tokens", spec.options.get("max_new_tokens"), 256, 1),
                    float(temperature), _whole(where, "seed", spec.options.get("seed"), 0, 0),
                    None if budget is None else _whole(where, "force_budget", budget, 0, 0))
