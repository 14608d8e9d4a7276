"""The demo cache is shared by every project on the machine, and recorded the same from each.

The demo's artifacts live in the user cache directory (``$XDG_CACHE_HOME/falsify/demo``) unless
``FALSIFY_DEMO_CACHE`` or ``FALSIFY_CACHE`` says otherwise, and records always write them as
``.falsify-cache/demo/...``: the alias of the demo (the longer prefix) wins over the project
cache's. Real pytest processes in two project folders build one artifact once, under the lock,
and record the same paths and hashes; the evidence verifies wherever the demo is moved.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from harness.cli import main
from harness.provenance import InputHasher
from harness.workspace import Workspace, demo_cache_dir
from tests.harness.toyspace import write_toyspace

REPO = Path(__file__).resolve().parents[2]

# The toy falsifier, its data built as a demo artifact (harness.demo.build.Builder: keyed by its
# inputs, locked, renamed into place); each build appends a line to $TOY_BUILD_LOG.
FALSIFIER = '''\
import os
import time
import pytest
from harness.demo.build import Builder

pytestmark = pytest.mark.live
SPEC = {"short-lines": (40, 20), "few-lines": (30, 20), "long-lines": (40, 200)}


def make(lines, width):
    def build(tmp):
        with open(os.environ["TOY_BUILD_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")
        time.sleep(0.5)  # the other project's build waits on the lock meanwhile
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "data.txt").write_text("".join("x" * (width - 1) + "\\n" for _ in range(lines)))
        return {"lines": lines}
    return build


@pytest.mark.claim("TOY-TEXT-NOT-TINY")
def test_text(evidence, subject, workspace):
    lines, width = SPEC[subject.id]
    folder = Builder.for_workspace(workspace).artifact(
        f"toy-{subject.id}", {"lines": lines, "width": width}, make(lines, width))
    evidence.input(folder)
    data = (folder / "data.txt").read_bytes().splitlines(keepends=True)
    evidence.measure("n_lines", len(data), unit="count")
    evidence.measure("mean_line_bytes", sum(map(len, data)) / len(data), unit="bytes")
'''


def test_demo_location_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FALSIFY_DEMO_CACHE, else $FALSIFY_CACHE/demo (as before), else the XDG user cache."""
    for name in ("FALSIFY_DEMO_CACHE", "FALSIFY_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert demo_cache_dir() == tmp_path / "home" / ".cache" / "falsify" / "demo"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: absolute only
    assert demo_cache_dir() == tmp_path / "home" / ".cache" / "falsify" / "demo"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert demo_cache_dir() == tmp_path / "xdg" / "falsify" / "demo"
    monkeypatch.setenv("FALSIFY_CACHE", str(tmp_path / "cache"))
    assert demo_cache_dir() == tmp_path / "cache" / "demo"
    monkeypatch.setenv("FALSIFY_DEMO_CACHE", str(tmp_path / "mine"))
    assert demo_cache_dir() == tmp_path / "mine"
    ws = Workspace.discover(write_toyspace(tmp_path / "p"))
    assert ws.demo_prefix == ".falsify-cache/demo"
    from harness.models.hub import hub_cache_dir

    assert ws.input_aliases() == {".falsify-cache": tmp_path / "cache",
                                  ".falsify-cache/demo": tmp_path / "mine",
                                  ".hf-hub-cache": hub_cache_dir()}


parts = st.lists(st.sampled_from(["demo", "bundles", "lm-torch-0123456789abcdef", "x.bin",
                                  "evalsets", "data"]), min_size=1, max_size=4)


@given(rel=parts, nested=st.booleans(), demo_first=st.booleans())
@example(rel=["demo", "x.bin"], nested=True, demo_first=False)     # FALSIFY_CACHE: as before
@example(rel=["demo", "x.bin"], nested=False, demo_first=False)    # the shared demo
@example(rel=["evalsets", "x.bin"], nested=False, demo_first=True)  # project cache, not demo
def test_recorded_paths_round_trip_longest_prefix_wins(rel: list[str], nested: bool,
                                                       demo_first: bool) -> None:
    """A recorded ``.falsify-cache/...`` path resolves into the demo folder when it is under
    ``.falsify-cache/demo`` and into the project cache otherwise, whatever the aliases' order,
    and a physical path is written back as the same recorded path."""
    base = Path("/nowhere")
    cache = base / "project" / ".falsify-cache"
    demo = cache / "demo" if nested else base / "user-cache" / "falsify" / "demo"
    aliases = {".falsify-cache": cache, ".falsify-cache/demo": demo}
    if demo_first:
        aliases = dict(reversed(list(aliases.items())))
    hasher = InputHasher(None, root=base / "project", aliases=aliases)
    recorded = "/".join([".falsify-cache", *rel])
    physical = (demo.joinpath(*rel[1:]) if rel[0] == "demo" and len(rel) > 1 else
                demo if rel == ["demo"] else cache.joinpath(*rel))
    assert hasher.resolve(recorded) == physical
    assert hasher.display(physical) == recorded


def _pytest(project: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pytest", "falsifiers", "-m", "live", "-q",
                             "-p", "no:randomly", "-p", "no:cacheprovider"], cwd=project,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _inputs(project: Path) -> list[tuple[str, str, str]]:
    found = []
    for segment in sorted((project / "evidence" / "ledger").glob("*.jsonl")):
        for line in segment.read_text().splitlines():
            record = json.loads(line)
            found += [(record["subject"], i["path"], i["sha256"]) for i in record["inputs"]]
    return sorted(found)


def test_two_projects_share_one_demo_build_and_record_it_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Two projects run at once with FALSIFY_CACHE unset: each artifact is built once, in the
    user cache; both ledgers name the same inputs by the same recorded paths and hashes; the
    evidence verifies and gates, and still does with the demo moved under FALSIFY_CACHE."""
    for name in ("FALSIFY_CACHE", "FALSIFY_DEMO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    xdg, log = tmp_path / "xdg", tmp_path / "builds.log"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    monkeypatch.setenv("TOY_BUILD_LOG", str(log))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    projects = [write_toyspace(tmp_path / name, falsifier=FALSIFIER) for name in ("a", "b")]
    runs = [_pytest(p, env) for p in projects]
    for run in runs:
        out, _ = run.communicate(timeout=300)
        assert run.returncode == 0, out[-3000:]
    assert len(log.read_text().splitlines()) == 3  # three artifacts, each built once
    demo = xdg / "falsify" / "demo"
    assert sorted(p.name.rsplit("-", 1)[0] for p in demo.glob("toy-*")) == [
        "toy-few-lines", "toy-long-lines", "toy-short-lines"]
    assert not any((p / ".falsify-cache" / "demo").exists() for p in projects)
    a, b = (_inputs(p) for p in projects)
    assert a == b
    assert len(a) == 3
    assert all(path.startswith(".falsify-cache/demo/toy-") for _, path, _ in a)
    for project in projects:
        capsys.readouterr()
        assert main(["verify", "--inputs", "--root", str(project)]) == 0
        assert "3 verified" in capsys.readouterr().out
        assert main(["gate", "--root", str(project)]) == 0
    moved = tmp_path / "elsewhere"  # FALSIFY_CACHE as CI and the tests use it: demo under it
    shutil.copytree(demo, moved / "demo")
    shutil.rmtree(demo)
    monkeypatch.setenv("FALSIFY_CACHE", str(moved))
    capsys.readouterr()
    assert main(["verify", "--inputs", "--root", str(projects[0])]) == 0
    assert "3 verified" in capsys.readouterr().out
    monkeypatch.delenv("FALSIFY_CACHE")
    assert main(["verify", "--inputs", "--root", str(projects[1])]) == 1  # the demo is gone
    assert "is missing (looked for " + str(demo) in capsys.readouterr().out
