"""The subtask lifecycle, enforced: pure decisions on ``subtask_{seq}.json`` documents.

Subtasks stay plain JSON dicts, exactly as read from their files. Each move takes the
subtask, what it needs to know about the feature's other subtasks, ``now`` and its
arguments, and returns a **new** dict (the input is never changed, not even nested lists)
and a :class:`TaskMove` saying what happened, or raises
:class:`~stageflow.errors.RuleViolation`. The task store calls these under its feature
lock, writes the result, and recomputes ``task.json`` with :func:`recount`.

The transition table (:data:`TRANSITIONS`)::

    pending      start   -> in_progress   every dependency completed; sets agent_id, started_at
                 block   -> blocked
    in_progress  complete -> completed    every dependency completed, or forced with a reason
                 block   -> blocked
    completed    reopen  -> pending       with a reason
    blocked      unblock -> pending

Anything else is refused, with the allowed moves from the current status named in the
error's message and in the recommendation of its ``task-transition`` finding.

Fields written, besides ``status`` (keys the move does not touch keep their value and their
place; new keys are appended):

- ``start``: ``agent_id`` and ``started_at``.
- ``attempt`` (the executor's dispatch, see :func:`attempt`): as ``start``, or nothing but
  the count when the same agent retries; both add one to ``attempts``.
- ``complete``: ``completed_at`` and ``completion_summary``; a forced completion also
  ``forced_completion = {"reason", "at", "unmet_dependencies": [{"seq", "status"}, ...]}``
  (``status`` is ``null`` for a dependency the feature does not have, or one without a
  status). A completion that forced nothing removes a stale ``forced_completion``.
- ``block``: ``blocked_reason`` and ``blocked_at``.
- ``unblock``: removes ``blocked_reason`` and ``blocked_at``; clears ``agent_id`` and
  ``started_at``, because a pending subtask is one nobody works on (``claim`` may hand it to
  anyone).
- ``reopen``: clears ``completed_at``, ``completion_summary``, ``agent_id`` and ``started_at``,
  removes ``forced_completion``, and sets ``reopen_reason`` and ``reopened_at``.

"Clears" means a base field of the public format is set to ``null`` when it is present (the
public templates carry these keys as ``null``, and the strict public validator requires
them), and stays absent when it is absent. The fields stageflow adds (``blocked_*``,
``forced_completion``) are removed once they no longer describe the subtask;
``reopen_reason``/``reopened_at`` stay, as the last reopening. Every value a move clears or
removes is kept in :attr:`TaskMove.cleared`, for the history.

Choices where the public tool and the issue are silent:

- ``complete`` needs a summary that is not blank: the summary is the completion's only
  account of the work. Reasons (``block``, ``reopen``, a forced ``complete``) must not be
  blank either. Surrounding whitespace is removed; what remains may be at most
  :data:`MAX_TEXT` (200) characters, counted as the JSON Schema ``maxLength`` counts them
  (code points).
- ``force`` overrides the dependency rule only, never the transition table: a pending
  subtask is started before it is completed. ``force`` needs a reason even when every
  dependency is completed; such a completion forced nothing and records no
  ``forced_completion``.
- ``block`` from ``completed`` is refused: blocking would silently undo a completion (and
  ``completed_count``). Reopen it first, with a reason. ``block`` from ``blocked`` is refused
  too: the subtask is already blocked; unblock and block again to change the reason.
- ``reopen`` does not look at dependents: a completed subtask that depends on a reopened one
  stays completed (its completion was valid when it happened). Callers that want to warn
  about them find them in the other subtasks' ``depends_on``.
- Dependencies match seqs exactly (``"2"`` is not ``"02"``); a dependency the feature does
  not have is never completed.

Finding codes: ``task-transition``, ``task-dependency-unmet``, ``task-dependency-missing``,
``task-dependency-self``, ``task-agent-missing``, ``task-summary-missing``,
``task-summary-too-long``, ``task-reason-missing``, ``task-reason-too-long`` and
``task-force-needs-reason``. Every problem is reported at once (dependency findings only
when the move itself is allowed from the current status).

A subtask that is not a JSON object, has no ``status``, an unknown status, or a
``depends_on`` that is not a list of strings raises :class:`~stageflow.errors.StateFileError`;
an argument of the wrong type (``now`` not a timezone-aware datetime, ``statuses`` not a
mapping) raises :class:`~stageflow.errors.UsageError`. :func:`claimable`,
:func:`status_map` and :func:`recount` read whole features and are tolerant instead: a
malformed subtask is simply neither ready nor completed, so one bad file never stops the
others.

The module imports nothing heavy: the findings (attrs) and the timestamp formatter are
imported only when a move needs them, so read-only commands can use the table and
:func:`claimable` for free.
"""

