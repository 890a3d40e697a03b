"""``stageflow task ...``: the task files' commands.

Every command uses the task store of ``--store`` (:mod:`._stores`; by default the files
store under the root). Reads (``status``, ``next``, ``parallel``) go through it and
:mod:`stageflow._taskview` only, so they import neither attrs nor jsonschema. Moves go
through :class:`~stageflow.tracker.TaskTracker`, which holds the feature's lock. A refused
move raises :class:`~stageflow.errors.RuleViolation` (exit 1, every finding printed by the
CLI's error handler); a malformed file the move needs is a ``StateFileError`` (exit 2).
"""

from __future__ import annotations

import argparse

from ..errors import StageflowError
from . import _taskrun
from ._args import integer_at_least

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is imported only by type checkers (CLI fast path)
    from typing import Any, Callable, Dict, List, Tuple

    from ..graph import DependencyCycleError
    from ..tracker import MoveResult, TaskTracker
    from . import Console

_ICONS = {"completed": "✓", "in_progress": "~", "blocked": "✗", "pending": "○"}


def _feature(p: argparse.ArgumentParser, optional: bool = False) -> None:
    if optional:
        p.add_argument("feature", metavar="FEATURE", nargs="?", help="default: every feature")
    else:
        p.add_argument("feature", metavar="FEATURE")


def _seq(p: argparse.ArgumentParser) -> None:
    _feature(p)
    p.add_argument("seq", metavar="SEQ", help="the subtask's seq, e.g. 01")


def _add_optional_feature(p: argparse.ArgumentParser) -> None:
    _feature(p, optional=True)


def _add_feature(p: argparse.ArgumentParser) -> None:
    _feature(p)


def _add_seq(p: argparse.ArgumentParser) -> None:
    _seq(p)


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="default: mermaid"
    )


def _add_graph(p: argparse.ArgumentParser) -> None:
    _feature(p)
    _add_format(p)


