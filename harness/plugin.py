"""The pytest plugin: claim markers, `evidence`/`subject`/`workspace` fixtures, verdicts, records.

A session object in ``config.stash`` owns the run. Each claim-bound test is judged once, in the
process that ran it (so every xdist worker appends to its own ledger segment), and the test's
outcome is made to follow the verdict. The controller collects verdicts from the reports and
prints the summary table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.contracts import Claim, ContractError, ContractSet, SubjectRef, load_contracts
from harness.evidence import Evidence
from harness.library.collect import LibraryCollection, check_kind
from harness.records import Status
from harness.verdict import Verdict, judge, judge_error, judge_skipped
from harness.workspace import (
    SubjectNotConfigured,
    SubjectUnavailable,
    Workspace,
    WorkspaceError,
    workspace_root,
)

__all__ = ["LEDGER_WRITE_FAILED", "unconfigured_verdict"]

LEDGER_WRITE_FAILED = 32  # ORed into the exit status when evidence could not be appended
_PROPS = "falsify"
_FINAL = "falsify-recorded"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("falsify", "falsify: claims, verdicts and the evidence ledger")
    group.addoption("--ledger", dest="falsify_ledger", type=Path, default=None, metavar="DIR",
                    help="ledger folder to append evidence to (default: the workspace's "
                         "evidence/ledger)")
    group.addoption("--no-record", dest="falsify_no_record", action="store_true",
                    help="judge claims but append nothing to the ledger")
    group.addoption("--falsify-root", dest="falsify_root", type=Path, default=None,
                    metavar="DIR", help="workspace root (default: found from pytest's rootdir)")
    group.addoption("--skip-unconfigured", dest="falsify_skip_unconfigured", action="store_true",
                    help="a subject a contract names but no config defines is SKIPPED "
                         "(default: ERROR, a red run; also skip_unconfigured = true in the config)")
    group.addoption("--claim", dest="falsify_claims", action="append", default=None,
                    metavar="ID", help="run only the falsifiers of this claim (repeatable)")
    group.addoption("--subject", dest="falsify_subjects", action="append", default=None,
                    metavar="ID", help="run only claim-bound tests of this subject or control "
                                       "(repeatable)")
    group.addoption("--falsify-select", dest="falsify_select", choices=("all", "stale"),
                    default="all", help="stale: run only the (claim, subject) items whose "
                    "latest evidence is missing, stale, ERROR or not the verdict it must be; "
                    "the rest are deselected, each with its reason (harness/select.py)")
    group.addoption("--falsify-items", dest="falsify_items", type=Path, default=None,
                    metavar="FILE", help="write the collected claim-bound items as JSON "
                    "(falsify cluster run plans its tasks from it)")
    group.addoption("--falsify-lost", dest="falsify_lost", type=Path, default=None,
                    metavar="FILE", help="JSON {nodeid: cause}: record these items ERROR with "
                    "the cause, loading nothing (falsify cluster run, for items lost twice)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live: falsifiers over live models, runs and services")
    config.addinivalue_line("markers", "claim(id, subject=None): bind a falsifier to a claim; "
                            "the `subject` argument is parametrized from the contract")
    state = FalsifySession(config)
    config.stash[_SESSION] = state
    config.pluginmanager.register(_Collector(state), "falsify-collector")
    config.pluginmanager.register(
        LibraryCollection(state.falsifiers_dir, lambda: state.contracts), "falsify-library")
    if config.option.falsify_select == "stale":
        from harness.select_hooks import StaleSelection, StaleSelectionXdist

        selection = StaleSelection(state)
        config.pluginmanager.register(selection, "falsify-select")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(StaleSelectionXdist(selection), "falsify-select-xdist")
    if config.option.falsify_items or config.option.falsify_lost:
        from harness.cluster_hooks import ClusterHooks

        config.pluginmanager.register(
            ClusterHooks(config.option.falsify_items, config.option.falsify_lost),
            "falsify-cluster")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "falsify-xdist")


def pytest_sessionstart(session: pytest.Session) -> None:
    """A falsify project's config is read before collection: a wrong one stops the run as one
    usage error with the fix (pytest exit 4), not as a collection error with a traceback."""
    state = _session(session.config)
    if workspace_root(_search_start(session.config)):
        _ = state.workspace  # raises pytest.UsageError naming the file, the key and the fix


class _Collector:
    """Collects verdicts from reports (in the controller too, where xdist sends them)."""

    def __init__(self, state: FalsifySession) -> None:
        self.state = state

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = _props(report)
        if props is not None:
            self.state.results.append(_Result(
                props["claim"], props["subject"], props["role"], props["expect"],
                props["status"], props["reasons"], props["record"], report.nodeid))
        final = _props(report, _FINAL)
        if final is not None:  # the teardown report: the verdict as recorded, and its record
            for result in reversed(self.state.results):
                if result.nodeid == report.nodeid:
                    result.status, result.reasons = final["status"], final["reasons"]
                    result.record = final["record"]
                    break


class _XdistHooks:
    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["falsify_session"] = node.config.stash[_SESSION].session_id


@dataclass
class _Result:
    claim: str
    subject: str
    role: str
    expect: str | None
    status: str
    reasons: list[str]
    record: str | None
    nodeid: str


def _search_start(config: pytest.Config) -> Path:
    """Where the workspace search starts: ``--falsify-root``, else pytest's rootdir, or the folder
    pytest was run from when that lies inside the rootdir. Without a pytest ini file the rootdir
    is the common ancestor of every path-like argument, option values included, so
    ``--ledger /tmp/x`` run in a project with only falsify.toml would put it at ``/tmp``."""
    if config.option.falsify_root is not None:
        return Path(config.option.falsify_root)
    root, here = Path(config.rootpath), Path(config.invocation_params.dir)
    return here if here.is_relative_to(root) else root


@dataclass
class FalsifySession:
    """State of one pytest run: workspace, contracts, the ledger writer, and the verdicts seen."""

    config: pytest.Config
    session_id: str = ""
    worker: str = "main"
    results: list[_Result] = field(default_factory=list)
    write_failures: list[str] = field(default_factory=list)
    _workspace: Workspace | None = None
    _contracts: ContractSet | None = None
    _writer: Any = None
    _hasher: Any = None
    _provenance: dict[str, Any] | None = None
    _code: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        workerinput = getattr(self.config, "workerinput", None)
        if workerinput is not None:
            self.session_id = workerinput.get("falsify_session", uuid.uuid4().hex)
            self.worker = workerinput.get("workerid", "worker")
        else:
            self.session_id = uuid.uuid4().hex

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            try:
                self._workspace = Workspace.discover(_search_start(self.config))
            except WorkspaceError as exc:
                msg = f"falsify: the workspace config is wrong; nothing was run or recorded:\n{exc}"
                raise pytest.UsageError(msg) from None
        return self._workspace

    def falsifiers_dir(self) -> Path | None:
        """The workspace's falsifiers folder; None outside a falsify workspace (then pytest
        collects as it would without falsify, and nothing is an error until a claim is used)."""
        if workspace_root(_search_start(self.config)) is None:
            return None
        return self.workspace.falsifiers_dir  # a wrong config is a usage error, named, here

    @property
    def contracts(self) -> ContractSet:
        if self._contracts is None:
            try:
                ws = self.workspace
                self._contracts = load_contracts(ws.contracts_dir, ws.cache_dir / "contracts")
            except ContractError as exc:
                msg = "falsify: contracts do not load; nothing was run or recorded:\n" + "\n".join(
                    f"  {p}" for p in exc.problems)
                raise pytest.UsageError(msg) from None
        return self._contracts

    @property
    def ledger_dir(self) -> Path:
        option = self.config.option.falsify_ledger
        return Path(option).resolve() if option else self.workspace.ledger_dir

    @property
    def skip_unconfigured(self) -> bool:
        return bool(self.config.option.falsify_skip_unconfigured) or \
            self.workspace.skip_unconfigured

    @property
    def recording(self) -> bool:
        return not self.config.option.falsify_no_record

    def hasher(self) -> Any:
        if self._hasher is None:
            from harness.provenance import InputHasher

            self._hasher = InputHasher(self.workspace.cache_dir / "hashes.json",
                                       root=self.workspace.root,
                                       aliases=self.workspace.input_aliases())
        return self._hasher

    def provenance(self) -> dict[str, Any]:
        if self._provenance is None:
            from harness.provenance import env_info, git_info

            self._provenance = {"git": git_info(self.workspace.root, self.ledger_dir),
                                "env": env_info()}
        return self._provenance

    def code(self, item: pytest.Item) -> dict[str, dict[str, Any]]:
        """``{"code": …}`` for the item's record: its falsifier files and the harness identity
        (harness.codeid), once per test module; empty for an item with no module source (such
        evidence shows as "code identity not recorded" wherever staleness is read)."""
        module = getattr(item, "module", None)
        if module is None:
            return {}
        if module.__name__ not in self._code:
            from harness.codeid import record_code

            ws = self.workspace
            try:
                self._code[module.__name__] = record_code(module, ws.falsifiers_dir, ws.root)
            except (OSError, ValueError):
                self._code[module.__name__] = {}
        found = self._code[module.__name__]
        return {"code": found} if found else {}

    def append(self, evidence: Evidence, verdict: Verdict, nodeid: str,
               timing: dict[str, Any], item: pytest.Item | None = None) -> str | None:
        """Append the record; a write failure is reported and ORed into the exit status."""
        if not self.recording:
            return None
        code = {} if item is None else self.code(item)
        record = evidence.to_record(verdict, node_id=nodeid, session=self.session_id,
                                    provenance={**self.provenance(), **code}, timing=timing)
        from harness.ledger import LedgerError, LedgerWriter

        try:
            if self._writer is None:
                self._writer = LedgerWriter(self.ledger_dir, self.session_id, self.worker)
            sealed = self._writer.append(record)
        except (OSError, LedgerError) as exc:
            self.write_failures.append(f"{nodeid}: could not append to {self.ledger_dir}: {exc}")
            return None
        return str(sealed.id)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._hasher is not None and hasattr(self._hasher, "save"):
            self._hasher.save()


_SESSION = pytest.StashKey[FalsifySession]()
_EVIDENCE = pytest.StashKey[Evidence]()
_JUDGED = pytest.StashKey[bool]()
_PENDING = pytest.StashKey[tuple[Verdict, dict[str, Any]]]()


def _session(config: pytest.Config) -> FalsifySession:
    return config.stash[_SESSION]


def _claim_marker(node: Any) -> pytest.Mark | None:
    mark: pytest.Mark | None = node.get_closest_marker("claim")
    return mark


def _claim_of(session: FalsifySession, mark: pytest.Mark, where: str) -> Claim:
    if not mark.args or not isinstance(mark.args[0], str):
        msg = f"{where}: @pytest.mark.claim needs the claim id, e.g. @pytest.mark.claim(\"ID\")"
        raise pytest.UsageError(msg)
    claim_id = mark.args[0]
    if claim_id not in session.contracts:
        known = ", ".join(sorted(session.contracts.claims))
        msg = (f"{where}: falsifier names unknown claim {claim_id!r}; add it to a file in "
               f"{session.workspace.contracts_dir} or fix the id (known: {known})")
        raise pytest.UsageError(msg)
    return session.contracts[claim_id]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    mark = _claim_marker(metafunc.definition)
    if mark is None or "subject" not in metafunc.fixturenames:
        return
    claim = _claim_of(_session(metafunc.config), mark, metafunc.definition.nodeid)
    only = mark.kwargs.get("subject")
    refs = [r for r in claim.all_subjects if only is None or r.id == only]
    metafunc.parametrize("subject", refs, ids=[r.id for r in refs])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group a subject's tests so that `-n N --dist loadgroup` loads each model once per worker."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and isinstance(callspec.params.get("subject"), SubjectRef):
            item.add_marker(pytest.mark.xdist_group(callspec.params["subject"].id))


def _subject_ref(item: pytest.Item, claim: Claim, mark: pytest.Mark) -> SubjectRef:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and isinstance(callspec.params.get("subject"), SubjectRef):
        ref: SubjectRef = callspec.params["subject"]
        return ref
    subject_id = mark.kwargs.get("subject")
    found = claim.subject(subject_id) if subject_id else None
    if found is None:
        msg = (f"{item.nodeid}: cannot tell which subject of {claim.id} this test measures; take a "
               f"`subject` argument or pass @pytest.mark.claim({claim.id!r}, subject=\"ID\")")
        raise pytest.UsageError(msg)
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    mark = _claim_marker(item)
    if mark is None:
        return
    session = _session(item.config)
    claim = _claim_of(session, mark, item.nodeid)
    ref = _subject_ref(item, claim, mark)
    hasher = session.hasher()
    item.stash[_EVIDENCE] = Evidence(claim, ref, session.workspace.root, hasher.hash,
                                     session.workspace.implied_inputs)
    check_kind(session.workspace, claim, ref)



@pytest.fixture(scope="session")
def workspace(request: pytest.FixtureRequest) -> Workspace:
    """The workspace: config, paths, and live subjects by id (`workspace.resolve(id)`)."""
    return _session(request.config).workspace


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Where a falsifier records measurements, inputs, notes and attachments."""
    ev: Evidence | None = request.node.stash.get(_EVIDENCE, None)
    if ev is None:
        msg = f"{request.node.nodeid}: the evidence fixture needs @pytest.mark.claim(\"ID\")"
        raise pytest.UsageError(msg)
    return ev