from __future__ import annotations

import collections.abc
import types

from ._minischema import json_type_phrase
from ._names import seq_key
from .errors import RuleViolation, StateFileError, UsageError

# typing is imported only by type checkers: this module may be on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

    from .findings import Finding

    # (code, message, pointer, recommendation): a finding not yet built.
    _Problem = Tuple[str, str, Optional[str], Optional[str]]

__all__ = [
    "BLOCKED",
    "COMPLETED",
    "IN_PROGRESS",
    "MAX_TEXT",
    "MOVES",
    "PENDING",
    "STATUSES",
    "TRANSITIONS",
    "TaskMove",
    "allowed_moves",
    "allowed_moves_text",
    "attempt",
    "attempts_of",
    "block",
    "claimable",
    "complete",
    "recount",
    "ready_seqs",
    "reopen",
    "start",
    "status_map",
    "unblock",
]

PENDING = "pending"
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
BLOCKED = "blocked"

#: Every subtask status, in lifecycle order.
STATUSES: Tuple[str, ...] = (PENDING, IN_PROGRESS, COMPLETED, BLOCKED)

#: Every move, in the order the CLI lists them.
MOVES: Tuple[str, ...] = ("start", "complete", "block", "unblock", "reopen")

#: status -> {move: status after the move}; read-only. Moves not listed are refused.
TRANSITIONS: Mapping[str, Mapping[str, str]] = types.MappingProxyType(
    {
        PENDING: types.MappingProxyType({"start": IN_PROGRESS, "block": BLOCKED}),
        IN_PROGRESS: types.MappingProxyType({"complete": COMPLETED, "block": BLOCKED}),
        COMPLETED: types.MappingProxyType({"reopen": PENDING}),
        BLOCKED: types.MappingProxyType({"unblock": PENDING}),
    }
)

#: The most characters a summary or a reason may have.
MAX_TEXT = 200


def allowed_moves(status: str) -> Tuple[str, ...]:
    """The moves allowed from ``status``, in :data:`MOVES` order (empty for an unknown one)."""
    moves = TRANSITIONS.get(status, {})
    return tuple(m for m in MOVES if m in moves)


def allowed_moves_text(status: str) -> str:
    """``"allowed moves from pending: start, block"``, for messages and the CLI."""
    return f"allowed moves from {status}: {', '.join(allowed_moves(status)) or 'none'}"


