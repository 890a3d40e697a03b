"""``stageflow stage ...``: the stage engine's commands."""

from __future__ import annotations

import argparse
import json

from ..errors import NotFound, StageflowError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is imported only by type checkers (CLI fast path)
    from typing import Any, Callable, Dict, List, Optional, Tuple

    from ..engine import Orchestrator
    from ..run import RunState
    from . import Console


def _add_init(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workflow",
        metavar="NAME|PATH",
        help="a workflow's name (default: eight-stage), or a workflow document to install",
    )
    p.add_argument("--task", metavar="TEXT", help="the task description the run keeps")
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="STAGE|PHASE",
        help="a stage key or phase id this run skips (repeatable), e.g. --skip test",
    )
    p.add_argument(
        "--approval",
        action="append",
        default=[],
        metavar="STAGE",
        help="a stage key that waits for a person's approval once its gates pass (repeatable); "
        "stages whose configured approval is true are added",
    )


def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=int, help="an earlier run's number (default: the latest)")


def _add_graph(p: argparse.ArgumentParser) -> None:
    _add_run(p)
    p.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="default: mermaid"
    )


def _add_complete(p: argparse.ArgumentParser) -> None:
    p.add_argument("--override", action="store_true", help="override failing overridable gates")
    p.add_argument("--reason", help="justification (required with --override)")
    p.add_argument(
        "--output", action="append", default=[], metavar="PATH", help="register an output file"
    )


