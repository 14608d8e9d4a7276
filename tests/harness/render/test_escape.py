"""Escaping is total: arbitrary claim titles and notes never break LaTeX, Markdown or HTML."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from harness.render.escape import html, latex, md_code, md_fence, md_text, oneline
from harness.render.templating import md_table

MD = MarkdownIt("commonmark").enable("table")
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
NASTY = "\\&%$#_{}~^<>|`*[]()!\n\r\u2028 -+=.1)"
SPICY = st.text(st.sampled_from([*NASTY, "a", "b", " ", "é", "߀"]), max_size=40)

_LATEX_UNDO = {r"\textbackslash{}": "\\", r"\textasciitilde{}": "~", r"\textasciicircum{}": "^",
               r"\textless{}": "<", r"\textgreater{}": ">", r"\textbar{}": "|"}
_LATEX_TOKEN = re.compile(r"\\text[a-z]+\{\}|\\[&%$#_{}]|[&%$#_{}~^\\<>|]|[^&%$#_{}~^\\<>|]+")


def latex_unescape(text: str) -> str:
    """Reads escaped LaTeX back; raises on any special character left unescaped."""
    out = []
    for tok in _LATEX_TOKEN.findall(text):
        if tok in _LATEX_UNDO:
            out.append(_LATEX_UNDO[tok])
        elif len(tok) == 2 and tok[0] == "\\":
            out.append(tok[1])
        elif len(tok) == 1 and tok in "&%$#_{}~^\\<>|":
            raise AssertionError(f"unescaped {tok!r} in {text!r}")
        else:
            out.append(tok)
    return "".join(out)


@given(st.one_of(TEXT, SPICY))
@example("50% of $x_1$ & {y} ~ z^2 \\ #1")
def test_latex_escapes_every_special_character(text: str) -> None:
    """Escaped LaTeX holds no bare special character and reads back to the one-line text."""
    escaped = latex(text)
    assert "\n" not in escaped
    assert latex_unescape(escaped) == oneline(text)


def _cells(markdown: str) -> list[str]:
    tokens = MD.parse(markdown)
    return ["".join(c.content for c in tok.children or []) for tok in tokens
            if tok.type == "inline"]


@settings(max_examples=300)
@given(st.one_of(TEXT, SPICY))
@example("a | b\nc")
@example("1. not a list")
@example("- not a list")
@example("# not a heading")
@example("&amp; <b>x</b> `code` *em* [link](http://x)")
def test_markdown_cell_is_one_literal_cell(text: str) -> None:
    """In a GitHub table, an escaped cell stays one cell whose text is the input, verbatim."""
    escaped = md_text(text)
    assert "\n" not in escaped
    assert "\r" not in escaped
    assert re.search(r"(?<!\\)(?:\\\\)*\|", escaped.replace("\\|", "")) is None
    table = str(md_table(["h", "k"], [[text, "end"]]))
    cells = [c.strip() for c in _cells(table)]  # Markdown trims a cell's edge white space
    assert cells == ["h", "k", oneline(text).strip(), "end"]


@given(st.one_of(TEXT, SPICY))
@example("1. first")
@example("+ plus")
@example("    indented code?")
@example("\t- tabbed list")
@example("---")
@example("-- -\t-  ")
def test_markdown_paragraph_is_literal(text: str) -> None:
    """As a paragraph of its own, escaped text renders as exactly that text."""
    escaped = md_text(text)
    expected = oneline(text).strip()
    tokens = MD.parse(escaped)
    if not expected:
        return
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    assert "".join(c.content for c in tokens[1].children or []).strip() == expected


@given(st.one_of(TEXT, SPICY))
@example("``a`b``")
@example(" ")
def test_code_span_holds_the_text(text: str) -> None:
    """An inline code span shows its one-line text exactly."""
    expected = oneline(text)
    if not expected.strip(" "):
        return
    tokens = MD.parse(f"x {md_code(text)} y")
    codes = [c.content for c in tokens[1].children or [] if c.type == "code_inline"]
    assert codes == [expected]


@given(st.lists(SPICY, max_size=4).map("\n".join))
@example("```\nfence\n````")
def test_fence_cannot_be_closed_by_its_content(text: str) -> None:
    tokens = MD.parse(md_fence(text, "sh"))
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1
    body = re.sub(r"\r\n?", "\n", text.rstrip())
    assert fences[0].content == body + "\n"


@given(TEXT)
@example('<script>alert("x")</script> & \'y\'')
def test_html_escape_leaves_no_markup(text: str) -> None:
    escaped = str(html(text))
    assert "<" not in escaped
    assert ">" not in escaped
    assert '"' not in escaped
    assert re.search(r"&(?!(amp|lt|gt|quot|#39|#34);)", escaped) is None


@settings(max_examples=500)
@given(st.one_of(TEXT, SPICY))
@example("\\{}~^ \\textbackslash{} {\\}")
def test_fast_escapes_equal_one_translate_pass(text: str) -> None:
    """The replace chains give exactly what one simultaneous translate pass gives."""
    from harness.render import escape

    assert latex(text) == text.translate(escape._LATEX_TABLE)
    reference = escape._md_leading(text.translate(escape._MD_TABLE).lstrip(" \t"))
    assert md_text(text) == reference


def test_simulated_data_are_labelled_and_escaped() -> None:
    from types import SimpleNamespace

    from harness.render.examples import simulated_lines

    def row(subject: str, attachments: dict[str, object] | None) -> SimpleNamespace:
        record = None if attachments is None else SimpleNamespace(attachments=attachments)
        return SimpleNamespace(ref=SimpleNamespace(id=subject), record=record)

    lines = simulated_lines([row("sheet", {"simulated": "a *rater* model | v1"}),
                             row("people", {}), row("missing", None),
                             row("blank", {"simulated": "  "})])
    assert len(lines) == 1
    assert lines[0].startswith("`sheet`: ")
    assert "\\*rater\\*" in lines[0]
    assert "\\|" in lines[0]