class TaskMove:
    """What one accepted move did, for the history and JSON output. Read-only.

    ``at`` is the formatted timestamp of the move. ``agent`` is set by ``start``; ``summary``
    by ``complete``; ``reason`` by ``block``, ``reopen`` and a forced ``complete``.
    ``forced`` is true when ``complete`` overrode unmet dependencies, which
    ``unmet_dependencies`` lists as ``(seq, status)`` pairs (``status`` is ``None`` for a
    dependency the feature does not have, or one without a status). ``cleared`` holds every
    value the move cleared or removed, by field name.
    """

    __slots__ = (
        "agent",
        "at",
        "cleared",
        "forced",
        "operation",
        "reason",
        "seq",
        "status_after",
        "status_before",
        "summary",
        "unmet_dependencies",
    )

    operation: str
    seq: Optional[str]
    status_before: str
    status_after: str
    at: str
    agent: Optional[str]
    summary: Optional[str]
    reason: Optional[str]
    forced: bool
    unmet_dependencies: Tuple[Tuple[str, Any], ...]
    cleared: Mapping[str, Any]

    def __init__(
        self,
        operation: str,
        seq: Optional[str],
        status_before: str,
        status_after: str,
        at: str,
        *,
        agent: Optional[str] = None,
        summary: Optional[str] = None,
        reason: Optional[str] = None,
        forced: bool = False,
        unmet_dependencies: Iterable[Tuple[str, Any]] = (),
        cleared: Optional[Mapping[str, Any]] = None,
    ) -> None:
        values = {
            "operation": operation,
            "seq": seq,
            "status_before": status_before,
            "status_after": status_after,
            "at": at,
            "agent": agent,
            "summary": summary,
            "reason": reason,
            "forced": forced,
            "unmet_dependencies": tuple(unmet_dependencies),
            "cleared": types.MappingProxyType(dict(cleared or {})),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TaskMove is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"TaskMove is read-only: cannot delete {name!r}")

    _FIELDS = (
        "operation",
        "seq",
        "status_before",
        "status_after",
        "at",
        "agent",
        "summary",
        "reason",
        "forced",
        "unmet_dependencies",
        "cleared",
    )

    def __reduce__(self) -> Tuple[Any, ...]:
        kwargs = {name: getattr(self, name) for name in self._FIELDS}
        kwargs["cleared"] = dict(self.cleared)
        return (_rebuild_move, (kwargs,))

    def _key(self) -> Tuple[Any, ...]:
        return tuple(
            dict(self.cleared) if name == "cleared" else getattr(self, name)
            for name in self._FIELDS
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskMove):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"TaskMove({fields})"

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict (``unmet_dependencies`` as ``[{"seq", "status"}]``)."""
        return {
            "operation": self.operation,
            "seq": self.seq,
            "status_before": self.status_before,
            "status_after": self.status_after,
            "at": self.at,
            "agent": self.agent,
            "summary": self.summary,
            "reason": self.reason,
            "forced": self.forced,
            "unmet_dependencies": _unmet_list(self.unmet_dependencies),
            "cleared": _copy(dict(self.cleared)),
        }


def _rebuild_move(kwargs: Dict[str, Any]) -> TaskMove:
    return TaskMove(**kwargs)


# -- moves --------------------------------------------------------------------------------


def start(
    subtask: Mapping[str, Any], statuses: Mapping[str, Any], agent: str, now: datetime
) -> Tuple[Dict[str, Any], TaskMove]:
    """pending -> in_progress for ``agent``: sets ``agent_id`` and ``started_at``.

    ``statuses`` maps the seqs of the feature's subtasks to their statuses
    (:func:`status_map`). Refused unless every dependency is completed (one finding per
    dependency that is not, missing ones included) and ``agent`` is not blank.
    """
    status, label, seq = _checked(subtask)
    at = _timestamp(now)
    dependencies = _dependencies(subtask, label)
    _check_statuses(statuses)
    problems = _transition_problems("start", subtask, status, label)
    if not problems:
        unmet = _unmet(dependencies, statuses, seq, status)
        problems += _dependency_problems("start", label, seq, unmet, dependencies, statuses)
    agent_id, agent_problems = _text(
        agent, "agent id", "task-agent", f"starting subtask {label} needs an agent id", limit=False
    )
    problems += agent_problems
    _refuse_if("start", label, seq, status, problems)
    new = _copy_object(subtask)
    new["status"] = IN_PROGRESS
    new["agent_id"] = agent_id
    new["started_at"] = at
    return new, TaskMove("start", seq, status, IN_PROGRESS, at, agent=agent_id)


def attempt(
    subtask: Mapping[str, Any], statuses: Mapping[str, Any], agent: str, now: datetime
) -> Tuple[Dict[str, Any], TaskMove]:
    """The executor's dispatch of one attempt of a subtask, counted in ``attempts``.

    A pending subtask is started for ``agent`` exactly as :func:`start` does (operation
    ``"start"``). A subtask already in progress *for the same agent* stays in progress
    (operation ``"retry"``): the agent tries it again after a failed attempt, or resumes it
    after the process that ran it died. Either way ``attempts`` -- how many attempts were
    ever dispatched -- goes up by one, so ``(feature, seq, attempts)`` never repeats: the
    worker's idempotency key. A subtask in progress for another agent is refused, like any
    move the transition table does not allow.
    """
    status, label, seq = _checked(subtask)
    if status != IN_PROGRESS:
        new, move = start(subtask, statuses, agent, now)
    else:
        at = _timestamp(now)
        holder = subtask.get("agent_id")
        agent_id, problems = _text(
            agent, "agent id", "task-agent", f"retrying subtask {label} needs an agent id", False
        )
        if agent_id is not None and holder != agent_id:
            problems.append(
                (
                    "task-transition",
                    f"subtask {label} is in progress for {holder!r}, not {agent_id!r}",
                    "/agent_id",
                    f"let {holder!r} finish it, or block and unblock it to hand it over",
                )
            )
        _refuse_if("retry", label, seq, status, problems)
        new = _copy_object(subtask)
        move = TaskMove("retry", seq, IN_PROGRESS, IN_PROGRESS, at, agent=agent_id)
    new["attempts"] = attempts_of(subtask) + 1
    return new, move


def attempts_of(subtask: Mapping[str, Any]) -> int:
    """The subtask's ``attempts`` count: 0 when absent or not a whole number >= 0."""
    count = subtask.get("attempts")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    return 0


