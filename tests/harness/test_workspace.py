"""Workspace discovery and subject resolution: config first, then the demo; clear errors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.workspace import SubjectNotConfigured, SubjectUnavailable, Workspace, WorkspaceError
from tests.harness.toyspace import write_toyspace


def space(tmp_path: Path, config: str) -> Workspace:
    write_toyspace(tmp_path)
    (tmp_path / "falsify.toml").write_text(config)
    return Workspace.discover(tmp_path / "contracts")


def test_discovers_root_from_a_subfolder(tmp_path: Path) -> None:
    ws = space(tmp_path, 'ledger = "records"\n')
    assert ws.root == tmp_path.resolve()
    assert ws.ledger_dir == tmp_path.resolve() / "records"


def test_configured_subject_resolves_paths_against_the_root(tmp_path: Path) -> None:
    ws = space(tmp_path, '[subjects.my-corpus]\nkind = "evalset"\npath = "data/shards"\n')
    spec = ws.spec("my-corpus")
    assert spec.kind == "evalset"
    assert spec.source == "config"
    assert spec.path() == (tmp_path / "data" / "shards").resolve()


def test_unconfigured_subject_falls_back_to_the_demo(tmp_path: Path) -> None:
    ws = space(tmp_path, "")
    assert ws.spec("demo-run-matrix").source == "demo"


def test_unknown_subject_is_not_configured_with_the_fix_in_the_files_form(tmp_path: Path) -> None:
    ws = space(tmp_path, "")
    with pytest.raises(SubjectNotConfigured, match=r"add \[subjects\.nope\] with kind"):
        ws.spec("nope")
    assert not isinstance(SubjectNotConfigured("x", "x"), SubjectUnavailable)  # never SKIPPED


def test_subject_without_kind_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"falsify\.toml: \[subjects\.x\] needs a 'kind'"):
        space(tmp_path, '[subjects.x]\npath = "a"\n')
    ws = Workspace(tmp_path, {"subjects": {"x": {"path": "a"}}}, tmp_path / "falsify.toml")
    with pytest.raises(WorkspaceError, match=r"\[tool\.falsify\.subjects\.x\] needs a 'kind'"):
        ws.spec("x")  # a config handed in, not read: still checked where it is used


def test_unknown_kind_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError,
                       match=r"key subjects\.x\.kind must be one of bridge, bundle, "):
        space(tmp_path, '[subjects.x]\nkind = "telescope"\n')
    ws = Workspace(tmp_path, {"subjects": {"x": {"kind": "telescope"}}})
    with pytest.raises(WorkspaceError, match="unknown kind 'telescope'"):
        ws.resolve("x")


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    write_toyspace(tmp_path)
    (tmp_path / "falsify.toml").write_text("[subjects\n")
    with pytest.raises(WorkspaceError, match=r"falsify\.toml: not valid TOML"):
        Workspace.discover(tmp_path)


@pytest.mark.parametrize(("text", "words"), [
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deep to read"),
    ("subjects = " + "[" * 200 + "]" * 200 + "\n", "subjects must be a table"),
    ("x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n", "nested too deep to read"),
    ("a = '" + "x" * (1 << 20) + "'\n", "over the 1,048,576-byte limit"),
    ("a = '\udcff'", "not valid TOML"),
])
def test_hostile_toml_is_a_named_error(tmp_path: Path, text: str, words: str) -> None:
    write_toyspace(tmp_path)
    (tmp_path / "falsify.toml").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(WorkspaceError, match=r"falsify\.toml") as info:
        Workspace.discover(tmp_path)
    assert words in str(info.value)


def test_no_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="no falsify workspace"):
        Workspace.discover(tmp_path)


# --- the config is checked against its schema: wrong types and unknown keys are usage errors ----


def test_ledger_5_is_a_usage_error_naming_key_and_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ledger = 5` used to end in a traceback with exit 1."""
    from harness.cli import main

    write_toyspace(tmp_path)
    (tmp_path / "falsify.toml").write_text("ledger = 5\n")
    for command in (["status"], ["contracts", "check"], ["gate"], ["verify"]):
        assert main([*command, "--root", str(tmp_path)]) == 2, command
        err = capsys.readouterr().err
        assert f"{tmp_path / 'falsify.toml'}: key ledger must be a folder path" in err
        assert "got an integer (5)" in err


