"""``stageflow task run``: execute a feature's subtasks with a command per subtask.

The command runs through :class:`stageflow.workers.CommandWorker` on a thread pool of
``--workers`` threads, by the rules of :func:`stageflow.executor.execute`. Progress goes
to standard output: one line redrawn in place when it is a terminal, plain lines
otherwise, nothing with ``--json`` (which prints the report at the end). The batch summary
is written to ``.tmp/execution/{feature}/summary.md`` (the Parallel Execution stage's
output), or to ``--summary PATH``.
"""

from __future__ import annotations

import argparse

from ._args import integer_at_least, seconds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from ..executor import ExecutionReport
    from . import Console

SUMMARY_PATH = ".tmp/execution/{feature}/summary.md"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``task run``."""
    p.add_argument("feature", metavar="FEATURE")
    p.add_argument(
        "--command",
        required=True,
        metavar="CMD",
        help="the command run for each subtask (split like a shell line, run without one); "
        "it reads the subtask's JSON on stdin, exit 0 completes it",
    )
    p.add_argument("--mode", choices=("batches", "eager"), help="default: executor.mode")
    p.add_argument(
        "--workers", type=integer_at_least(1), metavar="N", help="default: executor.workers"
    )
    p.add_argument("--max-width", type=integer_at_least(1), metavar="N", help="at most N at once")
    p.add_argument("--priority", metavar="rice|wsjf|FIELD", help="order inside a generation")
    p.add_argument(
        "--retries", type=integer_at_least(0), metavar="N", help="default: executor.retries"
    )
    p.add_argument(
        "--backoff", type=seconds, metavar="S", help="first wait, doubling (executor.backoff)"
    )
    p.add_argument("--timeout", type=seconds, metavar="S", help="per attempt (executor.timeout)")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    p.add_argument("--agent", metavar="ID", help="default: stageflow-executor")
    p.add_argument("--summary", metavar="PATH", help=f"default: {SUMMARY_PATH}")
    p.add_argument("--no-summary", action="store_true", help="write no summary file")
    p.add_argument(
        "--phase",
        metavar="PHASE_ID",
        help="run as the dispatch phase PHASE_ID of the feature's run: started first, "
        "completed when every subtask is, failed otherwise",
    )


def run(ns: argparse.Namespace, console: Console) -> int:
    """Handle ``stageflow task run``: 0 when every subtask is completed, else 1."""
    import os
    import shlex

    from .._fileio import write_atomic
    from ..config import load_config
    from ..errors import UsageError
    from ..executor import DEFAULT_AGENT, Backoff, execute
    from ..progress import Progress
    from ..storage.taskfiles import check_task_feature
    from ..tracker import TaskTracker
    from ..workers import CommandWorker
    from ._task import _store

    check_task_feature(ns.feature)
    config = load_config(ns.root)
    defaults = config.data["executor"]  # the options not given come from here
    for option in ("mode", "workers", "retries", "backoff", "timeout"):
        if getattr(ns, option) is None:
            setattr(ns, option, defaults[option])
    if ns.timeout is not None and ns.timeout <= 0:
        raise UsageError(f"--timeout must be a number of seconds > 0, not {ns.timeout:g}")
    try:
        argv = shlex.split(ns.command)
    except ValueError as exc:
        raise UsageError(f"--command cannot be split: {exc}") from None
    if not argv:
        raise UsageError("--command is empty")
    worker = CommandWorker(argv, cwd=str(ns.root))
    progress = None if console.as_json else Progress(console.out)
    options = {
        "concurrency": ns.workers,
        "mode": ns.mode,
        "max_width": ns.max_width,
        "priority": ns.priority,
        "retries": ns.retries,
        "backoff": Backoff(ns.backoff),
        "timeout": ns.timeout,
        "fail_fast": ns.fail_fast,
        "agent": ns.agent or DEFAULT_AGENT,
        "on_event": progress,
    }
    tracker = TaskTracker(_store(ns))
    phase_run = None
    try:
        if ns.phase is None:
            report = execute(tracker, ns.feature, worker, **options)
        else:
            from ..errors import Refused
            from ..phase_commands import run_dispatch_phase
            from ._stage import _orchestrator, _refused

            flow = _orchestrator(ns)
            flow.config = config
            try:
                phase_run, report = run_dispatch_phase(
                    flow, ns.feature, ns.phase, tracker, worker, **options
                )
            except Refused as exc:
                return _refused(console, exc)
    finally:
        if progress is not None:
            progress.close()
    written = None
    if not ns.no_summary:
        written = ns.summary or SUMMARY_PATH.format(feature=ns.feature)
        target = written if os.path.isabs(written) else os.path.join(str(ns.root), written)
        write_atomic(target, report.to_markdown().encode("utf-8"))
    document = {**report.to_dict(), "summary_file": written}
    text = result_text(report, written)
    if phase_run is not None:
        from .._render import status_view
        from ..serde import run_to_document

        document["status"] = status_view(run_to_document(phase_run))
        last = phase_run.history[-1]
        text += f"\nPhase {ns.phase}: " + (
            f"failed; the run is failed ({last.reason})"
            if last.operation == "phase_fail"
            else "completed"
            + (f"; stage {last.stage} completed" if last.operation == "complete" else "")
        )
    console.emit(document, lambda: text)
    return 0 if report.ok else 1


def result_text(report: ExecutionReport, summary_file: Optional[str]) -> str:
    """The closing lines of a run."""
    planned = len(report.outcomes)
    lines = [
        f"Completed {len(report.completed)} of {planned} planned subtasks of "
        f"{report.feature} in {report.elapsed:.1f} s ({report.mode} mode): "
        f"{len(report.failed)} failed, {len(report.skipped)} skipped, "
        f"{len(report.already_completed)} completed before."
    ]
    for outcome in report.outcomes:
        if outcome.outcome == "failed":
            lines.append(f"  ✗ {outcome.seq} failed: {outcome.error}")
        elif outcome.outcome == "skipped":
            lines.append(f"  - {outcome.seq} skipped: {outcome.reason}")
    lines += [f"  warning: {warning}" for warning in report.warnings]
    if summary_file:
        lines.append(f"Summary: {summary_file}")
    return "\n".join(lines)
