"""``falsify render``, ``falsify paper check`` and ``falsify pr``: plugged into ``harness.cli``."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import cli
from harness.cli import (
    EXIT_OK,
    EXIT_PROBLEMS,
    UsageFailure,
    _contracts,
    _hasher,
    _ledger,
    _ledger_dir,
    _refuse_or_usage,
    _workspace,
)
from harness.contracts import ContractSet
from harness.workspace import Workspace

__all__ = ["add_parsers"]


def _label(ws: Workspace, folder: Path) -> str:
    try:
        return folder.resolve().relative_to(ws.root).as_posix()
    except ValueError:
        return str(folder)


def _view(ws: Workspace, args: argparse.Namespace, contracts: ContractSet) -> Any:
    from harness.ledger import LedgerError
    from harness.render.view import build_view

    ledger = _ledger(ws, args)
    try:
        return build_view(contracts, ledger, ledger_label=_label(ws, ledger.ledger_dir),
                          cache_dir=ws.cache_dir / "render-history")
    except LedgerError as exc:
        raise _refuse_or_usage(exc) from None


def cmd_render(args: argparse.Namespace) -> int:
    import gc

    from harness.render.build import paused_gc

    with paused_gc():
        code = _render(args)
        if cli.EXITS_AT_ONCE:
            gc.freeze()  # the first collection after the pause would walk all of _RETAINED
    return code


# From the console script, what a render built stays alive to the end of the process: freeing
# the view object by object when _render returns costs about 0.3 s at 100,000 records, and the
# script exits without tearing the heap down (harness.cli.run). Frozen, the collector skips it.
_RETAINED: list[Any] = []


def _render(args: argparse.Namespace) -> int:
    from harness.render import build, output

    if args.check and args.site:
        raise UsageFailure("--check compares the committed renders and --site writes a folder; "
                           "run them separately")
    ws = _workspace(args)
    view = _view(ws, args, _contracts(ws))
    if cli.EXITS_AT_ONCE:
        _RETAINED[:] = [view]
    ledger_dir = _ledger_dir(ws, args)
    layout = build.Layout(ws.evidence_dir, ledger_dir, ws.paper_dir)
    parts = [args.only] if args.only else list(build.PARTS)
    paperless = _no_paper(ws, "render")  # paper bindings are rendered only for a paper
    if paperless is not None and "paper" in parts:
        parts.remove("paper")
        if not parts:
            print(f"render: {paperless}")
            return EXIT_OK
    site_dir = Path(args.site) if args.site else None
    try:
        renders = build.render(view, layout, parts, site_dir,
                               memo_file=ws.cache_dir / "render-memo.marshal",
                               draw=not args.check, progress=_progress_line())
    except (build.LayoutError, build.SiteError) as exc:
        raise UsageFailure(str(exc)) from None
    rendered, scope = renders.committed, renders.scope
    if args.check:
        return _report_drift(ws, output.check(rendered, scope), len(rendered.paths()))
    print(f"render: {output.write(rendered, scope, drawn=renders.drawn).summary()}")
    if paperless is not None:
        print(f"render: {paperless}")
    if view.n_records == 0:
        print("render: no evidence yet (the ledger is empty); the READMEs say so")
    if renders.site is not None and renders.site_scope is not None and site_dir is not None:
        report = output.write(renders.site, renders.site_scope,
                              reuse=build.reusable_plots(rendered))
        print(f"render --site: {report.summary()}; open {site_dir / 'index.html'}")
    return EXIT_OK


def _progress_line() -> Any:
    """On a terminal, a line that counts the parts as they finish (a first render draws every
    plot: a minute at 1,000 claims); elsewhere nothing, so logs and pipes stay clean."""
    import sys
    import time

    if not sys.stderr.isatty():
        return None
    start = time.monotonic()

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\rrender: {done}/{total} parts ({time.monotonic() - start:.0f} s)", end=end,
              file=sys.stderr, flush=True)

    return show


def _report_drift(ws: Workspace, drift: Any, total: int) -> int:
    if drift.ok:
        print(f"render --check: all {total} rendered file(s) match a fresh render")
        return EXIT_OK
    print("\n".join(drift.lines(ws.root)))
    n = len(drift.missing) + len(drift.differs) + len(drift.extra)
    print(f"render --check: {n} rendered file(s) out of date with the ledger and contracts; "
          f"run `falsify render` and commit the result")
    return EXIT_PROBLEMS


def _no_paper(ws: Workspace, what: str) -> str | None:
    """``no paper at PATH: nothing to WHAT`` when the project has no paper (no ``.tex`` file
    under its paper folder but ``generated/``), else None."""
    from harness.render.papercheck import paper_sources

    if paper_sources(ws.paper_dir):
        return None
    return (f"no paper at {_label(ws, ws.paper_dir)}/: nothing to {what} (a paper is any .tex "
            f"file there outside generated/, e.g. main.tex)")


def cmd_paper_check(args: argparse.Namespace) -> int:
    from harness.decide_cli import statuses
    from harness.ledger import LedgerError
    from harness.render.papercheck import check_paper
    from harness.status import compute_status

    ws = _workspace(args)
    contracts = _contracts(ws)
    ledger = _ledger(ws, args)
    paperless = _no_paper(ws, "check")
    if paperless is not None:
        print(f"paper check: {paperless}")
        return EXIT_OK
    try:
        report = compute_status(contracts, ledger, now=datetime.now(UTC), hasher=_hasher(ws))
        latest = {key: ledger.load(s) for key, s in ledger.latest().items()}
        decisions = statuses(contracts, report, ledger)
    except LedgerError as exc:
        raise _refuse_or_usage(exc) from None
    problems = check_paper(ws.paper_dir, contracts, report, latest, decisions)
    for p in problems:
        print(p)
    if problems:
        print(f"\npaper check: {len(problems)} problem(s)")
        return EXIT_PROBLEMS
    print("paper check: every cited number has fresh PASS evidence and no literal disagrees")
    return EXIT_OK


def cmd_pr(args: argparse.Namespace) -> int:
    from harness.render.build import paused_gc

    with paused_gc():
        return _pr(args)


def _pr(args: argparse.Namespace) -> int:
    from harness.codeid import CodeNow
    from harness.decide_cli import statuses
    from harness.gate import evaluate_gate
    from harness.ledger import LedgerError
    from harness.render.gitstate import GitStateError, snapshot_at
    from harness.render.pr import PrChange, pr_markdown
    from harness.status import compute_status

    ws = _workspace(args)
    contracts, ledger = _contracts(ws), _ledger(ws, args)
    now, code = datetime.now(UTC), CodeNow(ws.root)
    try:
        snap = snapshot_at(ws.root, args.base, ws.contracts_dir, ledger.ledger_dir)
    except GitStateError as exc:
        raise UsageFailure(str(exc)) from None
    try:
        before = compute_status(snap.contracts, snap.ledger, now=now, hasher=None)
        after = compute_status(contracts, ledger, now=now, hasher=_hasher(ws, strict=True),
                               code=code)
        known = {s.id for s in snap.ledger.summaries()}
        new = tuple(r for r in ledger.records() if r.id not in known)
        changed = _falsifier_changes(ws, args.base, ledger, code)
    except LedgerError as exc:
        raise _refuse_or_usage(exc) from None
    finally:
        snap.close()
    gate = evaluate_gate(after, dirty=args.dirty)
    decisions = statuses(contracts, after, ledger)
    text = pr_markdown(PrChange(base=args.base, base_commit=snap.commit, before=before,
                                after=after, new_records=new, gate=gate,
                                problems=tuple(snap.problems), falsifiers=tuple(changed),
                                decisions=tuple(decisions)))
    print(text, end="")
    _deliver(text, args.output)
    return gate.exit_code


def _falsifier_changes(ws: Workspace, base: str, ledger: Any, code: Any) -> list[Any]:
    from harness.render.codechange import falsifier_changes

    latest = ledger.latest()
    node_ids = {s.id: ledger.load(s).node_id for s in latest.values() if s.code is None}
    return falsifier_changes(ws.root, base, latest, code, node_ids)


def _deliver(text: str, output: str | None) -> None:
    """--output FILE overwrites FILE; without it, $GITHUB_STEP_SUMMARY (when set) is appended to."""
    if output:
        Path(output).write_text(text, "utf-8")
        return
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as fh:
            fh.write(text)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", help="workspace root (default: found from the current folder)")
    p.add_argument("--ledger", help="ledger folder (default: evidence/ledger)")


def add_parsers(sub: Any) -> None:
    render = sub.add_parser(
        "render", help="render evidence READMEs, paper tables and macros (and a site) "
        "from the ledger", description="Render evidence/<area>/README.md, evidence/README.md "
        "and paper/generated/ from the ledger and the contracts alone.")
    _common(render)
    render.add_argument("--check", action="store_true",
                        help="exit 1 when a committed rendered file differs from a fresh render")
    render.add_argument("--site", metavar="DIR", help="also write a static HTML site into DIR")
    render.add_argument("--only", choices=["readmes", "paper"], help="render one part only")
    render.set_defaults(func=cmd_render)
    paper = sub.add_parser("paper", help="paper tools")
    psub = paper.add_subparsers(dest="paper_command", required=True, metavar="ACTION")
    check = psub.add_parser("check", help="exit 1 when the paper cites a number the ledger does "
                            "not stand behind (see harness/render/papercheck.py for the rules)")
    _common(check)
    check.set_defaults(func=cmd_paper_check)
    pr = sub.add_parser(
        "pr", help="Markdown for a PR: evidence now against --base REF",
        description="Print Markdown comparing the evidence now with the evidence at --base. "
        "With --output FILE it is also written to FILE; without --output it is appended to "
        "$GITHUB_STEP_SUMMARY when that is set. Exit code: the gate's, on the current state.")
    _common(pr)
    pr.add_argument("--base", required=True, help="git ref to compare with, e.g. origin/main")
    pr.add_argument("--output", metavar="FILE", help="write the Markdown to FILE too")
    cli.dirty_option(pr)
    pr.set_defaults(func=cmd_pr)
