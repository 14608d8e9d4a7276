"""Input verification: `falsify verify --inputs`, the gate's inputs policy, the status marks.

A real pytest run of a toy falsifier records inputs that live in the workspace cache
(``FALSIFY_CACHE``); the tests then move, empty, change or declare external that cache and read
what `verify --inputs`, `gate` and `status` say.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.provenance import InputHasher
from harness.status import compute_status
from tests.harness.toyspace import CONTRACT, FALSIFIER, write_toyspace

# The toy falsifier, its data file written into the workspace cache (as the demo's inputs are).
CACHED = FALSIFIER.replace('''    path = tmp_path / "data.txt"''', '''    import os
    path = Path(os.environ["FALSIFY_CACHE"]) / "data" / f"{subject.id}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)''').replace(
    '"few-lines": (3, 20)', '"few-lines": (30, 20)')
EXTERNAL = CONTRACT.replace("    max_age: 30d\n", """    max_age: 30d
    external_inputs:
      - path: .falsify-cache/data/few-*
        why: licensed recordings, not redistributable
""")


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main([*args, "--root", str(root)])
    out = capsys.readouterr()
    return code, out.out + out.err


def _recorded(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
              contract: str = CONTRACT) -> Path:
    write_toyspace(pytester.path, contract=contract, falsifier=CACHED)
    cache = pytester.path.parent / f"{pytester.path.name}-cache"
    monkeypatch.setenv("FALSIFY_CACHE", str(cache))
    pytester.runpytest("falsifiers").assert_outcomes(passed=3)
    return cache


@pytest.fixture
def space(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    _recorded(pytester, monkeypatch)
    return pytester.path


def _cache() -> Path:
    return Path(os.environ["FALSIFY_CACHE"])


def test_records_write_cache_paths_under_the_cache_prefix(space: Path) -> None:
    """The cache lies outside the workspace, yet records name its files `.falsify-cache/...`."""
    segment = next((space / "evidence" / "ledger").glob("*.jsonl"))
    paths = {i["path"] for line in segment.read_text().splitlines()
             for i in json.loads(line)["inputs"]}
    assert paths == {f".falsify-cache/data/{s}.txt"
                     for s in ("short-lines", "few-lines", "long-lines")}


def test_all_inputs_verify_and_the_gate_passes(space: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(space, capsys, "verify", "--inputs", "-v")
    assert code == 0, out
    assert "3 verified, 0 changed, 0 missing, 0 external" in out
    assert run(space, capsys, "gate")[0] == 0


def test_cache_moved_elsewhere_still_verifies(space: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Recorded cache paths follow FALSIFY_CACHE: a copy of the cache anywhere verifies."""
    moved = space.parent / "somewhere" / "else"
    shutil.copytree(_cache(), moved)
    shutil.rmtree(_cache())
    monkeypatch.setenv("FALSIFY_CACHE", str(moved))
    code, out = run(space, capsys, "verify", "--inputs")
    assert code == 0, out
    assert run(space, capsys, "gate")[0] == 0


