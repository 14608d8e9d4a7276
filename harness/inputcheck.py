"""`falsify verify --inputs`: hash every input of the evidence from its bytes and compare.

Each record lists its inputs with the sha256 they had when it was made. Here each one is read
again, from the bytes (no stat cache: a hasher without a cache file), and compared:

- ``verified``: the bytes here hash to the recorded sha256;
- ``changed``: they do not: the input, the record (``segment:line``) and both hashes are named;
- ``missing``: the input is not here (a fresh clone has no demo cache): named, with where it was
  looked for;
- ``external``: missing, and the claim declares it external and unverifiable by design
  (``external_inputs`` in the contract): shown with the contract's why, never a problem.

Where inputs are looked for. Records write a path in the workspace relative to its root, and a
path in the cache under the cache prefix (``.falsify-cache/...``) wherever the cache was
(``FALSIFY_CACHE``): such a path is looked for in this machine's cache folder
(``Workspace.input_aliases``); a model's snapshot in the Hugging Face Hub cache is written under
``.hf-hub-cache/...`` and looked for in this machine's Hub cache (``HF_HOME``). Other absolute
paths are looked for where they are.

``--rebuild`` first rebuilds what can be rebuilt: the demo workspace, from the seeds and corpora
shipped in ``harness/demo`` (every artifact and every demo subject's files; what is already
built is reused). The demo build is bitwise reproducible, so a fresh clone's rebuilt inputs hash
to the committed records' sha256 (tests/harness/test_demo_reproducible.py proves it).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.contracts import ContractSet
from harness.ledger.query import external_why
from harness.provenance import InputHasher, MissingInputError

__all__ = ["STATES", "InputCheck", "add_arguments", "check_inputs", "run_verify_inputs",
           "strict_hasher"]

STATES = ("verified", "changed", "missing", "external")


@dataclass(frozen=True)
class InputCheck:
    """One input of one record, checked against its bytes here."""

    claim: str
    subject: str
    record: str
    where: str  # segment:line of the record
    path: str  # as the record writes it
    looked: str  # where it was looked for here
    recorded: str  # the recorded sha256
    actual: str | None  # the sha256 of the bytes here; None when missing
    state: str
    why: str = ""  # for an external input: the contract's reason

    @property
    def problem(self) -> bool:
        return self.state in ("changed", "missing")

    def __str__(self) -> str:
        head = (f"{self.where}: record {self.record} ({self.claim} on {self.subject}): "
                f"input {self.path}")
        if self.state == "changed":
            return (f"{head} changed: recorded sha256 {self.recorded}, the bytes at "
                    f"{self.looked} hash to {self.actual}")
        if self.state == "missing":
            return (f"{head} is missing (looked for {self.looked}; recorded sha256 "
                    f"{self.recorded}); " + (self.why or "rebuild it with `falsify verify "
                    "--inputs --rebuild` (demo inputs) or fetch it"))
        if self.state == "external":
            return f"{head} is external by design ({self.why}): not checked"
        return f"{head} verified: sha256 {self.recorded}"


def strict_hasher(workspace: Any) -> InputHasher:
    """A hasher that reads every file's bytes (no stat cache), cache paths mapped to here."""
    return InputHasher(None, root=workspace.root, strict=True,
                       aliases=workspace.input_aliases())


def _where(summary: Any, root: Path) -> str:
    segment = Path(summary.segment)
    shown = segment.relative_to(root) if segment.is_relative_to(root) else segment
    return f"{shown}:{summary.line}"


def check_inputs(ledger: Any, contracts: ContractSet, hasher: InputHasher, *,
                 every_record: bool = False, root: Path | None = None) -> list[InputCheck]:
    """Every input of the latest record per (claim, subject), or of every record, checked."""
    summaries = ledger.summaries() if every_record else sorted(
        ledger.latest().values(), key=lambda s: (s.claim, s.subject))
    base = (root or hasher.root or Path.cwd()).resolve()
    out = []
    for summary in summaries:
        claim = contracts.claims.get(summary.claim)
        external = claim.external_inputs if claim is not None else ()
        for item in summary.inputs:
            path, recorded = str(item.get("path")), str(item.get("sha256"))
            looked = str(hasher.resolve(path))
            try:
                actual: str | None = str(hasher.hash(path)["sha256"])
            except MissingInputError:
                actual = None
            why = external_why(path, external) or ""
            if actual is None:
                state = "external" if why else "missing"
                why = why or _rekeyed(Path(looked))
            else:
                state = "verified" if actual == recorded else "changed"
            out.append(InputCheck(summary.claim, summary.subject, summary.id,
                                  _where(summary, base), path, looked, recorded, actual, state,
                                  why))
    return out


_KEYED = re.compile(r"^(?P<name>.+)-[0-9a-f]{16}$")


def _rekeyed(looked: Path) -> str:
    """For a missing demo artifact (``<name>-<key of its inputs>``) whose name is built here
    under another key: why it cannot be rebuilt as recorded, and what to do."""
    for folder in (looked, *looked.parents):
        match = _KEYED.match(folder.name)
        if match is None:
            continue
        others = sorted(p.name for p in folder.parent.glob(f"{match['name']}-*")
                        if (m := _KEYED.match(p.name)) and m["name"] == match["name"]
                        and (p / "build.json").is_file())
        if others:
            return (f"the demo now builds it as {', '.join(others)}: its inputs (recipe, corpora "
                    f"or library versions) differ from the record's, so the recorded bytes cannot "
                    f"be rebuilt here; re-run the falsifier to record evidence on today's build")
        return ""
    return ""


def _needs_rebuild(checks: Iterable[InputCheck], workspace: Any) -> bool:
    prefix = workspace.cache_prefix.rstrip("/") + "/"
    return any(c.state == "missing" and c.path.startswith(prefix) for c in checks)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", action="store_true",
                   help="hash every input of the latest records from its bytes and compare "
                        "with the recorded sha256")
    p.add_argument("--all", action="store_true", dest="every_record",
                   help="with --inputs: every record, not only the latest per claim and subject")
    p.add_argument("--rebuild", action="store_true",
                   help="with --inputs: first rebuild missing demo inputs from their seeds")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="with --inputs: list verified inputs too")


def run_verify_inputs(workspace: Any, contracts: ContractSet, ledger: Any,
                      args: argparse.Namespace) -> int:
    """The command: exit 0 when every input verified (or is external), 1 otherwise."""
    checks = check_inputs(ledger, contracts, strict_hasher(workspace),
                          every_record=args.every_record, root=workspace.root)
    if args.rebuild and _needs_rebuild(checks, workspace):
        from harness.demo.build import build_all

        print(f"verify --inputs: rebuilding the demo workspace from its seeds into "
              f"{workspace.demo_dir} (and {workspace.cache_dir}) ...", flush=True)
        build_all(workspace, progress=False)
        checks = check_inputs(ledger, contracts, strict_hasher(workspace),
                              every_record=args.every_record, root=workspace.root)
    return _report(checks, args.verbose, ledger)


def _report(checks: Sequence[InputCheck], verbose: bool, ledger: Any) -> int:
    for c in checks:
        if c.state != "verified" or verbose:
            print(str(c))
    counts = {state: sum(1 for c in checks if c.state == state) for state in STATES}
    records = len({c.record for c in checks})
    distinct = len({(c.path, c.recorded) for c in checks})
    text = ", ".join(f"{n} {state}" for state, n in counts.items())
    print(f"\nverify --inputs: {len(checks)} input(s) ({distinct} distinct) of {records} "
          f"record(s) in {ledger.ledger_dir}: {text}")
    return 1 if counts["changed"] or counts["missing"] else 0