def _xfail_reason(item: pytest.Item, report: pytest.TestReport) -> str | None:
    """Why this claim-bound test counts as xfail-marked (marker, pytest.xfail(), strict xpass)."""
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return str(wasxfail).removeprefix("reason: ") or "no reason given"
    mark = item.get_closest_marker("xfail")
    if mark is not None:
        return str(mark.kwargs.get("reason", "")) or "no reason given"
    return None


def _skip_reason(ev: Evidence, call: pytest.CallInfo[None], report: pytest.TestReport) -> str:
    if call.excinfo is not None and call.excinfo.errisinstance(SubjectUnavailable):
        return f"subject {ev.subject.id} is not available: {call.excinfo.value}"
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _decide(item: pytest.Item, ev: Evidence, call: pytest.CallInfo[None],
            report: pytest.TestReport) -> Verdict:
    """The verdict for one (claim, subject), whatever pytest outcome the falsifier produced.

    xfail on a falsifier is an ERROR: a claim's expected failure is a negative control in the
    contract, and pytest's xfail would turn a FAIL or a raise into a green run. A skip is never
    evidence: before any measurement it is SKIPPED with its reason; after one it is an ERROR,
    because skipping on what was measured would hide the verdict those measurements get.
    """
    where = f"{call.when} of {report.nodeid}"
    xfail = _xfail_reason(item, report)
    if xfail is not None:
        return judge_error(
            f"falsifier is marked xfail ({xfail}) in {where}: xfail is refused on a claim, as it "
            f"would hide the verdict; an expected failure belongs in the contract as a negative "
            f"control (controls: - subject: ID, expect: FAIL), so remove the xfail marker or "
            f"pytest.xfail() call")
    excinfo = call.excinfo
    lost = getattr(excinfo.value, "falsify_reason", None) if excinfo is not None else None
    if isinstance(lost, str):  # harness.cluster_hooks.ItemLost: judged ERROR with its cause
        return judge_error(lost)
    if excinfo is not None and isinstance(excinfo.value, SubjectNotConfigured):
        skip = _session(item.config).skip_unconfigured and not ev.measurements
        return unconfigured_verdict(excinfo.value, ev.claim.id, skip=skip)
    unavailable = excinfo is not None and excinfo.errisinstance(SubjectUnavailable)
    if report.skipped or unavailable:
        reason = _skip_reason(ev, call, report)
        if ev.measurements:
            names = ", ".join(m.name for m in ev.measurements)
            return judge_error(
                f"falsifier skipped in {where} after measuring {names} ({reason}): a skip is "
                f"never evidence and may not discard measurements; skip or raise "
                f"SubjectUnavailable before the first measurement, and leave judging to the "
                f"contract")
        return judge_skipped(reason)
    if excinfo is None:
        return judge(ev.claim, ev.subject.id, ev.measurements)
    return judge_error(f"falsifier raised in {where}: {_one_line(excinfo)}")


