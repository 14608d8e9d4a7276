"""The demo's fine-tunes: a deeper base LM fine-tuned on N'Ko text, for the brain-scan claims.

The scan claims (library claims/scan.yaml) compare a base model with a fine-tuned copy layer by
layer, so they need a base with enough layers to have "early" and "late" ones: the demo LM's
recipe with 6 decoder blocks (``SCAN_RECIPE``), trained here like the demo LM. Each fine-tune
continues from that base on N'Ko training lines the base never saw (``FT_LINES``), seeded:

- ``top``: only blocks 4-5 train (the adapted layers); embedding, tied head and final norm frozen;
- ``all``: every parameter trains (control: early layers are not frozen);
- ``embed-leak``: blocks 4-5 declared adapted, but the tied embedding was left trainable, the
  classic freezing bug (control: the change starts before the first adapted layer);
- ``forget``: every parameter, ten times the learning rate, longer (control: English forgotten).

Each fine-tuned folder holds ``finetune.json``: the declared adapted layers (what the run's
config says) and the parameter tensors that actually had ``requires_grad`` (what the code did).
The scan pair reads the declared layers; the claim checks them against what changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.demo import lm
from harness.demo.build import Builder, library_versions
from harness.demo.tokenizer import EOS
from harness.workspace import SubjectSpec

__all__ = ["FINETUNES", "FT_FILE", "SCAN_RECIPE", "FineTune", "base_dir", "finetune_dir",
           "mlx_copy"]

FT_VERSION = 1
FT_FILE = "finetune.json"
# The scan base: the demo LM's recipe, three times as deep, half the batch (same build time).
SCAN_RECIPE = replace(lm.RECIPE, num_layers=6, batch_size=16, steps=300)
# N'Ko training lines after the base's own (the base saw lines [0, nko_lines)).
FT_LINES = (SCAN_RECIPE.nko_lines, SCAN_RECIPE.nko_lines + 2000)


@dataclass(frozen=True)
class FineTune:
    """One fine-tune of the scan base on N'Ko text."""

    adapted_layers: tuple[int, ...] | None  # None: every block (and the embedding) trains
    steps: int = 60
    lr: float = 1e-3
    train_embedding: bool = False  # the faulty step of the embed-leak control
    # Share of training windows drawn from the base's own English lines (replay, the usual guard
    # against forgetting); the rest are the new N'Ko lines.
    replay: float = 0.25
    batch_size: int = 16
    seed: int = 1


FINETUNES: dict[str, FineTune] = {
    "top": FineTune(adapted_layers=(4, 5)),
    "all": FineTune(adapted_layers=None),
    "embed-leak": FineTune(adapted_layers=(4, 5), train_embedding=True),
    "forget": FineTune(adapted_layers=None, steps=120, lr=1e-2, replay=0.0),
}


def base_dir(builder: Builder) -> Path:
    """The 6-block scan base, trained like the demo LM (harness.demo.lm)."""
    return lm.torch_dir(builder, SCAN_RECIPE)


