"""An outside researcher's first ten minutes, for real: the wheel built from this tree, installed
into a fresh virtual environment, ``falsify init`` in a new git repository outside the source
tree, a small Llama trained here and saved with ``save_pretrained``, two library claims used by
name and one claim of the project's own, then ``pytest -m live``, ``falsify gate``,
``falsify render`` and ``falsify pr`` there, each asserted on what it decided.

The fresh environment borrows this one's dependencies (torch, transformers, ...) through a
``.pth`` line, so nothing is downloaded; falsify itself comes only from the wheel (asserted).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORDS = ["the", "cat", "dog", "bird", "sat", "ran", "flew", "on", "under", "over", "mat", "log",
         "tree", "and", "then", "it", "was", "red", "blue", "big", "small", "saw", "fed", "my",
         "your", "one", "two", "three", "old", "new", "home", "far", "near", "slow", "quick"]

CONTRACT = """\
area: mine
title: My eval data
claims:
  - id: HELDOUT-NOT-TINY
    title: The held-out set has enough examples to mean something
    statement: The held-out set holds at least min_examples distinct examples.
    measures:
      n_examples: {unit: count}
    params:
      min_examples: 100 count
    predicate: n_examples >= min_examples
    subjects: [heldout]
    controls: [{subject: heldout-four, expect: FAIL}]
