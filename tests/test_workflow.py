"""Workflow definitions: validation, stage resolution, the built-in 8-stage workflow, and
custom workflows driven end to end (the engine must not assume 8 stages)."""

from __future__ import annotations

from pathlib import Path
from typing import List

import attrs
import pytest

from stageflow import (
    EIGHT_STAGE,
    GateFailed,
    Output,
    RuleViolation,
    RunStatus,
    StageflowError,
    StageSpec,
    StageStatus,
    UnknownStage,
    WorkflowDefinitionError,
    WorkflowSpec,
    builtin_workflows,
)
from stageflow.errors import InvalidName, UsageError
from stageflow.testing import assert_history, assert_replays, make_orchestrator
from stageflow.workflow import PLAN_IMPLEMENT_TEST_FINAL, check_feature_name


def _problems(*stages: StageSpec, name: str = "wf") -> List[str]:
    with pytest.raises(WorkflowDefinitionError) as caught:
        WorkflowSpec(name=name, stages=stages)
    return list(caught.value.problems)


# -- definition checks --------------------------------------------------------------------


def test_a_valid_definition_builds_and_keeps_stage_order() -> None:
    spec = WorkflowSpec(
        "tiny",
        [StageSpec("plan", "Plan"), StageSpec("build", "Build", prerequisites="plan")],
    )
    assert spec.keys == ("plan", "build")
    assert isinstance(spec.stages, tuple)
    # A single string prerequisite is one key, not a sequence of characters.
    assert spec.stage("build").prerequisites == ("plan",)


def test_every_problem_of_a_definition_is_reported_at_once() -> None:
    problems = _problems(
        StageSpec("plan", "Plan"),
        StageSpec("plan", "Plan again"),
        StageSpec("Bad Key", "Bad"),
        StageSpec("early", "Early", prerequisites=("late",)),
        StageSpec("selfish", "Selfish", prerequisites=("selfish",)),
        StageSpec("late", "Late", outputs=[Output("abs", "/etc/passwd")]),
        StageSpec("climb", "Climb", outputs=[Output("up", "docs/../../secret.txt")]),
    )
    assert len(problems) == 6, problems
    text = "\n".join(problems)
    assert "duplicate key 'plan'" in text
    assert "'Bad Key'" in text
    assert "prerequisite 'late' is not an earlier stage" in text
    assert "'selfish' lists itself as a prerequisite" in text
    assert "'/etc/passwd' must be relative" in text
    assert "'docs/../../secret.txt'" in text
    assert ".." in text


def test_definition_error_message_lists_every_problem_and_is_a_stageflow_error() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        WorkflowSpec("wf", [StageSpec("a", "A"), StageSpec("a", "A2"), StageSpec("B", "B")])
    error = caught.value
    assert isinstance(error, StageflowError)
    assert error.exit_code == 2
    assert len(error.problems) == 2
    for problem in error.problems:
        assert problem in str(error)
    assert error.to_dict()["problems"] == list(error.problems)


@pytest.mark.parametrize(
    "key", ["Architecture", "1st", "with space", "", "-dash", "a.b", "ä", "plan\n"]
)
def test_badly_shaped_stage_keys_are_rejected(key: str) -> None:
    problems = _problems(StageSpec(key, "Stage"))
    assert len(problems) == 1
    assert repr(key) in problems[0]


@pytest.mark.parametrize("key", ["a", "stage-2", "build_and_test", "x9"])
def test_well_shaped_stage_keys_are_accepted(key: str) -> None:
    assert WorkflowSpec("wf", [StageSpec(key, "Stage")]).keys == (key,)


def test_a_prerequisite_on_a_later_stage_is_rejected_even_if_the_stage_exists() -> None:
    problems = _problems(
        StageSpec("a", "A", prerequisites=("b",)),
        StageSpec("b", "B"),
    )
    assert problems == ["stage 'a': prerequisite 'b' is not an earlier stage"]


def test_an_unknown_prerequisite_is_rejected() -> None:
    problems = _problems(StageSpec("a", "A"), StageSpec("b", "B", prerequisites=("ghost",)))
    assert len(problems) == 1
    assert "'ghost'" in problems[0]


def test_a_self_prerequisite_is_reported_as_such() -> None:
    problems = _problems(StageSpec("a", "A", prerequisites=("a",)))
    assert problems == ["stage 'a' lists itself as a prerequisite"]


@pytest.mark.parametrize(
    "path",
    [
        "/etc/x",
        "\\windows\\x",
        "C:/x",
        "c:\\x",
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "a\\..\\x",
        "",
        "   ",
    ],
)
def test_output_paths_leaving_the_project_root_are_rejected(path: str) -> None:
    problems = _problems(StageSpec("a", "A", outputs=[Output("out", path)]))
    assert len(problems) == 1, problems
    assert problems[0].startswith("stage 'a':")


