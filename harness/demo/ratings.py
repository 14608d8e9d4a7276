"""The demo's rating sheets: SIMULATED Likert ratings of real demo outputs, never human data.

The two systems are real: the 6-block scan base (``base``) and the same model fine-tuned on N'Ko
with every parameter trainable (``tuned``, harness/demo/finetune.py). Each continues the first
10 tokens of the first 50 N'Ko dev lines for 40 tokens, sampled at temperature 0.8 with a seeded
numpy generator; ``outputs.jsonl`` keeps every prompt and output.

The raters are a stated model, not people. Per dimension, each output gets a measured latent:
- ``fluency``: mean log-probability per character under a character-trigram model of N'Ko
  corpus lines 4000-6192 (text neither system trained on; add-0.1 smoothing);
- ``script``: the share of N'Ko letters among the output's letters;
- ``adequacy``: character-trigram F-score against the dev line's true continuation.
The latent is standardised over the 100 outputs, and rater ``r`` scores
``clip(round(3 + 1.5 z + bias_r + e), 1, 5)``, ``e ~ N(0, 0.5)`` seeded per rater, biases
(-0.3, 0, 0.2, 0.4). Controls: ``random.csv``, raters answering uniformly at random; and
``swapped.csv``, the same ratings with the two system labels swapped (a faulty merge of sheets).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from harness.demo import CORPORA_DIR, finetune, lm
from harness.demo.build import Builder, library_versions
from harness.workspace import SubjectSpec

__all__ = ["DIMENSIONS", "demo_ratings", "demo_ratings_random", "demo_ratings_swapped"]

RATINGS_VERSION = 1
ITEMS, PROMPT_TOKENS, NEW_TOKENS, TEMPERATURE = 50, 10, 40, 0.8
JUDGE_LINES = (4000, 6193)
BIASES = (-0.3, 0.0, 0.2, 0.4)
NOISE, SLOPE = 0.5, 1.5
DIMENSIONS = ("fluency", "script", "adequacy")
SIMULATED = ("simulated ratings: 4 rater models scoring real demo outputs from measured "
             "properties plus seeded noise (harness/demo/ratings.py); not human judgements")


def _sample(model: Any, prompt: list[int], seed: int) -> list[int]:
    import torch

    rng = np.random.default_rng(seed)
    out: list[int] = []
    with torch.inference_mode():
        res = model(input_ids=torch.tensor([prompt]), use_cache=True)
        for _ in range(NEW_TOKENS):
            logits = res.logits[0, -1].double().numpy() / TEMPERATURE
            p = np.exp(logits - logits.max())
            token = int(np.searchsorted(np.cumsum(p / p.sum()), rng.random()))
            out.append(min(token, len(p) - 1))
            res = model(input_ids=torch.tensor([[out[-1]]]), past_key_values=res.past_key_values,
                        use_cache=True)
    return out


def outputs_dir(builder: Builder) -> Path:
    """outputs.jsonl: each system's continuation of each N'Ko dev prompt."""
    systems = {"base": finetune.base_dir(builder), "tuned": finetune.finetune_dir(builder, "all")}
    inputs = {"version": RATINGS_VERSION, "systems": {k: v.name for k, v in systems.items()},
              "items": ITEMS, "temperature": TEMPERATURE, "corpora": lm._corpus_digests(),
              "libraries": library_versions(*lm.TORCH_LIBS)}

    def make(out: Path) -> dict[str, Any]:
        from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

        lines = (CORPORA_DIR / "nqo_Nkoo.dev").read_text("utf-8").splitlines()[:ITEMS]
        rows = []
        for system, folder in systems.items():
            model: Any = AutoModelForCausalLM.from_pretrained(folder)
            model.eval()
            tok = PreTrainedTokenizerFast.from_pretrained(folder)
            for item, line in enumerate(lines):
                ids = tok.encode(line)
                rows.append({"item": f"nko-dev-{item + 1:02d}", "system": system,
                             "prompt": tok.decode(ids[:PROMPT_TOKENS]),
                             "truth": tok.decode(ids[PROMPT_TOKENS:PROMPT_TOKENS + NEW_TOKENS]),
                             "output": tok.decode(_sample(model, ids[:PROMPT_TOKENS], item))})
        out.mkdir(parents=True, exist_ok=True)
        (out / "outputs.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        return {"outputs": len(rows)}

    return builder.artifact("ratings-outputs", inputs, make)


def _trigrams(text: str) -> Counter[str]:
    return Counter(text[i:i + 3] for i in range(len(text) - 2))


class _Judge:
    """A character-trigram model of N'Ko text neither system trained on."""

    def __init__(self, lines: list[str]) -> None:
        self.tri: Counter[str] = Counter()
        self.bi: Counter[str] = Counter()
        chars: set[str] = set()
        for line in lines:
            s = "\x02\x02" + line + "\x03"
            for i in range(2, len(s)):
                self.tri[s[i - 2:i + 1]] += 1
                self.bi[s[i - 2:i]] += 1
                chars.add(s[i])
        self.v = len(chars)

    def logprob(self, text: str) -> float:
        s = "\x02\x02" + text
        return float(np.mean([math.log((self.tri[s[i - 2:i + 1]] + 0.1)
                                       / (self.bi[s[i - 2:i]] + 0.1 * self.v))
                              for i in range(2, len(s))]))


