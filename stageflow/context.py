"""Minimal stage context: exactly what the agent of one stage receives, and nothing more.

:func:`context_for` builds a :class:`StageBrief` from a run: the task summary (the run's
task description, at most :data:`TASK_SUMMARY_LIMIT` characters, cut with a visible
marker), the stage itself (key, number, name, goal), that stage's own settings from the
configuration (:meth:`stageflow.config.Config.stage`) and no other stage's, the summary of
the stage before it (the nearest earlier stage that completed), and the plan file. For a
stage with phases it adds the phase at hand and the summary of the phase completed before
it: phases hand their summaries on the same way. When a person rejected the stage (see
:meth:`stageflow.engine.Orchestrator.reject`), the brief carries that stage's own
feedback: every approval and rejection, who gave it, when and why (and the phase at
hand's own). While a review phase loops, the brief carries the blocking issues of its last
review, for the fixer. The history, other stages' outputs, findings and phases are never
part of it.

Pure: it reads values, never files.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import attrs

from ._time import format_timestamp
from .config import Config, StepSettings
from .review import ReviewIssue
from .run import Feedback, RunState, StageStatus
from .workflow import WorkflowSpec

__all__ = ["MARKER", "TASK_SUMMARY_LIMIT", "StageBrief", "context_for", "summarize"]

#: The most characters of the task description a stage receives.
TASK_SUMMARY_LIMIT = 200

#: What ends a task summary that was cut.
MARKER = " [...]"


def summarize(text: Optional[str], limit: int = TASK_SUMMARY_LIMIT) -> Optional[str]:
    """``text`` on one line, at most ``limit`` characters: cut ones end with :data:`MARKER`."""
    if text is None:
        return None
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - len(MARKER)].rstrip() + MARKER


@attrs.frozen
class StageBrief:
    """What the agent of one stage receives (see the module docstring)."""

    feature: str
    workflow: str
    stage: str
    number: int
    name: str
    goal: str
    task_summary: Optional[str]
    settings: StepSettings
    previous_stage: Optional[str]
    previous_summary: Optional[str]
    plan_file: Optional[str]
    phase: Optional[str] = None
    previous_phase_summary: Optional[str] = None
    feedback: Tuple[Feedback, ...] = ()
    review_issues: Tuple[ReviewIssue, ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict (what ``stageflow stage context --json`` prints)."""
        document = attrs.asdict(self, recurse=False)
        document["settings"] = attrs.asdict(self.settings)
        document["feedback"] = [
            {"decision": f.decision, "by": f.by, "at": format_timestamp(f.at), "note": f.note}
            for f in self.feedback
        ]
        document["review_issues"] = [
            {
                "severity": i.severity.value,
                "issue": i.issue,
                "location": i.location,
                "suggestion": i.suggestion,
            }
            for i in self.review_issues
        ]
        return document


def context_for(
    run: RunState, spec: WorkflowSpec, stage: str, config: Optional[Config] = None
) -> StageBrief:
    """The brief of ``stage`` (a key or number) of ``run``, a run of ``spec``.

    ``config`` gives the stage's settings (the defaults without one).
    """
    key = spec.stage(stage).key
    index = spec.index(key)
    definition = spec.stages[index]
    earlier = [r for r in run.stages[:index] if r.status is StageStatus.COMPLETED]
    previous = earlier[-1] if earlier else None
    settings = config.stage(key) if config is not None else StepSettings()
    phase, handed = _phase_at_hand(run, key)
    record = run.stage(key)
    at_hand = record.phase(phase) if phase is not None else None
    review = at_hand.review if at_hand is not None else None
    issues: Tuple[ReviewIssue, ...] = ()
    if review is not None and review.decision in ("retry", "block"):
        issues = review.result.blocking(review.policy.block_on)
    return StageBrief(
        feature=run.feature,
        workflow=run.workflow,
        stage=key,
        number=index + 1,
        name=definition.name,
        goal=definition.goal,
        task_summary=summarize(run.task),
        settings=settings,
        previous_stage=None if previous is None else previous.key,
        previous_summary=None if previous is None else previous.summary,
        plan_file=run.plan_file,
        phase=phase,
        previous_phase_summary=handed,
        feedback=record.feedback + (at_hand.feedback if at_hand is not None else ()),
        review_issues=issues,
    )


def _phase_at_hand(run: RunState, key: str) -> Tuple[Optional[str], Optional[str]]:
    """The first phase of stage ``key`` not yet done, and the summary of the last phase
    completed before it."""
    record = run.stage(key)
    handed: Optional[str] = None
    for phase in record.phases:
        if phase.status is StageStatus.COMPLETED:
            handed = phase.summary if phase.summary else handed
        elif phase.status is not StageStatus.SKIPPED:
            return phase.id, handed
    return None, handed