@pytest.mark.parametrize(
    "path",
    ["a..b.txt", "docs/..hidden", "x/.../y", ".tmp/{feature}/**/c.json", "out/*.md", "..x"],
)
def test_output_paths_inside_the_root_are_accepted(path: str) -> None:
    spec = WorkflowSpec("wf", [StageSpec("a", "A", outputs=[Output("out", path)])])
    assert spec.stage("a").outputs[0].path == path


def test_workflow_needs_a_well_formed_name_and_at_least_one_stage() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        WorkflowSpec("Bad Name", [])
    assert len(caught.value.problems) == 2
    assert any("at least one stage" in p for p in caught.value.problems)
    assert any("'Bad Name'" in p for p in caught.value.problems)


@pytest.mark.parametrize("name", ["", "Eight", "two words", "wf\n", "9lives"])
def test_badly_shaped_workflow_names_are_rejected(name: str) -> None:
    assert _problems(StageSpec("a", "A"), name=name) == [
        f"workflow name {name!r} must be lowercase letters, digits, '-' or '_', "
        "starting with a letter"
    ]


def test_workflow_specs_are_frozen_values() -> None:
    spec = WorkflowSpec("wf", [StageSpec("a", "A")])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        spec.stages[0].key = "b"  # type: ignore[misc]
    same = WorkflowSpec("wf", [StageSpec("a", "A")])
    assert same == spec
    assert hash(same) == hash(spec)
    assert WorkflowSpec("wf", [StageSpec("b", "B")]) != spec


def test_output_resolve_substitutes_the_feature_and_keeps_documentation_only_outputs() -> None:
    assert Output("x", ".tmp/{feature}/a-{feature}.md").resolve("pay") == ".tmp/pay/a-pay.md"
    assert Output("documentation only").resolve("pay") is None


@pytest.mark.parametrize("feature", ["checkout", "a", "0day", "multi-part-9"])
def test_valid_feature_names(feature: str) -> None:
    assert check_feature_name(feature) == feature


@pytest.mark.parametrize(
    "feature", ["", "Checkout", "-x", "a_b", "a/b", "../x", "a b", "é", "feat\n", "\nfeat"]
)
def test_invalid_feature_names_raise_invalid_name(feature: str) -> None:
    with pytest.raises(InvalidName):
        check_feature_name(feature)


# -- stage resolution -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "key"),
    [
        (1, "architecture"),
        (2, "stories"),
        (8, "release"),
        ("2", "stories"),
        (" 3 ", "prioritization"),
        ("8", "release"),
        ("stories", "stories"),
        ("contracts", "contracts"),
    ],
)
def test_stages_resolve_by_number_key_or_number_string(ref: object, key: str) -> None:
    assert EIGHT_STAGE.stage(ref).key == key  # type: ignore[arg-type]
    assert EIGHT_STAGE.resolve(ref) == EIGHT_STAGE.keys.index(key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "ref", ["2abc", "abc2", 0, 9, -1, "0", "9", "-1", "", "2.0", True, False, "Stories", "\uff12"]
)
def test_anything_else_is_an_unknown_stage(ref: object) -> None:
    with pytest.raises(UnknownStage) as caught:
        EIGHT_STAGE.stage(ref)  # type: ignore[arg-type]
    error = caught.value
    assert isinstance(error, UsageError)
    assert error.workflow == "eight-stage"
    assert error.stage == str(ref).strip()
    # The message tells the user what the valid choices are.
    assert "1 (architecture)" in str(error)
    assert "8 (release)" in str(error)


def test_index_and_number_of_a_key() -> None:
    assert EIGHT_STAGE.index("architecture") == 0
    assert EIGHT_STAGE.number("release") == 8
    with pytest.raises(UnknownStage):
        EIGHT_STAGE.number("deploy")


# -- the built-in 8-stage workflow ------------------------------------------------------------


EIGHT_KEYS = (
    "architecture",
    "stories",
    "prioritization",
    "tasks",
    "contracts",
    "execution",
    "integration",
    "release",
)


def test_eight_stage_has_the_seed_stages_in_order() -> None:
    assert len(EIGHT_STAGE.stages) == 8
    assert EIGHT_STAGE.keys == EIGHT_KEYS
    assert [s.name for s in EIGHT_STAGE.stages] == [
        "Architecture Decomposition",
        "Story Mapping",
        "Prioritization",
        "Enhanced Task Breakdown",
        "Contract Definition",
        "Parallel Execution",
        "Integration & Validation",
        "Release & Learning",
    ]
    assert builtin_workflows() == {
        "eight-stage": EIGHT_STAGE,
        "plan-implement-test-final": PLAN_IMPLEMENT_TEST_FINAL,
    }


