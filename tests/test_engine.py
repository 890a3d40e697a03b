"""The orchestrator on an in-memory store with a fake clock (stageflow.engine)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import pytest

from stageflow import (
    EIGHT_STAGE,
    Finding,
    GateFailed,
    NotFound,
    Outcome,
    Refused,
    Registry,
    RuleViolation,
    RunState,
    RunStatus,
    StageContext,
    StageflowError,
    StageSpec,
    StageStatus,
    StateFileError,
    UnknownStage,
    UsageError,
    Verdict,
    WorkflowSpec,
)
from stageflow.demo import write_outputs
from stageflow.engine import Orchestrator
from stageflow.errors import InvalidName
from stageflow.testing import FakeClock, assert_history, assert_replays, make_orchestrator

FEATURE = "feat"
KEYS = EIGHT_STAGE.keys


def produce(root: Path, stage: str, feature: str = FEATURE) -> List[str]:
    """Write the example artifacts of ``stage`` that pass its content gate; return their paths."""
    return write_outputs(root, stage, feature)


def finish(flow: Orchestrator, root: Path, *stages: str, feature: str = FEATURE) -> RunState:
    run = flow.status(feature)
    for stage in stages:
        produce(root, stage, feature)
        run = flow.complete(feature, stage)
    return run


def codes(error: Refused) -> List[str]:
    return [f.code for f in error.findings]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def flow(tmp_path: Path, clock: FakeClock) -> Orchestrator:
    return make_orchestrator(tmp_path, clock=clock)


def history_len(flow: Orchestrator, feature: str = FEATURE, run: Optional[int] = None) -> int:
    return len(flow.history(feature, run))


# -- init -------------------------------------------------------------------------------------


def test_init_starts_stage_one(flow: Orchestrator) -> None:
    run = flow.init(FEATURE)
    assert run.run == 1
    assert run.workflow == "eight-stage"
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "architecture"
    assert run.stage("architecture").status is StageStatus.IN_PROGRESS
    assert flow.status(FEATURE) == run
    assert flow.runs(FEATURE) == [1]
    assert flow.features() == [FEATURE]
    assert_history(run, [("init", "applied")])
    assert run.history[0].actor == "tester"


def test_init_is_refused_while_a_run_is_active(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    with pytest.raises(RuleViolation) as caught:
        flow.init(FEATURE)
    assert codes(caught.value) == ["run-exists"]
    assert caught.value.operation == "init"
    assert flow.runs(FEATURE) == [1]
    # The refusal is recorded in the existing run's history.
    assert_history(flow.status(FEATURE), [("init", "applied"), ("init", "refused")])
    assert caught.value.run == flow.status(FEATURE)


def test_init_is_refused_while_a_run_is_failed(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    flow.fail(FEATURE, 1, reason="blocked")
    with pytest.raises(RuleViolation) as caught:
        flow.init(FEATURE)
    assert codes(caught.value) == ["run-exists"]
    assert "failed" in str(caught.value)
    run = flow.status(FEATURE)
    assert run.status is RunStatus.FAILED
    assert_history(run, [("init", "applied"), ("fail", "applied"), ("init", "refused")])


def test_init_after_an_aborted_run_keeps_the_old_run_readable(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    aborted = flow.abort(FEATURE, reason="wrong approach")
    fresh = flow.init(FEATURE)
    assert fresh.run == 2
    assert fresh.status is RunStatus.ACTIVE
    assert flow.runs(FEATURE) == [1, 2]
    assert flow.status(FEATURE) == fresh
    assert flow.status(FEATURE, run=1) == aborted
    assert flow.history(FEATURE, run=1) == aborted.history
    assert len(flow.history(FEATURE)) == 1


def test_init_after_a_completed_run(flow: Orchestrator, tmp_path: Path) -> None:
    flow.init(FEATURE)
    done = finish(flow, tmp_path, *KEYS)
    assert done.status is RunStatus.COMPLETED
    assert flow.init(FEATURE).run == 2
    assert flow.status(FEATURE, run=1) == done
    assert flow.init("other").run == 1
    assert flow.features() == [FEATURE, "other"]


def test_init_with_a_bad_feature_name_or_workflow(flow: Orchestrator) -> None:
    with pytest.raises(InvalidName):
        flow.init("Bad_Name")
    with pytest.raises(NotFound):
        flow.init(FEATURE, workflow="nope")
    assert flow.features() == []


def test_operations_on_an_unknown_feature_raise_not_found(flow: Orchestrator) -> None:
    with pytest.raises(NotFound):
        flow.status("ghost")
    with pytest.raises(NotFound):
        flow.complete("ghost", 1)
    with pytest.raises(NotFound):
        flow.status(FEATURE, run=1)
    flow.init(FEATURE)
    with pytest.raises(NotFound):
        flow.status(FEATURE, run=2)


def test_reading_a_run_checks_the_feature_name(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    for bad in ("Bad_Name", "../feat"):
        with pytest.raises(InvalidName):
            flow.status(bad)
        with pytest.raises(InvalidName):
            flow.status(bad, run=1)
        with pytest.raises(InvalidName):
            flow.history(bad, run=1)
        with pytest.raises(InvalidName):
            flow.runs(bad)


def test_a_run_of_a_workflow_this_orchestrator_does_not_know_is_a_state_file_error(
    tmp_path: Path,
) -> None:
    three = WorkflowSpec("three", [StageSpec("a", "A"), StageSpec("b", "B"), StageSpec("c", "C")])
    renamed = WorkflowSpec("three", [StageSpec("x", "X"), StageSpec("y", "Y")])
    writer = make_orchestrator(tmp_path, workflows=[three])
    writer.init(FEATURE)
    for workflows in ([EIGHT_STAGE], [renamed]):
        reader = make_orchestrator(tmp_path, workflows=workflows, store=writer.store)
        with pytest.raises(StateFileError) as caught:
            reader.status(FEATURE)
        assert caught.value.path == f"memory:{FEATURE}/run-1"
        assert "three" in caught.value.problem
        with pytest.raises(StateFileError):
            reader.complete(FEATURE, 1)
    assert len(writer.history(FEATURE)) == 1


# -- complete ------------------------------------------------------------------------------


def test_a_whole_run_through_the_default_gates(flow: Orchestrator, tmp_path: Path) -> None:
    flow.init(FEATURE)
    run = finish(flow, tmp_path, *KEYS)
    assert run.status is RunStatus.COMPLETED
    assert run.current_stage is None
    assert all(r.status is StageStatus.COMPLETED for r in run.stages)
    assert run.ended_at is not None
    tasks = run.stage("tasks").outputs
    assert tasks[0] == ".tmp/tasks/feat/subtask_01.json"
    assert tasks[-1] == ".tmp/tasks/feat/task.json"
    assert len(tasks) == 13
    assert ".tmp/contracts/feat/payment-order-management/contract.json" in (
        run.stage("contracts").outputs
    )
    assert_replays(run)


def test_a_failing_gate_leaves_the_stage_failed_then_a_fix_completes_it(
    flow: Orchestrator, tmp_path: Path
) -> None:
    flow.init(FEATURE)
    with pytest.raises(GateFailed) as caught:
        flow.complete(FEATURE, "architecture")
    error = caught.value
    assert codes(error) == ["artifact-missing"]
    assert error.stage == "architecture"
    assert error.findings[0].path == ".tmp/tasks/feat/contexts.json"
    assert isinstance(error, Refused)
    assert error.exit_code == 1

    run = flow.status(FEATURE)
    record = run.stage("architecture")
    assert record.status is StageStatus.FAILED
    assert [f.code for f in record.findings] == ["artifact-missing"]
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "architecture"
    assert error.run == run

    produce(tmp_path, "architecture")
    run = flow.complete(FEATURE, "architecture")
    record = run.stage("architecture")
    assert record.status is StageStatus.COMPLETED
    assert record.findings == ()
    assert record.failed_at is None
    assert run.current_stage == "stories"
    assert_history(run, [("init", "applied"), ("complete", "failed"), ("complete", "applied")])


def test_a_custom_gate_registered_in_one_line_is_enforced(tmp_path: Path) -> None:
    registry = Registry()
    registry.add_gate("architecture", lambda ctx: [Finding("no-adr", "write an ADR")])
    flow = make_orchestrator(tmp_path, registry=registry)
    flow.init(FEATURE)
    produce(tmp_path, "architecture")
    with pytest.raises(GateFailed) as caught:
        flow.complete(FEATURE, 1)
    assert codes(caught.value) == ["no-adr"]
    assert flow.status(FEATURE).stage("architecture").status is StageStatus.FAILED


def test_custom_entry_and_exit_gates_see_the_context(tmp_path: Path) -> None:
    registry = Registry()
    seen: List[StageContext] = []

    @registry.gate("architecture", kind="entry")
    def ready(context: StageContext) -> List[Finding]:
        seen.append(context)
        return []

    @registry.gate("architecture")
    def adr_exists(context: StageContext) -> Verdict:
        ok = context.path("docs/adr.md").exists()
        return Verdict.from_findings("adr", [] if ok else [Finding("no-adr", "missing")])

    flow = make_orchestrator(tmp_path, registry=registry, default_gates=False)
    flow.init(FEATURE)
    with pytest.raises(GateFailed) as caught:
        flow.complete(FEATURE, 1, outputs=["docs/adr.md"])
    assert codes(caught.value) == ["no-adr"]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "adr.md").write_text("# ADR\n")
    run = flow.complete(FEATURE, 1, outputs=["docs/adr.md"])
    assert run.stage("architecture").outputs == ("docs/adr.md",)
    assert [c.outputs for c in seen] == [("docs/adr.md",), ("docs/adr.md",)]
    assert seen[0].stage.key == "architecture"
    assert seen[0].root == tmp_path
    gates = [v.gate for v in run.history[-1].verdicts if v.kind != "rule"]
    assert gates == ["entry:ready", "exit:adr-exists"]


def test_a_gate_that_raises_fails_the_stage_without_crashing(tmp_path: Path) -> None:
    registry = Registry()

    def crash(context: StageContext) -> List[Finding]:
        raise OSError("disk on fire")

    registry.add_gate("architecture", crash)
    flow = make_orchestrator(tmp_path, registry=registry, default_gates=False)
    flow.init(FEATURE)
    with pytest.raises(GateFailed) as caught:
        flow.complete(FEATURE, 1)
    assert codes(caught.value) == ["gate-error"]
    assert "disk on fire" in str(caught.value)


def test_completing_the_wrong_stage_is_a_rule_violation(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    with pytest.raises(RuleViolation) as caught:
        flow.complete(FEATURE, "prioritization")
    assert codes(caught.value) == ["not-current-stage", "prerequisite-incomplete"]
    assert caught.value.stage == "prioritization"
    run = flow.status(FEATURE)
    assert run.stage("prioritization").status is StageStatus.PENDING
    assert run.stage("architecture").status is StageStatus.IN_PROGRESS


def test_a_rule_violation_wins_over_an_override(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    with pytest.raises(RuleViolation) as caught:
        flow.complete(FEATURE, 2, override=True, reason="I know better")
    assert "not-current-stage" in codes(caught.value)
    assert flow.status(FEATURE).current_stage == "architecture"


def test_an_unknown_stage_is_a_usage_error_and_records_nothing(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    for ref in ("2abc", 0, 9, "deploy"):
        with pytest.raises(UnknownStage):
            flow.complete(FEATURE, ref)
    assert history_len(flow) == 1


def test_an_output_outside_the_root_is_a_usage_error(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    with pytest.raises(UsageError):
        flow.complete(FEATURE, 1, outputs=["../elsewhere.md"])
    assert history_len(flow) == 1


def test_an_override_with_justification_completes_and_is_recorded(
    flow: Orchestrator, clock: FakeClock
) -> None:
    flow.init(FEATURE)
    run = flow.complete(
        FEATURE, "architecture", override=True, reason="spike, no design", actor="lead"
    )
    record = run.stage("architecture")
    assert record.status is StageStatus.COMPLETED
    override = record.override
    assert override is not None
    assert override.actor == "lead"
    assert override.justification == "spike, no design"
    assert [f.code for f in override.findings] == ["artifact-missing"]
    assert override.at == run.history[-1].at
    assert override.at < clock.current
    assert run.history[-1].override == override
    assert run.history[-1].actor == "lead"
    assert run.current_stage == "stories"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_an_override_without_justification_is_refused(
    flow: Orchestrator, reason: Optional[str]
) -> None:
    flow.init(FEATURE)
    with pytest.raises(RuleViolation) as caught:
        flow.complete(FEATURE, 1, override=True, reason=reason)
    assert "override-needs-justification" in codes(caught.value)
    run = flow.status(FEATURE)
    assert run.stage("architecture").status is StageStatus.IN_PROGRESS
    assert_history(run, [("init", "applied"), ("complete", "refused")])


def test_the_contracts_gate_cannot_be_overridden(flow: Orchestrator, tmp_path: Path) -> None:
    flow.init(FEATURE)
    finish(flow, tmp_path, "architecture", "stories", "prioritization", "tasks")
    with pytest.raises(Refused) as caught:
        flow.complete(FEATURE, "contracts", override=True, reason="we'll write them later")
    assert "not-overridable" in codes(caught.value)
    assert "contract-missing" in codes(caught.value)
    run = flow.status(FEATURE)
    assert run.stage("contracts").status is not StageStatus.COMPLETED
    assert run.stage("contracts").override is None
    assert run.current_stage == "contracts"
    assert run.stage("execution").status is StageStatus.PENDING

    # Once the contracts exist, the stage completes normally.
    produce(tmp_path, "contracts")
    assert flow.complete(FEATURE, "contracts").current_stage == "execution"


def test_a_custom_gate_on_contracts_is_not_overridable_either(tmp_path: Path) -> None:
    registry = Registry()
    registry.add_gate("contracts", lambda ctx: [Finding("schema-drift", "drift")])
    flow = make_orchestrator(tmp_path, registry=registry)
    flow.init(FEATURE)
    finish(flow, tmp_path, "architecture", "stories", "prioritization", "tasks")
    produce(tmp_path, "contracts")
    with pytest.raises(Refused) as caught:
        flow.complete(FEATURE, "contracts", override=True, reason="trust me")
    assert set(codes(caught.value)) == {"schema-drift", "not-overridable"}
    assert flow.status(FEATURE).current_stage == "contracts"


def test_a_gate_registered_not_overridable_cannot_be_overridden(tmp_path: Path) -> None:
    registry = Registry()
    registry.add_gate("architecture", lambda ctx: [Finding("lint", "lint")], overridable=False)
    flow = make_orchestrator(tmp_path, registry=registry, default_gates=False)
    flow.init(FEATURE)
    with pytest.raises(Refused) as caught:
        flow.complete(FEATURE, 1, override=True, reason="please")
    assert "not-overridable" in codes(caught.value)
    assert flow.status(FEATURE).current_stage == "architecture"


# -- fail -------------------------------------------------------------------------------------


def test_fail_marks_the_stage_and_the_run_failed(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    run = flow.fail(FEATURE, "architecture", reason="requirements unclear")
    assert run.status is RunStatus.FAILED
    assert run.stage("architecture").status is StageStatus.FAILED
    assert run.stage("architecture").error == "requirements unclear"
    assert run.history[-1].reason == "requirements unclear"


def test_fail_of_another_stage_is_refused(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    with pytest.raises(RuleViolation) as caught:
        flow.fail(FEATURE, 3, reason="x")
    assert codes(caught.value) == ["not-current-stage"]
    assert flow.status(FEATURE).status is RunStatus.ACTIVE


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_an_empty_reason_is_a_usage_error(flow: Orchestrator, reason: Optional[str]) -> None:
    flow.init(FEATURE)
    with pytest.raises(UsageError):
        flow.fail(FEATURE, 1, reason=reason)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        flow.rollback(FEATURE, 1, reason=reason)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        flow.abort(FEATURE, reason=reason)  # type: ignore[arg-type]
    assert flow.status(FEATURE).status is RunStatus.ACTIVE
    assert history_len(flow) == 1


# -- rollback ------------------------------------------------------------------------------


def test_rollback_resets_the_target_and_later_stages(flow: Orchestrator, tmp_path: Path) -> None:
    flow.init(FEATURE)
    finish(flow, tmp_path, "architecture", "stories", "prioritization")
    run = flow.rollback(FEATURE, "stories", reason="missed a persona")
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "stories"
    assert [r.status.value for r in run.stages[:4]] == [
        "completed",
        "pending",
        "pending",
        "pending",
    ]
    assert run.stage("stories").outputs == ()
    assert run.history[-1].reason == "missed a persona"
    assert_replays(run)


def test_rollback_never_moves_forward(flow: Orchestrator, tmp_path: Path) -> None:
    flow.init(FEATURE)
    finish(flow, tmp_path, "architecture")
    with pytest.raises(RuleViolation) as caught:
        flow.rollback(FEATURE, "tasks", reason="skip ahead")
    assert codes(caught.value) == ["rollback-forward"]
    assert flow.status(FEATURE).current_stage == "stories"


def test_rollback_runs_compensation_hooks_last_stage_first(tmp_path: Path) -> None:
    calls: List[str] = []
    registry = Registry()

    def hook(label: str) -> Callable[[StageContext], None]:
        def compensate(context: StageContext) -> None:
            assert context.reason == "start over"
            calls.append(f"{label}@{context.stage.key}")

        return compensate

    registry.add_compensation("architecture", hook("arch"), name="arch")
    registry.add_compensation("stories", hook("s1"), name="s1")
    registry.add_compensation("stories", hook("s2"), name="s2")
    registry.add_compensation("prioritization", hook("prio"), name="prio")
    registry.add_compensation("tasks", hook("never"), name="never")
    flow = make_orchestrator(tmp_path, registry=registry)
    flow.init(FEATURE)
    finish(flow, tmp_path, "architecture", "stories")

    run = flow.rollback(FEATURE, "architecture", reason="start over")
    # prioritization is in progress (started), tasks never started.
    assert calls == [
        "prio@prioritization",
        "s2@stories",
        "s1@stories",
        "arch@architecture",
    ]
    assert run.history[-1].compensations == (
        "prioritization:prio",
        "stories:s2",
        "stories:s1",
        "architecture:arch",
    )
    assert run.current_stage == "architecture"


def test_a_failing_compensation_hook_refuses_the_rollback(tmp_path: Path) -> None:
    calls: List[str] = []
    registry = Registry()

    def fine(context: StageContext) -> None:
        calls.append(context.stage.key)

    def broken(context: StageContext) -> None:
        raise RuntimeError("cannot undo")

    registry.add_compensation("stories", fine)
    registry.add_compensation("architecture", broken)
    flow = make_orchestrator(tmp_path, registry=registry)
    flow.init(FEATURE)
    finish(flow, tmp_path, "architecture", "stories")
    before = flow.status(FEATURE)

    with pytest.raises(RuleViolation) as caught:
        flow.rollback(FEATURE, "architecture", reason="redo")
    assert codes(caught.value) == ["compensation-failed"]
    assert "cannot undo" in str(caught.value)
    assert calls == ["stories"]
    run = flow.status(FEATURE)
    assert run.stages == before.stages
    assert run.current_stage == "prioritization"
    assert run.history[-1].outcome is Outcome.REFUSED
    assert run.history[-1].compensations == ("stories:fine",)
    # Nothing was archived: outputs are still in place.
    assert (tmp_path / ".tmp" / "tasks" / FEATURE / "contexts.json").exists()
    assert not (tmp_path / ".tmp" / "archive").exists()


def test_rollback_moves_outputs_to_the_archive(flow: Orchestrator, tmp_path: Path) -> None:
    flow.init(FEATURE)
    arch = produce(tmp_path, "architecture")
    stories = produce(tmp_path, "stories")
    finish(flow, tmp_path, "architecture", "stories")
    (tmp_path / "keep.md").write_text("unrelated\n")

    run = flow.rollback(FEATURE, "stories", reason="redo stories")
    event = run.history[-1]
    assert event.archive is not None
    assert re.fullmatch(r"\.tmp/archive/feat/[0-9TZ:.-]*2026[0-9TZ:.-]*-rollback", event.archive)
    assert event.archived == tuple(stories)
    for relative in stories:
        assert not (tmp_path / relative).exists()
        archived = tmp_path / event.archive / relative
        assert json.loads(archived.read_text())["stories"]
    # Earlier stages and unrelated files are untouched.
    for relative in arch:
        assert (tmp_path / relative).exists()
    assert (tmp_path / "keep.md").exists()


def test_rollbacks_at_different_times_archive_to_different_folders(
    flow: Orchestrator, tmp_path: Path
) -> None:
    flow.init(FEATURE)
    finish(flow, tmp_path, "architecture")
    first = flow.rollback(FEATURE, 1, reason="again").history[-1].archive
    finish(flow, tmp_path, "architecture")
    second = flow.rollback(FEATURE, 1, reason="and again").history[-1].archive
    assert first
    assert second
    assert first != second
    relative = ".tmp/tasks/feat/contexts.json"
    assert (tmp_path / first / relative).exists()
    assert (tmp_path / second / relative).exists()


def test_a_completed_release_cannot_roll_back_without_a_hook(
    flow: Orchestrator, tmp_path: Path
) -> None:
    flow.init(FEATURE)
    finish(flow, tmp_path, *KEYS)
    with pytest.raises(RuleViolation) as caught:
        flow.rollback(FEATURE, "integration", reason="prod incident")
    assert codes(caught.value) == ["rollback-needs-hook"]
    run = flow.status(FEATURE)
    assert run.status is RunStatus.COMPLETED
    assert (tmp_path / ".tmp/releases/feat/release-notes.md").exists()


def test_a_completed_release_rolls_back_with_a_hook(tmp_path: Path) -> None:
    undone: List[str] = []
    registry = Registry()
    registry.add_compensation("release", lambda ctx: undone.append(ctx.feature))
    flow = make_orchestrator(tmp_path, registry=registry)
    flow.init(FEATURE)
    finish(flow, tmp_path, *KEYS)
    run = flow.rollback(FEATURE, "release", reason="prod incident")
    assert undone == [FEATURE]
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "release"
    assert run.ended_at is None
    assert not (tmp_path / ".tmp/releases/feat/release-notes.md").exists()


def test_a_release_in_progress_rolls_back_without_a_hook(
    flow: Orchestrator, tmp_path: Path
) -> None:
    flow.init(FEATURE)
    finish(flow, tmp_path, *KEYS[:-1])
    run = flow.rollback(FEATURE, "integration", reason="found a bug")
    assert run.current_stage == "integration"


def test_rollback_of_an_aborted_run_is_refused(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    flow.abort(FEATURE, reason="stop")
    with pytest.raises(RuleViolation) as caught:
        flow.rollback(FEATURE, 1, reason="x")
    assert codes(caught.value) == ["run-aborted"]


# -- abort ----------------------------------------------------------------------------------


def test_abort_copies_outputs_to_the_archive(flow: Orchestrator, tmp_path: Path) -> None:
    flow.init(FEATURE)
    arch = produce(tmp_path, "architecture")
    finish(flow, tmp_path, "architecture")
    run = flow.abort(FEATURE, reason="feature dropped")
    assert run.status is RunStatus.ABORTED
    assert run.ended_at is not None
    assert run.current_stage == "stories"
    event = run.history[-1]
    assert event.archive is not None
    assert event.archive.startswith(".tmp/archive/feat/")
    assert event.archive.endswith("-abort")
    assert event.archived == tuple(arch)
    for relative in arch:
        assert (tmp_path / relative).exists()
        assert json.loads((tmp_path / event.archive / relative).read_text())["feature"] == FEATURE


def test_abort_of_a_finished_run_is_refused(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    flow.abort(FEATURE, reason="stop")
    with pytest.raises(RuleViolation) as caught:
        flow.abort(FEATURE, reason="again")
    assert codes(caught.value) == ["run-aborted"]


# -- resume -----------------------------------------------------------------------------------


def test_resume_an_aborted_run_where_it_stopped(flow: Orchestrator, tmp_path: Path) -> None:
    flow.init(FEATURE)
    finish(flow, tmp_path, "architecture")
    flow.abort(FEATURE, reason="pause")
    run = flow.resume(FEATURE, "stories")
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "stories"
    assert run.ended_at is None
    assert run.stage("stories").status is StageStatus.IN_PROGRESS


def test_resume_a_failed_run(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    flow.fail(FEATURE, 1, reason="blocked")
    run = flow.resume(FEATURE, 1)
    assert run.status is RunStatus.ACTIVE
    assert run.stage("architecture").status is StageStatus.IN_PROGRESS


def test_resume_cannot_jump_or_go_back(flow: Orchestrator, tmp_path: Path) -> None:
    flow.init(FEATURE)
    finish(flow, tmp_path, "architecture", "stories")
    flow.abort(FEATURE, reason="pause")
    with pytest.raises(RuleViolation) as jumped:
        flow.resume(FEATURE, "tasks")
    assert codes(jumped.value) == ["resume-jump", "prerequisite-incomplete"]
    with pytest.raises(RuleViolation) as back:
        flow.resume(FEATURE, "stories")
    assert codes(back.value) == ["resume-not-current"]
    assert flow.status(FEATURE).status is RunStatus.ABORTED


def test_resume_of_an_active_run_is_refused(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    with pytest.raises(RuleViolation) as caught:
        flow.resume(FEATURE, 1)
    assert codes(caught.value) == ["run-active"]


# -- validate -------------------------------------------------------------------------------


def test_validate_is_a_dry_run(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    stored = flow.store.latest(FEATURE)
    assert stored is not None
    result = flow.validate(FEATURE, "architecture")
    assert result.passed is False
    assert (result.stage, result.number) == ("architecture", 1)
    assert [f.code for f in result.findings] == ["artifact-missing"]
    assert flow.store.latest(FEATURE) == stored


def test_validate_reports_rules_and_gates_and_passes_when_ready(
    flow: Orchestrator, tmp_path: Path
) -> None:
    flow.init(FEATURE)
    wrong = flow.validate(FEATURE, 3)
    assert {"not-current-stage", "prerequisite-incomplete", "artifact-missing"} <= {
        f.code for f in wrong.findings
    }
    produce(tmp_path, "architecture")
    stored = flow.store.latest(FEATURE)
    assert flow.validate(FEATURE, "1").passed is True
    assert flow.store.latest(FEATURE) == stored
    assert flow.status(FEATURE).current_stage == "architecture"


# -- history -------------------------------------------------------------------------------


def _expect_one_event(
    flow: Orchestrator, action: Callable[[], object], error: Optional[type] = None
) -> None:
    before = flow.history(FEATURE)
    if error is None:
        action()
    else:
        with pytest.raises(error):
            action()
    after = flow.history(FEATURE)
    assert len(after) == len(before) + 1
    assert after[: len(before)] == before
    assert after[-1].seq == len(after)


def test_every_operation_appends_exactly_one_event(tmp_path: Path) -> None:
    registry = Registry()
    registry.add_compensation("release", lambda ctx: None)
    flow = make_orchestrator(tmp_path, registry=registry)
    flow.init(FEATURE)
    steps: Sequence[Tuple[Callable[[], object], Optional[type]]] = [
        (lambda: flow.init(FEATURE), RuleViolation),
        (lambda: flow.complete(FEATURE, 1), GateFailed),
        (lambda: flow.complete(FEATURE, 2), RuleViolation),
        (lambda: flow.complete(FEATURE, 1, override=True), RuleViolation),
        (lambda: flow.complete(FEATURE, 1, override=True, reason="ok"), None),
        (lambda: flow.rollback(FEATURE, 5, reason="x"), RuleViolation),
        (lambda: flow.rollback(FEATURE, 1, reason="x"), None),
        (lambda: flow.resume(FEATURE, 1), RuleViolation),
        (lambda: flow.fail(FEATURE, 2, reason="x"), RuleViolation),
        (lambda: flow.fail(FEATURE, 1, reason="x"), None),
        (lambda: flow.complete(FEATURE, 1), RuleViolation),
        (lambda: flow.init(FEATURE), RuleViolation),
        (lambda: flow.resume(FEATURE, 1), None),
        (lambda: flow.abort(FEATURE, reason="x"), None),
        (lambda: flow.abort(FEATURE, reason="x"), RuleViolation),
        (lambda: flow.resume(FEATURE, 2), RuleViolation),
        (lambda: flow.resume(FEATURE, 1), None),
    ]
    for action, error in steps:
        _expect_one_event(flow, action, error)
    run = flow.status(FEATURE)
    assert_replays(run)
    for event in run.history:
        assert event.actor == "tester"
        assert event.at.tzinfo is not None
    times = [e.at for e in run.history]
    assert times == sorted(times)


def test_the_event_records_statuses_before_and_after(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    run = flow.fail(FEATURE, 1, reason="broken")
    event = run.history[-1]
    assert (event.operation, event.outcome, event.stage) == (
        "fail",
        Outcome.APPLIED,
        "architecture",
    )
    assert event.status_before is RunStatus.ACTIVE
    assert event.status_after is RunStatus.FAILED
    assert event.stage_before == event.stage_after == "architecture"


def test_fake_clock_times_are_recorded(tmp_path: Path) -> None:
    clock = FakeClock()
    flow = make_orchestrator(tmp_path, clock=clock, default_gates=False)
    start = clock.current
    flow.init(FEATURE)
    clock.advance(hours=2)
    run = flow.complete(FEATURE, 1)
    assert run.created_at == start
    assert (run.stage("architecture").completed_at - start).total_seconds() >= 7200


# -- construction and errors -------------------------------------------------------------------


def test_a_gate_for_an_unknown_stage_is_a_usage_error_at_construction(tmp_path: Path) -> None:
    registry = Registry()
    registry.add_gate("architecure", lambda ctx: [])
    with pytest.raises(UsageError, match="architecure"):
        make_orchestrator(tmp_path, registry=registry)
    hooks = Registry()
    hooks.add_compensation("deploy", lambda ctx: None)
    with pytest.raises(UsageError, match="deploy"):
        make_orchestrator(tmp_path, registry=hooks)


def test_a_gate_for_a_stage_of_any_configured_workflow_is_accepted(tmp_path: Path) -> None:
    extra = WorkflowSpec("mini", [StageSpec("draft", "Draft")])
    registry = Registry()
    registry.add_gate("draft", lambda ctx: [])
    registry.add_gate("release", lambda ctx: [])
    flow = make_orchestrator(tmp_path, registry=registry, workflows=[EIGHT_STAGE, extra])
    assert flow.init("x", workflow="mini").current_stage == "draft"


def test_an_orchestrator_needs_a_workflow(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        Orchestrator(make_orchestrator(tmp_path).store, root=tmp_path, workflows=())


def test_refusals_carry_findings_stage_and_run(flow: Orchestrator) -> None:
    flow.init(FEATURE)
    with pytest.raises(StageflowError) as caught:
        flow.complete(FEATURE, "stories")
    error = caught.value
    assert isinstance(error, RuleViolation)
    assert isinstance(error, Refused)
    assert error.exit_code == 1
    assert error.stage == "stories"
    assert error.feature == FEATURE
    assert error.operation == "complete"
    assert all(isinstance(f, Finding) for f in error.findings)
    assert error.findings
    assert isinstance(error.run, RunState)
    assert error.run.history[-1].outcome is Outcome.REFUSED
    assert error.run == flow.status(FEATURE)
    for finding in error.findings:
        assert finding.message in str(error)


def test_every_raised_error_is_a_stageflow_error(flow: Orchestrator) -> None:
    attempts: List[Callable[[], object]] = [
        lambda: flow.status("ghost"),
        lambda: flow.init("BAD"),
        lambda: flow.init(FEATURE, workflow="none"),
    ]
    flow.init(FEATURE)
    attempts += [
        lambda: flow.complete(FEATURE, "nope"),
        lambda: flow.complete(FEATURE, 2),
        lambda: flow.complete(FEATURE, 1),
        lambda: flow.fail(FEATURE, 1, reason=""),
        lambda: flow.complete(FEATURE, 1, outputs=["/etc/passwd"]),
        lambda: flow.resume(FEATURE, 1),
    ]
    for attempt in attempts:
        with pytest.raises(StageflowError):
            attempt()
