"""``falsify ledger merge`` over the ledgers of 100 CI machines, each its own clone and session.

The class: a union of many machines' evidence that loses a record, copies one twice, or breaks a
signature. Every machine is a real git clone of one repository; it writes its own session with
its own key, and some machines pulled the others' evidence before recording (so the same
segments reach the destination by several routes). The union must hold every record exactly
once, verify with every signature required, and a second round of merges must change nothing.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from harness.ledger import LedgerWriter, merge, segment_paths, verify
from harness.ledger.keys import load_trusted, new_signer, public_pem
from harness.records import Status
from tests.harness.ledger_factory import make_record
from tests.harness.toyspace import write_toyspace

MACHINES = 100
PER_MACHINE = 3
FALSIFY = str(Path(sys.executable).with_name("falsify"))


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci", *args],
                   cwd=cwd, check=True, capture_output=True)


def test_a_hundred_machines_merge_into_one_ledger_that_verifies(tmp_path: Path) -> None:
    origin = write_toyspace(tmp_path / "origin")
    _git("init", "-q", cwd=origin)
    _git("add", "-A", cwd=origin)
    _git("commit", "-qm", "init", cwd=origin)
    pubs = tmp_path / "trusted"
    pubs.mkdir()
    _git("clone", "-q", "--shared", str(origin), str(tmp_path / "main"), cwd=tmp_path)
    main = tmp_path / "main" / "evidence" / "ledger"  # where the merged evidence is committed
    main.mkdir(parents=True)
    rng = random.Random(7)
    written: set[str] = set()
    machines = []
    for i in range(MACHINES):
        clone = tmp_path / f"ci-{i:03d}"
        _git("clone", "-q", "--shared", str(origin), str(clone), cwd=tmp_path)
        ledger = clone / "evidence" / "ledger"
        if i % 10 == 9:  # this machine pulled main's evidence before its run
            shutil.copytree(main, ledger)  # segments and their signatures, as git would
        signer = new_signer(f"ci-{i:03d}")
        (pubs / f"ci-{i:03d}.pub").write_bytes(public_pem(signer.public))
        session = uuid.uuid4().hex
        with LedgerWriter(ledger, session, "main", signer=signer) as writer:
            for j in range(PER_MACHINE):
                verdict = rng.choice([Status.PASS, Status.FAIL, Status.ERROR])
                written.add(str(writer.append(make_record(
                    subject=f"s{j}", session=session, verdict=verdict)).id))
        machines.append(ledger)
        if i % 10 == 8:  # main has merged the machines so far when the next one pulls it
            for done in machines:
                merge(done, main)
    order = machines[:]
    rng.shuffle(order)
    for ledger in order[:5]:  # the command as a user runs it, from the destination's project
        done = subprocess.run([FALSIFY, "ledger", "merge", str(ledger)],
                              cwd=main.parent.parent, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    for ledger in order[5:]:
        merge(ledger, main)

    from harness.ledger import Ledger

    records = Ledger(main).records()
    ids = [str(r.id) for r in records]
    assert len(ids) == len(set(ids)) == MACHINES * PER_MACHINE
    assert set(ids) == written
    assert len(segment_paths(main)) == MACHINES
    trusted = load_trusted([pubs])
    assert len(trusted) == MACHINES
    assert verify(main, trusted_keys=trusted, require_signed=True) == []
    again = [merge(ledger, main) for ledger in machines]
    assert all(r.copied == () and r.extended == () for r in again)
    assert sorted(p.name for p in segment_paths(main)) == sorted(
        {p.name for ledger in machines for p in segment_paths(ledger)})
