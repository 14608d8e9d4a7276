"""The demo's reasoning models: a tiny model that thinks before it answers, with and without the
overthinking fix, for REASONING-WITHIN-BUDGET.

The task is written here, word-level, with a vocabulary of 40: ``Q: 3 + 4 = ? <think> add 3 4
... so 7 </think> A: 7 </s>``. A thinking trace is a seeded sequence of reasoning words. The
``unfixed`` model trains on traces whose lengths are those of an overthinking model: 70 % short
(6-30 words) and 30 % long loops of "wait check again" (90-180 words). The ``fixed`` model, the
overthinking fix, trains on the same prompts with every trace cut to its first 30 words and
closed. Both are 2-block Qwen3 models trained 800 seeded steps on 2,000 sequences (about 60 s
and 20 s on two CPU cores) and saved by ``save_pretrained`` with their tokenizer.

``prompts.txt`` holds 48 held-out questions, each opening its thinking span (``... = ? <think>``)
as a chat template does.

The served reasoners put the same models behind the real ``mlx_lm.server`` (each converted by
mlx_lm.convert, float32, and served on loopback by its ``openai-endpoint`` subject), decoded
greedily, as a served reasoner must be. They generate at most 240 tokens: greedy decoding of the
unfixed model loops on "wait check again" for 221 tokens before it closes its span, and the
room to close and answer makes its control FAIL on the budget rather than go INCONCLUSIVE on a
missing answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.demo.build import Builder, library_versions
from harness.workspace import SubjectSpec

__all__ = ["REASONING_RECIPE", "demo_reasoner_fixed", "demo_reasoner_served_fixed",
           "demo_reasoner_served_unfixed", "demo_reasoner_unfixed", "demo_thinking_fixed",
           "demo_thinking_forced", "demo_thinking_served", "demo_thinking_served_forced",
           "demo_thinking_served_unfixed", "demo_thinking_unfixed"]

REASONING_VERSION = 1
THINK, END = "<think>", "</think>"
WORDS = ("add", "so", "carry", "check", "wait", "again", "ok", "hmm", "count", "then", "sum",
         "digit", "one", "more", "yes")
SPECIALS = ("<unk>", "</s>", "<pad>", THINK, END, "Q:", "A:", "+", "=", "?")
VOCAB = (*SPECIALS, *[str(d) for d in range(10)], *WORDS, "10", "11", "12", "13", "14", "15",
         "16", "17", "18")
PROMPTS = 48
SERVED_NEW_TOKENS = 240  # under the models' 256 positions with the 7-token prompt


@dataclass(frozen=True)
class ReasoningRecipe:
    sequences: int = 2000
    short: tuple[int, int] = (6, 30)
    long: tuple[int, int] = (90, 180)
    long_share: float = 0.3
    fixed_cap: int = 30
    hidden_size: int = 64
    num_layers: int = 2
    steps: int = 800
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    threads: int = 2


REASONING_RECIPE = ReasoningRecipe()


def _question(rng: np.random.Generator) -> tuple[list[str], int]:
    a, b = int(rng.integers(0, 10)), int(rng.integers(0, 10))
    return ["Q:", str(a), "+", str(b), "=", "?", THINK], a + b


def _trace(rng: np.random.Generator, recipe: ReasoningRecipe, a_plus_b: int) -> list[str]:
    if rng.random() < recipe.long_share:
        n = int(rng.integers(*recipe.long))
        loop = ["wait", "check", "again", "hmm", "count", "again"]
        words = [loop[i % len(loop)] if rng.random() < 0.8 else str(rng.choice(WORDS))
                 for i in range(n)]
    else:
        n = int(rng.integers(*recipe.short))
        words = [str(rng.choice(WORDS)) for _ in range(n)]
    return [*words[:-2], "so", str(a_plus_b)]


def _sequences(recipe: ReasoningRecipe, fixed: bool) -> list[list[str]]:
    rng = np.random.default_rng(recipe.seed)
    out = []
    for _ in range(recipe.sequences):
        prompt, answer = _question(rng)
        trace = _trace(rng, recipe, answer)
        if fixed and len(trace) > recipe.fixed_cap:
            trace = [*trace[:recipe.fixed_cap - 2], "so", str(answer)]
        out.append([*prompt, *trace, END, "A:", str(answer), "</s>"])
    return out


def _tokenizer(out: Path) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast: Any = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, unk_token="<unk>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(out)
    return fast


def _train(out: Path, recipe: ReasoningRecipe, fixed: bool, progress: bool) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F  # noqa: N812
    from tqdm import tqdm
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from harness.demo.lm import _deterministic_torch

    ids = {w: i for i, w in enumerate(VOCAB)}
    seqs = [[ids[w] for w in s] for s in _sequences(recipe, fixed)]
    width = max(len(s) for s in seqs)
    data = np.full((len(seqs), width), ids["<pad>"], dtype=np.int64)
    for row, s in zip(data, seqs, strict=True):
        row[:len(s)] = s
    with _deterministic_torch(recipe.threads, recipe.seed):
        model: Any = Qwen3ForCausalLM(Qwen3Config(
            vocab_size=len(VOCAB), hidden_size=recipe.hidden_size,
            num_hidden_layers=recipe.num_layers, num_attention_heads=2, num_key_value_heads=1,
            head_dim=recipe.hidden_size // 2, intermediate_size=2 * recipe.hidden_size,
            max_position_embeddings=256, tie_word_embeddings=True, bos_token_id=None,
            eos_token_id=ids["</s>"], pad_token_id=ids["<pad>"]))
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01)
        rng = np.random.default_rng(recipe.seed)
        tensor = torch.from_numpy(data)
        model.train()
        losses = []
        for _ in tqdm(range(recipe.steps), desc="train demo reasoner", disable=not progress,
                      leave=False):
            batch = tensor[torch.from_numpy(rng.integers(0, len(data), recipe.batch_size))]
            logits = model(input_ids=batch[:, :-1], use_cache=False).logits
            loss: Any = F.cross_entropy(logits.reshape(-1, len(VOCAB)),
                                        batch[:, 1:].reshape(-1), ignore_index=ids["<pad>"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(round(loss.item(), 4))
        model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    _tokenizer(out)
    lengths = [s.index(END) - s.index(THINK) - 1 for s in _sequences(recipe, fixed)]
    return {"final_loss": losses[-1], "trace_max": max(lengths),
            "trace_mean": round(float(np.mean(lengths)), 2)}


def reasoner_dir(builder: Builder, variant: str,
                 recipe: ReasoningRecipe = REASONING_RECIPE) -> Path:
    """The reasoning model trained on overthinking traces (``unfixed``) or capped ones."""
    inputs = {"version": REASONING_VERSION, "variant": variant, "recipe": asdict(recipe),
              "vocab": list(VOCAB), "libraries": library_versions("torch", "transformers",
                                                                   "tokenizers", "numpy")}
    return builder.artifact(f"reasoner-{variant}", inputs,
                            lambda out: _train(out, recipe, variant == "fixed", builder.progress))


def reasoner_mlx_dir(builder: Builder, variant: str,
                     recipe: ReasoningRecipe = REASONING_RECIPE) -> Path:
    """The reasoning model converted by mlx_lm.convert (float32), as mlx_lm.server loads it."""
    from harness.demo import lm

    source = reasoner_dir(builder, variant, recipe)
    inputs = {"version": REASONING_VERSION, "source": source.name,
              "libraries": library_versions(*lm.MLX_LIBS)}
    return builder.artifact(f"reasoner-{variant}-mlx", inputs,
                            lambda out: lm._convert(source, out, False, lm.RECIPE))


def prompts_dir(builder: Builder, recipe: ReasoningRecipe = REASONING_RECIPE) -> Path:
    """prompts.txt: held-out questions (another seed), each opening its thinking span."""
    inputs = {"version": REASONING_VERSION, "prompts": PROMPTS, "seed": recipe.seed + 1}

    def make(out: Path) -> dict[str, Any]:
        rng = np.random.default_rng(recipe.seed + 1)
        out.mkdir(parents=True, exist_ok=True)
        lines = [" ".join(_question(rng)[0]) for _ in range(PROMPTS)]
        (out / "prompts.txt").write_text("\n".join(lines) + "\n", "utf-8")
        return {"prompts": PROMPTS}

    return builder.artifact("reasoner-prompts", inputs, make)


ARTIFACTS: dict[str, Callable[[Builder], Path]] = {
    "reasoner-unfixed": lambda b: reasoner_dir(b, "unfixed"),
    "reasoner-fixed": lambda b: reasoner_dir(b, "fixed"),
    "reasoner-prompts": prompts_dir,
    "reasoner-unfixed-mlx": lambda b: reasoner_mlx_dir(b, "unfixed"),
    "reasoner-fixed-mlx": lambda b: reasoner_mlx_dir(b, "fixed"),
}


def _model(workspace: Any, subject_id: str, variant: str) -> SubjectSpec:
    folder = reasoner_dir(Builder.for_workspace(workspace), variant)
    return SubjectSpec(subject_id, "model", {"path": str(folder), "backend": "torch"},
                       source="demo")


def demo_reasoner_unfixed(workspace: Any) -> SubjectSpec:
    """The reasoning model trained on overthinking traces (a model subject)."""
    return _model(workspace, "demo-reasoner-unfixed", "unfixed")


def demo_reasoner_fixed(workspace: Any) -> SubjectSpec:
    """The reasoning model with the overthinking fix: trained on traces cut to 30 words."""
    return _model(workspace, "demo-reasoner-fixed", "fixed")


def _thinking(workspace: Any, subject_id: str, model: str, **options: Any) -> SubjectSpec:
    prompts = prompts_dir(Builder.for_workspace(workspace)) / "prompts.txt"
    options = {"model": model, "prompts": str(prompts), "think": [THINK, END],
               "max_new_tokens": 200, **options}
    return SubjectSpec(subject_id, "reasoner", options, source="demo")


def demo_thinking_fixed(workspace: Any) -> SubjectSpec:
    """The fixed model's thinking on the held-out prompts, sampled."""
    return _thinking(workspace, "demo-thinking-fixed", "demo-reasoner-fixed")


