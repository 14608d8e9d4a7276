"""The demo language models: a tiny Qwen3 trained here on real text, its MLX conversions, and
the negative controls and resized variants built from it through the frameworks' own code paths.

Every artifact is built once into the workspace cache (see ``harness.demo.build``) and each demo
subject function returns a ``SubjectSpec`` pointing at its folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.demo import CORPORA_DIR
from harness.demo.build import Builder, file_digest, library_versions, read_build
from harness.demo.tokenizer import EOS, PAD, UNK, tokenizer_key, train_tokenizer
from harness.workspace import SubjectSpec

__all__ = [
    "ARTIFACTS",
    "RECIPE",
    "LMRecipe",
    "demo_mlx",
    "demo_mlx_q4",
    "demo_mlx_q4_resized",
    "demo_resize_uninit",
    "demo_torch",
    "demo_torch_resized",
    "demo_untied_head",
    "mlx_dir",
    "torch_dir",
]

BUILDER_VERSION = 1
# Bumped when harness/models/resize.py changes what it writes: rebuilds the resized models only.
RESIZE_VERSION = 2
TORCH_LIBS = ("torch", "transformers", "tokenizers", "safetensors", "numpy")
MLX_LIBS = ("mlx", "mlx-lm", "transformers")


@dataclass(frozen=True)
class LMRecipe:
    """Everything the demo LM's weights depend on besides the corpora and library versions."""

    vocab_size: int = 2048
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 352
    context: int = 128
    batch_size: int = 32
    steps: int = 400
    lr: float = 3e-3
    warmup: int = 30
    weight_decay: float = 0.01
    nko_lines: int = 1500
    seed: int = 0
    threads: int = 2
    q_bits: int = 4
    q_group_size: int = 32  # divides hidden (128) and intermediate (352): every linear quantizes
    new_nko_words: int = 250


RECIPE = LMRecipe()
TRAIN_TEXT = ("eng_Latn", "nqo_Nkoo")
DEV_TEXT = ("eng_Latn.dev", "nqo_Nkoo.dev")


def _corpus_digests() -> dict[str, str]:
    return {name: file_digest(CORPORA_DIR / name) for name in (*TRAIN_TEXT, *DEV_TEXT)}


def _lines(name: str, limit: int | None = None) -> list[str]:
    lines = (CORPORA_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines[:limit] if line.strip()]


# ----------------------------------------------------------------------------- tokenizer


def tokenizer_dir(builder: Builder, recipe: LMRecipe = RECIPE) -> Path:
    """The trained BPE tokenizer (tokenizer.json)."""
    inputs = {"version": BUILDER_VERSION, "tokenizer": tokenizer_key(recipe.vocab_size)}

    def make(out: Path) -> dict[str, Any]:
        train_tokenizer(out, recipe.vocab_size)
        return {"vocab_size": recipe.vocab_size}

    return builder.artifact("tokenizer", inputs, make)


def _hf_tokenizer(tokenizer_json: Path) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_file=str(tokenizer_json), unk_token=UNK, eos_token=EOS, pad_token=PAD)


# ----------------------------------------------------------------------------- training


def _token_stream(tok: Any, lines: list[str], eos_id: int) -> np.ndarray:
    ids: list[int] = []
    for enc in tok.encode_batch(lines):
        ids.extend(enc.ids)
        ids.append(eos_id)
    return np.asarray(ids, dtype=np.int64)


def _windows(stream: np.ndarray, length: int) -> np.ndarray:
    n = len(stream) // length
    return stream[: n * length].reshape(n, length)


@dataclass(frozen=True)
class _Data:
    train: np.ndarray  # [N, context+1] windows of English + N'Ko training text
    dev: Mapping[str, np.ndarray]


