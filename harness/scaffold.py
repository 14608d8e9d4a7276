"""``falsify init``: a new falsify project in a folder, and copies of library claims.

``falsify init`` writes the config (``falsify.toml``), ``contracts/``, ``falsifiers/``, a CI
workflow that verifies and gates the committed evidence, and a ``.gitignore`` entry for the
cache. ``--claims KIND`` adds a contract file using every library claim whose falsifier takes
subjects of that kind, bound to placeholder subjects the config defines. ``--copy CLAIM``
copies a library claim (definition and falsifier) into the project, to change what the library
fixes. It is idempotent and never overwrites a file: an existing file is left as it is and
named, with what it would have added. ``falsify demo`` in a folder that is no project yet
writes the demo project (the shipped demo contracts, which use the library's claims) first.
"""

from __future__ import annotations

import argparse
import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.library import BINDING_KEYS, LibraryClaim, library_claims

__all__ = ["Scaffold", "add_parsers", "copy_claim", "init_project", "write_demo_project"]

DEMO_CONTRACTS = Path(__file__).resolve().parent / "demo" / "contracts"

CONFIG = """\
# falsify project config (the same keys go under [tool.falsify] in pyproject.toml).
# Every subject a contract names is defined here; see the README's "Subjects" section.
# A subject a contract names that is not defined here is an ERROR, never a silent skip.
{subjects}"""

GITIGNORE_LINE = ".falsify-cache/"

NEXT_STEPS = """
next:
  1. define your subjects in falsify.toml (README: Subjects): models, eval sets, corpora, runs
  2. use library claims in contracts/*.yaml (falsify init --list), or write your own
  3. pytest falsifiers/ -m live      # live verdicts, appended to evidence/ledger/
  4. falsify keys new --name YOU     # sign your evidence; commit evidence/keys/YOU.pub
  5. falsify gate && falsify render  # what CI checks, and evidence/<area>/README.md"""

WORKFLOW = """\
# Gate on the committed evidence: the ledger must verify (hash chain, signatures) and every
# required claim must have fresh PASS evidence on inputs that re-hash to what was recorded.
name: falsify
on: [push, pull_request]
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
      # falsify as you installed it: a wheel you keep, or "falsify[torch] @ git+REPOSITORY_URL"
      - run: pip install "falsify[torch]"
      - run: falsify contracts check
      - run: falsify verify
      # Under CI=true the gate requires signed segments; commit your public key
      # (falsify keys new --name NAME) to evidence/keys/.
      - run: falsify gate
      - run: falsify render --check
"""

FALSIFIERS_README = """\
# falsifiers

Your own falsifiers: pytest modules (`test_*.py`) whose tests carry
`@pytest.mark.claim("ID")` and record measurements through the `evidence` fixture
(`from harness.api import ...` for the model and eval-set types). Claims used from falsify's
library (`uses:` in `contracts/`) need no file here: the plugin collects their falsifiers with
this folder. Run them all with `pytest falsifiers/ -m live`.
"""

CONTRACTS_README = """\
# contracts

One YAML file per area. Use a library claim by name (`falsify init --list` shows them):

```yaml
uses:
  - claim: TIED-WEIGHTS-INTACT
    subjects: [my-model]
    controls: [{subject: my-model-untied, expect: FAIL}]
```

or write your own claim under `claims:` (README: "Writing a claim").
"""

# Placeholder subjects for `--claims KIND`: each subject's table, by name.
_TABLES: dict[str, str] = {
    "my-model": '''[subjects.my-model]
kind = "model"
path = "models/my-model"     # a save_pretrained folder (torch) or an MLX folder
''',
    "my-model-untied": '''[subjects.my-model-untied]   # negative control: the same files, untied
kind = "model"
path = "models/my-model"
untie = true
''',
    "heldout": '''[subjects.heldout]
kind = "evalset"
path = "data/heldout.txt"    # one example per non-empty line
''',
    "my-model-heldout": '''[subjects.my-model-heldout]
kind = "lm-eval"
model = "my-model"
evalset = "heldout"
''',
    "my-model-untied-heldout": '''[subjects.my-model-untied-heldout]   # a negative control
kind = "lm-eval"
model = "my-model-untied"
evalset = "heldout"
''',
}
# kind -> (the tables it needs, its subjects, its controls)
_TEMPLATES: dict[str, tuple[list[str], list[str], list[dict[str, str]]]] = {
    "model": (["my-model", "my-model-untied"], ["my-model"],
              [{"subject": "my-model-untied", "expect": "FAIL"}]),
    "lm-eval": (["my-model", "my-model-untied", "heldout", "my-model-heldout",
                 "my-model-untied-heldout"], ["my-model-heldout"],
                [{"subject": "my-model-untied-heldout", "expect": "FAIL"}]),
}