def test_missing_input_is_named_and_keeps_the_gate_red(
        space: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh clone (no cache): verify names each missing input; the gate is red by default."""
    (_cache() / "data" / "few-lines.txt").unlink()
    code, out = run(space, capsys, "verify", "--inputs")
    assert code == 1
    assert "input .falsify-cache/data/few-lines.txt is missing" in out
    assert "evidence/ledger/" in out
    assert ".jsonl:" in out
    assert "1 missing" in out
    code, out = run(space, capsys, "gate")
    assert code == 1
    assert "unverifiable" in out
    assert "few-lines" in out
    assert "falsify verify --inputs --rebuild" in out
    code, out = run(space, capsys, "gate", "--inputs", "allow-unverifiable")
    assert code == 0
    assert "1 record(s) rest on inputs not checked here" in out
    _, status = run(space, capsys, "status")
    assert "PASS (UNVERIFIABLE)" in status
    assert "not here to hash" in status
    main(["gate", "--json", "--root", str(space)])
    data = json.loads(capsys.readouterr().out)  # warnings (unsigned evidence) go to stderr
    assert [p["problem"] for p in data["problems"]] == ["unverifiable"]


def test_changed_byte_names_both_hashes(space: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Same size, mtime put back (as `cp -p` does): verify --inputs reads the bytes anyway."""
    target = _cache() / "data" / "short-lines.txt"
    before = target.stat()
    data = bytearray(target.read_bytes())
    data[5] ^= 1
    target.write_bytes(bytes(data))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    code, out = run(space, capsys, "verify", "--inputs")
    assert code == 1
    line = next(x for x in out.splitlines() if "short-lines.txt changed" in x)
    assert line.count("sha256") == 1
    assert " hash to " in line
    assert "1 changed" in out


def test_external_by_design_is_shown_never_silent(pytester: pytest.Pytester,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cache = _recorded(pytester, monkeypatch, EXTERNAL)
    (cache / "data" / "few-lines.txt").unlink()
    code, out = run(pytester.path, capsys, "verify", "--inputs")
    assert code == 0
    assert "few-lines.txt is external by design (licensed recordings, not redistributable)" in out
    assert "2 verified, 0 changed, 0 missing, 1 external" in out
    code, out = run(pytester.path, capsys, "gate")
    assert code == 0, out
    _, status = run(pytester.path, capsys, "status")
    assert "PASS (EXTERNAL)" in status
    # The render's view (no bytes read) marks it too, the same with or without the cache.
    from harness.contracts import load_contracts
    from harness.ledger import Ledger

    contracts = load_contracts(pytester.path / "contracts")
    ledger = Ledger(pytester.path / "evidence" / "ledger")
    now = datetime.now(UTC)
    with_cache = compute_status(contracts, ledger, now=now, hasher=None).to_json()
    shutil.rmtree(cache)
    assert compute_status(contracts, ledger, now=now, hasher=None).to_json() == with_cache
    rows = {r["subject"]: r for r in with_cache["claims"][0]["rows"]}
    assert rows["few-lines"]["external"]
    assert not rows["short-lines"]["external"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.text("abcxyz_-.0", min_size=1, max_size=6)
                      .filter(lambda s: s not in (".", "..")), min_size=1, max_size=4),
       inside=st.booleans(), prefix=st.sampled_from([".falsify-cache", "build/cache"]))
@example(parts=["demo", "bundles", "x"], inside=False, prefix=".falsify-cache")
def test_cache_paths_round_trip_wherever_the_cache_is(parts: list[str], inside: bool,
                                                      prefix: str) -> None:
    """display() writes a cache file under the prefix; resolve() finds it in the cache again,
    for a cache inside the workspace or anywhere else."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        cache = root / prefix if inside else Path(tmp) / "elsewhere"
        hasher = InputHasher(None, root=root, aliases={prefix: cache})
        target = cache.joinpath(*parts)
        shown = hasher.display(target)
        assert shown == "/".join([prefix, *parts])
        assert hasher.resolve(shown) == target
        other = root / "data" / parts[-1]
        assert hasher.display(other) == f"data/{parts[-1]}"
        assert hasher.resolve(hasher.display(other)) == other


_STATES = st.lists(st.sampled_from(["same", "changed", "missing", "external"]), min_size=1,
                   max_size=5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states=_STATES)
@example(states=["missing"])
@example(states=["external"])
@example(states=["same", "changed"])
def test_gate_policy_over_any_mix_of_inputs(states: list[str]) -> None:
    """The gate passes only when every input verifies or is declared external;
    allow-unverifiable lets only missing inputs through, and says so."""
    from harness.contracts import load_contracts
    from harness.gate import evaluate_gate
    from harness.ledger import Ledger, LedgerWriter
    from tests.harness.ledger_factory import make_record

    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "ws", Path(tmp) / "cache"
        write_toyspace(root, contract=EXTERNAL.replace(".falsify-cache/data/few-*",
                                                       ".falsify-cache/ext-*"))
        contracts = load_contracts(root / "contracts")
        claim = contracts["TOY-TEXT-NOT-TINY"]
        hasher = InputHasher(None, root=root, aliases={".falsify-cache": cache})
        cache.mkdir()
        inputs = []
        for i, state in enumerate(states):
            f = cache / (f"ext-{i}" if state == "external" else f"in-{i}")
            f.write_text(f"bytes {i}")
            inputs.append(hasher.hash(f))
            if state == "changed":
                f.write_text(f"other bytes {i}")
            elif state in ("missing", "external"):
                f.unlink()
        with LedgerWriter(root / "evidence" / "ledger", "s") as writer:
            for ref in claim.all_subjects:
                record = make_record(claim.id, ref.id, role=ref.role,
                                     expect=None if ref.expect is None else ref.expect.value,
                                     verdict="FAIL" if ref.role == "control" else "PASS",
                                     inputs=tuple(inputs))
                writer.append(record.__class__(**{**record.__dict__,
                                                  "claim_sha256": claim.sha256}))
        report = compute_status(contracts, Ledger(root / "evidence" / "ledger"),
                                hasher=InputHasher(None, root=root,
                                                   aliases={".falsify-cache": cache}))
        strict = evaluate_gate(report)
        lenient = evaluate_gate(report, "allow-unverifiable")
        assert strict.ok == all(s in ("same", "external") for s in states)
        assert lenient.ok == ("changed" not in states)
        assert bool(lenient.unverified) == ("missing" in states)
        if "external" in states:
            assert all("EXTERNAL" in r.shown_verdict for r in report.rows)


def test_demo_artifact_rebuilt_under_another_key_says_why(tmp_path: Path) -> None:
    """A recorded artifact folder whose inputs (e.g. library versions) changed since: the demo
    now builds it under another key; the missing input says so instead of only 'rebuild it'."""
    from harness.inputcheck import InputCheck, _rekeyed

    demo = tmp_path / "cache" / "demo"
    (demo / "lm-torch-1111111111111111").mkdir(parents=True)
    (demo / "lm-torch-1111111111111111" / "build.json").write_text("{}")
    (demo / "lm-torch-resized-3333333333333333").mkdir()  # another artifact, not named
    (demo / "lm-torch-resized-3333333333333333" / "build.json").write_text("{}")
    why = _rekeyed(demo / "lm-torch-2222222222222222" / "model.safetensors")
    assert "lm-torch-1111111111111111" in why
    assert "library versions" in why
    assert "resized" not in why
    assert _rekeyed(demo / "other-2222222222222222") == ""
    recorded = ".falsify-cache/demo/lm-torch-2222222222222222"
    check = InputCheck("C", "s", "r", "seg.jsonl:3", recorded,
                       str(demo / "lm-torch-2222222222222222"), "a" * 64, None, "missing", why)
    assert "re-run the falsifier" in str(check)
    assert "seg.jsonl:3" in str(check)
