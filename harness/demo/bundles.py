"""Demo run bundles: synthetic ASR runs over REAL references, built deterministically.

No model is trained here and every bundle says so (``"synthetic": true`` in results.json; the
falsifiers copy it into their evidence). The references are the real line-aligned corpora
(CC BY-SA 4.0, see data/corpora/SOURCE.md): N'Ko lines (``nqo_Nkoo``) for script ``nqo``,
Bambara Latin lines (``bam_Latn``) for script ``latn``; line ``i`` of both is the same
utterance, so ``feat_id`` (``utt<i>``) pairs them.

Snapshot ``s<k>``: the test split holds the lines ``i`` with ``u_i < TEST_FRACTION``, where
``u = default_rng(k).random(6193)``; the rest are the training lines (the gate's lexicon is
built from the N'Ko training lines only).

Error model (per reference code point, documented in ``ERROR_RATES``): each utterance has a
difficulty ``d ~ Gamma(2, 0.5)`` (mean 1; drawn once per snapshot, shared by every script, mode
and seed, as an audio file's difficulty would be). A run with rates ``(sub, del, ins)`` makes,
at each reference character, a substitution with probability ``min(sub*d, .9)``, else a deletion
with ``min(del*d, .9)``; independently it inserts a character after it with ``min(ins*d, .9)``.
Substituted and inserted characters are drawn from the script's corpus with their corpus
frequencies (non-space characters only). Seeds only change the random stream. ``cer_edits`` and
``reference_chars`` in the rows are then COUNTED from the texts (harness.metrics.text), not
taken from the model. Partitions come from the trajectory scalars (see ``_partition``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

import numpy as np

from harness.demo import CORPORA_DIR
from harness.metrics.text import TextPolicy, char_edits, ref_chars
from harness.runs.bundle import PARTITIONS, PREDICTIONS
from harness.runs.snapshot import feat_id_set_sha256
from harness.workspace import SubjectSpec, Workspace

__all__ = [
    "ERROR_RATES",
    "GENERATOR_VERSION",
    "MODES",
    "SCRIPTS",
    "ErrorRates",
    "RunSpec",
    "build_bundle",
    "demo_root",
    "lexicon_file",
    "write_bundle",
    "write_scale_bundle",
]

GENERATOR_VERSION = 2
SCRIPTS = ("nqo", "latn")
MODES = ("baseline", "trajectory", "tar", "ttt")
SEEDS = (0, 1, 2)
CORPUS = {"nqo": "nqo_Nkoo", "latn": "bam_Latn"}
TEST_FRACTION = 0.2
SCALE_ROWS = 290_596
POLICY = {"normalization": "NFC", "whitespace": "collapse"}


@dataclass(frozen=True)
class ErrorRates:
    """Per-character error probabilities of a run, before the utterance's difficulty."""

    sub: float
    dele: float
    ins: float

    def scaled(self, factor: float) -> ErrorRates:
        return ErrorRates(self.sub * factor, self.dele * factor, self.ins * factor)


# The demo's "models". N'Ko (a phonemic script, one symbol per sound, tone marked) is written
# with fewer errors than Bambara in Latin script; trajectory decoding beats the baseline; TAR
# gains a little more; TTT (test-time training) gains nothing over trajectory here.
ERROR_RATES: dict[tuple[str, str], ErrorRates] = {
    ("nqo", "baseline"): ErrorRates(0.070, 0.030, 0.020),
    ("nqo", "trajectory"): ErrorRates(0.050, 0.020, 0.015),
    ("nqo", "tar"): ErrorRates(0.042, 0.017, 0.013),
    ("nqo", "ttt"): ErrorRates(0.050, 0.020, 0.015),
    ("latn", "baseline"): ErrorRates(0.090, 0.040, 0.030),
    ("latn", "trajectory"): ErrorRates(0.070, 0.030, 0.020),
    ("latn", "tar"): ErrorRates(0.060, 0.025, 0.017),
    ("latn", "ttt"): ErrorRates(0.070, 0.030, 0.020),
}
# An early checkpoint (the "latin-better" control): every rate times this factor.
UNDERTRAINED = 2.5
# Partition thresholds on the trajectory scalars (see _scalars and _partition).
NOVELTY_OOV = 0.25
STABLE_ENTROPY, BOUNDARY_ENTROPY = 1.0, 1.6


