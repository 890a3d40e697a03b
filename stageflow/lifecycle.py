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
from typing import Any, Iterable, List, Optional, Sequence, Tuple

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
    StopRequest,
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
    "check_review",
    "check_stop",
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
    "stop": "stop",
}
_PHASE_MOVES = ("phase_start", "phase_complete", "review")
_RUNNING = (RunStatus.ACTIVE, RunStatus.AWAITING_APPROVAL)
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
        RunStatus.ACTIVE: "the run is active: there is nothing to resume; go on with its "
        "current stage (or stop it first)",
        RunStatus.AWAITING_APPROVAL: f"stage {run.current_stage} awaits approval; approve or "
        f"reject it first (stageflow stage approve|reject {run.feature} {run.current_stage} "
        "--by NAME)",
        RunStatus.STOPPED: f"the run is stopped; resume it first (stageflow stage resume "
        f"{run.feature})",
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
        (
            RunStatus.ACTIVE,
            RunStatus.FAILED,
            RunStatus.COMPLETED,
            RunStatus.AWAITING_APPROVAL,
            RunStatus.STOPPED,
        ),
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
            run,
            (RunStatus.ACTIVE, RunStatus.FAILED, RunStatus.AWAITING_APPROVAL, RunStatus.STOPPED),
            "abort",
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


def check_review(spec: WorkflowSpec, run: RunState, phase_id: str) -> Tuple[Verdict, ...]:
    """Rule verdicts for recording a review of phase ``phase_id``: a ``review`` phase of
    the current stage, in its turn, not yet done."""
    return _phases.check_phase(spec, run, "review", phase_id)


def check_stop(spec: WorkflowSpec, run: RunState) -> Tuple[Verdict, ...]:
    """Rule verdicts for stopping the run: it must be active, with no stop already asked."""
    again = []
    if run.stop_request is not None:
        again.append(
            Finding(
                "stop-already-requested",
                f"cannot stop: {run.stop_request.by} already asked run {run.feature!r} "
                f"#{run.run} to stop when its running phase ends",
                recommendation="wait for the running phase to end",
            )
        )
    return (_run_status_rule(run, (RunStatus.ACTIVE,), "stop"), rule("stop-once", again))


def check_resume(
    spec: WorkflowSpec, run: RunState, target: str, from_phase: Optional[str] = None
) -> Tuple[Verdict, ...]:
    """Rule verdicts for resuming at ``target`` (and its phase ``from_phase``): only the
    stage where the run stopped, and never past a phase that is not done. An active run
    with a stop pending can be resumed too: that cancels the stop."""
    if run.status is RunStatus.ACTIVE and run.stop_request is not None:
        running = []
        if from_phase is not None:
            running.append(
                Finding(
                    "resume-phase-running",
                    f"cannot resume from phase {from_phase}: run {run.feature!r} #{run.run} "
                    "is still active (resuming now only calls off the stop)",
                    recommendation="let the running phase end, then resume from a phase",
                )
            )
        status = rule("run-status", running)
    else:
        status = _run_status_rule(
            run, (RunStatus.ABORTED, RunStatus.FAILED, RunStatus.STOPPED), "resume"
        )
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
    verdicts: Tuple[Verdict, ...] = (
        status,
        rule("sequential", jump),
        _prerequisite_rule(spec, run, target),
    )
    if from_phase is not None:
        verdicts += (rule("resume-phase", _from_phase_findings(spec, run, target, from_phase)),)
    return verdicts


