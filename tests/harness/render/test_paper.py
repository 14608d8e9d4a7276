"""Paper tables and number macros, parsed: booktabs structure, braces, records, every key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.contracts import load_contracts
from harness.ledger import Ledger
from harness.render.paper import render_paper
from harness.render.view import build_view
from tests.harness.render.space import Space, populated

REPO = Path(__file__).resolve().parents[3]


def balanced(tex: str) -> bool:
    """Braces balance once escaped braces and comments are set aside."""
    depth = 0
    for line in tex.splitlines():
        code = re.sub(r"(?<!\\)%.*", "", line).replace("\\{", "").replace("\\}", "")
        for ch in code:
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth < 0:
                return False
    return depth == 0


def macros(tex: str) -> dict[str, str]:
    """key -> value of every \\falsifydef{key}{value} line."""
    found = {}
    for line in tex.splitlines():
        m = re.match(r"\\falsifydef\{([^{}]+)\}\{(.*)\}%", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def rendered(space: Space) -> dict[str, str]:
    out = render_paper(space.view(), space.root / "paper" / "generated")
    return {str(p.relative_to(space.root / "paper" / "generated")): d.decode()
            for p, d in out.texts.items()}


def test_table_is_booktabs_with_a_record_per_cell(tmp_path: Path) -> None:
    """One row per subject (controls out), a column per bound measurement, record ids."""
    space = populated(tmp_path)
    tex = rendered(space)["tables/lm.tex"]
    assert balanced(tex)
    assert tex.index("\\toprule") < tex.index("\\midrule") < tex.index("\\bottomrule")
    assert "\\caption{Held-out loss \\& the uniform baseline}" in tex
    assert "\\label{tab:lm}" in tex
    colspec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", tex)
    assert colspec is not None
    body = tex[tex.index("\\midrule") + 8:tex.index("\\bottomrule")]
    rows = [r for r in body.split("\\\\") if r.strip()]
    assert len(rows) == 2  # demo-torch, demo-mlx; the control stays out
    ids = {r.id for r in space.ledger().records()}
    for row in rows:
        cells = [re.sub(r"%.*", "", line).strip() for line in row.strip().splitlines()]
        assert len(cells) == len(colspec.group(1))
        notes = re.findall(r"% record ([0-9a-f]+)", row)
        assert len(notes) == 5  # the subject, three numbers, the verdict
        assert set(notes) <= ids
    torch = rows[0]
    assert "& 3.41~[3.36, 3.46]%" in torch
    assert "& 2048%" in torch
    assert "& 0.012%" in torch  # a ratio shows as a percentage; the header says so
    assert "unk\\_ratio (\\%)" in tex


def test_evidence_macros_cover_every_bound_number(tmp_path: Path) -> None:
    """Plain key = first subject; @subject for each subject and control; /ci for intervals."""
    space = populated(tmp_path)
    defs = macros(rendered(space)["evidence.tex"])
    assert defs["LM-LOSS.val_nll"] == "3.41\\,nats"
    assert defs["LM-LOSS.val_nll@demo-torch"] == "3.41\\,nats"
    assert defs["LM-LOSS.val_nll@demo-untied"] == "9.8\\,nats"
    assert defs["LM-LOSS.val_nll/ci"] == "[3.36, 3.46]\\,nats"
    assert defs["LM-LOSS.unk_ratio@demo-untied"] == "50\\,\\%"
    assert defs["LM-LOSS.vocab_size"] == "2048"
    assert not any(k.startswith("TOY-") for k in defs)  # no paper binding
    assert balanced(rendered(space)["evidence.tex"])


def test_macros_without_evidence_say_so(tmp_path: Path) -> None:
    defs = macros(rendered(Space(tmp_path))["evidence.tex"])
    assert defs["LM-LOSS.val_nll"] == "\\falsifynoevidence{LM-LOSS.val_nll@demo-torch}"


def test_repository_paper_cites_only_defined_keys(tmp_path: Path) -> None:
    """paper/main.tex: every \\ev key is defined and every generated \\input exists, when the
    repository's contracts are rendered (into a scratch folder, from an empty ledger)."""
    main = (REPO / "paper" / "main.tex").read_text()
    contracts = load_contracts(REPO / "contracts")
    view = build_view(contracts, Ledger(tmp_path / "empty"), ledger_label="empty")
    out = render_paper(view, tmp_path / "generated")
    files = {str(p.relative_to(tmp_path)): d.decode() for p, d in out.texts.items()}
    defs = macros(files["generated/evidence.tex"])
    code = re.sub(r"(?<!\\)%.*", "", main)
    keys = re.findall(r"\\ev\{([^{}]+)\}", code)
    keys += [k + "/ci" for k in re.findall(r"\\evci\{([^{}]+)\}", code)]
    assert keys
    # An element of a vector (KEY/3, KEY@subject/0) exists once a record gives the length; with
    # no evidence its vector's summary macro (KEY/len) stands for it.
    missing = [k for k in keys if k not in defs and re.sub(r"/\d+$", "/len", k) not in defs]
    assert not missing, f"paper/main.tex cites undefined keys: {missing}"
    inputs = re.findall(r"\\input\{(generated/[^{}]+)\}", code)
    assert inputs
    assert [i for i in inputs if i not in files] == []
    assert balanced(main)
    assert all(balanced(t) for t in files.values())


@pytest.mark.parametrize("subject", ["bad{brace}", "has space", "pct%"])
def test_keys_tex_cannot_carry_are_left_out(tmp_path: Path, subject: str) -> None:
    contract = (Path(__file__).parent / "space.py").read_text()
    lm = re.search(r'LM = """\\\n(.*?)"""', contract, re.S)
    assert lm is not None
    space = Space(tmp_path, {"lm": lm.group(1).replace("demo-mlx", f'"{subject}"')})
    tex = rendered(space)["evidence.tex"]
    assert subject not in tex
    assert balanced(tex)