@dataclass(frozen=True)
class RunSpec:
    """One demo run: what it is, and which snapshot it was tested on."""

    script: str
    mode: str
    seed: int = 0
    snapshot: int = 0
    variant: str = ""  # "", "undertrained", "latin-baseline-rates"

    @property
    def name(self) -> str:
        tail = f"-{self.variant}" if self.variant else ""
        return f"{self.script}-{self.mode}-seed{self.seed}-s{self.snapshot}{tail}"

    @property
    def rates(self) -> ErrorRates:
        if self.variant == "latin-baseline-rates":  # a faulty decode: another run's error model
            return ERROR_RATES[("latn", "baseline")]
        base = ERROR_RATES[(self.script, self.mode)]
        return base.scaled(UNDERTRAINED) if self.variant == "undertrained" else base


@cache
def _lines(script: str) -> tuple[str, ...]:
    text = (CORPORA_DIR / CORPUS[script]).read_text(encoding="utf-8")
    return tuple(text.rstrip("\n").split("\n"))


@cache
def _alphabet(script: str) -> tuple[str, ...]:
    return tuple(sorted({c for line in _lines(script) for c in line if not c.isspace()}))


@cache
def _char_pool(script: str) -> tuple[str, ...]:
    """Every non-space character of the corpus, repeats kept: a uniform pick from it draws a
    character with its corpus frequency (rare foreign characters stay rare)."""
    return tuple(c for line in _lines(script) for c in line if not c.isspace())


@cache
def dataset_sha256() -> str:
    """sha256 of the demo dataset: both transcript files, in script order."""
    h = hashlib.sha256()
    for script in SCRIPTS:
        h.update((CORPORA_DIR / CORPUS[script]).read_bytes())
    return h.hexdigest()


