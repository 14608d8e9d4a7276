"""The README's "Subjects" section documents every subject kind and option the schema allows.

A kind or option added to ``harness/schema/workspace.schema.json`` without a row in the README's
table fails here, and so does a row for one the schema does not know. The section's two config
snippets are read as the files they are written for (falsify.toml and pyproject.toml) and must
pass the same check a user's config does, so the snippet pasted where it says is never refused.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from harness.config_schema import config_problems, config_schema, subject_kinds

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    text = README.read_text("utf-8")
    start = text.index("\n## Subjects\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def documented() -> set[tuple[str, str]]:
    """(kind, option) for every row of the section's table: | `kind` | `a`, `b` | ..."""
    rows = set()
    for line in section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].startswith("`"):
            continue
        kind = cells[0].strip("`")
        for option in re.findall(r"`([^`]+)`", cells[1]):
            rows.add((kind, option))
    return rows


def test_every_kind_and_option_in_the_schema_has_a_row() -> None:
    schema = {(kind, option) for kind, options in subject_kinds().items() for option in options}
    rows = documented()
    assert sorted(schema - rows) == [], "add these (kind, option) rows to README's Subjects table"
    assert sorted(rows - schema) == [], "the README documents options the schema does not allow"


def test_every_top_level_key_is_named() -> None:
    text = section()
    for key in config_schema()["properties"]:
        assert f"`{key}`" in text, key


def test_the_snippets_pass_the_check_in_the_file_each_names(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", section(), re.S)
    forms = {block.splitlines()[0]: tomllib.loads(block) for block in blocks}
    own = forms["# falsify.toml"]
    pyproject = forms["# pyproject.toml: the same tables, under tool.falsify"]
    assert config_problems(own, tmp_path / "falsify.toml") == []
    section_ = pyproject["tool"]["falsify"]
    assert config_problems(section_, tmp_path / "pyproject.toml", ("tool", "falsify")) == []
    assert section_ == own  # the same config in each form
    assert {t["kind"] for t in own["subjects"].values()} >= {"model", "evalset", "lm-eval"}
