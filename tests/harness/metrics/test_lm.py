"""Tests of harness.metrics.lm: eval sets, sliding windows, token-weighted NLL on real models."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.demo import CORPORA_DIR
from harness.metrics.lm import (
    EvalSetError,
    NonFiniteNllError,
    added_vocabulary,
    duplicate_count,
    finite_fraction,
    max_abs_difference,
    new_row_distances,
    normalise_text,
    quantization_step,
    read_evalset,
    relative_difference,
    save_and_reload,
    sliding_windows,
    token_nll_stats,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


# --------------------------------------------------------------------------------------------
# Eval sets


def test_normalise_text_nfc_and_whitespace() -> None:
    """NFC composes, whitespace runs collapse, ends are stripped."""
    assert normalise_text("  Cafe\u0301 \t au\u00a0 lait \n") == "Café au lait"


def test_read_evalset_dedups_by_normalised_text(tmp_path: Path) -> None:
    """Duplicates after normalisation are removed (first kept); blank lines are not examples."""
    path = tmp_path / "set.txt"
    path.write_text("one  two\n\nthree\none two\n  \nCafe\u0301\nCafé\n", encoding="utf-8")
    evalset = read_evalset(path)
    assert evalset.texts == ("one two", "three", "Café")
    assert (evalset.n_raw, evalset.n_dedup, evalset.n_duplicates) == (5, 3, 2)
    assert evalset.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert duplicate_count(evalset.texts) == 0


def test_shipped_english_dev_set() -> None:
    """The shipped FLORES English dev set has 997 examples and its documented hash."""
    evalset = read_evalset(CORPORA_DIR / "eng_Latn.dev")
    assert evalset.n_raw == 997
    assert evalset.n_dedup + evalset.n_duplicates == 997
    assert evalset.sha256 == "51a25f527fd81f428b6933d85a2f5e5544af92aa82042c7fbf0c4120327fba0a"


def test_empty_evalset_names_the_file(tmp_path: Path) -> None:
    """An eval set with no examples is an error that names the file and the fix."""
    path = tmp_path / "empty.txt"
    path.write_text("\n   \n\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match=r"empty\.txt: the eval set is empty.*one example per"):
        read_evalset(path)


def test_non_utf8_evalset_names_the_line(tmp_path: Path) -> None:
    """A byte that is not UTF-8 is reported with its file and line."""
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"fine\nalso fine\ncaf\xe9\n")
    with pytest.raises(EvalSetError, match=r"latin1\.txt:3: not UTF-8"):
        read_evalset(path)


def test_missing_evalset_names_the_file(tmp_path: Path) -> None:
    """A missing file is an EvalSetError naming it."""
    with pytest.raises(EvalSetError, match=r"nope\.txt"):
        read_evalset(tmp_path / "nope.txt")


def _workspace(tmp_path: Path, subjects: dict[str, Any]) -> Any:
    from harness.workspace import Workspace

    (tmp_path / "contracts").mkdir()
    return Workspace(tmp_path, {"subjects": subjects}, tmp_path / "falsify.toml")


def test_lm_eval_pairs_resolve_through_the_workspace(tmp_path: Path) -> None:
    """An lm-eval subject names an eval set subject (and a model) that resolve in the workspace."""
    (tmp_path / "set.txt").write_text("a b\nc\na  b\n", encoding="utf-8")
    ws = _workspace(tmp_path, {
        "my-set": {"kind": "evalset", "path": "set.txt"},
        "pair": {"kind": "lm-eval", "model": "my-model", "evalset": "my-set"},
    })
    pair = ws.resolve("pair")
    assert (pair.model_id, pair.evalset_id, pair.reference_id) == ("my-model", "my-set", None)
    assert pair.evalset.texts == ("a b", "c")
    assert pair.evalset.name == "my-set"
    assert pair.reference is None


def test_lm_eval_without_evalset_names_the_config(tmp_path: Path) -> None:
    """A pair missing its eval set is refused, naming the config section and the fix."""
    ws = _workspace(tmp_path, {"pair": {"kind": "lm-eval", "model": "m"}})
    with pytest.raises(EvalSetError, match=r"subjects\.pair\].*evalset = "):
        ws.resolve("pair")


def test_lm_eval_with_a_non_evalset_is_refused(tmp_path: Path) -> None:
    """Naming a subject of another kind as the eval set is an error that says so."""
    (tmp_path / "set.txt").write_text("a\n", encoding="utf-8")
    ws = _workspace(tmp_path, {
        "other": {"kind": "lm-eval", "model": "m", "evalset": "x"},
        "pair": {"kind": "lm-eval", "model": "m", "evalset": "other"},
    })
    with pytest.raises(EvalSetError, match="not an eval set"):
        _ = ws.resolve("pair").evalset


def test_demo_eval_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's dev set is the shipped file; demo-eng-4 is its first four lines."""
    from harness.workspace import Workspace

    monkeypatch.setenv("FALSIFY_CACHE", str(tmp_path))
    ws = Workspace.discover(Path(__file__))
    dev, four = ws.resolve("demo-eng-dev"), ws.resolve("demo-eng-4")
    assert dev.n_dedup == 997
    assert four.texts == dev.texts[:4]
    assert ws.resolve("demo-torch-eng-4").evalset == four


