"""The subtask lifecycle, enforced (stageflow.tasks): the transition grid, dependency rules,
forced completions, text limits, defensive input checks, readiness, recounting, and a
Hypothesis walk over random dependency graphs."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from stageflow import tasks
from stageflow.errors import RuleViolation, StageflowError, StateFileError, UsageError
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.serde import parse_timestamp
from stageflow.tasks import (
    BLOCKED,
    COMPLETED,
    IN_PROGRESS,
    MOVES,
    PENDING,
    STATUSES,
    TRANSITIONS,
    TaskMove,
)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
T0_TEXT = "2026-03-01T09:30:00Z"
SEED_SUBTASK = ORDER_MANAGEMENT / "order-management-mvp"

Doc = Dict[str, Any]


def subtask(
    seq: str = "03", status: str = PENDING, depends_on: Sequence[str] = (), **extra: Any
) -> Doc:
    doc: Doc = {
        "id": f"feat-{seq}",
        "seq": seq,
        "title": f"Subtask {seq}",
        "status": status,
        "depends_on": list(depends_on),
    }
    doc.update(extra)
    return doc


def in_state(status: str, seq: str = "03", depends_on: Sequence[str] = ("01",)) -> Doc:
    """A consistent subtask in ``status``, with the fields that status usually carries."""
    doc = subtask(seq, status, depends_on, parallel=True, x_custom={"keep": [1, 2]})
    doc.update(agent_id=None, started_at=None, completed_at=None, completion_summary=None)
    if status in (IN_PROGRESS, COMPLETED):
        doc.update(agent_id="coder-1", started_at="2026-02-28T10:00:00Z")
    if status == COMPLETED:
        doc.update(completed_at="2026-02-28T11:00:00Z", completion_summary="done before")
    if status == BLOCKED:
        doc.update(blocked_reason="waiting for the API key", blocked_at="2026-02-28T10:30:00Z")
    return doc


def refusal(action: Callable[[], Any]) -> RuleViolation:
    with pytest.raises(RuleViolation) as info:
        action()
    return info.value


def codes(error: RuleViolation) -> List[str]:
    return [f.code for f in error.findings]


def do(
    move: str, doc: Mapping[str, Any], statuses: Optional[Mapping[str, Any]] = None
) -> Tuple[Doc, TaskMove]:
    """``move`` with valid arguments (every dependency completed by default)."""
    statuses = {"01": COMPLETED} if statuses is None else statuses
    if move == "start":
        return tasks.start(doc, statuses, "coder-2", T0)
    if move == "complete":
        return tasks.complete(doc, statuses, "implemented and tested", T0)
    if move == "block":
        return tasks.block(doc, "needs a design decision", T0)
    if move == "unblock":
        return tasks.unblock(doc, T0)
    assert move == "reopen"
    return tasks.reopen(doc, "the tests were wrong", T0)


# -- the table ----------------------------------------------------------------------------


def test_the_transition_table_is_the_documented_lifecycle() -> None:
    assert {s: dict(m) for s, m in TRANSITIONS.items()} == {
        "pending": {"start": "in_progress", "block": "blocked"},
        "in_progress": {"complete": "completed", "block": "blocked"},
        "completed": {"reopen": "pending"},
        "blocked": {"unblock": "pending"},
    }
    assert set(TRANSITIONS) == set(STATUSES)
    assert {m for moves in TRANSITIONS.values() for m in moves} == set(MOVES)
    assert all(target in STATUSES for moves in TRANSITIONS.values() for target in moves.values())


def test_the_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS["completed"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        TRANSITIONS["completed"]["block"] = "blocked"  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("pending", "allowed moves from pending: start, block"),
        ("in_progress", "allowed moves from in_progress: complete, block"),
        ("completed", "allowed moves from completed: reopen"),
        ("blocked", "allowed moves from blocked: unblock"),
        ("done", "allowed moves from done: none"),
    ],
)
def test_allowed_moves_text(status: str, text: str) -> None:
    assert tasks.allowed_moves_text(status) == text
    moves = text.split(": ")[1]
    assert tasks.allowed_moves(status) == (() if moves == "none" else tuple(moves.split(", ")))


GRID = [(status, move) for status in STATUSES for move in MOVES]


@pytest.mark.parametrize(("status", "move"), GRID)
def test_every_move_from_every_status(status: str, move: str) -> None:
    doc = in_state(status)
    before = copy.deepcopy(doc)
    if move in TRANSITIONS[status]:
        new, record = do(move, doc)
        assert new["status"] == TRANSITIONS[status][move]
        assert (record.operation, record.seq) == (move, "03")
        assert (record.status_before, record.status_after) == (status, new["status"])
        assert record.at == T0_TEXT
        assert new["x_custom"] == {"keep": [1, 2]}
        assert new["parallel"] is True
    else:
        error = refusal(lambda: do(move, doc))
        assert codes(error) == ["task-transition"]
        assert error.findings[0].pointer == "/status"
        assert tasks.allowed_moves_text(status) in error.message
        assert tasks.allowed_moves_text(status) in (error.findings[0].recommendation or "")
        assert (error.operation, error.stage) == (move, "03")
        assert error.exit_code == 1
        assert isinstance(error, StageflowError)
    assert doc == before


@pytest.mark.parametrize(("status", "move"), GRID)
def test_a_refused_transition_does_not_also_report_dependencies(status: str, move: str) -> None:
    """Dependency findings only make sense when the move is allowed from the status."""
    if move in TRANSITIONS[status] or move not in ("start", "complete"):
        return
    error = refusal(lambda: do(move, in_state(status, depends_on=("01", "99")), {"01": PENDING}))
    assert codes(error) == ["task-transition"]


def test_refusal_messages_say_what_to_do() -> None:
    error = refusal(lambda: do("complete", in_state(PENDING)))
    assert str(error) == (
        "cannot complete subtask 03 (allowed moves from pending: start, block): "
        "subtask 03 is pending: complete is allowed only from in_progress"
    )
    assert (error.findings[0].recommendation or "").startswith("start it first")
    error = refusal(lambda: do("block", in_state(COMPLETED)))
    assert "would undo its completion" in error.findings[0].message
    assert (error.findings[0].recommendation or "").startswith("reopen it")
    error = refusal(lambda: do("block", in_state(BLOCKED)))
    assert error.findings[0].message == "subtask 03 is already blocked: waiting for the API key"
    error = refusal(lambda: do("start", in_state(BLOCKED)))
    assert "start is allowed only from pending" in error.findings[0].message
    error = refusal(lambda: do("unblock", in_state(IN_PROGRESS)))
    assert "unblock is allowed only from blocked" in error.findings[0].message


def test_refusals_pickle_with_their_findings() -> None:
    error = refusal(lambda: do("start", in_state(PENDING), {"01": IN_PROGRESS}))
    copied = pickle.loads(pickle.dumps(error))
    assert type(copied) is RuleViolation
    assert (copied.message, copied.operation, copied.stage) == (error.message, "start", "03")
    assert copied.findings == error.findings
    json.dumps(error.to_dict())


# -- start ----------------------------------------------------------------------------------


def test_start_sets_the_agent_and_the_start_time() -> None:
    doc = subtask("03", depends_on=["01", "02"])
    new, record = tasks.start(doc, {"01": COMPLETED, "02": COMPLETED}, "  coder-7 ", T0)
    assert new == {**doc, "status": IN_PROGRESS, "agent_id": "coder-7", "started_at": T0_TEXT}
    assert list(new) == [*doc, "agent_id", "started_at"]
    assert record.agent == "coder-7"
    assert record.to_dict()["agent"] == "coder-7"


def test_start_without_dependencies_needs_no_statuses() -> None:
    new, _ = tasks.start({"seq": "01", "status": "pending"}, {}, "a", T0)
    assert new["status"] == IN_PROGRESS


def test_start_reports_every_unmet_dependency_missing_ones_included() -> None:
    doc = subtask("05", depends_on=["01", "01", "02", "03", "04", "09", "02", "09"])
    statuses = {"01": COMPLETED, "02": IN_PROGRESS, "03": BLOCKED, "04": PENDING, "05": PENDING}
    error = refusal(lambda: tasks.start(doc, statuses, "coder", T0))
    assert codes(error) == ["task-dependency-unmet"] * 3 + ["task-dependency-missing"]
    # One finding per dependency, pointing at its first entry.
    assert [f.pointer for f in error.findings] == [
        "/depends_on/2",
        "/depends_on/3",
        "/depends_on/4",
        "/depends_on/5",
    ]
    assert "subtask 05 depends on 02, which is in_progress" in error.findings[0].message
    assert "subtask 05 depends on 09, which does not exist" in error.findings[3].message
    assert error.message == "cannot start subtask 05 (allowed moves from pending: start, block)"


def test_an_in_progress_dependency_is_not_enough() -> None:
    error = refusal(
        lambda: tasks.start(subtask("02", depends_on=["01"]), {"01": IN_PROGRESS}, "a", T0)
    )
    assert codes(error) == ["task-dependency-unmet"]


def test_a_dependency_with_a_malformed_status_is_unmet() -> None:
    error = refusal(lambda: tasks.start(subtask("02", depends_on=["01"]), {"01": None}, "a", T0))
    assert codes(error) == ["task-dependency-unmet"]
    assert error.findings[0].message == "subtask 02 depends on 01, which has no status (None)"


def test_dependencies_match_seqs_exactly() -> None:
    error = refusal(
        lambda: tasks.start(subtask("03", depends_on=["2"]), {"02": COMPLETED}, "a", T0)
    )
    assert codes(error) == ["task-dependency-missing"]


def test_a_self_dependency_is_named() -> None:
    doc = subtask("03", depends_on=["03"])
    error = refusal(lambda: tasks.start(doc, {"03": PENDING}, "a", T0))
    assert codes(error) == ["task-dependency-self"]


@pytest.mark.parametrize("agent", ["", "   ", None])
def test_start_needs_an_agent(agent: Optional[str]) -> None:
    error = refusal(lambda: tasks.start(subtask("01"), {}, agent, T0))  # type: ignore[arg-type]
    assert codes(error) == ["task-agent-missing"]


def test_start_reports_the_agent_and_the_dependencies_together() -> None:
    error = refusal(lambda: tasks.start(subtask("02", depends_on=["01"]), {}, "", T0))
    assert codes(error) == ["task-dependency-missing", "task-agent-missing"]


def test_a_long_agent_id_is_fine() -> None:
    new, _ = tasks.start(subtask("01"), {}, "a" * 500, T0)
    assert new["agent_id"] == "a" * 500


# -- complete -------------------------------------------------------------------------------


def test_complete_sets_the_completion() -> None:
    doc = in_state(IN_PROGRESS)
    new, record = tasks.complete(doc, {"01": COMPLETED}, "  built the cart  ", T0)
    assert new == {
        **doc,
        "status": COMPLETED,
        "completed_at": T0_TEXT,
        "completion_summary": "built the cart",
    }
    assert list(new) == list(doc)
    assert "forced_completion" not in new
    assert (record.summary, record.forced, record.reason, record.unmet_dependencies) == (
        "built the cart",
        False,
        None,
        (),
    )


@pytest.mark.parametrize(
    ("summary", "ok"),
    [
        ("x" * 200, True),
        ("x" * 201, False),
        ("  " + "x" * 200 + "\n", True),
        ("é" * 200, True),
        ("\N{ROCKET}" * 200, True),
        ("\N{ROCKET}" * 201, False),
    ],
)
def test_a_summary_has_at_most_200_characters(summary: str, ok: bool) -> None:
    doc = in_state(IN_PROGRESS)
    if ok:
        new, _ = tasks.complete(doc, {"01": COMPLETED}, summary, T0)
        assert new["completion_summary"] == summary.strip()
    else:
        error = refusal(lambda: tasks.complete(doc, {"01": COMPLETED}, summary, T0))
        assert codes(error) == ["task-summary-too-long"]
        assert "201 characters" in error.findings[0].message


@pytest.mark.parametrize("summary", ["", " \t\n", None])
def test_a_summary_is_required(summary: Optional[str]) -> None:
    error = refusal(
        lambda: tasks.complete(in_state(IN_PROGRESS), {"01": COMPLETED}, summary, T0)  # type: ignore[arg-type]
    )
    assert codes(error) == ["task-summary-missing"]


def test_complete_is_refused_while_a_dependency_is_not_completed() -> None:
    doc = in_state(IN_PROGRESS, depends_on=("01", "02", "07"))
    error = refusal(lambda: tasks.complete(doc, {"01": COMPLETED, "02": PENDING}, "done", T0))
    assert codes(error) == ["task-dependency-unmet", "task-dependency-missing"]
    assert all("force" in (f.recommendation or "") for f in error.findings)


def test_forced_completion_is_recorded() -> None:
    doc = in_state(IN_PROGRESS, depends_on=("01", "02", "07"))
    statuses = {"01": COMPLETED, "02": BLOCKED}
    new, record = tasks.complete(doc, statuses, "done", T0, force=True, reason=" hotfix ")
    assert new["status"] == COMPLETED
    assert new["forced_completion"] == {
        "reason": "hotfix",
        "at": T0_TEXT,
        "unmet_dependencies": [{"seq": "02", "status": "blocked"}, {"seq": "07", "status": None}],
    }
    assert list(new)[-1] == "forced_completion"
    assert record.forced is True
    assert record.reason == "hotfix"
    assert record.unmet_dependencies == (("02", "blocked"), ("07", None))
    assert record.to_dict()["unmet_dependencies"] == new["forced_completion"]["unmet_dependencies"]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_force_needs_a_reason(reason: Optional[str]) -> None:
    doc = in_state(IN_PROGRESS)
    error = refusal(
        lambda: tasks.complete(doc, {"01": PENDING}, "done", T0, force=True, reason=reason)
    )
    assert codes(error) == ["task-force-needs-reason"]


def test_force_needs_a_reason_even_when_nothing_is_unmet() -> None:
    error = refusal(
        lambda: tasks.complete(in_state(IN_PROGRESS), {"01": COMPLETED}, "ok", T0, force=True)
    )
    assert codes(error) == ["task-force-needs-reason"]


def test_a_force_reason_has_at_most_200_characters() -> None:
    doc = in_state(IN_PROGRESS)
    tasks.complete(doc, {"01": PENDING}, "done", T0, force=True, reason="r" * 200)
    error = refusal(
        lambda: tasks.complete(doc, {"01": PENDING}, "done", T0, force=True, reason="r" * 201)
    )
    assert codes(error) == ["task-reason-too-long"]


def test_force_with_every_dependency_completed_forces_nothing() -> None:
    new, record = tasks.complete(
        in_state(IN_PROGRESS), {"01": COMPLETED}, "ok", T0, force=True, reason="belt and braces"
    )
    assert "forced_completion" not in new
    assert (record.forced, record.reason) == (False, None)


@pytest.mark.parametrize("status", [PENDING, COMPLETED, BLOCKED])
def test_force_never_skips_the_transition_table(status: str) -> None:
    doc = in_state(status, depends_on=("01", "99"))
    error = refusal(lambda: tasks.complete(doc, {}, "ok", T0, force=True, reason="r"))
    assert codes(error) == ["task-transition"]


def test_a_reason_without_force_is_ignored() -> None:
    new, record = tasks.complete(in_state(IN_PROGRESS), {"01": COMPLETED}, "ok", T0, reason="")
    assert new["status"] == COMPLETED
    assert record.reason is None


def test_a_normal_completion_removes_a_stale_forced_record() -> None:
    stale = {"reason": "old", "at": "2026-01-01T00:00:00Z", "unmet_dependencies": []}
    doc = {**in_state(IN_PROGRESS), "forced_completion": stale}
    new, record = tasks.complete(doc, {"01": COMPLETED}, "ok", T0)
    assert "forced_completion" not in new
    assert record.cleared == {"forced_completion": stale}


def test_complete_reports_every_problem_at_once() -> None:
    doc = in_state(IN_PROGRESS)
    error = refusal(lambda: tasks.complete(doc, {"01": PENDING}, "s" * 300, T0))
    assert codes(error) == ["task-dependency-unmet", "task-summary-too-long"]
    error = refusal(lambda: tasks.complete(doc, {"01": PENDING}, "", T0, force=True, reason=""))
    assert codes(error) == ["task-summary-missing", "task-force-needs-reason"]


def test_force_must_be_a_bool() -> None:
    with pytest.raises(UsageError, match="force"):
        tasks.complete(in_state(IN_PROGRESS), {}, "ok", T0, force="yes", reason="r")  # type: ignore[arg-type]


# -- block, unblock, reopen -----------------------------------------------------------------


@pytest.mark.parametrize("status", [PENDING, IN_PROGRESS])
def test_block_records_the_reason_and_keeps_the_assignment(status: str) -> None:
    doc = in_state(status)
    new, record = tasks.block(doc, " waiting for review ", T0)
    assert new == {
        **doc,
        "status": BLOCKED,
        "blocked_reason": "waiting for review",
        "blocked_at": T0_TEXT,
    }
    assert record.reason == "waiting for review"


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "task-reason-missing"),
        (None, "task-reason-missing"),
        ("r" * 201, "task-reason-too-long"),
    ],
)
def test_block_and_reopen_need_a_short_reason(reason: Optional[str], code: str) -> None:
    error = refusal(lambda: tasks.block(in_state(PENDING), reason, T0))  # type: ignore[arg-type]
    assert codes(error) == [code]
    error = refusal(lambda: tasks.reopen(in_state(COMPLETED), reason, T0))  # type: ignore[arg-type]
    assert codes(error) == [code]
    tasks.block(in_state(PENDING), "r" * 200, T0)
    tasks.reopen(in_state(COMPLETED), "r" * 200, T0)


def test_a_refused_transition_also_reports_a_bad_argument() -> None:
    error = refusal(lambda: tasks.reopen(in_state(PENDING), "", T0))
    assert codes(error) == ["task-transition", "task-reason-missing"]


def test_unblock_returns_to_pending_without_an_owner() -> None:
    blocked, _ = tasks.block(in_state(IN_PROGRESS), "stuck", T0)
    new, record = tasks.unblock(blocked, T0 + timedelta(hours=1))
    assert new["status"] == PENDING
    assert "blocked_reason" not in new
    assert "blocked_at" not in new
    assert new["agent_id"] is None
    assert new["started_at"] is None
    assert dict(record.cleared) == {
        "blocked_reason": "stuck",
        "blocked_at": T0_TEXT,
        "agent_id": "coder-1",
        "started_at": "2026-02-28T10:00:00Z",
    }
    assert record.at == "2026-03-01T10:30:00Z"
    assert list(new) == [k for k in blocked if k not in ("blocked_reason", "blocked_at")]


def test_clearing_never_adds_absent_base_fields() -> None:
    blocked = subtask("01", BLOCKED, blocked_reason="x", blocked_at=T0_TEXT)
    new, record = tasks.unblock(blocked, T0)
    assert new == subtask("01", PENDING)
    assert set(record.cleared) == {"blocked_reason", "blocked_at"}
    reopened, _ = tasks.reopen(subtask("01", COMPLETED), "again", T0)
    assert reopened == {**subtask("01", PENDING), "reopen_reason": "again", "reopened_at": T0_TEXT}


def test_reopen_clears_the_completion_and_records_why() -> None:
    forced = {
        "reason": "r",
        "at": T0_TEXT,
        "unmet_dependencies": [{"seq": "01", "status": "pending"}],
    }
    doc = {**in_state(COMPLETED), "forced_completion": forced}
    later = T0 + timedelta(days=1)
    new, record = tasks.reopen(doc, "acceptance test fails", later)
    assert new["status"] == PENDING
    for key in ("completed_at", "completion_summary", "agent_id", "started_at"):
        assert key in new
        assert new[key] is None
    assert "forced_completion" not in new
    assert new["reopen_reason"] == "acceptance test fails"
    assert new["reopened_at"] == "2026-03-02T09:30:00Z"
    assert dict(record.cleared) == {
        "completed_at": "2026-02-28T11:00:00Z",
        "completion_summary": "done before",
        "agent_id": "coder-1",
        "started_at": "2026-02-28T10:00:00Z",
        "forced_completion": forced,
    }
    assert record.reason == "acceptance test fails"


def test_a_second_reopen_replaces_the_first() -> None:
    doc = subtask("01", COMPLETED, reopen_reason="first", reopened_at="2026-01-01T00:00:00Z")
    new, _ = tasks.reopen(doc, "second", T0)
    assert (new["reopen_reason"], new["reopened_at"]) == ("second", T0_TEXT)
    assert list(new) == list(doc)


# -- documents: unknown fields, key order, no mutation --------------------------------------


def test_a_full_cycle_on_the_seed_subtask_keeps_every_unknown_field_in_place() -> None:
    original = json.loads((SEED_SUBTASK / "subtask_03.json").read_text(encoding="utf-8"))
    original["x-vendor"] = {"nested": [{"deep": True}], "n": 1.5}
    frozen = copy.deepcopy(original)
    doc = original
    doc, _ = tasks.block(doc, "no designer", T0)
    doc, _ = tasks.unblock(doc, T0)
    doc, _ = tasks.start(doc, {"02": COMPLETED}, "CoderAgent-1", T0)
    doc, _ = tasks.complete(doc, {"02": COMPLETED}, "cart service done", T0)
    doc, _ = tasks.reopen(doc, "missed a criterion", T0)
    doc, _ = tasks.start(doc, {"02": COMPLETED}, "CoderAgent-2", T0)
    doc, _ = tasks.complete(doc, {"02": IN_PROGRESS}, "fixed", T0, force=True, reason="02 re-done")
    assert original == frozen
    untouched = [k for k in frozen if k != "status"]
    assert [k for k in doc if k in frozen] == list(frozen)
    assert all(doc[k] == frozen[k] for k in untouched)
    assert list(doc)[len(frozen) :] == [
        "agent_id",
        "started_at",
        "completed_at",
        "completion_summary",
        "reopen_reason",
        "reopened_at",
        "forced_completion",
    ]
    json.dumps(doc)


@pytest.mark.parametrize(("status", "move"), [(s, m) for s in STATUSES for m in TRANSITIONS[s]])
def test_the_result_shares_nothing_with_the_input(status: str, move: str) -> None:
    doc = in_state(status)
    frozen = copy.deepcopy(doc)
    new, _ = do(move, doc)
    new["depends_on"].append("99")
    new["x_custom"]["keep"].append(3)
    assert doc == frozen


def test_a_mapping_that_is_not_a_dict_is_accepted() -> None:
    from types import MappingProxyType

    new, _ = tasks.start(MappingProxyType(subtask("01")), MappingProxyType({}), "a", T0)
    assert type(new) is dict


# -- defensive input checks -----------------------------------------------------------------

ALL_MOVES: List[Callable[[Any], Any]] = [
    lambda doc: tasks.start(doc, {}, "a", T0),
    lambda doc: tasks.complete(doc, {}, "s", T0),
    lambda doc: tasks.block(doc, "r", T0),
    lambda doc: tasks.unblock(doc, T0),
    lambda doc: tasks.reopen(doc, "r", T0),
]


@pytest.mark.parametrize("call", ALL_MOVES, ids=MOVES)
@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"seq": "04", "title": "t"}, "subtask 04: has no status"),
        ({"seq": "04", "status": "done"}, "subtask 04: unknown status 'done'"),
        ({"seq": "04", "status": "PENDING"}, "unknown status 'PENDING'"),
        ({"seq": "04", "status": None}, "unknown status None"),
        ({"seq": "04", "status": ["pending"]}, "unknown status ['pending']"),
        ({"id": "feat-09", "status": 3}, "subtask feat-09: unknown status 3"),
        ({"seq": 4, "status": "x"}, "subtask ?: unknown status"),
        ([], "a subtask must be a JSON object, not an array"),
        (None, "not null"),
        ("pending", "not a string"),
    ],
)
def test_malformed_subtasks_are_clear_errors(
    call: Callable[[Any], Any], doc: Any, problem: str
) -> None:
    with pytest.raises(StateFileError) as info:
        call(doc)
    assert problem in str(info.value)
    assert isinstance(info.value, StageflowError)


@pytest.mark.parametrize("depends_on", ["01", {"01": True}, [1], ["01", None], 7])
@pytest.mark.parametrize("move", ["start", "complete"])
def test_a_malformed_depends_on_is_a_clear_error(depends_on: Any, move: str) -> None:
    status = PENDING if move == "start" else IN_PROGRESS
    with pytest.raises(StateFileError, match="depends_on must be an array of seq strings"):
        do(move, {"seq": "02", "status": status, "depends_on": depends_on})


def test_a_null_depends_on_means_none() -> None:
    new, _ = tasks.start({"seq": "01", "status": PENDING, "depends_on": None}, {}, "a", T0)
    assert new["depends_on"] is None


@pytest.mark.parametrize("now", [datetime(2026, 1, 1), "2026-01-01T00:00:00Z", None, 0])
def test_now_must_be_an_aware_datetime(now: Any) -> None:
    moves: Dict[str, Callable[[], Any]] = {
        "start": lambda: tasks.start(subtask("01"), {}, "a", now),
        "complete": lambda: tasks.complete(subtask("01", IN_PROGRESS), {}, "s", now),
        "block": lambda: tasks.block(subtask("01"), "r", now),
        "unblock": lambda: tasks.unblock(subtask("01", BLOCKED), now),
        "reopen": lambda: tasks.reopen(subtask("01", COMPLETED), "r", now),
    }
    for action in moves.values():
        with pytest.raises(UsageError, match="timezone-aware datetime"):
            action()


def test_other_time_zones_are_written_in_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    new, record = tasks.block(
        subtask("01"), "r", datetime(2026, 3, 1, 11, 30, 0, 250, tzinfo=plus2)
    )
    assert new["blocked_at"] == record.at == "2026-03-01T09:30:00.000250Z"


@pytest.mark.parametrize("statuses", [None, ["01"], "completed"])
def test_statuses_must_be_a_mapping(statuses: Any) -> None:
    with pytest.raises(UsageError, match="statuses"):
        tasks.start(subtask("02"), statuses, "a", T0)
    with pytest.raises(UsageError, match="statuses"):
        tasks.complete(subtask("02", IN_PROGRESS), statuses, "s", T0)


@pytest.mark.parametrize("bad", [5, b"bytes", ["a"]])
def test_text_arguments_must_be_strings(bad: Any) -> None:
    with pytest.raises(UsageError, match="agent id must be a string"):
        tasks.start(subtask("01"), {}, bad, T0)
    with pytest.raises(UsageError, match="summary must be a string"):
        tasks.complete(subtask("01", IN_PROGRESS), {}, bad, T0)
    with pytest.raises(UsageError, match="reason must be a string"):
        tasks.block(subtask("01"), bad, T0)
    with pytest.raises(UsageError, match="reason must be a string"):
        tasks.complete(subtask("01", IN_PROGRESS), {}, "s", T0, force=True, reason=bad)


# -- readiness and claims -------------------------------------------------------------------


def claim_order(feature: Mapping[str, Any]) -> List[str]:
    """Every seq :func:`tasks.claimable` hands out, claiming each in turn (no completions)."""
    left = dict(feature)
    order: List[str] = []
    seq = tasks.claimable(left)
    while seq is not None:
        order.append(seq)
        left[seq] = {**left[seq], "status": IN_PROGRESS}
        seq = tasks.claimable(left)
    return order


def test_claimable_picks_the_first_ready_subtask_in_numeric_seq_order() -> None:
    feature = {
        "117": subtask("117"),
        "20": subtask("20"),
        "02": subtask("02", depends_on=["01"]),
        "01": subtask("01", IN_PROGRESS),
    }
    assert tasks.claimable(feature) == "20"
    assert claim_order(feature) == ["20", "117"]
    feature["01"] = subtask("01", COMPLETED)
    assert tasks.claimable(feature) == "02"
    assert claim_order(feature) == ["02", "20", "117"]


def test_seq_order_is_numeric_then_textual_then_anything_else() -> None:
    seqs = ["117", "x1", "02", "002", "20", "04210", "10", "010", "9", "0", "1" * 5000]
    feature: Dict[Any, Any] = {seq: subtask(seq) for seq in seqs}
    feature["\N{FULLWIDTH DIGIT ONE}"] = subtask("1")
    feature[3] = subtask("03")
    assert claim_order(feature) == [
        "0",
        "002",
        "02",
        "9",
        "010",
        "10",
        "20",
        "117",
        "04210",
        "1" * 5000,
        "x1",
        "\N{FULLWIDTH DIGIT ONE}",
        3,
    ]


def test_claimable_is_none_when_nothing_is_ready() -> None:
    assert tasks.claimable({}) is None
    feature = {
        "01": subtask("01", COMPLETED),
        "02": subtask("02", IN_PROGRESS),
        "03": subtask("03", BLOCKED),
        "04": subtask("04", depends_on=["02"]),
        "05": subtask("05", depends_on=["99"]),
        "06": subtask("06", depends_on=["06"]),
        "07": subtask("07", depends_on=["01", "02"]),
    }
    assert tasks.claimable(feature) is None


def test_readiness_tolerates_malformed_subtasks() -> None:
    feature: Dict[str, Any] = {
        "01": ["not", "an", "object"],
        "02": {"seq": "02", "status": "done"},
        "03": subtask("03", depends_on=["01"]),
        "04": subtask("04", depends_on=["02"]),
        "05": {"seq": "05", "status": PENDING, "depends_on": "01"},
        "06": {"seq": "06", "status": PENDING, "depends_on": [6]},
        "07": {"seq": "07"},
        "08": {"seq": "08", "status": PENDING, "depends_on": None},
        "09": {"seq": "09", "status": PENDING},
    }
    assert claim_order(feature) == ["08", "09"]
    assert tasks.status_map(feature) == {
        "01": None,
        "02": "done",
        "03": PENDING,
        "04": PENDING,
        "05": PENDING,
        "06": PENDING,
        "07": None,
        "08": PENDING,
        "09": PENDING,
    }


def test_the_claimed_subtask_can_be_started() -> None:
    feature = {"01": subtask("01", COMPLETED), "02": subtask("02", depends_on=["01"])}
    seq = tasks.claimable(feature)
    assert seq == "02"
    new, record = tasks.start(feature[seq], tasks.status_map(feature), "agent-9", T0)
    assert (new["status"], record.agent) == (IN_PROGRESS, "agent-9")


@pytest.mark.parametrize("bad", [None, ["01"], "01"])
def test_feature_readers_need_a_mapping(bad: Any) -> None:
    with pytest.raises(UsageError):
        tasks.claimable(bad)
    with pytest.raises(UsageError):
        tasks.status_map(bad)


# -- recount --------------------------------------------------------------------------------


def test_recount_recomputes_both_counts_in_place() -> None:
    task = {"id": "feat", "subtask_count": 99, "x": [1], "completed_count": 42, "z": None}
    frozen = copy.deepcopy(task)
    subs: List[Any] = [
        subtask("01", COMPLETED),
        subtask("02", IN_PROGRESS),
        subtask("03", COMPLETED),
        "junk",
    ]
    new = tasks.recount(task, subs)
    assert new == {**task, "subtask_count": 4, "completed_count": 2}
    assert list(new) == list(task)
    assert task == frozen
    new["x"].append(2)
    assert task == frozen
    assert tasks.recount(task, {s["seq"]: s for s in subs[:3]})["subtask_count"] == 3


def test_recount_adds_missing_counts_at_the_end() -> None:
    new = tasks.recount({"id": "feat", "name": "F"}, [])
    assert list(new.items()) == [
        ("id", "feat"),
        ("name", "F"),
        ("subtask_count", 0),
        ("completed_count", 0),
    ]


def test_recount_checks_its_inputs() -> None:
    with pytest.raises(StateFileError, match=r"task\.json: a task must be a JSON object"):
        tasks.recount([], [])  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        tasks.recount({}, 3)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        tasks.recount({}, "completed")


# -- the record -----------------------------------------------------------------------------


def test_a_task_move_is_a_read_only_json_ready_value() -> None:
    _, record = tasks.complete(
        in_state(IN_PROGRESS), {"01": IN_PROGRESS}, "done", T0, force=True, reason="why"
    )
    assert json.loads(json.dumps(record.to_dict())) == record.to_dict()
    assert record.to_dict() == {
        "operation": "complete",
        "seq": "03",
        "status_before": "in_progress",
        "status_after": "completed",
        "at": T0_TEXT,
        "agent": None,
        "summary": "done",
        "reason": "why",
        "forced": True,
        "unmet_dependencies": [{"seq": "01", "status": "in_progress"}],
        "cleared": {},
    }
    with pytest.raises(AttributeError):
        setattr(record, "forced", False)  # noqa: B010
    with pytest.raises(AttributeError):
        delattr(record, "seq")
    with pytest.raises(TypeError):
        record.cleared["x"] = 1  # type: ignore[index]
    assert pickle.loads(pickle.dumps(record)) == record
    assert copy.deepcopy(record) == record
    assert record != TaskMove("complete", "03", "in_progress", "completed", T0_TEXT)
    assert record != "not a move"
    assert repr(record).startswith("TaskMove(operation='complete', seq='03'")
    with pytest.raises(TypeError):
        hash(record)


def test_the_record_of_a_clearing_move_copies_what_it_cleared() -> None:
    _, record = tasks.reopen(in_state(COMPLETED), "again", T0)
    as_dict = record.to_dict()
    as_dict["cleared"]["agent_id"] = "changed"
    assert record.cleared["agent_id"] == "coder-1"


# -- import cost ----------------------------------------------------------------------------


HEAVY = ("attr", "attrs", "cattrs", "jsonschema", "transitions", "typing")


def test_importing_the_module_imports_nothing_heavy() -> None:
    code = (
        "import json, sys\n"
        "import stageflow.tasks as t\n"
        "t.claimable({'01': {'status': 'pending'}})\n"
        "t.recount({}, [])\n"
        "t.allowed_moves_text('pending')\n"
        f"heavy = {HEAVY!r}\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_import_check_would_notice_a_heavy_import() -> None:
    # Guards the test above against passing vacuously: a refusal builds attrs findings.
    code = (
        "import sys\n"
        "from datetime import datetime, timezone\n"
        "from stageflow import tasks\n"
        "from stageflow.errors import RuleViolation\n"
        "try:\n"
        "    tasks.block({'status': 'completed'}, 'r', datetime.now(timezone.utc))\n"
        "except RuleViolation:\n"
        "    print('attr' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["True"]


# -- Hypothesis: random moves on random dependency graphs -----------------------------------


@st.composite
def features(draw: st.DrawFn) -> Dict[str, Doc]:
    """A feature of 1-6 subtasks whose dependencies point backwards (a DAG), sometimes at a
    subtask the feature does not have. Most start pending; the others start in any status,
    dependencies met or not, as in files written by tools that enforced nothing."""
    size = draw(st.integers(1, 6))
    seqs = [f"{n:02d}" for n in range(1, size + 1)]
    feature: Dict[str, Doc] = {}
    for index, seq in enumerate(seqs):
        deps = draw(st.lists(st.sampled_from(seqs[:index]), unique=True) if index else st.just([]))
        if draw(st.integers(0, 9)) == 0:
            deps.append("99")
        status = draw(st.sampled_from([PENDING] * 4 + [IN_PROGRESS, COMPLETED, BLOCKED]))
        feature[seq] = {**in_state(status, seq, draw(st.permutations(deps))), "extra": {"n": index}}
    return feature


# (move, which subtask, aim at one the move is allowed from?, force, reason, summary or agent)
# Valid arguments are drawn more often than invalid ones, so that walks get somewhere.
STEP = st.tuples(
    st.sampled_from([*MOVES, "claim", "claim", "complete"]),
    st.integers(0, 5),
    st.integers(0, 3).map(bool),
    st.booleans(),
    st.sampled_from(["because"] * 4 + ["", " ", "r" * 201]),
    st.sampled_from(["done"] * 4 + ["", "s" * 201]),
)


def _unmet(feature: Mapping[str, Doc], doc: Doc) -> List[str]:
    return [d for d in doc["depends_on"] if d not in feature or feature[d]["status"] != COMPLETED]


def _brute_force_claim(feature: Mapping[str, Doc]) -> Optional[str]:
    candidates = [
        seq for seq, doc in feature.items() if doc["status"] == PENDING and not _unmet(feature, doc)
    ]
    return min(candidates, key=int) if candidates else None


def _check_invariants(feature: Mapping[str, Doc], task: Doc) -> None:
    for seq, doc in feature.items():
        assert doc["status"] in STATUSES
        assert doc["extra"] == {"n": int(seq) - 1}
        if doc["status"] != COMPLETED:
            assert "forced_completion" not in doc
            continue
        done_at = parse_timestamp(doc["completed_at"])
        if done_at < T0:
            continue  # completed before the walk, when nothing was enforced
        forced = doc.get("forced_completion")
        if forced is not None:
            assert forced["reason"].strip()
            assert forced["unmet_dependencies"]
            assert forced["at"] == doc["completed_at"]
            continue
        for dep in doc["depends_on"]:
            # Completed when this one was; only a later reopen can have undone that.
            assert dep in feature
            if feature[dep]["status"] != COMPLETED:
                assert parse_timestamp(feature[dep]["reopened_at"]) > done_at
    recounted = tasks.recount(task, feature)
    assert recounted["subtask_count"] == len(feature)
    assert recounted["completed_count"] == sum(
        1 for d in feature.values() if d["status"] == COMPLETED
    )


@settings(max_examples=300, deadline=None)
@given(features(), st.lists(STEP, max_size=60))
def test_random_moves_never_complete_a_subtask_with_an_unmet_dependency_unless_forced(
    feature: Dict[str, Doc], steps: List[Tuple[str, int, bool, bool, str, str]]
) -> None:
    task: Doc = {"id": "feat", "completed_count": 0}
    seqs = sorted(feature)
    for tick, (move, index, aim, force, reason, text) in enumerate(steps, start=1):
        now = T0 + timedelta(seconds=tick)
        statuses = tasks.status_map(feature)
        claimed = move == "claim"
        if claimed:
            seq = tasks.claimable(feature)
            assert seq == _brute_force_claim(feature)
            if seq is None:
                continue
            move, text = "start", "agent"
        else:
            movable = [s for s in seqs if move in TRANSITIONS[feature[s]["status"]]]
            choices = movable if aim and movable else seqs
            seq = choices[index % len(choices)]
        doc = feature[seq]
        frozen = copy.deepcopy(doc)
        unmet = _unmet(feature, doc)
        allowed = move in TRANSITIONS[doc["status"]]
        try:
            if move == "start":
                new, record = tasks.start(doc, statuses, text, now)
            elif move == "complete":
                new, record = tasks.complete(doc, statuses, text, now, force=force, reason=reason)
            elif move == "block":
                new, record = tasks.block(doc, reason, now)
            elif move == "unblock":
                new, record = tasks.unblock(doc, now)
            else:
                new, record = tasks.reopen(doc, reason, now)
        except RuleViolation as error:
            event(f"{move} refused")
            assert not claimed, "a claimable subtask must start"
            assert doc == frozen
            found = set(codes(error))
            assert found
            assert ("task-transition" in found) == (not allowed)
            dependency_codes = {c for c in found if c.startswith("task-dependency")}
            if allowed and (move == "start" or (move == "complete" and not force)):
                assert bool(dependency_codes) == bool(unmet)
            else:
                assert not dependency_codes
            continue
        event(f"{move} applied" + (" (forced)" if record.forced else ""))
        assert doc == frozen
        assert allowed
        assert new["status"] == TRANSITIONS[frozen["status"]][move] == record.status_after
        if move == "start":
            assert not unmet
        if move == "complete":
            assert bool(unmet) == record.forced == ("forced_completion" in new)
            if unmet:
                assert force
                assert [d["seq"] for d in new["forced_completion"]["unmet_dependencies"]] == unmet
        feature[seq] = new
        task = tasks.recount(task, feature)
        _check_invariants(feature, task)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
OWN_KEYS = {
    "seq",
    "status",
    "agent_id",
    "started_at",
    "completed_at",
    "completion_summary",
    "blocked_reason",
    "blocked_at",
    "forced_completion",
    "reopen_reason",
    "reopened_at",
    "depends_on",
}


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8).filter(lambda k: k not in OWN_KEYS), JSON_VALUES, max_size=6
    ),
    st.sampled_from([(s, m) for s in STATUSES for m in TRANSITIONS[s]]),
)
def test_unknown_fields_survive_every_move_verbatim_and_in_order(
    extra: Dict[str, Any], status_and_move: Tuple[str, str]
) -> None:
    status, move = status_and_move
    doc = {**extra, "status": status, "depends_on": ["01"]}
    frozen = copy.deepcopy(doc)
    new, _ = do(move, doc)
    assert doc == frozen
    assert [k for k in new if k in extra] == list(extra)
    assert all(new[k] == extra[k] for k in extra)
