"""Benchmark: `falsify render` over 1,000 claims and 100,000 records (target: under 5 s).

Opt in with ``python -m pytest tests/bench/test_bench_render.py -m bench -s``. Contracts for
``SYN-LM-000`` ... ``SYN-LM-999`` (10 areas of 100) are written beside a ledger from
``harness.ledger.synth``. Timed, each from a fresh process state where it matters:

- ``text``: view (ledger read, status) + every README, paper file and site page, no plot drawn;
- ``check``: ``render --check`` against the committed result (plots compared by source hash);
- ``warm``: ``render`` again with nothing changed (no file written, no plot drawn);
- ``incremental``: ``render`` after one new record (its claim's plots and area timeline redrawn);
- ``cold plots``: drawing every plot once (about one per claim: reported, not held to 5 s).
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from harness.contracts import load_contracts
from harness.ledger import Ledger
from harness.ledger.synth import write_synthetic_ledger
from harness.render import build, output
from harness.render.view import build_view

pytestmark = pytest.mark.bench

N_CLAIMS, N_AREAS, N_RECORDS = 1000, 10, 100_000
BUDGET_S = 5.0

CLAIM = """\
  - id: SYN-LM-{i:03d}
    title: Synthetic held-out loss claim {i}
    statement: Held-out NLL of the subject is below ln|V|.
    milestones: [m{m}]
    max_age: 30d
    measures:
      val_nll: {{unit: nats}}
      vocab_size: {{unit: count}}
      n_tokens: {{unit: count}}
      bits_per_byte: {{unit: bits/byte}}
    params:
      min_tokens: 1000 count
    predicate: val_nll < ln(vocab_size)
    guards:
      - id: enough-tokens
        check: n_tokens >= min_tokens
    subjects: [model-0, model-1, model-2, model-3, model-4, model-5, model-6]
    controls:
      - subject: model-7
        expect: FAIL
    paper:
      table: syn{a}
      measurements: [val_nll, bits_per_byte]
"""


@pytest.fixture(autouse=True)
def _opt_in(request: pytest.FixtureRequest) -> None:
    if "bench" not in request.config.getoption("markexpr"):
        pytest.skip("benchmark: opt in with -m bench")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("render-bench")
    (root / "contracts").mkdir()
    per_area = N_CLAIMS // N_AREAS
    for a in range(N_AREAS):
        claims = "".join(CLAIM.format(i=i, m=i % 4, a=a)
                         for i in range(a * per_area, (a + 1) * per_area))
        (root / "contracts" / f"syn{a}.yaml").write_text(
            f"area: syn{a}\ntitle: Synthetic area {a}\nclaims:\n" + textwrap.dedent(claims))
    write_synthetic_ledger(root / "evidence" / "ledger", N_RECORDS, n_claims=N_CLAIMS)
    return root


def _timed(label: str, fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    print(f"\n{label}: {elapsed:.2f} s")
    return result, elapsed


def test_render_1000_claims_100k_records(workspace: Path) -> None:
    """Text render, check and a warm re-render each finish within the budget."""
    contracts, t_contracts = _timed("load 1,000 contracts", lambda: load_contracts(
        workspace / "contracts"))
    ledger = Ledger(workspace / "evidence" / "ledger", workspace / ".cache" / "index")
    layout = build.Layout(workspace / "evidence", ledger.ledger_dir, workspace / "paper")

    def text_render() -> tuple[output.Rendered, output.Scope]:
        view = build_view(contracts, ledger, ledger_label="evidence/ledger")
        rendered, scope = build.committed(view, layout)
        site, _ = build.site(view, workspace / "site")
        return rendered.merged(site), scope

    (rendered, scope), t_text = _timed("view + READMEs + paper + site (cold index)", text_render)
    n_plots = len([p for p in rendered.plots if "site" not in p.parts])
    _, t_cold = _timed(f"cold: draw {n_plots} plots", lambda: output.write(
        build.committed(build_view(contracts, ledger, ledger_label="evidence/ledger"),
                        layout)[0], scope))

    def check() -> output.Drift:
        ledger.refresh()
        view = build_view(contracts, ledger, ledger_label="evidence/ledger")
        return output.check(*build.committed(view, layout))

    drift, t_check = _timed("render --check", check)
    assert drift.ok, drift.lines(workspace)

    def warm() -> output.WriteReport:
        ledger.refresh()
        view = build_view(contracts, ledger, ledger_label="evidence/ledger")
        return output.write(*build.committed(view, layout))

    report, t_warm = _timed("warm render (nothing changed)", warm)
    assert not report.written
    assert not report.drawn
    write_synthetic_ledger(workspace / "evidence" / "ledger", 1, n_claims=1, seed=7)
    report, t_incr = _timed("incremental render (one new record)", warm)
    print(f"  {report.summary()}")
    assert len(report.drawn) <= 2
    print(f"\nsummary: contracts {t_contracts:.2f} s, text {t_text:.2f} s, "
          f"check {t_check:.2f} s, warm {t_warm:.2f} s, incremental {t_incr:.2f} s, "
          f"cold plots {t_cold:.2f} s")
    assert max(t_text, t_check, t_warm) < BUDGET_S
