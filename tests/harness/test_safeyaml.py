"""The YAML loader with limits: bombs, cycles, depth, duplicate keys and size are refused by name.

Every input either loads to what PyYAML's safe loader gives, or is a YamlError naming the file
(and line) and the limit: never another exception, never unbounded memory or time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness import safeyaml
from harness.safeyaml import DEFAULT_LIMITS, YamlError, YamlLimits, load_yaml, load_yaml_text

# libyaml's events into the counting composer (the default here), and PyYAML's own SafeLoader
LOADERS = pytest.mark.parametrize("loader", sorted({safeyaml._LOADER, safeyaml._LimitedLoader},
                                                   key=lambda c: c.__name__),
                                  ids=lambda c: c.__name__)


@contextmanager
def use(loader: type) -> Iterator[None]:
    saved, safeyaml._LOADER = safeyaml._LOADER, loader
    try:
        yield
    finally:
        safeyaml._LOADER = saved


SMALL = YamlLimits(max_bytes=64 * 1024, max_nodes=2_000, max_aliases=200, max_depth=20)
ROOT = Path(__file__).resolve().parents[2]


def laughs(levels: int, fan: int = 9) -> str:
    """The classic billion-laughs document: each level repeats the previous one ``fan`` times."""
    name = [chr(ord("a") + i) for i in range(levels + 1)]
    lines = [f"a: &a [{','.join(['lol'] * fan)}]"]
    for i in range(1, levels + 1):
        lines.append(f"{name[i]}: &{name[i]} [" + ",".join([f"*{name[i - 1]}"] * fan) + "]")
    return "\n".join(lines) + "\n"


@LOADERS
def test_the_bomb_of_the_issue_is_refused_naming_file_line_and_limit(loader: type) -> None:
    bomb = laughs(8)
    assert len(bomb.encode()) < 400
    with use(loader), pytest.raises(YamlError) as info:
        load_yaml_text(bomb, "contracts/bomb.yaml")
    assert str(info.value).startswith("contracts/bomb.yaml:")
    assert "100,000 YAML nodes with aliases expanded (the node limit)" in str(info.value)


@LOADERS
def test_legitimate_anchors_still_load(loader: type) -> None:
    """The library's asr.yaml shares measures, params and guards between claims with anchors."""
    text = (ROOT / "harness" / "library" / "claims" / "asr.yaml").read_text("utf-8")
    assert "&pair_measures" in text
    with use(loader):
        assert load_yaml_text(text, "asr.yaml") == yaml.safe_load(text)  # noqa: TID251 (oracle)
        merged = "base: &b {x: 1, y: 2}\nover: {<<: *b, y: 3}\n"
        assert load_yaml_text(merged, "m.yaml") == {"base": {"x": 1, "y": 2},
                                                 "over": {"x": 1, "y": 3}}


@pytest.mark.parametrize(("text", "line", "words"), [
    ("a: &a [1, *a]\n", 1, "a cycle"),
    ("[" * 200 + "]" * 200, 1, "the depth limit"),
    ("a: 1\nb:\n  c: 2\n  d: {e: 1, e: 2}\n", 4, "key 'e' is written twice"),
    ("a: 1\nb: 2\na: 3\n", 3, "(first at line 1)"),
    ("a: [1\n", 2, "not valid YAML"),
    ("a: *nope\n", 1, "not valid YAML"),
    ("t: !!timestamp 2020-13-45\n", 1, "cannot be read as timestamp"),
    ("x: !!python/object:os.system {}\n", 1, "not valid YAML"),
])
@LOADERS
def test_each_refusal_names_the_line(text: str, line: int | None, words: str,
                                     loader: type) -> None:
    with use(loader), pytest.raises(YamlError) as info:
        load_yaml_text(text, "f.yaml")
    assert words in str(info.value)
    assert info.value.where == (f"f.yaml:{line}" if line else "f.yaml")


def test_size_cap_reads_no_more_than_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * (DEFAULT_LIMITS.max_bytes + 10) + b"\n")
    with pytest.raises(YamlError, match=r"big\.yaml: is 1,048,590 bytes, over the 1,048,576-byte"):
        load_yaml(big)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(YamlError, match="is not a regular file"):
        load_yaml(fifo)


