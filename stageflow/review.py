"""Review phases: the result a reviewer returns, the rule that passes it, the retry policy.

A ``review`` phase runs a loop: review → if the result does not pass, the fixer works on
the issues → review again, up to ``max_retries`` more times. The engine records each
attempt (:meth:`~stageflow.engine.Orchestrator.review`) and decides what follows from the
:class:`ReviewPolicy`; :func:`run_review` drives the whole loop with a reviewer and a fixer
you supply.

A result passes when it is approved, or when none of its issues is at or above the
policy's ``block_on`` severity. When the retries run out, ``on_exhausted`` says what
happens: ``continue`` (the phase completes with the issues left noted: the seed's
behaviour), ``block`` (the run waits in ``awaiting_approval`` for a person to accept the
phase, or reject it for another round of retries) or ``fail`` (the phase, its stage and the
run fail).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Mapping, Optional, Tuple

import attrs

from .errors import UsageError

if TYPE_CHECKING:
    from .config import Config
    from .engine import Orchestrator
    from .run import RunState

__all__ = [
    "EXHAUSTION_OUTCOMES",
    "ReviewIssue",
    "ReviewPolicy",
    "ReviewResult",
    "IssueSeverity",
    "decide_review",
    "parse_review",
    "review_summary",
    "run_review",
]

EXHAUSTION_OUTCOMES = ("continue", "block", "fail")
"""What a review phase does when its retries run out."""

# The words reviewers of the seed documents use for "not approved".
_CHANGES = ("changes_requested", "needs_revision", "needs_fixes", "blocked", "rejected")


class IssueSeverity(str, enum.Enum):
    """How serious a review issue is; they compare ``LOW < MEDIUM < HIGH``."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @classmethod
    def parse(cls, value: object) -> IssueSeverity:
        """A severity from its name in any case (``"high"``, ``"HIGH"``)."""
        if isinstance(value, IssueSeverity):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise UsageError(f"severity must be one of LOW, MEDIUM, HIGH, not {value!r}")


_RANKS = {IssueSeverity.LOW: 0, IssueSeverity.MEDIUM: 1, IssueSeverity.HIGH: 2}


def _severity(value: object) -> IssueSeverity:
    return IssueSeverity.parse(value)


def _optional_text(value: Optional[str]) -> Optional[str]:
    return value.strip() or None if isinstance(value, str) else value


@attrs.frozen
class ReviewIssue:
    """One issue a reviewer found: how serious, what, where (a file, ``file:line``, a
    section) and what to do about it."""

    severity: IssueSeverity = attrs.field(converter=_severity)
    issue: str
    location: Optional[str] = attrs.field(default=None, converter=_optional_text)
    suggestion: Optional[str] = attrs.field(default=None, converter=_optional_text)

    def describe(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.severity.value}{where}: {self.issue}"


def _issues(items: Iterable[ReviewIssue]) -> Tuple[ReviewIssue, ...]:
    return tuple(items)


@attrs.frozen
class ReviewResult:
    """What one review returned: ``approved`` or changes requested, the issues, a summary."""

    approved: bool
    issues: Tuple[ReviewIssue, ...] = attrs.field(default=(), converter=_issues)
    summary: Optional[str] = attrs.field(default=None, converter=_optional_text)

    def blocking(self, block_on: IssueSeverity) -> Tuple[ReviewIssue, ...]:
        """The issues at or above ``block_on``."""
        return tuple(i for i in self.issues if i.severity.rank >= block_on.rank)

    def passes(self, block_on: IssueSeverity) -> bool:
        """Approved, or no issue at or above ``block_on``."""
        return self.approved or not self.blocking(block_on)


@attrs.frozen
class ReviewPolicy:
    """How a review phase decides: the lowest severity that blocks, how many times the
    review may be repeated after a failing one, and what happens when none are left."""

    block_on: IssueSeverity = attrs.field(default=IssueSeverity.MEDIUM, converter=_severity)
    max_retries: int = 3
    on_exhausted: str = "continue"

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise UsageError(f"max_retries must be an integer, not {self.max_retries!r}")
        if self.max_retries < 0:
            raise UsageError(f"max_retries must be 0 or more, not {self.max_retries}")
        if self.on_exhausted not in EXHAUSTION_OUTCOMES:
            raise UsageError(
                f"on_exhausted must be one of {', '.join(EXHAUSTION_OUTCOMES)}, "
                f"not {self.on_exhausted!r}"
            )

    @classmethod
    def from_config(cls, config: Config, stage: str, phase: str) -> ReviewPolicy:
        """The policy of phase ``phase`` of stage ``stage``: ``review.block_on_severity``,
        and ``max_retries`` / ``on_exhausted`` of ``phases.<id>`` where set, else of
        ``stages.<key>``."""
        step = config.phase(phase)
        stage_step = config.stage(stage)
        phase_set = config.data.get("phases", {}).get(phase, {})
        return cls(
            block_on=config.data["review"]["block_on_severity"],
            max_retries=step.max_retries if "max_retries" in phase_set else stage_step.max_retries,
            on_exhausted=step.on_exhausted
            if "on_exhausted" in phase_set
            else stage_step.on_exhausted,
        )


def decide_review(result: ReviewResult, policy: ReviewPolicy, attempt: int) -> str:
    """The decision on review ``attempt`` (from 1) of a round: ``passed``, ``retry`` while
    retries are left, else the policy's ``on_exhausted``."""
    if result.passes(policy.block_on):
        return "passed"
    if attempt <= policy.max_retries:
        return "retry"
    return policy.on_exhausted


