"""Decoder subjects: a user's sampling functions, imported from the workspace, over a live model
saved and reloaded by transformers; config mistakes are errors naming the table and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.metrics.decoding import Decoder, as_decoder, load_decoder
from harness.workspace import SubjectSpec, Workspace, WorkspaceError
from tests.harness.metrics.test_routing import _tokenizer

SAMPLING = """\
from harness.demo.decoding import torch_greedy_cache_rebuilt, torch_greedy_cached


def greedy(module, prompt, n):
    return torch_greedy_cached(module, prompt, n)


def rebuilt(module, prompt, n):
    return torch_greedy_cache_rebuilt(module, prompt, n)
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    root = tmp_path_factory.mktemp("decoders")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Qwen3ForCausalLM(Qwen3Config(
            vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, eos_token_id=1,
            max_position_embeddings=128))
    model.save_pretrained(root / "model")
    _tokenizer(root / "model")
    (root / "sampling_demo_mod.py").write_text(SAMPLING, encoding="utf-8")
    config = {"subjects": {"lm": {"kind": "model", "path": "model"}}}
    return Workspace(root, config, root / "pyproject.toml")


def _spec(**options: object) -> SubjectSpec:
    return SubjectSpec("sampler", "decoder", {"model": "lm", **options})


def test_user_functions_give_the_stateless_tokens(workspace):
    decoder = load_decoder(_spec(cached="sampling_demo_mod:greedy",
                                 stateless="sampling_demo_mod:rebuilt"), workspace)
    prompt = [5, 6, 7, 8, 9, 10]
    want = decoder.model.generate_greedy(prompt, 24, use_cache=False)
    assert decoder.cached(prompt, 24) == want
    assert decoder.stateless(prompt, 24) == want
    assert decoder.sources == (workspace.root / "sampling_demo_mod.py",)
    assert decoder.cached_name == "sampling_demo_mod:greedy"


def test_a_model_subject_is_a_decoder_with_the_harness_loops(workspace):
    decoder = as_decoder("lm", workspace.resolve("lm"))
    assert isinstance(decoder, Decoder)
    assert decoder.cached([3, 4, 5], 10) == decoder.stateless([3, 4, 5], 10)
    assert decoder.sources == ()
    with pytest.raises(TypeError, match="kind decoder"):
        as_decoder("x", object())


@pytest.mark.parametrize(("options", "message"), [
    ({"cached": "sampling_demo_mod.greedy"}, "must be \"module:function\""),
    ({"cached": "no_such_module_here:greedy"}, "cannot import 'no_such_module_here'"),
    ({"cached": "sampling_demo_mod:nope"}, "has no function 'nope'"),
    ({}, "a decoder needs cached"),
    ({"cached": "sampling_demo_mod:greedy", "stateless": 3}, "stateless must be"),
])
def test_config_mistakes_name_the_table(workspace, options, message):
    with pytest.raises(WorkspaceError, match=message) as err:
        load_decoder(_spec(**options), workspace)
    assert "[tool.falsify.subjects.sampler]" in str(err.value)


def test_a_model_that_is_not_one_is_refused(workspace, tmp_path: Path):
    ws = Workspace(workspace.root, {"subjects": {
        "lm": {"kind": "model", "path": "model"},
        "text": {"kind": "evalset", "path": str(tmp_path / "t.txt")}}},
        workspace.root / "pyproject.toml")
    (tmp_path / "t.txt").write_text("a line\n", encoding="utf-8")
    with pytest.raises(WorkspaceError, match="is not a model subject"):
        load_decoder(SubjectSpec("s", "decoder", {"model": "text", "cached": "m:f"}), ws)
