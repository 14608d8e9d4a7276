"""Input hashes and rewrites that hide from a stat cache (size kept, times restored, renames,
hard links, new files): strict hashing always reads the new bytes, and the cache never answers
an old sha256 once the file's inode or ctime (or size, or mtime) changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness import provenance
from harness.provenance import InputHasher, hash_input

SIZE = 16
OLD_NS = 1_600_000_000 * 10**9
NAMES = ("a.bin", "b.bin", "sub/c.bin")

# One rewrite of the folder `d`, each a way to change bytes that a (size, mtime) cache misses:
#   ("inplace", name, data)   write in place, then restore atime and mtime (cp -p onto it)
#   ("rename", name, data)    write a new file beside it, copy its times, rename over (rsync -t)
#   ("link", name, data)      rewrite it in place through a hard link outside `d`, times restored
#   ("add", name, data)       a new file in the folder, with old times
Op = tuple[str, str, bytes]
OPS = st.tuples(st.sampled_from(["inplace", "rename", "link", "add"]),
                st.sampled_from((*NAMES, "new.bin", "sub/new.bin")),
                st.binary(min_size=SIZE, max_size=SIZE))


def _sha(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _folder_sha(folder: Path) -> str:
    """The folder hash by its definition (sorted relative path and file sha256), re-derived."""
    pairs = sorted((p.relative_to(folder).as_posix(), _sha(p))
                   for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256("".join(f"{r}\0{s}\n" for r, s in pairs).encode()).hexdigest()


def _stat(path: Path) -> tuple[int, ...]:
    st_ = path.stat()
    return st_.st_dev, st_.st_ino, st_.st_size, st_.st_mtime_ns, st_.st_ctime_ns


def _apply(op: Op, folder: Path, outside: Path) -> Path:
    kind, name, data = op
    target = folder / name
    if kind == "add" or not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        os.utime(target, ns=(OLD_NS, OLD_NS))
        return target
    times = (target.stat().st_atime_ns, target.stat().st_mtime_ns)
    if kind == "inplace":
        target.write_bytes(data)
    elif kind == "rename":
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.utime(tmp, ns=times)
        os.replace(tmp, target)
    else:
        link = outside / "link"
        link.unlink(missing_ok=True)
        os.link(target, link)
        link.write_bytes(data)
    os.utime(target, ns=times)
    return target


@contextmanager
def _cache_everything() -> Iterator[None]:
    """Let the cache keep even files written a moment ago (the racy window is a guard against
    same-tick rewrites; the property below is conditional on the stat key, so it does not
    depend on the filesystem's timestamp granularity)."""
    saved = provenance._RACY_WINDOW_NS
    provenance._RACY_WINDOW_NS = -(10**18)
    try:
        yield
    finally:
        provenance._RACY_WINDOW_NS = saved


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(OPS, min_size=1, max_size=4))
@example(ops=[("inplace", "a.bin", b"X" * SIZE)])  # cp -p over the file: size and mtime kept
@example(ops=[("rename", "b.bin", b"Y" * SIZE)])  # rsync -t: new inode, times copied
@example(ops=[("link", "sub/c.bin", b"Z" * SIZE)])  # rewritten through another hard link
@example(ops=[("add", "sub/new.bin", b"N" * SIZE)])  # a new file in the folder
def test_rewrites_never_keep_an_old_hash(ops: list[Op]) -> None:
    """After any rewrite sequence: strict hashing gives the bytes' sha256, file and folder; the
    cache gives it too whenever the file's stat key (inode, ctime, size, mtime) changed."""
    with tempfile.TemporaryDirectory() as tmp, _cache_everything():
        folder, outside = Path(tmp, "d"), Path(tmp, "outside")
        outside.mkdir()
        for name in NAMES:
            _apply(("add", name, name.encode().ljust(SIZE, b".")), folder, outside)
        cache = Path(tmp, "hashes.json")
        warm = InputHasher(cache, strict=False)
        warm.hash(folder)
        warm.save()
        before = {p: (_stat(p), _sha(p)) for p in folder.rglob("*.bin")}
        for op in ops:
            _apply(op, folder, outside)
        assert InputHasher(cache, strict=True).hash(folder)["sha256"] == _folder_sha(folder)
        assert hash_input(folder)["sha256"] == _folder_sha(folder)
        cached = InputHasher(cache, strict=False)
        hidden = []  # files whose bytes changed under an unchanged stat key: none, in practice
        for path in folder.rglob("*.bin"):
            assert hash_input(path)["sha256"] == _sha(path)
            stat_then, sha_then = before.get(path, (None, None))
            if stat_then != _stat(path):
                assert cached.hash(path)["sha256"] == _sha(path), path
            elif sha_then != _sha(path):
                hidden.append(path)
        if not hidden:
            assert cached.hash(folder)["sha256"] == _folder_sha(folder)


