"""ONNX exports run by ONNX Runtime against the torch model they came from, and the comparison
that decides EXPORT-PARITY.

The class of failure: an export whose numbers drift (a wrong scale, a lost layer) passing as
"close enough", or a tolerance that excuses every greedy choice. Properties: logits moved by less
than the tolerance never count a mismatch; a flip where the reference was decisive always does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.demo.export import export_logits, quantize_int8, scale_last_layer
from harness.metrics.export import ExportError, OnnxRunner, compare_logits, load_onnx_export
from harness.workspace import SubjectSpec, Workspace, WorkspaceError
from tests.harness.metrics.test_routing import _tokenizer

LOGITS = arrays(np.float64, (2, 5, 7), elements=st.floats(-8, 8, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(want=LOGITS, noise=arrays(np.float64, (2, 5, 7), elements=st.floats(-1, 1)),
       tolerance=st.floats(1e-3, 1.0))
def test_moves_within_the_tolerance_flip_only_near_ties(want, noise, tolerance):
    got = want + noise * tolerance * 0.999
    cmp = compare_logits(want=want, got=got, chosen=want.argmax(-1), tolerance=tolerance)
    assert cmp.diff.max() <= tolerance
    assert not cmp.wrong.any()  # every flip is at a near tie
    assert np.array_equal(cmp.near_tie, cmp.margin < 2 * tolerance)


@settings(max_examples=60, deadline=None)
@given(want=LOGITS, tolerance=st.floats(1e-3, 0.5), data=st.data())
def test_a_flip_where_the_reference_was_decisive_is_a_mismatch(want, tolerance, data):
    chosen = want.argmax(-1)
    b = data.draw(st.integers(0, 1))
    p = data.draw(st.integers(0, 4))
    other = data.draw(st.integers(0, 6).filter(lambda v: v != chosen[b, p]))
    got = want.copy()
    got[b, p, other] = want[b, p].max() + 5.0  # a broken export: another token wins by far
    cmp = compare_logits(want=want, got=got, chosen=chosen, tolerance=tolerance)
    assert cmp.flipped[b, p]
    assert cmp.wrong[b, p] == (cmp.margin[b, p] >= 2 * tolerance)
    assert cmp.diff.max() > tolerance  # and the logit bound catches it either way


def test_shapes_that_differ_are_an_error():
    with pytest.raises(ExportError, match="shape"):
        compare_logits(want=np.zeros((1, 2, 3)), got=np.zeros((1, 2, 4)),
                       chosen=np.zeros((1, 2), int), tolerance=0.1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    root = tmp_path_factory.mktemp("export")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen3ForCausalLM(Qwen3Config(
            vocab_size=32, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, eos_token_id=1,
            max_position_embeddings=128, tie_word_embeddings=True))
    model.save_pretrained(root / "model")
    _tokenizer(root / "model")
    export_logits(root / "model", root / "model.onnx", max_seq=64)
    return root, root / "model.onnx"


def test_the_float_export_gives_the_torch_logits_and_int8_is_close(exported):
    from harness.models import open_model

    root, path = exported
    reference = open_model(root / "model")
    ids = np.asarray([[3, 4, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16, 17, 18]])
    want = reference.logits(ids)
    fp32 = OnnxRunner(path)
    assert np.abs(fp32.logits(ids) - want).max() < 1e-4
    assert fp32.int8_initializers() == 0
    quantize_int8(path, root / "int8.onnx")
    int8 = OnnxRunner(root / "int8.onnx")
    assert int8.int8_initializers() >= 4  # every projection of both blocks
    close = np.abs(int8.logits(ids) - want).max()
    name = scale_last_layer(root / "int8.onnx", root / "bad.onnx", 2.0)
    assert name.endswith("_scale")
    bad = np.abs(OnnxRunner(root / "bad.onnx").logits(ids) - want).max()
    assert 0 < close < bad


def test_a_graph_that_wants_a_cache_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None])
    past = helper.make_tensor_value_info("past_key_values.0.key", TensorProto.FLOAT, [1, 2])
    out = helper.make_tensor_value_info("logits", TensorProto.INT64, [1, None])
    graph = helper.make_graph([helper.make_node("Identity", ["input_ids"], ["logits"])], "g",
                              [ids, past], [out])
    path = tmp_path / "cache.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    with pytest.raises(ExportError, match=r"past_key_values\.0\.key") as err:
        OnnxRunner(path)
    assert str(path) in str(err.value)


def test_missing_and_broken_files_name_the_file(tmp_path):
    with pytest.raises(ExportError, match="no such ONNX file"):
        OnnxRunner(tmp_path / "absent.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    with pytest.raises(ExportError, match="cannot load") as err:
        OnnxRunner(junk)
    assert str(junk) in str(err.value)


def test_loader_errors_name_the_table(exported, tmp_path):
    root, path = exported
    ws = Workspace(root, {"subjects": {"lm": {"kind": "model", "path": "model"}}},
                   root / "pyproject.toml")
    ok = load_onnx_export(SubjectSpec("e", "onnx-export", {"model": "lm", "path": "model.onnx"}),
                          ws)
    assert ok.path == path
    for options, message in (({"path": "x.onnx"}, "needs model"),
                             ({"model": "lm"}, "needs path")):
        with pytest.raises(WorkspaceError, match=message) as err:
            load_onnx_export(SubjectSpec("e", "onnx-export", options), ws)
        assert "[tool.falsify.subjects.e]" in str(err.value)


def test_the_export_bytes_do_not_depend_on_where_it_ran(exported, tmp_path):
    """A rebuild in another checkout must hash the same (falsify verify --inputs --rebuild):
    the exporter's per-node stack traces (absolute paths, line numbers) are stripped."""
    import shutil

    root, path = exported
    data = path.read_bytes()
    assert b"stack_trace" not in data
    assert str(Path(__file__).resolve().parents[3]).encode() not in data
    moved = tmp_path / "elsewhere"
    shutil.copytree(root / "model", moved)
    export_logits(moved, tmp_path / "again.onnx", max_seq=64)
    assert (tmp_path / "again.onnx").read_bytes() == data