# --------------------------------------------------------------------------------------------
# Sliding windows


@given(length=st.integers(1, 300), max_len=st.integers(2, 64), data=st.data())
def test_windows_score_every_position_once(length: int, max_len: int, data: Any) -> None:
    """Positions 1..length-1 are scored exactly once, with max_len - stride context when past
    the first window, and no window is longer than max_len."""
    stride = data.draw(st.integers(1, max_len - 1))
    counts = np.zeros(length, dtype=int)
    for w in sliding_windows(length, max_len, stride):
        assert w.end - w.begin <= max_len
        assert w.begin < w.first <= w.end
        counts[w.first:w.end] += 1
        for pos in range(w.first, w.end):
            assert pos - w.begin >= min(pos, max_len - stride)
    assert counts[0] == 0
    assert (counts[1:] == 1).all()


@pytest.mark.parametrize(("max_len", "stride"), [(1, 1), (8, 0), (8, 8), (8, 9)])
def test_windows_refuse_bad_geometry(max_len: int, stride: int) -> None:
    """A stride that would drop context (or a window with no target) is refused."""
    with pytest.raises(ValueError, match=r"max_len|stride"):
        sliding_windows(10, max_len, stride)


# --------------------------------------------------------------------------------------------
# Real models


class TorchScorer:
    """A real transformers causal LM with the scoring part of the model protocol."""

    def __init__(self, module: Any, tokenizer: Any, path: Path) -> None:
        self.module = module
        self.tokenizer = tokenizer
        self.path = path
        self.bos_id: int | None = None
        self.eos_id: int | None = tokenizer.token_to_id("<|endoftext|>")

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer.encode(text).ids
        return ids

    def token_nll(self, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        x = torch.from_numpy(ids)
        attn = None if mask is None else torch.from_numpy(mask).long()
        with torch.no_grad():
            logits = self.module(input_ids=x, attention_mask=attn).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            nll = -logp.gather(-1, x[:, 1:, None])[..., 0].double()
        if mask is not None:
            nll = nll * torch.from_numpy(mask[:, 1:]).double()
        out: np.ndarray = nll.numpy()
        return out


def _tiny_qwen3(vocab: int, seed: int = 0, max_pos: int = 256) -> Any:
    config = transformers.Qwen3Config(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        max_position_embeddings=max_pos, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = transformers.Qwen3ForCausalLM(config).eval()
    with torch.no_grad():  # sharpen the random head so the loss is far from uniform
        model.model.embed_tokens.weight.mul_(20.0)
    return model


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tokenizers import Tokenizer

    from harness.demo.tokenizer import train_tokenizer

    path = train_tokenizer(tmp_path_factory.mktemp("tok"))
    return Tokenizer.from_file(str(path))


@pytest.fixture(scope="module")
def scorer(tokenizer: Any, tmp_path_factory: pytest.TempPathFactory) -> TorchScorer:
    folder = tmp_path_factory.mktemp("tiny-qwen3")
    module = _tiny_qwen3(tokenizer.get_vocab_size())
    module.save_pretrained(folder)
    return TorchScorer(module, tokenizer, folder)


@pytest.fixture(scope="module")
def english() -> tuple[str, ...]:
    return read_evalset(CORPORA_DIR / "eng_Latn.dev").texts[:24]


def _per_example_reference(scorer: TorchScorer, texts: tuple[str, ...]) -> tuple[float, int]:
    """Each example alone, unpadded, through the model's own HF loss."""
    total, n = 0.0, 0
    for text in texts:
        ids = torch.tensor([[scorer.eos_id, *scorer.encode(text)]])
        with torch.no_grad():
            loss = scorer.module(input_ids=ids, labels=ids).loss
        total += float(loss) * (ids.shape[1] - 1)
        n += ids.shape[1] - 1
    return total, n


def test_short_examples_match_the_models_own_loss(scorer: TorchScorer,
                                                  english: tuple[str, ...]) -> None:
    """With every example inside one window, the total NLL is the HF loss summed per example,
    every real token (the first included) is predicted once, and bits/byte use UTF-8 bytes."""
    stats = token_nll_stats(scorer, english, max_len=256, batch_size=8)
    total, n = _per_example_reference(scorer, english)
    assert stats.n_tokens == n == sum(len(scorer.encode(t)) for t in english)
    assert stats.total_nll == pytest.approx(total, rel=1e-5)
    assert stats.n_examples == len(english)
    assert stats.n_bytes == sum(len(t.encode()) for t in english)
    assert stats.mean_nll == pytest.approx(total / n, rel=1e-5)
    assert stats.perplexity == pytest.approx(math.exp(total / n), rel=1e-5)
    assert stats.bits_per_token == pytest.approx(total / n / math.log(2), rel=1e-5)
    assert stats.bits_per_byte == pytest.approx(total / math.log(2) / stats.n_bytes, rel=1e-5)


def test_token_weighted_not_mean_of_perplexities(scorer: TorchScorer,
                                                 english: tuple[str, ...]) -> None:
    """Perplexity is exp of the token-weighted mean NLL, not a mean of per-example values."""
    texts = (english[0], "Yes.")
    stats = token_nll_stats(scorer, texts, max_len=256)
    per = [token_nll_stats(scorer, (t,), max_len=256) for t in texts]
    assert stats.total_nll == pytest.approx(sum(p.total_nll for p in per), rel=1e-6)
    mean_of_ppl = sum(p.perplexity for p in per) / len(per)
    assert not math.isclose(stats.perplexity, mean_of_ppl, rel_tol=1e-3)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_batching_and_padding_do_not_change_the_result(scorer: TorchScorer,
                                                       english: tuple[str, ...],
                                                       batch_size: int) -> None:
    """Right padding never reaches a scored position: any batch size gives the same NLL."""
    base = token_nll_stats(scorer, english[:12], max_len=256, batch_size=12)
    other = token_nll_stats(scorer, english[:12], max_len=256, batch_size=batch_size)
    assert other.n_tokens == base.n_tokens
    assert other.total_nll == pytest.approx(base.total_nll, rel=1e-5)


def _hf_docs_recipe(model: Any, input_ids: Any, max_length: int, stride: int) -> tuple[Any, int]:
    """The transformers docs' "Perplexity of fixed-length models" loop, as published."""
    encodings = type("Enc", (), {"input_ids": input_ids})
    device = "cpu"
    seq_len = encodings.input_ids.size(1)

    nll_sum = 0.0
    n_tokens = 0
    prev_end_loc = 0
    for begin_loc in range(0, seq_len, stride):
        end_loc = min(begin_loc + max_length, seq_len)
        trg_len = end_loc - prev_end_loc  # may be different from stride on last loop
        input_ids = encodings.input_ids[:, begin_loc:end_loc].to(device)
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100

        with torch.no_grad():
            outputs = model(input_ids, labels=target_ids)
            neg_log_likelihood = outputs.loss

        num_valid_tokens = (target_ids != -100).sum().item()
        batch_size = target_ids.size(0)
        num_loss_tokens = num_valid_tokens - batch_size
        nll_sum += neg_log_likelihood * num_loss_tokens
        n_tokens += num_loss_tokens

        prev_end_loc = end_loc
        if end_loc == seq_len:
            break
    return nll_sum, n_tokens


def test_single_window_matches_the_transformers_docs_recipe(scorer: TorchScorer,
                                                            english: tuple[str, ...]) -> None:
    """On a text that fits one window, ours and the docs recipe agree to float precision."""
    text = english[0]
    ids = torch.tensor([[scorer.eos_id, *scorer.encode(text)]])
    nll_sum, n_tokens = _hf_docs_recipe(scorer.module, ids, max_length=256, stride=128)
    ours = token_nll_stats(scorer, (text,), max_len=256, stride=128)
    assert ours.n_tokens == n_tokens
    assert ours.total_nll == pytest.approx(float(nll_sum), rel=1e-6)


@pytest.mark.parametrize(("max_len", "stride"), [(64, 32), (48, 16), (64, 63)])
def test_long_text_matches_the_transformers_docs_recipe(scorer: TorchScorer,
                                                        english: tuple[str, ...],
                                                        max_len: int, stride: int) -> None:
    """A long text through strided windows: each token scored once, as the docs recipe does.

    The published loop weights each later window's mean loss by ``trg_len - 1`` although that
    window scores ``trg_len`` tokens (the ``- batch_size`` correction only holds for the first
    window, whose first label is lost to the shift), so it counts one token fewer per later
    window. We count exactly; the perplexities still agree to well under 0.5 %.
    """
    text = " ".join(english[:12])
    ids = torch.tensor([[scorer.eos_id, *scorer.encode(text)]])
    nll_sum, n_tokens = _hf_docs_recipe(scorer.module, ids, max_length=max_len, stride=stride)
    ours = token_nll_stats(scorer, (text,), max_len=max_len, stride=stride)
    assert ours.n_windows > 5
    assert ours.n_tokens == ids.shape[1] - 1
    assert n_tokens == ours.n_tokens - (ours.n_windows - 1)
    recipe_ppl = math.exp(float(nll_sum) / n_tokens)
    assert ours.perplexity == pytest.approx(recipe_ppl, rel=5e-3)


def test_long_text_exact_against_recipe_windows_counted_right(scorer: TorchScorer,
                                                              english: tuple[str, ...]) -> None:
    """The recipe's windows with each window's mean loss times the tokens it really scored
    give our total NLL to float precision."""
    text = " ".join(english[:6])
    ids = torch.tensor([[scorer.eos_id, *scorer.encode(text)]])
    max_len, stride = 40, 24
    total, prev_end = 0.0, 0
    for begin in range(0, ids.shape[1], stride):
        end = min(begin + max_len, ids.shape[1])
        window = ids[:, begin:end]
        labels = window.clone()
        labels[:, : -(end - prev_end)] = -100
        with torch.no_grad():
            loss = scorer.module(window, labels=labels).loss
        total += float(loss) * int((labels[:, 1:] != -100).sum())
        prev_end = end
        if end == ids.shape[1]:
            break
    ours = token_nll_stats(scorer, (text,), max_len=max_len, stride=stride)
    assert ours.total_nll == pytest.approx(total, rel=1e-6)


def test_context_helps_a_model_that_uses_it(scorer: TorchScorer,
                                            english: tuple[str, ...]) -> None:
    """The stride changes the context, so it changes the NLL (the windows are not chunks)."""
    text = " ".join(english[:10])
    a = token_nll_stats(scorer, (text,), max_len=32, stride=8)
    b = token_nll_stats(scorer, (text,), max_len=32, stride=31)
    assert a.n_tokens == b.n_tokens
    assert a.total_nll != pytest.approx(b.total_nll, rel=1e-6)


def test_nan_weights_raise_a_clear_error(tokenizer: Any, tmp_path: Path,
                                         english: tuple[str, ...]) -> None:
    """A checkpoint with NaN weights, saved and reloaded, gives NonFiniteNllError naming it."""
    folder = tmp_path / "nan-ckpt"
    broken = _tiny_qwen3(tokenizer.get_vocab_size(), seed=1)
    with torch.no_grad():
        broken.model.layers[1].mlp.down_proj.weight[0, 0] = float("nan")
    broken.save_pretrained(folder)
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    model = TorchScorer(reloaded, tokenizer, folder)
    with pytest.raises(NonFiniteNllError, match=r"nan-ckpt: .* NaN or infinite"):
        token_nll_stats(model, english[:4], max_len=256)


def test_empty_text_list_is_refused(scorer: TorchScorer) -> None:
    """Scoring nothing is an error, not a zero loss."""
    with pytest.raises(ValueError, match="empty"):
        token_nll_stats(scorer, (), max_len=64)


def test_helpers() -> None:
    """finite_fraction counts NaN and inf; relative_difference refuses a zero reference."""
    assert finite_fraction(np.array([1.0, np.nan, np.inf, -2.0])) == 0.5
    assert relative_difference(value=101.0, reference=100.0) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        relative_difference(value=1.0, reference=0.0)


# --------------------------------------------------------------------------------------------
# Through the project's own loader: model folders, resizes, round trips


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, tokenizer: Any) -> Path:
    """A tiny Qwen3 saved as a model folder (safetensors + config + tokenizer)."""
    from transformers import PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-folder")
    module = _tiny_qwen3(tokenizer.get_vocab_size())
    module.config.eos_token_id = tokenizer.token_to_id("<|endoftext|>")
    module.save_pretrained(out)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>",
                            eos_token="<|endoftext|>", pad_token="<pad>").save_pretrained(out)
    return out