def review_summary(result: ReviewResult, policy: ReviewPolicy, attempt: int) -> str:
    """The summary a review phase completes with."""
    blocking = result.blocking(policy.block_on)
    tries = "attempt" if attempt == 1 else "attempts"
    if result.passes(policy.block_on):
        head = f"review passed after {attempt} {tries}"
    else:
        head = (
            f"review left {len(blocking)} issue{'s' if len(blocking) != 1 else ''} at or above "
            f"{policy.block_on.value} after {attempt} {tries}: "
            + "; ".join(i.describe() for i in blocking)
        )
    return f"{head}. {result.summary}" if result.summary else head


def parse_review(data: object, source: str = "review") -> ReviewResult:
    """A :class:`ReviewResult` from JSON data, as reviewers write it.

    ``{"status": "approved" | "changes_requested", "issues": [{"severity": "HIGH",
    "issue": "...", "location": "...", "suggestion": "..."}], "summary": "..."}``; the seed
    reviewers' words ``needs_revision``, ``needs_fixes`` and ``blocked`` mean changes
    requested, ``approved: true|false`` may stand for ``status``, and an issue's text may
    be under ``description``, its location under ``file`` (with ``line``). Every problem
    is reported at once in one :class:`UsageError` naming ``source``.
    """
    problems: List[str] = []
    if not isinstance(data, Mapping):
        raise UsageError(f"{source}: a review is a JSON object, not {type(data).__name__}")
    approved = _approved(data, problems)
    issues: List[ReviewIssue] = []
    raw = data.get("issues", [])
    if not isinstance(raw, list):
        problems.append("issues must be a list")
        raw = []
    for n, item in enumerate(raw):
        issue = _issue(item, f"issues[{n}]", problems)
        if issue is not None:
            issues.append(issue)
    summary = data.get("summary")
    if summary is not None and not isinstance(summary, str):
        problems.append("summary must be a string")
        summary = None
    if problems:
        raise UsageError(f"{source}: " + "; ".join(problems))
    return ReviewResult(approved=bool(approved), issues=tuple(issues), summary=summary)


def _approved(data: Mapping[str, Any], problems: List[str]) -> Optional[bool]:
    status, flag = data.get("status"), data.get("approved")
    if flag is not None and not isinstance(flag, bool):
        problems.append(f"approved must be true or false, not {flag!r}")
        flag = None
    if status is None:
        if flag is None:
            problems.append("a review needs a status ('approved' or 'changes_requested')")
        return flag
    if not isinstance(status, str) or status.lower() not in ("approved", *_CHANGES):
        problems.append(
            f"status must be 'approved' or 'changes_requested' (or {', '.join(_CHANGES[1:])}), "
            f"not {status!r}"
        )
        return None
    by_status = status.lower() == "approved"
    if flag is not None and flag != by_status:
        problems.append(f"status {status!r} contradicts approved: {str(flag).lower()}")
    return by_status


def _issue(item: object, where: str, problems: List[str]) -> Optional[ReviewIssue]:
    if not isinstance(item, Mapping):
        problems.append(f"{where} must be an object")
        return None
    text = item.get("issue", item.get("description"))
    location = item.get("location", item.get("file"))
    suggestion = item.get("suggestion")
    before = len(problems)
    try:
        severity = IssueSeverity.parse(item.get("severity"))
    except UsageError as exc:
        problems.append(f"{where}: {exc}")
    if not isinstance(text, str) or not text.strip():
        problems.append(f"{where} needs the issue's text (issue)")
    for name, value in (("location", location), ("suggestion", suggestion)):
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}.{name} must be a string")
    line = item.get("line")
    if line is not None and (isinstance(line, bool) or not isinstance(line, int)):
        problems.append(f"{where}.line must be an integer")
    if len(problems) > before:
        return None
    if line is not None and location:
        location = f"{location}:{line}"
    return ReviewIssue(severity, str(text).strip(), location, suggestion)


Reviewer = Callable[[int], ReviewResult]
"""Called with the attempt number (from 1); returns that review's result."""
Fixer = Callable[[ReviewResult], None]
"""Called with a result that did not pass, before the review is repeated."""


def run_review(
    orchestrator: Orchestrator,
    feature: str,
    phase: str,
    reviewer: Reviewer,
    fixer: Optional[Fixer] = None,
    *,
    policy: Optional[ReviewPolicy] = None,
    actor: Optional[str] = None,
) -> RunState:
    """Drive a review phase to its end: review, record, fix, repeat.

    The phase is started if it is not yet in progress. Each result of ``reviewer`` goes
    through :meth:`~stageflow.engine.Orchestrator.review`; while the engine answers
    ``retry``, ``fixer`` (if any) works on the failing result and the review repeats. The
    run state after the last recorded attempt is returned: the phase passed, completed
    with issues left (``continue``), waits for a person (``block``) or failed (``fail``).
    """
    run = orchestrator.status(feature)
    spec = orchestrator.workflow(run.workflow)
    key = next(s.key for s in spec.stages if any(p.id == phase for p in s.phases))
    if run.stage(key).phase(phase).status.value != "in_progress":
        run = orchestrator.phase_start(feature, phase, actor=actor)
    attempt = run.stage(key).phase(phase).attempts + 1  # a round may be under way
    while True:
        result = reviewer(attempt)
        run = orchestrator.review(feature, phase, result, policy=policy, actor=actor)
        # the phase keeps its last review (follow-up events may come after it in the history)
        last = run.stage(key).phase(phase).review
        if last is None or last.decision != "retry":
            return run
        if fixer is not None:
            fixer(result)
        attempt += 1
