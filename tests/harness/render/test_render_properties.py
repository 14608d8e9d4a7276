"""Arbitrary claim titles, statements and reasons survive the README, the site and the paper."""

from __future__ import annotations

import html
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from harness.render import build
from harness.render.escape import oneline
from harness.render.paper import render_paper
from harness.render.plots import area_plots
from harness.render.readme import area_readme
from harness.safeyaml import load_yaml_text
from tests.harness.render.space import LM, Space, lm_ms
from tests.harness.render.test_escape import latex_unescape

MD = MarkdownIt("commonmark").enable("table")
TITLE = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85"),
                min_size=1, max_size=40).filter(lambda t: t.strip() != "")


def _space(root: Path, title: str, reason: str) -> Space:
    doc = load_yaml_text(LM, "lm.yaml")
    doc["claims"][0]["title"] = title
    doc["claims"][0]["paper"]["caption"] = title
    space = Space(root, {"lm": yaml.safe_dump(doc, allow_unicode=True)})
    rec = space.record("LM-LOSS", "demo-torch", measurements=lm_ms(3.4))
    space.append(rec.__class__(**{**rec.__dict__, "reasons": (reason,)}))
    return space


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TITLE, TITLE)
@example("a | b & c <script>", "x\n| y |\n# z")
@example("1 ", "two  spaces")
@example("50% of $x_1$ {y} ~z^ \\end{table}", "`rm -rf` *now*")
def test_titles_and_reasons_render_literally(title: str, reason: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        space = _space(Path(tmp), title, reason)
        view = space.view()
        text = area_readme(view, view.areas[0], area_plots(view.areas[0]), None)
        tokens = MD.parse(text)
        inlines = ["".join(c.content for c in t.children or []) for t in tokens
                   if t.type == "inline"]
        norm = [" ".join(i.split()) for i in inlines]  # titles read with white space collapsed
        assert " ".join(oneline(title).split()) in norm
        assert oneline(reason).strip() in [i.strip() for i in inlines]  # the "why" cell
        rows = [t for t in tokens if t.type == "tr_open"]
        assert rows  # tables still parse as tables
        tex = render_paper(view, Path(tmp) / "g").texts[Path(tmp) / "g" / "tables" / "lm.tex"]
        caption = re.search(r"\\caption\{(.*)\}\n", tex.decode())
        assert caption is not None
        assert latex_unescape(caption.group(1)) == oneline(title)
        layout = build.Layout(Path(tmp) / "evidence", space.ledger_dir, Path(tmp) / "paper")
        site = build.render(view, layout, site_dir=Path(tmp) / "s", workers=1).site
        assert site is not None
        page = site.texts[Path(tmp) / "s" / "claims" / "LM-LOSS.html"].decode()
        assert "<script" not in page.lower()  # a claim page has no script, whatever the title
        assert title in html.unescape(page)