def _script(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum("\u07c0" <= c <= "\u07ff" for c in letters) / max(1, len(letters))


def _f_score(hyp: str, ref: str) -> float:
    a, b = _trigrams(hyp), _trigrams(ref)
    both = sum((a & b).values())
    if not both:
        return 0.0
    p, r = both / sum(a.values()), both / sum(b.values())
    return 2 * p * r / (p + r)


def _csv(rows: list[tuple[str, str, str, str, int]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["rater", "item", "system", "dimension", "score"])
    writer.writerows(rows)
    return buf.getvalue()


def sheets_dir(builder: Builder) -> Path:
    """ratings.csv (the rater model), random.csv and swapped.csv (the controls)."""
    source = outputs_dir(builder)
    inputs = {"version": RATINGS_VERSION, "outputs": source.name, "biases": list(BIASES),
              "noise": NOISE, "slope": SLOPE, "judge_lines": list(JUDGE_LINES),
              "corpora": lm._corpus_digests()}

    def make(out: Path) -> dict[str, Any]:
        outputs = [json.loads(line) for line in
                   (source / "outputs.jsonl").read_text("utf-8").splitlines()]
        corpus = (CORPORA_DIR / "nqo_Nkoo").read_text("utf-8").splitlines()
        judge = _Judge(corpus[JUDGE_LINES[0]:JUDGE_LINES[1]])
        latent = {"fluency": [judge.logprob(o["output"]) for o in outputs],
                  "script": [_script(o["output"]) for o in outputs],
                  "adequacy": [_f_score(o["output"], o["truth"]) for o in outputs]}
        rated, noise = [], []
        for r, bias in enumerate(BIASES):
            rng = np.random.default_rng(1000 + r)
            unif = np.random.default_rng(2000 + r)
            for dim in DIMENSIONS:
                z = np.asarray(latent[dim])
                z = (z - z.mean()) / (z.std() or 1.0)
                for o, zi in zip(outputs, z, strict=True):
                    score = int(np.clip(np.rint(3 + SLOPE * zi + bias + rng.normal(0, NOISE)),
                                        1, 5))
                    rated.append((f"r{r + 1}", o["item"], o["system"], dim, score))
                    noise.append((f"r{r + 1}", o["item"], o["system"], dim,
                                  int(unif.integers(1, 6))))
        swap = {"tuned": "base", "base": "tuned"}
        out.mkdir(parents=True, exist_ok=True)
        (out / "ratings.csv").write_text(_csv(rated), "utf-8")
        (out / "random.csv").write_text(_csv(noise), "utf-8")
        (out / "swapped.csv").write_text(
            _csv([(a, b, swap[c], d, e) for a, b, c, d, e in rated]), "utf-8")
        return {"ratings": len(rated), "simulated": SIMULATED}

    return builder.artifact("ratings-sheets", inputs, make)


ARTIFACTS = {"ratings-outputs": outputs_dir, "ratings-sheets": sheets_dir}


def _spec(workspace: Any, subject_id: str, sheet: str, how: str) -> SubjectSpec:
    folder = sheets_dir(Builder.for_workspace(workspace))
    return SubjectSpec(subject_id, "rating-sheet",
                       {"path": str(folder / sheet), "tuned": "tuned", "baseline": "base",
                        "dimension": "fluency", "simulated": how}, source="demo")


def demo_ratings(workspace: Any) -> SubjectSpec:
    """Simulated fluency ratings of the N'Ko fine-tune against its base."""
    return _spec(workspace, "demo-ratings", "ratings.csv", SIMULATED)


def demo_ratings_random(workspace: Any) -> SubjectSpec:
    """Control: simulated raters who answer uniformly at random."""
    return _spec(workspace, "demo-ratings-random", "random.csv",
                 "simulated ratings: 4 raters answering uniformly at random (control)")


def demo_ratings_swapped(workspace: Any) -> SubjectSpec:
    """Control: the simulated ratings with the two system labels swapped."""
    return _spec(workspace, "demo-ratings-swapped", "swapped.csv",
                 SIMULATED + "; system labels swapped (control)")
