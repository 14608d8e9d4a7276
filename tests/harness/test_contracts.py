"""Contract loading: every bad contract is a clear error naming the file, the claim and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contracts import ContractError, load_contracts, parse_duration
from harness.records import Status
from tests.harness.toyspace import CONTRACT


def write(tmp_path: Path, text: str, name: str = "toy.yaml") -> Path:
    folder = tmp_path / "contracts"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ContractError) as info:
        load_contracts(write(tmp_path, text))
    return str(info.value)


def test_toy_contract_loads(tmp_path: Path) -> None:
    contracts = load_contracts(write(tmp_path, CONTRACT))
    claim = contracts["TOY-TEXT-NOT-TINY"]
    assert [r.id for r in claim.subjects] == ["short-lines", "few-lines"]
    assert claim.controls[0].expect is Status.FAIL
    assert claim.max_age_s == 30 * 86400
    assert claim.params["min_lines"].unit.name == "count"
    assert contracts.milestones() == {"core": ["TOY-TEXT-NOT-TINY"]}
    assert contracts.areas == {"toy": ("TOY-TEXT-NOT-TINY",)}


def test_hash_ignores_formatting_but_not_meaning(tmp_path: Path) -> None:
    a = load_contracts(write(tmp_path / "a", CONTRACT))["TOY-TEXT-NOT-TINY"].sha256
    reformatted = CONTRACT.replace("    milestones: [core]", "    milestones:\n      - core")
    b = load_contracts(write(tmp_path / "b", reformatted))["TOY-TEXT-NOT-TINY"].sha256
    changed = CONTRACT.replace("min_lines: 10 count", "min_lines: 11 count")
    c = load_contracts(write(tmp_path / "c", changed))["TOY-TEXT-NOT-TINY"].sha256
    assert a == b != c


def test_unknown_key(tmp_path: Path) -> None:
    typo = CONTRACT.replace("    max_age: 30d", "    max_age: 30d\n    thresold: 3")
    text = problems(tmp_path, typo)
    assert "toy.yaml: claim TOY-TEXT-NOT-TINY: key claims/0" in text
    assert "'thresold' was unexpected" in text


def test_predicate_naming_unmeasured_quantity(tmp_path: Path) -> None:
    text = problems(tmp_path, CONTRACT.replace("predicate: mean_line_bytes <= max_line_bytes",
                                               "predicate: median_line_bytes <= max_line_bytes"))
    assert "claim TOY-TEXT-NOT-TINY: key predicate: names 'median_line_bytes'" in text
    assert "add it to measures or params" in text


def test_unit_mismatch(tmp_path: Path) -> None:
    text = problems(tmp_path, CONTRACT.replace("check: n_lines >= min_lines",
                                               "check: n_lines >= max_line_bytes"))
    assert "claim TOY-TEXT-NOT-TINY: key guards.enough-lines: unit mismatch" in text


def test_bare_number_beside_information_is_refused(tmp_path: Path) -> None:
    nats = CONTRACT.replace("mean_line_bytes: {unit: bytes}", "mean_line_bytes: {unit: nats}")
    nats = nats.replace("max_line_bytes: 80 bytes", "max_line_bytes: 17.21")
    assert "unit mismatch" in problems(tmp_path, nats)


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, CONTRACT, "a.yaml")
    with pytest.raises(ContractError) as info:
        load_contracts(write(tmp_path, CONTRACT.replace("area: toy", "area: toy2"), "b.yaml"))
    assert "b.yaml: claim TOY-TEXT-NOT-TINY: key id: duplicate claim id" in str(info.value)


@pytest.mark.parametrize("text", ["- just\n- a list\n", "42\n", "''\n"])
def test_yaml_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    assert "must be a YAML mapping with a 'claims' list" in problems(tmp_path, text)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    text = problems(tmp_path, CONTRACT.replace("    title: The text", "   title: [The text"))
    assert "toy.yaml:" in text
    assert "not valid YAML" in text


def test_control_must_expect_non_pass(tmp_path: Path) -> None:
    text = problems(tmp_path, CONTRACT.replace("expect: FAIL", "expect: PASS"))
    assert "controls/0/expect" in text


def test_claim_needs_a_negative_control(tmp_path: Path) -> None:
    no_controls = CONTRACT.split("    controls:")[0]
    text = problems(tmp_path, no_controls)
    assert "'controls' is a required property" in text


def test_subject_param_must_be_declared(tmp_path: Path) -> None:
    text = problems(tmp_path, CONTRACT.replace(
        "subjects: [short-lines, few-lines]",
        "subjects:\n      - id: short-lines\n        params: {max_lines: 5 count}\n"
        "      - few-lines"))
    assert "key subjects.short-lines.params.max_lines: unknown param" in text


def test_unknown_unit(tmp_path: Path) -> None:
    text = problems(tmp_path, CONTRACT.replace("min_lines: 10 count", "min_lines: 10 furlongs"))
    assert "key params.min_lines: unknown unit 'furlongs'" in text


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    with pytest.raises(ContractError, match="no contracts"):
        load_contracts(tmp_path / "contracts")


@pytest.mark.parametrize(("text", "seconds"), [("30d", 2592000.0), ("12h", 43200.0),
                                               ("90m", 5400.0), ("45s", 45.0), (10, 10.0)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match=r"write e\.g\. 30d"):
        parse_duration("a month")


# --- the compile cache --------------------------------------------------------------------------


def test_compile_cache_serves_unchanged_files_and_recompiles_edited_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second load reads the cache (compiling is then impossible and not needed); an edit,
    a corrupt entry or a foreign entry is compiled again; the result is always the same."""
    from harness import contracts as contracts_mod

    folder, cache = write(tmp_path, CONTRACT), tmp_path / "cache"
    fresh = load_contracts(folder, cache)
    assert len(list(cache.glob("*.pickle"))) == 1
    with monkeypatch.context() as m:
        m.setattr(contracts_mod, "_compile_file", lambda *a: pytest.fail("compiled again"))
        assert load_contracts(folder, cache) == fresh
    (folder / "toy.yaml").write_text(CONTRACT.replace("max_age: 30d", "max_age: 7d"))
    assert load_contracts(folder, cache)["TOY-TEXT-NOT-TINY"].max_age_s == 7 * 86400
    entry = next(cache.glob("*.pickle"))
    for junk in (b"not a pickle", __import__("pickle").dumps(("key", {"a": 1}))):
        entry.write_bytes(junk)
        assert load_contracts(folder, cache)["TOY-TEXT-NOT-TINY"].max_age_s == 7 * 86400
    assert load_contracts(folder, cache) == load_contracts(folder)


