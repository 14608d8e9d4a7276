"""Thinking spans: how many tokens a model generates between its think markers, live.

A subject of kind ``reasoner`` names a model, prompts and the decoding setting::

    [tool.falsify.subjects.thinking]
    kind = "reasoner"
    model = "my-model"               # a torch model subject, or an openai-endpoint (below)
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

``model`` may instead name an ``openai-endpoint`` subject (harness/models/served.py) whose
``reference`` is the local model it serves. The server generates; the spans are counted on the
token ids it returns (``logprobs.content[].id``), never on its text. The reference's tokenizer
is used only where the API gives no ids: the markers' ids, and the prompt's ids (to see whether
the prompt opens the span), checked against the server's own prompt count
(``usage.prompt_tokens``). Served reasoning is greedy only: a server's seeded sampling does not
repeat across servers, versions or batch sizes, so ``temperature`` must be 0 (a config error
otherwise). ``force_budget`` on a server is the same decode-side fix, done through the API: the
local rule (the end marker replaces the first token past the budget inside a span) is applied
to the greedy tokens the server returned; at that point they are cut, the end marker appended,
and generation resumes from the prompt plus those ids as text. Inside a span a request asks
for at most the budget's remaining tokens plus the one the rule may replace, so a runaway is
not generated past its cut (a request that ends there resumes the same way). A resume is
faithful only if its text re-tokenizes to exactly those ids, so that is checked at every
resume, and a tokenizer that does not round-trip is an ERROR naming the prompt, never an
approximate span. Greedy decoding makes the resumed generation the one the local decoder
would make, up to the server's numerics (SERVED-MATCHES-LOCAL bounds those).
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


def _force_at(tokens: Sequence[int], inside: bool, thinking: int, start: int, end: int,
              eos: int | None, budget: int | None) -> tuple[int | None, bool, int]:
    """The local decoder's force rule walked over tokens a server generated: the index whose
    token the end marker would have replaced (None if none), and the span state (inside,
    thinking so far) over the tokens before it."""
    for i, token in enumerate(tokens):
        if inside and budget is not None and thinking >= budget and token != end:
            return i, inside, thinking
        if token == eos:
            break
        if inside:
            inside = token != end
            thinking += int(inside)
        else:
            inside = token == start
    return None, inside, thinking


@dataclass(frozen=True)
class Reasoner:
    id: str
    model: Any  # a torch LiveModel, or a ServedModel (harness/models/served.py)
    prompts: Path
    think: tuple[str, str]
    max_new_tokens: int
    temperature: float
    seed: int
    force_budget: int | None
    reference: Any = None  # a served model's reference: the local model it serves

    @property
    def local_model(self) -> Any:
        """The local model whose tokenizer names the ids: ``model``, or its reference."""
        return self.model if self.reference is None else self.reference

    @property
    def served(self) -> bool:
        return getattr(self.model, "backend", None) == "openai-endpoint"

    def inputs(self) -> list[Path]:
        """What the evidence declares: the local folder, and the folder a demo server serves."""
        process = getattr(self.model, "process", None)
        return [self.local_model.path, *([process.model] if process is not None else [])]

    def describe(self) -> str:
        if self.served:
            name = self.local_model.path.name
            return f"{self.model.describe()} (ids read with {name}'s tokenizer)"
        return str(self.model.path.name)

    def _ids(self) -> tuple[int, int]:
        local = self.local_model
        ids = []
        for marker in self.think:
            encoded = local.tokenizer.encode(marker, add_special_tokens=False)
            if len(encoded) != 1:
                msg = (f"subject {self.id!r}: think marker {marker!r} is {len(encoded)} tokens "
                       f"of {local.path}'s tokenizer; name markers that are one token each")
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

        start, end = self._ids()
        eos = self.local_model.eos_id
        out = []
        for line, text in self.lines():
            prompt = list(self.local_model.encode(text))
            if self.served:
                generated, forced = self._generate_served(text, prompt, line, start, end, eos)
            else:
                rng = np.random.default_rng(self.seed + line)
                generated, forced = self._generate(prompt, rng, start, end, eos)
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

    def _generate(self, prompt: list[int], rng: np.random.Generator, start: int, end: int,
                  eos: int | None) -> tuple[list[int], bool]:
        import torch

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

    def _generate_served(self, text: str, prompt: list[int], line: int, start: int, end: int,
                         eos: int | None) -> tuple[list[int], bool]:
        """Greedy generation on the server, with force_budget applied through the API: inside
        a span, ask for no more than the budget's remaining tokens plus the one it may
        replace, so a runaway is not generated past the point where it is cut."""
        generated: list[int] = []
        inside, thinking, forced = start in prompt, 0, False
        while len(generated) < self.max_new_tokens:
            left = self.max_new_tokens - len(generated)
            ask = left if self.force_budget is None or not inside \
                else min(left, self.force_budget - thinking + 1)
            context = self._resume(prompt, generated, line) if generated else text
            got = self.model.complete(context, ask)
            self._check_count(got.prompt_tokens, len(prompt) + len(generated), line)
            tokens = list(got.tokens[:ask])
            cut, inside, thinking = _force_at(tokens, inside, thinking, start, end, eos,
                                              self.force_budget)
            if cut is not None:
                generated += [*tokens[:cut], end]
                inside, forced = False, True
                continue
            generated += tokens
            if len(tokens) < ask or eos in tokens or ask == left:  # the server stopped
                break
        return generated, forced

    def _resume(self, prompt: list[int], generated: list[int], line: int) -> str:
        """The text to resume from (after a forced end marker, or a request cut at the budget):
        the reference's decoding of the ids so far, which must re-tokenize to exactly those
        ids (else the server would resume from other tokens than the span counted)."""
        ids = [*prompt, *generated]
        text = str(self.local_model.decode(ids))
        if list(self.local_model.encode(text)) != ids:
            msg = (f"subject {self.id!r}, {self.prompts}:{line}: force_budget through a server "
                   f"resumes from text, but {self.local_model.path.name}'s tokenizer does not read "
                   f"its own decoding of the forced span back to the same ids; drop "
                   f"force_budget from this served reasoner, or bind the claim to a reasoner "
                   f"over the local model")
            raise WorkspaceError(msg)
        return text

    def _check_count(self, counted: int | None, want: int, line: int) -> None:
        if counted is not None and counted != want:
            msg = (f"subject {self.id!r}: {self.model.describe()} read {self.prompts}:{line} "
                   f"(with what was generated so far) as {counted} tokens, its reference "
                   f"{self.local_model.path.name} as {want}: the server does not use the "
                   f"reference's tokenizer; set reference on the endpoint subject to the model "
                   f"it serves (SERVED-MATCHES-LOCAL checks it)")
            raise WorkspaceError(msg)


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
    if workspace.spec(model_id).kind == "openai-endpoint":
        model, local = _served(where, model_id, temperature, workspace)
    else:
        model = local = workspace.resolve(model_id)
        if getattr(model, "backend", None) != "torch" or getattr(model, "module", None) is None:
            msg = (f"{where}: model = {model_id!r} must be a torch model subject (thinking "
                   f"spans are generated with the torch model's key/value cache) or an "
                   f"openai-endpoint subject")
            raise WorkspaceError(msg)
    budget = spec.options.get("force_budget")
    path = Path(prompts)
    return Reasoner(spec.id, model, path if path.is_absolute() else workspace.root / path,
                    (think[0], think[1]),
                    _whole(where, "max_new_tokens", spec.options.get("max_new_tokens"), 256, 1),
                    float(temperature), _whole(where, "seed", spec.options.get("seed"), 0, 0),
                    None if budget is None else _whole(where, "force_budget", budget, 0, 0),
                    None if local is model else local)


def _served(where: str, model_id: str, temperature: float,
            workspace: Workspace) -> tuple[Any, Any]:
    """The endpoint and its reference, checked before the server is asked anything."""
    if temperature != 0:
        msg = (f"{where}: temperature = {temperature:g} (the default is 1) with model = "
               f"{model_id!r}, an openai-endpoint: a server's seeded sampling does not "
               f"repeat, so a served reasoner decodes greedily only; set temperature = 0")
        raise WorkspaceError(msg)
    reference = workspace.spec(model_id).options.get("reference")
    if not isinstance(reference, str) or not reference:
        msg = (f"{where}: model = {model_id!r} is an openai-endpoint without reference; set "
               f"reference = \"<the local model subject it serves>\" on that subject: its "
               f"tokenizer names the think markers' ids and the prompts' tokens")
        raise WorkspaceError(msg)
    local = workspace.resolve(reference)
    if getattr(local, "tokenizer", None) is None or not hasattr(local, "path"):
        msg = (f"{where}: {model_id!r}'s reference {reference!r} must be a local model "
               f"subject (torch or MLX), whose tokenizer reads the server's ids")
        raise WorkspaceError(msg)
    return workspace.resolve(model_id), local