def _add_agent(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", required=True, metavar="ID", help="the agent doing the work")


def _add_start(p: argparse.ArgumentParser) -> None:
    _seq(p)
    _add_agent(p)


def _add_claim(p: argparse.ArgumentParser) -> None:
    _feature(p)
    _add_agent(p)


def _add_complete(p: argparse.ArgumentParser) -> None:
    _seq(p)
    p.add_argument(
        "summary", metavar="SUMMARY", nargs="+", help="what was done (at most 200 characters)"
    )
    p.add_argument(
        "--force", action="store_true", help="complete although a dependency is not completed"
    )
    p.add_argument("--reason", help="why the dependencies may be ignored (required with --force)")


def _add_reason(p: argparse.ArgumentParser) -> None:
    _seq(p)
    p.add_argument("--reason", required=True, help="why (kept in the subtask file)")


def _add_batches(p: argparse.ArgumentParser) -> None:
    _feature(p)
    p.add_argument(
        "--max-width", type=integer_at_least(1), metavar="N", help="at most N tasks per batch"
    )
    p.add_argument(
        "--priority",
        metavar="rice|wsjf|FIELD",
        help="order each generation by this score, higher first (default: seq order)",
    )
    p.add_argument("--explain", action="store_true", help="say why each task is where it is")


def register(
    groups: Any, common: Callable[[argparse.ArgumentParser], None], only: str | None = None
) -> None:
    """Add ``stageflow task ...``; with ``only``, just that command (a faster start-up)."""
    task = groups.add_parser("task", help="inspect, validate and move task files")
    commands = task.add_subparsers(dest="command", metavar="COMMAND", prog="stageflow task")
    for name, (handler, help_text, extra) in COMMANDS.items():
        if only is not None and only in COMMANDS and name != only:
            continue
        parser = commands.add_parser(
            name, help=help_text, description=help_text, prog=f"stageflow task {name}"
        )
        extra(parser)
        common(parser)
        parser.set_defaults(handler=handler)


# -- reading ------------------------------------------------------------------------------


def _store(ns: argparse.Namespace) -> Any:
    from ._stores import task_store

    return task_store(ns)


def _in(ns: argparse.Namespace) -> str:
    """Where the features were looked for, for messages."""
    from ._stores import where

    place = where(ns)
    return f"under {place}" if place == ".tmp/tasks" else f"in {place}"


def _each_feature(ns: argparse.Namespace) -> Tuple[List[Any], List[Dict[str, str]]]:
    """The stored features the command is about, and those that could not be read."""
    store = _store(ns)
    names = [ns.feature] if ns.feature is not None else store.features()
    loaded, failed = [], []
    for name in names:
        try:
            loaded.append(store.load(name))
        except StageflowError as exc:
            if ns.feature is not None:
                raise
            failed.append({"feature": name, "error": exc.message})
    return loaded, failed


def _status(ns: argparse.Namespace, console: Console) -> int:
    from .._taskview import summary

    loaded, failed = _each_feature(ns)
    views = [summary(stored) for stored in loaded]
    document: Dict[str, Any] = views[0] if ns.feature is not None else {"features": views + failed}

    def text() -> str:
        if not views and not failed:
            return f"No features found {_in(ns)}."
        blocks = [_status_text(v, detailed=ns.feature is not None) for v in views]
        blocks += [f"[{f['feature']}] unreadable: {f['error']}" for f in failed]
        return "\n\n".join(blocks)

    console.emit(document, text)
    return 2 if failed or any(v["problems"] for v in views) else 0


def _status_text(view: Dict[str, Any], detailed: bool) -> str:
    c = view["counts"]
    lines = [
        f"[{view['feature']}] {view['name'] or '(no name)'}",
        f"  Status: {view['status'] or '?'} | Progress: {view['progress']}% "
        f"({view['completed_count']}/{view['subtask_count']})",
        f"  Pending: {c['pending']} | In Progress: {c['in_progress']} | "
        f"Completed: {c['completed']} | Blocked: {c['blocked']}"
        + (f" | Other: {c['other']}" if c["other"] else ""),
    ]
    if not view["has_task_file"]:
        lines.append(f"  No task.json in {view['folder']}")
    if detailed:
        for row in view["subtasks"]:
            agent = f" (agent {row['agent_id']})" if row["agent_id"] else ""
            icon = _ICONS.get(row["status"], "?")
            lines.append(f"  {icon} {row['seq']} {row['title'] or ''}{agent}".rstrip())
    for problem in view["problems"]:
        lines.append(f"  ! {problem['file']}: {problem['problem']}")
    return "\n".join(lines)


def _ready(ns: argparse.Namespace, console: Console, parallel_only: bool) -> int:
    from .._taskview import problems, ready

    loaded, failed = _each_feature(ns)
    found = [
        {"feature": s.feature, "ready": ready(s, parallel_only), "problems": problems(s)}
        for s in loaded
    ]

    def rows(item: Dict[str, Any]) -> List[str]:
        lines = []
        for row in item["ready"]:
            mark = (
                "" if parallel_only else ("  [parallel]" if row["parallel"] else "  [sequential]")
            )
            lines.append(f"  {row['seq']} - {row['title'] or ''}{mark}")
        return lines

    title = "Parallel Tasks Ready Now" if parallel_only else "Ready Tasks (deps satisfied)"
    return _per_feature(ns, console, title, found, failed, rows)


def _per_feature(
    ns: argparse.Namespace,
    console: Console,
    title: str,
    found: List[Dict[str, Any]],
    failed: List[Dict[str, str]],
    rows: Callable[[Dict[str, Any]], List[str]],
) -> int:
    """Print a read command's per-feature result: one feature's document, or
    ``{"features": [...]}``; in text, a heading, each feature's rows (or ``(none)``) and
    its unusable files. Exit 2 when anything could not be read."""
    document: Dict[str, Any] = found[0] if ns.feature is not None else {"features": found + failed}

    def text() -> str:
        lines = [f"=== {title} ==="]
        for item in found:
            lines.append(f"[{item['feature']}]")
            lines += rows(item) or ["  (none)"]
            lines += [f"  ! {p['file']}: {p['problem']}" for p in item["problems"]]
        lines += [f"[{f['feature']}] unreadable: {f['error']}" for f in failed]
        return "\n".join(lines)

    console.emit(document, text)
    return 2 if failed or any(item["problems"] for item in found) else 0


def _next(ns: argparse.Namespace, console: Console) -> int:
    return _ready(ns, console, parallel_only=False)


def _parallel(ns: argparse.Namespace, console: Console) -> int:
    return _ready(ns, console, parallel_only=True)


def _deps(ns: argparse.Namespace, console: Console) -> int:
    from .._taskview import deps_of, summary
    from ..graph import render_deps_tree

    stored = _store(ns).load(ns.feature)
    tree = deps_of(stored, ns.seq)
    titles = {r["seq"]: r["title"] for r in summary(stored)["subtasks"] if r["title"]}
    document = {
        "feature": ns.feature,
        "seq": tree.root,
        "entries": [
            {
                "seq": e.seq,
                "depth": e.depth,
                "parent": e.parent,
                "status": e.status,
                "mark": e.mark.value,
            }
            for e in tree.entries
        ],
    }
    console.emit(
        document,
        lambda: (
            f"=== Dependency Tree: {ns.feature}/{tree.root} ===\n" + render_deps_tree(tree, titles)
        ),
    )
    return 0


def _blocked(ns: argparse.Namespace, console: Console) -> int:
    from .._taskview import graph_of, problems
    from ..graph import blocked

    loaded, failed = _each_feature(ns)
    found: List[Dict[str, Any]] = []
    for stored in loaded:
        rows = [
            {
                "seq": b.seq,
                "explicit": b.explicit,
                "reason": b.reason,
                "waiting": list(b.waiting),
                "missing": list(b.missing),
                "cycle": list(b.cycle.path) if b.cycle is not None else None,
            }
            for b in blocked(graph_of(stored))
        ]
        found.append({"feature": stored.feature, "blocked": rows, "problems": problems(stored)})
    return _per_feature(
        ns,
        console,
        "Blocked Tasks",
        found,
        failed,
        lambda item: [f"  {r['seq']} ({r['reason']})" for r in item["blocked"]],
    )


def _graph(ns: argparse.Namespace, console: Console) -> int:
    from .._taskview import graph_of, problems, summary
    from ..render import generations, task_graph_dot, task_graph_mermaid

    stored = _store(ns).load(ns.feature)
    graph = graph_of(stored)
    titles = {r["seq"]: r["title"] for r in summary(stored)["subtasks"] if r["title"]}
    # Grouped by the planner's batches; a feature the planner refuses (a cycle, a missing
    # dependency, an unusable file) is still drawn, grouped by topological generation.
    from ..graph import GraphError
    from ..planner import plan_feature

    try:
        batches: Any = [batch.seqs for batch in plan_feature(stored).batches]
    except GraphError:
        batches = generations(graph)
    draw = task_graph_dot if ns.format == "dot" else task_graph_mermaid
    diagram = draw(graph, titles=titles, batches=batches)
    found = problems(stored)
    if not console.as_json:  # the diagram alone on stdout, so that it can be piped
        for problem in found:
            console.err.write(f"! {problem['file']}: {problem['problem']}\n")
    console.emit(
        {"feature": ns.feature, "format": ns.format, "diagram": diagram, "problems": found},
        lambda: diagram,
    )
    return 2 if found else 0


def _validate(ns: argparse.Namespace, console: Console) -> int:
    from .._render import finding_to_dict, findings_text
    from ..validation import validate_store

    results = validate_store(_store(ns), ns.feature)
    findings = [f for found in results.values() for f in found]
    errors = sum(1 for f in findings if f.is_error)
    document = {
        "valid": errors == 0,
        "features": sorted(results),
        "findings": [{"file": f.path, **finding_to_dict(f)} for f in findings],
    }

    def text() -> str:
        lines = ["=== Validation Results ==="]
        for feature, found in results.items():
            lines.append(f"[{feature}]")
            lines += findings_text(found, indent="  ") if found else ["  ✓ All checks passed"]
        if not results:
            lines.append(f"No features found {_in(ns)}.")
        warnings = sum(1 for f in findings if f.severity.value == "warning")
        lines.append(f"{errors} error(s), {warnings} warning(s)")
        return "\n".join(lines)

    console.emit(document, text)
    return 1 if errors else 0


def _cycles(ns: argparse.Namespace, console: Console, exc: DependencyCycleError) -> int:
    """A cycle error naming every cycle: one JSON document, or one line per cycle."""
    if console.as_json:
        from . import dumps

        console.out.write(dumps({"ok": False, **exc.to_dict(), "feature": ns.feature}) + "\n")
    else:
        count = len(exc.cycles)
        console.err.write(
            f"error: cannot plan {ns.feature!r}: the dependencies have {count} "
            f"cycle{'' if count == 1 else 's'}\n"
        )
        for cycle in exc.cycles:
            console.err.write(f"  cycle: {' -> '.join(cycle.path)}\n")
    return 2


def _batches(ns: argparse.Namespace, console: Console) -> int:
    from ..graph import DependencyCycleError
    from ..planner import plan_feature

    stored = _store(ns).load(ns.feature)
    try:
        plan = plan_feature(stored, max_width=ns.max_width, priority=ns.priority)
    except DependencyCycleError as exc:
        return _cycles(ns, console, exc)

    def text() -> str:
        lines = []
        for batch in plan.batches:
            size = len(batch.tasks)
            lines.append(
                f"Batch {batch.number} ({size} task{'' if size == 1 else 's'}): "
                f"[{', '.join(batch.seqs)}]"
            )
            if ns.explain:
                lines += [f"  {task.seq}: {task.explanation}" for task in batch.tasks]
        if not plan.batches:
            lines.append("No unfinished subtasks to plan.")
        if ns.explain and plan.completed:
            lines.append(f"Completed, not planned: {', '.join(plan.completed)}")
        return "\n".join(lines)

    console.emit({"feature": ns.feature, **plan.to_dict()}, text)
    return 0


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _critical_path(ns: argparse.Namespace, console: Console) -> int:
    from ..graph import DependencyCycleError
    from ..planner import EFFORT_FIELD, feature_critical_path

    stored = _store(ns).load(ns.feature)
    try:
        path = feature_critical_path(stored)
    except DependencyCycleError as exc:
        return _cycles(ns, console, exc)

    def text() -> str:
        if not path.path:
            return "No unfinished subtasks to plan."
        lines = [f"Critical path: {' -> '.join(path.path)} (length {_number(path.length)})"]
        for t in path.tasks:
            lines.append(
                f"  {t.seq}  effort {_number(t.effort)}  start {_number(t.earliest_start)}"
                f"  slack {_number(t.slack)}" + ("  critical" if t.critical else "")
            )
        return "\n".join(lines)

    document = {"feature": ns.feature, **path.to_dict(), "effort_field": EFFORT_FIELD}
    console.emit(document, text)
    return 0


# -- moves --------------------------------------------------------------------------------


def _tracker(ns: argparse.Namespace) -> TaskTracker:
    from ..tracker import TaskTracker

    return TaskTracker(_store(ns))


def _moved(console: Console, ns: argparse.Namespace, result: MoveResult, message: str) -> int:
    move = result.move
    document = {
        "ok": True,
        "message": message,
        "feature": ns.feature,
        "move": move.to_dict(),
        "file": result.location,
        "subtask": result.subtask,
        "progress": {"completed": result.completed, "total": result.total},
        "warnings": list(result.warnings),
    }
    lines = [message, f"  Progress: {result.completed}/{result.total}"]
    lines += [f"  warning: {w}" for w in result.warnings]
    console.emit(document, lambda: "\n".join(lines))
    return 0


def _where(ns: argparse.Namespace, result: MoveResult) -> str:
    return f"{ns.feature}/{result.seq}"


def _start(ns: argparse.Namespace, console: Console) -> int:
    result = _tracker(ns).start(ns.feature, ns.seq, ns.agent)
    return _moved(console, ns, result, f"✓ Started {_where(ns, result)} for {ns.agent}")


def _claim(ns: argparse.Namespace, console: Console) -> int:
    result = _tracker(ns).claim(ns.feature, ns.agent)
    title = result.subtask.get("title")
    shown = f": {title}" if isinstance(title, str) else ""
    return _moved(console, ns, result, f"✓ Claimed {_where(ns, result)} for {ns.agent}{shown}")


def _complete(ns: argparse.Namespace, console: Console) -> int:
    summary = " ".join(ns.summary)
    if ns.reason is not None and not ns.force:
        from ..errors import UsageError

        raise UsageError("--reason is read only with --force (why the dependencies may be ignored)")
    result = _tracker(ns).complete(ns.feature, ns.seq, summary, force=ns.force, reason=ns.reason)
    forced = " (forced: dependencies not completed)" if result.move.forced else ""
    return _moved(
        console,
        ns,
        result,
        f"✓ Marked {_where(ns, result)} as completed{forced}\n  Summary: {result.move.summary}",
    )


def _block(ns: argparse.Namespace, console: Console) -> int:
    result = _tracker(ns).block(ns.feature, ns.seq, ns.reason)
    return _moved(console, ns, result, f"✓ Blocked {_where(ns, result)}: {ns.reason}")


def _unblock(ns: argparse.Namespace, console: Console) -> int:
    result = _tracker(ns).unblock(ns.feature, ns.seq)
    return _moved(console, ns, result, f"✓ Unblocked {_where(ns, result)}: pending")


def _reopen(ns: argparse.Namespace, console: Console) -> int:
    result = _tracker(ns).reopen(ns.feature, ns.seq, ns.reason)
    return _moved(console, ns, result, f"✓ Reopened {_where(ns, result)}: pending")


if TYPE_CHECKING:
    Command = Tuple[Callable[..., int], str, Callable[[argparse.ArgumentParser], None]]
COMMANDS: Dict[str, Command] = {
    "status": (
        _status,
        "progress and subtasks of a feature (or every feature)",
        _add_optional_feature,
    ),
    "next": (
        _next,
        "subtasks ready to start (pending, dependencies completed)",
        _add_optional_feature,
    ),
    "parallel": (_parallel, "ready subtasks marked parallel: true", _add_optional_feature),
    "deps": (_deps, "the dependency tree of a subtask (shared parts shown once)", _add_seq),
    "blocked": (_blocked, "subtasks that cannot start, and why", _add_optional_feature),
    "batches": (
        _batches,
        "plan the unfinished subtasks in batches that can run together",
        _add_batches,
    ),
    "critical-path": (
        _critical_path,
        "the longest chain of unfinished subtasks by estimated effort, and each one's slack",
        _add_feature,
    ),
    "graph": (_graph, "the dependency graph as a Mermaid or DOT diagram", _add_graph),
    "validate": (
        _validate,
        "every problem of the task files (exit 1 on any error)",
        _add_optional_feature,
    ),
    "run": (
        _taskrun.run,
        "execute the subtasks, batch by batch, with a command per subtask",
        _taskrun.add_arguments,
    ),
    "start": (_start, "pending -> in_progress for an agent", _add_start),
    "claim": (_claim, "atomically start the next ready subtask for an agent", _add_claim),
    "complete": (_complete, "in_progress -> completed, with a summary", _add_complete),
    "block": (_block, "pending or in_progress -> blocked, with a reason", _add_reason),
    "unblock": (_unblock, "blocked -> pending", _add_seq),
    "reopen": (_reopen, "completed -> pending, with a reason", _add_reason),
}
"""Every ``stageflow task`` command: handler, help, arguments."""
