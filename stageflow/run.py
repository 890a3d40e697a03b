"""Run state: frozen values for one run of a workflow, its stages and its history.

These values are changed only by copying (:func:`attrs.evolve`); the functions in
:mod:`stageflow.lifecycle` compute the next state from an event.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Iterable, Optional, Tuple

import attrs

from .findings import Finding, Verdict, findings_tuple
from .review import ReviewPolicy, ReviewResult

__all__ = [
    "Event",
    "Feedback",
    "Outcome",
    "Override",
    "PhaseRecord",
    "ReviewRecord",
    "RunState",
    "RunStatus",
    "StageRecord",
    "StageStatus",
    "StopRequest",
]


def _strings(items: Iterable[str]) -> Tuple[str, ...]:
    return tuple(items)


def _verdicts(items: Iterable[Verdict]) -> Tuple[Verdict, ...]:
    return tuple(items)


def _records(items: Iterable[StageRecord]) -> Tuple[StageRecord, ...]:
    return tuple(items)


def _events(items: Iterable[Event]) -> Tuple[Event, ...]:
    return tuple(items)


def _phase_records(items: Iterable[PhaseRecord]) -> Tuple[PhaseRecord, ...]:
    return tuple(items)


class RunStatus(str, enum.Enum):
    """Status of a whole run."""

    ACTIVE = "active"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"
    AWAITING_APPROVAL = "awaiting_approval"
    STOPPED = "stopped"


class StageStatus(str, enum.Enum):
    """Status of one stage (or phase) of a run.

    ``skipped``: the stage or phase is disabled in this run (by its workflow, or by
    ``init(..., skip=...)``); the run passes over it and it never starts.
    ``awaiting_approval``: the stage passed its gates and waits for a person to approve it
    (or reject it, which sends it back to ``in_progress``).
    """

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    AWAITING_APPROVAL = "awaiting_approval"


class Outcome(str, enum.Enum):
    """What became of an operation recorded in the history.

    ``applied``: it changed the state as asked. ``refused``: a rule said no and nothing but
    the history changed. ``failed``: gates failed while completing a stage, which is now
    ``failed`` with the findings.
    """

    APPLIED = "applied"
    REFUSED = "refused"
    FAILED = "failed"


@attrs.frozen
class Override:
    """A gate failure overridden with a justification (gating rule 3)."""

    actor: str
    at: datetime
    justification: str
    findings: Tuple[Finding, ...] = attrs.field(default=(), converter=findings_tuple)


@attrs.frozen
class Feedback:
    """A person's decision on a stage awaiting approval: ``decision`` is ``"approved"`` or
    ``"rejected"``; ``note`` says why (required to reject)."""

    decision: str
    by: str
    at: datetime
    note: Optional[str] = None


def _feedback(items: Iterable[Feedback]) -> Tuple[Feedback, ...]:
    return tuple(items)


@attrs.frozen
class ReviewRecord:
    """One attempt of a review phase: its number in the current round (from 1), the
    reviewer's result, the policy it was judged by, and the engine's ``decision``:
    ``passed``, ``retry`` (fix and review again), or once the retries ran out the policy's
    ``continue``, ``block`` or ``fail``."""

    attempt: int
    result: ReviewResult
    policy: ReviewPolicy
    decision: str


@attrs.frozen
class StopRequest:
    """A cooperative stop asked for while a phase was running: the run stops as soon as
    that phase ends."""

    by: str
    at: datetime
    reason: Optional[str] = None


@attrs.frozen
class Event:
    """One entry of a run's append-only history.

    Every operation, refused ones included, appends one event. Replaying the events with
    :func:`stageflow.lifecycle.replay` reproduces the run state exactly.
    """

    seq: int
    at: datetime
    actor: str
    operation: str
    outcome: Outcome
    stage: Optional[str] = None
    status_before: Optional[RunStatus] = None
    status_after: Optional[RunStatus] = None
    stage_before: Optional[str] = None
    stage_after: Optional[str] = None
    reason: Optional[str] = None
    verdicts: Tuple[Verdict, ...] = attrs.field(default=(), converter=_verdicts)
    override: Optional[Override] = None
    outputs: Tuple[str, ...] = attrs.field(default=(), converter=_strings)
    compensations: Tuple[str, ...] = attrs.field(default=(), converter=_strings)
    archive: Optional[str] = None
    archived: Tuple[str, ...] = attrs.field(default=(), converter=_strings)
    phase: Optional[str] = None
    summary: Optional[str] = None
    plan_file: Optional[str] = None
    skip: Tuple[str, ...] = attrs.field(default=(), converter=_strings)
    task: Optional[str] = None
    approvals: Tuple[str, ...] = attrs.field(default=(), converter=_strings)
    review: Optional[ReviewRecord] = None

    @property
    def findings(self) -> Tuple[Finding, ...]:
        """Every finding of every failing verdict of this event."""
        return tuple(f for v in self.verdicts if not v.passed for f in v.findings)


@attrs.frozen
class PhaseRecord:
    """The state of one phase of a stage inside a run (``id``, ``name`` and ``kind`` are
    copied from the workflow so that views need no workflow definition).

    ``approval``: the phase waits for a person once it is done. ``feedback``: its approvals
    and rejections. For a review phase, ``attempts`` counts the reviews of the current
    round (a rejection starts a new one) and ``review`` is the last one.
    """

    id: str
    name: str
    kind: str
    status: StageStatus = StageStatus.PENDING
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    failed_at: Optional[datetime] = None
    summary: Optional[str] = None
    error: Optional[str] = None
    approval: bool = False
    feedback: Tuple[Feedback, ...] = attrs.field(default=(), converter=_feedback)
    attempts: int = 0
    review: Optional[ReviewRecord] = None


@attrs.frozen
class StageRecord:
    """The state of one stage inside a run.

    ``approval``: the stage needs a person's approval once it passes its gates (declared by
    its workflow, or asked for at ``init``). ``feedback``: every approval and rejection of
    the stage, oldest first; a rollback clears it with the rest of the stage's state.
    """

    number: int
    key: str
    name: str
    status: StageStatus = StageStatus.PENDING
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    failed_at: Optional[datetime] = None
    outputs: Tuple[str, ...] = attrs.field(default=(), converter=_strings)
    findings: Tuple[Finding, ...] = attrs.field(default=(), converter=findings_tuple)
    error: Optional[str] = None
    override: Optional[Override] = None
    summary: Optional[str] = None
    phases: Tuple[PhaseRecord, ...] = attrs.field(default=(), converter=_phase_records)
    approval: bool = False
    feedback: Tuple[Feedback, ...] = attrs.field(default=(), converter=_feedback)

    def phase(self, phase_id: str) -> PhaseRecord:
        """The record of this stage's phase ``phase_id``."""
        for record in self.phases:
            if record.id == phase_id:
                return record
        raise KeyError(phase_id)


