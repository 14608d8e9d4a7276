"""Mutation testing (`falsify mutate`) on toy workspaces with real files and a real falsifier.

The toy falsifier reads a real eval set through an ``lm-eval`` subject (it never touches the
model) and measures its size and line lengths, so every operator's outcome is known in advance.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.contracts import load_contracts
from harness.ledger import Ledger, verify
from harness.mutate import Outcome, contract_mutants, measurement_mutants, mutate_claim
from harness.mutate.operators import comparisons, flip_text
from harness.records import Measurement, Status
from harness.verdict import judge
from harness.workspace import Workspace
from tests.harness.toyspace import write_toyspace

CONTRACT = """\
area: toy
claims:
  - id: TOY-EVAL-SHORT
    title: Eval lines are short, on enough of them
    statement: The mean eval line is at most max_chars characters, over at least min_lines lines.
    measures:
      mean_chars: {unit: count}
      n_lines: {unit: count}
      rate: {unit: ratio, doc: "share of lines under max_chars"}
      loss: {unit: nats}
    params:
      max_chars: 30 count
      min_lines: 30 count
      max_loss: 1 nats
    predicate: mean_chars <= max_chars and loss < max_loss
    guards:
      - id: enough-lines
        check: n_lines >= min_lines
    subjects: [toy-pair]
    controls:
      - subject: toy-pair-few
        expect: SUSPECT
        why: ten lines only
      - subject: toy-pair-long
        expect: FAIL
        why: lines of 60 characters
  - id: TOY-VACUOUS
    title: A claim whose second branch always holds
    statement: Lines are short, or there is at least one line.
    measures:
      mean_chars: {unit: count}
      n_lines: {unit: count}
    params:
      max_chars: 30 count
    predicate: mean_chars <= max_chars or n_lines >= 1 count
    guards:
      - id: some-lines
        check: n_lines >= 5 count
    subjects: [toy-pair]
    controls:
      - subject: toy-pair-long
        expect: FAIL
        why: it cannot fail, and the control says so
    mutation:
      limitations:
        - mutant: "drop-guard:some-lines"
          why: no control has fewer than five lines
"""

FALSIFIER = '''\
import pytest

pytestmark = pytest.mark.live


def _measure(evidence, subject, workspace):
    evalset = workspace.resolve(subject.id).evalset
    evidence.input(evalset.path)
    texts = evalset.texts
    evidence.measure("mean_chars", sum(map(len, texts)) / len(texts), unit="count")
    evidence.measure("n_lines", len(texts), unit="count")
    return texts


@pytest.mark.claim("TOY-EVAL-SHORT")
def test_short(evidence, subject, workspace):
    texts = _measure(evidence, subject, workspace)
    evidence.measure("rate", sum(len(t) < 30 for t in texts) / len(texts), unit="ratio",
                     n=len(texts))
    evidence.measure("loss", 0.8, unit="nats", n=len(texts))


@pytest.mark.claim("TOY-VACUOUS")
def test_vacuous(evidence, subject, workspace):
    _measure(evidence, subject, workspace)
'''

CONFIG = """\
[project]
name = "toy"
version = "0"

[tool.falsify.subjects.toy-eval]
kind = "evalset"
path = "data/eval.txt"

[tool.falsify.subjects.toy-few]
kind = "evalset"
path = "data/few.txt"

[tool.falsify.subjects.toy-long]
kind = "evalset"
path = "data/long.txt"

[tool.falsify.subjects.toy-pair]
kind = "lm-eval"
model = "no-model"
evalset = "toy-eval"

[tool.falsify.subjects.toy-pair-few]
kind = "lm-eval"
model = "no-model"
evalset = "toy-few"