def complete(
    subtask: Mapping[str, Any],
    statuses: Mapping[str, Any],
    summary: str,
    now: datetime,
    force: bool = False,
    reason: Optional[str] = None,
) -> Tuple[Dict[str, Any], TaskMove]:
    """in_progress -> completed: sets ``completed_at`` and ``completion_summary``.

    The summary must not be blank and has at most :data:`MAX_TEXT` characters. Refused
    while a dependency is not completed, unless ``force`` is true: then ``reason`` must not
    be blank, and the overridden dependencies are recorded in ``forced_completion``.
    ``reason`` is read only with ``force``.
    """
    status, label, seq = _checked(subtask)
    at = _timestamp(now)
    dependencies = _dependencies(subtask, label)
    _check_statuses(statuses)
    if not isinstance(force, bool):
        raise UsageError(f"force must be a bool, not {type(force).__name__}")
    problems = _transition_problems("complete", subtask, status, label)
    unmet = _unmet(dependencies, statuses, seq, status)
    if not problems and not force:
        problems += _dependency_problems("complete", label, seq, unmet, dependencies, statuses)
    summary_text, summary_problems = _text(
        summary, "summary", "task-summary", f"completing subtask {label} needs a summary"
    )
    problems += summary_problems
    reason_text: Optional[str] = None
    if force:
        reason_text, reason_problems = _text(
            reason, "reason", "task-reason", f"forcing subtask {label} complete needs a reason"
        )
        for code, message, pointer, advice in reason_problems:
            if code == "task-reason-missing":
                code, advice = "task-force-needs-reason", "say why the dependencies may be ignored"
            problems.append((code, message, pointer, advice))
    _refuse_if("complete", label, seq, status, problems)
    new = _copy_object(subtask)
    new["status"] = COMPLETED
    new["completed_at"] = at
    new["completion_summary"] = summary_text
    forced = bool(force and unmet)
    cleared: Dict[str, Any] = {}
    if forced:
        new["forced_completion"] = {
            "reason": reason_text,
            "at": at,
            "unmet_dependencies": _unmet_list(unmet),
        }
    elif "forced_completion" in new:
        cleared["forced_completion"] = new.pop("forced_completion")
    record = TaskMove(
        "complete",
        seq,
        status,
        COMPLETED,
        at,
        summary=summary_text,
        reason=reason_text if forced else None,
        forced=forced,
        unmet_dependencies=unmet if forced else (),
        cleared=cleared,
    )
    return new, record


def block(
    subtask: Mapping[str, Any], reason: str, now: datetime
) -> Tuple[Dict[str, Any], TaskMove]:
    """pending or in_progress -> blocked: sets ``blocked_reason`` and ``blocked_at``.

    The agent and start time of an in-progress subtask are kept until it is unblocked.
    """
    status, label, seq = _checked(subtask)
    at = _timestamp(now)
    problems = _transition_problems("block", subtask, status, label)
    reason_text, reason_problems = _text(
        reason, "reason", "task-reason", f"blocking subtask {label} needs a reason"
    )
    problems += reason_problems
    _refuse_if("block", label, seq, status, problems)
    new = _copy_object(subtask)
    new["status"] = BLOCKED
    new["blocked_reason"] = reason_text
    new["blocked_at"] = at
    return new, TaskMove("block", seq, status, BLOCKED, at, reason=reason_text)