@attrs.frozen
class RunState:
    """One run of a workflow for one feature.

    ``current_stage`` is the key of the stage the run is at (``None`` once completed).
    ``run`` numbers the runs of a feature from 1; earlier runs stay readable.
    ``plan_file`` is the path a phase recorded as the run's plan (phase 1.2 of the
    ``plan-implement-test-final`` workflow), for every later stage to read. ``task`` is the
    task description the run was started with, if any.

    ``stop_request`` is a cooperative stop waiting for the running phase to end;
    ``stopped_at`` is when the run was last ``stopped`` (kept after it resumes).
    """

    feature: str
    run: int
    workflow: str
    status: RunStatus
    current_stage: Optional[str]
    created_at: datetime
    updated_at: datetime
    stages: Tuple[StageRecord, ...] = attrs.field(converter=_records)
    ended_at: Optional[datetime] = None
    history: Tuple[Event, ...] = attrs.field(default=(), converter=_events)
    plan_file: Optional[str] = None
    task: Optional[str] = None
    stop_request: Optional[StopRequest] = None
    stopped_at: Optional[datetime] = None

    def stage(self, key: str) -> StageRecord:
        """The record of the stage ``key``."""
        for record in self.stages:
            if record.key == key:
                return record
        raise KeyError(key)

    @property
    def is_finished(self) -> bool:
        """True for completed and aborted runs, which a new ``init`` may follow."""
        return self.status in (RunStatus.COMPLETED, RunStatus.ABORTED)
