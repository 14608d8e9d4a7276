"""Signed lines are read, not re-derived, and nothing that matters is lost by it.

Readers and ``falsify verify`` parse the lines a trusted signature covers and skip re-deriving
their schema, hash and canonical form (``harness.ledger.verify``). These tests generate the
class of edits that per-record checks exist to catch, made inside signed bytes, and show that
every one still refuses the read; that lines past the signed head get every check; that the
fast path indexes exactly what the full check indexes; and that ``--deep`` is what re-derives
lines a trusted key signed. Cold reads on every core (``harness.ledger.pool``) must equal
the serial ones, in a real subprocess pool.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.ledger import Ledger, LedgerTampered, verify
from harness.ledger.keys import new_signer, public_pem
from harness.ledger.pool import _single_threaded, map_segments
from harness.ledger.segment import segment_paths
from harness.ledger.signed_reads import SignatureCheck
from harness.ledger.signing import Head, segment_trust, write_signature
from harness.ledger.synth import synthetic_contracts, write_synthetic_ledger
from harness.ledger.verify import Chain
from harness.records import Status
from tests.harness.ledger_factory import make_record

ALICE = new_signer("alice")
TRUSTED = {ALICE.keyid: ALICE.public}
CHECKS = (SignatureCheck(TRUSTED),)
ROOT = Path(__file__).resolve().parents[2]


def signed_ledger(folder: Path, n: int = 60, per_segment: int = 20) -> list[Path]:
    return write_synthetic_ledger(folder, n, per_segment=per_segment, n_claims=4, n_subjects=3,
                                  signer=ALICE)


def vouched(folder: Path) -> dict[str, int]:
    return {p.name: segment_trust(p, TRUSTED).signed for p in segment_paths(folder)}


def summaries(folder: Path, checks: tuple[SignatureCheck, ...]) -> list[dict[str, object]]:
    rows = [s.to_json() for s in Ledger(folder, checks=checks).summaries()]
    return sorted(rows, key=lambda r: str(r["id"]))


def test_fast_path_indexes_what_the_full_check_indexes(tmp_path: Path) -> None:
    signed_ledger(tmp_path)
    assert all(n == 20 for n in vouched(tmp_path).values())
    assert summaries(tmp_path, CHECKS) == summaries(tmp_path, ())
    assert verify(tmp_path, vouched=vouched(tmp_path)) == verify(tmp_path) == []


EDITS = ("digit", "drop-line", "swap-lines", "duplicate-line", "respace", "truncate")


def _edit(data: bytes, edit: str, line: int, where: float) -> bytes:
    lines = data.split(b"\n")[:-1]
    i = line % len(lines)
    raw = lines[i]
    if edit == "digit":
        digits = [k for k, c in enumerate(raw) if 48 <= c <= 57]
        k = digits[int(where * (len(digits) - 1))]
        lines[i] = raw[:k] + bytes([48 + (raw[k] - 47) % 10]) + raw[k + 1:]
    elif edit == "drop-line":
        del lines[i]
    elif edit == "swap-lines":
        j = (i + 1) % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif edit == "duplicate-line":
        lines.insert(i, raw)
    elif edit == "respace":
        lines[i] = raw.replace(b'":', b'": ', 1)
    else:  # truncate the segment inside this line: records cut off the signed head
        return b"\n".join(lines[:i]) + b"\n" + raw[: max(1, int(where * len(raw)))]
    return b"\n".join(lines) + b"\n"


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edit=st.sampled_from(EDITS), line=st.integers(0, 40), where=st.floats(0, 1))
@example(edit="duplicate-line", line=19, where=0.0)  # the last line again: an unsigned tail
def test_any_edit_inside_signed_bytes_refuses_the_read(tmp_path_factory: pytest.TempPathFactory,
                                                       edit: str, line: int,
                                                       where: float) -> None:
    folder = tmp_path_factory.mktemp("edited")
    paths = signed_ledger(folder)
    target = paths[line % len(paths)]
    original = target.read_bytes()
    edited = _edit(original, edit, line, where)
    if edited == original:
        return  # a swap of two identical lines cannot happen in a real segment
    target.write_bytes(edited)
    with pytest.raises(LedgerTampered):
        Ledger(folder, checks=CHECKS).latest()
    if edited.startswith(original):  # the last line duplicated: an unsigned tail, checked in full
        assert vouched(folder)[target.name] == 20
    else:  # the signature fails, so no line of the segment is read on its word
        assert vouched(folder)[target.name] == 0
    assert verify(folder, None, TRUSTED, vouched=vouched(folder))


def test_lines_after_the_signed_head_get_every_check(tmp_path: Path) -> None:
    (path, *_) = signed_ledger(tmp_path)
    last = json.loads(path.read_bytes().splitlines()[-1])
    follower = replace(make_record("SYN-LM-000", "model-0"), verdict=Status.CONFIRMED)
    sealed = follower.sealed(last["hash"])
    with path.open("ab") as fh:  # no key: an unsigned tail, and schema-invalid
        fh.write(sealed.to_line().encode())
    assert vouched(tmp_path)[path.name] == 20
    problems = verify(tmp_path, vouched=vouched(tmp_path))
    assert [p.line for p in problems] == [21]
    assert problems[0].message.startswith("schema: $.verdict")
    with pytest.raises(LedgerTampered, match="schema"):
        Ledger(tmp_path, checks=CHECKS).latest()


def test_a_trusted_key_vouches_and_deep_rederives(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The trust model, stated: a line a trusted key signed is what that key's writer wrote.
    A key holder who signs a line the writer would refuse (here: not canonical) passes the
    fast verify; ``falsify verify --deep`` re-derives every line and names it."""
    ws = tmp_path / "ws"
    (ws / "contracts").mkdir(parents=True)
    (ws / "pyproject.toml").write_text('[project]\nname = "ws"\nversion = "0"\n')
    (ws / "contracts" / "syn.yaml").write_text(synthetic_contracts(4, 3))
    (ws / "evidence" / "keys").mkdir(parents=True)
    (ws / "evidence" / "keys" / "alice.pub").write_bytes(public_pem(ALICE.public))
    (path, *_) = signed_ledger(ws / "evidence" / "ledger")
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b'":', b'": ', 1)  # same JSON, not canonical: hash still holds
    data = b"\n".join(lines)
    path.write_bytes(data)
    head = Head(path.name, 20, len(data), hashlib.sha256(data).hexdigest(),
                json.loads(lines[-2])["hash"], "s", "main")
    write_signature(path, head, ALICE)  # the key holder signs what the writer would refuse
    monkeypatch.setenv("FALSIFY_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CI", raising=False)
    assert main(["verify", "--root", str(ws)]) == 0
    capsys.readouterr()
    assert main(["verify", "--deep", "--root", str(ws)]) == 1
    out = capsys.readouterr().out
    assert f"{path.name}:4" in out
    assert "canonical" in out


