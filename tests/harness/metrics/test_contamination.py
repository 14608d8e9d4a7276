"""Eval-set contamination: the cross-set near-duplicate search (shared with the eval-set dedup
guard), the eval-vs-train subject loader, and the README table of matches."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.demo import CORPORA_DIR
from harness.demo.evalsets import contaminate
from harness.metrics.contamination import load_eval_vs_train
from harness.metrics.dedup import canonical_text, cross_duplicates, jaccard, shingles
from harness.render.examples import contamination_table
from harness.workspace import SubjectSpec, Workspace, WorkspaceError

DEV = (CORPORA_DIR / "eng_Latn.dev").read_text("utf-8").splitlines()
TRAIN = (CORPORA_DIR / "eng_Latn").read_text("utf-8").splitlines()


def _sim(a: str, b: str) -> float:
    return jaccard(shingles(canonical_text(a)), shingles(canonical_text(b)))


@settings(max_examples=25, deadline=None)
@given(start=st.integers(0, 900), seed=st.integers(0, 10**6),
       threshold=st.sampled_from([0.5, 0.6, 0.8]))
def test_every_match_is_confirmed_and_copies_are_never_missed(start, seed, threshold):
    queries = contaminate(DEV[start:start + 60], TRAIN[:3000], every=6, seed=seed)
    queries.append(TRAIN[start].upper() + "!!")  # an exact copy up to case and punctuation
    found = cross_duplicates(queries, TRAIN[:3000], threshold)
    for m in found.matches:
        assert m.jaccard >= threshold
        assert m.jaccard == pytest.approx(_sim(queries[m.query], TRAIN[m.reference]))
    assert any(m.query == len(queries) - 1 and m.jaccard == 1.0 for m in found.matches)
    # a query with no match has no reference line as similar as the threshold among its exact
    # copies: equal canonical forms are looked up in a dict, never left to LSH
    matched = {m.query for m in found.matches}
    canon = {canonical_text(t) for t in TRAIN[:3000]}
    assert all(canonical_text(q) not in canon for i, q in enumerate(queries) if i not in matched)


def test_the_contaminated_dev_set_is_caught_and_the_clean_one_is_not():
    dirty = contaminate(DEV, TRAIN)
    replaced = [i for i, (a, b) in enumerate(zip(DEV, dirty, strict=True)) if a != b]
    assert len(replaced) == 100
    found = cross_duplicates(dirty, TRAIN, 0.5)
    hits = {m.query for m in found.matches}
    assert hits <= set(replaced)
    assert len(hits) >= 95  # recall of lightly edited copies at Jaccard 0.5
    assert cross_duplicates(DEV, TRAIN, 0.5).matches == ()


def test_bad_thresholds_and_empty_sets_are_errors():
    with pytest.raises(ValueError, match="threshold"):
        cross_duplicates(["a"], ["a"], 0.0)
    with pytest.raises(ValueError, match="no rows"):
        cross_duplicates([], ["a"], 0.5)
    with pytest.raises(ValueError, match="no reference rows"):
        cross_duplicates(["a"], [], 0.5)


def _spec(**options: object) -> SubjectSpec:
    return SubjectSpec("dev-vs-train", "eval-vs-train", dict(options))


@pytest.mark.parametrize(("options", "match"), [
    ({"train": ["t.txt"]}, "needs evalset"),
    ({"evalset": "dev"}, "train must be"),
    ({"evalset": "dev", "train": []}, "train must be"),
    ({"evalset": "dev", "train": [3]}, "train must be"),
])
def test_loader_errors_say_what_to_write(tmp_path, options, match):
    with pytest.raises(WorkspaceError, match=match):
        load_eval_vs_train(_spec(**options), Workspace(tmp_path))


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(st.text(max_size=12), max_size=6), bad_at=st.integers(0, 5))
def test_a_training_file_that_is_not_utf8_names_its_line(tmp_path_factory, lines, bad_at):
    root = tmp_path_factory.mktemp("train")
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    data = [line.encode("utf-8") for line in lines]
    bad = min(bad_at, len(data))
    data.insert(bad, b"caf\xe9")
    (root / "t.txt").write_bytes(b"\n".join(data))
    pair = load_eval_vs_train(_spec(evalset="dev", train="t.txt"), Workspace(root))
    with pytest.raises(WorkspaceError, match=rf"t\.txt:{bad + 1}: not UTF-8"):
        pair.train_lines()


def test_missing_training_file_is_named(tmp_path):
    pair = load_eval_vs_train(_spec(evalset="dev", train=["nope.txt"]), Workspace(tmp_path))
    with pytest.raises(WorkspaceError, match=r"nope\.txt"):
        pair.train_lines()


def test_matches_render_escaped_in_the_readme_table():
    hostile = "a | b `c` <script>\n# heading"
    record = SimpleNamespace(attachments={"contaminated_examples": [
        {"eval_row": 3, "eval_text": hostile, "train_file": "train.en", "train_line": 7,
         "train_text": hostile, "jaccard": 0.61}]})
    row = SimpleNamespace(record=record, ref=SimpleNamespace(id="dev-vs-train"))
    table = str(contamination_table([row]))
    body = table.splitlines()[2]
    assert "train.en:7" in body
    assert "0.61" in body
    assert body.count(" | ") == 5  # the text's pipe is escaped: still six cells
    assert "\n# heading" not in table
    assert contamination_table([SimpleNamespace(record=None, ref=row.ref)]) is None