def test_the_pyproject_prefix_in_falsify_toml_names_the_right_form(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as info:
        space(tmp_path, '[tool.falsify.subjects.x]\nkind = "model"\npath = "m"\n')
    assert "falsify.toml: unknown key tool:" in str(info.value)
    assert "write [subjects.x], not [tool.falsify.subjects.x]" in str(info.value)


def test_pyproject_section_is_checked_with_its_full_key(tmp_path: Path) -> None:
    write_toyspace(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "toy"\n[tool.falsify]\nledgr = "x"\n'
        '[tool.falsify.subjects.m]\nkind = "model"\nuntie = 1\n')
    with pytest.raises(WorkspaceError) as info:
        Workspace.discover(tmp_path)
    text = str(info.value)
    assert ("pyproject.toml: unknown key(s) tool.falsify.ledgr; did you mean 'ledger'?; "
            "known here: cache,") in text
    assert "key tool.falsify.subjects.m.untie must be true or false, got an integer (1)" in text
    (tmp_path / "pyproject.toml").write_text('[tool]\nfalsify = 3\n')
    with pytest.raises(WorkspaceError, match=r"\[tool\.falsify\] must be a table, got an integer"):
        Workspace.discover(tmp_path)


def test_the_plugin_reports_a_bad_config_as_a_usage_error(pytester: pytest.Pytester) -> None:
    write_toyspace(pytester.path, extra={"falsify.toml": "ledger = 5\n"})
    result = pytester.runpytest_subprocess("falsifiers", "-m", "live", timeout=120)
    assert result.ret != 0
    out = result.stdout.str() + result.stderr.str()
    assert "the workspace config is wrong; nothing was run or recorded" in out
    assert "falsify.toml: key ledger must be a folder path" in out
    assert "Traceback" not in out


def test_schema_kinds_and_options_match_the_loaders() -> None:
    from harness.config_schema import subject_kinds
    from harness.models.load import _OPTIONS
    from harness.workspace import LOADERS

    kinds = subject_kinds()
    assert set(kinds) == set(LOADERS)
    assert kinds["model"] == _OPTIONS


# generated configs, written as real TOML files -------------------------------------------------

KEY = st.text("abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=8)
SCALAR = st.one_of(st.integers(-10**6, 10**6), st.booleans(),
                   st.floats(allow_nan=False, allow_infinity=False),
                   st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=8))
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEY, inner, max_size=3)), max_leaves=6)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"


def toml(config: dict[str, object]) -> str:
    return "".join(f'"{k}" = {toml_value(v)}\n' for k, v in config.items())


def check(tmp_path: Path, config: dict[str, object], pyproject: bool) -> WorkspaceError | None:
    """Discover a workspace holding ``config``; the WorkspaceError, or None when it is valid."""
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    write_toyspace(root)
    if pyproject:
        body = "".join(f'"{k}" = {toml_value(v)}\n' for k, v in config.items())
        (root / "pyproject.toml").write_text(f'[project]\nname = "x"\n[tool.falsify]\n{body}')
    else:
        (root / "falsify.toml").write_text(toml(config))
    try:
        Workspace.discover(root)
    except WorkspaceError as exc:  # the only exception a config may raise
        return exc
    return None


FIXTURE = [HealthCheck.function_scoped_fixture]  # tmp_path is only a parent: each example mkdtemps
TOP_TYPES = {"contracts": str, "ledger": str, "falsifiers": str, "paper": str, "cache": str,
             "probes": list, "subjects": dict, "skip_unconfigured": bool}


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE)
@given(st.dictionaries(KEY.filter(lambda k: k not in TOP_TYPES), VALUE, min_size=1, max_size=3),
       st.booleans())
@example({"tool": {"falsify": {"subjects": {"x": {"kind": "model"}}}}}, False)
def test_unknown_keys_are_named(tmp_path: Path, config: dict[str, object],
                                pyproject: bool) -> None:
    error = check(tmp_path, config, pyproject)
    assert error is not None
    prefix = "tool.falsify." if pyproject else ""
    for key in config:
        assert f"{prefix}{key}" in str(error)


def _wrong(kind: type) -> st.SearchStrategy[object]:
    return VALUE.filter(lambda v: not isinstance(v, kind) or (kind is list and any(
        not isinstance(x, str) for x in v)) or (kind is dict and bool(v)))


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURE)
@given(st.sampled_from(sorted(TOP_TYPES)).flatmap(lambda k: st.tuples(st.just(k),
                                                                      _wrong(TOP_TYPES[k]))),
       st.booleans())