def test_not_utf8_names_the_byte(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: \xff\n")
    with pytest.raises(YamlError, match=r"bad\.yaml: not UTF-8 text \(byte 3\)"):
        load_yaml(bad)


# --- properties --------------------------------------------------------------------------------


@st.composite
def alias_documents(draw: st.DrawFn) -> tuple[str, int, int]:
    """Levels of anchors, each repeating earlier ones: (text, expanded nodes, alias uses)."""
    n_levels = draw(st.integers(1, 8))
    sizes: list[int] = []
    lines = []
    aliases = 0
    for i in range(n_levels):
        refs = draw(st.lists(st.integers(0, max(i - 1, 0)), min_size=0 if i == 0 else 1,
                             max_size=6)) if i else []
        leaves = draw(st.integers(0 if refs else 1, 4))
        items = [f"*a{r}" for r in refs] + [str(k) for k in range(leaves)]
        nested = draw(st.booleans())
        body = "[" + ", ".join(items) + "]"
        if nested:  # the anchor on an inner node: its size is counted from there
            lines.append(f"k{i}: {{inner: &a{i} {body}}}")
            sizes.append(1 + len(items) + sum(sizes[r] - 1 for r in refs))
        else:
            lines.append(f"k{i}: &a{i} {body}")
            sizes.append(1 + len(items) + sum(sizes[r] - 1 for r in refs))
        aliases += len(refs)
    # the document: a root mapping, one key scalar per line, each value (or {inner: value})
    total = 1 + sum(1 + s for s in sizes) + sum(2 for line in lines if "inner" in line)
    return "\n".join(lines) + "\n", total, aliases


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alias_documents())
@example(("k0: &a0 [0, 1, 2, 3, 4, 5, 6, 7, 8]\n" + "".join(
    f"k{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 8)), 10**9, 63))
@LOADERS
def test_alias_structures_load_exactly_or_are_refused_by_a_limit(
        loader: type, doc: tuple[str, int, int]) -> None:
    text, total, aliases = doc
    refused: YamlError | None = None
    try:
        with use(loader):
            loaded = load_yaml_text(text, "gen.yaml", SMALL)
    except YamlError as exc:
        refused = exc
    if refused is not None:
        assert refused.where.startswith("gen.yaml:")
        assert "(the node limit)" in refused.message or "(the alias limit)" in refused.message
        assert total > SMALL.max_nodes or aliases > SMALL.max_aliases
        return
    assert total <= SMALL.max_nodes
    assert loaded == yaml.safe_load(text)  # noqa: TID251 (the oracle)


def _tree() -> st.SearchStrategy[Any]:
    keys = st.text("abcxyz_", min_size=1, max_size=4)
    scalars = st.one_of(st.integers(-5, 5), st.text("pqr ", max_size=5), st.booleans())
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, min_size=1, max_size=4)),
        max_leaves=30)


def _render(value: Any, dup: list[int], counter: list[int]) -> str:
    """Flow YAML, one item per line; the mapping numbered ``dup[0]`` repeats its first key."""
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: {_render(v, dup, counter)}" for k, v in value.items()]
        counter[0] += 1
        if counter[0] - 1 == dup[0]:
            first = next(iter(value))
            items.append(f"{json.dumps(first)}: 0")
        return "{\n" + ",\n".join(items) + "\n}"
    if isinstance(value, list):
        return "[\n" + ",\n".join(_render(v, dup, counter) for v in value) + "\n]"
    return json.dumps(value)


def _mappings(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_mappings(v) for v in value.values())
    if isinstance(value, list):
        return sum(_mappings(v) for v in value)
    return 0


@settings(max_examples=150, deadline=None)
@given(_tree(), st.integers(0, 50))
def test_a_key_written_twice_at_any_depth_is_refused(tree: Any, which: int) -> None:
    n = _mappings(tree)
    if n == 0:
        tree, n = {"k": tree}, 1
    text = _render(tree, [which % n], [0])
    with pytest.raises(YamlError) as info:
        load_yaml_text(text, "dup.yaml")
    assert "is written twice in one mapping" in info.value.message
    key = info.value.message.split("'")[1]
    line = int(info.value.where.rsplit(":", 1)[1])
    assert text.splitlines()[line - 1].startswith(f"{json.dumps(key)}: ")
    assert load_yaml_text(_render(tree, [-1], [0]), "ok.yaml") == tree


@settings(max_examples=30, deadline=None)
@given(st.integers(1, SMALL.max_nodes + 200))
@example(SMALL.max_nodes - 1)
@example(SMALL.max_nodes)
def test_big_documents_load_up_to_the_node_limit_and_no_further(n: int) -> None:
    text = "[" + ",".join(["1"] * n) + "]"
    if n + 1 <= SMALL.max_nodes:
        assert load_yaml_text(text, "big.yaml", SMALL) == [1] * n
    else:
        with pytest.raises(YamlError, match=r"big\.yaml:1: more than 2,000 YAML nodes"):
            load_yaml_text(text, "big.yaml", SMALL)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=200)
       | st.text("[]{}&*ab:,- \n!<>|'\"?#%@`", max_size=200))
@example("!!timestamp 2020-13-45")
@example("!!binary =")
@example("? [a]\n: 1")
@example("{a: 1, a: 2}")
@example("&a [*a]")
@example("\x1f")
@LOADERS
def test_any_text_loads_or_is_a_named_error(loader: type, text: str) -> None:
    refused: YamlError | None = None
    try:
        with use(loader):
            load_yaml_text(text, "any.yaml", SMALL)
    except YamlError as exc:  # the only exception allowed out
        refused = exc
    assert refused is None or refused.where.startswith("any.yaml")


# --- bounded memory and time, measured in a child process ------------------------------------

_CHILD = textwrap.dedent("""\
    import resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))
    from pathlib import Path
    from harness.contracts import ContractError, load_contracts
    start = time.perf_counter()
    try:
        load_contracts(Path(sys.argv[1]))
    except ContractError as exc:
        print(exc)
        print(f"seconds {time.perf_counter() - start:.2f}")
        sys.exit(0)
    sys.exit("loaded: the bomb was not refused")
""")


@pytest.mark.parametrize("levels", [8, 9, 12])
def test_bombs_stay_within_memory_and_time_in_a_child(tmp_path: Path, levels: int) -> None:
    """Under a 768 MiB address-space limit and a 60 s timeout: refused, fast, named."""
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "bomb.yaml").write_text(f"claims:\n  - id: X\n{laughs(levels)}")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "contracts")],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bomb.yaml:" in done.stdout
    assert "(the node limit)" in done.stdout
    assert float(done.stdout.rsplit("seconds", 1)[1]) < 10
