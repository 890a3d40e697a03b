"""The one module that imports ``transitions``.

Each workflow becomes one ``transitions`` machine, built once and cached. Its states are
*positions* of a run:

* ``<key>``          the run is active at stage ``key``;
* ``<key>#failed``   the run failed at stage ``key``;
* ``<key>#aborted``  the run was aborted at stage ``key``;
* ``<key>#awaiting_approval``  stage ``key`` (or one of its phases) waits for a person;
* ``<key>#stopped``  the run was stopped at stage ``key`` and can be resumed;
* ``#completed``     every stage is completed.

Its events are the structural moves of the engine: ``advance`` (to the next stage, or to
``#completed`` after the last), ``fail``, ``abort``, ``resume``, ``await`` (a stage that needs
approval passed its gates, or a phase waits for a person), ``approve`` (on, as
``advance``), ``release`` (a phase was approved: back to the stage) and ``reject`` (back to
the stage), ``stop`` (and ``resume`` from there), and ``rollback:<key>`` from any position
at or after ``key`` (never forward). Gates and rules are decided elsewhere; this machine
answers only "is this move possible from here, and where does it lead".

No method is bound to any object: a move triggers the event on a private, throw-away
cursor, so creating runs costs nothing here and the cache holds one machine per workflow.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Tuple

from transitions import Machine, MachineError

from .workflow import WorkflowSpec

COMPLETED = "#completed"
FAILED_SUFFIX = "#failed"
ABORTED_SUFFIX = "#aborted"
AWAITING_SUFFIX = "#awaiting_approval"
STOPPED_SUFFIX = "#stopped"

_cache: Dict[WorkflowSpec, StageMachine] = {}
_cache_lock = threading.Lock()


class IllegalMove(Exception):
    """Raised by :meth:`StageMachine.move` for a move the machine does not allow."""


class _Cursor:
    """The private model a move runs on; ``transitions`` reads and writes ``state``."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


class StageMachine:
    """A cached ``transitions`` machine over the positions of a workflow's runs."""

    def __init__(self, spec: WorkflowSpec) -> None:
        keys = spec.keys
        states: List[str] = []
        for key in keys:
            states.extend(
                (
                    key,
                    key + FAILED_SUFFIX,
                    key + ABORTED_SUFFIX,
                    key + AWAITING_SUFFIX,
                    key + STOPPED_SUFFIX,
                )
            )
        states.append(COMPLETED)
        moves: List[Dict[str, Any]] = []
        for i, key in enumerate(keys):
            following = keys[i + 1] if i + 1 < len(keys) else COMPLETED
            moves.append({"trigger": "advance", "source": key, "dest": following})
            moves.append({"trigger": "fail", "source": key, "dest": key + FAILED_SUFFIX})
            waiting = key + AWAITING_SUFFIX
            moves.append({"trigger": "await", "source": key, "dest": waiting})
            moves.append({"trigger": "approve", "source": waiting, "dest": following})
            moves.append({"trigger": "release", "source": waiting, "dest": key})
            moves.append({"trigger": "reject", "source": waiting, "dest": key})
            stopped = key + STOPPED_SUFFIX
            moves.append({"trigger": "stop", "source": key, "dest": stopped})
            moves.append(
                {
                    "trigger": "abort",
                    "source": [key, key + FAILED_SUFFIX, waiting, stopped],
                    "dest": key + ABORTED_SUFFIX,
                }
            )
            moves.append(
                {
                    "trigger": "resume",
                    "source": [key + FAILED_SUFFIX, key + ABORTED_SUFFIX, stopped],
                    "dest": key,
                }
            )
            # Rollback only ever moves back (or stays): from this stage or any later one.
            sources = [COMPLETED]
            for later in keys[i:]:
                sources.extend(
                    (
                        later,
                        later + FAILED_SUFFIX,
                        later + AWAITING_SUFFIX,
                        later + STOPPED_SUFFIX,
                    )
                )
            moves.append({"trigger": "rollback:" + key, "source": sources, "dest": key})
        self.spec = spec
        self._machine = Machine(
            model=None,
            states=states,
            transitions=moves,
            initial=keys[0],
            auto_transitions=False,
            send_event=False,
        )

    @property
    def states(self) -> Tuple[str, ...]:
        return tuple(self._machine.states)

    def can(self, position: str, trigger: str) -> bool:
        """True if ``trigger`` is a legal move from ``position``."""
        event = self._machine.events.get(trigger)
        return event is not None and bool(event.transitions.get(position))

    def move(self, position: str, trigger: str) -> str:
        """The position reached by ``trigger`` from ``position``; :class:`IllegalMove` if none."""
        event = self._machine.events.get(trigger)
        if event is None or position not in self._machine.states:
            raise IllegalMove(f"no move {trigger!r} from {position!r}")
        cursor = _Cursor(position)
        try:
            event.trigger(cursor)
        except MachineError as exc:
            raise IllegalMove(f"no move {trigger!r} from {position!r}") from exc
        return cursor.state


def machine_for(spec: WorkflowSpec) -> StageMachine:
    """The machine of ``spec``, built on first use and cached for the process's lifetime."""
    machine = _cache.get(spec)
    if machine is None:
        with _cache_lock:
            machine = _cache.get(spec)
            if machine is None:
                machine = _cache[spec] = StageMachine(spec)
    return machine


def position_of(status: str, current_stage: Optional[str]) -> str:
    """The machine position of a run with ``status`` at ``current_stage``."""
    if status == "completed" or current_stage is None:
        return COMPLETED
    if status == "failed":
        return current_stage + FAILED_SUFFIX
    if status == "aborted":
        return current_stage + ABORTED_SUFFIX
    if status == "awaiting_approval":
        return current_stage + AWAITING_SUFFIX
    if status == "stopped":
        return current_stage + STOPPED_SUFFIX
    return current_stage


def split_position(position: str) -> Tuple[str, Optional[str]]:
    """``(run status, current stage key)`` for a machine position."""
    if position == COMPLETED:
        return "completed", None
    if position.endswith(FAILED_SUFFIX):
        return "failed", position[: -len(FAILED_SUFFIX)]
    if position.endswith(ABORTED_SUFFIX):
        return "aborted", position[: -len(ABORTED_SUFFIX)]
    if position.endswith(AWAITING_SUFFIX):
        return "awaiting_approval", position[: -len(AWAITING_SUFFIX)]
    if position.endswith(STOPPED_SUFFIX):
        return "stopped", position[: -len(STOPPED_SUFFIX)]
    return "active", position