def unblock(subtask: Mapping[str, Any], now: datetime) -> Tuple[Dict[str, Any], TaskMove]:
    """blocked -> pending: removes the block fields and clears ``agent_id``/``started_at``."""
    status, label, seq = _checked(subtask)
    at = _timestamp(now)
    _refuse_if(
        "unblock", label, seq, status, _transition_problems("unblock", subtask, status, label)
    )
    new = _copy_object(subtask)
    new["status"] = PENDING
    cleared: Dict[str, Any] = {}
    _remove(new, ("blocked_reason", "blocked_at"), cleared)
    _clear(new, ("agent_id", "started_at"), cleared)
    return new, TaskMove("unblock", seq, status, PENDING, at, cleared=cleared)


def reopen(
    subtask: Mapping[str, Any], reason: str, now: datetime
) -> Tuple[Dict[str, Any], TaskMove]:
    """completed -> pending, recording ``reopen_reason`` and ``reopened_at``.

    The completion (``completed_at``, ``completion_summary``, ``forced_completion``) and the
    assignment (``agent_id``, ``started_at``) are cleared: the subtask is to be done again,
    by whoever claims it.
    """
    status, label, seq = _checked(subtask)
    at = _timestamp(now)
    problems = _transition_problems("reopen", subtask, status, label)
    reason_text, reason_problems = _text(
        reason, "reason", "task-reason", f"reopening subtask {label} needs a reason"
    )
    problems += reason_problems
    _refuse_if("reopen", label, seq, status, problems)
    new = _copy_object(subtask)
    new["status"] = PENDING
    cleared: Dict[str, Any] = {}
    _clear(new, ("completed_at", "completion_summary", "agent_id", "started_at"), cleared)
    _remove(new, ("forced_completion",), cleared)
    new["reopen_reason"] = reason_text
    new["reopened_at"] = at
    record = TaskMove("reopen", seq, status, PENDING, at, reason=reason_text, cleared=cleared)
    return new, record


# -- whole features -----------------------------------------------------------------------


def status_map(subtasks_by_seq: Mapping[str, Any]) -> Dict[str, Any]:
    """seq -> status for every subtask (``None`` when a subtask has no status or is not an
    object): the ``statuses`` argument of :func:`start` and :func:`complete`."""
    _check_feature(subtasks_by_seq)
    return {
        seq: sub.get("status") if isinstance(sub, collections.abc.Mapping) else None
        for seq, sub in subtasks_by_seq.items()
    }


def ready_seqs(subtasks_by_seq: Mapping[str, Any]) -> Tuple[str, ...]:
    """The seqs of every ready subtask, in seq order.

    Ready means pending with every dependency completed. Seqs are taken in numeric order,
    equal values as strings (``"9"``, ``"010"``, ``"10"``, ``"117"``), then any other key.
    Tolerant: a subtask that is not an object, or whose ``depends_on`` is malformed, is not
    ready, and a dependency that is missing or malformed is not completed.
    """
    _check_feature(subtasks_by_seq)
    return tuple(
        seq
        for seq in sorted(subtasks_by_seq, key=seq_key)
        if _is_ready(subtasks_by_seq, subtasks_by_seq[seq])
    )


def claimable(subtasks_by_seq: Mapping[str, Any]) -> Optional[str]:
    """The seq of the next ready subtask (the first of :func:`ready_seqs`), or ``None``: the
    pure part of ``claim`` (the tracker then calls :func:`start` on it, under the same lock).
    """
    _check_feature(subtasks_by_seq)
    for seq in sorted(subtasks_by_seq, key=seq_key):
        if _is_ready(subtasks_by_seq, subtasks_by_seq[seq]):
            return seq
    return None