def test_eight_stage_prerequisites_are_linear() -> None:
    assert EIGHT_STAGE.stages[0].prerequisites == ()
    for previous, stage in zip(EIGHT_STAGE.stages, EIGHT_STAGE.stages[1:]):
        assert stage.prerequisites == (previous.key,)


def test_only_the_contracts_stage_forbids_exit_overrides() -> None:
    locked = [s.key for s in EIGHT_STAGE.stages if not s.exit_overridable]
    assert locked == ["contracts"]


def test_only_the_release_stage_requires_a_rollback_hook() -> None:
    hooked = [s.key for s in EIGHT_STAGE.stages if s.rollback_requires_hook]
    assert hooked == ["release"]


def test_every_eight_stage_stage_describes_its_goal_outputs_criteria_and_agents() -> None:
    for stage in EIGHT_STAGE.stages:
        assert stage.goal
        assert stage.criteria
        assert stage.primary_agent
        # Each stage has at least one output checked by the default exit gate.
        paths = [o.resolve("feat") for o in stage.outputs if o.path]
        assert paths, stage.key
        for path in paths:
            assert path is not None
            assert "feat" in path
            assert not path.startswith("/")


# -- custom workflows end to end --------------------------------------------------------------


THREE = WorkflowSpec(
    "three",
    [
        StageSpec("design", "Design", outputs=[Output("notes", "out/{feature}/design.md")]),
        StageSpec("build", "Build", prerequisites="design"),
        StageSpec("ship", "Ship", prerequisites="build"),
    ],
)
ONE = WorkflowSpec("solo", [StageSpec("only", "Only stage")])


def test_a_custom_three_stage_workflow_runs_end_to_end(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path, workflows=[THREE])
    run = flow.init("feat")
    assert run.workflow == "three"
    assert [r.key for r in run.stages] == ["design", "build", "ship"]
    assert [r.number for r in run.stages] == [1, 2, 3]

    with pytest.raises(GateFailed) as failed:
        flow.complete("feat", "design")
    assert [f.code for f in failed.value.findings] == ["output-missing"]
    with pytest.raises(RuleViolation) as refused:
        flow.complete("feat", 3)
    assert "not-current-stage" in [f.code for f in refused.value.findings]

    out = tmp_path / "out" / "feat"
    out.mkdir(parents=True)
    (out / "design.md").write_text("# design\n")
    flow.complete("feat", 1)
    flow.complete("feat", "2")
    run = flow.rollback("feat", "build", reason="redo")
    assert run.current_stage == "build"
    flow.complete("feat", "build")
    run = flow.complete("feat", "ship")

    assert run.status is RunStatus.COMPLETED
    assert run.current_stage is None
    assert all(r.status is StageStatus.COMPLETED for r in run.stages)
    assert run.ended_at is not None
    assert_history(
        run,
        [
            ("init", "applied"),
            ("complete", "failed"),
            ("complete", "refused"),
            ("complete", "applied"),
            ("complete", "applied"),
            ("rollback", "applied"),
            ("complete", "applied"),
            ("complete", "applied"),
        ],
    )
    assert_replays(run, THREE)


def test_a_one_stage_workflow_runs_end_to_end(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path, workflows=[ONE])
    run = flow.init("feat")
    assert run.current_stage == "only"
    run = flow.complete("feat", 1)
    assert run.status is RunStatus.COMPLETED
    assert run.current_stage is None
    assert run.stage("only").status is StageStatus.COMPLETED

    run = flow.rollback("feat", "only", reason="again")
    assert run.status is RunStatus.ACTIVE
    assert run.current_stage == "only"
    with pytest.raises(UnknownStage):
        flow.complete("feat", 2)
    run = flow.complete("feat", "only")
    assert run.status is RunStatus.COMPLETED
    assert_replays(run, ONE)


def test_an_orchestrator_serves_several_workflows(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path, workflows=[ONE, THREE, EIGHT_STAGE])
    assert flow.init("default").workflow == "solo"
    assert flow.init("chosen", workflow="three").workflow == "three"
    run = flow.init("big", workflow="eight-stage")
    assert len(run.stages) == 8
    assert flow.status("chosen").stage("ship").number == 3


def test_a_workflow_with_many_stages_is_not_limited_to_eight(tmp_path: Path) -> None:
    stages = [StageSpec(f"s{i}", f"Stage {i}") for i in range(1, 13)]
    spec = WorkflowSpec("twelve", stages)
    flow = make_orchestrator(tmp_path, workflows=[spec])
    flow.init("feat")
    for number in range(1, 13):
        run = flow.complete("feat", number)
    assert run.status is RunStatus.COMPLETED
    assert spec.stage("12").key == "s12"
    assert_replays(run, spec)


def test_an_evolved_workflow_still_resolves_its_stages() -> None:
    spec = attrs.evolve(THREE, title="Three stages")
    assert spec.keys == THREE.keys
    assert spec.stage(3).key == "ship"
