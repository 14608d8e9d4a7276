"""The brain scan on real models: tiny seeded Qwen3s saved by transformers (and converted by
mlx_lm), with one block's weights moved by a known step; the scan must find the change exactly
where it was made and nowhere before it, on both backends."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.demo import CORPORA_DIR
from harness.metrics.scan import ScanError, adapted_layers_of, load_finetune_pair, scan_layers
from harness.workspace import SubjectSpec, Workspace, WorkspaceError

HERE = Path(__file__).parent
LAYERS = 3
TEXTS = [line for line in (CORPORA_DIR / "eng_Latn.dev").read_text(encoding="utf-8")
         .splitlines()[:24] if line.strip()]


def _save(model: Any, tokenizer_dir: Path, out: Path) -> Path:
    from transformers import AutoTokenizer

    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A seeded untrained 3-block Qwen3 and copies with one part moved: block k's MLP down
    projection (``block0``..``block2``) or the tied embedding (``embed``)."""
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    from harness.demo.build import Builder
    from harness.demo.lm import tokenizer_dir
    from harness.demo.tokenizer import EOS, PAD, UNK

    root = tmp_path_factory.mktemp("scan")
    tok_json = tokenizer_dir(Builder.for_workspace(Workspace.discover(HERE))) / "tokenizer.json"
    tok = root / "tok"
    PreTrainedTokenizerFast(tokenizer_file=str(tok_json), unk_token=UNK, eos_token=EOS,
                            pad_token=PAD).save_pretrained(tok)
    config = Qwen3Config(vocab_size=2048, hidden_size=64, num_hidden_layers=LAYERS,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                         intermediate_size=128, tie_word_embeddings=True, eos_token_id=1)
    out = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        base = Qwen3ForCausalLM(config)
    out["base"] = _save(base, tok, root / "base")
    for k in range(LAYERS):
        moved = Qwen3ForCausalLM.from_pretrained(out["base"])
        with torch.no_grad():
            moved.model.layers[k].mlp.down_proj.weight.mul_(1.5)
        out[f"block{k}"] = _save(moved, tok, root / f"block{k}")
    moved = Qwen3ForCausalLM.from_pretrained(out["base"])
    with torch.no_grad():
        moved.model.embed_tokens.weight.add_(0.01)
    out["embed"] = _save(moved, tok, root / "embed")
    return out


def _open(path: Path, backend: str, tmp: Path) -> Any:
    from harness.models import open_model

    if backend == "torch":
        return open_model(path, "torch")
    import contextlib
    import io

    from mlx_lm.convert import convert

    target = tmp / f"{path.name}-mlx"
    if not target.exists():
        with contextlib.redirect_stdout(io.StringIO()):
            convert(str(path), str(target), dtype="float32")
    return open_model(target, "mlx")


@pytest.mark.parametrize("backend", ["torch", "mlx"])
@pytest.mark.parametrize("k", range(LAYERS))
def test_change_found_exactly_at_the_moved_block(tiny, tmp_path_factory, backend, k):
    tmp = tmp_path_factory.getbasetemp()
    base, moved = _open(tiny["base"], backend, tmp), _open(tiny[f"block{k}"], backend, tmp)
    scan = scan_layers(base, moved, TEXTS, threshold=0.01, batch_size=8)
    assert scan.n_layers == LAYERS
    assert np.all(scan.rel_shift[:k] == 0.0), scan.rel_shift
    assert scan.rel_shift[k] > 1e-3, scan.rel_shift
    assert scan.embedding_shift == 0.0
    assert np.all(scan.delta_l2[:k] == 0.0)
    assert scan.n_tokens == sum(len(base.encode(t)) for t in TEXTS)


@pytest.mark.parametrize("backend", ["torch", "mlx"])
def test_a_model_against_itself_shows_no_change(tiny, tmp_path_factory, backend):
    base = _open(tiny["base"], backend, tmp_path_factory.getbasetemp())
    scan = scan_layers(base, base, TEXTS, threshold=0.01, batch_size=5)
    assert np.all(scan.shift == 0.0)
    assert np.all(scan.delta_l2 == 0.0)
    assert np.all((scan.sparsity_base >= 0) & (scan.sparsity_base <= 1))
    assert np.all(scan.l2_base > 0)


