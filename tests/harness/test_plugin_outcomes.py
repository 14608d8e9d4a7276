"""Every pytest outcome a falsifier can produce, through -rA, -n 2 and --no-record.

The matrix is generated: each `Outcome` below is one way a falsifier can end (pass, a FAIL verdict,
a raise in setup, call or teardown, a skip before or after measuring, skipif, every form of xfail
and xpass, a fixture that errors or skips), and each runs in each mode. For every combination:
pytest does not crash in its own summary, the ledger gets one record with the right verdict and a
one-line reason (none under --no-record), pytest's counts and exit code are honest, and the
verdict table shows what was recorded. The rules (README "Verdicts", docs/INTERNALS.md):
a skip before any measurement is SKIPPED; a skip after one is ERROR; xfail on a claim is ERROR.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.toyspace import write_toyspace

MEASURE = '''\
    path = tmp_path / "data.txt"
    path.write_text("".join("x" * ({width} - 1) + "\\n" for _ in range(40)))
    data = path.read_bytes().splitlines(keepends=True)
    evidence.input(path)
    evidence.measure("n_lines", len(data), unit="count")
    evidence.measure("mean_line_bytes", sum(map(len, data)) / len(data), unit="bytes")
'''

FIXTURES = '''\
@pytest.fixture
def broken_model():
    raise RuntimeError("model file is corrupt")


@pytest.fixture
def leaky_server():
    yield "127.0.0.1:9"
    raise RuntimeError("server left a child process behind")


@pytest.fixture
def gpu():
    pytest.skip("no GPU on this host")
'''


@dataclass(frozen=True)
class Outcome:
    """One way a falsifier ends, and what falsify must make of it."""

    name: str
    verdict: str | None  # the recorded verdict; None: no record at all
    reason: str  # a phrase the record's first reason must contain
    counts: dict[str, int]  # pytest's summary counts
    before: str = ""  # code before measuring
    after: str = ""  # code after measuring
    marks: tuple[str, ...] = ()
    args: tuple[str, ...] = ()  # extra fixtures the falsifier takes
    width: int = 20  # bytes per line: 20 gives PASS, 200 gives FAIL

    @property
    def exit_code(self) -> int:
        bad = self.counts.get("failed", 0) + self.counts.get("errors", 0)
        return 1 if bad else 0

    @property
    def test_name(self) -> str:
        return "test_" + self.name.replace("-", "_")

    def function(self) -> str:
        marks = "".join(f"@pytest.mark.{m}\n" for m in self.marks)
        args = ", ".join(("evidence", "tmp_path", *self.args))
        body = self.before + MEASURE.format(width=self.width) + self.after
        return (f"{marks}@pytest.mark.claim(\"TOY-TEXT-NOT-TINY\", subject=\"short-lines\")\n"
                f"def {self.test_name}({args}):\n{body}\n\n")


def falsifier(outcomes: list[Outcome]) -> str:
    """One falsifier module holding a test function per outcome."""
    return (f"import pytest\n\nfrom harness.workspace import SubjectUnavailable\n\n"
            f"pytestmark = pytest.mark.live\n\n\n{FIXTURES}\n\n"
            + "".join(o.function() for o in outcomes))


XFAIL = "is marked xfail"
OUTCOMES = [
    Outcome("pass", "PASS", "holds: mean_line_bytes 20 bytes", {"passed": 1}),
    Outcome("verdict-fail", "FAIL", "violated: mean_line_bytes 200 bytes", {"failed": 1},
            width=200),
    Outcome("raise-in-call", "ERROR", "raised in call of", {"errors": 1},
            after='    assert len(data) == 41, "tokenizer mismatch"\n'),
    Outcome("raise-before-measuring", "ERROR", "RuntimeError: weights missing", {"errors": 1},
            before='    raise RuntimeError("weights missing")\n'),
    Outcome("fixture-error", "ERROR", "raised in setup of", {"errors": 1},
            args=("broken_model",)),
    Outcome("teardown-error", "ERROR", "raised in teardown of", {"passed": 1, "errors": 1},
            args=("leaky_server",)),
    Outcome("skip-before-measuring", "SKIPPED", "no GPU here", {"skipped": 1},
            before='    pytest.skip("no GPU here")\n'),
    Outcome("skip-after-measuring", "ERROR", "skipped in call of", {"errors": 1},
            after='    pytest.skip("result looks odd")\n'),
    Outcome("unavailable-before-measuring", "SKIPPED", "gate at 127.0.0.1:9 is down",
            {"skipped": 1}, before='    raise SubjectUnavailable("gate at 127.0.0.1:9 is down")\n'),
    Outcome("unavailable-after-measuring", "ERROR", "after measuring n_lines", {"errors": 1},
            after='    raise SubjectUnavailable("gate at 127.0.0.1:9 is down")\n'),
    Outcome("skipif", "SKIPPED", "needs CUDA", {"skipped": 1},
            marks=('skipif(True, reason="needs CUDA")',)),
    Outcome("fixture-skip", "SKIPPED", "no GPU on this host", {"skipped": 1}, args=("gpu",)),
    Outcome("xfail-raises", "ERROR", XFAIL, {"errors": 1}, marks=('xfail(reason="flaky")',),
            after='    raise RuntimeError("tokenizer mismatch")\n'),
    Outcome("xfail-strict-raises", "ERROR", XFAIL, {"errors": 1},
            marks=('xfail(strict=True, reason="flaky")',),
            after='    raise RuntimeError("tokenizer mismatch")\n'),
    Outcome("xfail-verdict-fail", "ERROR", XFAIL, {"errors": 1},
            marks=('xfail(reason="known bad")',), width=200),
    Outcome("xpass", "ERROR", XFAIL, {"errors": 1}, marks=('xfail(reason="flaky")',)),
    Outcome("xpass-strict", "ERROR", XFAIL, {"errors": 1},
            marks=('xfail(strict=True, reason="flaky")',)),
    Outcome("xfail-not-run", "ERROR", XFAIL, {"errors": 1},
            marks=('xfail(run=False, reason="hangs")',)),
    Outcome("xfail-call", "ERROR", XFAIL, {"errors": 1},
            after='    pytest.xfail("numbers look off")\n'),
]


def _records(root: Path) -> list[dict[str, object]]:
    out = []
    for seg in sorted((root / "evidence" / "ledger").glob("*.jsonl")):
        out += [json.loads(line) for line in seg.read_text().splitlines()]
    return out


def _run(pytester: pytest.Pytester, outcomes: list[Outcome], *args: str) -> pytest.RunResult:
    """Run the generated falsifier; pytest must not crash anywhere, its summary included."""
    write_toyspace(pytester.path, falsifier=falsifier(outcomes))
    result = pytester.runpytest("falsifiers", "-rA", "-p", "no:randomly", *args)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback (most recent call last)" not in result.stderr.str()
    assert result.ret in (0, 1), result.stdout.str()
    return result


def _check_record(rec: dict[str, object], outcome: Outcome) -> None:
    assert rec["verdict"] == outcome.verdict, rec
    reason = str(rec["reasons"][0])  # type: ignore[index]
    assert outcome.reason in reason, reason
    assert "\n" not in reason, reason
    assert len(reason) < 600, reason


@pytest.mark.parametrize("outcome", OUTCOMES, ids=[o.name for o in OUTCOMES])
def test_each_outcome_alone(pytester: pytest.Pytester, outcome: Outcome) -> None:
    """Alone under -rA: the right record, pytest's counts, and an exit code that is honest."""
    result = _run(pytester, [outcome])
    result.assert_outcomes(**outcome.counts)
    assert result.ret == outcome.exit_code, result.stdout.str()
    recs = _records(pytester.path)
    assert len(recs) == 1
    _check_record(recs[0], outcome)
    result.stdout.fnmatch_lines([f"*TOY-TEXT-NOT-TINY*short-lines*{outcome.verdict}*",
                                 "*1 evidence record(s) appended*"])