@cache
def _split(snapshot: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(test line indices, train line indices) of a snapshot."""
    u = np.random.default_rng(snapshot).random(len(_lines("nqo")))
    test = tuple(int(i) for i in np.flatnonzero(u < TEST_FRACTION))
    train = tuple(int(i) for i in np.flatnonzero(u >= TEST_FRACTION))
    return test, train


@cache
def _difficulty(snapshot: int) -> tuple[float, ...]:
    rng = np.random.default_rng([snapshot, 7])
    return tuple(float(x) for x in rng.gamma(2.0, 0.5, size=len(_lines("nqo"))))


@cache
def _train_words(script: str, snapshot: int) -> frozenset[str]:
    lines = _lines(script)
    return frozenset(w for i in _split(snapshot)[1] for w in lines[i].split())


def _noisy(ref: str, rates: ErrorRates, d: float, alphabet: Sequence[str],
           rng: np.random.Generator) -> str:
    n = len(ref)
    ps, pd, pi = (min(r * d, 0.9) for r in (rates.sub, rates.dele, rates.ins))
    u = rng.random(n)
    ins = rng.random(n) < pi
    picks = rng.integers(len(alphabet), size=2 * n)
    chars = list(ref)
    for i in np.flatnonzero(u < ps + pd).tolist():  # errors are sparse: touch only them
        chars[i] = alphabet[picks[i]] if u[i] < ps else ""
    for i in np.flatnonzero(ins).tolist():
        chars[i] += alphabet[picks[n + i]]
    return "".join(chars).strip()


def _scalars(ref: str, rates: ErrorRates, d: float, known: frozenset[str],
             rng: np.random.Generator) -> dict[str, float]:
    """Synthetic decoder scalars: entropy tracks the expected error, oov_rate the novelty."""
    p = (rates.sub + rates.dele + rates.ins) * d
    words = ref.split()
    oov = sum(w not in known for w in words) / len(words) if words else 0.0
    return {"entropy_mean": round(0.4 + 8.0 * p + float(rng.normal(0.0, 0.15)), 6),
            "frames": float(12 * len(ref)), "oov_rate": round(oov, 6)}


def _partition(scalars: dict[str, float]) -> str:
    if scalars["oov_rate"] >= NOVELTY_OOV:
        return "novelty"
    if scalars["entropy_mean"] < STABLE_ENTROPY:
        return "stable"
    return "boundary" if scalars["entropy_mean"] < BOUNDARY_ENTROPY else "uncertain"


@dataclass(frozen=True)
class _Utterance:
    line: int
    feat_id: str
    reference: str
    difficulty: float


def _rows(run: RunSpec, utterances: Iterator[_Utterance]) -> Iterator[dict[str, Any]]:
    """Prediction rows, cer_edits and reference_chars counted from the texts."""
    policy = TextPolicy(**POLICY)
    rng = np.random.default_rng([run.snapshot, SCRIPTS.index(run.script), MODES.index(run.mode),
                                 run.seed, 1 if run.variant else 0])
    alphabet, known = _char_pool(run.script), _train_words(run.script, run.snapshot)
    for u in utterances:
        hyp = _noisy(u.reference, run.rates, u.difficulty, alphabet, rng)
        scalars = _scalars(u.reference, run.rates, u.difficulty, known, rng)
        yield {"feat_id": u.feat_id, "audio_id": f"demo-audio-{u.line:05d}", "split": "test",
               "script": run.script, "mode": run.mode, "asr_text": hyp,
               "reference_text": u.reference,
               "cer_edits": char_edits(hyp=hyp, ref=u.reference, policy=policy),
               "reference_chars": ref_chars(u.reference, policy),
               "trajectory_scalars": scalars, "partition": _partition(scalars)}


def _test_utterances(run: RunSpec) -> Iterator[_Utterance]:
    lines, diff = _lines(run.script), _difficulty(run.snapshot)
    for i in _split(run.snapshot)[0]:
        yield _Utterance(i, f"utt{i:05d}", lines[i], diff[i])


def _scale_utterances(script: str, n: int) -> Iterator[_Utterance]:
    lines, diff = _lines(script), _difficulty(0)
    for k in range(n):
        i = k % len(lines)
        yield _Utterance(i, f"utt{k:06d}", lines[i], diff[i])


class _Totals:
    def __init__(self) -> None:
        self.parts = {p: [0, 0, 0] for p in PARTITIONS}
        self.feat_ids: list[str] = []

    def add(self, row: dict[str, Any]) -> None:
        t = self.parts[row["partition"]]
        t[0], t[1], t[2] = t[0] + 1, t[1] + row["cer_edits"], t[2] + row["reference_chars"]
        self.feat_ids.append(row["feat_id"])

    @property
    def edits(self) -> int:
        return sum(t[1] for t in self.parts.values())

    @property
    def chars(self) -> int:
        return sum(t[2] for t in self.parts.values())


def _dump(obj: Any, fh: IO[str] | None = None) -> str:
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False)
    if fh is not None:
        fh.write(text + "\n")
    return text


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=2,
                               allow_nan=False) + "\n", encoding="utf-8")


def write_bundle(folder: Path, run: RunSpec, rows: Iterable[dict[str, Any]],
                 dataset: str) -> None:
    """Stream ``rows`` to test_predictions.jsonl and write the other six files around them."""
    totals = _Totals()
    with (folder / PREDICTIONS).open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            totals.add(row)
            _dump(row, fh)
    n = len(totals.feat_ids)
    cer = totals.edits / totals.chars if totals.chars else 0.0
    generator = {"module": __name__, "version": GENERATOR_VERSION, "rates": asdict(run.rates),
                 "snapshot": run.snapshot, "variant": run.variant or "none",
                 "note": "synthetic: reference lines with seeded character errors, no model"}
    _write_json(folder / "results.json", {
        "schema_version": 1, "run_id": f"demo-{run.name}", "script": run.script,
        "mode": run.mode, "seed": run.seed, "synthetic": True, "checkpoint": "checkpoint.json",
        "cer_policy": POLICY, "test_cer": cer, "test_rows": n, "generator": generator})
    _write_json(folder / "split.json", {
        "schema_version": 1, "dataset": dataset, "dataset_sha256": dataset_sha256(),
        "split": "test", "n_rows": n, "feat_id_set_sha256": feat_id_set_sha256(totals.feat_ids)})
    _write_json(folder / "vocab.json", {"schema_version": 1, "script": run.script,
                                        "tokens": [" ", *_alphabet(run.script)]})
    _write_json(folder / "checkpoint.json", {"error_model": generator})
    _write_json(folder / "test_metrics_by_partition.json", {"schema_version": 1, "partitions": {
        p: {"rows": r, "cer_edits": e, "reference_chars": c, "cer": e / c if c else 0.0}
        for p, (r, e, c) in totals.parts.items()}})
    (folder / "train.log").write_text(
        f"synthetic demo run {run.name}: no training ran; predictions come from the error "
        f"model in checkpoint.json ({__name__} v{GENERATOR_VERSION})\n", encoding="utf-8")


def _atomic_build(target: Path, build: Callable[[Path], None]) -> Path:
    """Build into a fresh temporary folder, then rename; a concurrent builder's result wins."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def _key() -> str:
    h = hashlib.sha256(json.dumps([GENERATOR_VERSION, dataset_sha256(), TEST_FRACTION,
                                   {f"{s}/{m}": asdict(r) for (s, m), r in ERROR_RATES.items()},
                                   UNDERTRAINED, POLICY]).encode())
    return h.hexdigest()[:16]


def demo_root(workspace: Workspace) -> Path:
    """Where the demo bundles live: <demo cache>/bundles/<key of every generator input>."""
    return workspace.demo_dir / "bundles" / _key()


def build_bundle(root: Path, run: RunSpec) -> Path:
    """The bundle of ``run`` under ``root`` (built on first use)."""
    dataset = f"demo multitext-nllb-seed nqo_Nkoo+bam_Latn, test split s{run.snapshot}"
    return _atomic_build(root / "runs" / run.name, lambda tmp: write_bundle(
        tmp, run, _rows(run, _test_utterances(run)), dataset))


def write_scale_bundle(folder: Path, n_rows: int = SCALE_ROWS, script: str = "nqo",
                       mode: str = "trajectory", seed: int = 0) -> Path:
    """A bundle of ``n_rows`` rows (the real corpus cycled), stream-written: for benchmarks."""
    run = RunSpec(script, mode, seed, 0)
    dataset = f"demo scale set: {n_rows} rows cycling {CORPUS[script]}"
    return _atomic_build(folder, lambda tmp: write_bundle(
        tmp, run, _rows(run, _scale_utterances(script, n_rows)), dataset))


def lexicon_file(root: Path, snapshot: int = 0) -> Path:
    """The gate's lexicon: every word of the N'Ko TRAINING lines of ``snapshot``, one a line."""
    target = root / f"lexicon-nqo-s{snapshot}.txt"
    if not target.is_file():
        words = sorted(_train_words("nqo", snapshot))
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("\n".join(words) + "\n", encoding="utf-8")
        tmp.replace(target)
    return target


def tampered_bundle(root: Path, run: RunSpec, n_rows: int = 25) -> Path:
    """A copy of ``run`` whose ``n_rows`` worst rows claim 0 edits, with every total cooked to
    agree (so only rescoring can tell): the SUSPECT control."""
    source = build_bundle(root, run)
    return _atomic_build(root / "runs" / f"{run.name}-tampered",
                         lambda tmp: _tamper(source, tmp, n_rows))


def _tamper(source: Path, tmp: Path, n_rows: int) -> None:
    shutil.copytree(source, tmp, dirs_exist_ok=True)
    rows = [json.loads(line) for line in (source / PREDICTIONS).read_text("utf-8").splitlines()]
    worst = sorted(range(len(rows)), key=lambda i: (-rows[i]["cer_edits"], i))[:n_rows]
    for i in worst:
        rows[i]["cer_edits"] = 0
    with (tmp / PREDICTIONS).open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            _dump(row, fh)
    _retotal(tmp, rows)


def _retotal(folder: Path, rows: list[dict[str, Any]]) -> None:
    totals = _Totals()
    for row in rows:
        totals.add(row)
    results = json.loads((folder / "results.json").read_text("utf-8"))
    results["test_cer"] = totals.edits / totals.chars
    results["run_id"] += "-tampered"
    _write_json(folder / "results.json", results)
    _write_json(folder / "test_metrics_by_partition.json", {"schema_version": 1, "partitions": {
        p: {"rows": r, "cer_edits": e, "reference_chars": c, "cer": e / c if c else 0.0}
        for p, (r, e, c) in totals.parts.items()}})


def matrix_folder(root: Path, name: str, runs: Sequence[RunSpec]) -> Path:
    """A run-matrix folder of links to the bundles of ``runs`` (built on first use)."""
    targets = [build_bundle(root, run) for run in runs]

    def link_all(tmp: Path) -> None:
        for t in targets:
            os.symlink(os.path.relpath(t, tmp.parent / name), tmp / t.name)
    return _atomic_build(root / name, link_all)


def spec(subject_id: str, kind: str, **options: Any) -> SubjectSpec:
    return SubjectSpec(subject_id, kind, {k: str(v) if isinstance(v, Path) else v
                                          for k, v in options.items()}, "demo")


# --- demo subjects (harness/demo/registry.py points here) -------------------------------------

MATRIX_RUNS = tuple(RunSpec(s, m, seed) for s in SCRIPTS for m in MODES for seed in SEEDS)
MISSING_CELL = RunSpec("latn", "ttt", 2)


def _matrix(ws: Workspace, sid: str, name: str, runs: Sequence[RunSpec]) -> SubjectSpec:
    folder = matrix_folder(demo_root(ws), name, runs)
    return spec(sid, "run-matrix", path=folder, scripts=list(SCRIPTS), modes=list(MODES),
                seeds=list(SEEDS))


def demo_run_matrix(ws: Workspace) -> SubjectSpec:
    return _matrix(ws, "demo-run-matrix", "matrix-s0", MATRIX_RUNS)


def demo_matrix_missing_cell(ws: Workspace) -> SubjectSpec:
    runs = [r for r in MATRIX_RUNS if r != MISSING_CELL]
    return _matrix(ws, "demo-matrix-missing-cell", f"matrix-s0-without-{MISSING_CELL.name}", runs)


def demo_matrix_incomplete_cell(ws: Workspace) -> SubjectSpec:
    """Every cell present, but one bundle lost its row-level predictions."""
    root = demo_root(ws)
    runs = [r for r in MATRIX_RUNS if r != MISSING_CELL]
    name = f"matrix-s0-{MISSING_CELL.name}-without-predictions"

    def build(tmp: Path) -> None:
        for run in runs:
            os.symlink(os.path.relpath(build_bundle(root, run), root / name), tmp / run.name)
        shutil.copytree(build_bundle(root, MISSING_CELL), tmp / MISSING_CELL.name)
        (tmp / MISSING_CELL.name / PREDICTIONS).unlink()
    folder = _atomic_build(root / name, build)
    return spec("demo-matrix-incomplete-cell", "run-matrix", path=folder, scripts=list(SCRIPTS),
                modes=list(MODES), seeds=list(SEEDS))


def _pair(ws: Workspace, sid: str, a: RunSpec, b: RunSpec, *, tamper: bool = False) -> SubjectSpec:
    root = demo_root(ws)
    path_a = tampered_bundle(root, a) if tamper else build_bundle(root, a)
    return spec(sid, "bundle-pair", a=path_a, b=build_bundle(root, b))


def _mode_pair(script: str, a: str, b: str) -> Callable[[Workspace], SubjectSpec]:
    def make(ws: Workspace) -> SubjectSpec:
        return _pair(ws, f"demo-{script}-{a}-vs-{b}", RunSpec(script, a), RunSpec(script, b))
    return make


def _script_pair(mode: str) -> Callable[[Workspace], SubjectSpec]:
    def make(ws: Workspace) -> SubjectSpec:
        return _pair(ws, f"demo-nqo-vs-latn-{mode}", RunSpec("nqo", mode), RunSpec("latn", mode))
    return make


demo_nqo_vs_latn_trajectory = _script_pair("trajectory")
demo_nqo_vs_latn_baseline = _script_pair("baseline")
demo_nqo_trajectory_vs_baseline = _mode_pair("nqo", "trajectory", "baseline")
demo_latn_trajectory_vs_baseline = _mode_pair("latn", "trajectory", "baseline")
demo_nqo_baseline_vs_trajectory = _mode_pair("nqo", "baseline", "trajectory")
demo_nqo_tar_vs_trajectory = _mode_pair("nqo", "tar", "trajectory")
demo_latn_tar_vs_trajectory = _mode_pair("latn", "tar", "trajectory")
demo_nqo_trajectory_vs_tar = _mode_pair("nqo", "trajectory", "tar")
demo_nqo_ttt_vs_trajectory = _mode_pair("nqo", "ttt", "trajectory")
demo_latn_ttt_vs_trajectory = _mode_pair("latn", "ttt", "trajectory")


def demo_pair_latin_better(ws: Workspace) -> SubjectSpec:
    """N'Ko from an early (undertrained) checkpoint against the Latin trajectory run."""
    return _pair(ws, "demo-pair-latin-better", RunSpec("nqo", "trajectory", variant="undertrained"),
                 RunSpec("latn", "trajectory"))


def demo_pair_other_snapshot(ws: Workspace) -> SubjectSpec:
    """N'Ko tested on snapshot s1 against Latin tested on s0: not comparable."""
    return _pair(ws, "demo-pair-other-snapshot", RunSpec("nqo", "trajectory", snapshot=1),
                 RunSpec("latn", "trajectory"))


def demo_pair_tampered_edits(ws: Workspace) -> SubjectSpec:
    """The N'Ko trajectory run with its 25 worst rows' cer_edits cooked to 0."""
    return _pair(ws, "demo-pair-tampered-edits", RunSpec("nqo", "trajectory"),
                 RunSpec("latn", "trajectory"), tamper=True)


def _gate(ws: Workspace, sid: str, policy: str, **options: str) -> SubjectSpec:
    root = demo_root(ws)
    return spec(sid, "gate-endpoint", path=build_bundle(root, RunSpec("nqo", "trajectory")),
                lexicon=lexicon_file(root), policy=policy, **options)


def demo_gate_lexicon(ws: Workspace) -> SubjectSpec:
    return _gate(ws, "demo-gate-lexicon", "lexicon")


def demo_gate_accept_all(ws: Workspace) -> SubjectSpec:
    return _gate(ws, "demo-gate-accept-all", "accept-all")


# The repairs proposed by a served model (harness/demo/repairer.py behind mlx_lm.server).
def demo_gate_model(ws: Workspace) -> SubjectSpec:
    return _gate(ws, "demo-gate-model", "model-lexicon", proposer="demo-repairer-served")


def demo_gate_model_near(ws: Workspace) -> SubjectSpec:
    return _gate(ws, "demo-gate-model-near", "model-near", proposer="demo-repairer-served")


def demo_gate_model_all(ws: Workspace) -> SubjectSpec:
    return _gate(ws, "demo-gate-model-all", "model-all", proposer="demo-repairer-served")


# --- seed groups (harness/groups.py): one configuration, three seeds ---------------------------

REVERSED_SEED = 2  # the control's faulty member


def _seed_pair(seed: int, variant: str = "") -> Callable[[Workspace], SubjectSpec]:
    tail = f"-{variant}" if variant else ""

    def make(ws: Workspace) -> SubjectSpec:
        return _pair(ws, f"demo-nqo-vs-latn-trajectory-seed{seed}{tail}",
                     RunSpec("nqo", "trajectory", seed, variant=variant),
                     RunSpec("latn", "trajectory", seed))
    return make


demo_nqo_vs_latn_trajectory_seed1 = _seed_pair(1)
demo_nqo_vs_latn_trajectory_seed2 = _seed_pair(2)
# The faulty step: seed 2's N'Ko run decoded with the Latin BASELINE run's error model (a wrong
# decoder config picked up for one seed); the bundle is built and rescored like any other. (The
# Latin trajectory rates would tie per character and give an interval around 0, not a reversal.)
demo_nqo_vs_latn_trajectory_seed2_latin_baseline_rates = _seed_pair(
    REVERSED_SEED, "latin-baseline-rates")

SEED_MEMBERS = ("demo-nqo-vs-latn-trajectory", "demo-nqo-vs-latn-trajectory-seed1",
                "demo-nqo-vs-latn-trajectory-seed2")


def demo_nqo_vs_latn_seeds(ws: Workspace) -> SubjectSpec:
    """N'Ko against Latin, trajectory mode, snapshot s0, seeds 0, 1 and 2."""
    return spec("demo-nqo-vs-latn-seeds", "group", member_kind="bundle-pair",
                members=list(SEED_MEMBERS))


def demo_nqo_vs_latn_seeds_one_reversed(ws: Workspace) -> SubjectSpec:
    """The same group, its seed-2 member replaced by the run decoded with Latin error rates."""
    members = [*SEED_MEMBERS[:REVERSED_SEED],
               f"demo-nqo-vs-latn-trajectory-seed{REVERSED_SEED}-latin-baseline-rates"]
    return spec("demo-nqo-vs-latn-seeds-one-reversed", "group", member_kind="bundle-pair",
                members=members)