def recount(
    task_json: Mapping[str, Any], subtasks: Union[Mapping[str, Any], Iterable[Any]]
) -> Dict[str, Any]:
    """A copy of ``task_json`` with ``subtask_count`` and ``completed_count`` recomputed.

    ``subtasks`` holds every subtask of the feature (a mapping by seq, or an iterable of
    subtask dicts); each counts towards ``subtask_count``, and those whose status is
    ``completed`` towards ``completed_count``. Other keys keep their value and place.
    """
    if not isinstance(task_json, collections.abc.Mapping):
        raise StateFileError(
            "task.json", f"a task must be a JSON object, not {json_type_phrase(task_json)}"
        )
    if isinstance(subtasks, (str, bytes)) or not isinstance(subtasks, collections.abc.Iterable):
        raise UsageError(
            f"subtasks must be a mapping or an iterable of subtasks, not {type(subtasks).__name__}"
        )
    items = (
        list(subtasks.values()) if isinstance(subtasks, collections.abc.Mapping) else list(subtasks)
    )
    new = _copy_object(task_json)
    new["subtask_count"] = len(items)
    new["completed_count"] = sum(
        1
        for sub in items
        if isinstance(sub, collections.abc.Mapping) and sub.get("status") == COMPLETED
    )
    return new


# -- helpers ------------------------------------------------------------------------------


def _check_feature(subtasks_by_seq: object) -> None:
    if not isinstance(subtasks_by_seq, collections.abc.Mapping):
        raise UsageError(
            f"subtasks must be a mapping of seq to subtask, not {type(subtasks_by_seq).__name__}"
        )


def _is_ready(subtasks_by_seq: Mapping[str, Any], sub: object) -> bool:
    if not isinstance(sub, collections.abc.Mapping) or sub.get("status") != PENDING:
        return False
    dependencies = sub.get("depends_on")
    if dependencies is None:
        return True
    return isinstance(dependencies, list) and all(
        isinstance(dep, str)
        and isinstance(subtasks_by_seq.get(dep), collections.abc.Mapping)
        and subtasks_by_seq[dep].get("status") == COMPLETED
        for dep in dependencies
    )


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts keep their key order)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _copy_object(document: Mapping[str, Any]) -> Dict[str, Any]:
    """A deep copy of a JSON object as a dict, in the same key order."""
    return {key: _copy(item) for key, item in document.items()}


def _checked(subtask: object) -> Tuple[str, str, Optional[str]]:
    """The subtask's status, a label for messages and its seq; malformed ones raise."""
    if not isinstance(subtask, collections.abc.Mapping):
        raise StateFileError(
            "subtask", f"a subtask must be a JSON object, not {json_type_phrase(subtask)}"
        )
    seq = subtask.get("seq")
    seq = seq if isinstance(seq, str) and seq else None
    ident = subtask.get("id")
    label = seq or (ident if isinstance(ident, str) and ident else "?")
    where = f"subtask {label}"
    if "status" not in subtask:
        raise StateFileError(where, f"has no status (one of {', '.join(STATUSES)})")
    status = subtask["status"]
    if not isinstance(status, str) or status not in STATUSES:
        raise StateFileError(
            where, f"unknown status {status!r}: a subtask's status is one of {', '.join(STATUSES)}"
        )
    return status, label, seq


def _dependencies(subtask: Mapping[str, Any], label: str) -> Tuple[str, ...]:
    """``depends_on`` as it is (absent or null: none); malformed ones raise."""
    value = subtask.get("depends_on")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(dep, str) for dep in value):
        raise StateFileError(
            f"subtask {label}", 'depends_on must be an array of seq strings, e.g. ["01"]'
        )
    return tuple(value)


def _check_statuses(statuses: object) -> None:
    if not isinstance(statuses, collections.abc.Mapping):
        raise UsageError(
            f"statuses must be a mapping of seq to status, not {type(statuses).__name__}"
        )


def _timestamp(now: object) -> str:
    from ._time import format_timestamp

    try:
        return format_timestamp(now)  # type: ignore[arg-type]
    except (AttributeError, TypeError, ValueError):
        raise UsageError("now must be a timezone-aware datetime") from None


def _unmet(
    dependencies: Tuple[str, ...], statuses: Mapping[str, Any], seq: Optional[str], own: str
) -> Tuple[Tuple[str, Any], ...]:
    """(seq, status) of every dependency that is not completed; status ``None`` if missing."""
    unmet: List[Tuple[str, Any]] = []
    for dep in dict.fromkeys(dependencies):  # each dependency once, in order
        status = own if dep == seq else statuses.get(dep)
        if status != COMPLETED:
            unmet.append((dep, status))
    return tuple(unmet)


