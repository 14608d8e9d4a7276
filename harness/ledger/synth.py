"""A realistic synthetic ledger, written fast: for benchmarks of ``status``, ``gate`` and renders.

``write_synthetic_ledger(dir, 100_000)`` writes about 150 MB of valid, sealed, schema-valid
records (1-2 KB each: measurements with CIs, guards, inputs, git and environment provenance, a
small per-layer curve) in segments of ``per_segment`` records, with controls, hypothesis records
and a few amendments. Lines are exactly what ``Record.to_line`` writes, and ``verify`` finds no
problem in them; they are built from dicts rather than Records only for speed.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.ledger.keys import Signer
from harness.ledger.signing import Head, write_signature
from harness.records import RECORD_SCHEMA_VERSION, canonical_json, sha256_text

__all__ = ["synthetic_contracts", "write_synthetic_ledger"]

_START = datetime(2026, 1, 1, tzinfo=UTC)
_VERDICTS = ("PASS",) * 14 + ("FAIL", "FAIL", "SUSPECT", "INCONCLUSIVE", "ERROR", "SKIPPED")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _provenance(session: str) -> dict[str, Any]:
    """One session, one checkout: the provenance every record of a segment shares."""
    return {
        "git": {"commit": _sha(session)[:40], "branch": "main", "dirty": False,
                "diff_sha256": _sha(""), "root": "/srv/research", "why": None},
        "env": {"python": "3.11.9", "implementation": "CPython",
                "platform": "Linux-6.8.0-x86_64-with-glibc2.39", "machine": "x86_64",
                "packages": {"torch": "2.13.0", "mlx": None, "mlx_lm": None,
                             "transformers": "4.46.1", "numpy": "2.1.3"},
                "device": "cuda", "device_name": "NVIDIA H100 80GB HBM3"},
    }


def _measurements(rng: random.Random) -> list[dict[str, Any]]:
    nll = round(rng.uniform(2.0, 12.0), 6)
    half = round(rng.uniform(0.01, 0.2), 6)
    return [
        {"name": "val_nll", "value": nll, "unit": "nats", "n": 12_000,
         "ci": [nll - half, nll + half], "ci_level": 0.95},
        {"name": "vocab_size", "value": 151_643.0, "unit": "count"},
        {"name": "n_tokens", "value": 12_000.0, "unit": "count"},
        {"name": "bits_per_byte", "value": round(nll / 2.9, 6), "unit": "bits/byte", "n": 48_211},
    ]


class _Synth:
    def __init__(self, seed: int, n_claims: int, n_subjects: int) -> None:
        self.rng = random.Random(seed)
        self.claims = [f"SYN-LM-{i:03d}" for i in range(n_claims)]
        self.subjects = [f"model-{j}" for j in range(n_subjects)]
        self.inputs = {s: [{"path": f"models/{s}", "kind": "dir", "sha256": _sha(s),
                            "bytes": 16 * 1024**3},
                           {"path": "data/eng_Latn.dev", "kind": "file",
                            "sha256": _sha("eng.dev"), "bytes": 1_048_576}]
                       for s in self.subjects}
        self.claim_ids: list[tuple[str, str, str]] = []  # (id, claim, subject) to amend

    def body(self, i: int, created: datetime, session: str, prev: str | None) -> dict[str, Any]:
        rng = self.rng
        claim, subject = rng.choice(self.claims), rng.choice(self.subjects)
        kind, role, expect, hypothesis = "claim", "subject", None, None
        verdict = rng.choice(_VERDICTS)
        roll = rng.random()
        if roll < 0.05:
            kind, hypothesis, verdict = "hypothesis", f"H{rng.randint(1, 6)}", rng.choice(
                ("CONFIRMED", "REFUTED", "INCONCLUSIVE"))
        elif roll < 0.15:
            role, expect, verdict = "control", "FAIL", rng.choice(("FAIL",) * 9 + ("PASS",))
        amends = None
        if kind == "claim" and self.claim_ids and rng.random() < 0.001:
            target, claim, subject = rng.choice(self.claim_ids)
            amends = {"record": target, "why": "reran with fixed tokenizer"}
            kind = "amendment"
        rid = _sha(f"{session}:{i}")[:32]
        if kind == "claim":
            self.claim_ids.append((rid, claim, subject))
        return {
            "schema": RECORD_SCHEMA_VERSION, "id": rid, "kind": kind, "claim": claim,
            "claim_sha256": _sha(claim), "subject": subject, "role": role, "expect": expect,
            "verdict": verdict, "reasons": [f"val_nll {rng.uniform(2, 12):.2f} nats < ln(vocab_"
                                            f"size) 11.93 nats", "guard enough-tokens held"],
            "measurements": _measurements(rng),
            "guards": [{"id": "enough-tokens", "holds": True, "reason": "n_tokens 12000 ≥ 1000"},
                       {"id": "corpus-sane", "holds": True, "reason": "unk rate 0.01 % ≤ 1 %"}],
            "inputs": self.inputs[subject], "provenance": _provenance(session),
            "timing": {"started": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                       "duration_s": round(rng.uniform(0.5, 90), 3)},
            "node_id": f"falsifiers/test_lm.py::test_{claim.lower()}[{subject}]",
            "session": session, "created": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "prev": prev, "hypothesis": hypothesis, "amends": amends,
            "notes": [], "attachments": {"layer_nll": [round(rng.random(), 4) for _ in range(12)]},
        }


def write_synthetic_ledger(ledger_dir: Path, n_records: int = 100_000, *, seed: int = 0,
                           per_segment: int = 500, n_claims: int = 60, n_subjects: int = 8,
                           start: datetime = _START,
                           signer: Signer | None = None) -> list[Path]:
    """Write ``n_records`` sealed records into new segments under ``ledger_dir``; their paths.

    Records are 37 s apart from ``start``; a later ``start`` and another ``seed`` add sessions
    to an existing synthetic ledger. With ``signer``, each segment gets its ``.sig`` over all
    its records, as a writer holding that key leaves it.
    """
    synth = _Synth(seed, n_claims, n_subjects)
    ledger_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    when = start
    for first in range(0, n_records, per_segment):
        session = _sha(f"{seed}:{first}")[:16]
        path = ledger_dir / f"{when.strftime('%Y%m%dT%H%M%S%fZ')}-{session[:8]}-main.jsonl"
        prev: str | None = None
        lines = []
        for i in range(first, min(first + per_segment, n_records)):
            when += timedelta(seconds=37, microseconds=synth.rng.randint(0, 999_999))
            body = synth.body(i, when, session, prev)
            prev = sha256_text(canonical_json(body))
            lines.append(canonical_json({**body, "hash": prev}))
        data = ("\n".join(lines) + "\n").encode("utf-8")
        path.write_bytes(data)
        if signer is not None:
            head = Head(path.name, len(lines), len(data), hashlib.sha256(data).hexdigest(),
                        str(prev), session, "main")
            write_signature(path, head, signer)
        paths.append(path)
    return paths


def synthetic_contracts(n_claims: int = 60, n_subjects: int = 8) -> str:
    """A contracts file (YAML) for the synthetic ledger's claims: ``SYN-LM-000`` on
    ``model-1`` ... with ``model-0`` as the control, as ``write_synthetic_ledger`` records them."""
    subjects = ", ".join(f"model-{j}" for j in range(1, n_subjects))
    claims = [f"""\
  - id: SYN-LM-{i:03d}
    title: Synthetic claim {i}
    statement: Held-out loss below uniform on model set {i}.
    milestones: [m{i % 5}]
    max_age: 3650d
    measures:
      val_nll: {{unit: nats}}
      vocab_size: {{unit: count}}
      n_tokens: {{unit: count}}
      bits_per_byte: {{unit: bits/byte}}
    predicate: val_nll < ln(vocab_size)
    subjects: [{subjects}]
    controls:
      - subject: model-0
""" for i in range(n_claims)]
    return "claims:\n" + "".join(claims)