def test_real_loader_scores_like_the_module(folder: Path, english: tuple[str, ...]) -> None:
    """token_nll_stats through harness.models.open_model equals the HF loss per example."""
    from harness.models.load import open_model

    live = open_model(folder)
    stats = token_nll_stats(live, english[:8], max_len=256)
    total, n = _per_example_reference(
        TorchScorer(live.module, _tokenizers_of(live), folder), english[:8])
    assert stats.n_tokens == n
    assert stats.total_nll == pytest.approx(total, rel=1e-5)


def _tokenizers_of(live: Any) -> Any:
    return live.tokenizer.backend_tokenizer


def test_added_vocabulary_and_row_distances(folder: Path, tmp_path: Path) -> None:
    """The added tokens and their old splits are read back from tokenizer.json alone; rows set
    to their constituent mean sit at float rounding from it, uninitialised rows far away."""
    from harness.models.resize import (
        add_tokens_constituent_mean,
        frequent_nko_words,
        resize_uninitialised,
    )

    words = frequent_nko_words(30)
    result = add_tokens_constituent_mean(folder, words, tmp_path / "resized")
    added = added_vocabulary(tmp_path / "resized")
    assert added.ids == result.new_ids
    assert added.tokens == result.new_tokens
    assert all(len(s) >= 2 for s in added.splits)
    from harness.models.load import open_model

    good = new_row_distances(open_model(tmp_path / "resized").input_embedding(), added)
    assert good.max_l2 == pytest.approx(result.max_distance, rel=1e-6, abs=1e-9)
    assert good.max_l2 / good.mean_old_row_norm < 1e-6
    assert (good.n_initialised, good.n_fallback) == (len(added.ids), 0)
    resize_uninitialised(folder, words, tmp_path / "uninit")
    bad_added = added_vocabulary(tmp_path / "uninit")
    bad = new_row_distances(open_model(tmp_path / "uninit").input_embedding(), bad_added)
    assert bad.max_l2 / bad.mean_old_row_norm > 0.1
    old = sum(map(len, added.encode_old(words)))
    assert old > sum(map(len, added.encode_new(words))) == len(added.ids)


