"""Fixtures for the live-model tests: the demo models (built once into the workspace cache) and a
small untrained real model to damage in the bad-input tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.demo.build import build_demo
from harness.workspace import Workspace

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def demo_dirs() -> dict[str, Path]:
    """Every demo artifact folder, built on first use and reused from the cache afterwards."""
    return build_demo(Workspace.discover(HERE), progress=False)


@pytest.fixture(scope="session")
def torch_model(demo_dirs: dict[str, Path]) -> Any:
    from harness.models import open_model

    return open_model(demo_dirs["lm-torch"])


@pytest.fixture(scope="session")
def english_ids(torch_model: Any) -> np.ndarray:
    """Four 64-token windows of held-out English, encoded by the demo tokenizer."""
    from harness.demo import CORPORA_DIR

    text = (CORPORA_DIR / "eng_Latn.dev").read_text(encoding="utf-8")
    ids = torch_model.encode(text[:20000])
    return np.asarray(ids[: 4 * 64], dtype=np.int64).reshape(4, 64)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, untrained (seeded) tiny Qwen3 saved by save_pretrained with the demo tokenizer."""
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    from harness.demo.tokenizer import EOS, PAD, UNK, train_tokenizer

    root = tmp_path_factory.mktemp("tiny")
    tokenizer_json = train_tokenizer(root / "tok")
    config = Qwen3Config(vocab_size=2048, hidden_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                         intermediate_size=128, tie_word_embeddings=True, eos_token_id=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen3ForCausalLM(config)
    out = root / "model"
    model.save_pretrained(out)
    PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json), unk_token=UNK, eos_token=EOS,
                            pad_token=PAD).save_pretrained(out)
    return out


@pytest.fixture
def tiny_copy(tiny_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model, free to damage."""
    return Path(shutil.copytree(tiny_dir, tmp_path / "model"))
