"""Running ``command`` phases: the imperative shell around a phase whose work is a program.

The engine records phases and runs nothing; :func:`run_command_phase` starts a command
phase, runs its ``command`` (an argument list, no shell) in the project root, and completes
the phase with the command's last line of output, or fails it naming the exit status and
the end of standard error. ``stageflow phase run`` is this function on the command line.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Mapping, Optional

from ._phases import phase_of
from .errors import UsageError
from .run import StageStatus
from .workers import CannotStart, CommandFailed, run_command

if TYPE_CHECKING:
    from .engine import Orchestrator
    from .run import RunState

__all__ = ["run_command_phase"]


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
    run = orchestrator.status(feature)
    stage, spec = phase_of(orchestrator.workflow(run.workflow), phase)
    if spec.kind != "command":
        raise UsageError(
            f"phase {phase} ({spec.name}) is a {spec.kind} phase, not a command phase: "
            "start and complete it with phase start / phase complete"
        )
    if run.stage(stage.key).phase(phase).status is not StageStatus.IN_PROGRESS:
        run = orchestrator.phase_start(feature, phase, actor=actor)
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
