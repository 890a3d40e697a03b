"""The pure core: rule checks, decisions, and how events change a run (stageflow.lifecycle)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable, List, Optional, Sequence, Tuple

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stageflow import lifecycle
from stageflow.errors import UsageError
from stageflow.findings import Finding, Severity, Verdict
from stageflow.run import Event, Outcome, RunState, RunStatus, StageStatus
from stageflow.workflow import EIGHT_STAGE, StageSpec, WorkflowSpec

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

ABCD = WorkflowSpec(
    "abcd",
    [
        StageSpec("a", "A"),
        StageSpec("b", "B", prerequisites="a"),
        StageSpec("c", "C", prerequisites="b", exit_overridable=False),
        StageSpec("d", "D", prerequisites="c", rollback_requires_hook=True),
    ],
)


def failing(
    gate: str = "exit:check", overridable: bool = True, code: str = "bad", kind: str = "exit"
) -> Verdict:
    return Verdict.from_findings(
        gate, [Finding(code, f"{code} found", path="x.txt")], overridable=overridable, kind=kind
    )


def passing(gate: str = "exit:check") -> Verdict:
    return Verdict.from_findings(gate, [Finding("note", "fyi", severity=Severity.INFO)])


def codes(verdicts: Iterable[Verdict]) -> List[str]:
    return [f.code for v in verdicts for f in v.findings if f.is_error]


class Sim:
    """Drives a run through the pure core with its own clock (one second per step)."""

    def __init__(self, spec: WorkflowSpec = ABCD, actor: str = "alice") -> None:
        self.spec = spec
        self.actor = actor
        self.ticks = 0
        self.run = lifecycle.new_run(spec, "feat", 1, self.now(), actor)

    def now(self) -> datetime:
        self.ticks += 1
        return T0 + timedelta(seconds=self.ticks - 1)

    def _apply(self, event: Event) -> Event:
        before = len(self.run.history)
        self.run = lifecycle.apply(self.spec, self.run, event)
        assert len(self.run.history) == before + 1
        return self.run.history[-1]

    def complete(
        self,
        key: str,
        gates: Sequence[Verdict] = (),
        *,
        override: bool = False,
        justification: Optional[str] = None,
        outputs: Sequence[str] = (),
    ) -> Event:
        rules = lifecycle.check_complete(self.spec, self.run, key)
        return self._apply(
            lifecycle.decide_complete(
                rules,
                gates,
                stage=key,
                now=self.now(),
                actor=self.actor,
                override=override,
                justification=justification,
                outputs=outputs,
            )
        )

    def fail(self, key: str, reason: str = "broken") -> Event:
        rules = lifecycle.check_fail(self.spec, self.run, key)
        return self._apply(
            lifecycle.decide(
                "fail", rules, now=self.now(), actor=self.actor, stage=key, reason=reason
            )
        )

    def rollback(self, key: str, reason: str = "redo", hooked: Iterable[str] = ()) -> Event:
        rules = lifecycle.check_rollback(self.spec, self.run, key, hooked)
        return self._apply(
            lifecycle.decide(
                "rollback", rules, now=self.now(), actor=self.actor, stage=key, reason=reason
            )
        )

    def abort(self, reason: str = "stop") -> Event:
        rules = lifecycle.check_abort(self.spec, self.run)
        return self._apply(
            lifecycle.decide(
                "abort",
                rules,
                now=self.now(),
                actor=self.actor,
                stage=self.run.current_stage,
                reason=reason,
            )
        )

    def resume(self, key: str) -> Event:
        rules = lifecycle.check_resume(self.spec, self.run, key)
        return self._apply(
            lifecycle.decide("resume", rules, now=self.now(), actor=self.actor, stage=key)
        )

    def statuses(self) -> List[str]:
        return [r.status.value for r in self.run.stages]


def _same_but_history(before: RunState, after: RunState) -> None:
    assert attrs.evolve(after, history=before.history, updated_at=before.updated_at) == before


# -- new_run ---------------------------------------------------------------------------------


def test_a_new_run_starts_stage_one_and_records_init() -> None:
    run = lifecycle.new_run(ABCD, "feat", 3, T0, "alice")
    assert run.feature == "feat"
    assert run.run == 3
    assert run.workflow == "abcd"
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "a"
    assert run.created_at == run.updated_at == T0
    assert run.ended_at is None
    assert [r.number for r in run.stages] == [1, 2, 3, 4]
    assert [r.status for r in run.stages] == [
        StageStatus.IN_PROGRESS,
        StageStatus.PENDING,
        StageStatus.PENDING,
        StageStatus.PENDING,
    ]
    assert run.stage("a").started_at == T0
    assert all(r.started_at is None for r in run.stages[1:])
    (init,) = run.history
    assert (init.seq, init.operation, init.outcome, init.actor, init.at) == (
        1,
        "init",
        Outcome.APPLIED,
        "alice",
        T0,
    )
    assert init.status_before is None
    assert init.stage_before is None
    assert init.status_after is RunStatus.ACTIVE
    assert init.stage_after == "a"


# -- check_complete -------------------------------------------------------------------------


def test_completing_the_current_stage_passes_every_rule() -> None:
    sim = Sim()
    verdicts = lifecycle.check_complete(ABCD, sim.run, "a")
    assert all(v.passed for v in verdicts)
    assert all(v.kind == "rule" and not v.overridable for v in verdicts)


def test_completing_a_later_stage_is_not_current_and_lacks_prerequisites() -> None:
    sim = Sim()
    verdicts = lifecycle.check_complete(ABCD, sim.run, "c")
    assert codes(verdicts) == ["not-current-stage", "prerequisite-incomplete"]
    assert all(not v.overridable for v in verdicts)


def test_completing_an_earlier_completed_stage_is_not_current() -> None:
    sim = Sim()
    sim.complete("a")
    assert codes(lifecycle.check_complete(ABCD, sim.run, "a")) == ["not-current-stage"]


def test_a_current_stage_with_an_incomplete_prerequisite_cannot_complete() -> None:
    sim = Sim()
    sim.complete("a")
    # A hand-made state (for example an edited file) where b is current but a is not done.
    broken = attrs.evolve(
        sim.run,
        stages=tuple(
            attrs.evolve(r, status=StageStatus.FAILED) if r.key == "a" else r
            for r in sim.run.stages
        ),
    )
    verdicts = lifecycle.check_complete(ABCD, broken, "b")
    assert codes(verdicts) == ["prerequisite-incomplete"]
    (finding,) = [f for v in verdicts for f in v.findings]
    assert "stage 1 (a)" in finding.message
    assert "failed" in finding.message


@pytest.mark.parametrize(
    ("finish", "code"),
    [("complete-all", "run-completed"), ("abort", "run-aborted"), ("fail", "run-failed")],
)
def test_completing_needs_an_active_run(finish: str, code: str) -> None:
    sim = Sim()
    if finish == "complete-all":
        for key in ABCD.keys:
            sim.complete(key)
        target = "d"
    elif finish == "abort":
        sim.abort()
        target = "a"
    else:
        sim.fail("a")
        target = "a"
    verdicts = lifecycle.check_complete(ABCD, sim.run, target)
    assert codes(verdicts)[0] == code
    if finish != "complete-all":
        assert codes(verdicts) == [code]


# -- check_fail -------------------------------------------------------------------------------


def test_fail_rules() -> None:
    sim = Sim()
    assert all(v.passed for v in lifecycle.check_fail(ABCD, sim.run, "a"))
    assert codes(lifecycle.check_fail(ABCD, sim.run, "b")) == ["not-current-stage"]
    sim.fail("a")
    assert codes(lifecycle.check_fail(ABCD, sim.run, "a")) == ["run-failed"]


# -- check_rollback -------------------------------------------------------------------------


def test_rollback_to_the_current_or_an_earlier_stage_passes() -> None:
    sim = Sim()
    sim.complete("a")
    sim.complete("b")
    for target in ("a", "b", "c"):
        assert all(v.passed for v in lifecycle.check_rollback(ABCD, sim.run, target))


def test_rollback_forward_is_refused() -> None:
    sim = Sim()
    verdicts = lifecycle.check_rollback(ABCD, sim.run, "b")
    assert codes(verdicts) == ["rollback-forward"]
    sim.fail("a")
    assert codes(lifecycle.check_rollback(ABCD, sim.run, "c")) == ["rollback-forward"]
    assert all(v.passed for v in lifecycle.check_rollback(ABCD, sim.run, "a"))


def test_rollback_of_an_aborted_run_is_refused_by_status() -> None:
    sim = Sim()
    sim.complete("a")
    sim.abort()
    assert codes(lifecycle.check_rollback(ABCD, sim.run, "a")) == ["run-aborted"]


def test_rolling_back_a_completed_hook_stage_needs_a_hook() -> None:
    sim = Sim()
    for key in ABCD.keys:
        sim.complete(key)
    for target in ("d", "b"):
        verdicts = lifecycle.check_rollback(ABCD, sim.run, target)
        assert codes(verdicts) == ["rollback-needs-hook"]
        assert all(v.passed for v in lifecycle.check_rollback(ABCD, sim.run, target, ["d"]))
    # A hook on another stage does not count.
    assert codes(lifecycle.check_rollback(ABCD, sim.run, "b", ["b", "c"])) == [
        "rollback-needs-hook"
    ]


def test_a_hook_stage_that_has_not_completed_rolls_back_without_a_hook() -> None:
    sim = Sim()
    for key in "abc":
        sim.complete(key)
    assert sim.run.current_stage == "d"
    assert all(v.passed for v in lifecycle.check_rollback(ABCD, sim.run, "d"))
    assert all(v.passed for v in lifecycle.check_rollback(ABCD, sim.run, "a"))


def test_rollback_scope_lists_started_stages_last_first() -> None:
    sim = Sim()
    sim.complete("a")
    sim.complete("b")
    scope = lifecycle.rollback_scope(ABCD, sim.run, "a")
    assert [r.key for r in scope] == ["c", "b", "a"]
    assert [r.key for r in lifecycle.rollback_scope(ABCD, sim.run, "c")] == ["c"]


# -- check_abort / check_resume ------------------------------------------------------------


def test_abort_rules() -> None:
    sim = Sim()
    assert all(v.passed for v in lifecycle.check_abort(ABCD, sim.run))
    sim.fail("a")
    assert all(v.passed for v in lifecycle.check_abort(ABCD, sim.run))
    sim.abort()
    assert codes(lifecycle.check_abort(ABCD, sim.run)) == ["run-aborted"]
    done = Sim()
    for key in ABCD.keys:
        done.complete(key)
    assert codes(lifecycle.check_abort(ABCD, done.run)) == ["run-completed"]


def test_resume_rules() -> None:
    sim = Sim()
    sim.complete("a")
    assert codes(lifecycle.check_resume(ABCD, sim.run, "b")) == ["run-active"]
    sim.abort()
    assert sim.run.current_stage == "b"
    assert all(v.passed for v in lifecycle.check_resume(ABCD, sim.run, "b"))
    assert codes(lifecycle.check_resume(ABCD, sim.run, "a")) == ["resume-not-current"]
    assert codes(lifecycle.check_resume(ABCD, sim.run, "c")) == [
        "resume-jump",
        "prerequisite-incomplete",
    ]
    assert codes(lifecycle.check_resume(ABCD, sim.run, "d")) == [
        "resume-jump",
        "prerequisite-incomplete",
    ]


def test_resume_of_a_completed_run_is_refused() -> None:
    sim = Sim()
    for key in ABCD.keys:
        sim.complete(key)
    assert "run-completed" in codes(lifecycle.check_resume(ABCD, sim.run, "d"))


# -- decide_complete ------------------------------------------------------------------------


def test_decide_complete_applied_when_rules_and_gates_pass() -> None:
    sim = Sim()
    rules = lifecycle.check_complete(ABCD, sim.run, "a")
    event = lifecycle.decide_complete(
        rules, [passing()], stage="a", now=T0, actor="bob", outputs=["x.md"]
    )
    assert event.outcome is Outcome.APPLIED
    assert event.override is None
    assert event.outputs == ("x.md",)
    assert event.verdicts == (*rules, passing())
    assert event.actor == "bob"
    assert event.at == T0
    assert event.stage == "a"


def test_decide_complete_refused_when_a_rule_fails_whatever_the_gates() -> None:
    sim = Sim()
    rules = lifecycle.check_complete(ABCD, sim.run, "b")
    event = lifecycle.decide_complete(
        rules, [failing()], stage="b", now=T0, actor="bob", override=True, justification="x"
    )
    assert event.outcome is Outcome.REFUSED
    assert event.override is None
    # Rules 1 and 2 cannot be overridden: gate verdicts are not even part of the event.
    assert event.verdicts == tuple(rules)
    assert [f.code for f in event.findings] == ["not-current-stage", "prerequisite-incomplete"]


def test_decide_complete_failed_on_a_gate_failure_without_override() -> None:
    sim = Sim()
    rules = lifecycle.check_complete(ABCD, sim.run, "a")
    event = lifecycle.decide_complete(
        rules, [passing("exit:ok"), failing()], stage="a", now=T0, actor="bob"
    )
    assert event.outcome is Outcome.FAILED
    assert [f.code for f in event.findings] == ["bad"]
    assert event.override is None


@pytest.mark.parametrize("justification", [None, "", "   \n\t"])
def test_an_override_needs_a_justification(justification: Optional[str]) -> None:
    sim = Sim()
    rules = lifecycle.check_complete(ABCD, sim.run, "a")
    event = lifecycle.decide_complete(
        rules,
        [failing()],
        stage="a",
        now=T0,
        actor="bob",
        override=True,
        justification=justification,
    )
    assert event.outcome is Outcome.REFUSED
    assert event.override is None
    assert "override-needs-justification" in [f.code for f in event.findings]


def test_an_override_with_justification_is_applied_and_recorded() -> None:
    sim = Sim()
    rules = lifecycle.check_complete(ABCD, sim.run, "a")
    gates = [failing("exit:one", code="one"), failing("entry:two", code="two", kind="entry")]
    moment = T0 + timedelta(hours=5)
    event = lifecycle.decide_complete(
        rules,
        [passing("exit:ok"), *gates],
        stage="a",
        now=moment,
        actor="carol",
        override=True,
        justification="  hotfix approved by lead  ",
    )
    assert event.outcome is Outcome.APPLIED
    override = event.override
    assert override is not None
    assert override.actor == "carol"
    assert override.at == moment
    assert override.justification == "hotfix approved by lead"
    assert [f.code for f in override.findings] == ["one", "two"]
    assert event.reason == "hotfix approved by lead"


def test_a_non_overridable_gate_failure_cannot_be_overridden() -> None:
    sim = Sim()
    rules = lifecycle.check_complete(ABCD, sim.run, "a")
    event = lifecycle.decide_complete(
        rules,
        [failing("exit:free"), failing("exit:locked", overridable=False, code="locked")],
        stage="a",
        now=T0,
        actor="bob",
        override=True,
        justification="please",
    )
    assert event.outcome is Outcome.FAILED
    assert event.override is None
    found = [f.code for f in event.findings]
    assert found.count("not-overridable") == 1
    (refusal,) = [f for f in event.findings if f.code == "not-overridable"]
    assert "exit:locked" in refusal.message
    assert {"bad", "locked"} <= set(found)


def test_an_override_is_not_recorded_when_nothing_failed() -> None:
    sim = Sim()
    event = sim.complete("a", [passing()], override=True, justification="just in case")
    assert event.outcome is Outcome.APPLIED
    assert event.override is None
    assert sim.run.stage("a").override is None


# -- apply: complete --------------------------------------------------------------------------


def test_apply_complete_moves_to_the_next_stage() -> None:
    sim = Sim()
    event = sim.complete("a", outputs=["a.md"])
    run = sim.run
    a, b = run.stage("a"), run.stage("b")
    assert a.status is StageStatus.COMPLETED
    assert a.completed_at == event.at
    assert a.outputs == ("a.md",)
    assert b.status is StageStatus.IN_PROGRESS
    assert b.started_at == event.at
    assert run.current_stage == "b"
    assert run.status is RunStatus.ACTIVE
    assert run.updated_at == event.at
    assert run.ended_at is None
    assert (event.seq, event.stage_before, event.stage_after) == (2, "a", "b")
    assert event.status_before is event.status_after is RunStatus.ACTIVE


def test_apply_complete_of_the_last_stage_completes_the_run() -> None:
    sim = Sim()
    for key in ABCD.keys:
        event = sim.complete(key)
    run = sim.run
    assert run.status is RunStatus.COMPLETED
    assert run.current_stage is None
    assert run.ended_at == event.at
    assert sim.statuses() == ["completed"] * 4
    assert event.status_after is RunStatus.COMPLETED
    assert event.stage_after is None


def test_apply_failed_gates_marks_the_stage_failed_and_keeps_the_run_there() -> None:
    sim = Sim()
    event = sim.complete("a", [failing()])
    run = sim.run
    a = run.stage("a")
    assert event.outcome is Outcome.FAILED
    assert a.status is StageStatus.FAILED
    assert a.failed_at == event.at
    assert [f.code for f in a.findings] == ["bad"]
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "a"

    fixed = sim.complete("a", [passing()])
    a = sim.run.stage("a")
    assert fixed.outcome is Outcome.APPLIED
    assert a.status is StageStatus.COMPLETED
    assert a.failed_at is None
    assert a.findings == ()
    assert sim.run.current_stage == "b"


def test_apply_override_records_it_on_the_stage() -> None:
    sim = Sim()
    event = sim.complete("a", [failing()], override=True, justification="known issue")
    a = sim.run.stage("a")
    assert a.status is StageStatus.COMPLETED
    assert a.override == event.override
    assert a.override is not None
    assert a.override.justification == "known issue"
    assert [f.code for f in a.findings] == ["bad"]


def test_apply_refused_changes_nothing_but_the_history() -> None:
    sim = Sim()
    sim.complete("a")
    before = sim.run
    event = sim.complete("c")
    assert event.outcome is Outcome.REFUSED
    _same_but_history(before, sim.run)
    assert sim.run.history[:-1] == before.history


# -- apply: fail, abort, resume ---------------------------------------------------------------


def test_apply_fail() -> None:
    sim = Sim()
    sim.complete("a")
    event = sim.fail("b", "tests are red")
    run = sim.run
    b = run.stage("b")
    assert event.outcome is Outcome.APPLIED
    assert b.status is StageStatus.FAILED
    assert b.failed_at == event.at
    assert b.error == "tests are red"
    assert run.status is RunStatus.FAILED
    assert run.current_stage == "b"
    assert run.ended_at is None
    assert event.status_after is RunStatus.FAILED


def test_apply_abort_keeps_stage_statuses_and_ends_the_run() -> None:
    sim = Sim()
    sim.complete("a")
    before = sim.statuses()
    event = sim.abort("cancelled")
    run = sim.run
    assert event.outcome is Outcome.APPLIED
    assert event.stage == "b"
    assert event.reason == "cancelled"
    assert run.status is RunStatus.ABORTED
    assert run.current_stage == "b"
    assert run.ended_at == event.at
    assert sim.statuses() == before
    assert run.is_finished


def test_apply_resume_after_abort() -> None:
    sim = Sim()
    sim.complete("a")
    started = sim.run.stage("b").started_at
    sim.abort()
    event = sim.resume("b")
    run = sim.run
    assert event.outcome is Outcome.APPLIED
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "b"
    assert run.ended_at is None
    assert run.stage("b").status is StageStatus.IN_PROGRESS
    # The stage continues where it stopped: its start time is kept.
    assert run.stage("b").started_at == started
    assert run.stage("b").failed_at is None
    assert run.stage("a").status is StageStatus.COMPLETED


def test_apply_resume_after_fail_clears_the_error() -> None:
    sim = Sim()
    sim.fail("a", "oops")
    sim.resume("a")
    a = sim.run.stage("a")
    assert a.status is StageStatus.IN_PROGRESS
    assert a.error is None
    assert sim.run.status is RunStatus.ACTIVE


def test_a_refused_resume_changes_nothing() -> None:
    sim = Sim()
    sim.complete("a")
    sim.abort()
    before = sim.run
    assert sim.resume("c").outcome is Outcome.REFUSED
    _same_but_history(before, sim.run)


# -- apply: rollback --------------------------------------------------------------------------


def test_apply_rollback_resets_the_target_and_every_later_stage() -> None:
    sim = Sim()
    sim.complete("a", outputs=["a.md"])
    sim.complete("b", [failing()], override=True, justification="ok", outputs=["b.md"])
    sim.fail("c", "broken")
    event = sim.rollback("b", "redo b")
    run = sim.run
    assert event.outcome is Outcome.APPLIED
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "b"
    assert run.ended_at is None
    a, b, c, d = run.stages
    assert a.status is StageStatus.COMPLETED
    assert a.outputs == ("a.md",)
    assert b.status is StageStatus.PENDING
    assert b.started_at is None
    assert (b.completed_at, b.failed_at, b.override, b.error) == (None, None, None, None)
    assert (b.outputs, b.findings) == ((), ())
    for record in (c, d):
        assert record.status is StageStatus.PENDING
        assert (record.started_at, record.failed_at, record.error) == (None, None, None)
    assert event.stage_before == "c"
    assert event.stage_after == "b"
    assert event.status_before is RunStatus.FAILED
    assert event.status_after is RunStatus.ACTIVE


def test_apply_rollback_of_a_completed_run_reopens_it() -> None:
    sim = Sim()
    for key in ABCD.keys:
        sim.complete(key)
    event = sim.rollback("c", hooked=["d"])
    assert event.outcome is Outcome.APPLIED
    assert sim.run.status is RunStatus.ACTIVE
    assert sim.run.ended_at is None
    assert sim.statuses() == ["completed", "completed", "pending", "pending"]


def test_a_refused_rollback_changes_nothing() -> None:
    sim = Sim()
    sim.complete("a")
    before = sim.run
    assert sim.rollback("c").outcome is Outcome.REFUSED
    _same_but_history(before, sim.run)


# -- replay ----------------------------------------------------------------------------------


def test_replay_reproduces_a_run_through_every_kind_of_event() -> None:
    sim = Sim()
    sim.complete("a", [failing()])
    sim.complete("a", [passing()], outputs=["a.md"])
    sim.complete("c")
    sim.complete("b", [failing()], override=True, justification="accepted risk")
    sim.complete("c", [failing(overridable=False)], override=True, justification="no")
    sim.complete("c")
    sim.fail("d")
    sim.abort()
    sim.resume("d")
    sim.complete("d")
    sim.rollback("a")  # refused: d needs a hook
    sim.rollback("b", hooked=["d"])
    sim.abort()
    sim.resume("a")  # refused: not where the run stopped
    outcomes = [e.outcome.value for e in sim.run.history]
    assert outcomes.count("refused") == 3
    assert outcomes.count("failed") == 2
    assert [e.seq for e in sim.run.history] == list(range(1, len(outcomes) + 1))
    assert lifecycle.replay(ABCD, "feat", 1, sim.run.history) == sim.run


def test_replay_needs_a_history_starting_with_init() -> None:
    sim = Sim()
    sim.complete("a")
    with pytest.raises(UsageError):
        lifecycle.replay(ABCD, "feat", 1, ())
    with pytest.raises(UsageError):
        lifecycle.replay(ABCD, "feat", 1, sim.run.history[1:])


OPERATIONS = st.tuples(
    st.sampled_from(["complete", "fail", "rollback", "abort", "resume"]),
    st.integers(min_value=0, max_value=len(EIGHT_STAGE.keys) - 1),
    st.sampled_from(["pass", "fail", "locked"]),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(OPERATIONS, max_size=30))
def test_random_operations_keep_the_invariants_and_replay(
    operations: List[Tuple[str, int, str, bool]],
) -> None:
    spec = EIGHT_STAGE
    sim = Sim(spec)
    for name, index, gate, override in operations:
        key = spec.keys[index]
        before = sim.run
        if name == "complete":
            gates = {"pass": [], "fail": [failing()], "locked": [failing(overridable=False)]}[gate]
            event = sim.complete(key, gates, override=override, justification="why")
        elif name == "fail":
            event = sim.fail(key)
        elif name == "rollback":
            event = sim.rollback(key, hooked=["release"] if override else [])
        elif name == "abort":
            event = sim.abort()
        else:
            event = sim.resume(key)
        run = sim.run
        if event.outcome is Outcome.REFUSED:
            _same_but_history(before, run)
        if name == "rollback" and event.outcome is Outcome.APPLIED and before.current_stage:
            assert spec.index(key) <= spec.index(before.current_stage)
        in_progress = [r for r in run.stages if r.status is StageStatus.IN_PROGRESS]
        assert len(in_progress) <= 1
        for record in run.stages:
            if record.status is StageStatus.COMPLETED:
                for prerequisite in spec.stage(record.key).prerequisites:
                    assert run.stage(prerequisite).status is StageStatus.COMPLETED
        assert (run.status is RunStatus.COMPLETED) == all(
            r.status is StageStatus.COMPLETED for r in run.stages
        )
        assert (run.current_stage is None) == (run.status is RunStatus.COMPLETED)
        assert run.history[: len(before.history)] == before.history
    assert lifecycle.replay(spec, "feat", 1, sim.run.history) == sim.run
