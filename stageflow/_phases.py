"""The functional core of phases and skipped stages: rules and state changes, no I/O.

A stage with phases runs them in the order of its list. The rules:

* a phase can be started or completed only in the current stage of an active run;
* every earlier enabled phase of its stage that is not ``inline`` must be completed first;
* an ``inline`` phase is recorded, never dispatched: it is completed when a later phase of
  its stage starts or completes, or when the stage completes;
* the stage can be completed only once every enabled phase that is not ``inline`` is.

Skipped stages and phases (disabled in the workflow, or by ``init(..., skip=...)``) are
``skipped`` from the start, never started, and passed over.

:mod:`stageflow.lifecycle` calls these functions; the engine never does directly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, List, Optional, Sequence, Set, Tuple

import attrs

from .errors import UnknownPhase, UsageError, WorkflowDefinitionError
from .findings import Finding, Verdict
from .run import PhaseRecord, RunState, RunStatus, StageRecord, StageStatus
from .workflow import PhaseSpec, StageSpec, WorkflowSpec

__all__ = [
    "check_phase",
    "complete_inline",
    "effective_spec",
    "initial_stages",
    "phase_of",
    "phases_rule",
    "stage_summary",
    "with_phase",
]

DONE = (StageStatus.COMPLETED, StageStatus.SKIPPED)
"""The statuses of a stage or phase that is done with."""
_DONE = DONE
_VERBS = {
    "phase_start": "start",
    "phase_complete": "complete",
    "phase_fail": "fail",
    "review": "record a review of",
}


def _rule(name: str, findings: Iterable[Finding] = ()) -> Verdict:
    return Verdict.from_findings("rule:" + name, findings, overridable=False, kind="rule")


def effective_spec(spec: WorkflowSpec, skip: Sequence[str]) -> WorkflowSpec:
    """``spec`` with the stages and phases named in ``skip`` disabled.

    Every name must be a stage key or a phase id of ``spec``. The result passes the
    workflow's definition checks (no unreachable stage, at least one stage and one phase
    per stage left), else :class:`UsageError` lists every problem.
    """
    if isinstance(skip, (str, bytes)):
        raise UsageError("skip must be a list of stage keys or phase ids, not a single string")
    names = tuple(skip)
    if not names:
        return spec
    phase_ids = {p.id for s in spec.stages for p in s.phases}
    problems: List[str] = []
    for name in names:
        if not isinstance(name, str):
            problems.append(f"cannot skip {name!r}: not a stage key or phase id")  # type: ignore[unreachable]
        elif name in spec.keys and name in phase_ids:
            problems.append(f"cannot skip {name!r}: it is both a stage key and a phase id")
        elif name not in spec.keys and name not in phase_ids:
            choices = ", ".join(spec.keys + tuple(sorted(phase_ids)))
            problems.append(
                f"cannot skip {name!r}: workflow {spec.name!r} has no such stage or phase "
                f"(known: {choices})"
            )
    if len(set(names)) != len(names):
        problems.append("skip names a stage or phase twice")
    if problems:
        raise UsageError("; ".join(problems))
    off: Set[str] = set(names)
    stages = tuple(
        attrs.evolve(
            stage,
            enabled=stage.enabled and stage.key not in off,
            phases=tuple(
                attrs.evolve(p, enabled=p.enabled and p.id not in off) for p in stage.phases
            ),
        )
        for stage in spec.stages
    )
    try:
        return attrs.evolve(spec, stages=stages)
    except WorkflowDefinitionError as exc:
        raise UsageError(f"cannot skip {', '.join(names)}: " + "; ".join(exc.problems)) from None


def initial_stages(spec: WorkflowSpec) -> Tuple[StageRecord, ...]:
    """The stage records of a new run of ``spec`` (an :func:`effective_spec`): every stage
    ``pending`` or ``skipped``, with its phases."""
    return tuple(
        StageRecord(
            number=i,
            key=s.key,
            name=s.name,
            status=StageStatus.PENDING if s.enabled else StageStatus.SKIPPED,
            phases=tuple(_initial_phase(p, s.enabled) for p in s.phases),
        )
        for i, s in enumerate(spec.stages, start=1)
    )


def _initial_phase(phase: PhaseSpec, stage_enabled: bool) -> PhaseRecord:
    on = phase.enabled and stage_enabled
    status = StageStatus.PENDING if on else StageStatus.SKIPPED
    return PhaseRecord(id=phase.id, name=phase.name, kind=phase.kind, status=status)


def reset_stage(record: StageRecord) -> StageRecord:
    """``record`` as a new run has it (rollback): skipped stages and phases stay skipped,
    and a stage that needs approval still does."""
    return StageRecord(
        number=record.number,
        key=record.key,
        name=record.name,
        status=StageStatus.SKIPPED if record.status is StageStatus.SKIPPED else StageStatus.PENDING,
        approval=record.approval,
        phases=tuple(_reset_phase(p) for p in record.phases),
    )


def _reset_phase(phase: PhaseRecord) -> PhaseRecord:
    """``phase`` as a new run has it: skipped stays skipped; approval is kept."""
    return PhaseRecord(
        id=phase.id,
        name=phase.name,
        kind=phase.kind,
        status=StageStatus.SKIPPED if phase.status is StageStatus.SKIPPED else StageStatus.PENDING,
        approval=phase.approval,
    )


def reset_from(record: StageRecord, phase_id: str) -> StageRecord:
    """``record`` with phase ``phase_id`` and every later phase as a new run has them
    (resuming from an earlier phase)."""
    index = [p.id for p in record.phases].index(phase_id)
    return attrs.evolve(
        record,
        phases=tuple(_reset_phase(p) if i >= index else p for i, p in enumerate(record.phases)),
    )


def running_phase(record: StageRecord) -> Optional[PhaseRecord]:
    """The phase of ``record`` that is in progress, if any."""
    return next((p for p in record.phases if p.status is StageStatus.IN_PROGRESS), None)


def waiting_phase(record: StageRecord) -> Optional[PhaseRecord]:
    """The phase of ``record`` that is awaiting approval, if any."""
    return next((p for p in record.phases if p.status is StageStatus.AWAITING_APPROVAL), None)


def next_phase(record: StageRecord) -> Optional[PhaseRecord]:
    """The first phase of ``record`` that is neither done nor inline: where work goes on."""
    return next((p for p in record.phases if p.kind != "inline" and p.status not in _DONE), None)


def phase_of(spec: WorkflowSpec, phase_id: str) -> Tuple[StageSpec, PhaseSpec]:
    """The stage and the phase ``phase_id`` of ``spec``; :class:`UnknownPhase` if none."""
    for stage in spec.stages:
        for phase in stage.phases:
            if phase.id == phase_id:
                return stage, phase
    known = ", ".join(f"{p.id} ({s.key})" for s in spec.stages for p in s.phases)
    raise UnknownPhase(
        f"unknown phase {phase_id!r} in workflow {spec.name!r}; "
        + (f"phases are: {known}" if known else "it has no phases"),
        phase=str(phase_id),
        workflow=spec.name,
    )


def check_phase(
    spec: WorkflowSpec, run: RunState, operation: str, phase_id: str
) -> Tuple[Verdict, ...]:
    """Rule verdicts for ``phase_start``, ``phase_complete``, ``phase_fail`` or ``review``
    of ``phase_id`` (which must be a phase of ``spec``, see :func:`phase_of`)."""
    verb = _VERBS[operation]
    stage, spec_phase = phase_of(spec, phase_id)
    label = f"phase {phase_id} of stage {spec.number(stage.key)} ({stage.key})"
    if run.status is not RunStatus.ACTIVE:
        return (
            _rule(
                "run-status",
                [
                    Finding(
                        "run-" + run.status.value,
                        f"cannot {verb} {label}: run {run.feature!r} #{run.run} is "
                        f"{run.status.value}",
                        recommendation="roll back to an earlier stage to redo work"
                        if run.status is RunStatus.COMPLETED
                        else f"approve or reject stage {run.current_stage} first"
                        if run.status is RunStatus.AWAITING_APPROVAL
                        else "resume the run first",
                    )
                ],
            ),
        )
    record = run.stage(stage.key)
    if stage.key != run.current_stage:
        why = (
            "it is skipped in this run"
            if record.status is StageStatus.SKIPPED
            else f"the current stage is {spec.number(str(run.current_stage))} ({run.current_stage})"
        )
        return (
            _rule(
                "phase-stage",
                [
                    Finding(
                        "phase-not-current-stage",
                        f"cannot {verb} {label}: {why}",
                        recommendation=f"work on stage {run.current_stage} first",
                    )
                ],
            ),
        )
    phase = record.phase(phase_id)
    status = _status_findings(phase, verb, label, operation)
    order = [] if operation == "phase_fail" else _order_findings(record, phase_id, verb, label)
    rules = [_rule("phase-status", status), _rule("phase-order", order)]
    if operation == "review":
        rules.append(_rule("phase-kind", _kind_findings(spec_phase, label)))
    if operation == "phase_start":
        rules.append(_rule("stop-requested", _stop_findings(run, label)))
    return tuple(rules)


def _kind_findings(phase: PhaseSpec, label: str) -> List[Finding]:
    if phase.kind == "review":
        return []
    return [
        Finding(
            "phase-not-review",
            f"cannot record a review of {label}: it is a {phase.kind} phase, not a review phase",
            recommendation="complete it with phase complete",
        )
    ]


def _stop_findings(run: RunState, label: str) -> List[Finding]:
    if run.stop_request is None:
        return []
    return [
        Finding(
            "stop-requested",
            f"cannot start {label}: {run.stop_request.by} asked the run to stop at "
            "the end of the running phase",
            recommendation="let the running phase finish, or resume the run to cancel the stop",
        )
    ]


def _status_findings(phase: PhaseRecord, verb: str, label: str, operation: str) -> List[Finding]:
    allowed = {
        "phase_start": (StageStatus.PENDING, StageStatus.FAILED),
        "phase_complete": (StageStatus.PENDING, StageStatus.IN_PROGRESS, StageStatus.FAILED),
        "phase_fail": (StageStatus.PENDING, StageStatus.IN_PROGRESS),
        "review": (StageStatus.PENDING, StageStatus.IN_PROGRESS),
    }[operation]
    if phase.status in allowed:
        return []
    hint = {
        StageStatus.SKIPPED: "it is skipped in this run",
        StageStatus.COMPLETED: "it is already completed",
        StageStatus.IN_PROGRESS: "it is already in progress",
        StageStatus.PENDING: "it has not started",
        StageStatus.FAILED: "it has already failed",
        StageStatus.AWAITING_APPROVAL: "it is awaiting approval",
    }[phase.status]
    return [
        Finding(
            "phase-" + phase.status.value.replace("_", "-"),
            f"cannot {verb} {label}: {hint}",
            recommendation=None
            if phase.status is StageStatus.SKIPPED
            else "roll back the stage to redo a completed phase"
            if phase.status is StageStatus.COMPLETED
            else f"start it again first: stageflow phase start FEATURE {phase.id}"
            if phase.status is StageStatus.FAILED
            else None,
        )
    ]


def _order_findings(record: StageRecord, phase_id: str, verb: str, label: str) -> List[Finding]:
    """Every earlier enabled, non-inline phase of the stage that is not completed."""
    findings = []
    for earlier in record.phases:
        if earlier.id == phase_id:
            break
        if earlier.kind == "inline" or earlier.status in _DONE:
            continue
        findings.append(
            Finding(
                "phase-order",
                f"cannot {verb} {label}: the earlier phase {earlier.id} ({earlier.name}) is "
                f"{earlier.status.value}; phases run in their listed order",
                recommendation=f"complete phase {earlier.id} first",
            )
        )
    return findings


def phases_rule(spec: WorkflowSpec, run: RunState, key: str) -> Verdict:
    """A stage with phases completes only once each enabled, non-inline phase has."""
    record = run.stage(key)
    return _rule(
        "phases",
        [
            Finding(
                "phase-incomplete",
                f"stage {record.number} ({key}) needs phase {p.id} ({p.name}) completed; "
                f"it is {p.status.value}",
                recommendation=f"complete phase {p.id} first",
            )
            for p in record.phases
            if p.kind != "inline" and p.status not in _DONE
        ],
    )


def stage_is_done(record: StageRecord) -> bool:
    """True when every phase of a stage with phases is completed or skipped, inline phases
    aside: the stage is then completed (through its gates)."""
    return bool(record.phases) and all(
        p.status in _DONE for p in record.phases if p.kind != "inline"
    )


def with_phase(record: StageRecord, phase_id: str, **changes: Any) -> StageRecord:
    """``record`` with the phase ``phase_id`` changed."""
    return attrs.evolve(
        record,
        phases=tuple(attrs.evolve(p, **changes) if p.id == phase_id else p for p in record.phases),
    )


def complete_inline(record: StageRecord, at: datetime, before: Optional[str] = None) -> StageRecord:
    """``record`` with its pending or in-progress inline phases completed: those before the
    phase ``before``, or all of them."""
    phases = []
    reached = False
    for p in record.phases:
        reached = reached or p.id == before
        if (
            not reached
            and p.kind == "inline"
            and p.status in (StageStatus.PENDING, StageStatus.IN_PROGRESS)
        ):
            p = attrs.evolve(
                p, status=StageStatus.COMPLETED, started_at=p.started_at or at, completed_at=at
            )
        phases.append(p)
    return attrs.evolve(record, phases=tuple(phases))


def stage_summary(record: StageRecord) -> Optional[str]:
    """A completed stage's summary, from its phases' summaries (one line each)."""
    lines = [f"{p.id} {p.name}: {p.summary}" for p in record.phases if p.summary]
    return "\n".join(lines) or None