# What a library claim needs beyond the model and lm-eval placeholders (and their untied
# control), written beside it as a comment by `init --claims`.
_NEEDS: dict[str, str] = {
    "ENG-PPL-SANE": "reference = \"<the same weights, other backend>\" in the lm-eval subject",
    "LOAD-PARITY": "reference = \"<the model as its trainer saw it>\" in the lm-eval subject",
    "FORWARD-PARITY": "a reference model, and a control whose logits differ from it",
    "KV-CACHE-PARITY": "a control whose cached decoding differs (the untied load does not)",
    "EMBED-RESIZE-FINITE": "a resized model, declares: {text: EVALSET_ID}, and a control with "
                           "uninitialised new rows",
    "KV-CACHE-SPEEDUP": "your min_speedup in params (the demo's 1.5 suits a tiny model), and a "
                        "control: a decoder subject whose cache is rebuilt every step",
    "ROUTER-RENORMALISED": "a mixture-of-experts model (Qwen3-MoE, Mixtral) and a control "
                           "whose top-k routing weights are not renormalised",
}

CONTROL_NOTE = """\
# Every claim needs a negative control it FAILS on, to show its falsifier can fail. The untied
# load suits TIED-WEIGHTS-INTACT and LM-VAL-BELOW-UNIFORM; give each other claim its own.
"""


@dataclass
class Scaffold:
    """What ``init`` did: files written, and files left alone (with what to add by hand)."""

    root: Path
    written: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)

    def write(self, rel: str, text: str, *, hint: str = "") -> None:
        path = self.root / rel
        if path.exists():
            self.kept.append((path, hint))
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        self.written.append(path)

    def report(self) -> str:
        lines = [f"wrote {p.relative_to(self.root)}" for p in self.written]
        for path, hint in self.kept:
            lines.append(f"kept {path.relative_to(self.root)} (exists; not overwritten)"
                         + (f": {hint}" if hint else ""))
        return "\n".join(lines) or "nothing to do"


def _kinds() -> dict[str, list[LibraryClaim]]:
    out: dict[str, list[LibraryClaim]] = {}
    for claim in library_claims().values():
        for kind in claim.kinds:
            out.setdefault(kind, []).append(claim)
    return out


def _yaml(data: Any) -> str:
    import yaml

    class _NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    text: str = yaml.dump(data, Dumper=_NoAliases, sort_keys=False, allow_unicode=True,
                          width=96)
    return text


def _template(kind: str) -> tuple[dict[str, str], list[str], list[dict[str, str]]]:
    """The subject tables a kind's placeholders need (by name), its subjects and controls."""
    if kind in _TEMPLATES:
        names, subjects, controls = _TEMPLATES[kind]
        return {n: _TABLES[n] for n in names}, subjects, controls
    sid = f"my-{kind}"
    tables = {sid: f"[subjects.{sid}]\nkind = \"{kind}\"\n# options: README, \"Subjects\"\n",
              f"{sid}-control": f"[subjects.{sid}-control]   # a negative control\n"
                                f"kind = \"{kind}\"\n"}
    return tables, [sid], [{"subject": f"{sid}-control", "expect": "FAIL"}]


def _has_config(root: Path) -> bool:
    if (root / "falsify.toml").is_file():
        return True
    pyproject = root / "pyproject.toml"
    return pyproject.is_file() and "[tool.falsify" in pyproject.read_text("utf-8")


