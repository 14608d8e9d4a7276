"""Jinja environments that escape by default, one per output format.

Markdown and LaTeX have no autoescape in Jinja, so each environment escapes through ``finalize``:
every ``{{ value }}`` (``<< value >>`` in LaTeX) passes through the format's escape function unless
it is :class:`markupsafe.Markup`, which helpers return for material they built themselves
(tables, code spans, LaTeX numbers). HTML uses Jinja's own autoescape.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from harness.render.escape import latex, md_code, md_text

__all__ = ["html_env", "latex_env", "markdown_env", "md_table", "safe"]


def safe(text: str) -> Markup:
    """Mark text a helper built (and escaped) itself."""
    return Markup(text)


def _md_finalize(value: Any) -> str:
    return value if isinstance(value, Markup) else md_text(value)


def _latex_finalize(value: Any) -> str:
    return value if isinstance(value, Markup) else latex(value)


def _md_cell(value: Any) -> str:
    text = str(value) if isinstance(value, Markup) else md_text(value)
    return text.strip() or " "


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Markup:
    """A GitHub table; plain cells are escaped, Markup cells are taken as they are."""
    lines = ["| " + " | ".join(md_text(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return Markup("\n".join(lines))


def _common(env: Environment) -> Environment:
    env.filters["code"] = lambda v: Markup(md_code(v))
    env.filters["cellcode"] = lambda v: Markup(md_code(v, cell=True))
    env.filters["url"] = lambda v: Markup(quote(str(v)))
    env.globals["md_table"] = md_table
    return env


@cache
def markdown_env() -> Environment:
    env = Environment(loader=PackageLoader("harness.render", "templates"), autoescape=False,
                      finalize=_md_finalize, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    return _common(env)


@cache
def latex_env() -> Environment:
    return Environment(loader=PackageLoader("harness.render", "templates"), autoescape=False,
                       finalize=_latex_finalize, undefined=StrictUndefined, trim_blocks=True,
                       lstrip_blocks=True, keep_trailing_newline=True,
                       block_start_string="<%", block_end_string="%>",
                       variable_start_string="<<", variable_end_string=">>",
                       comment_start_string="<#", comment_end_string="#>")


@cache
def html_env() -> Environment:
    return Environment(loader=PackageLoader("harness.render", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)
