"""Review loops, phase approvals, and cooperative stop / resume (issue 5, sections 3-5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest
from clihelp import cli, cli_json

from stageflow import Orchestrator, RuleViolation, RunState, RunStatus, StageStatus, UsageError
from stageflow.config import load_config
from stageflow.errors import UnknownPhase
from stageflow.review import (
    IssueSeverity,
    ReviewIssue,
    ReviewPolicy,
    ReviewResult,
    parse_review,
    run_review,
)
from stageflow.testing import assert_replays, make_orchestrator

PITF = "plan-implement-test-final"
CLEAN = ReviewResult(approved=True)
HIGH = ReviewResult(approved=False, issues=[ReviewIssue("HIGH", "no refunds", "plan.md:3")])
LOW_ONLY = ReviewResult(approved=False, issues=[ReviewIssue("low", "typo")])


def _at_plan_review(flow: Orchestrator) -> RunState:
    flow.init("pay", workflow=PITF)
    flow.phase_complete("pay", "1.1", summary="ideas")
    return flow.phase_complete("pay", "1.2", summary="plan", plan_file="docs/plan.md")


def _phase(run: RunState, phase: str = "1.3") -> object:
    key = next(s.key for s in run.stages if any(p.id == phase for p in s.phases))
    return run.stage(key).phase(phase)


def _project_config(root: Path) -> Path:
    (root / ".stageflow").mkdir(exist_ok=True)
    return root / ".stageflow" / "config.json"


# -- the review model ---------------------------------------------------------------------


def test_a_result_passes_when_approved_or_nothing_reaches_the_threshold() -> None:
    assert CLEAN.passes(IssueSeverity.LOW)
    assert LOW_ONLY.passes(IssueSeverity.MEDIUM)
    assert not LOW_ONLY.passes(IssueSeverity.LOW)
    assert not HIGH.passes(IssueSeverity.HIGH)
    approved_anyway = ReviewResult(approved=True, issues=HIGH.issues)
    assert approved_anyway.passes(IssueSeverity.LOW)


def test_parse_review_reads_the_seed_reviewers_formats() -> None:
    result = parse_review(
        {
            "status": "needs_fixes",
            "issues": [
                {"severity": "high", "file": "a.py", "line": 7, "issue": "crash"},
                {"severity": "LOW", "description": "naming", "suggestion": "rename"},
            ],
            "summary": "two things",
        }
    )
    assert not result.approved
    assert [i.location for i in result.issues] == ["a.py:7", None]
    assert result.issues[1].issue == "naming"
    assert parse_review({"approved": True}).approved


def test_parse_review_reports_every_problem_at_once() -> None:
    with pytest.raises(UsageError) as caught:
        parse_review({"status": "maybe", "issues": [{"severity": "CRITICAL"}, 3]}, "review.json")
    message = str(caught.value)
    assert message.startswith("review.json: ")
    for part in ("status must be", "severity must be one of", "needs the issue's text", "[1]"):
        assert part in message
    with pytest.raises(UsageError, match="contradicts"):
        parse_review({"status": "approved", "approved": False})
    with pytest.raises(UsageError, match="JSON object"):
        parse_review([])


def test_a_policy_refuses_nonsense() -> None:
    with pytest.raises(UsageError, match="on_exhausted"):
        ReviewPolicy(on_exhausted="shrug")
    with pytest.raises(UsageError, match="max_retries"):
        ReviewPolicy(max_retries=-1)
    with pytest.raises(UsageError, match="severity"):
        ReviewPolicy(block_on="SEVERE")


def test_the_policy_comes_from_the_config(tmp_path: Path) -> None:
    _project_config(tmp_path).write_text(
        json.dumps(
            {
                "review": {"block_on_severity": "LOW"},
                "stages": {"plan": {"max_retries": 1}},
                "phases": {"1.3": {"on_exhausted": "fail"}},
            }
        )
    )
    policy = ReviewPolicy.from_config(load_config(tmp_path), "plan", "1.3")
    assert policy == ReviewPolicy(block_on="LOW", max_retries=1, on_exhausted="fail")


# -- the review loop ----------------------------------------------------------------------


def test_a_failing_review_is_retried_then_passes() -> None:
    flow = make_orchestrator()
    _at_plan_review(flow)
    run = flow.review("pay", "1.3", HIGH)
    phase = _phase(run)
    assert phase.status is StageStatus.IN_PROGRESS
    assert phase.attempts == 1
    assert phase.review.decision == "retry"
    run = flow.review("pay", "1.3", CLEAN)
    assert _phase(run).status is StageStatus.COMPLETED
    assert run.current_stage == "implement"  # the last phase completed PLAN
    reviews = [e.review for e in run.history if e.review is not None]
    assert [(r.attempt, r.decision) for r in reviews] == [(1, "retry"), (2, "passed")]
    assert "review passed after 2 attempts" in (run.stage("plan").summary or "")
    assert_replays(run)


def test_issues_below_the_threshold_do_not_block() -> None:
    flow = make_orchestrator()
    _at_plan_review(flow)
    run = flow.review("pay", "1.3", LOW_ONLY)  # default threshold: MEDIUM
    assert _phase(run).status is StageStatus.COMPLETED
    strict = make_orchestrator()
    _at_plan_review(strict)
    run = strict.review("pay", "1.3", LOW_ONLY, policy=ReviewPolicy(block_on="LOW"))
    assert _phase(run).review.decision == "retry"


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_continue_completes_the_phase_with_the_issues_left(retries: int) -> None:
    flow = make_orchestrator()
    _at_plan_review(flow)
    policy = ReviewPolicy(max_retries=retries, on_exhausted="continue")
    decisions = []
    for _ in range(retries + 1):
        run = flow.review("pay", "1.3", HIGH, policy=policy)
        decisions.append(_phase(run).review.decision)
    assert decisions == ["retry"] * retries + ["continue"]
    assert _phase(run).status is StageStatus.COMPLETED
    assert "left 1 issue at or above MEDIUM" in (_phase(run).summary or "")
    assert "no refunds" in (_phase(run).summary or "")
    assert run.current_stage == "implement"
    with pytest.raises(RuleViolation):
        flow.review("pay", "1.3", CLEAN)  # done: no more reviews
    assert_replays(run)


def test_block_waits_for_a_person_who_accepts_or_asks_for_another_round() -> None:
    flow = make_orchestrator()
    _at_plan_review(flow)
    policy = ReviewPolicy(max_retries=1, on_exhausted="block")
    flow.review("pay", "1.3", HIGH, policy=policy)
    run = flow.review("pay", "1.3", HIGH, policy=policy)
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert _phase(run).status is StageStatus.AWAITING_APPROVAL
    with pytest.raises(RuleViolation):
        flow.phase_start("pay", "2.1")
    run = flow.reject("pay", "plan", by="lead", note="fix the refunds")
    assert run.status is RunStatus.ACTIVE
    phase = _phase(run)
    assert phase.status is StageStatus.IN_PROGRESS
    assert phase.attempts == 0
    assert phase.feedback[-1].note == "fix the refunds"
    flow.review("pay", "1.3", HIGH, policy=policy)  # a new round: one retry again
    run = flow.review("pay", "1.3", HIGH, policy=policy)
    assert run.status is RunStatus.AWAITING_APPROVAL
    run = flow.approve("pay", "plan", by="lead", note="acceptable risk")
    assert _phase(run).status is StageStatus.COMPLETED
    assert run.current_stage == "implement"
    assert run.status is RunStatus.ACTIVE
    assert_replays(run)


def test_fail_fails_the_phase_its_stage_and_the_run() -> None:
    flow = make_orchestrator()
    _at_plan_review(flow)
    run = flow.review("pay", "1.3", HIGH, policy=ReviewPolicy(max_retries=0, on_exhausted="fail"))
    assert run.status is RunStatus.FAILED
    assert _phase(run).status is StageStatus.FAILED
    assert run.stage("plan").status is StageStatus.FAILED
    assert "no refunds" in (run.stage("plan").error or "")
    run = flow.resume("pay")
    run = flow.phase_start("pay", "1.3")
    assert _phase(run).attempts == 0  # started again: a new round
    run = flow.review("pay", "1.3", CLEAN)
    assert run.current_stage == "implement"
    assert [e.review.attempt for e in run.history if e.review] == [1, 1]
    assert_replays(run)


def test_only_review_phases_take_reviews_and_only_in_turn() -> None:
    flow = make_orchestrator()
    flow.init("pay", workflow=PITF)
    with pytest.raises(RuleViolation) as not_review:
        flow.review("pay", "1.1", CLEAN)
    assert not_review.value.findings[0].code == "phase-not-review"
    with pytest.raises(RuleViolation) as early:
        flow.review("pay", "1.3", CLEAN)
    assert {f.code for f in early.value.findings} == {"phase-order"}
    with pytest.raises(UnknownPhase):
        flow.review("pay", "9.9", CLEAN)
    with pytest.raises(UsageError):
        flow.review("pay", "1.3", {"status": "approved"})  # type: ignore[arg-type]
    refused = [e for e in flow.history("pay") if e.operation == "review"]
    assert [e.outcome.value for e in refused] == ["refused", "refused"]


def test_run_review_drives_the_loop_with_a_fixer() -> None:
    flow = make_orchestrator()
    _at_plan_review(flow)
    results = [HIGH, HIGH, CLEAN]
    seen: List[int] = []
    fixed: List[ReviewResult] = []

    def reviewer(attempt: int) -> ReviewResult:
        seen.append(attempt)
        return results[attempt - 1]

    run = run_review(flow, "pay", "1.3", reviewer, fixed.append)
    assert seen == [1, 2, 3]
    assert fixed == [HIGH, HIGH]
    assert _phase(run).status is StageStatus.COMPLETED


# -- phase approval -----------------------------------------------------------------------


def test_a_phase_that_needs_approval_waits_once_done() -> None:
    flow = make_orchestrator()
    flow.init("pay", workflow=PITF, approvals=["1.2"])
    flow.phase_complete("pay", "1.1")
    run = flow.phase_complete("pay", "1.2", summary="plan")
    assert run.status is RunStatus.AWAITING_APPROVAL
    assert _phase(run, "1.2").status is StageStatus.AWAITING_APPROVAL
    with pytest.raises(RuleViolation):
        flow.phase_start("pay", "1.3")
    run = flow.reject("pay", "plan", by="lead", note="more detail")
    assert _phase(run, "1.2").status is StageStatus.IN_PROGRESS
    flow.phase_complete("pay", "1.2", summary="plan v2")
    run = flow.approve("pay", "plan", by="lead")
    assert _phase(run, "1.2").status is StageStatus.COMPLETED
    assert [f.decision for f in _phase(run, "1.2").feedback] == ["rejected", "approved"]
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "plan"
    assert_replays(run)


def test_approving_the_last_phase_completes_the_stage() -> None:
    flow = make_orchestrator()
    flow.init("pay", workflow=PITF, approvals=["1.3"])
    flow.phase_complete("pay", "1.1")
    flow.phase_complete("pay", "1.2")
    run = flow.review("pay", "1.3", CLEAN)
    assert run.status is RunStatus.AWAITING_APPROVAL
    run = flow.approve("pay", "plan", by="lead")
    assert run.current_stage == "implement"
    assert run.stage("plan").status is StageStatus.COMPLETED
    assert_replays(run)


def test_approvals_name_stages_or_phases_that_exist() -> None:
    flow = make_orchestrator()
    with pytest.raises(UsageError, match="no such stage or phase"):
        flow.init("pay", workflow=PITF, approvals=["9.9"])


# -- stop and resume ----------------------------------------------------------------------

PHASES = ["1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "3.1", "3.2", "3.3", "4.0", "4.1", "4.2", "4.3"]


def _finish(flow: Orchestrator, phase: str) -> RunState:
    if phase in ("1.3", "2.3", "3.3", "4.1"):
        return flow.review("pay", phase, CLEAN)
    return flow.phase_complete("pay", phase, summary="did " + phase)


@pytest.mark.parametrize("at", range(len(PHASES)))
def test_stop_takes_effect_at_the_end_of_the_running_phase(at: int) -> None:
    flow = make_orchestrator()
    flow.init("pay", workflow=PITF)
    for phase in PHASES[:at]:
        _finish(flow, phase)
    phase = PHASES[at]
    flow.phase_start("pay", phase)
    run = flow.stop("pay", reason="lunch")
    assert run.status is RunStatus.ACTIVE
    assert run.stop_request is not None
    run = _finish(flow, phase)
    if at == len(PHASES) - 1:  # the last phase completed the run: nothing left to stop
        assert run.status is RunStatus.COMPLETED
        assert run.stop_request is None
        assert_replays(run)
        return
    assert run.status is RunStatus.STOPPED
    assert run.stop_request is None
    assert run.stopped_at is not None
    assert _phase(run, phase).status is StageStatus.COMPLETED
    with pytest.raises(RuleViolation):
        flow.phase_start("pay", PHASES[at + 1])
    run = flow.resume("pay")
    assert run.status is RunStatus.ACTIVE
    for rest in PHASES[at + 1 :]:
        run = _finish(flow, rest)
    assert run.status is RunStatus.COMPLETED
    assert_replays(run)


def test_stop_with_no_phase_running_is_immediate_and_once() -> None:
    flow = make_orchestrator()
    flow.init("pay", workflow=PITF)
    run = flow.stop("pay")
    assert run.status is RunStatus.STOPPED
    assert run.current_stage == "plan"
    with pytest.raises(RuleViolation):
        flow.stop("pay")
    flow.resume("pay")
    flow.phase_start("pay", "1.1")
    flow.stop("pay")
    with pytest.raises(RuleViolation) as again:
        flow.stop("pay")
    assert again.value.findings[0].code == "stop-already-requested"


def test_resume_calls_off_a_pending_stop() -> None:
    flow = make_orchestrator()
    flow.init("pay", workflow=PITF)
    flow.phase_start("pay", "1.1")
    flow.stop("pay")
    with pytest.raises(RuleViolation) as running:
        flow.resume("pay", from_phase="1.1")
    assert running.value.findings[0].code == "resume-phase-running"
    run = flow.resume("pay")
    assert run.stop_request is None
    assert run.status is RunStatus.ACTIVE
    run = flow.phase_complete("pay", "1.1")
    assert run.status is RunStatus.ACTIVE
    assert_replays(run)


def test_resume_from_a_phase_never_jumps_past_incomplete_work() -> None:
    flow = make_orchestrator()
    flow.init("pay", workflow=PITF)
    flow.phase_complete("pay", "1.1", summary="a")
    flow.stop("pay")
    with pytest.raises(RuleViolation) as jump:
        flow.resume("pay", from_phase="1.3")
    assert jump.value.findings[0].code == "resume-phase-jump"
    with pytest.raises(RuleViolation) as other:
        flow.resume("pay", from_phase="2.1")
    assert other.value.findings[0].code == "resume-phase-stage"
    with pytest.raises(UnknownPhase):
        flow.resume("pay", from_phase="7.7")
    run = flow.resume("pay", from_phase="1.1")  # an earlier phase starts over
    assert _phase(run, "1.1").status is StageStatus.PENDING
    assert _phase(run, "1.1").summary is None
    assert run.status is RunStatus.ACTIVE
    assert_replays(run)


def test_a_reloaded_config_cannot_switch_off_what_a_later_stage_needs(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path)
    flow.init("pay", workflow=PITF)
    flow.stop("pay")
    _project_config(tmp_path).write_text(json.dumps({"stages": {"implement": {"enabled": False}}}))
    with pytest.raises(UsageError, match="implement"):
        flow.resume("pay", config=load_config(tmp_path))
    assert flow.status("pay").status is RunStatus.STOPPED  # nothing recorded


def test_resume_reloads_the_config(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path)
    flow.init("pay", workflow=PITF)
    flow.stop("pay")
    _project_config(tmp_path).write_text(
        json.dumps({"stages": {"test": {"enabled": False}}, "phases": {"2.2": {"approval": True}}})
    )
    config = load_config(tmp_path)
    run = flow.resume("pay", config=config)
    assert run.stage("test").status is StageStatus.SKIPPED
    assert _phase(run, "2.2").approval
    assert not _phase(run, "1.1").approval
    assert flow.config is config
    for phase in PHASES[:3]:
        run = _finish(flow, phase)
    flow.phase_complete("pay", "2.1")
    run = flow.phase_complete("pay", "2.2")
    assert run.status is RunStatus.AWAITING_APPROVAL
    flow.approve("pay", "implement", by="lead")
    run = flow.review("pay", "2.3", CLEAN)
    assert run.current_stage == "final"  # TEST is skipped
    assert_replays(run)


# -- the CLI ------------------------------------------------------------------------------


def _cli_at_plan_review(root: Path) -> None:
    assert cli(root, "stage", "init", "pay", "--workflow", PITF).code == 0
    assert cli(root, "phase", "complete", "pay", "1.1").code == 0
    assert cli(root, "phase", "complete", "pay", "1.2").code == 0


def test_cli_phase_review_records_attempts(tmp_path: Path) -> None:
    _cli_at_plan_review(tmp_path)
    review = tmp_path / "review.json"
    review.write_text(
        json.dumps({"status": "changes_requested", "issues": [{"severity": "HIGH", "issue": "x"}]})
    )
    code, out = cli_json(tmp_path, "phase", "review", "pay", "1.3", "--result", str(review))
    assert code == 0, out
    assert "fix them and review again (3 retries left)" in out["message"]
    phase = out["status"]["stages"][0]["phases"][2]
    assert phase["attempts"] == 1
    assert phase["review"]["decision"] == "retry"
    assert out["status"]["next_action"] == "stageflow phase review pay 1.3"
    review.write_text(json.dumps({"status": "approved"}))
    result = cli(tmp_path, "phase", "review", "pay", "1.3", "--result", str(review))
    assert result.code == 0
    assert "passed; the phase is done" in result.out
    history = cli(tmp_path, "stage", "history", "pay").out
    assert "review attempt 1: changes requested -> retry" in history


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{not json", "not valid JSON"), ('{"status": "meh"}', "status must be")],
)
def test_cli_phase_review_rejects_bad_results(tmp_path: Path, content: str, expected: str) -> None:
    _cli_at_plan_review(tmp_path)
    review = tmp_path / "review.json"
    review.write_text(content)
    result = cli(tmp_path, "phase", "review", "pay", "1.3", "--result", str(review))
    assert result.code == 2
    assert expected in result.err
    assert "review.json" in result.err
    missing = cli(tmp_path, "phase", "review", "pay", "1.3", "--result", "nope.json")
    assert missing.code == 2
    assert "cannot read the review nope.json" in missing.err


def test_cli_stop_and_resume(tmp_path: Path) -> None:
    _cli_at_plan_review(tmp_path)
    assert cli(tmp_path, "phase", "start", "pay", "1.3").code == 0
    code, out = cli_json(tmp_path, "stage", "stop", "pay", "--reason", "end of day")
    assert code == 0
    assert "stops when the running phase ends" in out["message"]
    assert out["status"]["stop_request"]["reason"] == "end of day"
    review = tmp_path / "review.json"
    review.write_text(json.dumps({"status": "approved"}))
    ended = cli(tmp_path, "phase", "review", "pay", "1.3", "--result", str(review))
    assert ended.code == 0
    assert "stage plan completed" in ended.out
    assert "the run stopped, as asked" in ended.out
    status = cli(tmp_path, "stage", "status", "pay")
    assert "stopped" in status.out
    assert "Next: stageflow stage resume pay" in status.out
    refused = cli(tmp_path, "phase", "start", "pay", "2.1")
    assert refused.code == 1
    assert "resume" in refused.err
    code, out = cli_json(tmp_path, "stage", "resume", "pay", "--from-phase", "2.1")
    assert code == 0, out
    assert out["status"]["status"] == "active"
    assert cli(tmp_path, "stage", "resume", "pay").code == 1  # nothing to resume


def test_the_fixer_gets_the_blocking_issues_in_the_stage_context() -> None:
    flow = make_orchestrator()
    _at_plan_review(flow)
    assert flow.context("pay", "plan").review_issues == ()
    mixed = ReviewResult(approved=False, issues=[*HIGH.issues, *LOW_ONLY.issues])
    flow.review("pay", "1.3", mixed)
    brief = flow.context("pay", "plan")
    assert brief.phase == "1.3"
    assert brief.review_issues == HIGH.issues  # the LOW one does not block
    assert brief.to_dict()["review_issues"][0]["location"] == "plan.md:3"
    flow.review("pay", "1.3", CLEAN)
    assert flow.context("pay", "plan").review_issues == ()


# -- regressions ----------------------------------------------------------------------------


def test_a_waiting_phase_is_written_and_read_back_through_the_files_store(tmp_path: Path) -> None:
    assert cli(tmp_path, "stage", "init", "pay", "--workflow", PITF, "--approval", "1.1").code == 0
    assert cli(tmp_path, "phase", "complete", "pay", "1.1").code == 0
    code, out = cli_json(tmp_path, "stage", "status", "pay")
    assert code == 0, out
    assert out["status"] == "awaiting_approval"
    assert cli(tmp_path, "stage", "approve", "pay", "plan", "--by", "bob").code == 0
    _project_config(tmp_path).write_text(
        json.dumps({"phases": {"1.3": {"max_retries": 0, "on_exhausted": "block"}}})
    )
    review = tmp_path / "review.json"
    review.write_text(
        json.dumps({"status": "blocked", "issues": [{"severity": "high", "issue": "x"}]})
    )
    assert cli(tmp_path, "phase", "complete", "pay", "1.2").code == 0
    assert cli(tmp_path, "phase", "review", "pay", "1.3", "--result", str(review)).code == 0
    code, out = cli_json(tmp_path, "stage", "status", "pay")
    assert out["status"] == "awaiting_approval", out
    assert (
        cli(tmp_path, "stage", "reject", "pay", "plan", "--by", "bob", "--note", "again").code == 0
    )


def test_a_phase_aborted_while_waiting_is_done_again_after_resume() -> None:
    flow = make_orchestrator()
    flow.init("pay", workflow=PITF, approvals=["1.1"])
    flow.phase_complete("pay", "1.1")
    flow.abort("pay", reason="pause")
    run = flow.resume("pay")
    assert _phase(run, "1.1").status is StageStatus.IN_PROGRESS
    run = flow.phase_complete("pay", "1.1")
    assert run.status is RunStatus.AWAITING_APPROVAL  # and asks again
    assert_replays(run)


def test_a_rollback_with_a_stop_pending_stops_the_run() -> None:
    flow = make_orchestrator()
    flow.init("pay", workflow=PITF)
    flow.phase_start("pay", "1.1")
    flow.stop("pay")
    run = flow.rollback("pay", "plan", reason="redo")
    assert run.status is RunStatus.STOPPED
    assert run.stop_request is None
    assert [e.operation for e in run.history[-2:]] == ["rollback", "stop"]
    assert_replays(run)


def test_inline_phases_cannot_need_approval() -> None:
    flow = make_orchestrator()
    with pytest.raises(UsageError, match="inline phase"):
        flow.init("pay", workflow=PITF, approvals=["2.0"])


def test_run_review_numbers_attempts_from_the_round_under_way() -> None:
    flow = make_orchestrator()
    _at_plan_review(flow)
    flow.review("pay", "1.3", HIGH)
    seen: List[int] = []

    def reviewer(attempt: int) -> ReviewResult:
        seen.append(attempt)
        return CLEAN

    run = run_review(flow, "pay", "1.3", reviewer)
    assert seen == [2]
    assert [e.review.attempt for e in run.history if e.review] == [1, 2]


def test_a_failed_review_phase_says_how_to_go_on() -> None:
    flow = make_orchestrator()
    _at_plan_review(flow)
    flow.review("pay", "1.3", HIGH, policy=ReviewPolicy(max_retries=0, on_exhausted="fail"))
    flow.resume("pay")
    with pytest.raises(RuleViolation) as refused:
        flow.review("pay", "1.3", CLEAN)
    assert "phase start" in str(refused.value.findings[0].recommendation)


def test_the_config_accepts_severities_in_any_case(tmp_path: Path) -> None:
    _project_config(tmp_path).write_text(json.dumps({"review": {"block_on_severity": "low"}}))
    assert ReviewPolicy.from_config(load_config(tmp_path), "plan", "1.3").block_on.value == "LOW"


def test_a_workflow_cannot_declare_approval_of_an_inline_phase() -> None:
    from stageflow.errors import WorkflowDefinitionError
    from stageflow.workflow import PhaseSpec, StageSpec, WorkflowSpec

    with pytest.raises(WorkflowDefinitionError, match="inline phase cannot need approval"):
        WorkflowSpec(
            "w", [StageSpec("a", "A", phases=[PhaseSpec("1", "x", kind="inline", approval=True)])]
        )