[tool.falsify.subjects.toy-pair-long]
kind = "lm-eval"
model = "no-model"
evalset = "toy-long"
"""


def _lines(n: int, width: int, tag: str) -> str:
    return "".join(f"{tag} {i:03d} " + "x" * (width - 9) + "\n" for i in range(n))


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_toyspace(tmp_path_factory.mktemp("mutate"), CONTRACT, FALSIFIER, {
        "data/eval.txt": _lines(40, 20, "ok"), "data/few.txt": _lines(10, 20, "few"),
        "data/long.txt": _lines(40, 60, "long")})
    (root / "pyproject.toml").write_text(CONFIG)
    return root


@pytest.fixture(scope="module")
def reports(toy: Path) -> dict[str, object]:
    ws = Workspace.discover(toy)
    contracts = load_contracts(ws.contracts_dir)
    return {cid: mutate_claim(ws, contracts[cid]) for cid in ("TOY-EVAL-SHORT", "TOY-VACUOUS")}


def _outcomes(report: object) -> dict[str, Outcome]:
    return {r.mutant.id: r.outcome for r in report.results}  # type: ignore[attr-defined]


def test_guard_a_control_relies_on_kills_drop_guard(reports: dict[str, object]) -> None:
    """toy-pair-few must be SUSPECT through enough-lines: without the guard it PASSes."""
    outcomes = _outcomes(reports["TOY-EVAL-SHORT"])
    assert outcomes["drop-guard:enough-lines"] is Outcome.KILLED
    result = next(r for r in reports["TOY-EVAL-SHORT"].results  # type: ignore[attr-defined]
                  if r.mutant.id == "drop-guard:enough-lines")
    assert "toy-pair-few: PASS (control must get SUSPECT)" in result.why


def test_flipped_comparisons_are_killed(reports: dict[str, object]) -> None:
    outcomes = _outcomes(reports["TOY-EVAL-SHORT"])
    assert outcomes["flip:mean_chars <= max_chars"] is Outcome.KILLED
    assert outcomes["flip:loss < max_loss"] is Outcome.KILLED


def test_vacuous_claim_lets_mutants_survive(reports: dict[str, object]) -> None:
    """Negating a disjunct that never decides the claim changes nothing: the tool says so."""
    report = reports["TOY-VACUOUS"]
    outcomes = _outcomes(report)
    assert outcomes["flip:mean_chars <= max_chars"] is Outcome.SURVIVED
    assert outcomes["flip:n_lines >= 1 count"] is Outcome.SURVIVED
    assert outcomes["drop-guard:some-lines"] is Outcome.SURVIVED
    undocumented = {r.mutant.id for r in report.undocumented}  # type: ignore[attr-defined]
    assert "drop-guard:some-lines" not in undocumented  # the contract documents it
    assert "flip:n_lines >= 1 count" in undocumented
    assert report.status is Status.FAIL  # type: ignore[attr-defined]


def test_unit_swap_survives_an_upper_bound_in_nats(reports: dict[str, object]) -> None:
    """0.8 nats relabelled bits is 0.55 nats: still below 1 nats; nothing cross-checks it."""
    assert _outcomes(reports["TOY-EVAL-SHORT"])["swap-unit:nats->bits"] is Outcome.SURVIVED


def test_halving_the_eval_set_is_killed_by_the_size_guard(reports: dict[str, object]) -> None:
    """40 lines halved to 20 is under min_lines 30: SUSPECT, so killed; emptied: ERROR."""
    report = reports["TOY-EVAL-SHORT"]
    outcomes = _outcomes(report)
    assert outcomes["halve-evalset"] is Outcome.KILLED
    assert outcomes["empty-input"] is Outcome.KILLED
    verdicts = {r.mutant.id: dict(r.verdicts) for r in report.results}  # type: ignore[attr-defined]
    assert verdicts["halve-evalset"] == {"toy-pair": "SUSPECT"}
    assert verdicts["empty-input"] == {"toy-pair": "ERROR"}
    # 'nan' rows are short text: the falsifier cannot tell them from real lines
    assert outcomes["nan-rows"] is Outcome.SURVIVED


def test_input_mutants_leave_the_real_files_alone(toy: Path, reports: dict[str, object]) -> None:
    assert (toy / "data" / "eval.txt").read_text() == _lines(40, 20, "ok")


def test_cli_records_one_mutation_record_per_claim(toy: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    ledger = tmp_path / "ledger"
    code = main(["mutate", "--all", "--root", str(toy), "--ledger", str(ledger), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1  # TOY-VACUOUS has undocumented survivors
    assert {d["claim"]: d["status"] for d in data} == {"TOY-EVAL-SHORT": "FAIL",
                                                      "TOY-VACUOUS": "FAIL"}
    led = Ledger(ledger)
    records = led.records()
    assert [(r.kind, r.subject) for r in records] == [("mutation", "*")] * 2
    assert led.latest() == {}  # never a claim's evidence
    assert set(led.latest("mutation")) == {("TOY-EVAL-SHORT", "*"), ("TOY-VACUOUS", "*")}
    assert not verify(ledger, {"TOY-EVAL-SHORT", "TOY-VACUOUS"})
    short = next(r for r in records if r.claim == "TOY-EVAL-SHORT")
    score = short.measurement("mutation_score")
    assert score is not None
    assert 0 < score.value < 1
    assert {m["id"] for m in short.attachments["mutants"]} >= {
        "drop-guard:enough-lines", "halve-evalset", "swap-unit:nats->bits", "zero-n"}


def test_cli_usage_errors(toy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mutate", "--root", str(toy)]) == 2
    assert main(["mutate", "NO-SUCH", "--root", str(toy)]) == 2
    assert "unknown claim 'NO-SUCH'" in capsys.readouterr().err


# --- properties of the operators ----------------------------------------------------------------

OPS = ("<", "<=", ">", ">=", "==", "!=")


def _holding_value(op: str, threshold: int, margin: int) -> int:
    """A value for which ``value OP threshold`` holds with ``margin`` to spare."""
    return {"<": threshold - margin, "<=": threshold - margin, ">": threshold + margin,
            ">=": threshold + margin, "==": threshold, "!=": threshold + margin}[op]


def _claim_yaml(predicate: str, names: list[str], decide_on_ci: bool) -> str:
    """A one-claim contract file (JSON is YAML) judging measurements ``names`` in nats."""
    claim = {"id": "GEN", "title": "generated", "statement": "generated",
             "measures": {n: {"unit": "nats"} for n in names}, "predicate": predicate,
             "statistics": {"decide_on_ci": decide_on_ci}, "subjects": ["s"],
             "controls": [{"subject": "c"}]}
    return json.dumps({"claims": [claim]})


comparison = st.tuples(st.sampled_from(OPS), st.integers(-50, 50), st.integers(1, 20))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(comparison, min_size=1, max_size=4), ci=st.booleans())
@example(parts=[("<", 12, 8)], ci=True)  # nll 4 nats < 12 nats with its interval clear
@example(parts=[("<=", 0, 1), (">=", 500, 1)], ci=False)  # an ASR-style pair of bounds
def test_flipping_any_comparison_turns_a_clear_pass_into_a_non_pass(
        tmp_path_factory: pytest.TempPathFactory, parts: list[tuple[str, int, int]],
        ci: bool) -> None:
    """For a conjunction of comparisons that PASSes with a margin (CI clear of every threshold
    too), every flip-comparison mutant is judged FAIL: the flip operator always has power."""
    names = [f"m{i}" for i in range(len(parts))]
    predicate = " and ".join(f"{n} {op} {t} nats" for n, (op, t, _) in zip(names, parts,
                                                                           strict=True))
    folder = tmp_path_factory.mktemp("gen")
    (folder / "gen.yaml").write_text(_claim_yaml(predicate, names, ci))
    claim = load_contracts(folder)["GEN"]
    ms = []
    for n, (op, t, margin) in zip(names, parts, strict=True):
        v = _holding_value(op, t, margin)
        interval = (v - margin / 4, v + margin / 4) if op not in ("==", "!=") else (v, v)
        ms.append(Measurement(n, float(v), "nats", n=100, ci=interval if ci else None))
    assert judge(claim, "s", ms).status is Status.PASS
    flips = [(m, c) for m, c in contract_mutants(claim) if m.operator == "flip-comparison"]
    assert len(flips) == len(parts)
    for mutant, mutated in flips:
        assert judge(mutated, "s", ms).status is Status.FAIL, mutant.id


@given(st.text(alphabet="ab <>=!", min_size=0, max_size=8))
def test_flip_text_refuses_a_comparison_that_is_not_there(junk: str) -> None:
    with pytest.raises(ValueError, match="is not at column"):
        flip_text("a < b", 0, "a < b" + junk + "x")


def test_comparisons_cover_chains_and_between(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(_claim_yaml(
        "m0 between 1 nats and 2 nats and (m1 < 3 nats or not m1 > 9 nats)", ["m0", "m1"],
        False))
    claim = load_contracts(tmp_path)["GEN"]
    found = [src for _, src in comparisons(claim.predicate)]
    assert found == ["m0 between 1 nats and 2 nats", "m1 < 3 nats", "m1 > 9 nats"]


def test_measurement_mutants_touch_only_what_the_claim_reads(tmp_path: Path) -> None:
    """A unit nothing judges is left alone (an equivalent mutant is not counted)."""
    (tmp_path / "c.yaml").write_text(textwrap.dedent("""\
        claims:
          - id: GEN
            title: t
            statement: s
            measures:
              nll: {unit: nats}
              bits_shown: {unit: bits}
              share: {unit: ratio}
              n: {unit: count}
            predicate: nll < 3 nats and share > 10 %
            guards: [{id: g, check: n >= 1 count}]
            subjects: [s]
            controls: [{subject: c}]
        """))
    claim = load_contracts(tmp_path)["GEN"]
    ids = [m.id for m, _ in measurement_mutants(claim)]
    assert ids == ["swap-unit:nats->bits", "value-in:bits", "swap-unit:ratio->percent",
                   "value-in:percent", "zero-n"]
    swap = dict((m.id, t) for m, t in measurement_mutants(claim))["swap-unit:ratio->percent"]
    ms = [Measurement("share", 0.5, "ratio"), Measurement("bits_shown", 1.0, "bits")]
    assert [m.unit for m in swap(ms)] == ["percent", "bits"]
    rescale = dict((m.id, t) for m, t in measurement_mutants(claim))["value-in:percent"]
    assert [(m.value, m.unit) for m in rescale(ms)] == [(50.0, "ratio"), (1.0, "bits")]


def test_a_rate_over_nothing_is_killed(reports: dict[str, object]) -> None:
    """loss recorded with n = 0: the tool judges a value over nothing ERROR, so zero-n dies."""
    result = next(r for r in reports["TOY-EVAL-SHORT"].results  # type: ignore[attr-defined]
                  if r.mutant.id == "zero-n")
    assert result.outcome is Outcome.KILLED
    assert result.verdicts == (("toy-pair", "ERROR"),)


def test_a_log2_loss_recorded_as_nats_is_killed(reports: dict[str, object]) -> None:
    """loss 0.8 nats computed in bits is 1.15 "nats", over max_loss 1 nats: FAIL, killed."""
    result = next(r for r in reports["TOY-EVAL-SHORT"].results  # type: ignore[attr-defined]
                  if r.mutant.id == "value-in:bits")
    assert result.outcome is Outcome.KILLED
    assert result.verdicts == (("toy-pair", "FAIL"),)


# --- corpus input mutants --------------------------------------------------------------------

CORPUS_CONTRACT = """\
area: toy
claims:
  - id: TOY-CORPUS
    title: The shards use the vocabulary
    statement: Many distinct ids occur, and every id is in the vocabulary.
    measures:
      total_tokens: {unit: count}
      distinct_tokens: {unit: count}
      out_of_range_ids: {unit: count}
    params:
      min_distinct: 50 count
      min_tokens: 1000 count
    predicate: distinct_tokens >= min_distinct
    guards:
      - id: ids-in-vocabulary
        check: out_of_range_ids == 0 count
      - id: enough-tokens
        check: total_tokens >= min_tokens
    subjects: [toy-shards]
    controls:
      - subject: toy-shards-narrow
        why: ten distinct ids only