def unconfigured_verdict(exc: SubjectNotConfigured, claim_id: str, *, skip: bool) -> Verdict:
    """A subject no config defines: ERROR (a misconfigured project is never a green run), or
    SKIPPED when the run asked for it (``--skip-unconfigured``, ``skip_unconfigured = true``)."""
    reason = f"claim {claim_id}: {exc}"
    if skip:
        return judge_skipped(f"{reason} (skipped as asked by --skip-unconfigured or "
                             f"skip_unconfigured = true)")
    return judge_error(reason)


def _one_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The exception as one line of a record's reason; pytest's report keeps the traceback."""
    lines = str(excinfo.value).strip().splitlines() or [""]
    more = f" (+{len(lines) - 1} more line(s) in pytest's report)" if len(lines) > 1 else ""
    text = lines[0] if len(lines[0]) <= 300 else lines[0][:299] + "…"
    return f"{excinfo.typename}: {text}{more}"


def _apply(report: pytest.TestReport, verdict: Verdict, ref: SubjectRef,
           notes: tuple[str, ...] = (), *, traceback: bool = False,
           criterion: bool = False) -> None:
    """Make the pytest outcome follow the verdict (controls pass when they get their verdict,
    a decision criterion's subject passes on FAIL too: that FAIL is evidence for a decision).

    ``traceback``: the falsifier raised, and pytest's own traceback is the report to show.
    """
    status = verdict.status
    reasons = "\n".join([f"  - {r}" for r in verdict.reasons] + [f"  note: {n}" for n in notes])
    if status is Status.SKIPPED:
        if not report.skipped:
            report.outcome = "skipped"
            report.longrepr = (str(report.location[0]), report.location[1] or 0,
                               f"Skipped: {verdict.reasons[0]}")
        return
    if status is Status.ERROR:
        if not traceback:  # the reasons say more than pytest's skip, xfail or xpass text
            report.outcome = "failed"
            report.longrepr = f"ERROR {ref.id}\n{reasons}"
        if hasattr(report, "wasxfail"):  # counted as the error it is, never as xfail/xpass
            del report.wasxfail
        return
    if ref.role == "control":
        if status == ref.expect:
            report.outcome, report.longrepr = "passed", None
        else:
            report.outcome = "failed"
            report.longrepr = (f"negative control {ref.id} must get {ref.expect} but got {status}: "
                               f"the falsifier has no power on it\n{reasons}")
        return
    if status is Status.PASS or (criterion and status is Status.FAIL):
        report.outcome, report.longrepr = "passed", None
    else:
        report.outcome = "failed"
        report.longrepr = f"{status} {ref.id}\n{reasons}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Any:
    """Judge at the first phase that decides (setup or call); record once teardown has run."""
    report: pytest.TestReport = yield
    ev = item.stash.get(_EVIDENCE, None)
    if ev is None:
        return report
    if call.when == "teardown":
        _record(item, ev, call, report)
        return report
    if item.stash.get(_JUDGED, False) or (call.when == "setup" and report.passed):
        return report
    item.stash[_JUDGED] = True
    verdict = _decide(item, ev, call, report)
    timing = {"start": call.start, "stop": call.stop, "duration_s": round(call.duration, 6),
              "phase": call.when}
    item.stash[_PENDING] = (verdict, timing)
    raised = (report.failed and call.excinfo is not None and not hasattr(report, "wasxfail")
              and not call.excinfo.errisinstance((SubjectUnavailable, SubjectNotConfigured)))
    _apply(report, verdict, ev.subject, ev.notes, traceback=raised, criterion=ev.claim.criterion)
    report.user_properties.append((_PROPS, {
        "claim": ev.claim.id, "subject": ev.subject.id, "role": ev.subject.role,
        "criterion": ev.claim.criterion,
        "expect": None if ev.subject.expect is None else ev.subject.expect.value,
        "status": verdict.status.value, "reasons": list(verdict.reasons), "record": None,
    }))
    return report


def _record(item: pytest.Item, ev: Evidence, call: pytest.CallInfo[None],
            report: pytest.TestReport) -> None:
    """Append the verdict once teardown has run; a teardown that raised makes it an ERROR."""
    pending = item.stash.get(_PENDING, None)
    if pending is None:
        return
    del item.stash[_PENDING]
    verdict, timing = pending
    if report.failed and call.excinfo is not None:
        raised = f"falsifier raised in teardown of {report.nodeid}: {_one_line(call.excinfo)}"
        verdict = judge_error(raised)
        if pending[0].status is Status.ERROR:
            verdict = Verdict(Status.ERROR, (*pending[0].reasons, raised))
    record_id = _session(item.config).append(ev, verdict, item.nodeid, timing, item)
    report.user_properties.append((_FINAL, {
        "status": verdict.status.value, "reasons": list(verdict.reasons), "record": record_id}))


def _props(report: pytest.TestReport, name: str = _PROPS) -> dict[str, Any] | None:
    for key, value in getattr(report, "user_properties", ()):
        if key == name:
            props: dict[str, Any] = value
            return props
    return None


def pytest_report_teststatus(report: pytest.TestReport,
                             config: pytest.Config) -> tuple[str, str, str] | None:
    props = _props(report)
    if props is None:
        return None
    status = props["status"]
    if props["role"] == "control" and status == props["expect"]:
        return "passed", ".", f"{status} (negative control, as expected)"
    if props.get("criterion") and props["role"] == "subject" and status == "FAIL":
        return "passed", "k", "FAIL (decision criterion: evidence for a decision)"
    letters = {"PASS": ("passed", "."), "FAIL": ("failed", "F"), "SUSPECT": ("failed", "S"),
               "INCONCLUSIVE": ("failed", "I"), "ERROR": ("error", "E"),
               "SKIPPED": ("skipped", "s")}
    category, letter = letters[status]
    if props["role"] == "control" and status not in ("ERROR", "SKIPPED"):
        return "failed", "F", f"{status} (negative control expected {props['expect']})"
    return category, letter, status


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _session(session.config)
    state.close()
    if state.write_failures:
        session.exitstatus = int(session.exitstatus) | LEDGER_WRITE_FAILED


def _signed_by() -> str:
    """Who signs this run's segments (every worker finds the same key the same way)."""
    from harness.ledger import LedgerError
    from harness.ledger.keys import HOW_TO_ADD, default_signer

    try:
        signer = default_signer()
    except LedgerError as exc:
        return f"NOT signed: {exc}"
    if signer is None:
        return (f"unsigned (no signing key; a gate that requires signatures refuses them: "
                f"{HOW_TO_ADD})")
    return f"signed by key {signer.name} ({signer.keyid[:16]}…)"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    state = _session(config)
    for failure in state.write_failures:
        terminalreporter.write_line(f"falsify: {failure}", red=True)
    if not state.results:
        return
    from harness.render.terminal import verdict_table

    terminalreporter.section("falsify: verdicts")
    terminalreporter.write_line(verdict_table(state.results))
    recorded = sum(1 for r in state.results if r.record)
    if state.recording:
        where = state.ledger_dir
        terminalreporter.write_line(f"{recorded} evidence record(s) appended to {where}, "
                                    f"{_signed_by()}")
    else:
        terminalreporter.write_line("--no-record: verdicts judged, nothing appended")
