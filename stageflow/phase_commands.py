"""Running ``command`` and ``dispatch`` phases: the imperative shell around a phase whose
work is a program, or the feature's subtasks.

The engine records phases and runs nothing. :func:`run_command_phase` starts a command
phase, runs its ``command`` (an argument list, no shell) in the project root, and completes
the phase with the command's last line of output, or fails it naming the exit status and
the end of standard error (``stageflow phase run``). :func:`run_dispatch_phase` starts a
dispatch phase, runs the feature's subtasks through :func:`stageflow.executor.execute`
(fan-out over the planner's batches), and completes the phase when every subtask is
completed, or fails it naming those that are not (``stageflow task run --phase``).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Mapping, Optional, Tuple

from ._phases import phase_of
from .errors import UsageError
from .run import StageStatus
from .workers import CannotStart, CommandFailed, run_command

if TYPE_CHECKING:
    from ._execution import ExecutionReport, Worker
    from .engine import Orchestrator
    from .run import RunState
    from .tracker import TaskTracker
    from .workflow import PhaseSpec, StageSpec

__all__ = ["run_command_phase", "run_dispatch_phase"]


def run_command_phase(
    orchestrator: Orchestrator,
    feature: str,
    phase: str,
    *,
    timeout: Optional[float] = None,
    env: Optional[Mapping[str, str]] = None,
    actor: Optional[str] = None,
) -> RunState:
    """Run the ``command`` phase ``phase`` of ``feature``'s current stage to its end.

    The phase is started unless it is in progress (the usual rules apply:
    :class:`~stageflow.errors.RuleViolation` if it is not its turn). The command reads the
    stage's brief (:meth:`~stageflow.engine.Orchestrator.context`) as JSON on standard
    input; its environment adds ``env`` and ``STAGEFLOW_FEATURE``, ``STAGEFLOW_RUN``,
    ``STAGEFLOW_STAGE``, ``STAGEFLOW_PHASE``, ``STAGEFLOW_ROOT`` and, when the run has
    one, ``STAGEFLOW_PLAN_FILE``. Exit status 0 completes the phase (and the stage, if it
    was the last); anything else, a command that cannot start, or one that runs past
    ``timeout`` seconds (its process group is killed) fails the phase, its stage and the
    run, with the reason. The run state afterwards is returned either way.
    """
    if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
        raise UsageError(f"timeout must be a positive number of seconds, not {timeout!r}")
    run, stage, spec = _started(orchestrator, feature, phase, "command", actor)
    brief = orchestrator.context(feature, stage.key, config=orchestrator.config)
    variables = dict(os.environ)
    variables.update(env or {})
    variables.update(
        STAGEFLOW_FEATURE=feature,
        STAGEFLOW_RUN=str(run.run),
        STAGEFLOW_STAGE=stage.key,
        STAGEFLOW_PHASE=phase,
        STAGEFLOW_ROOT=str(orchestrator.root),
    )
    if run.plan_file:
        variables["STAGEFLOW_PLAN_FILE"] = run.plan_file
    payload = json.dumps(brief.to_dict(), ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        summary = run_command(
            spec.command, payload, cwd=str(orchestrator.root), env=variables, timeout=timeout
        )
    except (CannotStart, CommandFailed) as exc:
        return orchestrator.phase_fail(feature, phase, reason=str(exc), actor=actor)
    return orchestrator.phase_complete(feature, phase, summary=summary, actor=actor)


def run_dispatch_phase(
    orchestrator: Orchestrator,
    feature: str,
    phase: str,
    tracker: TaskTracker,
    worker: Worker,
    *,
    actor: Optional[str] = None,
    **options: Any,
) -> Tuple[RunState, ExecutionReport]:
    """Run the ``dispatch`` phase ``phase`` of ``feature``'s current stage: its subtasks.

    The phase is started unless it is in progress; then
    ``execute(tracker, feature, worker, **options)`` runs the feature's subtasks (what it
    raises, such as :class:`~stageflow.errors.ConflictError` for a feature another executor
    runs, leaves the phase in progress). When every subtask is completed the phase is
    completed, with the counts as its summary (and the stage with it, if it was the
    last); otherwise it fails, naming each subtask that failed or was skipped, and so do
    its stage and the run. Returns the run state and the execution report.
    """
    from .executor import execute

    _started(orchestrator, feature, phase, "dispatch", actor)
    report = execute(tracker, feature, worker, **options)
    planned = len(report.outcomes)
    if report.ok:
        summary = (
            f"{len(report.completed)} of {planned} subtasks completed in "
            f"{len(report.batches)} batches ({report.elapsed:.1f} s)"
        )
        if report.already_completed:
            summary += f"; {len(report.already_completed)} were completed before"
        return orchestrator.phase_complete(feature, phase, summary=summary, actor=actor), report
    left = [
        f"{o.seq} {o.outcome}" + (f" ({o.error or o.reason})" if (o.error or o.reason) else "")
        for o in report.outcomes
        if o.outcome != "completed"
    ]
    reason = f"{len(left)} of {planned} subtasks not completed: " + "; ".join(left)
    return orchestrator.phase_fail(feature, phase, reason=reason, actor=actor), report


def _started(
    orchestrator: Orchestrator, feature: str, phase: str, kind: str, actor: Optional[str]
) -> Tuple[RunState, StageSpec, PhaseSpec]:
    """The run with ``phase`` (which must be of ``kind``) in progress, started if need be."""
    run = orchestrator.status(feature)
    stage, spec = phase_of(orchestrator.workflow(run.workflow), phase)
    if spec.kind != kind:
        hint = "" if spec.kind in ("command", "dispatch") else ": start and complete it by hand"
        raise UsageError(
            f"phase {phase} ({spec.name}) is a {spec.kind} phase, not a {kind} phase{hint}"
        )
    if run.stage(stage.key).phase(phase).status is not StageStatus.IN_PROGRESS:
        run = orchestrator.phase_start(feature, phase, actor=actor)
    return run, stage, spec