def test_added_vocabulary_refuses_an_unextended_tokenizer(folder: Path) -> None:
    """A model whose tokenizer has no added tokens has no new rows: a clear error."""
    with pytest.raises(ValueError, match=r"tokenizer\.json: no added"):
        added_vocabulary(folder)


def test_max_abs_difference_is_bitwise() -> None:
    """0 means bitwise equal (NaN matching NaN included); any other NaN/inf gap is inf."""
    a = np.array([[1.0, np.nan], [np.inf, 2.0]], dtype=np.float32)
    assert max_abs_difference(a=a, b=a.copy()) == 0.0
    b = a.copy()
    b[1, 1] = 2.5
    assert max_abs_difference(a=a, b=b) == 0.5
    b[0, 1] = 1.0
    assert max_abs_difference(a=a, b=b) == math.inf
    with pytest.raises(ValueError, match="shapes"):
        max_abs_difference(a=a, b=a[:1])


@pytest.mark.parametrize("untie", [False, True])
def test_save_and_reload_torch(folder: Path, tmp_path: Path, untie: bool) -> None:
    """A tied torch model stays tied through save_pretrained + reload; the untied load does not."""
    from harness.models.load import open_model

    live = open_model(folder, untie=untie)
    again = save_and_reload(live, tmp_path / "rt")
    assert again.head_shares_storage() is (not untie)
    same = max_abs_difference(a=again.output_projection(), b=again.input_embedding()) == 0.0
    assert same is (not untie)