@example(("ledger", 5), False)
def test_wrong_types_are_named(tmp_path: Path, bad: tuple[str, object], pyproject: bool) -> None:
    key, value = bad
    error = check(tmp_path, {key: value}, pyproject)
    assert error is not None
    assert f"{'tool.falsify.' if pyproject else ''}{key}" in str(error)
    assert "Traceback" not in str(error)


GOOD_OPTION = {"path": st.just("p"), "backend": st.sampled_from(["torch", "mlx"]),
               "untie": st.booleans(), "dtype": st.just("float32"), "url": st.just("http://h:1"),
               "timeout_s": st.floats(0.1, 60), "retries": st.integers(0, 10),
               "max_response_bytes": st.integers(1024, 10**8), "policy": st.just("lexicon"),
               "scripts": st.just(["a"]), "modes": st.just(["b"]), "seeds": st.just([0]),
               "faults": st.just({"s": "H1"}), "shards": st.just("data"),
               "vocab_size": st.integers(2, 10**6), "unk_id": st.integers(0, 10),
               "format": st.just("jsonl"), "text_field": st.just("text"),
               "units": st.just({"loss": "nats"}), "greater_is_better": st.booleans(),
               "series": st.just({"loss": "train_loss"}),
               "quotes": st.just([{"text": "{} shards", "series": "shards", "unit": "count"}]),
               "hub": st.just("org/name"), "revision": st.just("main"),
               "bridge": st.sampled_from(["bam-latn-nqo", "none"]),
               "member_kind": st.just("bundle-pair"), "members": st.just(["a", "b"]),
               "adapted_layers": st.just([4, 5]), "max_examples": st.integers(1, 1000),
               "train": st.sampled_from(["t.txt", ["a.txt", "b.txt"]]),
               "reference": st.just("t.json"), "port": st.just("p.json"),
               "parity": st.just("p.jsonl"), "cached": st.just("sampling:greedy"),
               "stateless": st.just("pkg.sampling:recompute"), "scale": st.just([1, 7]),
               "tuned": st.just("ft"), "baseline": st.just("base"),
               "dimension": st.just("fluency"), "simulated": st.just("a rater model"),
               "prompts": st.just("prompts.txt"), "think": st.just(["<t>", "</t>"]),
               "max_new_tokens": st.integers(1, 512), "temperature": st.floats(0, 2),
               "seed": st.integers(0, 9), "force_budget": st.integers(0, 99),
               "api_key_env": st.just("MY_KEY"), "serve": st.just("mlx-folder"),
               "server": st.sampled_from(["mlx_lm", "scoring"])}


@st.composite
def subject_tables(draw: st.DrawFn) -> tuple[dict[str, object], str | None]:
    """A subject table of a random kind: its options right, or one option unknown or wrong."""
    from harness.config_schema import subject_kinds

    kinds = subject_kinds()
    kind = draw(st.sampled_from(sorted(kinds)))
    table: dict[str, object] = {"kind": kind}
    for option in sorted(kinds[kind]):
        if draw(st.booleans()):
            table[option] = draw(GOOD_OPTION.get(option, st.just("id")))
    if kind == "model":  # path and hub exclude each other; revision needs hub
        if "path" in table:
            table.pop("hub", None)
        if "hub" not in table:
            table.pop("revision", None)
    fault = draw(st.sampled_from(["none", "unknown", "wrong-type"]))
    if fault == "unknown":
        name = draw(KEY.filter(lambda k: k not in kinds[kind] and k != "kind"))
        table[name] = draw(VALUE)
        return table, name
    if fault == "wrong-type" and len(table) > 1:
        name = draw(st.sampled_from(sorted(set(table) - {"kind"})))
        table[name] = draw(st.sampled_from([[{"x": 1}], {"x": 1}, -5]))
        return table, name
    return table, None


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURE)
@given(subject_tables(), st.booleans())
def test_subject_tables_are_checked_per_kind(tmp_path: Path,
                                            case: tuple[dict[str, object], str | None],
                                            pyproject: bool) -> None:
    table, bad = case
    error = check(tmp_path, {"subjects": {"s": table}}, pyproject)
    if bad is None:
        assert error is None
    else:
        assert error is not None
        assert f"subjects.s.{bad}" in str(error)
