"""``falsify cluster run`` on a real multi-node Ray cluster on loopback (ray.cluster_utils).

The class: a distributed run that loses, duplicates or tears records when a node dies, or whose
verdicts differ from a local run's. The cluster has a head with no CPUs and two worker nodes of
one CPU each; the driver is the real console script in its own process. One item waits until
the test has killed the node running it (so it must be retried elsewhere); one item's pytest is
SIGKILLed on every attempt (so it must be recorded ERROR with both causes, once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.ledger import verify
from tests.harness.toyspace import CONTRACT as TOY
from tests.harness.toyspace import write_toyspace

ray_cluster_utils = pytest.importorskip("ray.cluster_utils")
FALSIFY = str(Path(sys.executable).with_name("falsify"))  # the console script a user runs

CONTRACT = TOY.replace("[short-lines, few-lines]", "[short-lines, held, crash]")

FALSIFIER = '''\
import os, signal, time
from pathlib import Path
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.live
WIDTH = {"short-lines": 20, "held": 30, "crash": 20, "long-lines": 200}


@pytest.mark.claim("TOY-TEXT-NOT-TINY")
def test_text(evidence, subject, workspace):
    root = workspace.root
    if subject.id == "held":  # wait on the node the test kills, pass on the next one
        (root / "started").mkdir(exist_ok=True)
        node = os.environ.get("FALSIFY_CLUSTER_NODE", "local")
        (root / "started" / node).write_text("")
        # The go file is per node: a worker process can outlive its killed raylet for a
        # moment, and a shared go file let it finish there (and report) before it died.
        deadline = time.monotonic() + 90
        while not (root / "go" / node).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (root / "go" / node).exists(), f"no go for {node}: this node should be dead"
    if subject.id == "crash" and "FALSIFY_CLUSTER_NODE" in os.environ:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    path = root / "data" / f"{subject.id}.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(("x" * (WIDTH[subject.id] - 1) + "\\n") * 40)
    data = path.read_bytes().splitlines(keepends=True)
    evidence.input(path)
    evidence.measure("n_lines", len(data), unit="count")
    evidence.measure("mean_line_bytes", sum(map(len, data)) / len(data), unit="bytes")
'''


def _records(ledger: Path) -> list[dict[str, object]]:
    return [json.loads(line) for seg in sorted(ledger.glob("*.jsonl"))
            for line in seg.read_text().splitlines()]


@pytest.fixture
def cluster():  # type: ignore[no-untyped-def]
    c = ray_cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": 80 * 2**20, "include_dashboard": False})
    workers = [c.add_node(num_cpus=1, object_store_memory=80 * 2**20) for _ in range(2)]
    c.wait_for_nodes()
    yield c, workers
    c.shutdown()


def test_a_killed_node_is_retried_a_killed_item_is_error_and_verdicts_match_local(
        tmp_path: Path, cluster) -> None:  # type: ignore[no-untyped-def]
    c, workers = cluster
    root = write_toyspace(tmp_path / "ws", CONTRACT, FALSIFIER)
    ledger = tmp_path / "ledger"
    keys = tmp_path / "keys"  # every node signs with the key the driver names
    subprocess.run([FALSIFY, "keys", "new", "--name", "nodes", "--key-dir", str(keys / "private"),
                    "--pub-dir", str(keys / "public")], check=True, capture_output=True)
    env = {**os.environ, "FALSIFY_SIGNING_KEY": str(keys / "private" / "nodes.key")}
    env.pop("RAY_ADDRESS", None)
    driver = subprocess.Popen(
        [FALSIFY, "cluster", "run", "--address", c.address,
         "--ledger", str(ledger), "--", "falsifiers", "-m", "live"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = root / "started"
    deadline = time.monotonic() + 120
    while not (started.exists() and any(started.iterdir())):
        assert driver.poll() is None, driver.communicate()[0]
        assert time.monotonic() < deadline, "the held item never started"
        time.sleep(0.2)
    first = next(started.iterdir()).name
    victim = next(w for w in workers if w.node_id == first)
    c.remove_node(victim, allow_graceful=False)
    survivor = next(w for w in workers if w is not victim)
    (root / "go").mkdir()
    (root / "go" / survivor.node_id).write_text("")
    out, _ = driver.communicate(timeout=240)
    assert driver.returncode == 1, out  # the crash item is ERROR: a red run, as pytest's

    records = _records(ledger)
    by = {r["subject"]: r for r in records}
    assert sorted(r["subject"] for r in records) == ["crash", "held", "long-lines", "short-lines"]
    assert len({r["node_id"] for r in records}) == len(records)  # one record per item
    assert {s: by[s]["verdict"] for s in by} == {
        "short-lines": "PASS", "held": "PASS", "long-lines": "FAIL", "crash": "ERROR"}
    crash = " ".join(by["crash"]["reasons"])  # type: ignore[arg-type]
    for said in ("attempt 1", "attempt 2", "SIGKILL"):
        assert said in crash, crash
    assert "held: attempt 1" in out, out  # the driver said why it resubmitted
    assert len(list(started.iterdir())) == 2  # the held item ran again, on the other node
    assert verify(ledger) == []
    checked = subprocess.run([FALSIFY, "verify", "--ledger", str(ledger), "--require-signed",
                              "--keys", str(keys / "public")], cwd=root, capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    local = tmp_path / "local"
    (root / "go" / "local").write_text("")
    subprocess.run([sys.executable, "-m", "pytest", "falsifiers", "-m", "live", "-q",
                    "-p", "no:cacheprovider", f"--ledger={local}", "--subject", "short-lines",
                    "--subject", "held", "--subject", "long-lines"],
                   cwd=root, env=env, check=False, capture_output=True)
    here = {r["subject"]: r["verdict"] for r in _records(local)}
    assert here == {s: v for s, v in ((s, by[s]["verdict"]) for s in by) if s != "crash"}


def test_a_group_no_node_can_hold_is_error_at_once(tmp_path: Path,
                                                   cluster) -> None:  # type: ignore[no-untyped-def]
    c, _ = cluster
    contract = CONTRACT.replace("[short-lines, held, crash]", "[short-lines]")
    root = write_toyspace(tmp_path / "ws", contract, FALSIFIER, extra={
        "falsify.toml": "[subjects.short-lines]\nkind = \"evalset\"\npath = \"x.jsonl\"\n"
                        "resources = {cpus = 1, gpus = 4}\n"})
    ledger = tmp_path / "ledger"
    done = subprocess.run(
        [FALSIFY, "cluster", "run", "--address", c.address,
         "--ledger", str(ledger)], cwd=root, capture_output=True, text=True, timeout=180,
        check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    by = {r["subject"]: r for r in _records(ledger)}
    assert by["short-lines"]["verdict"] == "ERROR"
    assert "gpus=4" in " ".join(by["short-lines"]["reasons"])  # type: ignore[arg-type]
    assert by["long-lines"]["verdict"] == "FAIL"


def test_resources_are_checked_by_the_schema_and_hidden_from_loaders(tmp_path: Path) -> None:
    from harness.workspace import Workspace, WorkspaceError

    (tmp_path / "contracts").mkdir()
    (tmp_path / "x.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "falsify.toml").write_text(
        '[subjects.val]\nkind = "evalset"\npath = "x.jsonl"\nformat = "jsonl"\n'
        'resources = {cpus = 2, memory_gb = 1.5}\n')
    ws = Workspace.discover(tmp_path)
    assert ws.resources("val") == {"cpus": 2.0, "gpus": 0.0, "memory_gb": 1.5}
    assert ws.resources("a-demo-subject") == {"cpus": 1.0, "gpus": 0.0}
    assert "resources" not in ws.spec("val").options
    (tmp_path / "falsify.toml").write_text(
        '[subjects.val]\nkind = "evalset"\npath = "x.jsonl"\nresources = {cpu = 2}\n')
    with pytest.raises(WorkspaceError, match=r"subjects\.val\.resources"):
        Workspace.discover(tmp_path)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 9)), max_size=12, unique=True))
def test_groups_hold_every_item_once_one_subject_each(rows: list[tuple[str, int]]) -> None:
    from harness.cluster import groups

    items = [{"nodeid": f"t.py::test[{s}-{i}]", "claim": "C", "subject": s} for s, i in rows]
    plan = groups(items, lambda s: {"cpus": 1.0})
    flat = [n for g in plan for n in g.nodeids]
    assert sorted(flat) == sorted(i["nodeid"] for i in items)
    assert len({g.subject for g in plan}) == len(plan)
    assert all(f"[{g.subject}-" in n for g in plan for n in g.nodeids)


def test_task_arguments_drop_paths_and_the_selection(tmp_path: Path) -> None:
    from harness.cluster import _task_args

    (tmp_path / "falsifiers").mkdir()
    (tmp_path / "falsifiers" / "test_a.py").write_text("")
    args = ["falsifiers", "-m", "live", "--falsify-select=stale", "--ledger", "x", "-k", "lm",
            "falsifiers/test_a.py::test_b", "--falsify-select", "stale"]
    assert _task_args(args, tmp_path) == ["-m", "live", "-k", "lm"]