"""

FALSIFIER = '''\
import pytest

pytestmark = pytest.mark.live


@pytest.mark.claim("HELDOUT-NOT-TINY")
def test_heldout_not_tiny(evidence, subject, workspace):
    evalset = workspace.resolve(subject.id)
    evidence.input(evalset.path)
    evidence.measure("n_examples", len(evalset.texts), unit="count")
'''

MORE_SUBJECTS = """
[subjects.heldout-four]
kind = "evalset"
path = "data/four.txt"
"""


def _lines(n: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:  # a small grammar the model can learn: "the A B on the C" ...
        a, b, c = rng.choice(WORDS[1:6]), rng.choice(WORDS[6:10]), rng.choice(WORDS[10:15])
        out.add(f"the {a} {b} on the {c} and then it was {rng.choice(WORDS[18:24])}")
    return sorted(out)


def train_llama(folder: Path) -> None:
    """A tied Llama of about 30k parameters, trained here on the grammar, saved for real."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", *dict.fromkeys(WORDS)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>")
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=64, tie_word_embeddings=True, bos_token_id=1,
                         eos_token_id=2,
                         # The untied control's head is drawn at load from N(0, this): at the
                         # default 0.02 its logits are near zero, and with 38 words the NLL lands
                         # within 0.03 of ln|V|, above or below by the luck of the float sums
                         # (below on some CPUs: a control with no power). At 0.2 a random head
                         # is clearly worse than uniform.
                         initializer_range=0.2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
        ids = torch.tensor([[1, *fast.encode(t, add_special_tokens=False)] for t in
                            _lines(400, seed=1)])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for step in range(60):
            batch = ids[(step * 32) % len(ids):][:32]
            loss = model(input_ids=batch, labels=batch).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.save_pretrained(folder)
    fast.save_pretrained(folder)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding falsify from a wheel built from this tree; its bin folder."""
    top = tmp_path_factory.mktemp("install")
    src = top / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "harness", src / "harness",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(top / "dist"), str(src)],
                   check=True, timeout=300)
    wheel = next((top / "dist").glob("falsify-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(top / "venv")], check=True, timeout=120)
    bin_dir = top / "venv" / "bin"
    py = bin_dir / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    borrowed = sysconfig.get_paths()["purelib"]  # torch & co., not falsify (its finder is a .pth)
    (Path(purelib.stdout.strip()) / "borrowed-deps.pth").write_text(borrowed + "\n")
    # --force-reinstall: the borrowed folder holds the checkout's editable falsify 0.1.0, which
    # pip would otherwise take as this wheel already installed, and install nothing
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
                    str(wheel)], check=True, timeout=300)
    return bin_dir


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FALSIFY_", "PYTHON", "PYTEST_")) and k not in ("CI", "HF_HOME")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"), GIT_AUTHOR_NAME="r", GIT_AUTHOR_EMAIL="r@x",
               GIT_COMMITTER_NAME="r", GIT_COMMITTER_EMAIL="r@x")
    return env


def _run(bin_dir: Path, project: Path, env: dict[str, str], *args: str,
         tool: str = "falsify") -> subprocess.CompletedProcess[str]:
    command = [str(bin_dir / "python"), "-m", "pytest"] if tool == "pytest" else [
        str(bin_dir / tool)]
    return subprocess.run([*command, *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900, check=False)


def _git(project: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=project, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


def test_an_outside_project_uses_library_claims_from_the_installed_wheel(
        venv: Path, tmp_path: Path) -> None:
    project, home = tmp_path / "my-research", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    env = _env(home)
    where = subprocess.run([str(venv / "python"), "-c", "import harness; print(harness.__file__)"],
                           cwd=project, env=env, capture_output=True, text=True,
                           check=True).stdout
    assert str(venv.parent) in where, where  # falsify from the wheel, not from this tree

    _git(project, env, "init", "-q", "-b", "main")
    # the README's quick start: init with the library claims for model and lm-eval subjects,
    # whose placeholder subjects point at models/my-model and data/heldout.txt
    init = _run(venv, project, env, "init", "--claims", "model", "--claims", "lm-eval")
    assert init.returncode == 0, init.stderr
    assert "wrote falsify.toml" in init.stdout
    with (project / "falsify.toml").open("a") as fh:
        fh.write(MORE_SUBJECTS)
    (project / "contracts" / "mine.yaml").write_text(CONTRACT)
    (project / "falsifiers" / "test_mine.py").write_text(FALSIFIER)
    (project / "data").mkdir()
    (project / "data" / "heldout.txt").write_text("\n".join(_lines(200, seed=7)) + "\n")
    (project / "data" / "four.txt").write_text("\n".join(_lines(4, seed=8)) + "\n")
    train_llama(project / "models" / "my-model")
    keys = _run(venv, project, env, "keys", "new", "--name", "researcher")
    assert keys.returncode == 0, keys.stderr
    check = _run(venv, project, env, "contracts", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    _git(project, env, "add", "-A")
    _git(project, env, "commit", "-qm", "my project")
    base = _git(project, env, "rev-parse", "HEAD")

    live = _run(venv, project, env, "falsifiers", "-m", "live", "-p", "no:cacheprovider",
                tool="pytest")
    assert live.returncode == 0, live.stdout[-3000:] + live.stderr[-2000:]
    records = [json.loads(line) for seg in (project / "evidence" / "ledger").glob("*.jsonl")
               for line in seg.read_text().splitlines()]
    verdicts = {(r["claim"], r["subject"]): r["verdict"] for r in records}
    assert verdicts == {
        ("LM-VAL-BELOW-UNIFORM", "my-model-heldout"): "PASS",
        ("LM-VAL-BELOW-UNIFORM", "my-model-untied-heldout"): "FAIL",
        ("TIED-WEIGHTS-INTACT", "my-model"): "PASS",
        ("TIED-WEIGHTS-INTACT", "my-model-untied"): "FAIL",
        ("HELDOUT-NOT-TINY", "heldout"): "PASS",
        ("HELDOUT-NOT-TINY", "heldout-four"): "FAIL",
    }
    assert "signed by key researcher" in live.stdout
    library = [r for r in records if r["claim"] == "TIED-WEIGHTS-INTACT"]
    assert library[0]["provenance"]["code"]["falsifier"][0]["path"] == (
        "harness/library/falsifiers/lm.py")

    _git(project, env, "add", "-A")
    _git(project, env, "commit", "-qm", "evidence")
    gate = _run(venv, project, env, "gate", "--require-signed")
    assert gate.returncode == 0, gate.stdout + gate.stderr
    render = _run(venv, project, env, "render")
    assert render.returncode == 0, render.stdout + render.stderr
    readme = (project / "evidence" / "lm-eval" / "README.md").read_text()
    assert "LM-VAL-BELOW-UNIFORM" in readme
    assert "--claim LM-VAL-BELOW-UNIFORM --subject my-model-heldout" in readme
    assert "HELDOUT-NOT-TINY" in (project / "evidence" / "mine" / "README.md").read_text()
    assert not (project / "paper").exists()
    pr = _run(venv, project, env, "pr", "--base", base)
    assert pr.returncode == 0, pr.stdout + pr.stderr
    assert "HELDOUT-NOT-TINY" in pr.stdout

    # the eval file changes: the evidence resting on it is stale and the gate says so
    with (project / "data" / "heldout.txt").open("a") as fh:
        fh.write("the cat sat on the mat and then it was red again\n")
    stale = _run(venv, project, env, "gate")
    assert stale.returncode == 1
    assert "heldout.txt" in stale.stdout + stale.stderr


def test_a_misconfigured_subject_is_red_with_the_fix(venv: Path, tmp_path: Path) -> None:
    """The README's pyproject table pasted into falsify.toml: a usage error naming the file,
    the key and the spelling that file wants; never a skipped, green run."""
    project, home = tmp_path / "p", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    env = _env(home)
    assert _run(venv, project, env, "init").returncode == 0
    (project / "contracts" / "mine.yaml").write_text(textwrap.dedent("""\
        uses:
          - claim: TIED-WEIGHTS-INTACT
            subjects: [my-qwen]
            controls: [{subject: my-qwen-untied, expect: FAIL}]
        """))
    (project / "falsify.toml").write_text(
        '[tool.falsify.subjects.my-qwen]\nkind = "model"\npath = "models/qwen"\n')
    live = _run(venv, project, env, "falsifiers", "-m", "live", "-p", "no:cacheprovider",
                tool="pytest")
    assert live.returncode != 0
    shown = live.stdout + live.stderr
    assert "falsify.toml" in shown
    assert "write [subjects.my-qwen], not [tool.falsify.subjects.my-qwen]" in shown

    # fixed, but the control the contract names is defined nowhere: ERROR, a red run
    (project / "falsify.toml").write_text(
        '[subjects.my-qwen]\nkind = "model"\npath = "models/qwen"\n')
    (project / "models" / "qwen").mkdir(parents=True)
    train_llama(project / "models" / "qwen")
    live = _run(venv, project, env, "falsifiers", "-m", "live", "-p", "no:cacheprovider",
                tool="pytest")
    assert live.returncode != 0
    assert "[subjects.my-qwen-untied]" in live.stdout
    records = [json.loads(line) for seg in (project / "evidence" / "ledger").glob("*.jsonl")
               for line in seg.read_text().splitlines()]
    assert {r["subject"]: r["verdict"] for r in records} == {"my-qwen": "PASS",
                                                             "my-qwen-untied": "ERROR"}