def _ft_windows(tokenizer_json: Path, replay: float) -> np.ndarray:
    """N'Ko windows of the fine-tune's own lines, plus English windows from the base's training
    lines so that they make up ``replay`` of the whole."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    eos, width = tok.token_to_id(EOS), SCAN_RECIPE.context + 1
    if eos is None:
        msg = f"{tokenizer_json}: no {EOS} token; rebuild the demo (falsify demo build --rebuild)"
        raise ValueError(msg)
    nko = lm._windows(lm._token_stream(tok, lm._lines("nqo_Nkoo")[FT_LINES[0]:FT_LINES[1]], eos),
                      width)
    n_eng = round(len(nko) * replay / (1.0 - replay))
    if n_eng == 0:
        return nko
    eng = lm._windows(lm._token_stream(tok, lm._lines("eng_Latn"), eos), width)
    return np.concatenate([nko, eng[:n_eng]])


def _trainable(model: Any, ft: FineTune) -> list[str]:
    """Set requires_grad as ``ft`` says; return the names of the tensors that will train."""
    blocks = model.model.layers
    adapted = range(len(blocks)) if ft.adapted_layers is None else ft.adapted_layers
    for p in model.parameters():
        p.requires_grad_(ft.adapted_layers is None)
    for i in adapted:
        for p in blocks[i].parameters():
            p.requires_grad_(True)
    if ft.train_embedding:
        model.model.embed_tokens.weight.requires_grad_(True)
    return sorted(n for n, p in model.named_parameters() if p.requires_grad)


def _fine_tune(source: Path, out: Path, ft: FineTune, progress: bool) -> dict[str, Any]:
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    windows = _ft_windows(source / "tokenizer.json", ft.replay)
    with lm._deterministic_torch(SCAN_RECIPE.threads, ft.seed):
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
        trainable = _trainable(model, ft)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=ft.lr, betas=(0.9, 0.95), weight_decay=0.0)
        rng = np.random.default_rng(ft.seed)
        data = torch.from_numpy(windows)
        curve: list[float] = []
        model.train()
        for _ in tqdm(range(ft.steps), desc="fine-tune", disable=not progress, leave=False):
            loss = lm._batch_loss(model, data[torch.from_numpy(
                rng.integers(0, len(data), ft.batch_size))])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            curve.append(round(loss.item(), 4))
        model.train(False)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)
    n_layers = model.config.num_hidden_layers
    declared = list(range(n_layers)) if ft.adapted_layers is None else list(ft.adapted_layers)
    record = {"base": source.name, "adapted_layers": declared, "trainable_tensors": trainable,
              "steps": ft.steps, "lr": ft.lr, "batch_size": ft.batch_size, "seed": ft.seed,
              "nko_lines": list(FT_LINES), "windows": len(windows), "replay": ft.replay,
              "train_loss_first": curve[0], "train_loss_last": curve[-1]}
    (out / FT_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
    return {k: v for k, v in record.items() if k != "trainable_tensors"} | {
        "trainable_tensor_count": len(trainable)}


def finetune_dir(builder: Builder, name: str) -> Path:
    """The scan base fine-tuned as ``FINETUNES[name]`` says (a transformers folder)."""
    source = base_dir(builder)
    ft = FINETUNES[name]
    inputs = {"version": FT_VERSION, "source": source.name, "finetune": asdict(ft),
              "lines": list(FT_LINES), "corpora": lm._corpus_digests(),
              "libraries": library_versions(*lm.TORCH_LIBS)}
    return builder.artifact(f"scan-ft-{name}", inputs,
                            lambda out: _fine_tune(source, out, ft, builder.progress))


def mlx_copy(builder: Builder, source: Path) -> Path:
    """``source`` converted by mlx_lm.convert (float32), with its finetune.json when it has one."""
    inputs = {"version": FT_VERSION, "source": source.name,
              "libraries": library_versions(*lm.MLX_LIBS)}

    def make(out: Path) -> dict[str, Any]:
        facts = lm._convert(source, out, False, SCAN_RECIPE)
        if (source / FT_FILE).is_file():
            (out / FT_FILE).write_bytes((source / FT_FILE).read_bytes())
        return facts

    return builder.artifact(f"{source.name.rsplit('-', 1)[0]}-mlx", inputs, make)


def _finetune_step(name: str) -> Callable[[Builder], Path]:
    return lambda b: finetune_dir(b, name)


ARTIFACTS: dict[str, Callable[[Builder], Path]] = {
    "scan-base": base_dir,
    **{f"scan-ft-{name}": _finetune_step(name) for name in FINETUNES},
    "scan-base-mlx": lambda b: mlx_copy(b, base_dir(b)),
    "scan-ft-top-mlx": lambda b: mlx_copy(b, finetune_dir(b, "top")),
}


# ----------------------------------------------------------------------------- demo subjects


def _model(workspace: Any, subject_id: str, artifact: str, backend: str) -> SubjectSpec:
    folder = ARTIFACTS[artifact](Builder.for_workspace(workspace))
    return SubjectSpec(subject_id, "model", {"path": str(folder), "backend": backend},
                       source="demo")


def demo_scan_base(workspace: Any) -> SubjectSpec:
    """The 6-block scan base (torch)."""
    return _model(workspace, "demo-scan-base", "scan-base", "torch")


def demo_scan_base_mlx(workspace: Any) -> SubjectSpec:
    """The scan base converted to MLX (float32)."""
    return _model(workspace, "demo-scan-base-mlx", "scan-base-mlx", "mlx")


def demo_scan_ft_top(workspace: Any) -> SubjectSpec:
    """The scan base with blocks 4-5 fine-tuned on N'Ko, everything else frozen."""
    return _model(workspace, "demo-scan-ft-top", "scan-ft-top", "torch")


def demo_scan_ft_top_mlx(workspace: Any) -> SubjectSpec:
    """The top fine-tune converted to MLX (float32)."""
    return _model(workspace, "demo-scan-ft-top-mlx", "scan-ft-top-mlx", "mlx")


def demo_scan_ft_all(workspace: Any) -> SubjectSpec:
    """Control: every parameter fine-tuned."""
    return _model(workspace, "demo-scan-ft-all", "scan-ft-all", "torch")


def demo_scan_ft_embed_leak(workspace: Any) -> SubjectSpec:
    """Control: blocks 4-5 declared adapted, the tied embedding left trainable."""
    return _model(workspace, "demo-scan-ft-embed-leak", "scan-ft-embed-leak", "torch")


def demo_scan_ft_forget(workspace: Any) -> SubjectSpec:
    """Control: every parameter at ten times the learning rate, twice as long."""
    return _model(workspace, "demo-scan-ft-forget", "scan-ft-forget", "torch")


def _pair(subject_id: str, base: str, tuned: str, **options: Any) -> SubjectSpec:
    return SubjectSpec(subject_id, "finetune-pair",
                       {"base": base, "tuned": tuned, "english": "demo-eng-dev",
                        "nko": "demo-nko-dev", **options}, source="demo")


def demo_scan_top(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-scan-top", "demo-scan-base", "demo-scan-ft-top")


def demo_scan_top_mlx(workspace: Any) -> SubjectSpec:
    """The top fine-tune on MLX. MLX's CPU kernels on Linux run this model about 7 times slower
    than torch (measured: 1.3 s against 0.2 s per batch of 32), so the MLX scan reads the first
    250 examples of each set (about 11,000 English tokens), not all 997."""
    del workspace
    return _pair("demo-scan-top-mlx", "demo-scan-base-mlx", "demo-scan-ft-top-mlx",
                 max_examples=250)


def demo_scan_all(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-scan-all", "demo-scan-base", "demo-scan-ft-all")


def demo_scan_embed_leak(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-scan-embed-leak", "demo-scan-base", "demo-scan-ft-embed-leak")


def demo_scan_forget(workspace: Any) -> SubjectSpec:
    del workspace
    return _pair("demo-scan-forget", "demo-scan-base", "demo-scan-ft-forget")


def demo_scan_base_twice(workspace: Any) -> SubjectSpec:
    """Control: the base scanned against itself, with the top fine-tune's adapted layers
    declared: no change can be found, so "the fine-tune changed the adapted layers" fails."""
    del workspace
    return _pair("demo-scan-base-twice", "demo-scan-base", "demo-scan-base",
                 adapted_layers=list(FINETUNES["top"].adapted_layers or ()))
