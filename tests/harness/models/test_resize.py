"""Vocabulary growth: constituent-mean rows (torch and 4-bit MLX) and the uninitialised control."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.demo.lm import RECIPE, build_facts
from harness.models import open_model
from harness.models.resize import add_tokens_constituent_mean, frequent_nko_words

NKO_WORD = re.compile("^[\u07ca-\u07ea][\u07ca-\u07f5\u07fa\u07fd]*$")


def test_frequent_nko_words_are_nko_and_ranked() -> None:
    """Words come from the N'Ko corpus, most frequent first, deterministically."""
    words = frequent_nko_words(50)
    assert len(words) == len(set(words)) == 50
    assert all(NKO_WORD.match(w) for w in words)
    assert words == frequent_nko_words(50)


def test_frequent_nko_words_filtered_by_tokenizer(torch_model: Any) -> None:
    """With a tokenizer, only words it splits into two or more pieces remain."""
    words = frequent_nko_words(30, tokenize=torch_model.encode)
    assert all(len(torch_model.encode(w)) >= 2 for w in words)


def test_torch_resized_demo(demo_dirs: dict[str, Path], torch_model: Any) -> None:
    """Every new row equals the mean of its pieces' old rows; old rows and tying survive."""
    facts = build_facts(demo_dirs["lm-torch-resized"])
    assert facts["rows_initialised"] == RECIPE.new_nko_words
    assert facts["rows_fallback"] == 0
    assert facts["max_distance"] < 1e-6
    assert facts["old_rows_max_change"] == 0.0
    assert facts["head_follows"]
    resized = open_model(demo_dirs["lm-torch-resized"])
    assert resized.vocab_size == resized.tokenizer_vocab_size == RECIPE.vocab_size + 250
    assert resized.head_shares_storage()
    word = facts["new_tokens"][0]
    assert resized.encode(word) == [facts["new_ids"][0]]
    pieces = torch_model.encode(word)
    want = torch_model.input_embedding()[pieces].mean(axis=0)
    np.testing.assert_allclose(resized.input_embedding()[facts["new_ids"][0]], want, atol=1e-6)


def test_mlx_q4_resized_demo(demo_dirs: dict[str, Path]) -> None:
    """4-bit MLX: new rows within the quantization error of their constituent mean, old packed
    rows bit for bit the same, same bits and group size."""
    facts = build_facts(demo_dirs["lm-mlx-q4-resized"])
    assert facts["backend"] == "mlx"
    assert facts["rows_initialised"] == RECIPE.new_nko_words
    assert facts["quantization_bound"] is not None
    assert 0 < facts["max_abs_error"] <= facts["quantization_bound"] * (1 + 1e-4)
    assert facts["gap_to_own_quantization"] == 0.0
    assert facts["old_rows_max_change"] == 0.0
    resized = open_model(demo_dirs["lm-mlx-q4-resized"])
    assert resized.quantization is not None
    assert resized.quantization.bits == RECIPE.q_bits
    assert resized.quantization.group_size == RECIPE.q_group_size
    assert resized.vocab_size == RECIPE.vocab_size + 250
    ids = np.asarray([facts["new_ids"][:8]])
    assert np.isfinite(resized.logits(ids)).all()


def test_resize_uninit_control(demo_dirs: dict[str, Path]) -> None:
    """resize_token_embeddings(mean_resizing=False) draws the new rows from N(0, 0.02): finite,
    but nowhere near the tokens' pieces."""
    facts = build_facts(demo_dirs["lm-resize-uninit"])
    assert facts["finite"]
    assert facts["new_row_std"] == pytest.approx(facts["initializer_range"], rel=0.1)
    assert facts["max_distance_from_constituent_mean"] > 0.1
    control = open_model(demo_dirs["lm-resize-uninit"])
    assert control.vocab_size == RECIPE.vocab_size + 250
    assert control.head_shares_storage()


def test_resize_a_live_model_into_a_new_folder(torch_model: Any, tmp_path: Path) -> None:
    """The function takes a live model too; tokens already in the vocabulary are skipped, and a
    tied head follows."""
    single = next(w for w in frequent_nko_words(400) if len(torch_model.encode(w)) == 1)
    new = frequent_nko_words(3, tokenize=torch_model.encode)
    result = add_tokens_constituent_mean(torch_model, [*new, single], tmp_path / "out")
    assert result.skipped == (single,)
    assert result.new_tokens == tuple(new)
    assert result.new_ids == (2048, 2049, 2050)
    assert result.max_distance < 1e-6
    assert result.head_follows
    assert open_model(result.path).vocab_size == 2051


def test_nothing_to_add_is_an_error(torch_model: Any, tmp_path: Path) -> None:
    """Asking to add only tokens the vocabulary already has is refused."""
    with pytest.raises(ValueError, match="no new tokens"):
        add_tokens_constituent_mean(torch_model, ["the"], tmp_path / "out")
