"""The functional core of the stage engine: decide, then apply.

Every operation is two pure steps:

1. ``check_<operation>`` evaluates the gating rules and returns their verdicts;
   ``decide_<operation>`` turns rule and gate verdicts into an :class:`~stageflow.run.Event`
   (applied, refused, or failed).
2. :func:`apply` computes the next :class:`~stageflow.run.RunState` from the event, moving the
   run through the workflow's state machine.

The live engine and :func:`replay` share :func:`apply`, so replaying a run's history always
reproduces its state. Nothing here does I/O or reads the clock: ``now`` and ``actor`` are
parameters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Optional, Sequence, Tuple

import attrs

from . import _phases
from ._fsm import machine_for, position_of, split_position
from .errors import UsageError
from .findings import Finding, Verdict
from .run import (
    Event,
    Feedback,
    Outcome,
    Override,
    RunState,
    RunStatus,
    StageRecord,
    StageStatus,
)
from .workflow import WorkflowSpec

__all__ = [
    "apply",
    "check_abort",
    "check_approval",
    "check_complete",
    "check_fail",
    "check_phase",
    "check_resume",
    "check_rollback",
    "decide",
    "decide_complete",
    "new_run",
    "replay",
    "rule",
    "rollback_scope",
]

_TRIGGERS = {
    "complete": "advance",
    "fail": "fail",
    "phase_fail": "fail",
    "abort": "abort",
    "resume": "resume",
    "approve": "approve",
    "reject": "reject",
}
_PHASE_MOVES = ("phase_start", "phase_complete")
check_phase = _phases.check_phase


def rule(name: str, findings: Iterable[Finding] = ()) -> Verdict:
    """The verdict of gating rule ``name``: never overridable, failed by any error finding."""
    return Verdict.from_findings("rule:" + name, findings, overridable=False, kind="rule")


def _run_status_rule(run: RunState, allowed: Sequence[RunStatus], operation: str) -> Verdict:
    if run.status in allowed:
        return rule("run-status")
    hints = {
        RunStatus.COMPLETED: "the run is completed; roll back to an earlier stage to redo work, "
        "or init a new run",
        RunStatus.ABORTED: "the run is aborted; resume it at its current stage first",
        RunStatus.FAILED: "the run failed; resume it at its current stage first",
        RunStatus.ACTIVE: "the run is active",
        RunStatus.AWAITING_APPROVAL: f"stage {run.current_stage} awaits approval; approve or "
        f"reject it first (stageflow stage approve|reject {run.feature} {run.current_stage} "
        "--by NAME)",
    }
    return rule(
        "run-status",
        [
            Finding(
                "run-" + run.status.value,
                f"cannot {operation}: run {run.feature!r} #{run.run} is {run.status.value}",
                recommendation=hints[run.status],
            )
        ],
    )


def _sequential_rule(spec: WorkflowSpec, run: RunState, key: str, operation: str) -> Verdict:
    """Rule 1: only the current stage can be completed (or failed); nothing is skipped."""
    if key == run.current_stage:
        return rule("sequential")
    current = (
        f"the current stage is {spec.number(run.current_stage)} ({run.current_stage})"
        if run.current_stage
        else "every stage is completed"
    )
    return rule(
        "sequential",
        [
            Finding(
                "not-current-stage",
                f"cannot {operation} stage {spec.number(key)} ({key}): {current}; "
                "stages run in order and none is skipped",
                recommendation=(
                    f"work on stage {run.current_stage} first" if run.current_stage else None
                ),
            )
        ],
    )


def _prerequisite_rule(spec: WorkflowSpec, run: RunState, key: str) -> Verdict:
    """Rule 2: every prerequisite of the stage is completed."""
    findings = [
        Finding(
            "prerequisite-incomplete",
            f"stage {spec.number(key)} ({key}) needs stage {spec.number(p)} ({p}) completed; "
            f"it is {run.stage(p).status.value}",
            recommendation=f"complete stage {p} first",
        )
        for p in spec.stage(key).prerequisites
        if run.stage(p).status is not StageStatus.COMPLETED
    ]
    return rule("prerequisites", findings)


def check_complete(spec: WorkflowSpec, run: RunState, key: str) -> Tuple[Verdict, ...]:
    """Rule verdicts for completing stage ``key`` (rules 1 and 2, and an active run; for a
    stage with phases, also every enabled phase that is not ``inline`` completed)."""
    verdicts: Tuple[Verdict, ...] = (
        _run_status_rule(run, (RunStatus.ACTIVE,), "complete a stage"),
        _sequential_rule(spec, run, key, "complete"),
        _prerequisite_rule(spec, run, key),
    )
    if run.stage(key).phases:
        verdicts += (_phases.phases_rule(spec, run, key),)
    return verdicts


def check_fail(spec: WorkflowSpec, run: RunState, key: str) -> Tuple[Verdict, ...]:
    """Rule verdicts for marking stage ``key`` failed."""
    return (
        _run_status_rule(run, (RunStatus.ACTIVE,), "fail a stage"),
        _sequential_rule(spec, run, key, "fail"),
    )


def rollback_scope(spec: WorkflowSpec, run: RunState, target: str) -> Tuple[StageRecord, ...]:
    """The stages a rollback to ``target`` resets that had started, last stage first.

    Their compensation hooks run in this order (gating rule 5).
    """
    start = spec.index(target)
    return tuple(
        record
        for record in reversed(run.stages[start:])
        if record.status is not StageStatus.PENDING
    )


def check_rollback(
    spec: WorkflowSpec, run: RunState, target: str, hooked_stages: Iterable[str] = ()
) -> Tuple[Verdict, ...]:
    """Rule verdicts for rolling back to ``target``.

    ``hooked_stages`` are the stage keys that have at least one compensation hook; a stage
    with ``rollback_requires_hook`` that is completed cannot be rolled back without one.
    """
    status = _run_status_rule(
        run,
        (RunStatus.ACTIVE, RunStatus.FAILED, RunStatus.COMPLETED, RunStatus.AWAITING_APPROVAL),
        "roll back",
    )
    backwards: list[Finding] = []
    position = position_of(run.status.value, run.current_stage)
    if status.passed and not machine_for(spec).can(position, "rollback:" + target):
        backwards.append(
            Finding(
                "rollback-forward",
                f"cannot roll back to stage {spec.number(target)} ({target}): it is after the "
                f"current stage {spec.number(run.current_stage or target)} ({run.current_stage}); "
                "rollback never moves forward",
                recommendation="roll back to the current stage or an earlier one",
            )
        )
    if status.passed and not backwards and run.stage(target).status is StageStatus.SKIPPED:
        backwards.append(
            Finding(
                "rollback-skipped",
                f"cannot roll back to stage {spec.number(target)} ({target}): it is skipped in "
                "this run",
                recommendation="roll back to a stage the run does not skip",
            )
        )
    hooked = set(hooked_stages)
    safety = [
        Finding(
            "rollback-needs-hook",
            f"stage {spec.number(r.key)} ({r.key}) is completed and rolling it back requires a "
            "registered deployment-rollback (compensation) hook; none is registered",
            recommendation=f"register a compensation hook for stage {r.key!r}",
        )
        for r in rollback_scope(spec, run, target)
        if r.status is StageStatus.COMPLETED
        and spec.stage(r.key).rollback_requires_hook
        and r.key not in hooked
    ]
    return (status, rule("rollback-backwards", backwards), rule("rollback-safety", safety))


def check_abort(spec: WorkflowSpec, run: RunState) -> Tuple[Verdict, ...]:
    """Rule verdicts for aborting the run."""
    return (
        _run_status_rule(
            run, (RunStatus.ACTIVE, RunStatus.FAILED, RunStatus.AWAITING_APPROVAL), "abort"
        ),
    )


def check_approval(
    spec: WorkflowSpec, run: RunState, key: str, operation: str
) -> Tuple[Verdict, ...]:
    """Rule verdicts for ``approve`` or ``reject`` of stage ``key``: the run must be
    awaiting approval of exactly that stage."""
    record = run.stage(key)
    if run.status is RunStatus.AWAITING_APPROVAL and key == run.current_stage:
        return (rule("awaiting-approval"),)
    if run.status is RunStatus.AWAITING_APPROVAL:
        hint = f"stage {run.current_stage} is the one awaiting approval"
    elif record.approval:
        hint = "it needs approval once it passes its gates: complete it first"
    else:
        hint = "it does not need approval in this run"
    label = f"stage {spec.number(key)} ({key})"
    return (
        rule(
            "awaiting-approval",
            [
                Finding(
                    "not-awaiting-approval",
                    f"cannot {operation} {label}: it is {record.status.value}, not "
                    f"awaiting approval (run {run.feature!r} #{run.run} is {run.status.value})",
                    recommendation=hint,
                )
            ],
        ),
    )


def check_resume(spec: WorkflowSpec, run: RunState, target: str) -> Tuple[Verdict, ...]:
    """Rule verdicts for resuming at ``target``: only the stage where the run stopped."""
    status = _run_status_rule(run, (RunStatus.ABORTED, RunStatus.FAILED), "resume")
    jump: list[Finding] = []
    if target != run.current_stage and run.current_stage is not None:
        here = f"{spec.number(run.current_stage)} ({run.current_stage})"
        if spec.index(target) < spec.index(run.current_stage):
            jump.append(
                Finding(
                    "resume-not-current",
                    f"cannot resume at stage {spec.number(target)} ({target}): it is completed; "
                    f"the run stopped at stage {here}",
                    recommendation=f"resume at {run.current_stage}, then roll back to {target}",
                )
            )
        else:
            jump.append(
                Finding(
                    "resume-jump",
                    f"cannot resume at stage {spec.number(target)} ({target}): the run stopped "
                    f"at stage {here} and no stage can be jumped",
                    recommendation=f"resume at {run.current_stage}",
                )
            )
    return (status, rule("sequential", jump), _prerequisite_rule(spec, run, target))


def _event(
    operation: str,
    outcome: Outcome,
    now: datetime,
    actor: str,
    stage: Optional[str],
    verdicts: Sequence[Verdict],
    **fields: object,
) -> Event:
    return Event(
        seq=0,
        at=now,
        actor=actor,
        operation=operation,
        outcome=outcome,
        stage=stage,
        verdicts=tuple(verdicts),
        **fields,  # type: ignore[arg-type]
    )


def decide(
    operation: str,
    rules: Sequence[Verdict],
    *,
    now: datetime,
    actor: str,
    stage: Optional[str] = None,
    reason: Optional[str] = None,
    **fields: object,
) -> Event:
    """The event of an operation that has no gates: applied if every rule passed."""
    outcome = Outcome.APPLIED if all(v.passed for v in rules) else Outcome.REFUSED
    return _event(operation, outcome, now, actor, stage, rules, reason=reason, **fields)


def decide_complete(
    rules: Sequence[Verdict],
    gates: Sequence[Verdict],
    *,
    stage: str,
    now: datetime,
    actor: str,
    override: bool = False,
    justification: Optional[str] = None,
    outputs: Sequence[str] = (),
) -> Event:
    """The event of completing ``stage`` given rule and gate verdicts.

    Rule failures refuse the completion. Gate failures mark the stage ``failed`` unless an
    override with a non-empty justification covers them and every failing gate is overridable
    (gating rule 3; rule 4 makes the contract gates non-overridable).
    """
    if not all(v.passed for v in rules):
        return _event("complete", Outcome.REFUSED, now, actor, stage, rules, reason=justification)
    verdicts = tuple(rules) + tuple(gates)
    failing = [v for v in gates if not v.passed]
    if not failing:
        return _event(
            "complete", Outcome.APPLIED, now, actor, stage, verdicts, outputs=tuple(outputs)
        )
    if not override:
        return _event("complete", Outcome.FAILED, now, actor, stage, verdicts)
    if not (justification or "").strip():
        refusal = rule(
            "override",
            [
                Finding(
                    "override-needs-justification",
                    "an override needs a non-empty justification",
                    recommendation="pass --reason with why the failing gates may be ignored",
                )
            ],
        )
        return _event("complete", Outcome.REFUSED, now, actor, stage, (*verdicts, refusal))
    locked = [v for v in failing if not v.overridable]
    if locked:
        refusal = rule(
            "override",
            [
                Finding(
                    "not-overridable",
                    f"gate {v.gate!r} of stage {stage!r} cannot be overridden",
                    recommendation="fix what the gate reports, then complete again",
                )
                for v in locked
            ],
        )
        return _event(
            "complete",
            Outcome.FAILED,
            now,
            actor,
            stage,
            (*verdicts, refusal),
            reason=justification,
        )
    overridden = Override(
        actor=actor,
        at=now,
        justification=(justification or "").strip(),
        findings=tuple(f for v in failing for f in v.findings),
    )
    return _event(
        "complete",
        Outcome.APPLIED,
        now,
        actor,
        stage,
        verdicts,
        override=overridden,
        reason=overridden.justification,
        outputs=tuple(outputs),
    )


def new_run(
    spec: WorkflowSpec,
    feature: str,
    number: int,
    now: datetime,
    actor: str,
    skip: Sequence[str] = (),
    task: Optional[str] = None,
    approvals: Sequence[str] = (),
) -> RunState:
    """A fresh run of ``spec`` with its first stage ``in_progress`` and one ``init`` event.

    ``task`` is the task description the run keeps (and the init event records).

    ``skip`` names stage keys and phase ids to disable in this run, on top of those the
    workflow disables (:class:`UsageError` for an unknown name, or one that would leave a
    stage unreachable); they are ``skipped`` from the start, and the init event records
    them so that :func:`replay` rebuilds the same run.

    ``approvals`` names stage keys that wait for a person's approval once their gates pass,
    on top of the stages whose workflow declares ``approval``; the init event records them.
    """
    approvals = check_approvals(spec, approvals)
    effective = _phases.effective_spec(spec, skip)
    first = next(s.key for s in effective.stages if s.enabled)
    base = RunState(
        feature=feature,
        run=number,
        workflow=spec.name,
        status=RunStatus.ACTIVE,
        current_stage=first,
        created_at=now,
        updated_at=now,
        stages=tuple(
            attrs.evolve(r, approval=True)
            if spec.stage(r.key).approval or r.key in approvals
            else r
            for r in _phases.initial_stages(effective)
        ),
        task=task,
    )
    init = _event(
        "init",
        Outcome.APPLIED,
        now,
        actor,
        first,
        (),
        skip=tuple(skip),
        task=task,
        approvals=approvals,
    )
    return apply(spec, base, init)


def check_approvals(spec: WorkflowSpec, approvals: Sequence[str]) -> Tuple[str, ...]:
    """``approvals`` as a tuple if every name is a stage key of ``spec``, named once; else
    :class:`UsageError` naming every problem."""
    if isinstance(approvals, (str, bytes)):
        raise UsageError("approvals must be a list of stage keys, not a single string")
    names = tuple(approvals)
    problems = [
        f"cannot require approval of {name!r}: workflow {spec.name!r} has no such stage "
        f"(known: {', '.join(spec.keys)})"
        for name in names
        if name not in spec.keys
    ]
    if len(set(names)) != len(names):
        problems.append("approvals name a stage twice")
    if problems:
        raise UsageError("; ".join(problems))
    return names


def _with_stage(run: RunState, key: str, **changes: Any) -> Tuple[StageRecord, ...]:
    return tuple(attrs.evolve(r, **changes) if r.key == key else r for r in run.stages)


def apply(spec: WorkflowSpec, run: RunState, event: Event) -> RunState:
    """The run state after ``event``; the event is appended to the history, numbered and
    completed with the statuses before and after."""
    at = event.at
    new = run
    if event.operation == "init" and event.outcome is Outcome.APPLIED:
        first = str(event.stage or spec.keys[0])
        new = attrs.evolve(
            run, stages=_with_stage(run, first, status=StageStatus.IN_PROGRESS, started_at=at)
        )
    elif event.operation in _PHASE_MOVES and event.outcome is Outcome.APPLIED:
        new = _apply_phase(run, event)
    elif event.outcome is Outcome.FAILED:
        assert event.stage is not None
        new = attrs.evolve(
            run,
            stages=_with_stage(
                run,
                event.stage,
                status=StageStatus.FAILED,
                failed_at=at,
                findings=event.findings,
                error=None,
            ),
        )
    elif event.outcome is Outcome.APPLIED:
        new = _apply_move(spec, run, event)
    recorded = attrs.evolve(
        event,
        seq=run.history[-1].seq + 1 if run.history else 1,  # a bounded history too
        status_before=run.status if run.history else None,
        status_after=new.status,
        stage_before=run.current_stage if run.history else None,
        stage_after=new.current_stage,
    )
    return attrs.evolve(new, updated_at=at, history=(*run.history, recorded))


def _apply_phase(run: RunState, event: Event) -> RunState:
    """Start or complete a phase: earlier inline phases of its stage are completed first."""
    assert event.stage is not None
    assert event.phase is not None
    at = event.at
    record = _phases.complete_inline(run.stage(event.stage), at, before=event.phase)
    if record.status is StageStatus.PENDING:  # the current stage after a rollback
        record = attrs.evolve(record, status=StageStatus.IN_PROGRESS, started_at=at)
    if event.operation == "phase_start":
        record = _phases.with_phase(
            record,
            event.phase,
            status=StageStatus.IN_PROGRESS,
            started_at=at,
            failed_at=None,
            error=None,
        )
    else:
        started = record.phase(event.phase).started_at
        record = _phases.with_phase(
            record,
            event.phase,
            status=StageStatus.COMPLETED,
            started_at=started or at,
            completed_at=at,
            failed_at=None,
            summary=event.summary,
            error=None,
        )
    stages = tuple(record if r.key == record.key else r for r in run.stages)
    plan_file = event.plan_file if event.plan_file is not None else run.plan_file
    return attrs.evolve(run, stages=stages, plan_file=plan_file)


def _apply_move(spec: WorkflowSpec, run: RunState, event: Event) -> RunState:
    """Apply an accepted move through the workflow's state machine."""
    assert event.stage is not None or event.operation == "abort"
    trigger = _TRIGGERS.get(event.operation) or "rollback:" + str(event.stage)
    waits = event.operation == "complete" and run.stage(str(event.stage)).approval
    if waits:
        trigger = "await"
    machine = machine_for(spec)
    position = machine.move(position_of(run.status.value, run.current_stage), trigger)
    if trigger in ("advance", "approve"):  # pass over the stages this run skips
        skipped = {r.key for r in run.stages if r.status is StageStatus.SKIPPED}
        while position in skipped:
            position = machine.move(position, "advance")
    status_text, current = split_position(position)
    status = RunStatus(status_text)
    at = event.at
    stages = run.stages
    ended_at = run.ended_at
    if event.operation == "complete":
        key = str(event.stage)
        finished = _phases.complete_inline(run.stage(key), at)
        stages = _with_stage(
            run,
            key,
            phases=finished.phases,
            summary=_phases.stage_summary(finished),
            status=StageStatus.AWAITING_APPROVAL if waits else StageStatus.COMPLETED,
            completed_at=None if waits else at,
            failed_at=None,
            outputs=event.outputs,
            findings=event.override.findings if event.override else (),
            override=event.override,
            error=None,
        )
        if not waits:
            stages, ended_at = _start_next(stages, current, at)
    elif event.operation in ("approve", "reject"):
        key = str(event.stage)
        approved = event.operation == "approve"
        given = Feedback(
            decision="approved" if approved else "rejected",
            by=event.actor,
            at=at,
            note=event.reason,
        )
        stages = _with_stage(
            run,
            key,
            status=StageStatus.COMPLETED if approved else StageStatus.IN_PROGRESS,
            completed_at=at if approved else None,
            feedback=(*run.stage(key).feedback, given),
        )
        if approved:
            stages, ended_at = _start_next(stages, current, at)
    elif event.operation == "fail":
        stages = _with_stage(
            run, str(event.stage), status=StageStatus.FAILED, failed_at=at, error=event.reason
        )
    elif event.operation == "phase_fail":
        assert event.phase is not None
        record = _phases.with_phase(
            run.stage(str(event.stage)),
            event.phase,
            status=StageStatus.FAILED,
            failed_at=at,
            error=event.reason,
        )
        failed = attrs.evolve(
            record,
            status=StageStatus.FAILED,
            failed_at=at,
            error=f"phase {event.phase} failed: {event.reason}",
        )
        stages = tuple(failed if r.key == failed.key else r for r in run.stages)
    elif event.operation == "abort":
        ended_at = at
    elif event.operation == "resume":
        # The stage continues: it keeps its start time; the failure is in the history.
        record = run.stage(str(event.stage))
        stages = _with_stage(
            run,
            record.key,
            status=StageStatus.IN_PROGRESS,
            started_at=record.started_at or at,
            failed_at=None,
            error=None,
        )
        ended_at = None
    else:  # rollback: the target and every later stage return to pending
        start = spec.index(str(event.stage))
        stages = tuple(
            _phases.reset_stage(r) if i >= start else r for i, r in enumerate(run.stages)
        )
        ended_at = None
    return attrs.evolve(run, status=status, current_stage=current, stages=stages, ended_at=ended_at)


def _start_next(
    stages: Tuple[StageRecord, ...], current: Optional[str], at: datetime
) -> Tuple[Tuple[StageRecord, ...], Optional[datetime]]:
    """``stages`` with stage ``current`` started, and the run's end time (``at`` once there
    is no current stage left)."""
    if current is None:
        return stages, at
    started = tuple(
        attrs.evolve(r, status=StageStatus.IN_PROGRESS, started_at=at) if r.key == current else r
        for r in stages
    )
    return started, None


def replay(spec: WorkflowSpec, feature: str, number: int, events: Sequence[Event]) -> RunState:
    """Rebuild a run from its history alone.

    ``replay(spec, run.feature, run.run, run.history) == run`` holds for every run the engine
    produces.
    """
    if not events or events[0].operation != "init":
        raise UsageError("cannot replay: a history starts with an init event")
    first = events[0]
    run = new_run(
        spec, feature, number, first.at, first.actor, first.skip, first.task, first.approvals
    )
    for event in events[1:]:
        run = apply(spec, run, event)
    return run
