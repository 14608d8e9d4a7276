"""Bad model folders fail before any framework runs, naming the file and the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.models import ModelLoadError, open_model
from harness.models.folder import inspect_folder, read_safetensors_header
from harness.workspace import SubjectSpec


def _edit_config(folder: Path, **changes: object) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_models_package_imports_without_torch_or_mlx() -> None:
    """Importing harness.models (and the folder checks) loads neither torch nor mlx."""
    code = ("import sys, harness.models, harness.models.folder, harness.models.resize; "
            "print(sorted(m for m in ('torch', 'mlx', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tiny_model_loads(tiny_dir: Path) -> None:
    """The undamaged folder loads as a torch model with a tied head."""
    model = open_model(tiny_dir)
    assert model.backend == "torch"
    assert model.head_shares_storage()
    assert model.vocab_size == model.tokenizer_vocab_size == 2048


def test_path_that_is_not_a_folder(tmp_path: Path) -> None:
    """A file given as the model path is refused by name."""
    path = tmp_path / "weights.txt"
    path.write_text("x")
    with pytest.raises(ModelLoadError, match=r"weights\.txt is not a folder"):
        open_model(path)


def test_folder_without_config(tmp_path: Path) -> None:
    """A folder with no config.json is not a model folder."""
    with pytest.raises(ModelLoadError, match=r"is not a model folder: it has no config\.json"):
        open_model(tmp_path)


def test_folder_without_weights(tiny_copy: Path) -> None:
    """config.json without safetensors weights names the folder."""
    (tiny_copy / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"no model\*\.safetensors"):
        open_model(tiny_copy)


def test_pickled_weights_are_refused(tiny_copy: Path) -> None:
    """Only safetensors load; a pickled .bin gets the command that converts it."""
    (tiny_copy / "model.safetensors").rename(tiny_copy / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin.*safe_serialization=True"):
        open_model(tiny_copy)


def test_truncated_safetensors(tiny_copy: Path) -> None:
    """A weight file cut short is named, with the byte counts."""
    path = tiny_copy / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match=r"model\.safetensors.*truncated") as info:
        open_model(tiny_copy)
    assert str(len(data) // 2) in str(info.value)


def test_corrupt_safetensors_header(tiny_copy: Path) -> None:
    """Garbage in the header is reported as a corrupt file, by name."""
    path = tiny_copy / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:40] = b"\x00" * 32
    path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"model\.safetensors: not a valid safetensors file"):
        open_model(tiny_copy)


def test_tiny_file_is_corrupt(tmp_path: Path) -> None:
    """A file shorter than the header length field is corrupt."""
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x01\x02")
    with pytest.raises(ModelLoadError, match="shorter than the 8-byte header"):
        read_safetensors_header(path)


@pytest.mark.parametrize(("key", "value", "actual"),
                         [("vocab_size", 4096, 2048), ("hidden_size", 256, 64)])
def test_config_disagrees_with_weights(tiny_copy: Path, key: str, value: int,
                                       actual: int) -> None:
    """A config that disagrees with the embedding names both numbers and both files."""
    _edit_config(tiny_copy, **{key: value})
    with pytest.raises(ModelLoadError) as info:
        open_model(tiny_copy)
    text = str(info.value)
    assert f"config.json says {key} = {value}" in text
    assert f"model.safetensors holds model.embed_tokens.weight with {actual}" in text


def test_framework_refusal_is_a_load_error(tiny_copy: Path) -> None:
    """A mismatch only transformers sees (MLP width) still ends as ModelLoadError on the folder."""
    _edit_config(tiny_copy, intermediate_size=96)
    with pytest.raises(ModelLoadError, match="transformers could not load the model"):
        open_model(tiny_copy)


def test_missing_tokenizer(tiny_copy: Path) -> None:
    """No tokenizer file: the message says how to save one."""
    (tiny_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match=r"no tokenizer.*tokenizer\.save_pretrained"):
        open_model(tiny_copy)


def test_tokenizer_that_does_not_load(tiny_copy: Path) -> None:
    """A tokenizer file the loader refuses: the message names the folder, the file and the fix."""
    (tiny_copy / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "nope"}}')
    with pytest.raises(ModelLoadError, match=r"the tokenizer \(.*tokenizer\.json.*\) does not "
                       r"load: .*tokenizer\.save_pretrained"):
        open_model(tiny_copy)


def test_tokenizer_larger_than_embedding(tiny_copy: Path) -> None:
    """A tokenizer with ids past the embedding's rows is refused, naming both sizes."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_copy, local_files_only=True)
    tok.add_tokens(["ߞߎߘߊ", "ߖߊ߲ߞߊ", "ߓߊ߯ߙߊ"])
    tok.save_pretrained(tiny_copy)
    with pytest.raises(ModelLoadError, match=r"has 2051 tokens but the embedding has 2048 rows"):
        open_model(tiny_copy)


def test_undetectable_backend(tiny_copy: Path) -> None:
    """Without format metadata or architectures the loader asks for an explicit backend."""
    from safetensors.torch import load_file, save_file

    path = tiny_copy / "model.safetensors"
    save_file(load_file(path), path)  # no metadata
    _edit_config(tiny_copy, architectures=None)
    with pytest.raises(ModelLoadError, match='set backend = "torch" or "mlx"'):
        inspect_folder(tiny_copy)
    assert inspect_folder(tiny_copy, "torch").backend == "torch"


def test_unknown_subject_option(tiny_dir: Path) -> None:
    """A misspelt option on a subject is named, with the known ones."""
    from harness.models import load_model

    spec = SubjectSpec("m", "model", {"path": str(tiny_dir), "untied": True})
    with pytest.raises(ModelLoadError, match=r"unknown model option.*untied"):
        load_model(spec, None)
