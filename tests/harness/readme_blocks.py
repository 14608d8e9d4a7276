"""A Markdown file's fenced code blocks, and what is wrong with each (for the README tests).

Markers are HTML comments on the line before a block:

- ``<!-- falsify:example NAME -->``: the block is part of the runnable example NAME (its yaml
  blocks become ``contracts/``, its python blocks ``falsifiers/``, its toml block the config);
- ``<!-- falsify:fragment -->``: a python block that uses names defined elsewhere (it must still
  compile and import only from ``harness.api``).

Every python, toml and yaml block must parse; python imports only public names of
``harness.api`` (and a training script those of ``harness.runs.live``); a toml block holding a
falsify config passes the config schema; a yaml block holding ``claims:`` or ``uses:`` loads as
a contract file.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

__all__ = ["Block", "block_problems", "blocks", "stray_markers"]

_MARKER = re.compile(r"<!--\s*falsify:(example|fragment)(?:\s+([\w.-]+))?\s*-->")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, text, first line (1-based) and marker."""

    lang: str
    code: str
    line: int
    example: str | None = None
    fragment: bool = False


def _marker(token: Any) -> re.Match[str] | None:
    if token.type != "html_block":
        return None
    return _MARKER.fullmatch(token.content.strip())


def blocks(markdown: str) -> list[Block]:
    """Every fenced code block of ``markdown``, in order (markdown-it's CommonMark parser)."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    out = []
    for i, tok in enumerate(tokens):
        if tok.type != "fence":
            continue
        found = _marker(tokens[i - 1]) if i else None
        kind, name = (found.group(1), found.group(2)) if found else (None, None)
        lang = tok.info.split()[0] if tok.info.strip() else ""
        start = tok.map[0] + 1 if tok.map else 0
        out.append(Block(lang, tok.content, start, name if kind == "example" else None,
                         kind == "fragment"))
    return out


def stray_markers(markdown: str) -> list[int]:
    """Lines of markers that stand before no code block (a block moved away from its marker)."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [tok.map[0] + 1 if tok.map else 0 for i, tok in enumerate(tokens)
            if _marker(tok) and (i + 1 == len(tokens) or tokens[i + 1].type != "fence")]


def block_problems(block: Block, where: str) -> list[str]:
    """What is wrong with ``block`` (``where``: the file, for messages); empty when fine."""
    at = f"{where}:{block.line}"
    if block.lang in ("python", "py"):
        return _python_problems(block, at)
    if block.lang == "toml":
        return _toml_problems(block.code, at)
    if block.lang in ("yaml", "yml"):
        return _yaml_problems(block.code, at)
    return []


def _python_problems(block: Block, at: str) -> list[str]:
    try:
        tree = ast.parse(block.code, at)
    except SyntaxError as exc:
        return [f"{at}: python block line {exc.lineno}: {exc.msg}"]
    problems = _import_problems(tree, at)
    if not block.fragment:
        problems += _undefined_names(block.code, at)
    return problems


# The modules a README block may import from: falsifiers use harness.api, training scripts the
# live checks (whose callbacks import transformers or lightning, which harness.api never does).
_PUBLIC_MODULES = ("harness.api", "harness.runs.live")


def _import_problems(tree: ast.Module, at: str) -> list[str]:
    import importlib

    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "harness":
            if node.module not in _PUBLIC_MODULES:
                problems.append(f"{at}: python block line {node.lineno} imports from "
                                f"{node.module}; a falsifier imports from harness.api")
                continue
            public = set(importlib.import_module(node.module).__all__)
            problems += [f"{at}: python block line {node.lineno}: {node.module} has no public "
                         f"name {a.name!r} (see docs/API.md)"
                         for a in node.names if a.name not in public]
        elif isinstance(node, ast.Import):
            problems += [f"{at}: python block line {node.lineno} imports {a.name}; a falsifier "
                         f"imports from harness.api" for a in node.names
                         if a.name.split(".")[0] == "harness" and a.name not in _PUBLIC_MODULES]
    return problems


def _undefined_names(code: str, at: str) -> list[str]:
    """Names used but never defined or imported (ruff's pyflakes rule F821)."""
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "F821",
         "--output-format", "concise", "--stdin-filename", "block.py", "-"],
        input=code, capture_output=True, text=True, check=False, timeout=60)
    if out.returncode not in (0, 1):
        msg = f"ruff could not check {at}: {out.stderr}"
        raise RuntimeError(msg)
    found = re.findall(r"^block\.py:(\d+):\d+: F821 (.*)$", out.stdout, re.MULTILINE)
    return [f"{at}: python block line {line}: {text}; import it from harness.api or define it "
            f"(a block of names defined elsewhere is marked <!-- falsify:fragment -->)"
            for line, text in found]


def _toml_problems(code: str, at: str) -> list[str]:
    from harness.config_schema import config_problems, config_schema

    try:
        data = tomllib.loads(code)
    except tomllib.TOMLDecodeError as exc:
        return [f"{at}: toml block: {exc}"]
    tool = data.get("tool")
    if isinstance(tool, dict) and "falsify" in tool:
        return config_problems(tool["falsify"], Path(at), ("tool", "falsify"))
    if data and set(data) <= set(config_schema()["properties"]):  # a falsify.toml
        return config_problems(data, Path(at))
    return []


def _yaml_problems(code: str, at: str) -> list[str]:
    from harness.contracts import ContractError, load_contracts
    from harness.safeyaml import YamlError, load_yaml_text

    try:
        data = load_yaml_text(code, at)
    except YamlError as exc:
        return [str(exc)]
    if not (isinstance(data, dict) and ("claims" in data or "uses" in data)):
        return []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "readme.yaml").write_text(code, encoding="utf-8")
        try:
            load_contracts(Path(tmp))
        except ContractError as exc:
            return [f"{at}: claim block: {p}" for p in exc.problems]
    return []
