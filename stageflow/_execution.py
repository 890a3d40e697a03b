"""The values of an execution (re-exported by :mod:`stageflow.executor`): what a worker
receives and returns, the retry policy, progress events and the report. Pure: no I/O."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional, Tuple

import attrs

from ._schedule import COMPLETED, FAILED, SKIPPED
from .tasks import MAX_TEXT

__all__ = [
    "DEFAULT_AGENT",
    "AttemptFailed",
    "Backoff",
    "EventCallback",
    "ExecutionEvent",
    "ExecutionReport",
    "PermanentFailure",
    "TaskContext",
    "TaskOutcome",
    "TaskResult",
    "Worker",
    "as_result",
    "call_raw",
    "call_worker",
    "cut_text",
    "error_text",
]

#: The agent id the executor works as, unless told otherwise.
DEFAULT_AGENT = "stageflow-executor"


@attrs.frozen
class TaskContext:
    """What a worker receives beside the subtask: the minimum it needs.

    ``attempt`` counts every attempt ever dispatched for the subtask (the subtask's
    ``attempts`` field), across runs; ``timeout`` is the attempt's time limit in seconds
    (``None``: none).
    """

    feature: str
    seq: str
    attempt: int
    agent: str
    timeout: Optional[float] = None

    @property
    def idempotency_key(self) -> Tuple[str, str, int]:
        """``(feature, seq, attempt)``: never the same for two attempts."""
        return (self.feature, self.seq, self.attempt)


def _summary_text(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a task result needs a non-blank summary string, not {value!r}")


@attrs.frozen
class TaskResult:
    """A worker's result: the ``summary`` written to the subtask (cut to 200 characters),
    and any ``data`` for the caller (kept in the report, never stored)."""

    summary: str = attrs.field(validator=_summary_text)
    data: Any = None


class AttemptFailed(Exception):
    """Raised by a worker to fail an attempt with a message that says it all (no
    exception type is prepended to it in events, reports and the subtask's reason)."""


class PermanentFailure(AttemptFailed):
    """Raised by a worker to fail its subtask at once, without retries."""


@attrs.frozen
class Backoff:
    """The wait before retry *n* (1, 2, …): ``initial * factor ** (n - 1)``, at most
    ``maximum`` seconds."""

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0

    def delay(self, retry: int) -> float:
        """The wait in seconds before retry number ``retry``."""
        try:
            wait = self.initial * self.factor ** (retry - 1)
        except OverflowError:  # a long retry budget: factor ** n leaves the float range
            wait = self.maximum if self.initial > 0 else 0.0
        return float(min(self.maximum, wait))


@attrs.frozen
class ExecutionEvent:
    """One step of a run, for progress displays. Fields not relevant to ``kind`` are None.

    ``kind`` is ``run_started``, ``task_started`` (``attempt``; ``resumed`` when a dead
    run left it in progress), ``task_finished`` (``summary``, ``elapsed``),
    ``task_retried`` (``error``, ``delay``), ``task_failed`` (``error``), ``task_skipped``
    (``reason``), ``batch_done`` (``batch``) or ``run_finished``. ``batch`` is the plan batch
    of the task; ``done`` and ``total`` count settled and planned tasks after the step.
    """

    kind: str
    feature: str
    seq: Optional[str] = None
    batch: Optional[int] = None
    attempt: Optional[int] = None
    summary: Optional[str] = None
    error: Optional[str] = None
    reason: Optional[str] = None
    delay: Optional[float] = None
    elapsed: Optional[float] = None
    resumed: bool = False
    done: int = 0
    total: int = 0


@attrs.frozen
class TaskOutcome:
    """How one planned subtask ended: ``completed``, ``failed`` (now blocked) or ``skipped``.

    ``attempts`` counts this run's attempts; ``summary`` and ``data`` come from the result,
    ``error`` is the last attempt's error, ``reason`` why it was skipped.
    """

    seq: str
    outcome: str
    batch: int
    attempts: int = 0
    summary: Optional[str] = None
    error: Optional[str] = None
    reason: Optional[str] = None
    data: Any = None

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict (without ``data``)."""
        return {
            "seq": self.seq,
            "outcome": self.outcome,
            "batch": self.batch,
            "attempts": self.attempts,
            "summary": self.summary,
            "error": self.error,
            "reason": self.reason,
        }


@attrs.frozen
class ExecutionReport:
    """What a run did: every planned subtask's :class:`TaskOutcome` in plan order, the plan's
    batches, the subtasks completed before the run, the time it took and any warnings."""

    feature: str
    mode: str
    agent: str
    batches: Tuple[Tuple[str, ...], ...]
    outcomes: Tuple[TaskOutcome, ...]
    already_completed: Tuple[str, ...]
    elapsed: float
    warnings: Tuple[str, ...] = ()

    def _with(self, outcome: str) -> Tuple[str, ...]:
        return tuple(o.seq for o in self.outcomes if o.outcome == outcome)

    @property
    def completed(self) -> Tuple[str, ...]:
        """The subtasks this run completed."""
        return self._with(COMPLETED)

    @property
    def failed(self) -> Tuple[str, ...]:
        """The subtasks that failed for good (now blocked)."""
        return self._with(FAILED)

    @property
    def skipped(self) -> Tuple[str, ...]:
        """The subtasks not run: a dependency failed or was skipped, fail-fast, or blocked
        or in progress for another agent before the run."""
        return self._with(SKIPPED)

    @property
    def ok(self) -> bool:
        """Whether every subtask of the feature is now completed."""
        return all(o.outcome == COMPLETED for o in self.outcomes)

    def outcome(self, seq: str) -> TaskOutcome:
        """The outcome of ``seq``; ``KeyError`` if it was not planned."""
        for found in self.outcomes:
            if found.seq == seq:
                return found
        raise KeyError(seq)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "feature": self.feature,
            "mode": self.mode,
            "agent": self.agent,
            "ok": self.ok,
            "batches": [list(batch) for batch in self.batches],
            "completed": list(self.completed),
            "failed": list(self.failed),
            "skipped": list(self.skipped),
            "already_completed": list(self.already_completed),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "elapsed": round(self.elapsed, 3),
            "warnings": list(self.warnings),
        }

    def to_markdown(self) -> str:
        """The batch completion summary of the Parallel Execution stage, as Markdown."""
        lines = [f"# Execution of {self.feature}", ""]
        verdict = "every subtask completed" if self.ok else "not every subtask completed"
        lines.append(
            f"Mode `{self.mode}`, agent `{self.agent}`: {verdict} "
            f"({len(self.completed)} completed, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped, {len(self.already_completed)} completed before)."
        )
        by_seq = {o.seq: o for o in self.outcomes}
        for number, batch in enumerate(self.batches, 1):
            lines += ["", f"## Batch {number}: {', '.join(batch)}", ""]
            for seq in batch:
                found = by_seq[seq]
                detail = found.summary or found.error or found.reason or ""
                tries = f", {found.attempts} attempts" if found.attempts > 1 else ""
                lines.append(f"- {seq} {found.outcome}{tries}" + (f": {detail}" if detail else ""))
        for warning in self.warnings:
            lines.append(f"\nWarning: {warning}")
        return "\n".join(lines) + "\n"


Worker = Callable[[Dict[str, Any], TaskContext], Any]
EventCallback = Callable[[ExecutionEvent], None]


def cut_text(text: str, limit: int = MAX_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_text(exc: BaseException) -> str:
    """The error of a failed attempt: ``Type: message``, or the message of an
    :class:`AttemptFailed`."""
    message = str(exc).strip()
    if isinstance(exc, AttemptFailed) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def as_result(value: object) -> TaskResult:
    if isinstance(value, TaskResult):
        return value
    if isinstance(value, str):
        return TaskResult(value)
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()  # never awaited: say so once, without a RuntimeWarning later
        raise TypeError("the worker returned a coroutine: run it with execute_async")
    raise TypeError(
        f"the worker returned {type(value).__name__}; expected a TaskResult or a summary string"
    )


def call_worker(worker: Worker, subtask: Dict[str, Any], context: TaskContext) -> TaskResult:
    """Call ``worker`` and check its result (what the pool runs; picklable by reference).

    A worker that calls ``sys.exit`` fails its attempt instead of ending the run.
    """
    return as_result(call_raw(worker, subtask, context))


def call_raw(worker: Worker, subtask: Dict[str, Any], context: TaskContext) -> Any:
    """Call ``worker``; its ``sys.exit`` becomes a failed attempt. The value is returned as
    is (the asyncio runner awaits it first when it is awaitable)."""
    try:
        return worker(subtask, context)
    except SystemExit as exc:
        raise AttemptFailed(f"the worker called sys.exit({exc.code!r})") from None