"""

CORPUS_FALSIFIER = '''\
import pytest

from harness.metrics.corpus import audit

pytestmark = pytest.mark.live


@pytest.mark.claim("TOY-CORPUS")
def test_corpus(evidence, subject, workspace):
    result = audit(workspace.resolve(subject.id), progress=False)
    n = result.total_tokens
    evidence.measure("total_tokens", n, unit="count")
    evidence.measure("distinct_tokens", result.distinct_tokens, unit="count", n=n)
    evidence.measure("out_of_range_ids", result.out_of_range, unit="count", n=n)
'''

CORPUS_CONFIG = """\
[project]
name = "toy"
version = "0"

[tool.falsify.subjects.toy-shards]
kind = "corpus"
shards = "shards"
vocab_size = 200
dtype = "uint16"

[tool.falsify.subjects.toy-shards-narrow]
kind = "corpus"
shards = "narrow"
vocab_size = 200
dtype = "uint16"
"""


def test_corpus_mutants_on_real_shards(tmp_path: Path) -> None:
    """3,000 ids over 100 distinct: halved (1,500) still passes, so halve-shards survives;
    corrupt ids break ids-in-vocabulary (SUSPECT); empty shards are a rate over nothing."""
    import numpy as np

    root = write_toyspace(tmp_path, CORPUS_CONTRACT, CORPUS_FALSIFIER)
    (root / "pyproject.toml").write_text(CORPUS_CONFIG)
    for folder, ids in (("shards", np.arange(3000) % 100), ("narrow", np.arange(3000) % 10)):
        (root / folder).mkdir()
        ids.astype(np.uint16).tofile(root / folder / "a.bin")
    ws = Workspace.discover(root)
    report = mutate_claim(ws, load_contracts(ws.contracts_dir)["TOY-CORPUS"])
    outcomes = {r.mutant.id: (r.outcome, dict(r.verdicts)) for r in report.results}
    assert outcomes["halve-shards"] == (Outcome.SURVIVED, {"toy-shards": "PASS"})
    assert outcomes["corrupt-ids"] == (Outcome.KILLED, {"toy-shards": "SUSPECT"})
    assert outcomes["empty-input"][0] is Outcome.KILLED
    assert outcomes["drop-guard:ids-in-vocabulary"][0] is Outcome.SURVIVED  # no control needs it
    assert (root / "shards" / "a.bin").stat().st_size == 6000  # the real shard is untouched


def test_from_ledger_judges_the_latest_records_without_loading_anything(
        toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--from-ledger: the recorded measurements are the baseline; no input mutant runs."""
    from harness.bisect.falsifier import run_falsifiers
    from harness.ledger import LedgerWriter

    ws = Workspace.discover(toy)
    claim = load_contracts(ws.contracts_dir)["TOY-EVAL-SHORT"]
    ledger = tmp_path / "ledger"
    with LedgerWriter(ledger, "f" * 32) as writer:
        for record in run_falsifiers(ws, claim, [r.id for r in claim.all_subjects]).values():
            writer.append(record)
    code = main(["mutate", "TOY-EVAL-SHORT", "--from-ledger", "--ledger", str(ledger),
                 "--root", str(toy), "--no-record", "--json"])
    (data,) = json.loads(capsys.readouterr().out)
    layers = {m["layer"] for m in data["mutants"]}
    outcomes = {m["id"]: m["outcome"] for m in data["mutants"]}
    assert code == 1
    assert layers == {"contract", "measurement"}
    assert outcomes["drop-guard:enough-lines"] == "killed"
    assert outcomes["swap-unit:nats->bits"] == "survived"
    assert any("no input mutant was run" in n for n in data["notes"])
    assert main(["mutate", "TOY-VACUOUS", "--from-ledger", "--ledger", str(ledger),
                 "--root", str(toy), "--no-record"]) == 2  # nothing recorded for it


