"""The torch backend on the trained demo model: protocol, numerics, tying, generation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.demo.lm import RECIPE, build_facts
from harness.models import LiveModel, open_model
from harness.models.folder import read_safetensors_header


def test_demo_build_is_recorded(demo_dirs: dict[str, Path]) -> None:
    """build.json records the training and a held-out English loss clearly below ln|V|."""
    facts = build_facts(demo_dirs["lm-torch"])
    assert facts["seed"] == RECIPE.seed
    assert facts["ln_vocab_nats"] == pytest.approx(math.log(RECIPE.vocab_size), abs=1e-4)
    assert facts["dev_loss_nats"]["eng_Latn.dev"] < facts["ln_vocab_nats"] - 1.5


def test_tied_head_is_not_in_the_file(demo_dirs: dict[str, Path]) -> None:
    """save_pretrained leaves the tied lm_head out of model.safetensors, as real Qwen files do."""
    header = read_safetensors_header(demo_dirs["lm-torch"] / "model.safetensors")
    assert "model.embed_tokens.weight" in header.tensors
    assert "lm_head.weight" not in header.tensors
    assert header.metadata.get("format") == "pt"


def test_protocol_fields(torch_model: Any) -> None:
    """The demo model fills the protocol from its own files."""
    assert isinstance(torch_model, LiveModel)
    assert (torch_model.backend, torch_model.dtype) == ("torch", "float32")
    assert torch_model.vocab_size == torch_model.tokenizer_vocab_size == RECIPE.vocab_size
    assert (torch_model.eos_id, torch_model.bos_id) == (1, None)
    assert torch_model.quantization is None
    assert torch_model.tied_in_config is True
    names = {p.name for p in torch_model.files()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names


def test_encode_decode_round_trip(torch_model: Any) -> None:
    """Byte-level BPE round-trips English and N'Ko text and adds no special tokens."""
    for text in ("The film opened in 1912.", "ߒ߬ ߓߊ߯ ߞߊ߬ ߛߓߍߘߋ߲ ߠߎ߬"):
        ids = torch_model.encode(text)
        assert torch_model.eos_id not in ids
        assert torch_model.decode(ids) == text


def test_token_nll_matches_log_softmax_of_logits(torch_model: Any,
                                                 english_ids: np.ndarray) -> None:
    """token_nll is -log softmax(logits)[next token], per position, in float64."""
    logits = torch_model.logits(english_ids).astype(np.float64)
    assert logits.shape == (*english_ids.shape, RECIPE.vocab_size)
    logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    want = logz[:, :-1] - np.take_along_axis(logits[:, :-1], english_ids[:, 1:, None], -1)[..., 0]
    got = torch_model.token_nll(english_ids)
    assert got.dtype == np.float64
    assert got.shape == (4, 63)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_token_nll_mask_zeroes_padding(torch_model: Any, english_ids: np.ndarray) -> None:
    """Masked (right-padded) positions score 0 and leave the real ones unchanged."""
    mask = np.ones_like(english_ids)
    mask[1, 40:] = 0
    full, masked = torch_model.token_nll(english_ids), torch_model.token_nll(english_ids, mask)
    assert np.all(masked[1, 39:] == 0)
    np.testing.assert_array_equal(masked[1, :39], full[1, :39])
    with pytest.raises(ValueError, match="right-padded"):
        torch_model.token_nll(english_ids, 1 - mask)


def test_out_of_range_ids_are_refused(torch_model: Any) -> None:
    """An id past the embedding is a clear error, not an index crash."""
    with pytest.raises(ValueError, match=r"must lie in \[0, 2048\)"):
        torch_model.logits(np.array([[5, 2048]]))


def test_hidden_states_are_embeddings_then_blocks(torch_model: Any,
                                                  english_ids: np.ndarray) -> None:
    """One array for the embeddings output and one per block; the head over the final norm of
    the last one gives the logits."""
    import torch

    states = torch_model.hidden_states(english_ids)
    assert len(states) == RECIPE.num_layers + 1
    assert all(s.shape == (4, 64, RECIPE.hidden_size) and s.dtype == np.float32 for s in states)
    np.testing.assert_allclose(states[0], torch_model.input_embedding()[english_ids], atol=1e-6)
    with torch.inference_mode():
        normed = torch_model.module.model.norm(torch.from_numpy(states[-1])).numpy()
    logits = normed @ torch_model.output_projection().T
    np.testing.assert_allclose(logits, torch_model.logits(english_ids), atol=1e-4)


def test_tied_head_shares_storage(torch_model: Any) -> None:
    """The demo's lm_head is the embedding's Parameter after a real load."""
    assert torch_model.head_shares_storage()
    assert torch_model.missing_keys == ()
    np.testing.assert_array_equal(torch_model.output_projection(), torch_model.input_embedding())


def test_untied_load_leaves_head_random(demo_dirs: dict[str, Path], torch_model: Any) -> None:
    """Loaded with tie_word_embeddings=False, transformers reports lm_head missing and leaves it
    at its random initialisation: a separate tensor far from the embedding."""
    untied = open_model(demo_dirs["lm-torch"], untie=True)
    assert untied.tied_in_config is True
    assert not untied.head_shares_storage()
    assert untied.missing_keys == ("lm_head.weight",)
    emb, head = untied.input_embedding(), untied.output_projection()
    np.testing.assert_array_equal(emb, torch_model.input_embedding())
    assert np.abs(head - emb).max() > 0.1


def test_untied_load_is_reproducible(demo_dirs: dict[str, Path]) -> None:
    """The missing head is initialised from a fixed seed: two loads agree bit for bit."""
    a = open_model(demo_dirs["lm-torch"], untie=True).output_projection()
    b = open_model(demo_dirs["lm-torch"], untie=True).output_projection()
    np.testing.assert_array_equal(a, b)


def test_greedy_with_and_without_cache_agree(torch_model: Any) -> None:
    """Greedy decoding through the KV cache gives the tokens full recomputation gives."""
    prompt = torch_model.encode("The first several generations of")
    cached = torch_model.generate_greedy(prompt, 24, use_cache=True)
    full = torch_model.generate_greedy(prompt, 24, use_cache=False)
    assert len(cached) == 24
    assert cached == full
