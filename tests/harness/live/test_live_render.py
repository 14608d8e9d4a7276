"""Live-checked runs in the evidence README: every run, its checks, and where a kill stopped it."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.ledger import Ledger
from harness.render.liveruns import live_runs, live_table
from harness.render.plots import live_plots
from harness.runs.live import LiveClaims
from tests.harness.live.trainings import mlx_loop, workspace


def _render(root: Path) -> str:
    """``falsify render`` in a fresh process, as a user runs it; the training README's text."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "render", "--only", "readmes"],
                          cwd=root, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return (root / "evidence" / "training" / "README.md").read_text("utf-8")


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(min_value=0, max_value=30), bad=st.sampled_from([math.nan, math.inf]),
       series=st.sampled_from(["loss", "grad_norm"]))
def test_a_run_that_turns_nonfinite_at_step_k_is_stopped_at_k_and_the_view_names_k(
        tmp_path_factory: object, k: int, bad: float, series: str) -> None:
    root = workspace(tmp_path_factory.mktemp("k"))  # type: ignore[attr-defined]
    with LiveClaims("tiny-mlx", root=root, claims=["TRAIN-LOSS-FINITE"]) as live:
        for step in range(40):
            value = bad if step >= k else 3.0 - 0.01 * step
            metrics = {"loss": 3.0, "grad_norm": 1.0, series: value}
            live.log(step, **metrics)
            live.check(step)
            if live.should_stop:
                break
    (run,) = live_runs(Ledger(root / "evidence" / "ledger"))
    assert run.stopped_at == k
    assert f"at step {k}:" in " ".join(run.stop.notes if run.stop else ())
    assert f"at step {k} by TRAIN-LOSS-FINITE" in str(live_table([run]))
    (plot,) = live_plots([run]).values()
    assert plot.data["marks"][0][0] == k


def test_a_killed_mlx_run_is_shown_with_its_stop_in_the_rendered_readme(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with LiveClaims("tiny-mlx", root=root) as live:
        mlx_loop(live, lr=1e4)
    assert live.stopped is not None
    text = _render(root)
    assert f"at step {live.stopped.step} by TRAIN-LOSS-FINITE" in text


def test_the_killed_runs_curve_is_drawn_beside_the_readme(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with LiveClaims("tiny-mlx", root=root) as live:
        mlx_loop(live, lr=1e4)
    text = _render(root)
    assert "![run tiny-mlx (tiny-mlx), checked while it trained](live-tiny-mlx.png)" in text
    assert (root / "evidence" / "training" / "live-tiny-mlx.png").stat().st_size > 1000


def test_a_run_that_completes_ends_with_its_whole_curve(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with LiveClaims("tiny-mlx", root=root) as live:
        last = mlx_loop(live, lr=0.5)
    (run,) = live_runs(Ledger(root / "evidence" / "ledger"))
    assert run.stop is None
    (plot,) = live_plots([run]).values()
    assert plot.data["lines"][0][1][-1] == last


def test_every_check_of_a_run_is_counted_once(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with LiveClaims("tiny-mlx", root=root) as live:
        mlx_loop(live, lr=0.5)
    (run,) = live_runs(Ledger(root / "evidence" / "ledger"))
    assert run.checks == len(live.checks)


def test_a_run_id_trained_twice_is_two_runs(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    for _ in range(2):
        with LiveClaims("tiny-mlx", root=root) as live:
            mlx_loop(live, lr=0.5, steps=6)
    runs = live_runs(Ledger(root / "evidence" / "ledger"))
    assert [r.checks for r in runs] == [len(live.checks)] * 2