def demo_thinking_forced(workspace: Any) -> SubjectSpec:
    """The unfixed model decoded with a thinking budget: </think> forced after 48 tokens."""
    return _thinking(workspace, "demo-thinking-forced", "demo-reasoner-unfixed", force_budget=48)


def demo_thinking_unfixed(workspace: Any) -> SubjectSpec:
    """Control: the unfixed model decoded without a budget."""
    return _thinking(workspace, "demo-thinking-unfixed", "demo-reasoner-unfixed")


def _endpoint(workspace: Any, subject_id: str, variant: str) -> SubjectSpec:
    folder = reasoner_mlx_dir(Builder.for_workspace(workspace), variant)
    return SubjectSpec(subject_id, "openai-endpoint",
                       {"serve": str(folder), "reference": f"demo-reasoner-{variant}"},
                       source="demo")


def demo_reasoner_served_fixed(workspace: Any) -> SubjectSpec:
    """The fixed reasoning model behind the real mlx_lm.server on loopback."""
    return _endpoint(workspace, "demo-reasoner-served-fixed", "fixed")


def demo_reasoner_served_unfixed(workspace: Any) -> SubjectSpec:
    """The unfixed reasoning model behind the real mlx_lm.server on loopback."""
    return _endpoint(workspace, "demo-reasoner-served-unfixed", "unfixed")


def _served(workspace: Any, subject_id: str, model: str, **options: Any) -> SubjectSpec:
    return _thinking(workspace, subject_id, model, temperature=0,
                     max_new_tokens=SERVED_NEW_TOKENS, **options)


def demo_thinking_served(workspace: Any) -> SubjectSpec:
    """The fixed model's thinking, generated greedily by mlx_lm.server."""
    return _served(workspace, "demo-thinking-served", "demo-reasoner-served-fixed")


def demo_thinking_served_forced(workspace: Any) -> SubjectSpec:
    """The unfixed model served greedily with a thinking budget, forced through the API."""
    return _served(workspace, "demo-thinking-served-forced", "demo-reasoner-served-unfixed",
                   force_budget=48)


def demo_thinking_served_unfixed(workspace: Any) -> SubjectSpec:
    """Control: the unfixed model served greedily without a budget."""
    return _served(workspace, "demo-thinking-served-unfixed", "demo-reasoner-served-unfixed")