def init_project(root: Path, kinds: list[str]) -> Scaffold:
    """Scaffold a project at ``root``; ``kinds``: library claims for these subject kinds."""
    known = _kinds()
    for kind in kinds:
        if kind not in known:
            msg = (f"no library claim takes subjects of kind {kind!r}; kinds with claims: "
                   f"{', '.join(sorted(known))}")
            raise ValueError(msg)
    done = Scaffold(root)
    needed: dict[str, str] = {}
    for kind in kinds:
        needed.update(_template(kind)[0])
    tables = "\n".join(needed.values())
    if _has_config(root):
        hint = f"add these subject tables:\n{tables}" if tables else ""
        where = "falsify.toml" if (root / "falsify.toml").is_file() else "pyproject.toml"
        done.kept.append((root / where, hint))
    else:
        done.write("falsify.toml", CONFIG.format(subjects=tables or
                   "# [subjects.my-model]\n# kind = \"model\"\n# path = \"models/my-model\"\n"))
    done.write("contracts/README.md", CONTRACTS_README)
    done.write("falsifiers/README.md", FALSIFIERS_README)
    for kind in dict.fromkeys(kinds):
        done.write(f"contracts/{kind}.yaml", _uses_file(kind, known[kind]))
    done.write(".github/workflows/falsify.yml", WORKFLOW)
    _gitignore(done)
    return done


def _uses_file(kind: str, claims: list[LibraryClaim]) -> str:
    """``contracts/<kind>.yaml``: the kind's library claims bound to its placeholder subjects.

    For a kind with ready placeholders (model, lm-eval), a claim they cannot falsify (it needs
    a reference model, a resized model, a control of its own) is written as a comment saying
    what it needs, so the first run is green on a sound model rather than red on the scaffold.
    """
    _, subjects, controls = _template(kind)
    ready = [c for c in sorted(claims, key=lambda c: c.id)
             if kind not in _TEMPLATES or c.id not in _NEEDS]
    later = [c for c in sorted(claims, key=lambda c: c.id) if c not in ready]
    uses = [{"claim": c.id, "subjects": list(subjects), "controls": [dict(x) for x in controls]}
            for c in ready]
    text = f"# library claims for subjects of kind {kind}\n" + CONTROL_NOTE + _yaml({"uses": uses})
    if later:
        text += "\n# More library claims for this kind, each needing more than the placeholders:\n"
        text += "".join(f"# - claim: {c.id}   # needs {_NEEDS[c.id]}\n" for c in later)
    return text


def _gitignore(done: Scaffold) -> None:
    path = done.root / ".gitignore"
    if not path.exists():
        done.write(".gitignore", GITIGNORE_LINE + "\n")
        return
    text = path.read_text("utf-8")
    lines = text.splitlines()
    if GITIGNORE_LINE in lines or GITIGNORE_LINE.rstrip("/") in lines:
        done.kept.append((path, ""))
        return
    with path.open("a", encoding="utf-8") as fh:  # one line added, nothing of the user's lost
        fh.write(("\n" if text and not text.endswith("\n") else "") + GITIGNORE_LINE + "\n")
    done.written.append(path)


def _binding(contracts_dir: Path, claim_id: str) -> tuple[dict[str, Any], Path | None]:
    """The project's ``uses:`` entry for ``claim_id`` and its file, if it has one."""
    from harness.safeyaml import load_yaml

    for path in sorted(contracts_dir.glob("*.y*ml")):
        doc = load_yaml(path, path.read_bytes())
        for use in (doc or {}).get("uses", []) if isinstance(doc, dict) else []:
            entry = {"claim": use} if isinstance(use, str) else dict(use)
            if entry.get("claim") == claim_id:
                for key in ("subjects", "controls"):
                    if key not in entry and key in doc:
                        entry[key] = doc[key]
                return entry, path
    return {}, None


def _falsifier_source(claim: LibraryClaim) -> str:
    """The library module's source without the tests of its other claims."""
    source = claim.module_path.read_text("utf-8")
    lines = source.splitlines(keepends=True)
    drop: list[tuple[int, int]] = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        marked = [d.args[0].value for d in node.decorator_list if isinstance(d, ast.Call)
                  and isinstance(d.func, ast.Attribute) and d.func.attr == "claim"
                  and d.args and isinstance(d.args[0], ast.Constant)]
        if marked and claim.id not in marked:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            drop.append((first - 1, node.end_lineno or node.lineno))
    for start, end in sorted(drop, reverse=True):
        del lines[start:end]
    header = (f"# Copied from falsify's claim library ({claim.module}) by `falsify init --copy "
              f"{claim.id}`;\n# this project's copy now: edit it freely.\n")
    return header + re.sub(r"\n{4,}", "\n\n\n", "".join(lines))


