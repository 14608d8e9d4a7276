"""Eval sets in both formats (harness.metrics.evalset): the counting rules and JSON Lines errors.

The class: any JSON Lines file, well formed or not. Well-formed files (any text, any Unicode line
separator inside a string, blank lines between objects, other fields, either escaping) read to the
same examples as the ``lines`` file of the same texts; a malformed line is an EvalSetError naming
the file, its line number and the fix, never another exception and never a silent drop.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.metrics import evalset, lm
from harness.metrics.evalset import EvalSetError, normalise_text, parse_jsonl, read_evalset
from harness.workspace import Workspace, WorkspaceError
from tests.harness.toyspace import write_toyspace

FIXTURE = [HealthCheck.function_scoped_fixture]


def test_lm_still_exports_the_eval_set_api() -> None:
    """Falsifiers import eval sets from harness.metrics.lm; the move kept those names."""
    for name in ("EvalSet", "EvalSetError", "read_evalset", "load_evalset", "normalise_text",
                 "duplicate_count"):
        assert getattr(lm, name) is getattr(evalset, name)


def test_lines_format_counts_non_blank_lines_and_drops_repeats(tmp_path: Path) -> None:
    path = tmp_path / "set.txt"
    path.write_text("a  cat\n\n   \nA cat\na cat\r\ndog\n\n")
    got = read_evalset(path)
    assert got.texts == ("a cat", "A cat", "dog")  # case is kept; whitespace runs collapse
    assert (got.n_raw, got.n_dedup, got.n_duplicates, got.format) == (4, 3, 1, "lines")


def test_jsonl_reads_the_text_field(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('{"text": "one", "id": 1}\n\n{"text": "two"}\n{"text": "one"}\n')
    got = read_evalset(path, fmt="jsonl")
    assert (got.texts, got.n_raw, got.n_dedup, got.n_duplicates) == (("one", "two"), 3, 2, 1)
    path.write_text('{"prompt": "p", "q": "x"}\n')
    assert read_evalset(path, fmt="jsonl", text_field="prompt").texts == ("p",)


@pytest.mark.parametrize(("line", "words"), [
    ('{"text": "a",}', "not JSON (Expecting property name"),
    ('"just a string"', "a JSON str, not an object"),
    ("[1, 2]", "a JSON list, not an object"),
    ('{"body": "a"}', "has no 'text' field (its keys: body)"),
    ('{"text": 3}', "field 'text' is a JSON int, not the example's text"),
    ('{"text": null}', "field 'text' is a JSON NoneType"),
    ('{"text": "  "}', "field 'text' is an empty string"),
    ("[" * 100_000, "not JSON (nested too deep)"),
    ('{"text": ' + "1" * 5000 + "}", "not JSON (Exceeds the limit"),
])
def test_bad_jsonl_names_the_file_the_line_and_the_fix(tmp_path: Path, line: str,
                                                      words: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('{"text": "fine"}\n\n' + line + "\n")
    with pytest.raises(EvalSetError) as info:
        read_evalset(path, fmt="jsonl")
    text = str(info.value)
    assert text.startswith(f"{path}:3: ")
    assert words in text
    assert 'each line holds one JSON object such as {"text": "an example"}' in text


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
TEXTS = st.lists(TEXT.filter(lambda t: bool(normalise_text(t))), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE)
@given(TEXTS, st.booleans(), st.lists(st.sampled_from(["", " ", "\t", "\r"]), max_size=3),
       st.sampled_from(["text", "body", "é"]))
@example(["a\u2028b", "c\u0085d", "a\u2028b"], False, [""], "text")
def test_well_formed_jsonl_reads_like_the_same_texts(tmp_path: Path, texts: list[str],
                                                     ascii_only: bool, blanks: list[str],
                                                     field: str) -> None:
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    rows = [json.dumps({field: t, "n": i}, ensure_ascii=ascii_only) for i, t in enumerate(texts)]
    body = "\n".join(rows[:1] + blanks + rows[1:]) + "\n"
    (root / "set.jsonl").write_text(body, encoding="utf-8", newline="")
    got = read_evalset(root / "set.jsonl", fmt="jsonl", text_field=field)
    wanted = list(dict.fromkeys(normalise_text(t) for t in texts))
    assert list(got.texts) == wanted
    assert (got.n_raw, got.n_dedup) == (len(texts), len(wanted))
    assert got.n_duplicates == got.n_raw - got.n_dedup
    if all(len(t.splitlines()) == 1 for t in texts):  # as a lines file: the same examples
        (root / "set.txt").write_text("\n".join(texts) + "\n", encoding="utf-8", newline="")
        lines = read_evalset(root / "set.txt")
        assert (lines.texts, lines.n_raw, lines.n_dedup) == (got.texts, got.n_raw, got.n_dedup)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXT, st.builds(json.dumps, st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["text", "t", "x"]), inner, max_size=3), max_leaves=8))), max_size=6))
@example(['{"text": "a"}', "{", '{"text": 1e999}'])
def test_any_jsonl_reads_or_names_its_line(lines: list[str]) -> None:
    text = "\n".join(line.replace("\n", " ") for line in lines)
    path = Path("/data/set.jsonl")
    try:
        got, error = parse_jsonl(text, path), ""
    except EvalSetError as exc:
        got, error = [], str(exc)
    if error:
        lineno = int(error.removeprefix(f"{path}:").split(":", 1)[0])
        assert text.split("\n")[lineno - 1].strip(), "a blank line is never the one blamed"
        assert "JSON" in error or "field" in error
        assert "each line holds one JSON object" in error
    else:
        assert len(got) == sum(1 for line in text.split("\n") if line.strip())
        assert all(isinstance(t, str) and normalise_text(t) for t in got)


def _space(tmp_path: Path, table: str) -> Workspace:
    write_toyspace(tmp_path)
    (tmp_path / "set.jsonl").write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    (tmp_path / "falsify.toml").write_text(f'[subjects.s]\nkind = "evalset"\npath = "set.jsonl"\n'
                                           f"{table}")
    return Workspace.discover(tmp_path)


def test_the_config_options_reach_the_loader(tmp_path: Path) -> None:
    ws = _space(tmp_path, 'format = "jsonl"\ntext_field = "prompt"\n')
    got = ws.resolve("s")
    assert (got.texts, got.format) == (("a", "b"), "jsonl")


def test_text_field_without_jsonl_is_refused(tmp_path: Path) -> None:
    ws = _space(tmp_path, 'text_field = "prompt"\n')
    with pytest.raises(EvalSetError, match=r'text_field applies to format = "jsonl" only'):
        ws.resolve("s")


def test_a_misspelled_format_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"subjects\.s\.format must be .*did you mean 'jsonl'"):
        _space(tmp_path, 'format = "josnl"\n')
