"""A tiny real Qwen3 (random weights, word-level tokenizer) saved with save_pretrained, and a
workspace of subjects loaded from it: the correct load, an untied-head load, a config with a wrong
norm eps, and both faults at once.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

WORDS = (
    "the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "log", "and", "then", "it",
    "was", "red", "blue", "big", "small", "saw", "fed", "my", "your", "one", "two", "three",
    "old", "new", "home", "far", "near", "slow", "quick",
)
TEXT = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(12)) for i in range(40)]

CONTRACT = """\
area: tiny
claims:
  - id: TINY-MATCHES-REFERENCE
    title: The load computes the reference's logits
    statement: The loaded model's logits equal its reference's on the eval text.
    measures:
      max_logit_abs_diff: {unit: "1"}
      n_tokens: {unit: count}
    params:
      max_diff: 1e-5
    predicate: max_logit_abs_diff <= max_diff
    subjects: [good-pair]
    controls:
      - subject: untied-pair
      - subject: eps-pair
      - subject: both-pair
      - subject: transposed-pair
      - subject: zero-pair
    hypotheses:
      - id: H-TIE
        statement: the tied head was not tied after load
        probe: tied_weights
        intervention: retie_head
      - id: H-EPS
        statement: the norm layers use another eps than the checkpoint was trained with
        probe: norm_eps
        intervention: restore_norm_eps
      - id: H-LAYOUT
        statement: a weight was loaded transposed
        probe: layout
        intervention: fix_layout
      - id: H-RESIDUAL
        statement: a residual branch adds nothing
        probe: residual_stream
        intervention: restore_residual_branch
"""

FALSIFIER = '''\
import numpy as np
import pytest

pytestmark = pytest.mark.live


@pytest.mark.claim("TINY-MATCHES-REFERENCE")
def test_matches(evidence, subject, workspace):
    pair = workspace.resolve(subject.id)
    evidence.input(pair.model.path)
    ids = np.asarray([pair.model.encode(" ".join(pair.evalset.texts))[:48]])
    diff = np.max(np.abs(pair.model.logits(ids) - pair.reference.logits(ids)))
    evidence.measure("max_logit_abs_diff", float(diff), unit="1")
    evidence.measure("n_tokens", ids.size, unit="count")
'''

CONFIG = """\
[project]
name = "tiny"
version = "0"

[tool.falsify.subjects.tiny]
kind = "model"
path = "models/tiny"
[tool.falsify.subjects.tiny-untied]
kind = "model"
path = "models/tiny"
untie = true
[tool.falsify.subjects.tiny-eps]
kind = "model"
path = "models/tiny-eps"
[tool.falsify.subjects.tiny-both]
kind = "model"
path = "models/tiny-eps"
untie = true
[tool.falsify.subjects.tiny-transposed]
kind = "model"
path = "models/tiny-transposed"
[tool.falsify.subjects.tiny-zero]
kind = "model"
path = "models/tiny-zero"
[tool.falsify.subjects.text]
kind = "evalset"
path = "text.txt"
[tool.falsify.subjects.tiny-suite]
kind = "fault-suite"
claim = "TINY-MATCHES-REFERENCE"
[tool.falsify.subjects.tiny-suite.faults]
untied-pair = "H-TIE"
eps-pair = "H-EPS"
transposed-pair = "H-LAYOUT"
zero-pair = "H-RESIDUAL"
"""

PAIRS = {"good-pair": "tiny", "untied-pair": "tiny-untied", "eps-pair": "tiny-eps",
         "both-pair": "tiny-both", "transposed-pair": "tiny-transposed", "zero-pair": "tiny-zero"}
# The faulty steps of harness.demo.faults, applied to the tiny checkpoint.
FAULTY = {"tiny-transposed": "flax_round_trip", "tiny-zero": "zero_buffer_converter"}



def save_tiny(folder: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    vocab = {w: i for i, w in enumerate(["<unk>", "<|endoftext|>", "<pad>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    config = Qwen3Config(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                         intermediate_size=64, max_position_embeddings=128,
                         tie_word_embeddings=True, bos_token_id=None, eos_token_id=1,
                         pad_token_id=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ForCausalLM(config)
    model.save_pretrained(folder)
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<|endoftext|>",
                            pad_token="<pad>").save_pretrained(folder)
    return folder


def write_tiny_space(root: Path) -> Path:
    """The workspace: contract with hypotheses, falsifier, models, eval text, lm-eval pairs."""
    import shutil

    (root / "contracts").mkdir(parents=True, exist_ok=True)
    (root / "falsifiers").mkdir(exist_ok=True)
    (root / "contracts" / "tiny.yaml").write_text(textwrap.dedent(CONTRACT))
    (root / "falsifiers" / "test_tiny.py").write_text(FALSIFIER)
    (root / "text.txt").write_text("\n".join(TEXT) + "\n")
    pairs = "".join(f'[tool.falsify.subjects.{name}]\nkind = "lm-eval"\nmodel = "{model}"\n'
                    f'evalset = "text"\nreference = "tiny"\n' for name, model in PAIRS.items())
    (root / "pyproject.toml").write_text(CONFIG + pairs)
    tiny = save_tiny(root / "models" / "tiny")
    shutil.copytree(tiny, root / "models" / "tiny-eps")
    config_path = root / "models" / "tiny-eps" / "config.json"
    config = json.loads(config_path.read_text())
    config["rms_norm_eps"] = 1.0
    config_path.write_text(json.dumps(config))
    from harness.demo import faults

    for name, step in FAULTY.items():
        getattr(faults, step)(tiny, root / "models" / name)
    return root
