"""The claim library: ``uses:`` binds a shipped claim to a project's subjects, and the plugin
collects its falsifier beside the project's own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.contracts import ContractError, load_contracts
from harness.library import BINDING_KEYS, library_claims
from harness.orphans import find_orphans

LIBRARY = library_claims()
IDS = sorted(LIBRARY)
FIXTURES = [HealthCheck.function_scoped_fixture]


def _write(folder: Path, text: str, name: str = "mine.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text), "utf-8")
    return folder


def test_every_shipped_claim_is_in_the_library_with_its_falsifier() -> None:
    assert len(LIBRARY) == 33  # 21 + 11 from issues 14 and 15, 1 from 16
    for claim in LIBRARY.values():
        assert claim.module_path.is_file(), claim.id
        assert f'@pytest.mark.claim("{claim.id}"' in claim.module_path.read_text("utf-8")
        assert claim.kinds, f"{claim.id} declares no subject_kinds"


def test_a_binding_keeps_the_definition_and_sets_the_projects_parts(tmp_path: Path) -> None:
    folder = _write(tmp_path, """\
        uses:
          - claim: LM-VAL-BELOW-UNIFORM
            subjects: [mine]
            controls: [{subject: mine-untied, expect: FAIL}]
            params: {min_tokens: 500 count}
            max_age: 7d
        """)
    claim = load_contracts(folder)["LM-VAL-BELOW-UNIFORM"]
    definition = LIBRARY["LM-VAL-BELOW-UNIFORM"].raw
    assert claim.library == "harness.library.falsifiers.lm"
    assert claim.predicate_text == definition["predicate"]
    assert [g.id for g in claim.guards] == [g["id"] for g in definition["guards"]]
    assert str(claim.params["min_tokens"]) == "500 count"
    assert "max_unit_gap" in claim.params  # the library's other params stay
    assert claim.max_age_s == 7 * 86400
    assert [r.id for r in claim.subjects] == ["mine"]
    assert claim.area == "mine"


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES)
@given(claim_id=st.sampled_from(IDS), min_age=st.integers(1, 90),
       keys=st.sets(st.sampled_from(["max_age", "milestones", "statistics"])),
       file_level=st.booleans())
def test_any_library_claim_binds_and_its_hash_follows_the_binding(
        tmp_path_factory: pytest.TempPathFactory, claim_id: str, min_age: int,
        keys: set[str], file_level: bool) -> None:
    """Every library claim binds by name (as a table, or by id with file-level subjects), and
    the contract hash changes with the binding, so old evidence goes STALE when it does."""
    extra = {"max_age": f"{min_age}d", "milestones": "[m1]",
             "statistics": "{confidence: 0.9}"}
    body = "".join(f"    {k}: {extra[k]}\n" for k in sorted(keys))
    if file_level:
        text = (f"subjects: [s1]\ncontrols: [{{subject: c1, expect: FAIL}}]\n"
                f"uses: [{claim_id}]\n")
    else:
        text = (f"uses:\n  - claim: {claim_id}\n    subjects: [s1]\n"
                f"    controls: [{{subject: c1, expect: FAIL}}]\n{body}")
    a = load_contracts(_write(tmp_path_factory.mktemp("a"), text))[claim_id]
    again = load_contracts(_write(tmp_path_factory.mktemp("b"), text))[claim_id]
    other = load_contracts(_write(tmp_path_factory.mktemp("c"), text.replace("s1", "s2")))
    assert a.library == LIBRARY[claim_id].module
    assert a.sha256 == again.sha256
    assert other[claim_id].sha256 != a.sha256


@example(text="uses:\n  - claim: TIED-WEIGHTS-INTACT\n    subjects: [m]\n",
         expect="no negative control")
@example(text="uses:\n  - claim: TIED-WEIGHT-INTACT\n    subjects: [m]\n",
         expect="did you mean TIED-WEIGHTS-INTACT")
@example(text="uses: [TIED-WEIGHTS-INTACT]\n", expect="no subjects")
@example(text="uses:\n  - claim: TIED-WEIGHTS-INTACT\n    predicate: x > 1\n",
         expect="predicate")
@given(text=st.sampled_from(["uses: []\n", "uses: {a: 1}\n", "uses: [lower-case]\n"]),
       expect=st.just("uses"))
@settings(max_examples=10, deadline=None, suppress_health_check=FIXTURES)
def test_a_bad_binding_is_a_contract_error_naming_the_file_and_the_fix(
        tmp_path_factory: pytest.TempPathFactory, text: str, expect: str) -> None:
    folder = _write(tmp_path_factory.mktemp("bad"), text)
    with pytest.raises(ContractError) as err:
        load_contracts(folder)
    shown = "\n".join(err.value.problems)
    assert "mine.yaml" in shown
    assert expect in shown


def test_binding_keys_are_exactly_what_the_schema_lets_a_use_set() -> None:
    import json

    from harness.contracts import SCHEMA_DIR

    schema = json.loads((SCHEMA_DIR / "claim.schema.json").read_text("utf-8"))
    allowed = set(schema["$defs"]["use"]["oneOf"][1]["properties"]) - {"claim"}
    assert allowed == set(BINDING_KEYS)


def test_a_used_claim_is_measured_by_the_library_and_a_second_falsifier_is_named(
        tmp_path: Path) -> None:
    contracts = load_contracts(_write(tmp_path / "contracts", """\
        uses:
          - claim: TIED-WEIGHTS-INTACT
            subjects: [m]
            controls: [{subject: u, expect: FAIL}]
        """))
    falsifiers = tmp_path / "falsifiers"
    falsifiers.mkdir()
    assert find_orphans(contracts, falsifiers).problems == []
    (falsifiers / "test_mine.py").write_text(
        'import pytest\n\n@pytest.mark.claim("TIED-WEIGHTS-INTACT")\ndef test_x(): ...\n')
    problems = find_orphans(contracts, falsifiers).problems
    assert len(problems) == 1
    assert "test_mine.py:3" in problems[0]
    assert "falsify init --copy TIED-WEIGHTS-INTACT" in problems[0]


def test_only_the_used_claims_falsifiers_are_collected_and_claim_selects(
        pytester: pytest.Pytester) -> None:
    """A project using one lm claim collects that claim's tests, not the module's others, from
    its own falsifiers folder; --claim/--subject narrow the run."""
    (pytester.path / "contracts").mkdir()
    (pytester.path / "falsifiers").mkdir()
    (pytester.path / "falsify.toml").write_text("")
    _write(pytester.path / "contracts", """\
        uses:
          - claim: TIED-WEIGHTS-INTACT
            subjects: [demo-torch, demo-mlx]
            controls: [{subject: demo-untied-head, expect: FAIL}]
        """)
    result = pytester.runpytest_subprocess("falsifiers", "--co", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert len(ids) == 3
    assert all("test_tied_weights_intact[" in line for line in ids)
    assert all(line.startswith("falsifiers::lm.py::") for line in ids)  # outside the source
    narrowed = pytester.runpytest_subprocess("falsifiers", "--co", "-q", "--subject", "demo-mlx")
    assert [line for line in narrowed.outlines if "::" in line] == [
        next(line for line in ids if "[demo-mlx]" in line)]
    none = pytester.runpytest_subprocess("falsifiers", "--co", "-q", "--claim",
                                        "ENG-PPL-SANE")
    assert not [line for line in none.outlines if "::" in line]


def test_a_library_claim_bound_to_a_subject_of_another_kind_is_an_error_that_says_so(
        pytester: pytest.Pytester) -> None:
    """TIED-WEIGHTS-INTACT takes model subjects; bound to an eval set it is ERROR before its
    falsifier runs, with both kinds named, never an AttributeError from inside it."""
    (pytester.path / "falsifiers").mkdir()
    (pytester.path / "heldout.txt").write_text("one line\nanother line\n")
    (pytester.path / "falsify.toml").write_text(
        '[subjects.text]\nkind = "evalset"\npath = "heldout.txt"\n')
    _write(pytester.path / "contracts", """\
        uses:
          - claim: TIED-WEIGHTS-INTACT
            subjects: [text]
            controls: [{subject: demo-untied-head, expect: FAIL}]
        """)
    result = pytester.runpytest_subprocess("falsifiers", "-m", "live", "--subject", "text")
    assert result.ret == 1
    shown = "\n".join(result.outlines)
    assert ("TIED-WEIGHTS-INTACT takes subjects of kind model, but text is of kind evalset"
            in shown)
    import json

    records = [json.loads(line) for seg in (pytester.path / "evidence" / "ledger").glob("*.jsonl")
               for line in seg.read_text().splitlines()]
    assert [r["verdict"] for r in records] == ["ERROR"]
    assert "SubjectKindError" in records[0]["reasons"][0]
