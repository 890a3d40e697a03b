"""Phases and skipped stages: the built-in plan-implement-test-final workflow, golden
schedules of every built-in workflow with TEST on and off, the phase rules, the plan file,
replay, and the ``stageflow phase`` commands."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

from stageflow import (
    EIGHT_STAGE,
    GateFailed,
    Outcome,
    Registry,
    RuleViolation,
    RunState,
    RunStatus,
    StageContext,
    StageSpec,
    StageStatus,
    UnknownPhase,
    UsageError,
    WorkflowSpec,
)
from stageflow.cli import main
from stageflow.demo import write_outputs
from stageflow.engine import Orchestrator
from stageflow.findings import Finding
from stageflow.lifecycle import replay
from stageflow.run import Event
from stageflow.serde import run_from_document, run_to_document
from stageflow.storage.memory import MemoryStore
from stageflow.testing import FakeClock, assert_replays, make_orchestrator
from stageflow.workflow import PLAN_IMPLEMENT_TEST_FINAL, PhaseSpec, builtin_workflows

PITF = PLAN_IMPLEMENT_TEST_FINAL
F = "feat"

PHASES = {
    "plan": [("1.1", "Brainstorm", "work"), ("1.2", "Write Plan", "work"),
             ("1.3", "Plan Review", "review")],
    "implement": [("2.0", "Classification", "inline"), ("2.1", "Implementation", "dispatch"),
                  ("2.2", "Simplify", "work"), ("2.3", "Implement Review", "review")],
    "test": [("3.1", "Test Plan", "work"), ("3.2", "Write Tests", "work"),
             ("3.3", "Test Review", "review")],
    "final": [("4.0", "Document Updates", "work"), ("4.1", "Final Review", "review"),
              ("4.2", "Suggest Extensions", "work"), ("4.3", "Completion", "work")],
}  # fmt: skip


def snapshot(run: RunState) -> str:
    """Every stage's status and its phases' statuses, on one line."""
    parts = []
    for record in run.stages:
        phases = " ".join(f"{p.id}={p.status.value}" for p in record.phases)
        parts.append(f"{record.key}={record.status.value}" + (f"[{phases}]" if phases else ""))
    return f"{run.status.value}@{run.current_stage or '-'}: " + "; ".join(parts)


def short(run: RunState) -> str:
    """Stage and phase statuses as letters: p(ending) >(in progress) x(done) -(skipped)."""
    letter = {"pending": "p", "in_progress": ">", "completed": "x", "skipped": "-", "failed": "!"}
    parts = []
    for record in run.stages:
        inner = "".join(letter[p.status.value] for p in record.phases)
        parts.append(letter[record.status.value] + (f"({inner})" if inner else ""))
        parts[-1] = record.key[0].upper() + parts[-1]
    return " ".join(parts)


@pytest.fixture
def flow(tmp_path: Path) -> Orchestrator:
    return make_orchestrator(tmp_path, clock=FakeClock())


# -- the built-in workflow ------------------------------------------------------------------


def test_plan_implement_test_final_is_built_in_with_the_seed_phases() -> None:
    assert "plan-implement-test-final" in builtin_workflows()
    assert PITF.keys == ("plan", "implement", "test", "final")
    for stage in PITF.stages:
        assert [(p.id, p.name, p.kind) for p in stage.phases] == PHASES[stage.key]
        assert stage.enabled
    # FINAL needs IMPLEMENT only, so TEST can be skipped.
    assert PITF.stage("final").prerequisites == ("implement",)


def test_the_builtin_document_passes_the_workflow_schema() -> None:
    from stageflow.schema import schema_errors
    from stageflow.workflow import spec_from_document, spec_to_document

    path = Path(__file__).parent.parent / "stageflow/workflows/plan-implement-test-final.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert schema_errors("workflow", document) == []
    assert spec_from_document(spec_to_document(PITF)) == PITF


# -- golden schedules -------------------------------------------------------------------------


def drive_pitf(flow: Orchestrator, skip: Sequence[str] = ()) -> Tuple[RunState, List[str]]:
    """Start, then complete every phase of every enabled stage in order; the snapshots."""
    run = flow.init(F, workflow=PITF.name, skip=tuple(skip))
    seen = [short(run)]
    while run.current_stage is not None:
        record = run.stage(run.current_stage)
        for phase in record.phases:
            if phase.status is not StageStatus.PENDING or phase.kind == "inline":
                continue
            run = flow.phase_start(F, phase.id)
            seen.append(short(run))
            run = flow.phase_complete(F, phase.id, summary=f"{phase.name} done")
            seen.append(short(run))
    assert_replays(run)
    return run, seen


def test_golden_schedule_pitf_with_test() -> None:
    run, seen = drive_pitf(make_orchestrator())
    assert seen == [
        "P>(ppp) Ip(pppp) Tp(ppp) Fp(pppp)",
        "P>(>pp) Ip(pppp) Tp(ppp) Fp(pppp)",
        "P>(xpp) Ip(pppp) Tp(ppp) Fp(pppp)",
        "P>(x>p) Ip(pppp) Tp(ppp) Fp(pppp)",
        "P>(xxp) Ip(pppp) Tp(ppp) Fp(pppp)",
        "P>(xx>) Ip(pppp) Tp(ppp) Fp(pppp)",
        "Px(xxx) I>(pppp) Tp(ppp) Fp(pppp)",
        "Px(xxx) I>(x>pp) Tp(ppp) Fp(pppp)",  # 2.0 (inline) completes as 2.1 starts
        "Px(xxx) I>(xxpp) Tp(ppp) Fp(pppp)",
        "Px(xxx) I>(xx>p) Tp(ppp) Fp(pppp)",
        "Px(xxx) I>(xxxp) Tp(ppp) Fp(pppp)",
        "Px(xxx) I>(xxx>) Tp(ppp) Fp(pppp)",
        "Px(xxx) Ix(xxxx) T>(ppp) Fp(pppp)",
        "Px(xxx) Ix(xxxx) T>(>pp) Fp(pppp)",
        "Px(xxx) Ix(xxxx) T>(xpp) Fp(pppp)",
        "Px(xxx) Ix(xxxx) T>(x>p) Fp(pppp)",
        "Px(xxx) Ix(xxxx) T>(xxp) Fp(pppp)",
        "Px(xxx) Ix(xxxx) T>(xx>) Fp(pppp)",
        "Px(xxx) Ix(xxxx) Tx(xxx) F>(pppp)",
        "Px(xxx) Ix(xxxx) Tx(xxx) F>(>ppp)",
        "Px(xxx) Ix(xxxx) Tx(xxx) F>(xppp)",
        "Px(xxx) Ix(xxxx) Tx(xxx) F>(x>pp)",
        "Px(xxx) Ix(xxxx) Tx(xxx) F>(xxpp)",
        "Px(xxx) Ix(xxxx) Tx(xxx) F>(xx>p)",
        "Px(xxx) Ix(xxxx) Tx(xxx) F>(xxxp)",
        "Px(xxx) Ix(xxxx) Tx(xxx) F>(xxx>)",
        "Px(xxx) Ix(xxxx) Tx(xxx) Fx(xxxx)",
    ]
    assert run.status is RunStatus.COMPLETED
    operations = [(e.operation, e.stage, e.phase) for e in run.history]
    completes = [(op, stage) for op, stage, phase in operations if op == "complete"]
    assert completes == [("complete", k) for k in PITF.keys]
    assert run.stage("plan").summary == (
        "1.1 Brainstorm: Brainstorm done\n"
        "1.2 Write Plan: Write Plan done\n"
        "1.3 Plan Review: Plan Review done"
    )


def test_golden_schedule_pitf_without_test() -> None:
    run, seen = drive_pitf(make_orchestrator(), skip=("test",))
    assert seen[0] == "P>(ppp) Ip(pppp) T-(---) Fp(pppp)"
    # IMPLEMENT's last phase goes straight to FINAL.
    assert "Px(xxx) I>(xxx>) T-(---) Fp(pppp)" in seen
    following = seen[seen.index("Px(xxx) I>(xxx>) T-(---) Fp(pppp)") + 1]
    assert following == "Px(xxx) Ix(xxxx) T-(---) F>(pppp)"
    assert seen[-1] == "Px(xxx) Ix(xxxx) T-(---) Fx(xxxx)"
    assert len(seen) == 1 + 2 * (3 + 3 + 4)
    assert run.status is RunStatus.COMPLETED
    assert run.history[0].skip == ("test",)
    assert [e.stage for e in run.history if e.operation == "complete"] == [
        "plan",
        "implement",
        "final",
    ]
    moves = [(e.stage_before, e.stage_after) for e in run.history if e.operation == "complete"]
    assert ("implement", "final") in moves


def test_a_workflow_variant_with_test_disabled_skips_it_the_same_way() -> None:
    stages = tuple(
        StageSpec(s.key, s.name, prerequisites=s.prerequisites, phases=s.phases)
        if s.key != "test"
        else StageSpec(s.key, s.name, prerequisites=s.prerequisites, phases=s.phases, enabled=False)
        for s in PITF.stages
    )
    variant = WorkflowSpec("pitf-no-test", stages)
    flow = make_orchestrator(workflows=[variant])
    run = flow.init(F)
    assert short(run) == "P>(ppp) Ip(pppp) T-(---) Fp(pppp)"
    assert run.history[0].skip == ()
    for phase in ("1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "4.0", "4.1", "4.2", "4.3"):
        run = flow.phase_complete(F, phase)
    assert short(run) == "Px(xxx) Ix(xxxx) T-(---) Fx(xxxx)"
    assert run.status is RunStatus.COMPLETED
    assert_replays(run, variant)


@pytest.mark.parametrize("skip", [(), ("contracts",)], ids=["all", "without-contracts"])
def test_golden_schedule_eight_stage(tmp_path: Path, skip: Tuple[str, ...]) -> None:
    """The 8-stage workflow has no phases; skipping works for it too when no later stage
    needs the skipped one (a stage that others need cannot be skipped)."""
    flow = make_orchestrator(tmp_path, default_gates=False)
    if skip:
        with pytest.raises(UsageError, match="unreachable"):
            flow.init(F, skip=skip)
        # Skipping the last stage is allowed: nothing depends on it.
        skip = ("release",)
    run = flow.init(F, skip=skip)
    seen = [snapshot(run)]
    while run.current_stage is not None:
        run = flow.complete(F, run.current_stage)
        seen.append(snapshot(run))
    expected_stages = [k for k in EIGHT_STAGE.keys if k not in skip]
    assert len(seen) == len(expected_stages) + 1
    for i, key in enumerate(expected_stages):
        assert f"{key}=in_progress" in seen[i]
    assert seen[-1].startswith("completed@-")
    for key in skip:
        assert all(f"{key}=skipped" in line for line in seen)
    assert_replays(run)


# -- phase rules ---------------------------------------------------------------------------


def test_completing_a_phase_out_of_order_is_refused_and_recorded(flow: Orchestrator) -> None:
    flow.init(F, workflow=PITF.name)
    with pytest.raises(RuleViolation) as caught:
        flow.phase_complete(F, "1.3")
    codes = [f.code for f in caught.value.findings]
    assert codes == ["phase-order", "phase-order"]
    assert "1.1 (Brainstorm)" in caught.value.findings[0].message
    assert "1.2 (Write Plan)" in caught.value.findings[1].message
    run = caught.value.run
    assert run is not None
    last = run.history[-1]
    assert (last.operation, last.outcome, last.phase) == ("phase_complete", Outcome.REFUSED, "1.3")
    assert short(run) == "P>(ppp) Ip(pppp) Tp(ppp) Fp(pppp)"
    with pytest.raises(RuleViolation, match=r"earlier phase 1\.1"):
        flow.phase_start(F, "1.2")
    assert_replays(flow.status(F))


def test_a_phase_of_another_stage_is_refused(flow: Orchestrator) -> None:
    flow.init(F, workflow=PITF.name, skip=("test",))
    with pytest.raises(RuleViolation) as caught:
        flow.phase_start(F, "2.1")
    assert [f.code for f in caught.value.findings] == ["phase-not-current-stage"]
    with pytest.raises(RuleViolation, match="skipped in this run"):
        flow.phase_start(F, "3.1")
    assert_replays(flow.status(F))


def test_wrong_status_is_refused(flow: Orchestrator) -> None:
    flow.init(F, workflow=PITF.name, skip=("1.1",))
    with pytest.raises(RuleViolation, match="skipped in this run"):
        flow.phase_start(F, "1.1")
    flow.phase_start(F, "1.2")
    with pytest.raises(RuleViolation, match="already in progress") as caught:
        flow.phase_start(F, "1.2")
    assert caught.value.findings[0].code == "phase-in-progress"
    flow.phase_complete(F, "1.2")
    with pytest.raises(RuleViolation, match="already completed"):
        flow.phase_complete(F, "1.2")
    with pytest.raises(RuleViolation, match="already completed"):
        flow.phase_fail(F, "1.2", reason="late")
    assert_replays(flow.status(F))


def test_unknown_phase_is_a_usage_error_and_changes_nothing(flow: Orchestrator) -> None:
    before = flow.init(F, workflow=PITF.name)
    with pytest.raises(UnknownPhase, match=r"unknown phase .9\.9.") as caught:
        flow.phase_start(F, "9.9")
    assert caught.value.phase == "9.9"
    assert caught.value.exit_code == 2
    assert flow.status(F) == before
    eight = make_orchestrator()
    eight.init(F)
    with pytest.raises(UnknownPhase, match="it has no phases"):
        eight.phase_start(F, "1.1")


def test_inline_phase_completes_when_the_next_phase_starts(flow: Orchestrator) -> None:
    flow.init(F, workflow=PITF.name)
    for phase in ("1.1", "1.2", "1.3"):
        flow.phase_complete(F, phase)
    run = flow.status(F)
    assert run.stage("implement").phase("2.0").status is StageStatus.PENDING
    run = flow.phase_start(F, "2.1")
    inline = run.stage("implement").phase("2.0")
    assert inline.status is StageStatus.COMPLETED
    assert inline.completed_at == run.stage("implement").phase("2.1").started_at
    assert_replays(run)


def test_an_inline_phase_can_also_be_recorded_explicitly(flow: Orchestrator) -> None:
    flow.init(F, workflow=PITF.name)
    for phase in ("1.1", "1.2", "1.3"):
        flow.phase_complete(F, phase)
    run = flow.phase_complete(F, "2.0", summary="3 easy tasks, 1 hard")
    assert run.stage("implement").phase("2.0").summary == "3 easy tasks, 1 hard"
    run = flow.phase_complete(F, "2.1")
    assert run.stage("implement").phase("2.1").status is StageStatus.COMPLETED
    assert_replays(run)


def test_a_stage_with_phases_cannot_be_completed_directly(flow: Orchestrator) -> None:
    flow.init(F, workflow=PITF.name)
    flow.phase_complete(F, "1.1")
    with pytest.raises(RuleViolation) as caught:
        flow.complete(F, "plan")
    assert [f.code for f in caught.value.findings] == ["phase-incomplete", "phase-incomplete"]
    report = flow.validate(F, "plan")
    assert not report.passed


def test_a_phase_failure_fails_the_stage_and_the_run_and_resumes(flow: Orchestrator) -> None:
    flow.init(F, workflow=PITF.name)
    flow.phase_start(F, "1.1")
    run = flow.phase_fail(F, "1.1", reason="no network")
    assert run.status is RunStatus.FAILED
    assert run.stage("plan").status is StageStatus.FAILED
    assert run.stage("plan").error == "phase 1.1 failed: no network"
    assert run.stage("plan").phase("1.1").error == "no network"
    with pytest.raises(RuleViolation, match="is failed"):
        flow.phase_start(F, "1.1")
    with pytest.raises(UsageError, match="non-empty reason"):
        flow.phase_fail(F, "1.1", reason=" ")
    run = flow.resume(F, "plan")
    assert run.stage("plan").phase("1.1").status is StageStatus.FAILED
    run = flow.phase_start(F, "1.1")
    assert run.stage("plan").phase("1.1").status is StageStatus.IN_PROGRESS
    assert run.stage("plan").phase("1.1").error is None
    run = flow.phase_complete(F, "1.1")
    assert_replays(run)


def test_disabled_phases_are_skipped(flow: Orchestrator) -> None:
    run = flow.init(F, workflow=PITF.name, skip=("4.2", "2.2"))
    assert run.stage("final").phase("4.2").status is StageStatus.SKIPPED
    for phase in ("1.1", "1.2", "1.3", "2.1", "2.3"):  # 2.2 skipped: 2.3 may follow 2.1
        run = flow.phase_complete(F, phase)
    assert run.current_stage == "test"
    for phase in ("3.1", "3.2", "3.3", "4.0", "4.1", "4.3"):
        run = flow.phase_complete(F, phase)
    assert run.status is RunStatus.COMPLETED
    assert run.stage("implement").phase("2.2").status is StageStatus.SKIPPED
    assert_replays(run)


def test_a_phase_disabled_in_the_workflow_is_skipped() -> None:
    plan = StageSpec(
        "plan",
        "PLAN",
        phases=(PhaseSpec("1", "One"), PhaseSpec("2", "Two", enabled=False), PhaseSpec("3", "3")),
    )
    spec = WorkflowSpec("two-phase", (plan, StageSpec("ship", "Ship")))
    flow = make_orchestrator(workflows=[spec])
    run = flow.init(F)
    assert [p.status for p in run.stage("plan").phases] == [
        StageStatus.PENDING,
        StageStatus.SKIPPED,
        StageStatus.PENDING,
    ]
    flow.phase_complete(F, "1")
    run = flow.phase_complete(F, "3")
    assert run.current_stage == "ship"
    assert_replays(run, spec)


@pytest.mark.parametrize(
    ("skip", "message"),
    [
        (("nope",), "no such stage or phase"),
        (("plan",), "unreachable"),
        (("1.1", "1.2", "1.3"), "every phase is disabled"),
        (("test", "test"), "twice"),
    ],
)
def test_bad_skips_are_usage_errors(
    flow: Orchestrator, skip: Tuple[str, ...], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        flow.init(F, workflow=PITF.name, skip=skip)
    assert flow.runs(F) == []


def test_a_single_string_skip_is_refused(flow: Orchestrator) -> None:
    with pytest.raises(UsageError, match="not a single string"):
        flow.init(F, workflow=PITF.name, skip="test")


# -- gates -----------------------------------------------------------------------------------


def test_the_last_phase_completes_the_stage_through_its_gates(tmp_path: Path) -> None:
    calls: List[str] = []
    registry = Registry()

    @registry.gate("plan", name="plan-file-recorded")
    def plan_recorded(context: StageContext) -> List[Finding]:
        calls.append(str(context.run.plan_file))
        if context.run.plan_file is None:
            return [Finding("no-plan", "phase 1.2 recorded no plan file")]
        if not (context.root / context.run.plan_file).exists():
            return [Finding("plan-missing", f"{context.run.plan_file} does not exist")]
        return []

    flow = make_orchestrator(tmp_path, registry=registry)
    flow.init(F, workflow=PITF.name)
    flow.phase_complete(F, "1.1")
    flow.phase_complete(F, "1.2", plan_file="docs/plans/feat.md")
    with pytest.raises(GateFailed) as caught:
        flow.phase_complete(F, "1.3", summary="approved")
    assert [f.code for f in caught.value.findings] == ["plan-missing"]
    run = caught.value.run
    assert run is not None
    assert run.stage("plan").status is StageStatus.FAILED
    assert run.stage("plan").phase("1.3").status is StageStatus.COMPLETED
    assert [(e.operation, e.outcome) for e in run.history[-2:]] == [
        ("phase_complete", Outcome.APPLIED),
        ("complete", Outcome.FAILED),
    ]
    assert run.current_stage == "plan"
    with pytest.raises(RuleViolation, match="already completed"):
        flow.phase_complete(F, "1.3")
    (tmp_path / "docs/plans").mkdir(parents=True)
    (tmp_path / "docs/plans/feat.md").write_text("# plan\n", encoding="utf-8")
    run = flow.complete(F, "plan")
    assert run.current_stage == "implement"
    assert run.stage("plan").summary == "1.3 Plan Review: approved"
    assert calls == ["docs/plans/feat.md", "docs/plans/feat.md"]
    assert_replays(run)


# -- plan file -------------------------------------------------------------------------------


def test_plan_file_is_persisted_replayed_and_read_back(tmp_path: Path) -> None:
    flow = Orchestrator(root=tmp_path, clock=FakeClock(), actor="tester")  # files store
    flow.init(F, workflow=PITF.name, skip=("test",))
    flow.phase_complete(F, "1.1")
    run = flow.phase_complete(F, "1.2", plan_file="docs/plans/2026-01-01-feat-plan.md")
    assert run.plan_file == "docs/plans/2026-01-01-feat-plan.md"
    assert run.history[-1].plan_file == run.plan_file
    for phase in ("1.3", "2.1", "2.2"):
        run = flow.phase_complete(F, phase)
    fresh = Orchestrator(root=tmp_path, clock=FakeClock(), actor="tester")
    again = fresh.status(F)
    assert again.plan_file == "docs/plans/2026-01-01-feat-plan.md"
    assert again == run
    assert_replays(again)
    # The stage-status view (the CLI's fast path) shows it.
    code, document = cli_json("stage", "status", F, root=tmp_path)
    assert code == 0
    assert document["plan_file"] == "docs/plans/2026-01-01-feat-plan.md"


@pytest.mark.parametrize(
    "plan_file", ["/etc/passwd", "../outside.md", "docs/*.md", ".tmp/sessions/x.md", ""]
)
def test_bad_plan_files_are_usage_errors(flow: Orchestrator, plan_file: str) -> None:
    before = flow.init(F, workflow=PITF.name)
    with pytest.raises(UsageError):
        flow.phase_complete(F, "1.1", plan_file=plan_file)
    assert flow.status(F) == before


def test_rollback_resets_phases_and_keeps_skipped_ones(flow: Orchestrator) -> None:
    flow.init(F, workflow=PITF.name, skip=("test", "4.2"))
    for phase in ("1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "4.0"):
        flow.phase_complete(F, phase, plan_file="p.md" if phase == "1.2" else None)
    with pytest.raises(RuleViolation, match="skipped in this run"):
        flow.rollback(F, "test", reason="redo tests")
    run = flow.rollback(F, "implement", reason="redo")
    assert short(run) == "Px(xxx) Ip(pppp) T-(---) Fp(pp-p)"  # current, pending as before
    assert run.current_stage == "implement"
    assert run.plan_file == "p.md"
    assert run.stage("implement").summary is None
    assert_replays(run)


# -- documents -------------------------------------------------------------------------------


def test_documents_without_phases_keep_their_shape_and_old_ones_read() -> None:
    flow = make_orchestrator()
    run = flow.init(F)
    document = run_to_document(run)
    for stage in document["stages"]:
        assert "phases" not in stage
        assert "summary" not in stage
    for key in ("phase", "summary", "plan_file", "skip"):
        assert key not in document["history"][0]
    assert "plan_file" not in document
    assert run_from_document(document, "mem") == run


def test_documents_with_phases_round_trip_and_pass_the_schema() -> None:
    from stageflow.schema import schema_errors

    run, _ = drive_pitf(make_orchestrator(), skip=("test",))
    document = run_to_document(run)
    assert schema_errors("run", json.loads(json.dumps(document))) == []
    assert run_from_document(document, "mem") == run
    assert document["stages"][2]["status"] == "skipped"


def test_a_document_with_the_current_stage_skipped_is_refused() -> None:
    from stageflow.errors import StateFileError

    run = make_orchestrator().init(F, workflow=PITF.name, skip=("test",))
    document = run_to_document(run)
    document["current_stage"] = "test"
    with pytest.raises(StateFileError, match="skipped in this run"):
        run_from_document(document, "mem")


def test_replay_reproduces_skips_from_the_init_event() -> None:
    run = make_orchestrator().init(F, workflow=PITF.name, skip=("test", "4.2"))
    rebuilt = replay(PITF, F, 1, run.history)
    assert rebuilt == run
    plain = replay(PITF, F, 1, (Event(**{**_fields(run.history[0]), "skip": ()}),))
    assert plain.stage("test").status is StageStatus.PENDING


def _fields(event: Event) -> Dict[str, Any]:
    import attrs

    return attrs.asdict(event, recurse=False)


def test_memory_store_orchestrators_share_runs() -> None:
    store = MemoryStore()
    one = make_orchestrator(store=store)
    one.init(F, workflow=PITF.name)
    one.phase_start(F, "1.1")
    two = make_orchestrator(store=store)
    run = two.phase_complete(F, "1.1", summary="s")
    assert run.stage("plan").phase("1.1").summary == "s"
    assert_replays(run)


# -- CLI -------------------------------------------------------------------------------------


def cli(*argv: str, root: Optional[Path] = None) -> Tuple[int, str, str]:
    args = list(argv) + (["--root", str(root)] if root is not None else [])
    out, err = io.StringIO(), io.StringIO()
    code = main(args, out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def cli_json(*argv: str, root: Optional[Path] = None) -> Tuple[int, Dict[str, Any]]:
    code, out, _ = cli(*argv, "--json", root=root)
    document = json.loads(out)
    assert isinstance(document, dict)
    return code, document


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    code, _, err = cli("stage", "init", F, "--workflow", PITF.name, "--skip", "test", root=tmp_path)
    assert code == 0, err
    return tmp_path


def test_cli_init_with_skip_and_status_lists_phases(project: Path) -> None:
    code, out, _ = cli("stage", "status", F, root=project)
    assert code == 0
    assert "Progress: 0/3 stages completed (0%), 1 skipped" in out
    assert "[-] 3. TEST (test) - skipped" in out
    assert "[ ] 2.0 Classification (inline) - pending" in out
    assert "Next: stageflow phase start feat 1.1" in out
    code, document = cli_json("stage", "status", F, root=project)
    assert code == 0
    assert document["current_phase"] == "1.1"
    assert document["progress"] == {"completed": 0, "total": 3, "percent": 0, "skipped": 1}
    implement = document["stages"][1]
    assert [(p["id"], p["name"], p["kind"], p["status"]) for p in implement["phases"]] == [
        (i, n, k, "pending") for i, n, k in PHASES["implement"]
    ]
    assert document["stages"][2]["status"] == "skipped"


def test_cli_phase_commands_text(project: Path) -> None:
    code, out, _ = cli("phase", "start", F, "1.1", root=project)
    assert code == 0
    assert out.startswith("Started phase 1.1 (Brainstorm) of stage 1 (PLAN) of 'feat'")
    assert "[>] 1.1 Brainstorm (work) - in_progress" in out
    code, out, _ = cli("phase", "complete", F, "1.1", "--summary", "two ideas", root=project)
    assert code == 0
    assert out.startswith("Completed phase 1.1 (Brainstorm)")
    code, out, _ = cli(
        "phase", "complete", F, "1.2", "--plan-file", "docs/plans/feat.md", root=project
    )
    assert code == 0
    assert "Plan file: docs/plans/feat.md" in out
    code, out, _ = cli("phase", "complete", F, "1.3", root=project)
    assert code == 0
    assert "stage plan completed, current stage: 2 (IMPLEMENT)" in out
    code, out, _ = cli("stage", "history", F, root=project)
    assert "phase_complete plan phase 1.2 applied" in out
    assert "plan file: docs/plans/feat.md" in out
    assert "skipped: test" in out


def test_cli_phase_commands_json_and_exit_codes(project: Path) -> None:
    code, document = cli_json("phase", "start", F, "1.1", root=project)
    assert code == 0
    assert document["ok"] is True
    assert document["status"]["next_action"] == "stageflow phase complete feat 1.1"
    # Out of order: refused, exit 1, the finding names the phase, recorded.
    code, document = cli_json("phase", "complete", F, "1.3", root=project)
    assert code == 1
    assert document["ok"] is False
    assert document["error"] == "RuleViolation"
    assert [f["code"] for f in document["findings"]] == ["phase-order", "phase-order"]
    assert "1.1 (Brainstorm)" in document["findings"][0]["message"]
    assert document["status"]["stages"][0]["phases"][2]["status"] == "pending"
    code, history = cli_json("stage", "history", F, root=project)
    assert history["history"][-1]["operation"] == "phase_complete"
    assert history["history"][-1]["outcome"] == "refused"
    # A phase of another stage: refused, exit 1.
    code, document = cli_json("phase", "start", F, "2.1", root=project)
    assert code == 1
    assert document["findings"][0]["code"] == "phase-not-current-stage"
    # Wrong status: exit 1.
    code, document = cli_json("phase", "start", F, "1.1", root=project)
    assert code == 1
    assert document["findings"][0]["code"] == "phase-in-progress"
    # Unknown phase id: exit 2, nothing recorded.
    before = cli_json("stage", "history", F, root=project)[1]
    code, document = cli_json("phase", "start", F, "9.9", root=project)
    assert code == 2
    assert document["error"] == "UnknownPhase"
    assert document["phase"] == "9.9"
    assert cli_json("stage", "history", F, root=project)[1] == before
    # Fail: the run fails, exit 0.
    code, document = cli_json("phase", "fail", F, "1.1", "--reason", "stuck", root=project)
    assert code == 0
    assert document["status"]["status"] == "failed"
    assert document["status"]["next_action"] == "stageflow stage resume feat 1"


@pytest.mark.parametrize(
    "argv",
    [
        ("phase", "fail", F, "1.1"),  # --reason is required
        ("phase", "complete", F),  # no phase id
        ("phase", "complete", F, "1.1", "--plan-file", "/abs.md"),
        ("phase", "start", "Bad Name", "1.1"),
        ("stage", "init", "other", "--workflow", "plan-implement-test-final", "--skip", "x"),
    ],
)
def test_cli_bad_input_exits_2_and_changes_nothing(project: Path, argv: Sequence[str]) -> None:
    before = cli_json("stage", "history", F, root=project)[1]
    code, out, err = cli(*argv, root=project)
    assert code == 2, (out, err)
    assert err.startswith("error: ")
    assert cli_json("stage", "history", F, root=project)[1] == before
    assert cli_json("stage", "list", root=project)[1]["features"] == [
        {
            "feature": F,
            "run": 1,
            "workflow": PITF.name,
            "status": "active",
            "current_stage": 1,
            "current_stage_key": "plan",
            "error": None,
        }
    ]


def test_cli_full_run_without_test(project: Path) -> None:
    for phase in ("1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "4.0", "4.1", "4.2", "4.3"):
        code, _, err = cli("phase", "complete", F, phase, "--summary", f"{phase} ok", root=project)
        assert code == 0, err
    code, document = cli_json("stage", "status", F, root=project)
    assert document["status"] == "completed"
    assert [s["status"] for s in document["stages"]] == [
        "completed",
        "completed",
        "skipped",
        "completed",
    ]
    assert document["progress"] == {"completed": 3, "total": 3, "percent": 100, "skipped": 1}
    assert document["next_action"] is None
    assert document["stages"][3]["summary"].splitlines()[0] == "4.0 Document Updates: 4.0 ok"
    assert_replays(Orchestrator(root=project).status(F))


def test_write_outputs_is_unaffected_by_phases(tmp_path: Path) -> None:
    """The 8-stage workflow's runs gain no phase fields and still complete through gates."""
    flow = make_orchestrator(tmp_path)
    flow.init(F)
    write_outputs(tmp_path, "architecture", F)
    run = flow.complete(F, "architecture")
    assert run.stage("architecture").phases == ()
    assert run.stage("architecture").summary is None
    assert run.current_stage == "stories"


def test_a_phase_of_a_rolled_back_stage_starts_the_stage_again(flow: Orchestrator) -> None:
    flow.init(F, workflow=PITF.name)
    for phase in ("1.1", "1.2", "1.3", "2.1"):
        flow.phase_complete(F, phase)
    flow.rollback(F, "plan", reason="the plan was wrong")
    run = flow.phase_start(F, "1.1")
    assert run.stage("plan").status is StageStatus.IN_PROGRESS
    assert short(run) == "P>(>pp) Ip(pppp) Tp(ppp) Fp(pppp)"
    assert_replays(run)
