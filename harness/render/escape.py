"""Escaping for every format falsify renders: LaTeX, Markdown and HTML.

Everything a renderer takes from a contract or a record (claim titles, reasons, notes, subject
ids) is untrusted text. Templates escape by default (see ``harness.render.templates``); these
functions are the single place that knows each format's special characters.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

__all__ = [
    "html",
    "latex",
    "md_code",
    "md_fence",
    "md_text",
    "oneline",
]


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}

# Markdown: what only matters at the start of a line (lists, headings, quotes, rules).
_MD_LEADING = re.compile(r"^(\d{0,9})([-+*.)])(?=\s|$)")


# str.translate tables: one C-level pass per string (renders escape hundreds of thousands).
# Line breaks: CommonMark's \n and \r, and the rest of Python's splitlines; then control
# characters; then Markdown's inline syntax (escaped anywhere in a line).
_ONELINE = {**{ord(c): " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"},
            **{c: None for c in (*range(0x00, 0x09), *range(0x0e, 0x1c), 0x1f, 0x7f)}}
_LATEX_TABLE = {**_ONELINE, **{ord(c): v for c, v in _LATEX.items()}}
_MD_INLINE = "\\`*_{}[]<>|~&!#$"
_MD_TABLE = {**_ONELINE, **{ord(c): "\\" + c for c in _MD_INLINE}}


def oneline(text: str) -> str:
    """``text`` on one line: every line break becomes a space, control characters go."""
    return text.translate(_ONELINE) if _CONTROL.search(text) else text


# Control characters and line breaks: rare, so they are looked for before translating.
_CONTROL = re.compile(r"[\x00-\x08\n\r\x0b-\x1f\x7f\x85\u2028\u2029]")
_LEADING_MARKS = frozenset("-+*.)")


# A line of three or more dashes (spaces and tabs between) is a thematic break, not text.
_DASH_RULE = re.compile(r"-[ \t]*-[ \t]*-[- \t]*\Z")


def _md_leading(text: str) -> str:
    """``_MD_LEADING`` applied, for a text whose first character it can match (\\d: Nd); and
    a dash rule escaped (``*`` and ``_`` rules are escaped as inline syntax already)."""
    first = text[:1]
    if first == "-" and _DASH_RULE.match(text):
        return "\\" + text
    if first in _LEADING_MARKS or first.isdecimal():
        match = _MD_LEADING.match(text)  # re.sub's template costs five times a match
        if match is not None:
            return f"{match[1]}\\{text[match.end(1):]}"
    return text


# str.translate maps to multi-character strings one dict lookup per character; a chain of
# str.replace over the specials present is several times faster on table cells. Braces go
# first (their escapes add backslashes, and the split below has already taken the input's).
_LATEX_CHAIN = tuple((c, _LATEX[c]) for c in "{}&%$#_~^<>|")


def latex(text: object) -> str:
    """``text`` as LaTeX text-mode material: every special character escaped, on one line.

    The same as ``str(text).translate(_LATEX_TABLE)`` (a property test holds it to that)."""
    raw = str(text)
    if _CONTROL.search(raw):
        raw = raw.translate(_ONELINE)
    parts = raw.split("\\")
    for i, part in enumerate(parts):
        for c, escaped in _LATEX_CHAIN:
            if c in part:
                part = part.replace(c, escaped)
        parts[i] = part
    return _LATEX["\\"].join(parts)


# Anything md_text would change, but for leading blanks (tested apart: an alternation in the
# pattern costs three times the search); text without it (most cells) takes the fast path.
_MD_SPECIAL = re.compile(r"[\\`*_{}\[\]<>|~&!#$\x00-\x08\n\r\x0b-\x1f\x7f\x85\u2028\u2029]")


def md_text(text: object) -> str:
    """``text`` as inline Markdown (a paragraph, a list item or a table cell).

    Line breaks become spaces (a table cell never holds a raw newline), every character that
    opens inline syntax is backslash-escaped (pipes included, so a cell never splits), and a
    line-leading list, heading or quote marker is escaped too.
    """
    raw = str(text)
    if not _MD_SPECIAL.search(raw) and raw[:1] not in (" ", "\t"):
        return _md_leading(raw)
    if _CONTROL.search(raw):
        raw = raw.translate(_ONELINE)
    for c in _MD_INLINE:  # the backslash first: the escapes after it add backslashes
        if c in raw:
            raw = raw.replace(c, "\\" + c)
    # Leading white space means nothing in Markdown, except four spaces: a code block.
    flat = raw.lstrip(" \t")
    return _md_leading(flat)


_PLAIN_CODE = re.compile(r"[A-Za-z0-9._:/@+=-]+")


def md_code(text: object, *, cell: bool = False) -> str:
    """``text`` as an inline code span: a backtick fence longer than any run inside it.

    In a table ``cell``, pipes are escaped too: GitHub splits cells on ``|`` even inside code
    spans, and drops the backslash there.
    """
    body = str(text)
    if _PLAIN_CODE.fullmatch(body):  # ids, hashes, names: nothing to fence or pad
        return f"`{body}`"
    body = oneline(body)
    if cell:
        body = body.replace("|", "\\|")
    longest = max(map(len, re.findall(r"`+", body)), default=0) if "`" in body else 0
    fence = "`" * (longest + 1)
    # CommonMark strips one space from each end when both ends are spaces: pad to survive it.
    spaced = body.startswith(" ") and body.endswith(" ") and bool(body.strip(" "))
    pad = " " if body.startswith("`") or body.endswith("`") or spaced else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def md_fence(text: str, info: str = "") -> str:
    """``text`` as a fenced code block whose fence no line of ``text`` can close."""
    body = "\n".join(re.split(r"\r\n|\r|\n", text.rstrip()))
    longest = max((len(run) for run in re.findall(r"`{3,}", body)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{oneline(info)}\n{body}\n{fence}"


def html(text: object) -> Markup:
    """``text`` escaped for HTML text and attribute values (markupsafe)."""
    return escape(text)
