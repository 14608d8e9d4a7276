"""DOC-NUMBERS-MATCH-LOG: the READMEs the demo's card script writes beside the Trainer logs it
wrote, quotes and their errors, the run-doc subject kind, and generated documents in every
common number format against a JSON Lines log."""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.config_schema import config_problems
from harness.contracts import Claim, ContractSet
from harness.demo.runcards import CARD_QUOTES, CARD_UNITS
from harness.evidence import Evidence
from harness.printed import parse_printed
from harness.runs.logs import RunLogError
from harness.runs.runcards import MEASURES
from harness.runs.rundoc import RunDoc, RunDocError, parse_quotes
from harness.verdict import Verdict, judge
from harness.workspace import Workspace

CLAIM = "DOC-NUMBERS-MATCH-LOG"


def _doc(doc: Path, quotes: Any, root: Path, log: Path, units: dict[str, str]) -> RunDoc:
    """The document beside the log at ``log``, a run-log subject of a workspace at ``root``."""
    workspace = Workspace(root, {"subjects": {"run": {"kind": "run-log", "path": str(log),
                                                      "units": units}}})
    return RunDoc("doc", doc, "run", parse_quotes(quotes, "test"), workspace)


def _judge(claim: Claim, doc: RunDoc, root: Path) -> tuple[Verdict, Evidence]:
    evidence = Evidence(claim, claim.subjects[0], root)
    MEASURES[CLAIM](evidence, doc)
    return judge(claim, claim.subjects[0].id, evidence.measurements), evidence


def _card(folder: Path, root: Path, quotes: Any = None) -> RunDoc:
    return _doc(folder / "README.md", quotes or CARD_QUOTES, root, folder, CARD_UNITS)


def test_the_card_scripts_readme_agrees_with_its_log(
        good_run: Path, contracts: ContractSet, tmp_path: Path) -> None:
    verdict, evidence = _judge(contracts[CLAIM], _card(good_run, tmp_path), tmp_path)
    assert verdict.status == "PASS", verdict.format()
    assert [m.value for m in evidence.measurements if m.name == "n_quoted"] == [len(CARD_QUOTES)]


def test_a_readme_counting_the_planned_shards_fails_naming_the_line(
        planned_run: Path, contracts: ContractSet, tmp_path: Path) -> None:
    verdict, evidence = _judge(contracts[CLAIM], _card(planned_run, tmp_path), tmp_path)
    assert verdict.status == "FAIL", verdict.format()
    assert any("README.md:5" in note and "says 7 count" in note and "log says 6 count" in note
               for note in evidence.notes), evidence.notes


def test_a_reworded_sentence_leaves_its_quote_unmatched_and_the_verdict_suspect(
        good_run: Path, contracts: ContractSet, tmp_path: Path) -> None:
    quotes = [*CARD_QUOTES, {"text": "final CER {} %", "series": "eval_loss", "unit": "nats"}]
    verdict, evidence = _judge(contracts[CLAIM], _card(good_run, tmp_path, quotes), tmp_path)
    assert verdict.status == "SUSPECT", verdict.format()
    assert any("final CER {} %" in note for note in evidence.notes)


def test_a_quote_in_a_unit_the_series_cannot_take_is_an_error(
        good_run: Path, contracts: ContractSet, tmp_path: Path) -> None:
    quotes = [{"text": "Trained on {} shards", "series": "train_shards", "unit": "bits"}]
    with pytest.raises(RunLogError, match=r"Trained on \{\} shards"):
        _judge(contracts[CLAIM], _card(good_run, tmp_path, quotes), tmp_path)


@pytest.mark.parametrize(("quote", "message"), [
    ({"text": "trained on shards", "series": "s", "unit": "count"}, "one {} where"),
    ({"text": "on {} shards", "unit": "count"}, "either series"),
    ({"text": "on {} shards", "series": "s", "field": "epoch", "unit": "count"}, "either"),
    ({"text": "on {} shards", "field": "lr", "unit": "count"}, "field 'lr' is not one of"),
    ({"text": "on {} shards", "series": "s", "take": "mean", "unit": "count"}, "take 'mean'"),
    ({"text": "on {} shards", "series": "s", "unit": "furlongs"}, "unit:"),
    ({"text": "on {} shards", "series": "s", "unit": "count", "aggr": "x"}, "unknown key"),
    ("on {} shards", "a quote is a table"),
])
def test_a_bad_quote_is_an_error_naming_the_entry(quote: Any, message: str) -> None:
    with pytest.raises(RunDocError, match=r"test: quotes\[0\]") as err:
        parse_quotes([quote], "test")
    assert message in str(err.value)


