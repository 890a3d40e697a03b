"""The cached ``transitions`` machine over run positions (stageflow._fsm)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import List, Optional, Tuple

import pytest

from stageflow import _fsm, lifecycle
from stageflow._fsm import (
    COMPLETED,
    IllegalMove,
    StageMachine,
    machine_for,
    position_of,
    split_position,
)
from stageflow.workflow import EIGHT_STAGE, StageSpec, WorkflowSpec

ABC = WorkflowSpec("abc", [StageSpec("a", "A"), StageSpec("b", "B"), StageSpec("c", "C")])
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _positions(spec: WorkflowSpec) -> List[str]:
    found = [COMPLETED]
    for key in spec.keys:
        found.extend(
            (key, key + "#failed", key + "#aborted", key + "#awaiting_approval", key + "#stopped")
        )
    return found


def _triggers(spec: WorkflowSpec) -> List[str]:
    moves = ["advance", "fail", "abort", "resume", "await", "approve", "release", "reject", "stop"]
    return moves + ["rollback:" + k for k in spec.keys]


# -- caching -------------------------------------------------------------------------------


def test_the_machine_of_a_workflow_is_built_once_and_reused() -> None:
    first = machine_for(ABC)
    assert machine_for(ABC) is first
    # An equal definition is the same workflow: it shares the machine.
    again = WorkflowSpec("abc", [StageSpec("a", "A"), StageSpec("b", "B"), StageSpec("c", "C")])
    assert machine_for(again) is first
    assert machine_for(EIGHT_STAGE) is not first
    assert machine_for(EIGHT_STAGE).spec == EIGHT_STAGE


def test_creating_and_driving_runs_never_rebuilds_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine_for(ABC)

    def rebuilt(self: StageMachine, spec: WorkflowSpec) -> None:
        raise AssertionError("the machine was built again")

    monkeypatch.setattr(_fsm.StageMachine, "__init__", rebuilt)
    for number in range(1, 201):
        run = lifecycle.new_run(ABC, "feat", number, T0, "t")
        for key in ABC.keys:
            event = lifecycle.decide_complete(
                lifecycle.check_complete(ABC, run, key), (), stage=key, now=T0, actor="t"
            )
            run = lifecycle.apply(ABC, run, event)
        assert run.current_stage is None


def test_states_are_five_positions_per_stage_plus_completed() -> None:
    machine = machine_for(ABC)
    assert sorted(machine.states) == sorted(_positions(ABC))
    assert len(machine_for(EIGHT_STAGE).states) == 8 * 5 + 1


def test_no_method_is_injected_into_the_workflow_or_its_stages() -> None:
    machine = machine_for(ABC)
    machine.move("a", "advance")
    for obj in (ABC, *ABC.stages):
        for name in ("advance", "fail", "abort", "resume", "trigger", "state", "is_a", "to_a"):
            assert not hasattr(obj, name), (obj, name)


# -- moves ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "trigger", "expected"),
    [
        ("a", "advance", "b"),
        ("b", "advance", "c"),
        ("c", "advance", COMPLETED),
        ("a", "fail", "a#failed"),
        ("c", "fail", "c#failed"),
        ("b", "abort", "b#aborted"),
        ("b#failed", "abort", "b#aborted"),
        ("b#failed", "resume", "b"),
        ("b#aborted", "resume", "b"),
        ("c", "rollback:a", "a"),
        ("c", "rollback:c", "c"),
        ("c#failed", "rollback:b", "b"),
        ("b#failed", "rollback:b", "b"),
        (COMPLETED, "rollback:a", "a"),
        (COMPLETED, "rollback:c", "c"),
        ("b", "await", "b#awaiting_approval"),
        ("b#awaiting_approval", "approve", "c"),
        ("c#awaiting_approval", "approve", COMPLETED),
        ("b#awaiting_approval", "reject", "b"),
        ("b#awaiting_approval", "abort", "b#aborted"),
        ("b#awaiting_approval", "rollback:a", "a"),
        ("b#awaiting_approval", "rollback:b", "b"),
        ("b#awaiting_approval", "release", "b"),
        ("b", "stop", "b#stopped"),
        ("b#stopped", "resume", "b"),
        ("b#stopped", "abort", "b#aborted"),
        ("c#stopped", "rollback:a", "a"),
    ],
)
def test_legal_moves(position: str, trigger: str, expected: str) -> None:
    machine = machine_for(ABC)
    assert machine.can(position, trigger)
    assert machine.move(position, trigger) == expected


@pytest.mark.parametrize(
    ("position", "trigger"),
    [
        (COMPLETED, "advance"),
        ("a#failed", "advance"),
        ("a#aborted", "advance"),
        (COMPLETED, "fail"),
        ("a#failed", "fail"),
        ("a#aborted", "fail"),
        (COMPLETED, "abort"),
        ("a#aborted", "abort"),
        ("a", "resume"),
        (COMPLETED, "resume"),
        ("a", "rollback:b"),
        ("a", "rollback:c"),
        ("b#failed", "rollback:c"),
        ("b#aborted", "rollback:a"),
        ("a", "rollback:ghost"),
        ("a", "jump"),
        ("nowhere", "advance"),
        ("a", "approve"),
        ("a", "reject"),
        ("a", "release"),
        ("a#stopped", "stop"),
        ("a#stopped", "advance"),
        ("a#failed", "stop"),
        ("a#awaiting_approval", "stop"),
        ("a#stopped", "rollback:b"),
        ("a#awaiting_approval", "advance"),
        ("a#awaiting_approval", "fail"),
        ("a#awaiting_approval", "await"),
        ("a#awaiting_approval", "resume"),
        ("a#failed", "await"),
        ("a#awaiting_approval", "rollback:b"),
    ],
)
def test_illegal_moves(position: str, trigger: str) -> None:
    machine = machine_for(ABC)
    assert not machine.can(position, trigger)
    with pytest.raises(IllegalMove):
        machine.move(position, trigger)


def test_can_and_move_agree_on_every_position_and_trigger() -> None:
    machine = machine_for(ABC)
    order = {k: i for i, k in enumerate(ABC.keys)}
    for position in _positions(ABC):
        for trigger in _triggers(ABC):
            if machine.can(position, trigger):
                reached = machine.move(position, trigger)
                assert reached in machine.states
                if trigger.startswith("rollback:"):
                    _status, here = split_position(position)
                    was = len(ABC.keys) if here is None else order[here]
                    assert order[trigger.split(":", 1)[1]] <= was, (position, trigger)
                    assert split_position(reached)[0] == "active"
            else:
                with pytest.raises(IllegalMove):
                    machine.move(position, trigger)


def test_rollback_never_moves_forward_in_the_eight_stage_workflow() -> None:
    machine = machine_for(EIGHT_STAGE)
    keys = EIGHT_STAGE.keys
    for i, here in enumerate(keys):
        for j, target in enumerate(keys):
            assert machine.can(here, "rollback:" + target) == (j <= i)
            assert machine.can(here + "#failed", "rollback:" + target) == (j <= i)
            assert not machine.can(here + "#aborted", "rollback:" + target)


def test_advancing_through_every_stage_reaches_completed() -> None:
    machine = machine_for(EIGHT_STAGE)
    position = EIGHT_STAGE.keys[0]
    visited = [position]
    while position != COMPLETED:
        position = machine.move(position, "advance")
        visited.append(position)
    assert visited == [*EIGHT_STAGE.keys, COMPLETED]


# -- positions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "stage", "position"),
    [
        ("active", "b", "b"),
        ("failed", "b", "b#failed"),
        ("aborted", "c", "c#aborted"),
        ("awaiting_approval", "a", "a#awaiting_approval"),
        ("completed", None, COMPLETED),
    ],
)
def test_position_of_and_split_position(status: str, stage: Optional[str], position: str) -> None:
    assert position_of(status, stage) == position
    assert split_position(position) == (status, stage)


def test_every_machine_state_round_trips_through_split_and_position_of() -> None:
    for spec in (ABC, EIGHT_STAGE):
        for position in machine_for(spec).states:
            parts: Tuple[str, Optional[str]] = split_position(position)
            assert position_of(*parts) == position


def test_a_machine_with_one_stage() -> None:
    one = WorkflowSpec("one", [StageSpec("only", "Only")])
    machine = machine_for(one)
    assert machine.move("only", "advance") == COMPLETED
    assert machine.move(COMPLETED, "rollback:only") == "only"
    assert machine.move("only", "fail") == "only#failed"


def test_moves_do_not_share_state_between_calls() -> None:
    machine = machine_for(ABC)
    # The machine has no current state of its own: each move starts from the given position.
    assert machine.move("a", "advance") == "b"
    assert machine.move("a", "advance") == "b"
    assert machine.move("c", "advance") == COMPLETED
    assert machine.move("a", "advance") == "b"