def test_compile_cache_never_hides_a_problem(tmp_path: Path) -> None:
    """A file with problems is not cached: the same error comes back on every load, and the
    cached good version of a file is not used once the file is broken."""
    folder, cache = write(tmp_path, CONTRACT), tmp_path / "cache"
    load_contracts(folder, cache)
    broken = CONTRACT.replace("max_age: 30d", "max_age: soon")
    (folder / "toy.yaml").write_text(broken)
    for _ in range(2):
        with pytest.raises(ContractError, match="max_age"):
            load_contracts(folder, cache)
    (folder / "dup.yaml").write_text(CONTRACT.replace("area: toy", "area: toy2"))
    (folder / "toy.yaml").write_text(CONTRACT)
    with pytest.raises(ContractError, match="duplicate claim id"):
        load_contracts(folder, cache)


# --- hostile YAML: every command and pytest collection refuse it by file, line and limit -------

BOMB = "lol: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi",
                                                                strict=True))


def test_alias_bomb_is_a_contract_error_naming_file_line_and_limit(tmp_path: Path) -> None:
    assert len(BOMB) < 400
    text = problems(tmp_path, CONTRACT + BOMB)
    assert "toy.yaml:" in text
    assert "(the node limit)" in text


def test_anchors_shared_between_claims_still_load(tmp_path: Path) -> None:
    shared = CONTRACT.replace("    measures:\n", "    measures: &m\n", 1)
    second = CONTRACT.split("claims:\n", 1)[1].replace("TOY-TEXT-NOT-TINY", "TOY-TWO")
    second = second.split("    measures:")[0] + "    measures: *m\n    params:" + \
        second.split("    params:")[1]
    contracts = load_contracts(write(tmp_path, shared + second))
    assert contracts["TOY-TWO"].measures == contracts["TOY-TEXT-NOT-TINY"].measures


def test_a_key_written_twice_is_refused(tmp_path: Path) -> None:
    twice = CONTRACT.replace("    max_age: 30d\n", "    max_age: 30d\n    max_age: 1d\n")
    text = problems(tmp_path, twice)
    assert "toy.yaml:9: key 'max_age' is written twice in one mapping (first at line 8)" in text


def test_oversized_contract_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    text = problems(tmp_path, CONTRACT + "#" + "x" * (2 << 20) + "\n")
    assert f"toy.yaml: is {len(CONTRACT) + 2 + (2 << 20):,} bytes" in text
    assert "over the 1,048,576-byte limit" in text


def test_contracts_check_exits_2_on_a_bomb(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main
    from tests.harness.toyspace import write_toyspace

    write_toyspace(tmp_path, contract=CONTRACT + BOMB)
    assert main(["contracts", "check", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "contracts do not load" in err
    assert "toy.yaml:" in err
    assert "(the node limit)" in err


def test_pytest_collection_names_the_bomb(pytester: pytest.Pytester) -> None:
    from tests.harness.toyspace import write_toyspace

    write_toyspace(pytester.path, contract=CONTRACT + BOMB)
    result = pytester.runpytest_subprocess("falsifiers", "-m", "live", timeout=120)
    assert result.ret != 0
    out = result.stdout.str() + result.stderr.str()
    assert "contracts do not load" in out
    assert "toy.yaml:" in out
    assert "(the node limit)" in out
