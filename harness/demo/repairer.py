"""The demo's repair model, served: a tiny character-level Qwen3 that respells a misrecognised
N'Ko word, behind the real ``mlx_lm.server``, for the repair gate whose proposals come from a
model (``harness.runs.gate_server``, policies ``model-*``).

Prompt ``<word>=``, completion ``<its spelling></s>``, one token per character. It is trained
here (seeded, 2 threads, 600 steps, about 90 s on two CPU cores) on words of the N'Ko TRAINING
lines of snapshot s0, drawn with their corpus frequency, each given one ASR-style edit: a
substitution by a character drawn with its corpus frequency (60 %), a deletion (20 %) or an
insertion (20 %). The test lines are never seen. Then mlx_lm.convert (float32) makes the folder
``demo-repairer-served`` serves.

It is a weak speller, as a small model is: of the words the gate asks it about, it often answers
a real word one edit away that is not the word spoken. So a gate that takes any lexicon word one
edit away accepts repairs that make lines worse (``demo-gate-model-near``, a control), a gate that
takes every answer makes most lines worse (``demo-gate-model-all``), and only the gate that keeps
an answer when it is the word's one lexicon neighbour passes (``demo-gate-model``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.demo.build import Builder, library_versions
from harness.workspace import SubjectSpec

__all__ = ["REPAIR_RECIPE", "SPECIALS", "RepairRecipe", "demo_repairer_served", "repairer_dir",
           "repairer_mlx_dir", "training_pairs"]

REPAIRER_VERSION = 1
SPECIALS = ("<unk>", "</s>", "<pad>", "=")
MAX_WORD = 24  # characters; longer words are cut (a handful in the corpus)


@dataclass(frozen=True)
class RepairRecipe:
    snapshot: int = 0
    hidden_size: int = 64
    num_layers: int = 2
    steps: int = 600
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0
    threads: int = 2


REPAIR_RECIPE = RepairRecipe()


def _vocab() -> tuple[str, ...]:
    from harness.demo.bundles import _alphabet

    return (*SPECIALS, *_alphabet("nqo"))


@cache
def _words(snapshot: int) -> tuple[tuple[str, ...], np.ndarray]:
    """The training lines' words and their corpus frequencies (summing to 1)."""
    from harness.demo.bundles import _lines, _split

    lines = _lines("nqo")
    counts = Counter(w for i in _split(snapshot)[1] for w in lines[i].split())
    words = tuple(sorted(counts))
    p = np.asarray([counts[w] for w in words], dtype=np.float64)
    return words, p / p.sum()


def training_pairs(recipe: RepairRecipe, n: int,
                   rng: np.random.Generator) -> list[tuple[str, str]]:
    """``n`` (misspelt, word) pairs: words of the training lines by corpus frequency, one edit."""
    from harness.demo.bundles import _char_pool

    words, p = _words(recipe.snapshot)
    pool = _char_pool("nqo")
    out = []
    for j in rng.choice(len(words), size=n, p=p).tolist():
        word = words[j][:MAX_WORD]
        kind, i = rng.random(), int(rng.integers(len(word)))
        c = pool[int(rng.integers(len(pool)))]
        if kind < 0.6:
            bad = word[:i] + c + word[i + 1:]
        elif kind < 0.8 and len(word) > 1:
            bad = word[:i] + word[i + 1:]
        else:
            bad = word[:i] + c + word[i:]
        out.append((bad[:MAX_WORD], word))
    return out


def _tokenizer(out: Path, vocab: tuple[str, ...]) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(vocab={c: i for i, c in enumerate(vocab)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast: Any = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, unk_token="<unk>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(out)


def _train(out: Path, recipe: RepairRecipe, progress: bool) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F  # noqa: N812
    from tqdm import tqdm
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from harness.demo.lm import _deterministic_torch

    vocab = _vocab()
    ids = {c: i for i, c in enumerate(vocab)}
    unk, eos, pad, sep = (ids[s] for s in SPECIALS)
    rng = np.random.default_rng(recipe.seed)
    with _deterministic_torch(recipe.threads, recipe.seed):
        model: Any = Qwen3ForCausalLM(Qwen3Config(
            vocab_size=len(vocab), hidden_size=recipe.hidden_size,
            num_hidden_layers=recipe.num_layers, num_attention_heads=4, num_key_value_heads=2,
            head_dim=recipe.hidden_size // 4, intermediate_size=2 * recipe.hidden_size,
            max_position_embeddings=2 * MAX_WORD + 8, tie_word_embeddings=True,
            bos_token_id=None, eos_token_id=eos, pad_token_id=pad))
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.lr, total_steps=recipe.steps)
        model.train()
        losses = []
        for _ in tqdm(range(recipe.steps), desc="train demo repairer", disable=not progress,
                      leave=False):
            seqs = [[ids.get(c, unk) for c in bad] + [sep] + [ids.get(c, unk) for c in word]
                    + [eos] for bad, word in training_pairs(recipe, recipe.batch_size, rng)]
            batch = np.full((len(seqs), max(map(len, seqs))), pad, dtype=np.int64)
            for row, s in zip(batch, seqs, strict=True):
                row[:len(s)] = s
            tensor = torch.from_numpy(batch)
            logits = model(input_ids=tensor[:, :-1], use_cache=False).logits
            loss: Any = F.cross_entropy(logits.reshape(-1, len(vocab)),
                                        tensor[:, 1:].reshape(-1), ignore_index=pad)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(round(loss.item(), 4))
        model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    _tokenizer(out, vocab)
    return {"final_loss": losses[-1], "vocab": len(vocab),
            "pairs_seen": recipe.steps * recipe.batch_size}


def repairer_dir(builder: Builder, recipe: RepairRecipe = REPAIR_RECIPE) -> Path:
    """The repair model, trained here and saved by save_pretrained with its tokenizer."""
    from harness.demo.bundles import dataset_sha256

    inputs = {"version": REPAIRER_VERSION, "recipe": asdict(recipe), "corpus": dataset_sha256(),
              "libraries": library_versions("torch", "transformers", "tokenizers", "numpy")}
    return builder.artifact("repairer", inputs, lambda out: _train(out, recipe, builder.progress))


def repairer_mlx_dir(builder: Builder, recipe: RepairRecipe = REPAIR_RECIPE) -> Path:
    """The repair model converted by mlx_lm.convert (float32), as mlx_lm.server loads it."""
    from harness.demo import lm

    source = repairer_dir(builder, recipe)
    inputs = {"version": REPAIRER_VERSION, "source": source.name,
              "libraries": library_versions(*lm.MLX_LIBS)}
    return builder.artifact("repairer-mlx", inputs,
                            lambda out: lm._convert(source, out, False, lm.RECIPE))


ARTIFACTS: dict[str, Callable[[Builder], Path]] = {
    "repairer": repairer_dir,
    "repairer-mlx": repairer_mlx_dir,
}


def demo_repairer_served(workspace: Any) -> SubjectSpec:
    """The repair model behind the real mlx_lm.server on loopback."""
    folder = repairer_mlx_dir(Builder.for_workspace(workspace))
    return SubjectSpec("demo-repairer-served", "openai-endpoint", {"serve": str(folder)},
                       source="demo")