_POOL_SCRIPT = """
import json, sys
from pathlib import Path
import concurrent.futures
import harness.ledger.pool as pool
from harness.cli import main
from harness.ledger import Ledger, LedgerTampered, verify
from harness.ledger.keys import read_public
from harness.ledger.signed_reads import SignatureCheck
used = []
class Counted(concurrent.futures.ProcessPoolExecutor):
    def __init__(self, *a, **k):
        used.append(a[0]); super().__init__(*a, **k)
pool.ProcessPoolExecutor = Counted
pool.PARALLEL_BYTES = int(sys.argv[3])
key = read_public(Path(sys.argv[2]))
folder = Path(sys.argv[1])
out = {"workers": used}
try:
    rows = Ledger(folder, checks=(SignatureCheck({key.fingerprint: key}),)).summaries()
    out["rows"] = sorted(json.dumps(r.to_json(), sort_keys=True) for r in rows)
except LedgerTampered as exc:
    out["problems"] = sorted(str(p) for p in exc.problems)
out["verify"] = sorted(str(p) for p in verify(folder))
print(json.dumps(out))
"""


def _pool_run(folder: Path, key: Path, threshold: int, workers: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FALSIFY_WORKERS": workers}
    done = subprocess.run([sys.executable, "-c", _POOL_SCRIPT, str(folder), str(key),
                           str(threshold)], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_cold_read_on_every_core_equals_the_serial_one(tmp_path: Path) -> None:
    key = tmp_path / "alice.pub"
    key.write_bytes(public_pem(ALICE.public))
    folder = tmp_path / "ledger"
    signed_ledger(folder, n=200, per_segment=20)
    parallel = _pool_run(folder, key, 0, "2")
    serial = _pool_run(folder, key, 0, "1")
    assert parallel["workers"] == [2, 2]  # the read, then verify
    assert serial["workers"] == []
    assert parallel["rows"] == serial["rows"]
    assert len(parallel["rows"]) == 200
    assert parallel["verify"] == serial["verify"] == []
    # a segment altered after signing: its problems once each, as the serial read names them
    victim = segment_paths(folder)[4]
    victim.write_bytes(victim.read_bytes().replace(b'"PASS"', b'"FAIL"', 1))
    parallel = _pool_run(folder, key, 0, "2")
    serial = _pool_run(folder, key, 0, "1")
    assert parallel["problems"] == serial["problems"]
    assert parallel["verify"] == serial["verify"]
    problems = parallel["problems"]
    assert problems
    assert len(set(problems)) == len(problems)
    assert all(victim.name in p for p in problems)


def test_a_process_with_threads_maps_here() -> None:
    """Forking a process that holds other threads can deadlock the child: such a process
    reads serially, whatever FALSIFY_WORKERS says."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not _single_threaded()
        assert map_segments(pow, [(2, 3), (3, 2)], [2**40, 2**40]) == [8, 9]
    finally:
        stop.set()
        thread.join()


def test_falsify_workers_must_be_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.ledger.pool import workers

    monkeypatch.setenv("FALSIFY_WORKERS", "two")
    with pytest.raises(ValueError, match="FALSIFY_WORKERS='two' is not a whole number"):
        workers()
    monkeypatch.setenv("FALSIFY_WORKERS", "0")
    assert workers() == 1


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
_JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-2**60, 2**60) | _TEXT,
                        lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(_TEXT | st.sampled_from(("claim", "id", "hash")),
                                          inner, max_size=3), max_leaves=8)
_CODE = {"falsifier": [{"path": "falsifiers/test_lm.py", "sha256": "a" * 64}],
         "harness": {"version": "0.9", "sha256": "b" * 64}}


@settings(max_examples=150, deadline=None)
@given(claim=_TEXT, subject=_TEXT, hypothesis=st.none() | _TEXT, amends=st.none() | _TEXT,
       path=_TEXT, attachments=st.dictionaries(_TEXT, _JSONISH, max_size=3),
       code=st.booleans(), kind=st.sampled_from(("claim", "hypothesis", "amendment")))
def test_projection_is_the_record_restricted_to_its_fields(
        claim: str, subject: str, hypothesis: str | None, amends: str | None, path: str,
        attachments: dict[str, Any], code: bool, kind: str) -> None:
    """For any record the writer can write (any text in its strings, any attachments, a
    record that nests keys named like top-level ones), the projection of its line is the
    parsed record restricted to the projection's fields: the fast path indexes what the full
    check would."""
    from harness.ledger.projection import project
    from tests.harness.ledger_factory import PROVENANCE

    record = make_record(claim, subject, kind=kind, hypothesis=hypothesis, amends=amends,
                         attachments=attachments,
                         inputs=({"path": path, "kind": "file", "sha256": "c" * 64,
                                  "bytes": 3},))
    if code:
        record = replace(record, provenance={**PROVENANCE, "code": _CODE})
    line = record.sealed("d" * 64).to_line().encode()
    full = json.loads(line)
    projected = project(line)
    assert projected is not None
    for key, value in projected.items():
        if key == "inputs":
            assert value == [{k: i[k] for k in ("path", "kind", "sha256")} for i in full[key]]
        elif key == "provenance":
            assert value == ({"code": full[key]["code"]} if code else {})
        elif key == "amends":
            assert value == (None if amends is None else {"record": amends})
        else:
            assert value == full[key], key


def test_a_signature_answer_is_reused_only_for_the_same_bytes(tmp_path: Path) -> None:
    """vouched() then check() of one read share one signature check; a second read of a
    segment rewritten to the same size in between is checked afresh, even if check() was
    never reached for the first."""
    (path, *_) = signed_ledger(tmp_path)
    check = SignatureCheck(TRUSTED)
    first = path.read_bytes()
    assert check.vouched(path, first) == 20  # and no check(): as if the read had raised
    edited = first.replace(b'"PASS"', b'"FAIL"', 1)
    assert len(edited) == len(first)
    path.write_bytes(edited)
    second = path.read_bytes()
    assert check.vouched(path, second) == 0
    assert check.check(path, second, Chain())