def _from_phase_findings(
    spec: WorkflowSpec, run: RunState, target: str, from_phase: str
) -> List[Finding]:
    stage, _ = _phases.phase_of(spec, from_phase)
    if stage.key != target:
        return [
            Finding(
                "resume-phase-stage",
                f"cannot resume from phase {from_phase}: it belongs to stage "
                f"{spec.number(stage.key)} ({stage.key}), not to stage {spec.number(target)} "
                f"({target}) where the run is",
                recommendation=f"roll back to stage {stage.key} to redo its phases"
                if spec.index(stage.key) < spec.index(target)
                else f"resume at stage {target}",
            )
        ]
    record = run.stage(target)
    phase = record.phase(from_phase)
    if phase.status is StageStatus.SKIPPED:
        return [
            Finding(
                "resume-phase-skipped",
                f"cannot resume from phase {from_phase}: it is skipped in this run",
            )
        ]
    findings = []
    for earlier in record.phases:
        if earlier.id == from_phase:
            break
        if earlier.kind != "inline" and earlier.status not in _phases.DONE:
            findings.append(
                Finding(
                    "resume-phase-jump",
                    f"cannot resume from phase {from_phase}: the earlier phase {earlier.id} "
                    f"({earlier.name}) is {earlier.status.value}, and no phase can be jumped",
                    recommendation=f"resume from phase {earlier.id}",
                )
            )
    return findings


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
    and phase ids that wait once they are done, on top of those whose workflow declares
    ``approval``; the init event records them.
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
            _with_approvals(spec, r, approvals) for r in _phases.initial_stages(effective)
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
    """``approvals`` as a tuple if every name is a stage key or a phase id of ``spec``,
    named once; else :class:`UsageError` naming every problem."""
    if isinstance(approvals, (str, bytes)):
        raise UsageError("approvals must be a list of stage keys or phase ids, not a single string")
    names = tuple(approvals)
    phases = {p.id: p for s in spec.stages for p in s.phases}
    problems = [
        f"cannot require approval of {name!r}: workflow {spec.name!r} has no such stage or "
        f"phase (stages: {', '.join(spec.keys)})"
        for name in names
        if name not in spec.keys and name not in phases
    ]
    problems += [
        f"cannot require approval of phase {name!r}: it is an inline phase, which is "
        "recorded, never done by anyone"
        for name in names
        if name in phases and phases[name].kind == "inline"
    ]
    if len(set(names)) != len(names):
        problems.append("approvals name a stage or phase twice")
    if problems:
        raise UsageError("; ".join(problems))
    return names


def _with_approvals(
    spec: WorkflowSpec, record: StageRecord, names: Sequence[str], only_open: bool = False
) -> StageRecord:
    """``record`` with approval required where its workflow declares it or ``names`` asks
    (with ``only_open``, only of the stage and phases not done yet)."""
    wanted = set(names)
    stage_open = not only_open or record.status not in _phases.DONE
    stage_spec = spec.stage(record.key)
    phases = tuple(
        attrs.evolve(p, approval=True)
        if (p.id in wanted or _declared(stage_spec.phases, p.id))
        and (not only_open or p.status not in _phases.DONE)
        else p
        for p in record.phases
    )
    approval = record.approval or (stage_open and (stage_spec.approval or record.key in wanted))
    return attrs.evolve(record, approval=approval, phases=phases)


def _declared(phases: Sequence[Any], phase_id: str) -> bool:
    return any(p.id == phase_id and p.approval for p in phases)


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
        new = _apply_phase(spec, run, event)
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
    if new.stop_request is not None and new.status not in _RUNNING:
        new = attrs.evolve(new, stop_request=None)  # nothing runs any more: nothing to stop
    recorded = attrs.evolve(
        event,
        seq=run.history[-1].seq + 1 if run.history else 1,  # a bounded history too
        status_before=run.status if run.history else None,
        status_after=new.status,
        stage_before=run.current_stage if run.history else None,
        stage_after=new.current_stage,
    )
    return attrs.evolve(new, updated_at=at, history=(*run.history, recorded))


def _apply_phase(spec: WorkflowSpec, run: RunState, event: Event) -> RunState:
    """Start or complete a phase, or record a review of it: earlier inline phases of its
    stage are completed first. A phase that needs approval waits for it once done."""
    assert event.stage is not None
    assert event.phase is not None
    at = event.at
    record = _phases.complete_inline(run.stage(event.stage), at, before=event.phase)
    if record.status is StageStatus.PENDING:  # the current stage after a rollback
        record = attrs.evolve(record, status=StageStatus.IN_PROGRESS, started_at=at)
    phase = record.phase(event.phase)
    started = phase.started_at or at
    trigger: Optional[str] = None
    changes: dict[str, Any] = {}
    if event.review is not None:
        decision = event.review.decision
        changes = {"attempts": event.review.attempt, "review": event.review}
    else:
        decision = "start" if event.operation == "phase_start" else "passed"
    if decision == "start":  # a (re)started phase begins a new round of reviews
        changes.update(status=StageStatus.IN_PROGRESS, started_at=started, attempts=0)
        changes["failed_at"] = None
    elif decision == "retry":
        changes.update(status=StageStatus.IN_PROGRESS, started_at=started, failed_at=None)
    elif decision == "fail":
        changes.update(status=StageStatus.FAILED, started_at=started, failed_at=at)
        changes["error"] = event.reason
        record = attrs.evolve(record, status=StageStatus.FAILED, failed_at=at, error=event.reason)
        trigger = "fail"
    elif decision == "block" or phase.approval:
        changes.update(status=StageStatus.AWAITING_APPROVAL, started_at=started, failed_at=None)
        changes["summary"] = event.summary
        trigger = "await"
    else:  # passed, or continue with the issues left
        changes.update(
            status=StageStatus.COMPLETED,
            started_at=started,
            completed_at=at,
            failed_at=None,
            summary=event.summary,
        )
    if decision != "fail":
        changes["error"] = None
    record = _phases.with_phase(record, event.phase, **changes)
    stages = tuple(record if r.key == record.key else r for r in run.stages)
    plan_file = event.plan_file if event.plan_file is not None else run.plan_file
    new = attrs.evolve(run, stages=stages, plan_file=plan_file)
    if trigger is not None:
        position = machine_for(spec).move(position_of(run.status.value, run.current_stage), trigger)
        status_text, current = split_position(position)
        new = attrs.evolve(new, status=RunStatus(status_text), current_stage=current)
    return new