def _total(outcomes: list[Outcome]) -> dict[str, int]:
    total: dict[str, int] = {}
    for o in outcomes:
        for k, v in o.counts.items():
            total[k] = total.get(k, 0) + v
    return total


def test_all_outcomes_under_xdist(pytester: pytest.Pytester) -> None:
    """Under -n 2 every outcome is judged in its worker and recorded once, with its verdict."""
    result = _run(pytester, OUTCOMES, "-n", "2")
    result.assert_outcomes(**_total(OUTCOMES))
    assert result.ret == 1
    recs = {str(r["node_id"]).rsplit("::", 1)[-1]: r for r in _records(pytester.path)}
    assert sorted(recs) == sorted(o.test_name for o in OUTCOMES)
    for o in OUTCOMES:
        _check_record(recs[o.test_name], o)
    result.stdout.fnmatch_lines([f"*{len(OUTCOMES)} evidence record(s) appended*"])


def test_all_outcomes_without_recording(pytester: pytest.Pytester) -> None:
    """--no-record: the same outcomes and exit code, nothing appended."""
    result = _run(pytester, OUTCOMES, "--no-record")
    result.assert_outcomes(**_total(OUTCOMES))
    assert result.ret == 1
    assert not (pytester.path / "evidence" / "ledger").exists()
    result.stdout.fnmatch_lines(["*--no-record: verdicts judged, nothing appended*"])
