"""The demo bundles: deterministic, built from the real corpora, honest about being synthetic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.demo import CORPORA_DIR
from harness.demo import bundles as demo
from harness.runs.bundle import PREDICTIONS, read_bundle
from harness.runs.compare import rescore
from harness.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FALSIFY_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield Workspace(REPO)


@pytest.fixture(scope="module")
def root(ws: Workspace) -> Path:
    return demo.demo_root(ws)


def test_rows_are_real_corpus_lines_paired_by_feat_id(root: Path) -> None:
    nqo = read_bundle(demo.build_bundle(root, demo.RunSpec("nqo", "trajectory")))
    latn = read_bundle(demo.build_bundle(root, demo.RunSpec("latn", "trajectory")))
    lines = {s: (CORPORA_DIR / demo.CORPUS[s]).read_text("utf-8").split("\n")
             for s in demo.SCRIPTS}
    for bundle, script in ((nqo, "nqo"), (latn, "latn")):
        for r in bundle.rows[:50]:
            assert r.reference_text == lines[script][int(r.feat_id.removeprefix("utt"))]
    assert [r.feat_id for r in nqo.rows] == [r.feat_id for r in latn.rows]
    assert nqo.snapshot.same_as(latn.snapshot)
    assert nqo.info.synthetic
    assert "synthetic" in nqo.info.generator["note"]
    assert {r.partition for r in nqo.rows} == {"stable", "boundary", "uncertain", "novelty"}


def test_builds_are_deterministic(tmp_path: Path, root: Path) -> None:
    run = demo.RunSpec("latn", "tar", seed=1)
    first = demo.build_bundle(root, run)
    again = demo.build_bundle(tmp_path, run)
    for name in ("results.json", "split.json", PREDICTIONS, "test_metrics_by_partition.json"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name


def test_other_snapshot_is_another_test_set(root: Path) -> None:
    s0 = read_bundle(demo.build_bundle(root, demo.RunSpec("nqo", "trajectory")))
    s1 = read_bundle(demo.build_bundle(root, demo.RunSpec("nqo", "trajectory", snapshot=1)))
    assert s0.snapshot.dataset_sha256 == s1.snapshot.dataset_sha256
    assert s0.snapshot.feat_id_set_sha256 != s1.snapshot.feat_id_set_sha256


def test_error_model_orders_the_runs(root: Path) -> None:
    """The documented model: N'Ko below Latin, trajectory below baseline, undertrained worst."""
    def cer(**kw: object) -> float:
        return read_bundle(demo.build_bundle(root, demo.RunSpec(**kw))).info.test_cer  # type: ignore[arg-type]
    assert cer(script="nqo", mode="trajectory") < cer(script="latn", mode="trajectory")
    assert cer(script="nqo", mode="trajectory") < cer(script="nqo", mode="baseline")
    assert cer(script="nqo", mode="trajectory", variant="undertrained") > cer(
        script="latn", mode="trajectory")


def test_tampered_bundle_reads_cleanly_but_rescoring_names_the_rows(root: Path) -> None:
    bundle = read_bundle(demo.tampered_bundle(root, demo.RunSpec("nqo", "trajectory")))
    found = rescore(bundle).mismatches
    assert len(found) == 25
    assert all(m.field == "cer_edits" and m.declared == 0 < m.recomputed for m in found)
    assert str(found[0]).startswith(f"{bundle.path.name}/test_predictions.jsonl:{found[0].line}:")
    clean = read_bundle(demo.build_bundle(root, demo.RunSpec("nqo", "trajectory")))
    assert rescore(clean).mismatches == ()


def test_lexicon_holds_training_words_only(root: Path) -> None:
    words = set(demo.lexicon_file(root).read_text("utf-8").split())
    test_ids, train_ids = demo._split(0)
    nqo = demo._lines("nqo")
    train_words = {w for i in train_ids for w in nqo[i].split()}
    assert words == train_words
    assert {w for i in test_ids for w in nqo[i].split()} - train_words  # test has unseen words


def test_scale_generator_streams_a_valid_bundle(tmp_path: Path) -> None:
    folder = demo.write_scale_bundle(tmp_path / "scale", n_rows=6500)
    bundle = read_bundle(folder)
    assert len(bundle.rows) == 6500
    assert bundle.rows[6193].reference_text == bundle.rows[0].reference_text  # cycles
    assert len({r.feat_id for r in bundle.rows}) == 6500


def test_demo_subjects_resolve(ws: Workspace) -> None:
    pair = ws.resolve("demo-pair-other-snapshot")
    assert not pair.a.snapshot.same_as(pair.b.snapshot)
    gate_spec = ws.spec("demo-gate-lexicon")
    assert gate_spec.kind == "gate-endpoint"
    assert Path(gate_spec.options["lexicon"]).is_file()