def _unmet_list(unmet: Iterable[Tuple[str, Any]]) -> List[Dict[str, Any]]:
    return [{"seq": dep, "status": status} for dep, status in unmet]


def _dependency_problems(
    move: str,
    label: str,
    seq: Optional[str],
    unmet: Tuple[Tuple[str, Any], ...],
    dependencies: Tuple[str, ...],
    statuses: Mapping[str, Any],
) -> List[_Problem]:
    """One problem per unmet dependency, pointing at its first entry in ``depends_on``."""
    force = " (or force the completion with a reason)" if move == "complete" else ""
    problems: List[_Problem] = []
    for dep, status in unmet:
        if dep == seq:
            code, message = "task-dependency-self", "depends on itself, so it can never be ready"
            advice = f"remove {dep!r} from depends_on"
        elif dep not in statuses:
            code, message = "task-dependency-missing", f"depends on {dep}, which does not exist"
            advice = f"fix depends_on or add subtask {dep}"
        else:
            shown = f"is {status}" if isinstance(status, str) else f"has no status ({status!r})"
            code, message = "task-dependency-unmet", f"depends on {dep}, which {shown}"
            advice = f"complete subtask {dep} first"
        pointer = f"/depends_on/{dependencies.index(dep)}"
        problems.append((code, f"subtask {label} {message}", pointer, advice + force))
    return problems


def _transition_problems(
    move: str, subtask: Mapping[str, Any], status: str, label: str
) -> List[_Problem]:
    if move in TRANSITIONS[status]:
        return []
    allowed = allowed_moves_text(status)
    sources = " or ".join(s for s in STATUSES if move in TRANSITIONS[s])
    message = f"subtask {label} is {status}: {move} is allowed only from {sources}"
    advice = allowed
    if move == "block" and status == BLOCKED:
        reason = subtask.get("blocked_reason")
        message = f"subtask {label} is already blocked" + (
            f": {reason}" if isinstance(reason, str) and reason else ""
        )
        advice = f"unblock it, then block it again to change the reason ({allowed})"
    elif move == "block" and status == COMPLETED:
        message += "; blocking would undo its completion"
        advice = f"reopen it with a reason first, then block it ({allowed})"
    elif move == "complete" and status == PENDING:
        advice = f"start it first ({allowed})"
    return [("task-transition", message, "/status", advice)]


def _text(
    value: object, what: str, code: str, missing: str, limit: bool = True
) -> Tuple[Optional[str], List[_Problem]]:
    """The stripped text of a summary, reason or agent id, or the problem with it.

    ``code`` is the finding code's stem; ``missing`` the message when the text is blank.
    """
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{what} must be a string, not {type(value).__name__}")
    text = (value or "").strip()
    if not text:
        return None, [(f"{code}-missing", missing, None, f"give a non-blank {what}")]
    if limit and len(text) > MAX_TEXT:
        return None, [
            (
                f"{code}-too-long",
                f"the {what} has {len(text)} characters; at most {MAX_TEXT} are allowed",
                None,
                f"shorten the {what} to {MAX_TEXT} characters",
            )
        ]
    return text, []


def _refuse_if(
    move: str, label: str, seq: Optional[str], status: str, problems: List[_Problem]
) -> None:
    if not problems:
        return
    from .findings import Finding  # imports attrs: only refusals pay for it

    findings: List[Finding] = [
        Finding(code, message, pointer=pointer, recommendation=advice)
        for code, message, pointer, advice in problems
    ]
    raise RuleViolation(
        f"cannot {move} subtask {label} ({allowed_moves_text(status)})",
        operation=move,
        stage=seq,
        findings=findings,
    )


def _clear(document: Dict[str, Any], keys: Iterable[str], cleared: Dict[str, Any]) -> None:
    """Set each present, non-null key to ``None``, remembering the old value."""
    for key in keys:
        if document.get(key) is not None:
            cleared[key] = document[key]
            document[key] = None


def _remove(document: Dict[str, Any], keys: Iterable[str], cleared: Dict[str, Any]) -> None:
    """Remove each present key, remembering its value."""
    for key in keys:
        if key in document:
            cleared[key] = document.pop(key)