def test_real_cp_p_over_an_input_is_seen(tmp_path: Path) -> None:
    """The issue's case with the real tool: `cp -p` a same-size file with an old mtime over a
    cached input; a later hasher (cache or strict) gives the new sha256."""
    cp = shutil.which("cp")
    if cp is None:
        pytest.skip("no cp executable here")
    cache = tmp_path / "hashes.json"
    data, other = tmp_path / "eval.jsonl", tmp_path / "other.jsonl"
    data.write_bytes(b'{"x": 1}\n')
    other.write_bytes(b'{"x": 2}\n')
    for f in (data, other):
        os.utime(f, ns=(OLD_NS, OLD_NS))
    with _cache_everything():
        first = InputHasher(cache, strict=False)
        first.hash(data)
        first.save()
        subprocess.run([cp, "-p", str(other), str(data)], check=True)
        assert data.stat().st_mtime_ns == OLD_NS
        assert InputHasher(cache, strict=False).hash(data)["sha256"] == _sha(other)
    assert InputHasher(cache, strict=True).hash(data)["sha256"] == _sha(other)


INPUT_FALSIFIER = '''\
import pytest

pytestmark = pytest.mark.live


@pytest.mark.claim("TOY-TEXT-NOT-TINY")
def test_text(evidence, subject, workspace):
    path = workspace.root / "data" / f"{subject.id}.txt"
    data = path.read_bytes().splitlines(keepends=True)
    evidence.input(path)
    evidence.measure("n_lines", len(data), unit="count")
    evidence.measure("mean_line_bytes", sum(map(len, data)) / len(data), unit="bytes")
'''


def _forge_stale_cache(cache: Path, path: Path, old_sha: str) -> None:
    """A cache entry under the file's current stat key holding its old sha256: what a stat
    cache answers when a rewrite hides from its key (format 1 trusted size and mtime alone)."""
    import json

    entries = {str(path): {"stat": list(_stat(path)), "sha256": old_sha}}
    cache.write_text(json.dumps({"format": provenance._CACHE_FORMAT, "entries": entries}))


def test_gate_and_ci_rehash_what_the_local_cache_would_trust(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A rewritten input that the hash cache still answers for: local `status` trusts the cache,
    but `falsify gate`, `falsify pr`'s after state and any CI=true run re-read the bytes."""
    from harness.cli import main
    from tests.harness.toyspace import write_toyspace

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("FALSIFY_CACHE", str(pytester.path / "cache"))
    lines = {"short-lines": 20, "few-lines": 20, "long-lines": 200}
    write_toyspace(pytester.path, falsifier=INPUT_FALSIFIER,
                   extra={f"data/{k}.txt": ("x" * (w - 1) + "\n") * 12 for k, w in lines.items()})
    pytester.runpytest("falsifiers").assert_outcomes(passed=3)
    data = pytester.path / "data" / "short-lines.txt"
    old_sha = _sha(data)
    data.write_bytes(data.read_bytes().replace(b"x", b"z"))  # same size
    _forge_stale_cache(pytester.path / "cache" / "hashes.json", data, old_sha)
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str]:
        code = main([*args, "--root", str(pytester.path)])
        out = capsys.readouterr()
        return code, out.out + out.err

    code, out = run("status", "--json")
    assert all(not r["stale"] for r in json.loads(out)["claims"][0]["rows"])  # cache answered
    code, out = run("gate")
    assert code == 1
    assert "input data/short-lines.txt changed" in out
    monkeypatch.setenv("CI", "true")
    code, out = run("status", "--json")
    stale = {r["subject"]: r["stale"] for r in json.loads(out)["claims"][0]["rows"]}
    assert "input data/short-lines.txt changed" in stale["short-lines"][0]
    assert stale["few-lines"] == stale["long-lines"] == []
