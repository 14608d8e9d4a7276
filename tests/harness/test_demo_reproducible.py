"""The demo build is bitwise reproducible, and a fresh build reproduces the committed inputs.

Slow (two full demo builds, minutes): ``pytest tests/harness/test_demo_reproducible.py -m slow``.
Two empty caches are built from the seeds; every artifact file must hash the same in both. The
committed ledger (read only) is then checked against one of them: every input of every latest
committed record must hash to its recorded sha256, as `falsify verify --inputs --rebuild` does on
a fresh clone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.contracts import ExternalInput, load_contracts
from harness.inputcheck import check_inputs, strict_hasher
from harness.ledger import Ledger
from harness.workspace import Workspace

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Bookkeeping of the cache, not artifacts: the builder's locks and timing logs, hash and index
# caches.
_NOT_ARTIFACTS = ("hashes.json", "contracts/", "ledger-index/")


def _declared_external() -> list[ExternalInput]:
    """Inputs the demo's contracts declare external: files a library stamps with wall-clock
    times (the Trainer's runtimes, TensorBoard's event names), which no rebuild reproduces."""
    contracts = load_contracts(Workspace.discover(ROOT).contracts_dir)
    return [e for claim in contracts.claims.values() for e in claim.external_inputs]


def _is_artifact(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    if name.endswith(".lock") or (name.startswith(".") and name.endswith(".log.json")):
        return False
    if any(e.matches(f".falsify-cache/{rel}") for e in _EXTERNAL):
        return False
    return not any(rel == x or rel.startswith(x) for x in _NOT_ARTIFACTS)


_EXTERNAL = _declared_external()


def _digests(cache: Path) -> dict[str, str]:
    out = {}
    for path in sorted(cache.rglob("*")):
        rel = path.relative_to(cache).as_posix()
        if path.is_file() and _is_artifact(rel):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _start_build(cache: Path) -> subprocess.Popen[bytes]:
    """`build_all` in a child process whose FALSIFY_CACHE is ``cache``."""
    code = ("from pathlib import Path; from harness.demo.build import build_all; "
            "from harness.workspace import Workspace; "
            f"build_all(Workspace.discover(Path({str(ROOT)!r})))")
    path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "FALSIFY_CACHE": str(cache), "PYTHONPATH": path}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two empty caches, each built from the seeds by its own process, side by side."""
    a, b = tmp_path_factory.mktemp("cache-a"), tmp_path_factory.mktemp("cache-b")
    children = [_start_build(a), _start_build(b)]
    for child in children:
        _, err = child.communicate()
        assert child.returncode == 0, err.decode(errors="replace")[-3000:]
    return a, b


def test_two_builds_are_bitwise_identical(caches: tuple[Path, Path]) -> None:
    a, b = (_digests(c) for c in caches)
    assert len(a) > 50, f"the demo build made only {len(a)} files"
    only = sorted(set(a) ^ set(b))
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    assert not only, f"files in one build only: {only[:20]}"
    assert not differ, f"{len(differ)} of {len(a)} files differ between builds: {differ[:20]}"


def test_fresh_build_reproduces_the_committed_inputs(caches: tuple[Path, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every input of every latest committed record hashes, from a fresh build, to its record."""
    monkeypatch.setenv("FALSIFY_CACHE", str(caches[0]))
    ws = Workspace.discover(ROOT)
    ledger = Ledger(ROOT / "evidence" / "ledger")  # read only: no index written
    contracts = load_contracts(ws.contracts_dir)
    checks = check_inputs(ledger, contracts, strict_hasher(ws), root=ROOT)
    assert checks, "the committed ledger has no inputs to check"
    bad = [str(c) for c in checks if c.problem]
    assert not bad, f"{len(bad)} of {len(checks)} committed inputs not reproduced:\n" + \
        "\n".join(bad[:30])
