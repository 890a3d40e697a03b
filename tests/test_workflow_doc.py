"""Workflow documents: the schema, every problem at load, names resolved through the
registry, the built-in 8-stage workflow as a document, and the ``stageflow workflow`` CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from clihelp import cli, cli_json
from hypothesis import given, settings
from hypothesis import strategies as st

from stageflow import Registry, WorkflowDefinitionError
from stageflow.content_gates import CONTENT_GATES
from stageflow.errors import GateFailed, StateFileError, UsageError
from stageflow.findings import Finding
from stageflow.gates import StageContext
from stageflow.schema import schema_errors
from stageflow.testing import make_orchestrator
from stageflow.workflow import EIGHT_STAGE, PhaseSpec, StageSpec, WorkflowSpec
from stageflow.workflow_doc import (
    BUILTIN_GATE_NAMES,
    load_workflow,
    read_workflow,
    workflow_document,
)

PACKAGED = Path(__file__).resolve().parent.parent / "stageflow" / "workflows" / "eight-stage.json"


def three_stages(**review: Any) -> Dict[str, Any]:
    return {
        "name": "review-flow",
        "title": "Design, build, review",
        "stages": [
            {"key": "design", "name": "Design", "outputs": [{"description": "notes"}]},
            {"key": "build", "name": "Build", "prerequisites": ["design"]},
            {"key": "review", "name": "Review", "prerequisites": ["build"], **review},
        ],
    }


def problems_of(document: Any, registry: Any = None) -> List[str]:
    with pytest.raises(WorkflowDefinitionError) as refused:
        load_workflow(document, registry=registry, source="wf.json")
    return list(refused.value.problems)


# -- the built-in workflow is a document -------------------------------------------------


def test_the_packaged_eight_stage_document_passes_the_schema_and_loads() -> None:
    document = json.loads(PACKAGED.read_text(encoding="utf-8"))
    assert schema_errors("workflow", document) == []
    assert load_workflow(document) == EIGHT_STAGE
    assert workflow_document(EIGHT_STAGE) == document  # the file is the canonical form


def test_every_content_gate_can_be_named() -> None:
    assert sorted(g.name for g in CONTENT_GATES.values()) == list(BUILTIN_GATE_NAMES)


def test_a_document_round_trips_with_phases_and_switches() -> None:
    spec = WorkflowSpec(
        name="phased",
        stages=[
            StageSpec(
                key="plan",
                name="Plan",
                phases=[
                    PhaseSpec("1.1", "Brainstorm"),
                    PhaseSpec("1.2", "Lint", kind="command", command=["ruff", "check"]),
                    PhaseSpec("1.3", "Review", kind="review", enabled=False, agent="reviewer"),
                ],
                exit_gates=["contexts-valid"],
            ),
            StageSpec(key="test", name="Test", enabled=False),
            StageSpec(key="final", name="Final"),
        ],
    )
    document = workflow_document(spec)
    assert schema_errors("workflow", document) == []
    assert load_workflow(json.loads(json.dumps(document))) == spec


# -- every problem at once ---------------------------------------------------------------


def test_schema_problems_are_all_reported_with_their_pointers() -> None:
    found = problems_of({"name": 3, "stages": [{"key": "A"}], "extra": 1})
    assert found == [
        "wf.json: /: Additional properties are not allowed ('extra' was unexpected)",
        "wf.json: /name: 3 is not of type 'string'",
        "wf.json: /stages/0: 'name' is a required property",
        "wf.json: /stages/0/key: 'A' does not match '^[a-z][a-z0-9_-]*$'",
    ]


def test_definition_problems_are_all_reported() -> None:
    document = {
        "name": "bad",
        "stages": [
            {
                "key": "a",
                "name": "A",
                "phases": [
                    {"id": "1.1", "name": "one"},
                    {"id": "1.1", "name": "again"},
                    {"id": "1.2", "name": "lint", "kind": "command"},
                ],
            },
            {"key": "b", "name": "B", "enabled": False},
            {
                "key": "c",
                "name": "C",
                "prerequisites": ["b", "later"],
                "gates": {"entry": ["who-knows"], "exit": ["contexts-valid"]},
                "compensations": ["undo"],
            },
            {"key": "a", "name": "A again", "phases": [{"id": "1.2", "name": "dup"}]},
        ],
    }
    found = problems_of(document)
    assert "wf.json: stage 'a' phase 2: duplicate phase id '1.1' (also in stage 'a')" in found
    assert "wf.json: stage 'a' phase 3: a command phase needs a command" in found
    assert "wf.json: stage 'c': prerequisite 'later' is not an earlier stage" in found
    assert "wf.json: stage 'c' is unreachable: its prerequisite 'b' is disabled" in found
    assert "wf.json: stage 4: duplicate key 'a' (also stage 1)" in found
    assert any("duplicate phase id '1.2'" in p for p in found)
    assert any(p.startswith("wf.json: stage 'c': unknown entry gate 'who-knows'") for p in found)
    assert "wf.json: stage 'c': unknown compensation hook 'undo' (known: none)" in found
    assert not any("gate 'contexts-valid'" in p for p in found)  # a built-in name resolves


def test_every_stage_disabled_is_a_problem() -> None:
    document = {"name": "off", "stages": [{"key": "a", "name": "A", "enabled": False}]}
    assert problems_of(document) == [
        "wf.json: every stage is disabled: a run would have nothing to do"
    ]


def test_names_resolve_through_the_registry_only() -> None:
    registry = Registry()
    registry.define_gate("approved", lambda context: [])
    registry.define_hook("undo", lambda context: None)
    document = three_stages(gates={"exit": ["approved"]}, compensations=["undo"])
    spec = load_workflow(document, registry=registry)
    assert spec.stage("review").exit_gates == ("approved",)
    found = problems_of(document)  # without the registry
    assert any("unknown exit gate 'approved'" in p for p in found)
    assert any("unknown compensation hook 'undo'" in p for p in found)


@pytest.mark.parametrize(
    ("name", "fn", "message"),
    [
        ("Bad Name", lambda c: [], "a gate name is lowercase"),
        ("ok", "not callable", "is not callable"),
    ],
)
def test_define_gate_refuses_bad_definitions(name: str, fn: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Registry().define_gate(name, fn)


def test_a_name_is_defined_once() -> None:
    registry = Registry()
    registry.define_hook("undo", lambda context: None)
    with pytest.raises(UsageError, match="already defined"):
        registry.define_hook("undo", lambda context: None)


def test_read_workflow_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x", ')
    with pytest.raises(StateFileError, match=r"broken\.json"):
        read_workflow(broken)
    with pytest.raises(StateFileError, match=r"missing\.json"):
        read_workflow(tmp_path / "missing.json")


# -- the engine runs what the document names ---------------------------------------------


def test_the_engine_runs_named_gates_and_hooks(tmp_path: Path) -> None:
    approvals: List[bool] = [False]
    undone: List[str] = []

    def approved(context: StageContext) -> List[Finding]:
        return [] if approvals[0] else [Finding("not-approved", "nobody approved it yet")]

    registry = Registry()
    registry.define_gate("approved", approved, overridable=False)
    registry.define_hook("undo", lambda context: undone.append(context.stage.key))
    spec = load_workflow(
        three_stages(gates={"exit": ["approved"]}, compensations=["undo"]), registry=registry
    )
    flow = make_orchestrator(tmp_path, workflows=[spec], registry=registry, default_gates=False)
    flow.init("shop")
    flow.complete("shop", "design")
    flow.complete("shop", "build")
    with pytest.raises(GateFailed) as refused:
        flow.complete("shop", "review", override=True, reason="ship it")
    assert [f.code for f in refused.value.findings] == ["not-approved", "not-overridable"]
    approvals[0] = True
    assert flow.complete("shop", "review").status.value == "completed"
    flow.rollback("shop", "review", reason="reviewer changed their mind")
    assert undone == ["review"]


def test_a_custom_stage_can_name_a_content_gate(tmp_path: Path) -> None:
    document = {
        "name": "tiny",
        "stages": [
            {
                "key": "design",
                "name": "Design",
                "outputs": [
                    {"description": "contexts", "path": "docs/ctx.json", "artifact": "contexts"}
                ],
                "gates": {"exit": ["contexts-valid"]},
            }
        ],
    }
    flow = make_orchestrator(tmp_path, workflows=[load_workflow(document)], default_gates=False)
    flow.init("shop")
    with pytest.raises(GateFailed) as refused:
        flow.complete("shop", "design")
    assert refused.value.findings[0].code == "artifact-missing"


def test_the_engine_refuses_what_it_cannot_resolve_or_run(tmp_path: Path) -> None:
    unknown = WorkflowSpec(name="named", stages=[StageSpec("a", "A", exit_gates=["nope"])])
    with pytest.raises(WorkflowDefinitionError, match="unknown exit gate 'nope'"):
        make_orchestrator(tmp_path, workflows=[unknown])
    phased = WorkflowSpec(name="phased", stages=[StageSpec("a", "A", phases=[PhaseSpec("1", "x")])])
    make_orchestrator(tmp_path, workflows=[phased])  # phases run now (tests/test_phases.py)
    command = PhaseSpec("1", "lint", kind="command", command=["ruff"])
    commanded = WorkflowSpec(name="cmd", stages=[StageSpec("a", "A", phases=[command])])
    make_orchestrator(tmp_path, workflows=[commanded])  # run by stageflow.phase_commands


# -- random documents load or are refused, never crash -----------------------------------

KEYS = st.sampled_from(["a", "b", "c", "A", "", "design", 3])
PHASE = st.fixed_dictionaries(
    {"id": st.sampled_from(["1.1", "1.2", "", "x y", 1]), "name": st.sampled_from(["P", ""])},
    optional={
        "kind": st.sampled_from(["work", "review", "command", "inline", "dispatch", "nope"]),
        "enabled": st.sampled_from([True, False, "yes"]),
        "command": st.sampled_from([["ruff"], [], "ruff"]),
    },
)
STAGE = st.fixed_dictionaries(
    {"key": KEYS, "name": st.sampled_from(["Stage", ""])},
    optional={
        "enabled": st.booleans(),
        "prerequisites": st.lists(KEYS, max_size=2),
        "phases": st.lists(PHASE, max_size=3),
        "gates": st.fixed_dictionaries(
            {}, optional={"exit": st.lists(st.sampled_from(["contexts-valid", "x"]), max_size=2)}
        ),
        "compensations": st.lists(st.sampled_from(["undo"]), max_size=1),
        "outputs": st.lists(
            st.fixed_dictionaries(
                {"description": st.just("d")},
                optional={"path": st.sampled_from(["a.md", "../up.md", "*", ".git/x"])},
            ),
            max_size=2,
        ),
    },
)
DOCUMENT = st.one_of(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["flow", "Bad", 1]), "stages": st.lists(STAGE, max_size=4)}
    ),
    st.just([]),
    st.none(),
    st.text(max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(DOCUMENT)
def test_random_documents_load_or_are_refused_with_problems(document: Any) -> None:
    before = copy.deepcopy(document)
    problems: List[str] = []
    try:
        spec = load_workflow(document)
    except WorkflowDefinitionError as refused:
        problems = list(refused.problems)
        assert problems, "a refusal names its problems"
    if not problems:
        assert load_workflow(workflow_document(spec)) == spec
    assert all(isinstance(p, str) and p for p in problems)
    assert document == before  # the document is never changed


# -- the CLI -----------------------------------------------------------------------------


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_workflow_list_show_and_validate(tmp_path: Path) -> None:
    code, listed = cli_json(tmp_path, "workflow", "list")
    assert code == 0
    assert listed["workflows"] == [
        {
            "name": "eight-stage",
            "title": "Multi-Stage Orchestration Workflow",
            "stages": 8,
            "phases": 0,
            "source": "built-in",
        },
        {
            "name": "plan-implement-test-final",
            "title": "PLAN → IMPLEMENT → TEST → FINAL",
            "stages": 4,
            "phases": 14,
            "source": "built-in",
        },
    ]
    code, shown = cli_json(tmp_path, "workflow", "show", "eight-stage")
    assert code == 0
    assert shown["workflow"] == json.loads(PACKAGED.read_text(encoding="utf-8"))
    text = cli(tmp_path, "workflow", "show", "eight-stage").out.splitlines()
    assert text[2] == "  1. Architecture Decomposition (architecture)"

    good = write(tmp_path / "flow.json", three_stages())
    code, checked = cli_json(tmp_path, "workflow", "validate", str(good))
    assert (code, checked) == (0, {"valid": True, "workflow": "review-flow", "problems": []})
    bad = write(tmp_path / "bad.json", three_stages(gates={"exit": ["approved"]}))
    code, checked = cli_json(tmp_path, "workflow", "validate", str(bad))
    assert code == 1
    assert checked["valid"] is False
    assert checked["problems"][0].startswith(f"{bad}: stage 'review': unknown exit gate")
    result = cli(tmp_path, "workflow", "show", "no-such-flow")
    assert result.code == 2
    assert "unknown workflow 'no-such-flow'; known: eight-stage" in result.err


def test_stage_init_installs_a_workflow_document(tmp_path: Path) -> None:
    document = write(tmp_path / "flow.json", three_stages())
    result = cli(tmp_path, "stage", "init", "shop", "--workflow", str(document))
    assert result.code == 0, result
    assert "Started run #1 of 'shop' (review-flow)" in result.out
    installed = tmp_path / ".tmp" / "workflows" / "review-flow.json"
    assert load_workflow(json.loads(installed.read_text())) == load_workflow(three_stages())
    # later commands find it by name, and the same document installs again as a no-op
    done = cli(tmp_path, "stage", "complete", "shop", "design")
    assert done.code == 0
    assert "current stage: 2 (Build)" in done.out
    assert cli(tmp_path, "stage", "init", "cart", "--workflow", "review-flow").code == 0
    assert cli(tmp_path, "stage", "init", "bag", "--workflow", str(document)).code == 0
    _, listed = cli_json(tmp_path, "workflow", "list")
    assert [w["source"] for w in listed["workflows"]] == [
        "built-in",
        "built-in",
        ".tmp/workflows/review-flow.json",
    ]


def test_stage_init_refuses_a_different_workflow_under_an_installed_name(tmp_path: Path) -> None:
    first = write(tmp_path / "one.json", three_stages())
    assert cli(tmp_path, "stage", "init", "shop", "--workflow", str(first)).code == 0
    other = three_stages()
    other["stages"] = other["stages"][:2]
    second = write(tmp_path / "two.json", other)
    code, refused = cli_json(tmp_path, "stage", "init", "cart", "--workflow", str(second))
    assert code == 2
    assert refused["error"] == "ConflictError"
    assert "a different workflow named 'review-flow' is installed" in refused["message"]
    builtin = write(tmp_path / "mine.json", {**three_stages(), "name": "eight-stage"})
    result = cli(tmp_path, "stage", "init", "bag", "--workflow", str(builtin))
    assert result.code == 2
    assert "is a built-in workflow's name" in result.err


def test_a_broken_project_workflow_is_named(tmp_path: Path) -> None:
    folder = tmp_path / ".tmp" / "workflows"
    folder.mkdir(parents=True)
    (folder / "review-flow.json").write_text('{"name": "review-flow", "stages": [}')
    result = cli(tmp_path, "stage", "init", "shop")
    assert result.code == 2
    assert ".tmp/workflows/review-flow.json" in result.err
    write(folder / "review-flow.json", {**three_stages(), "name": "other-name"})
    result = cli(tmp_path, "workflow", "list")
    assert result.code == 2
    assert "holds workflow 'other-name'; name it other-name.json" in result.err