# --- run-bundle pairs -----------------------------------------------------------------------

PAIR_CONTRACT = """\
area: toy
claims:
  - id: TOY-PAIR
    title: Run a has the lower CER
    statement: CER_a - CER_b below zero over rows paired by feat_id.
    measures:
      cer_delta: {unit: ratio}
      paired_rows: {unit: count}
      pair_identity_mismatches: {unit: count}
    params:
      max_delta: 0 %
      min_rows: 30 count
    predicate: cer_delta < max_delta
    guards:
      - id: enough-rows
        check: paired_rows >= min_rows
      - id: same-utterances
        check: pair_identity_mismatches == 0 count
    statistics: {decide_on_ci: true}
    subjects: [toy-pair]
    controls:
      - subject: toy-pair-swapped
        why: the better run as b
"""

PAIR_FALSIFIER = '''\
import pytest

from harness.runs.compare import compare_pair

pytestmark = pytest.mark.live


@pytest.mark.claim("TOY-PAIR")
def test_pair(evidence, subject, workspace):
    pair = workspace.resolve(subject.id)
    cmp = compare_pair(pair, confidence=0.95, n_resamples=200)
    evidence.measure("cer_delta", cmp.delta, unit="ratio", n=cmp.n_rows or None, ci=cmp.ci)
    evidence.measure("paired_rows", cmp.n_rows, unit="count")
    evidence.measure("pair_identity_mismatches", len(cmp.pairing), unit="count")
'''