def _apply_move(spec: WorkflowSpec, run: RunState, event: Event) -> RunState:
    """Apply an accepted move through the workflow's state machine."""
    assert event.stage is not None or event.operation == "abort"
    if event.operation == "stop" and _phases.running_phase(run.stage(str(event.stage))):
        request = StopRequest(by=event.actor, at=event.at, reason=event.reason)
        return attrs.evolve(run, stop_request=request)  # stops when that phase ends
    if event.operation == "resume" and run.status is RunStatus.ACTIVE:  # the stop is called off
        stages = _reconfigured(spec, run.stages, event.skip, event.approvals)
        return attrs.evolve(run, stages=stages, stop_request=None)
    trigger = _TRIGGERS.get(event.operation) or "rollback:" + str(event.stage)
    waits = event.operation == "complete" and run.stage(str(event.stage)).approval
    if waits:
        trigger = "await"
    elif event.operation == "approve" and _phases.waiting_phase(run.stage(str(event.stage))):
        trigger = "release"
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
        waiting = _phases.waiting_phase(run.stage(key))
        if waiting is not None:  # the phase goes on, or is done; the stage is still at work
            changes: dict[str, Any] = {"feedback": (*waiting.feedback, given)}
            if approved:
                changes.update(status=StageStatus.COMPLETED, completed_at=at)
            else:
                changes.update(status=StageStatus.IN_PROGRESS, attempts=0)
            stages = tuple(
                _phases.with_phase(r, waiting.id, **changes) if r.key == key else r
                for r in run.stages
            )
        else:
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
    elif event.operation == "stop":
        return attrs.evolve(
            run, status=status, current_stage=current, stop_request=None, stopped_at=at
        )
    elif event.operation == "resume":
        # The stage continues: it keeps its start time; the failure is in the history.
        record = run.stage(str(event.stage))
        if event.phase is not None:
            record = _phases.reset_from(record, event.phase)
        waiting = _phases.waiting_phase(record)
        if waiting is not None:  # aborted while it waited: it is done again, and asks again
            record = _phases.with_phase(record, waiting.id, status=StageStatus.IN_PROGRESS)
        stages = tuple(
            attrs.evolve(
                record,
                status=StageStatus.IN_PROGRESS,
                started_at=record.started_at or at,
                failed_at=None,
                error=None,
            )
            if r.key == record.key
            else r
            for r in run.stages
        )
        stages = _reconfigured(spec, stages, event.skip, event.approvals)
        ended_at = None
    else:  # rollback: the target and every later stage return to pending
        start = spec.index(str(event.stage))
        stages = tuple(
            _phases.reset_stage(r) if i >= start else r for i, r in enumerate(run.stages)
        )
        ended_at = None
    return attrs.evolve(
        run,
        status=status,
        current_stage=current,
        stages=stages,
        ended_at=ended_at,
        stop_request=None if event.operation == "resume" else run.stop_request,
    )


def _reconfigured(
    spec: WorkflowSpec,
    stages: Tuple[StageRecord, ...],
    skip: Sequence[str],
    approvals: Sequence[str],
) -> Tuple[StageRecord, ...]:
    """``stages`` with the stages and phases named in ``skip`` that have not started yet
    skipped, and approval required of the open ones named in ``approvals`` (a resume that
    reloaded the config)."""
    off = set(skip)
    out = []
    for record in stages:
        if record.key in off and record.status is StageStatus.PENDING:
            record = attrs.evolve(
                record,
                status=StageStatus.SKIPPED,
                phases=tuple(attrs.evolve(p, status=StageStatus.SKIPPED) for p in record.phases),
            )
        record = attrs.evolve(
            record,
            phases=tuple(
                attrs.evolve(p, status=StageStatus.SKIPPED)
                if p.id in off and p.status is StageStatus.PENDING
                else p
                for p in record.phases
            ),
        )
        out.append(_with_approvals(spec, record, approvals, only_open=True))
    return tuple(out)


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
