"""``falsify bisect``: commits, hypotheses and layers (plugged into ``harness.cli``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness.cli import EXIT_OK, EXIT_PROBLEMS, UsageFailure, _contracts, _workspace
from harness.render.terminal import shorten

__all__ = ["add_parsers"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", help="workspace root (default: found from the current folder)")
    p.add_argument("--ledger", help="ledger folder to record to (default: evidence/ledger)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _ledger_dir(ws: Any, args: argparse.Namespace) -> Path:
    return Path(args.ledger).resolve() if args.ledger else ws.ledger_dir


def _claim(ws: Any, claim_id: str) -> Any:
    contracts = _contracts(ws)
    if claim_id not in contracts:
        known = ", ".join(sorted(contracts.claims))
        raise UsageFailure(f"unknown claim {claim_id!r}; known: {known}")
    return contracts[claim_id]


# --- commits ---------------------------------------------------------------------------------


def _print_run(run: Any) -> None:
    verdicts = ", ".join(f"{s}={v}" for s, v in run.verdicts)
    print(f"  {run.sha[:12]}  {run.outcome.value:<4}  {verdicts}  ({run.seconds:.1f} s)  "
          f"{shorten(run.summary, 50)}", flush=True)


def cmd_commits(args: argparse.Namespace) -> int:
    from harness.bisect import BisectError, bisect_commits

    ws = _workspace(args)
    claim = _claim(ws, args.claim)
    subjects = [args.subject] if args.subject else [r.id for r in claim.subjects]
    if args.subject and claim.subject(args.subject) is None:
        raise UsageFailure(f"{args.subject!r} is not a subject of {claim.id}; its subjects: "
                           f"{', '.join(r.id for r in claim.all_subjects)}")
    if not args.json:
        print(f"bisecting {claim.id} on {', '.join(subjects)} between {args.good} and {args.bad}")
    try:
        result = bisect_commits(ws.root, claim.id, args.good, args.bad, subjects,
                                ledger_dir=_ledger_dir(ws, args), cache_dir=ws.cache_dir,
                                timeout_s=args.timeout,
                                progress=None if args.json else _print_run)
    except BisectError as exc:
        raise UsageFailure(str(exc)) from None
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        _print_commits_summary(result)
    return EXIT_OK if result.first_bad is not None else EXIT_PROBLEMS


def _print_commits_summary(result: Any) -> None:
    n = len(result.commits)
    print(f"{len(result.runs)} run(s) over {n} commit(s) (bound ceil(log2 {n}) + 1 = "
          f"{result.bound})")
    if result.first_bad is not None:
        run = next((r for r in result.runs if r.sha == result.first_bad), None)
        summary = run.summary if run is not None else ""
        print(f"first bad commit: {result.first_bad}  {summary}")
    elif not result.candidates:
        print(f"{result.claim} does not fail at --bad {result.bad[:12]}: nothing to bisect")
    else:
        print("the first bad commit is one of (skipped commits could not be judged):")
        for sha in result.candidates:
            print(f"  {sha}")


def _add_commits(sub: Any) -> None:
    p = sub.add_parser("commits", help="binary search over commits for the first one where the "
                                       "claim FAILs (each run in its own git worktree)")
    p.add_argument("claim", help="claim id")
    p.add_argument("--good", required=True, help="a commit where the claim passes")
    p.add_argument("--bad", required=True, help="a later commit where it fails")
    p.add_argument("--subject", help="bisect on this subject only (default: every subject)")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS",
                   help="give up on one commit's run after this long (it is then skipped)")
    _common(p)
    p.set_defaults(func=cmd_commits)


# --- hypotheses ------------------------------------------------------------------------------


def _probe_modules(ws: Any) -> list[str]:
    modules = ws.config.get("probes", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise UsageFailure(f"{ws.config_path}: [tool.falsify] probes must be a list of module "
                           f"names, e.g. probes = [\"my_project.probes\"]")
    return modules


def _writer(ws: Any, args: argparse.Namespace, worker: str) -> Any:
    if args.no_record:
        return None
    import uuid

    from harness.ledger import LedgerWriter

    return LedgerWriter(_ledger_dir(ws, args), uuid.uuid4().hex, worker)


def _yes(value: Any) -> str:
    return "-" if value is None else ("yes" if value else "no")


def hypotheses_table(result: Any) -> str:
    rows = [[r["hypothesis"], r["probe"] or "-", r["finding"], r["intervention"] or "-",
             r["claim_alone"] or "-", _yes(r["needed"]), "CAUSE" if r["cause"] else ""]
            for r in result.rows()]
    table: str = tabulate(rows, headers=["hypothesis", "probe", "finding", "intervention",
                                         "claim after", "needed", "cause"], tablefmt="simple")
    return table


def cmd_hypotheses(args: argparse.Namespace) -> int:
    from harness.bisect import BisectError
    from harness.bisect.hypotheses import bisect_hypotheses
    from harness.probes import RegistryError

    ws = _workspace(args)
    claim = _claim(ws, args.claim)
    if not claim.hypotheses:
        raise UsageFailure(f"{claim.id} declares no hypotheses; add them under hypotheses: in "
                           f"{claim.source}")
    writer = _writer(ws, args, "bisect-hypotheses")
    say = None if args.json else (lambda line: print(f"  {line}", flush=True))
    try:
        result = bisect_hypotheses(ws, _contracts(ws), claim, args.subject, writer=writer,
                                   extra_modules=_probe_modules(ws), progress=say)
    except (BisectError, RegistryError, LookupError) as exc:
        raise UsageFailure(str(exc)) from None
    finally:
        if writer is not None:
            writer.close()
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
        return _hypotheses_exit(result)
    print()
    print(hypotheses_table(result))
    print()
    _print_causes(result)
    return _hypotheses_exit(result)


def _print_causes(result: Any) -> None:
    base = result.baseline
    print(f"{result.claim} on {result.subject} as loaded: {base.verdict}: "
          f"{'; '.join(base.reasons)}")
    together = result.trial(*result.tested) if len(result.tested) > 1 else None
    if together is not None:
        print(f"with all of {', '.join(result.tested)} removed: {together.verdict}")
    if result.causes:
        print(f"cause: {', '.join(result.causes)}")
    elif base.verdict.value != "PASS":
        print("no hypothesis explains the failure: none whose removal flips the claim to PASS")
    if result.records:
        print(f"{len(result.records)} record(s) appended")


def _hypotheses_exit(result: Any) -> int:
    explained = bool(result.causes) or result.baseline.verdict.value == "PASS"
    return EXIT_OK if explained else EXIT_PROBLEMS


def _add_hypotheses(sub: Any) -> None:
    p = sub.add_parser("hypotheses", help="probe a failing claim's hypotheses on a live subject "
                                          "and try each confirmed one's intervention")
    p.add_argument("claim", help="claim id")
    p.add_argument("--subject", required=True, help="a subject or control of the claim")
    p.add_argument("--no-record", action="store_true", help="append nothing to the ledger")
    _common(p)
    p.set_defaults(func=cmd_hypotheses)


# --- layers ----------------------------------------------------------------------------------

PARITY_CLAIM = "FORWARD-PARITY"


def _tolerance(ws: Any, args: argparse.Namespace) -> float:
    if args.tolerance is not None:
        return float(args.tolerance)
    contracts = _contracts(ws)
    if PARITY_CLAIM in contracts and "layer_tolerance" in contracts[PARITY_CLAIM].params:
        return float(contracts[PARITY_CLAIM].params["layer_tolerance"].value)
    raise UsageFailure(f"pass --tolerance (no {PARITY_CLAIM} claim with a layer_tolerance param "
                       f"to take it from)")


def _model_of(ws: Any, subject_id: str) -> Any:
    from harness.probes.context import is_live_model

    try:
        live = ws.resolve(subject_id)
    except LookupError as exc:
        raise UsageFailure(str(exc)) from None
    model = live if is_live_model(live) else getattr(live, "model", None)
    if not is_live_model(model):
        raise UsageFailure(f"subject {subject_id!r} is a {type(live).__name__}, not a model")
    return model


def _texts(ws: Any, subject_id: str) -> list[str]:
    from harness.probes.context import FALLBACK_TEXT

    evalset = getattr(ws.resolve(subject_id), "evalset", None)
    return list(evalset.texts) if evalset is not None else \
        FALLBACK_TEXT.read_text("utf-8").splitlines()


def cmd_layers(args: argparse.Namespace) -> int:
    from harness.bisect.layers import (
        LayerBisectionError,
        compare_layers,
        plot_layers,
        shared_tokens,
    )

    ws = _workspace(args)
    tolerance = _tolerance(ws, args)
    a, b = _model_of(ws, args.a), _model_of(ws, args.b)
    try:
        ids = shared_tokens(a=a, b=b, texts=_texts(ws, args.a), rows=args.rows,
                            length=args.length)
        result = compare_layers(a=a, b=b, ids=ids, tolerance=tolerance, a_name=args.a,
                                b_name=args.b)
    except LayerBisectionError as exc:
        raise UsageFailure(str(exc)) from None
    default = ws.cache_dir / "bisect" / f"layers-{args.a}-vs-{args.b}.png"
    plot = Path(args.plot) if args.plot else default
    plot_layers(result, plot)
    if args.json:
        print(json.dumps({**result.to_json(), "plot": str(plot)}, indent=2, sort_keys=True))
    else:
        _print_layers(result, plot)
    return EXIT_OK if result.first_divergent is None else EXIT_PROBLEMS


def _print_layers(result: Any, plot: Path) -> None:
    rows = [[x.index, x.name, f"{x.max_abs_diff:.3g}", f"{x.relative_error:.3g}",
             f"{x.cosine:.8f}", "past" if not x.max_abs_diff <= result.tolerance else ""]
            for x in result.layers]
    print(tabulate(rows, headers=["layer", "", "max |Δ|", "rel. error", "cosine",
                                  f"> {result.tolerance:g}"], tablefmt="simple"))
    first = result.first_divergent
    print(f"\n{result.a} vs {result.b} on {result.n_tokens} tokens: "
          + (f"first layer past {result.tolerance:g}: {first.index} ({first.name})"
             if first is not None else f"every layer within {result.tolerance:g}"))
    print(f"curve: {plot}")


def _add_layers(sub: Any) -> None:
    p = sub.add_parser("layers", help="compare two subjects' hidden states layer by layer and "
                                      "name the first layer past the tolerance")
    p.add_argument("--a", required=True, help="first model subject (or lm-eval pair)")
    p.add_argument("--b", required=True, help="second model subject")
    p.add_argument("--tolerance", type=float, help="max |Δ| allowed per layer (default: the "
                                                   f"{PARITY_CLAIM} claim's layer_tolerance)")
    p.add_argument("--rows", type=int, default=4, help="sequences compared (default 4)")
    p.add_argument("--length", type=int, default=64, help="tokens per sequence (default 64)")
    p.add_argument("--plot", help="PNG of the per-layer curve (default: in the cache)")
    p.add_argument("--root", help="workspace root (default: found from the current folder)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_layers)


def add_parsers(subparsers: Any) -> None:
    """Add ``falsify bisect {commits,hypotheses,layers}``."""
    bisect = subparsers.add_parser("bisect", help="find the commit, hypothesis or layer that "
                                                  "made a claim fail")
    sub = bisect.add_subparsers(dest="bisect_command", required=True, metavar="ACTION")
    _add_commits(sub)
    _add_hypotheses(sub)
    _add_layers(sub)