def _data(tokenizer_json: Path, recipe: LMRecipe) -> _Data:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    eos = tok.token_to_id(EOS)
    if eos is None:
        msg = f"{tokenizer_json}: no {EOS} token; rebuild the demo (falsify demo build --rebuild)"
        raise ValueError(msg)
    eng = _token_stream(tok, _lines("eng_Latn"), eos)
    nko = _token_stream(tok, _lines("nqo_Nkoo", recipe.nko_lines), eos)
    width = recipe.context + 1
    dev = {name: _windows(_token_stream(tok, _lines(name), eos), width) for name in DEV_TEXT}
    return _Data(_windows(np.concatenate([eng, nko]), width), dev)


def _qwen3(recipe: LMRecipe, **overrides: Any) -> Any:
    """The demo's tiny tied Qwen3, untrained; ``overrides`` go to its config (faults use them)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=recipe.vocab_size, hidden_size=recipe.hidden_size,
        num_hidden_layers=recipe.num_layers, num_attention_heads=recipe.num_heads,
        num_key_value_heads=recipe.num_kv_heads, head_dim=recipe.hidden_size // recipe.num_heads,
        intermediate_size=recipe.intermediate_size, max_position_embeddings=4 * recipe.context,
        tie_word_embeddings=True, bos_token_id=None, eos_token_id=1, pad_token_id=2, **overrides,
    )
    return Qwen3ForCausalLM(config)


@contextlib.contextmanager
def _deterministic_torch(threads: int, seed: int) -> Any:
    import torch

    was_det, was_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_det)
            torch.set_num_threads(was_threads)


def _lr(recipe: LMRecipe, step: int) -> float:
    warm = min(1.0, (step + 1) / recipe.warmup)
    return recipe.lr * warm * 0.5 * (1.0 + math.cos(math.pi * step / recipe.steps))


def _batch_loss(model: Any, batch: Any) -> Any:
    import torch.nn.functional as F  # noqa: N812

    logits = model(input_ids=batch[:, :-1], use_cache=False).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


def _dev_loss(model: Any, windows: np.ndarray) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(windows), 64):
            batch = torch.from_numpy(windows[start:start + 64])
            total += float(_batch_loss(model, batch)) * batch[:, 1:].numel()
            count += batch[:, 1:].numel()
    model.train()
    return total / count


def _train(model: Any, data: _Data, recipe: LMRecipe, progress: bool) -> list[float]:
    import torch
    from tqdm import tqdm

    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, betas=(0.9, 0.95),
                            weight_decay=recipe.weight_decay)
    rng = np.random.default_rng(recipe.seed)
    train = torch.from_numpy(data.train)
    curve: list[float] = []
    model.train()
    for step in tqdm(range(recipe.steps), desc="train demo LM", disable=not progress, leave=False):
        for group in opt.param_groups:
            group["lr"] = _lr(recipe, step)
        rows = torch.from_numpy(rng.integers(0, len(train), recipe.batch_size))
        loss = _batch_loss(model, train[rows])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        curve.append(round(loss.item(), 4))
    model.eval()
    return curve


def _safetensors_keys(folder: Path) -> list[str]:
    from harness.models.folder import read_safetensors_header

    return sorted(read_safetensors_header(folder / "model.safetensors").tensors)


def _make_torch(out: Path, tokenizer_json: Path, recipe: LMRecipe,
                progress: bool) -> dict[str, Any]:
    start, cpu_start = time.perf_counter(), time.process_time()
    data = _data(tokenizer_json, recipe)
    with _deterministic_torch(recipe.threads, recipe.seed):
        model = _qwen3(recipe)
        curve = _train(model, data, recipe, progress)
        train_seconds = time.perf_counter() - start
        train_cpu_seconds = time.process_time() - cpu_start
        dev = {name: round(_dev_loss(model, w), 4) for name, w in data.dev.items()}
    model.save_pretrained(out)
    _hf_tokenizer(tokenizer_json).save_pretrained(out)
    keys = _safetensors_keys(out)
    return {"seed": recipe.seed, "train_seconds": round(train_seconds, 2),
            "train_cpu_seconds": round(train_cpu_seconds, 2), "threads": recipe.threads,
            "train_windows": len(data.train), "train_loss_first": curve[0],
            "train_loss_last": curve[-1], "train_loss_every_50": curve[::50],
            "dev_loss_nats": dev,
            "dev_tokens": {k: int(v[:, 1:].size) for k, v in data.dev.items()},
            "ln_vocab_nats": round(math.log(recipe.vocab_size), 4),
            "lm_head_in_file": "lm_head.weight" in keys, "tensors_in_file": len(keys)}


def torch_dir(builder: Builder, recipe: LMRecipe = RECIPE) -> Path:
    """The trained tiny Qwen3, saved by save_pretrained (safetensors; tied head not in it)."""
    tok_dir = tokenizer_dir(builder, recipe)
    inputs = {"version": BUILDER_VERSION, "recipe": asdict(recipe), "tokenizer": tok_dir.name,
              "corpora": _corpus_digests(), "libraries": library_versions(*TORCH_LIBS)}

    def make(out: Path) -> dict[str, Any]:
        return _make_torch(out, tok_dir / "tokenizer.json", recipe, builder.progress)

    return builder.artifact("lm-torch", inputs, make)


# ----------------------------------------------------------------------------- MLX conversion


def _convert(source: Path, out: Path, quantize: bool, recipe: LMRecipe) -> dict[str, Any]:
    from mlx_lm.convert import convert

    chatter = io.StringIO()
    with contextlib.redirect_stdout(chatter):
        convert(str(source), str(out), quantize=quantize, q_group_size=recipe.q_group_size,
                q_bits=recipe.q_bits, dtype="float32")
    config = json.loads((out / "config.json").read_text())
    return {"source": source.name, "quantization": config.get("quantization"),
            "convert_log": chatter.getvalue().strip().splitlines(),
            "tensors_in_file": len(_safetensors_keys(out))}


def mlx_dir(builder: Builder, quantize: bool, recipe: LMRecipe = RECIPE) -> Path:
    """The demo LM converted by mlx_lm.convert: fp32, or affine-quantized (bits, group size)."""
    source = torch_dir(builder, recipe)
    quant = {"bits": recipe.q_bits, "group_size": recipe.q_group_size} if quantize else None
    inputs = {"version": BUILDER_VERSION, "source": source.name, "quantization": quant,
              "libraries": library_versions(*MLX_LIBS)}
    name = f"lm-mlx-q{recipe.q_bits}" if quantize else "lm-mlx"
    return builder.artifact(name, inputs, lambda out: _convert(source, out, quantize, recipe))


# ----------------------------------------------------------------------------- controls, resizes


def nko_new_words(builder: Builder, recipe: LMRecipe = RECIPE) -> list[str]:
    """The most frequent N'Ko training words that the demo tokenizer splits into several tokens,
    each with the space that precedes it inside a sentence.

    A byte-level BPE folds that space into the word's first piece ("Ġword"); an added token of the
    bare word would leave a lone "Ġ" before it and save almost nothing (measured: compression
    1.018 on the N'Ko dev set). The space-prefixed token replaces the whole "Ġword" split.
    """
    from tokenizers import Tokenizer

    from harness.models.resize import frequent_nko_words

    tok = Tokenizer.from_file(str(tokenizer_dir(builder, recipe) / "tokenizer.json"))
    words = frequent_nko_words(recipe.new_nko_words, tokenize=lambda w: tok.encode(" " + w).ids)
    return [" " + w for w in words]


def resize_uninit_dir(builder: Builder, recipe: LMRecipe = RECIPE) -> Path:
    """Control: tokens added, embedding grown by resize_token_embeddings(mean_resizing=False)."""
    source = torch_dir(builder, recipe)
    words = nko_new_words(builder, recipe)
    inputs = {"version": BUILDER_VERSION, "resize": RESIZE_VERSION, "source": source.name,
              "words": words,
              "libraries": library_versions(*TORCH_LIBS)}

    def make(out: Path) -> dict[str, Any]:
        from harness.models.resize import resize_uninitialised

        return resize_uninitialised(source, words, out, seed=recipe.seed)

    return builder.artifact("lm-resize-uninit", inputs, make)


def resized_dir(builder: Builder, source: Path, recipe: LMRecipe = RECIPE) -> Path:
    """``source`` with the new N'Ko words added, rows initialised to their constituent mean."""
    words = nko_new_words(builder, recipe)
    inputs = {"version": BUILDER_VERSION, "resize": RESIZE_VERSION, "source": source.name,
              "words": words,
              "libraries": library_versions(*TORCH_LIBS, *MLX_LIBS)}

    def make(out: Path) -> dict[str, Any]:
        from harness.models.resize import add_tokens_constituent_mean

        facts = add_tokens_constituent_mean(source, words, out).facts()
        facts.update(source=source.name, path=None)  # measured in a folder renamed afterwards
        return facts

    return builder.artifact(f"{source.name.rsplit('-', 1)[0]}-resized", inputs, make)


ARTIFACTS: dict[str, Callable[[Builder], Path]] = {
    "tokenizer": tokenizer_dir,
    "lm-torch": torch_dir,
    "lm-mlx": lambda b: mlx_dir(b, quantize=False),
    "lm-mlx-q4": lambda b: mlx_dir(b, quantize=True),
    "lm-resize-uninit": resize_uninit_dir,
    "lm-torch-resized": lambda b: resized_dir(b, torch_dir(b)),
    "lm-mlx-q4-resized": lambda b: resized_dir(b, mlx_dir(b, quantize=True)),
}


def build_facts(folder: Path) -> dict[str, Any]:
    """What was measured while building the artifact in ``folder`` (its build.json facts)."""
    facts: dict[str, Any] = read_build(folder)["facts"]
    return facts


# ----------------------------------------------------------------------------- demo subjects


def _spec(workspace: Any, subject_id: str, artifact: str, backend: str,
          **options: Any) -> SubjectSpec:
    folder = ARTIFACTS[artifact](Builder.for_workspace(workspace))
    return SubjectSpec(subject_id, "model", {"path": str(folder), "backend": backend, **options},
                       source="demo")


def demo_torch(workspace: Any) -> SubjectSpec:
    """The trained demo LM as transformers saved it (float32, tied head)."""
    return _spec(workspace, "demo-torch", "lm-torch", "torch")


def demo_mlx(workspace: Any) -> SubjectSpec:
    """The demo LM converted by mlx_lm.convert, float32."""
    return _spec(workspace, "demo-mlx", "lm-mlx", "mlx")


def demo_mlx_q4(workspace: Any) -> SubjectSpec:
    """The demo LM converted by mlx_lm.convert with 4-bit affine quantization (group 32),
    embedding included: the tied head projects through the quantized embedding."""
    return _spec(workspace, "demo-mlx-q4", "lm-mlx-q4", "mlx")


def demo_untied_head(workspace: Any) -> SubjectSpec:
    """Control: the demo checkpoint loaded with tie_word_embeddings=False. The file holds no
    lm_head.weight (it was tied), so transformers 5 reports it MISSING and leaves it at its
    random initialisation, N(0, 0.02), drawn from a fixed seed by the loader."""
    return _spec(workspace, "demo-untied-head", "lm-torch", "torch", untie=True)


def demo_resize_uninit(workspace: Any) -> SubjectSpec:
    """Control: 250 N'Ko words added to the tokenizer and the embedding grown by
    resize_token_embeddings(mean_resizing=False): transformers 5 draws the new rows from
    N(0, initializer_range=0.02) (finite, but unrelated to the trained rows and the tokens'
    pieces); the tied head follows. Saved and reloaded like any checkpoint."""
    return _spec(workspace, "demo-resize-uninit", "lm-resize-uninit", "torch")


def demo_torch_resized(workspace: Any) -> SubjectSpec:
    """The same 250 words added with each new row at the mean of its pieces' rows."""
    return _spec(workspace, "demo-torch-resized", "lm-torch-resized", "torch")


def demo_mlx_q4_resized(workspace: Any) -> SubjectSpec:
    """The 4-bit MLX model with the same words added: rows dequantized, set to the constituent
    mean and quantized with the same bits and group size."""
    return _spec(workspace, "demo-mlx-q4-resized", "lm-mlx-q4-resized", "mlx")