def test_save_and_reload_mlx_q4(folder: Path, tmp_path: Path) -> None:
    """A 4-bit MLX conversion keeps its head as the (dequantized) embedding through a round trip."""
    pytest.importorskip("mlx_lm")
    import contextlib
    import io

    from mlx_lm.convert import convert

    from harness.models.load import open_model

    with contextlib.redirect_stdout(io.StringIO()):
        convert(str(folder), str(tmp_path / "q4"), quantize=True, q_group_size=32, q_bits=4,
                dtype="float32")
    live = open_model(tmp_path / "q4")
    again = save_and_reload(live, tmp_path / "rt")
    assert again.backend == "mlx"
    assert again.quantization is not None
    assert again.head_shares_storage()
    assert max_abs_difference(a=again.output_projection(), b=again.input_embedding()) == 0.0
    assert max_abs_difference(a=again.input_embedding(), b=live.input_embedding()) == 0.0


def test_quantization_step_bounds_mlx_rounding() -> None:
    """The step read back from dequantized rows is MLX's scale, and rounding stays within it."""
    mx = pytest.importorskip("mlx.core")
    rng = np.random.default_rng(0)
    w = (rng.normal(size=(64, 128)) * 0.3).astype(np.float32)
    q, scales, biases = mx.quantize(mx.array(w), 32, 4)
    back = np.array(mx.dequantize(q, scales, biases, 32, 4))
    step = quantization_step(back, 32)
    assert step == pytest.approx(float(np.abs(np.array(scales)).max()), rel=1e-5)
    assert np.abs(back - w).max() <= step
    assert quantization_step(np.zeros((2, 64)), 32) == 0.0
    with pytest.raises(ValueError, match="groups of 32"):
        quantization_step(back[:, :40], 32)