def _add_reason(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reason", required=True, help="why (recorded in the history)")


def _add_review(p: argparse.ArgumentParser, note_required: bool) -> None:
    p.add_argument("--by", required=True, metavar="NAME", help="who decides (recorded)")
    p.add_argument(
        "--note",
        required=note_required,
        metavar="TEXT",
        help="why (required to reject; the stage's agent receives it)"
        if note_required
        else "why (recorded with the approval)",
    )


def _add_approve(p: argparse.ArgumentParser) -> None:
    _add_review(p, False)


def _add_reject(p: argparse.ArgumentParser) -> None:
    _add_review(p, True)


def _add_nothing(p: argparse.ArgumentParser) -> None:
    pass


def _add_stop(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reason", help="why (recorded in the history)")


def _add_resume(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "stage",
        metavar="STAGE",
        nargs="?",
        help="stage number or key (default: the stage where the run stopped)",
    )
    p.add_argument(
        "--from-phase",
        metavar="PHASE_ID",
        help="go on from this phase of the stage; it and the later phases start over",
    )


def register(
    groups: Any, common: Callable[[argparse.ArgumentParser], None], only: Optional[str] = None
) -> None:
    """Add ``stageflow stage ...``; with ``only``, just that command (a faster start-up)."""
    stage = groups.add_parser("stage", help="run and inspect stage workflows")
    commands = stage.add_subparsers(dest="command", metavar="COMMAND", prog="stageflow stage")
    for name, (handler, help_text, positionals, extra) in COMMANDS.items():
        if only is not None and only in COMMANDS and name != only:
            continue
        parser = commands.add_parser(
            name, help=help_text, description=help_text, prog=f"stageflow stage {name}"
        )
        if "feature" in positionals:
            parser.add_argument("feature", metavar="FEATURE")
        if "stage" in positionals:
            parser.add_argument("stage", metavar="STAGE", help="stage number or key")
        extra(parser)
        common(parser)
        parser.set_defaults(handler=handler)


# -- read-only commands: the fast path (no attrs, cattrs, jsonschema or transitions) --------


def _read_document(ns: argparse.Namespace) -> Dict[str, Any]:
    from .._names import check_feature
    from .._rundoc import check_run_document
    from ._stores import run_store, store_url

    check_feature(ns.feature)
    store = run_store(ns)
    stored = store.latest(ns.feature) if ns.run is None else store.load(ns.feature, ns.run)
    if stored is None:
        from ..storage._url import redact

        url, given = store_url(ns)
        option = f" --store {redact(url)}" if url is not None and given == "--store" else ""
        raise NotFound(
            f"no run for feature {ns.feature!r}; start one with: "
            f"stageflow stage init {ns.feature}{option}",
            ns.feature,
        )
    return check_run_document(stored.document, stored.location)


def _status(ns: argparse.Namespace, console: Console) -> int:
    from .._render import status_text, status_view

    view = status_view(_read_document(ns))
    console.emit(view, lambda: status_text(view))
    return 0


def _history(ns: argparse.Namespace, console: Console) -> int:
    from .._render import history_text

    document = _read_document(ns)
    console.emit(
        {"feature": document["feature"], "run": document["run"], "history": document["history"]},
        lambda: history_text(document["history"]),
    )
    return 0


def _graph(ns: argparse.Namespace, console: Console) -> int:
    from ..render import stage_graph_dot, stage_graph_mermaid

    document = _read_document(ns)
    draw = stage_graph_dot if ns.format == "dot" else stage_graph_mermaid
    diagram = draw(document)
    console.emit(
        {"feature": document["feature"], "format": ns.format, "diagram": diagram},
        lambda: diagram,
    )
    return 0


def _list(ns: argparse.Namespace, console: Console) -> int:
    from .._render import stage_number
    from .._rundoc import check_run_document
    from ._stores import run_store

    store = run_store(ns)
    rows: List[Dict[str, Any]] = []
    for feature in store.features():
        try:
            stored = store.latest(feature)
            if stored is None:  # removed since it was listed
                continue
            doc = check_run_document(stored.document, stored.location)
            rows.append(
                {
                    "feature": feature,
                    "run": doc["run"],
                    "workflow": doc["workflow"],
                    "status": doc["status"],
                    "current_stage": stage_number(doc, doc["current_stage"]),
                    "current_stage_key": doc["current_stage"],
                    "error": None,
                }
            )
        except StageflowError as exc:  # one bad file never hides the other features
            rows.append({"feature": feature, "error": str(exc)})

    def text() -> str:
        if not rows:
            return "No runs found."
        return "\n".join(
            f"{r['feature']}: run #{r['run']} {r['status']} at {r['current_stage_key'] or 'end'}"
            if r["error"] is None
            else f"{r['feature']}: unreadable: {r['error']}"
            for r in rows
        )

    console.emit({"features": rows}, text)
    return 2 if any(r["error"] for r in rows) else 0


# -- commands that go through the engine -----------------------------------------------


def _orchestrator(ns: argparse.Namespace) -> Orchestrator:
    """The engine over the command's stores (:mod:`._stores`) and the project: the built-in
    workflows and the project's own (``.tmp/workflows/``, see :mod:`stageflow.cli._workflow`)."""
    from ..engine import Orchestrator
    from ._stores import stores
    from ._workflow import all_workflows

    return Orchestrator(
        stores(ns), root=ns.root, actor=ns.actor, workflows=all_workflows(str(ns.root))
    )


def _done(console: Console, run: RunState, message: str) -> int:
    from .._render import status_text, status_view
    from ..serde import run_to_document

    view = status_view(run_to_document(run))
    console.emit(
        {"ok": True, "message": message, "status": view},
        lambda: message + "\n\n" + status_text(view),
    )
    return 0


def _refused(console: Console, exc: Any) -> int:
    """Print a refusal with all its findings and the run's status; exit code 1."""
    from .._render import findings_text, status_view
    from ..serde import run_to_document

    view = status_view(run_to_document(exc.run)) if exc.run is not None else None
    if console.as_json:
        console.emit({"ok": False, **exc.to_dict(), "status": view}, str)
    else:
        console.err.write(f"refused: {exc.message}\n")
        for line in findings_text(exc.findings):
            console.err.write(line + "\n")
    return int(exc.exit_code)


def _run(
    ns: argparse.Namespace,
    console: Console,
    action: Callable[[Orchestrator], RunState],
    describe: Callable[[RunState], str],
) -> int:
    from ..errors import Refused

    try:
        run = action(_orchestrator(ns))
    except Refused as exc:
        return _refused(console, exc)
    return _done(console, run, describe(run))


def _stage_label(run: RunState) -> str:
    """``N (Name)`` of the stage the last event was about."""
    record = run.stage(str(run.history[-1].stage))
    return f"{record.number} ({record.name})"


def _where(run: RunState) -> str:
    if run.current_stage is None:
        return "every stage is completed"
    record = run.stage(run.current_stage)
    return f"current stage: {record.number} ({record.name})"


def _init(ns: argparse.Namespace, console: Console) -> int:
    from ..config import load_config

    config = load_config(ns.root)
    workflow = ns.workflow or config.data["workflow"]
    from ._workflow import install, is_path

    if is_path(workflow):  # a document: checked, then installed in .tmp/workflows/
        workflow = install(str(ns.root), workflow)

    def init(flow: Orchestrator) -> RunState:
        spec = flow.workflow(workflow)
        # the stages and phases the configuration switches off, then those of --skip
        skip = config.disabled(spec)
        skip += [name for name in ns.skip if name not in skip]
        # those the configuration puts behind an approval, then those of --approval
        approvals = config.approvals(spec)
        approvals += [name for name in ns.approval if name not in approvals]
        return flow.init(
            ns.feature, workflow=workflow, skip=skip, task=ns.task, approvals=approvals
        )

    return _run(
        ns,
        console,
        init,
        lambda r: f"Started run #{r.run} of {r.feature!r} ({r.workflow}); {_where(r)}",
    )


def _context(ns: argparse.Namespace, console: Console) -> int:
    from ..config import load_config

    brief = _orchestrator(ns).context(ns.feature, ns.stage, config=load_config(ns.root))
    document = brief.to_dict()

    def text() -> str:
        settings = ", ".join(f"{k} {json.dumps(v)}" for k, v in document["settings"].items())
        lines = [
            f"Stage {brief.number} ({brief.name}) of {brief.feature!r} [{brief.workflow}]",
            f"  Task: {brief.task_summary or '(none given)'}",
        ]
        if brief.goal:
            lines.append(f"  Goal: {brief.goal}")
        lines.append(f"  Settings: {settings}")
        previous = brief.previous_stage
        summary = (brief.previous_summary or "(no summary)").replace("\n", "\n    ")
        lines.append(f"  Previous stage: {f'{previous}: {summary}' if previous else 'none'}")
        lines.append(f"  Plan file: {brief.plan_file or 'none'}")
        if brief.phase:
            handed = brief.previous_phase_summary or "none"
            lines.append(f"  Phase: {brief.phase} (previous phase's summary: {handed})")
        for given in document["feedback"]:
            note = f": {given['note']}" if given["note"] else ""
            lines.append(f"  Feedback: {given['decision']} by {given['by']} at {given['at']}{note}")
        for issue in brief.review_issues:
            lines.append(f"  Review issue: {issue.describe()}")
            if issue.suggestion:
                lines.append(f"    -> {issue.suggestion}")
        return "\n".join(lines)

    console.emit(document, text)
    return 0


def _validate(ns: argparse.Namespace, console: Console) -> int:
    from .._render import finding_to_dict, findings_text

    report = _orchestrator(ns).validate(ns.feature, ns.stage)
    document = {
        "feature": report.feature,
        "stage": report.number,
        "stage_key": report.stage,
        "passed": report.passed,
        "verdicts": [
            {
                "gate": v.gate,
                "kind": v.kind,
                "passed": v.passed,
                "overridable": v.overridable,
                "findings": [finding_to_dict(f) for f in v.findings],
            }
            for v in report.verdicts
        ],
    }

    def text() -> str:
        head = "ready" if report.passed else "NOT ready"
        lines = [f"Stage {report.number} ({report.stage}) of {report.feature!r}: {head}"]
        for v in report.verdicts:
            lines.append(f"  {'ok  ' if v.passed else 'FAIL'} {v.gate}")
            lines.extend(findings_text(v.findings, indent="       "))
        return "\n".join(lines)

    console.emit(document, text)
    return 0 if report.passed else 1


def _complete(ns: argparse.Namespace, console: Console) -> int:
    def describe(run: RunState) -> str:
        done = [r for r in run.stages if r.status.value == "completed"]
        last = run.history[-1]
        note = f" (gates overridden: {last.reason})" if last.override else ""
        progress = f"[{len(done)}/{len(run.stages)}]"
        if run.status.value == "awaiting_approval":
            return (
                f"Stage {_stage_label(run)} of {run.feature!r} passed its gates{note} and "
                f"awaits approval {progress}"
            )
        return (
            f"Completed stage {_stage_label(run)} of {run.feature!r}{note}; "
            f"{_where(run)} {progress}"
        )

    return _run(
        ns,
        console,
        lambda o: o.complete(
            ns.feature, ns.stage, override=ns.override, reason=ns.reason, outputs=ns.output
        ),
        describe,
    )


def _approve(ns: argparse.Namespace, console: Console) -> int:
    return _run(
        ns,
        console,
        lambda o: o.approve(ns.feature, ns.stage, by=ns.by, note=ns.note),
        lambda r: f"Approved stage {_stage_label(r)} of {r.feature!r}; {_where(r)}",
    )


def _reject(ns: argparse.Namespace, console: Console) -> int:
    return _run(
        ns,
        console,
        lambda o: o.reject(ns.feature, ns.stage, by=ns.by, note=ns.note),
        lambda r: (
            f"Rejected stage {_stage_label(r)} of {r.feature!r}; it is in progress again "
            "with the feedback in its context"
        ),
    )


def _fail(ns: argparse.Namespace, console: Console) -> int:
    return _run(
        ns,
        console,
        lambda o: o.fail(ns.feature, ns.stage, reason=ns.reason),
        lambda r: f"Marked stage {_stage_label(r)} of {r.feature!r} failed; the run is failed",
    )


def _rollback(ns: argparse.Namespace, console: Console) -> int:
    def describe(run: RunState) -> str:
        last = run.history[-1]
        archived = (
            f"; archived {len(last.archived)} output(s) to {last.archive}" if last.archive else ""
        )
        return f"Rolled back {run.feature!r}; {_where(run)}{archived}"

    return _run(ns, console, lambda o: o.rollback(ns.feature, ns.stage, reason=ns.reason), describe)


def _abort(ns: argparse.Namespace, console: Console) -> int:
    def describe(run: RunState) -> str:
        last = run.history[-1]
        archived = f"; outputs copied to {last.archive}" if last.archive else ""
        return f"Aborted run #{run.run} of {run.feature!r}{archived}"

    return _run(ns, console, lambda o: o.abort(ns.feature, reason=ns.reason), describe)


def _stop(ns: argparse.Namespace, console: Console) -> int:
    def describe(run: RunState) -> str:
        if run.stop_request is not None:
            return f"Stop requested for {run.feature!r}: it stops when the running phase ends"
        return f"Stopped {run.feature!r}; {_where(run)}"

    return _run(ns, console, lambda o: o.stop(ns.feature, reason=ns.reason), describe)


def _resume(ns: argparse.Namespace, console: Console) -> int:
    from ..config import load_config

    config = load_config(ns.root)  # edits made while the run was stopped take effect

    def describe(run: RunState) -> str:
        last = run.history[-1]
        if (
            run.status.value == "active"
            and last.status_before is not None
            and (last.status_before.value == "active")
        ):
            return f"Called off the stop of {run.feature!r}; {_where(run)}"
        start = f" from phase {last.phase}" if last.phase else ""
        return f"Resumed {run.feature!r}{start}; {_where(run)}"

    return _run(
        ns,
        console,
        lambda o: o.resume(ns.feature, ns.stage, from_phase=ns.from_phase, config=config),
        describe,
    )


if TYPE_CHECKING:
    Command = Tuple[
        Callable[..., int], str, Tuple[str, ...], Callable[[argparse.ArgumentParser], None]
    ]
COMMANDS: Dict[str, Command] = {
    "init": (_init, "start a new run with stage 1 in progress", ("feature",), _add_init),
    "status": (_status, "show a run's stages and what to do next", ("feature",), _add_run),
    "list": (_list, "list features and the status of their latest run", (), _add_nothing),
    "validate": (
        _validate,
        "dry run: rules, entry and exit gates; changes nothing",
        ("feature", "stage"),
        _add_nothing,
    ),
    "context": (
        _context,
        "what the agent of a stage receives: task summary, its settings, the previous summary",
        ("feature", "stage"),
        _add_nothing,
    ),
    "complete": (
        _complete,
        "complete the current stage through its gates",
        ("feature", "stage"),
        _add_complete,
    ),
    "approve": (
        _approve,
        "approve the stage awaiting approval; the run moves on",
        ("feature", "stage"),
        _add_approve,
    ),
    "reject": (
        _reject,
        "reject the stage awaiting approval: back to in_progress with the feedback",
        ("feature", "stage"),
        _add_reject,
    ),
    "fail": (_fail, "mark the current stage and the run failed", ("feature", "stage"), _add_reason),
    "rollback": (
        _rollback,
        "go back to the current or an earlier stage",
        ("feature", "stage"),
        _add_reason,
    ),
    "abort": (_abort, "abort the run; its outputs are archived", ("feature",), _add_reason),
    "stop": (
        _stop,
        "stop the run once its running phase ends; resume goes on from there",
        ("feature",),
        _add_stop,
    ),
    "resume": (
        _resume,
        "resume a stopped, failed or aborted run where it stopped (reloads the config)",
        ("feature",),
        _add_resume,
    ),
    "history": (_history, "show the append-only history of a run", ("feature",), _add_run),
    "graph": (
        _graph,
        "the stage machine as a Mermaid or DOT diagram, the current stage highlighted",
        ("feature",),
        _add_graph,
    ),
}
"""Every ``stageflow stage`` command: handler, help, positional arguments, extra options."""
