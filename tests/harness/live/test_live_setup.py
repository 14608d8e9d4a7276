"""LiveClaims refuses what it cannot check, with the fix; a run that logs nothing is an ERROR."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.contracts import ContractError
from harness.runs.live import LiveClaims, LiveError
from tests.harness.live.trainings import CONTRACT, records, workspace


def test_kill_must_be_a_boolean_in_the_contract(tmp_path: Path) -> None:
    root = workspace(tmp_path, CONTRACT.replace("kill: true", "kill: yes please"))
    with pytest.raises(ContractError, match=r"training.yaml.*kill"):
        LiveClaims("tiny-mlx", root=root)


def test_a_subject_no_claim_binds_is_refused(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with pytest.raises(LiveError, match=r"binds subject 'other-run'.*TRAIN-LOSS-FINITE"):
        LiveClaims("other-run", root=root)


def test_an_unknown_claim_is_refused(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with pytest.raises(LiveError, match="'NOPE' is not a claim"):
        LiveClaims("tiny-mlx", root=root, claims=["NOPE"])


def test_a_kill_criterion_not_checked_is_refused(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with pytest.raises(LiveError, match="kill: VAL-X is not among the claims"):
        LiveClaims("tiny-mlx", root=root, kill=["VAL-X"])


def test_the_contract_marks_the_kill_criterion(tmp_path: Path) -> None:
    live = LiveClaims("tiny-mlx", root=workspace(tmp_path), record=False)
    assert live.kill == frozenset({"TRAIN-LOSS-FINITE"})


def test_without_kill_in_the_contract_a_fail_does_not_stop(tmp_path: Path) -> None:
    root = workspace(tmp_path, CONTRACT.replace("    kill: true\n", ""))
    live = LiveClaims("tiny-mlx", root=root, record=False)
    live.log(1, loss=float("nan"))
    (check,) = live.check(1)
    assert check.status == "FAIL"
    assert live.should_stop is False


def test_a_unit_declared_twice_differently_is_refused(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    with pytest.raises(LiveError, match="loss is bits here but nats in the config"):
        LiveClaims("tiny-mlx", root=root, units={"loss": "bits"})


def test_a_logged_string_is_refused(tmp_path: Path) -> None:
    live = LiveClaims("tiny-mlx", root=workspace(tmp_path), record=False)
    with pytest.raises(LiveError, match=r"loss='high' is not a number"):
        live.log(3, loss="high")


def test_a_negative_step_is_refused(tmp_path: Path) -> None:
    live = LiveClaims("tiny-mlx", root=workspace(tmp_path), record=False)
    with pytest.raises(LiveError, match="non-negative integer"):
        live.log(-1, loss=1.0)


def test_a_run_that_logged_nothing_ends_as_an_error_record(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    LiveClaims("tiny-mlx", root=root).close()
    (record,) = records(root / "evidence" / "ledger")
    assert record["verdict"] == "ERROR"
    assert "end of run" in record["reasons"][0]


def test_a_claim_waits_while_its_series_is_missing(tmp_path: Path) -> None:
    live = LiveClaims("tiny-mlx", root=workspace(tmp_path))
    live.log(1, grad_norm=1.0)
    with pytest.warns(UserWarning, match="TRAIN-LOSS-FINITE on run tiny-mlx waits at step 1"):
        assert live.check(1) == []
    assert "TRAIN-LOSS-FINITE" in live.pending


def test_a_claim_still_missing_its_series_at_the_end_is_an_error(tmp_path: Path) -> None:
    live = LiveClaims("tiny-mlx", root=workspace(tmp_path))
    live.log(1, grad_norm=1.0)
    with pytest.warns(UserWarning, match="waits at step 1"):
        live.check(1)
    (final,) = live.close()
    assert final.status == "ERROR"


def test_every_spaces_the_checks(tmp_path: Path) -> None:
    live = LiveClaims("tiny-mlx", root=workspace(tmp_path), record=False, every=3)
    for step in range(1, 8):
        live.log(step, loss=2.0)
        live.check(step)
    assert [c.step for c in live.checks] == [1, 4, 7]


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return workspace(tmp_path_factory.mktemp("fuzz"))


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats() | st.integers(-10**6, 10**6), min_size=1, max_size=8))
def test_any_number_is_kept_as_logged(fuzz_root: Path, values: list[float]) -> None:
    """NaN and infinities included: whether they are allowed is the claim's call, not log's."""
    live = LiveClaims("tiny-mlx", root=fuzz_root, record=False)
    for step, value in enumerate(values):
        live.log(step, loss=value)
    logged = live.run_log().series("loss").values
    assert [str(v) for v in logged] == [str(float(v)) for v in values]


@settings(max_examples=30, deadline=None)
@given(bad=st.text(max_size=5) | st.booleans() | st.lists(st.floats(), min_size=2, max_size=3))
def test_a_non_number_is_refused_by_name(fuzz_root: Path, bad: object) -> None:
    live = LiveClaims("tiny-mlx", root=fuzz_root, record=False)
    with pytest.raises(LiveError, match="loss"):
        live.log(0, loss=bad)


def test_the_measures_heavy_imports_are_made_in_the_background(tmp_path: Path) -> None:
    """scipy.stats (about 2.5 s to import) is imported by the warm-up thread, not the first
    check: checked in a fresh interpreter, where nothing imported it before."""
    import subprocess
    import sys

    root = workspace(tmp_path)
    code = ("import sys; from harness.runs.live import LiveClaims; "
            f"live = LiveClaims('tiny-run', root={str(root)!r}, record=False); "
            "before = 'scipy.stats' in sys.modules; live._warm.join(); "
            "print(before, 'scipy.stats' in sys.modules)")
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[3]), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=False, timeout=120)
    assert done.stdout.split()[-1] == "True", done.stdout + done.stderr