def test_falsifier_nan_model_is_error_and_random_model_fails(
        pytester: pytest.Pytester, folder: Path, tokenizer: Any) -> None:
    """End to end through the plugin: the real LM falsifier on configured subjects. A checkpoint
    with a NaN weight gets ERROR naming its folder; a random model gets an honest FAIL."""
    import json
    import shutil

    import yaml

    nan_dir = pytester.path / "nan-model"
    shutil.copytree(folder, nan_dir)
    from safetensors.numpy import load_file, save_file

    weights = load_file(nan_dir / "model.safetensors")
    weights["model.layers.1.mlp.down_proj.weight"][0, 0] = np.nan
    save_file(weights, nan_dir / "model.safetensors", metadata={"format": "pt"})
    lines = (CORPORA_DIR / "eng_Latn.dev").read_text("utf-8").splitlines()[:80]
    (pytester.path / "dev.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    subjects = {
        "random-model": {"kind": "model", "path": str(folder), "backend": "torch"},
        "nan-model": {"kind": "model", "path": str(nan_dir), "backend": "torch"},
        "dev": {"kind": "evalset", "path": "dev.txt"},
        "random-pair": {"kind": "lm-eval", "model": "random-model", "evalset": "dev"},
        "nan-pair": {"kind": "lm-eval", "model": "nan-model", "evalset": "dev"},
    }
    (pytester.path / "falsify.toml").write_text("".join(
        f"[subjects.{sid}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in spec.items())
        for sid, spec in subjects.items()), encoding="utf-8")
    contract = {"uses": [{"claim": "LM-VAL-BELOW-UNIFORM", "subjects": ["nan-pair"],
                          "controls": [{"subject": "random-pair", "expect": "FAIL",
                                        "why": "random weights"}]}]}
    (pytester.path / "contracts").mkdir()
    (pytester.path / "contracts" / "lm.yaml").write_text(yaml.safe_dump(contract), "utf-8")
    (pytester.path / "falsifiers").mkdir()  # the falsifier is the library's
    result = pytester.runpytest("falsifiers", "-k", "val_below_uniform", "-p", "no:randomly")
    result.assert_outcomes(errors=1, passed=1)
    recs = [json.loads(line) for seg in (pytester.path / "evidence" / "ledger").glob("*.jsonl")
            for line in seg.read_text("utf-8").splitlines()]
    verdicts = {r["subject"]: r for r in recs}
    assert verdicts["nan-pair"]["verdict"] == "ERROR"
    assert "NonFiniteNllError" in verdicts["nan-pair"]["reasons"][0]
    assert "nan-model" in verdicts["nan-pair"]["reasons"][0]
    assert verdicts["random-pair"]["verdict"] == "FAIL"
    assert "ln(vocab_size)" in verdicts["random-pair"]["reasons"][0]