PAIR_CONFIG = """\
[project]
name = "toy"
version = "0"

[tool.falsify.subjects.toy-pair]
kind = "bundle-pair"
a = "runs/good"
b = "runs/bad"

[tool.falsify.subjects.toy-pair-swapped]
kind = "bundle-pair"
a = "runs/bad"
b = "runs/good"
"""


def test_bundle_pair_mutants_on_real_bundles(tmp_path: Path) -> None:
    """40 paired rows, run a exact and run b one edit per row: halved (20) fails enough-rows,
    shuffled feat_ids fail same-utterances, NaN counts and empty runs are ERRORs: all killed."""
    from tests.harness.runs.kit import make_bundle

    root = write_toyspace(tmp_path, PAIR_CONTRACT, PAIR_FALSIFIER)
    (root / "pyproject.toml").write_text(PAIR_CONFIG)
    refs = [f"a ye baara {i}" for i in range(40)]
    make_bundle(root / "runs" / "good", [(r, r) for r in refs], script="latn")
    make_bundle(root / "runs" / "bad", [(r[:-1] + "x", r) for r in refs], script="latn",
                mode="baseline")
    ws = Workspace.discover(root)
    report = mutate_claim(ws, load_contracts(ws.contracts_dir)["TOY-PAIR"])
    assert [r.verdict.value for r in report.baseline] == ["PASS", "FAIL"]
    outcomes = {r.mutant.id: (r.outcome, dict(r.verdicts)) for r in report.results}
    assert outcomes["halve-rows"] == (Outcome.KILLED, {"toy-pair": "SUSPECT"})
    assert outcomes["shuffle-pairs"] == (Outcome.KILLED, {"toy-pair": "SUSPECT"})
    assert outcomes["nan-rows"] == (Outcome.KILLED, {"toy-pair": "ERROR"})
    assert outcomes["empty-input"] == (Outcome.KILLED, {"toy-pair": "ERROR"})
    assert outcomes["drop-guard:same-utterances"][0] is Outcome.SURVIVED  # no control needs it
