"""Approval gates (issue 5, section 4): a stage that needs approval waits in
``awaiting_approval`` once its gates pass; ``approve`` moves on, ``reject`` sends it back to
``in_progress`` with the feedback on its record and in its context. Every decision, refused
ones included, is in the history, and every run replays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest
from clihelp import cli, cli_json

from stageflow import Orchestrator, RuleViolation, RunState, RunStatus, StageStatus, UsageError
from stageflow.errors import WorkflowDefinitionError
from stageflow.serde import run_from_document, run_to_document
from stageflow.testing import assert_replays, make_orchestrator
from stageflow.workflow import StageSpec, WorkflowSpec, spec_from_document, spec_to_document
from stageflow.workflow_doc import read_workflow

FEATURE = "payments"
REVIEWED = WorkflowSpec(
    "reviewed",
    (
        StageSpec("design", "Design", approval=True),
        StageSpec("build", "Build"),
        StageSpec("ship", "Ship"),
    ),
)


@pytest.fixture
def flow(tmp_path: Path) -> Orchestrator:
    return make_orchestrator(tmp_path, workflows=[REVIEWED], default_gates=False)


def waiting(flow: Orchestrator) -> RunState:
    flow.init(FEATURE)
    return flow.complete(FEATURE, "design")


def test_a_stage_that_needs_approval_waits_once_its_gates_pass(flow: Orchestrator) -> None:
    run = waiting(flow)
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert run.current_stage == "design"
    record = run.stage("design")
    assert (record.status, record.completed_at) == (StageStatus.AWAITING_APPROVAL, None)
    assert run.stage("build").status is StageStatus.PENDING
    assert run.history[-1].operation == "complete"
    assert_replays(run, REVIEWED)


def test_a_waiting_run_refuses_to_go_on_without_a_decision(flow: Orchestrator) -> None:
    waiting(flow)
    with pytest.raises(RuleViolation) as refused:
        flow.complete(FEATURE, "design")
    assert [f.code for f in refused.value.findings] == ["run-awaiting_approval"]
    with pytest.raises(RuleViolation):
        flow.fail(FEATURE, "design", reason="tired")
    run = flow.status(FEATURE)
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert_replays(run, REVIEWED)


def test_approve_completes_the_stage_and_moves_on(flow: Orchestrator) -> None:
    waiting(flow)
    run = flow.approve(FEATURE, "design", by="bob", note="vendor B")
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "build"
    design = run.stage("design")
    assert design.status is StageStatus.COMPLETED
    assert design.completed_at == run.history[-1].at
    [given] = design.feedback
    assert (given.decision, given.by, given.note) == ("approved", "bob", "vendor B")
    assert run.stage("build").status is StageStatus.IN_PROGRESS
    event = run.history[-1]
    assert (event.operation, event.actor, event.reason) == ("approve", "bob", "vendor B")
    run = flow.complete(FEATURE, "build")
    run = flow.complete(FEATURE, "ship")
    assert run.status is RunStatus.COMPLETED
    assert_replays(run, REVIEWED)


def test_approving_the_last_stage_completes_the_run(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path, workflows=[REVIEWED], default_gates=False)
    flow.init(FEATURE, approvals=("ship",))
    flow.complete(FEATURE, "design")
    flow.approve(FEATURE, "design", by="bob")
    flow.complete(FEATURE, "build")
    run = flow.complete(FEATURE, "ship")
    assert run.status is RunStatus.AWAITING_APPROVAL
    run = flow.approve(FEATURE, "ship", by="carol")
    assert run.status is RunStatus.COMPLETED
    assert run.current_stage is None
    assert run.ended_at == run.history[-1].at
    assert_replays(run, REVIEWED)


def test_reject_returns_the_stage_with_its_feedback(flow: Orchestrator) -> None:
    waiting(flow)
    run = flow.reject(FEATURE, "design", by="bob", note="compare two vendors")
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "design"
    design = run.stage("design")
    assert design.status is StageStatus.IN_PROGRESS
    [given] = design.feedback
    assert (given.decision, given.by, given.note) == ("rejected", "bob", "compare two vendors")
    brief = flow.context(FEATURE, "design")
    assert brief.feedback == design.feedback
    assert brief.to_dict()["feedback"] == [
        {
            "decision": "rejected",
            "by": "bob",
            "at": run_to_document(run)["stages"][0]["feedback"][0]["at"],
            "note": "compare two vendors",
        }
    ]
    assert flow.context(FEATURE, "build").feedback == ()  # never another stage's
    # completing again asks for approval again
    run = flow.complete(FEATURE, "design")
    assert run.status is RunStatus.AWAITING_APPROVAL
    run = flow.approve(FEATURE, "design", by="bob")
    assert [f.decision for f in run.stage("design").feedback] == ["rejected", "approved"]
    assert_replays(run, REVIEWED)


def test_reject_needs_a_note(flow: Orchestrator) -> None:
    waiting(flow)
    with pytest.raises(UsageError):
        flow.reject(FEATURE, "design", by="bob", note="  ")
    with pytest.raises(UsageError):
        flow.approve(FEATURE, "design", by=" ")
    assert flow.status(FEATURE).status is RunStatus.AWAITING_APPROVAL


@pytest.mark.parametrize("operation", ["approve", "reject"])
def test_a_decision_on_a_stage_not_awaiting_approval_is_refused_and_recorded(
    flow: Orchestrator, operation: str
) -> None:
    flow.init(FEATURE)
    decide = getattr(flow, operation)
    with pytest.raises(RuleViolation) as refused:
        decide(FEATURE, "design", by="bob", note="why")
    assert refused.value.exit_code == 1
    assert [f.code for f in refused.value.findings] == ["not-awaiting-approval"]
    run = flow.status(FEATURE)
    event = run.history[-1]
    assert (event.operation, event.outcome.value, event.actor) == (operation, "refused", "bob")
    assert run.stage("design").status is StageStatus.IN_PROGRESS
    # another stage than the waiting one is refused too
    flow.complete(FEATURE, "design")
    with pytest.raises(RuleViolation):
        decide(FEATURE, "build", by="bob", note="why")
    assert_replays(flow.status(FEATURE), REVIEWED)


def test_rollback_and_abort_work_while_waiting(flow: Orchestrator) -> None:
    waiting(flow)
    flow.reject(FEATURE, "design", by="bob", note="again")
    flow.complete(FEATURE, "design")
    run = flow.rollback(FEATURE, "design", reason="start over")
    design = run.stage("design")
    assert (run.status, design.status) == (RunStatus.ACTIVE, StageStatus.PENDING)
    assert design.approval
    assert design.feedback == ()
    assert flow.complete(FEATURE, "design").status is RunStatus.AWAITING_APPROVAL
    run = flow.abort(FEATURE, reason="cancelled")
    assert run.status is RunStatus.ABORTED
    assert run.stage("design").status is StageStatus.AWAITING_APPROVAL  # kept, as in_progress is
    assert run_from_document(run_to_document(run), "aborted.json") == run  # and it reads back
    run = flow.resume(FEATURE, "design")
    assert run.status is RunStatus.ACTIVE
    assert run.stage("design").status is StageStatus.IN_PROGRESS  # complete it again to ask
    assert_replays(run, REVIEWED)


def test_approvals_asked_at_init_are_recorded_and_validated(tmp_path: Path) -> None:
    plain = WorkflowSpec("plain", (StageSpec("a", "A"), StageSpec("b", "B")))
    flow = make_orchestrator(tmp_path, workflows=[plain], default_gates=False)
    with pytest.raises(UsageError, match="no such stage"):
        flow.init(FEATURE, approvals=("nope",))
    assert flow.features() == []
    run = flow.init(FEATURE, approvals=("b",))
    assert run.history[0].approvals == ("b",)
    assert [r.approval for r in run.stages] == [False, True]
    assert flow.complete(FEATURE, "a").current_stage == "b"
    assert flow.complete(FEATURE, "b").status is RunStatus.AWAITING_APPROVAL
    assert_replays(flow.status(FEATURE), plain)


def test_a_stage_with_phases_waits_after_its_last_phase() -> None:
    flow = make_orchestrator()
    flow.init("billing", workflow="plan-implement-test-final", approvals=("plan",))
    for phase in ("1.1", "1.2", "1.3"):
        run = flow.phase_complete("billing", phase, summary="done " + phase)
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert run.stage("plan").summary is not None
    with pytest.raises(RuleViolation) as refused:
        flow.phase_start("billing", "2.1")
    assert "approve or reject" in str(refused.value.findings[0].recommendation)
    run = flow.reject("billing", "plan", by="lead", note="cover refunds")
    assert flow.context("billing", "plan").feedback[0].note == "cover refunds"
    flow.complete("billing", "plan")
    run = flow.approve("billing", "plan", by="lead")
    assert run.current_stage == "implement"
    assert_replays(run)


def test_the_workflow_document_declares_approval(tmp_path: Path) -> None:
    document = {
        "name": "reviewed",
        "stages": [
            {"key": "design", "name": "Design", "approval": True},
            {"key": "b", "name": "B"},
        ],
    }
    spec = spec_from_document(document)
    assert spec.stage("design").approval
    assert not spec.stage("b").approval
    assert spec_to_document(spec) == document
    path = tmp_path / "reviewed.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert read_workflow(path).stage("design").approval
    bad = dict(document, stages=[{"key": "design", "name": "Design", "approval": "yes"}])
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(WorkflowDefinitionError, match="approval"):
        read_workflow(path)


def _strip_new_fields(document: Dict[str, Any]) -> Dict[str, Any]:
    for stage in document["stages"]:
        assert "approval" not in stage
        assert "feedback" not in stage
    for event in document["history"]:
        assert "approvals" not in event
    return document


def test_old_run_documents_without_the_new_fields_still_load(tmp_path: Path) -> None:
    plain = WorkflowSpec("plain", (StageSpec("a", "A"), StageSpec("b", "B")))
    flow = Orchestrator(root=tmp_path, workflows=[plain], default_gates=False, actor="old")
    flow.init(FEATURE)
    run = flow.complete(FEATURE, "a")
    document = _strip_new_fields(run_to_document(run))  # written exactly as before
    assert run_from_document(json.loads(json.dumps(document)), "old.json") == run
    # and a file store document of an earlier version reads through a new orchestrator
    fresh = Orchestrator(root=tmp_path, workflows=[plain], default_gates=False, actor="someone")
    status = fresh.status(FEATURE)
    assert status == run


def test_a_hand_edited_waiting_status_is_refused(tmp_path: Path) -> None:
    from stageflow.errors import StateFileError

    flow = make_orchestrator(tmp_path, workflows=[REVIEWED], default_gates=False)
    document = run_to_document(waiting(flow))
    document["status"] = "active"
    with pytest.raises(StateFileError, match="awaiting_approval"):
        run_from_document(document, "edited.json")


# -- the command line ------------------------------------------------------------------


def _project(tmp_path: Path, config: Dict[str, Any]) -> Path:
    (tmp_path / ".stageflow").mkdir()
    (tmp_path / ".stageflow" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (tmp_path / "reviewed.json").write_text(
        json.dumps(
            {
                "name": "reviewed",
                "stages": [
                    {"key": "design", "name": "Design"},
                    {"key": "build", "name": "Build"},
                    {"key": "ship", "name": "Ship"},
                ],
            }
        ),
        encoding="utf-8",
    )
    return tmp_path


def test_cli_init_asks_for_the_approvals_the_configuration_switches_on(tmp_path: Path) -> None:
    root = _project(tmp_path, {"stages": {"design": {"approval": True}}})
    code, started = cli_json(
        root,
        "stage",
        "init",
        FEATURE,
        "--workflow",
        str(root / "reviewed.json"),
        "--approval",
        "ship",
    )
    assert code == 0, started
    stages = {s["key"]: s for s in started["status"]["stages"]}
    assert [stages[k]["approval"] for k in ("design", "build", "ship")] == [True, False, True]
    code, done = cli_json(root, "stage", "complete", FEATURE, "design")
    assert code == 0, done
    assert done["status"]["status"] == "awaiting_approval"
    assert done["status"]["next_action"] == f"stageflow stage approve {FEATURE} 1 --by NAME"
    text = cli(root, "stage", "status", FEATURE)
    assert "awaiting_approval" in text.out
    assert "Awaiting approval" in text.out

    code, rejected = cli_json(
        root, "stage", "reject", FEATURE, "design", "--by", "bob", "--note", "two vendors"
    )
    assert code == 0, rejected
    design = rejected["status"]["stages"][0]
    assert design["status"] == "in_progress"
    assert [(f["decision"], f["by"], f["note"]) for f in design["feedback"]] == [
        ("rejected", "bob", "two vendors")
    ]
    text = cli(root, "stage", "status", FEATURE)
    assert "rejected by bob at " in text.out
    assert ": two vendors" in text.out
    code, brief = cli_json(root, "stage", "context", FEATURE, "design")
    assert code == 0
    assert brief["feedback"][0]["note"] == "two vendors"
    assert "Feedback: rejected by bob" in cli(root, "stage", "context", FEATURE, "design").out

    refused = cli(root, "stage", "approve", FEATURE, "design", "--by", "bob")
    assert refused.code == 1
    assert "not-awaiting-approval" in refused.err
    assert cli(root, "stage", "complete", FEATURE, "design").code == 0
    approved = cli(root, "stage", "approve", FEATURE, "design", "--by", "bob", "--note", "ok")
    assert approved.code == 0, approved
    assert "Approved stage 1 (Design)" in approved.out
    code, status = cli_json(root, "stage", "status", FEATURE)
    assert (status["status"], status["current_stage_key"]) == ("active", "build")
    code, history = cli_json(root, "stage", "history", FEATURE)
    operations = [(e["operation"], e["outcome"]) for e in history["history"]]
    assert ("reject", "applied") in operations
    assert ("approve", "refused") in operations
    assert operations[-1] == ("approve", "applied")
    flow = Orchestrator(root=root, workflows=[read_workflow(root / "reviewed.json")])
    assert_replays(flow.status(FEATURE), flow.workflow("reviewed"))


def test_cli_reject_needs_a_note_and_init_an_existing_stage(tmp_path: Path) -> None:
    root = _project(tmp_path, {})
    bad = cli(
        root, "stage", "init", FEATURE, "--workflow", str(root / "reviewed.json"), "--approval", "x"
    )
    assert bad.code == 2
    assert "no such stage" in bad.err
    assert cli(root, "stage", "init", FEATURE, "--workflow", str(root / "reviewed.json")).code == 0
    assert cli(root, "stage", "reject", FEATURE, "design", "--by", "bob").code == 2
    assert cli(root, "stage", "reject", FEATURE, "design", "--by", "b", "--note", " ").code == 2