def test_a_moved_embedding_changes_every_block(tiny):
    from harness.models import open_model

    scan = scan_layers(open_model(tiny["base"]), open_model(tiny["embed"]), TEXTS,
                       threshold=0.01)
    assert scan.embedding_shift > 0
    assert np.all(scan.rel_shift > 0)


def test_batch_size_does_not_change_the_profile(tiny):
    from harness.models import open_model

    base, moved = open_model(tiny["base"]), open_model(tiny["block1"])
    a = scan_layers(base, moved, TEXTS, threshold=0.01, batch_size=3)
    b = scan_layers(base, moved, TEXTS, threshold=0.01, batch_size=32)
    np.testing.assert_allclose(a.l2_base, b.l2_base, rtol=1e-5)
    np.testing.assert_allclose(a.rel_shift, b.rel_shift, rtol=1e-4)


def test_other_tokenizers_are_refused(tiny, tmp_path):
    from harness.models import open_model

    base = open_model(tiny["base"])
    other = Path(shutil.copytree(tiny["base"], tmp_path / "other"))
    tok = json.loads((other / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    used = {i for t in TEXTS for i in base.encode(t)}
    a, b = [w for w, i in sorted(vocab.items(), key=lambda kv: kv[1]) if i in used][:2]
    vocab[a], vocab[b] = vocab[b], vocab[a]  # two ids the texts use, swapped
    (other / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ScanError, match="tokenize example"):
        scan_layers(base, open_model(other), TEXTS, threshold=0.01, pair_id="p")


# --------------------------------------------------------------------------- adapted layers

layer_lists = st.lists(st.integers(0, 40), min_size=1, max_size=8)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(layer_lists, st.integers(0, 40), st.none(), st.text(max_size=5),
                       st.lists(st.one_of(st.integers(-3, 3), st.booleans(), st.text(max_size=2)),
                                max_size=4),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
       name=st.sampled_from(["finetune.json", "adapter_config.json"]))
def test_adapted_layers_from_a_file_or_a_clear_error(tmp_path, value, name):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    key = "adapted_layers" if name == "finetune.json" else "layers_to_transform"
    (folder / name).write_text(json.dumps({key: value}))
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    valid = (isinstance(value, list) and value
             and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value))
    if valid:
        assert adapted_layers_of(folder, "p") == tuple(sorted(set(value)))
    else:
        with pytest.raises(ScanError, match=name):
            adapted_layers_of(folder, "p")


@settings(max_examples=30)
@given(raw=st.binary(max_size=40))
def test_a_damaged_finetune_file_names_itself(tmp_path_factory, raw):
    folder = tmp_path_factory.mktemp("dmg")
    (folder / "finetune.json").write_bytes(raw)
    error, layers = "", ()
    try:
        layers = adapted_layers_of(folder, "p")
    except ScanError as exc:
        error = str(exc)
    assert "finetune.json" in error or (layers and all(v >= 0 for v in layers))


def test_no_record_of_the_adapted_layers_says_what_to_add(tmp_path):
    with pytest.raises(ScanError, match="set adapted_layers"):
        adapted_layers_of(tmp_path, "my-pair")


def _spec(**options: Any) -> SubjectSpec:
    full = {"base": "b", "tuned": "t", "english": "e", "nko": "n", **options}
    return SubjectSpec("my-pair", "finetune-pair", {k: v for k, v in full.items()
                                                     if v is not None})


@pytest.mark.parametrize(("options", "match"), [
    ({"tuned": None}, "needs tuned"),
    ({"english": 3}, "needs english"),
    ({"adapted_layers": []}, "adapted_layers"),
    ({"adapted_layers": [1, -1]}, "adapted_layers"),
    ({"adapted_layers": "4-5"}, "adapted_layers"),
    ({"max_examples": 0}, "max_examples"),
])
def test_pair_config_errors_name_the_subject(options, match):
    ws = Workspace(HERE)
    with pytest.raises(WorkspaceError, match=match) as info:
        load_finetune_pair(_spec(**options), ws)
    assert "my-pair" in str(info.value)


def test_declared_layers_override_the_folder():
    pair = load_finetune_pair(_spec(adapted_layers=[5, 4, 5]), Workspace(HERE))
    assert pair.adapted_layers() == (4, 5)
