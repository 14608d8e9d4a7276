"""The bundle reader: every malformed-input kind reported as file:line:field, all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.runs.bundle import PREDICTIONS, ProblemLog, iter_prediction_rows, read_bundle
from harness.runs.validation import BundleError
from harness.workspace import SubjectUnavailable
from tests.harness.runs.kit import PAIRS, make_bundle, rewrite_lines, row, set_field


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "nqo-run")


def problems(folder: Path) -> list[str]:
    with pytest.raises(BundleError) as info:
        read_bundle(folder)
    return [str(p) for p in info.value.problems]


def test_a_clean_bundle_reads_with_its_snapshot(bundle: Path) -> None:
    b = read_bundle(bundle)
    assert len(b.rows) == len(PAIRS)
    assert b.info.synthetic is True
    assert b.info.script == "nqo"
    assert b.snapshot.n_rows == len(PAIRS)
    assert [r.line for r in b.rows] == list(range(1, len(PAIRS) + 1))


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda f: rewrite_lines(f, lambda ls: [ls[0], "{not json", *ls[2:]]),
     "nqo-run/test_predictions.jsonl:2:-: not valid JSON"),
    (lambda f: set_field(f, 3, "split", '"train"'),
     "nqo-run/test_predictions.jsonl:3:split: must be 'test', got 'train'"),
    (lambda f: set_field(f, 2, "partition", '"core"'),
     "nqo-run/test_predictions.jsonl:2:partition: 'core' is not one of"),
    (lambda f: set_field(f, 4, "cer_edits", "NaN"),
     "nqo-run/test_predictions.jsonl:4:cer_edits: NaN is not a finite number"),
    (lambda f: set_field(f, 1, "trajectory_scalars", '{"entropy_mean": Infinity}'),
     "nqo-run/test_predictions.jsonl:1:trajectory_scalars.entropy_mean: Infinity is not a finite"),
    (lambda f: set_field(f, 5, "feat_id", '"utt00000"'),
     "nqo-run/test_predictions.jsonl:5:feat_id: duplicate feat_id 'utt00000' (first at line 1)"),
    (lambda f: set_field(f, 2, "script", '"latn"'),
     "nqo-run/test_predictions.jsonl:2:script: is 'latn' but results.json says 'nqo'"),
    (lambda f: rewrite_lines(f, lambda ls: [ls[0], "", *ls[1:]]),
     "nqo-run/test_predictions.jsonl:2:-: empty line"),
])
def test_each_malformed_row_kind_is_named_by_file_line_and_field(bundle: Path, edit,
                                                                  expected: str) -> None:
    edit(bundle / PREDICTIONS)
    found = problems(bundle)
    assert any(p.startswith(expected) for p in found), found


def test_missing_field_is_named(bundle: Path) -> None:
    def drop(lines: list[str]) -> list[str]:
        data = json.loads(lines[2])
        del data["reference_text"]
        return [*lines[:2], json.dumps(data, ensure_ascii=False), *lines[3:]]
    rewrite_lines(bundle / PREDICTIONS, drop)
    assert ("nqo-run/test_predictions.jsonl:3:reference_text: missing (required field)"
            in problems(bundle))


def test_every_problem_is_collected_not_just_the_first(bundle: Path) -> None:
    set_field(bundle / PREDICTIONS, 1, "split", '"dev"')
    set_field(bundle / PREDICTIONS, 6, "partition", '"x"')
    (bundle / "train.log").write_text("")
    found = problems(bundle)
    assert any(":1:split:" in p for p in found)
    assert any(":6:partition:" in p for p in found)
    assert any("train.log:-: empty" in p for p in found)
    # totals are not checked against a partial set of rows: no echoes of the row problems
    assert not any("split.json" in p or "test_cer" in p for p in found)


@pytest.mark.parametrize("name", ["results.json", "split.json", "vocab.json", "train.log",
                                  "checkpoint.json", PREDICTIONS,
                                  "test_metrics_by_partition.json"])
def test_a_missing_artifact_is_named(bundle: Path, name: str) -> None:
    (bundle / name).unlink()
    assert any(p.startswith(f"nqo-run/{name}:-: missing") for p in problems(bundle))


def test_results_json_schema_problems_are_named(bundle: Path) -> None:
    data = json.loads((bundle / "results.json").read_text())
    data["cer_policy"]["normalization"] = "NFX"
    data["seed"] = -1
    (bundle / "results.json").write_text(json.dumps(data))
    found = problems(bundle)
    assert any(p.startswith("nqo-run/results.json:cer_policy.normalization: 'NFX'") for p in found)
    assert any(p.startswith("nqo-run/results.json:seed: -1 is below the minimum 0") for p in found)


def test_bad_json_document_names_line_and_column(bundle: Path) -> None:
    (bundle / "split.json").write_text('{\n  "dataset": "x",\n  oops\n}\n')
    assert any(p.startswith("nqo-run/split.json:3:-: not valid JSON") for p in problems(bundle))


def test_cooked_totals_are_caught(bundle: Path) -> None:
    """Totals in results.json and metrics_by_partition must be what the rows add up to."""
    data = json.loads((bundle / "results.json").read_text())
    data["test_cer"] = 0.01
    (bundle / "results.json").write_text(json.dumps(data))
    parts = json.loads((bundle / "test_metrics_by_partition.json").read_text())
    parts["partitions"]["stable"]["cer_edits"] += 1
    (bundle / "test_metrics_by_partition.json").write_text(json.dumps(parts))
    found = problems(bundle)
    assert any("results.json:test_cer: declares 0.01" in p for p in found)
    assert any("partitions.stable.cer_edits: declares" in p for p in found)


def test_split_json_must_describe_the_rows(bundle: Path) -> None:
    data = json.loads((bundle / "split.json").read_text())
    data["feat_id_set_sha256"] = "0" * 64
    data["n_rows"] = 7
    (bundle / "split.json").write_text(json.dumps(data))
    found = problems(bundle)
    assert "nqo-run/split.json:n_rows: declares 7 but test_predictions.jsonl holds 6 rows" in found
    assert any("split.json:feat_id_set_sha256: declares 000000000000..." in p for p in found)


def test_many_bad_rows_are_all_counted(tmp_path: Path) -> None:
    folder = make_bundle(tmp_path / "b", PAIRS * 10)
    rewrite_lines(folder / PREDICTIONS, lambda ls: ["[]"] * len(ls))
    with pytest.raises(BundleError) as info:
        read_bundle(folder)
    message = str(info.value)
    assert sum(":-: expected object" in str(p) for p in info.value.problems) == 60
    assert "... and" in message
    assert "more" in message


def test_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SubjectUnavailable, match="does not exist"):
        read_bundle(tmp_path / "nowhere")


def test_non_utf8_line_is_named(bundle: Path) -> None:
    path = bundle / PREDICTIONS
    path.write_bytes(path.read_bytes() + b"\xff\xfe\n")
    assert any(":7:-: not UTF-8 text" in p for p in problems(bundle))


line_bytes = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(lambda t: t.encode("utf-8")),
    st.builds(lambda i, h, r, k, v: json.dumps({**row(i, h, r), k: v}).encode(),
              st.integers(0, 50), st.text(max_size=8), st.text(max_size=8),
              st.sampled_from(["cer_edits", "split", "partition", "feat_id", "x", "mode"]),
              st.none() | st.integers(-3, 3) | st.text(max_size=4) | st.floats()),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line_bytes, max_size=8))
@example([b'{"a": NaN}', b"\x00", b"{}"])
def test_row_parser_never_crashes_and_accounts_for_every_line(tmp_path: Path,
                                                             lines: list[bytes]) -> None:
    """Fuzzed lines: each is a row or at least one problem on its own line; nothing raises."""
    clean = [b.replace(b"\n", b" ").replace(b"\r", b" ") for b in lines]
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"".join(c + b"\n" for c in clean))
    log = ProblemLog()
    rows = list(iter_prediction_rows(path, log))
    bad_lines = {p.line for p in log.items}
    good_lines = {r.line for r in rows}
    assert bad_lines | good_lines == set(range(1, len(clean) + 1))
    assert all(isinstance(r.cer_edits, int) and r.cer_edits >= 0 for r in rows)