def copy_claim(root: Path, contracts_dir: Path, falsifiers_dir: Path, claim_id: str) -> Scaffold:
    """The library claim as the project's own: its contract and its falsifier, as files."""
    known = library_claims()
    claim = known.get(claim_id)
    if claim is None:
        msg = f"{claim_id!r} is not a library claim; the library has: {', '.join(sorted(known))}"
        raise ValueError(msg)
    binding, used_in = _binding(contracts_dir, claim_id)
    raw = dict(claim.raw)
    for key in BINDING_KEYS:
        if key in binding:
            raw[key] = ({**raw.get("params", {}), **binding["params"]} if key == "params"
                        else binding[key])
    kind = claim.kinds[0] if claim.kinds else "model"
    _, subjects, controls = _template(kind)
    raw.setdefault("subjects", subjects)
    raw.setdefault("controls", controls)
    done = Scaffold(root)
    stem = claim_id.lower().replace("-", "_").replace(".", "_")
    rel_contracts = contracts_dir.relative_to(root).as_posix()
    rel_falsifiers = falsifiers_dir.relative_to(root).as_posix()
    done.write(f"{rel_contracts}/{stem}.yaml", f"# {claim_id}, copied from falsify's claim "
               f"library: this project's own claim now\n"
               + _yaml({"area": stem.replace("_", "-"), "claims": [raw]}))
    done.write(f"{rel_falsifiers}/test_{stem}.py", _falsifier_source(claim))
    if used_in is not None:
        done.kept.append((used_in, f"remove the uses: entry for {claim_id} (the copy replaces "
                                   f"it; two definitions of one claim id are an error)"))
    return done


def write_demo_project(root: Path) -> Scaffold:
    """The demo project in ``root``: the demo's contracts (library claims bound to the demo
    subjects by ``uses:``), a config and a falsifiers folder. Its subjects resolve to the
    embedded demo workspace."""
    done = Scaffold(root)
    done.write("falsify.toml", "# the falsify demo project: its subjects are the embedded demo "
                               "workspace's (falsify demo builds them)\n")
    for path in sorted(DEMO_CONTRACTS.glob("*.yaml")):
        done.write(f"contracts/{path.name}", path.read_text("utf-8"))
    done.write("falsifiers/README.md", FALSIFIERS_README)
    _gitignore(done)
    return done


# --- the command -------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from harness.cli import UsageFailure

    root = Path(args.root or ".").resolve()
    if args.list:
        for kind, claims in sorted(_kinds().items()):
            print(f"{kind}:")
            for c in sorted(claims, key=lambda c: c.id):
                print(f"  {c.id:<32} {c.raw['title']}")
        return 0
    try:
        if args.copy:
            from harness.workspace import Workspace, WorkspaceError

            try:
                ws = Workspace.discover(root)
            except WorkspaceError:
                init_project(root, [])
                ws = Workspace.discover(root)
            done = Scaffold(root)
            for claim_id in args.copy:
                one = copy_claim(ws.root, ws.contracts_dir, ws.falsifiers_dir, claim_id)
                done.written += one.written
                done.kept += one.kept
        else:
            done = init_project(root, args.claims or [])
    except ValueError as exc:
        raise UsageFailure(str(exc)) from None
    print(done.report())
    if not args.copy and done.written:
        print(NEXT_STEPS)
    return 0


def add_parsers(subparsers: Any) -> None:
    """Add ``falsify init``."""
    p = subparsers.add_parser(
        "init", help="scaffold a falsify project here (never overwrites a file)",
        description="Write falsify.toml, contracts/, falsifiers/, a CI workflow and a "
                    ".gitignore entry; existing files are kept and named.")
    p.add_argument("--claims", action="append", metavar="KIND",
                   help="use every library claim taking subjects of this kind (repeatable; "
                        "--list shows the kinds)")
    p.add_argument("--copy", action="append", metavar="CLAIM",
                   help="copy a library claim and its falsifier into the project, to edit")
    p.add_argument("--list", action="store_true", help="list the library's claims by kind")
    p.add_argument("--root", help="project folder (default: the current folder)")
    p.set_defaults(func=cmd_init)