def test_a_run_doc_subject_from_the_config_resolves_to_its_document_and_log(
        good_run: Path, tmp_path: Path) -> None:
    config = {"subjects": {
        "run": {"kind": "run-log", "path": str(good_run), "units": CARD_UNITS},
        "card": {"kind": "run-doc", "doc": str(good_run / "README.md"), "run": "run",
                 "quotes": CARD_QUOTES}}}
    assert config_problems(config, tmp_path / "falsify.toml") == []
    doc = Workspace(tmp_path, config, tmp_path / "falsify.toml").resolve("card")
    assert isinstance(doc, RunDoc)
    assert doc.run.format == "trainer"


def test_a_quote_key_the_schema_does_not_know_is_refused_in_the_config(tmp_path: Path) -> None:
    config = {"subjects": {"card": {"kind": "run-doc", "doc": "README.md", "run": "run",
                                    "quotes": [{"text": "{} shards", "unit": "count",
                                                "aggregation": "last"}]}}}
    assert any("aggregation" in p for p in config_problems(config, tmp_path / "falsify.toml"))


def test_a_run_that_is_not_a_run_log_is_an_error_naming_the_subject(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("trained on 3 shards\n")
    config = {"subjects": {
        "lines": {"kind": "evalset", "path": str(tmp_path / "README.md")},
        "card": {"kind": "run-doc", "doc": "README.md", "run": "lines",
                 "quotes": [{"text": "on {} shards", "series": "s", "unit": "count"}]}}}
    doc = Workspace(tmp_path, config).resolve("card")
    with pytest.raises(RunDocError, match="run 'lines' is a EvalSet, not a run log"):
        _ = doc.run


# --- generated documents against a JSON Lines log --------------------------------------------

_FORMS = {
    "plain": lambda v, p: f"{v:.{p}f}",
    "grouped": lambda v, p: f"{v:,.{p}f}",
    "sci": lambda v, p: f"{v:.{p}e}",
}


def _generated(root: Path, logged: float, printed: str, unit: str, log_unit: str) -> RunDoc:
    log_path = root / "log.jsonl"
    lines = [{"step": 1, "metric": logged * 3}, {"step": 2, "metric": logged}]
    log_path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    doc = root / "README.md"
    doc.write_text(f"# Run\n\nThe final metric was **{printed}{unit and ' ' + unit}**.\n")
    quote = {"text": "final metric was {}" + (f" {unit}" if unit else ""), "series": "metric",
             "take": "last", "unit": {"%": "percent", "": "count"}.get(unit, unit)}
    return _doc(doc, [quote], root, log_path, {"metric": log_unit})


@settings(max_examples=80, deadline=None)
@given(mantissa=st.integers(1, 10**8), places=st.integers(0, 5),
       form=st.sampled_from(sorted(_FORMS)), delta=st.floats(-50, 50, allow_nan=False),
       percent=st.booleans())
def test_any_quoted_number_off_the_log_beyond_its_precision_fails(
        contracts: ContractSet, mantissa: int, places: int, form: str, delta: float,
        percent: bool) -> None:
    """The log holds ``printed + delta`` half-units of the last printed place; the verdict is
    FAIL exactly when that is more than half a unit away (percent quotes: a ratio logged)."""
    value = float(Decimal(mantissa).scaleb(-places))
    text = _FORMS[form](value, places)
    printed = parse_printed(text)
    half = 0.5 * 10.0 ** printed.exponent
    assume(abs(abs(delta) - 1) > 1e-6)
    logged = printed.value + delta * half
    assume(logged > 0)
    with tempfile.TemporaryDirectory() as tmp:
        if percent:
            doc = _generated(Path(tmp), logged / 100, text, "%", "ratio")
        else:
            doc = _generated(Path(tmp), logged, text, "", "count")
        verdict, _ = _judge(contracts[CLAIM], doc, Path(tmp))
    assert verdict.status == ("PASS" if abs(delta) < 1 else "FAIL"), (text, logged,
                                                                       verdict.format())
