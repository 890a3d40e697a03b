"""The content gates of the 8 stages: each gate's pass and failure codes, malformed files,
relocated artifacts, non-overridability, and the engine using them by default."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stageflow import EIGHT_STAGE, GateFailed, Output, StageSpec, UsageError, WorkflowSpec
from stageflow.content_gates import (
    CONTENT_GATE_CODES,
    CONTENT_GATES,
    backlog_valid,
    contexts_valid,
    contracts_cover_integration_points,
    default_gates,
    execution_complete,
    looks_like_path,
    release_documented,
    story_map_valid,
    task_files_valid,
    validation_passed,
)
from stageflow.demo import integration_contracts, write_outputs
from stageflow.errors import WorkflowDefinitionError
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.findings import Finding, Severity
from stageflow.gates import StageContext, evaluate_gate
from stageflow.lifecycle import new_run
from stageflow.testing import make_orchestrator

FEATURE = "shop"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
Gate = Callable[[StageContext], List[Finding]]

CONTEXTS = f".tmp/tasks/{FEATURE}/contexts.json"
MAP = f".tmp/planning/{FEATURE}/map.json"
BACKLOG = f".tmp/planning/{FEATURE}/prioritized.json"
TASKS = f".tmp/tasks/{FEATURE}"
CONTRACTS = f".tmp/contracts/{FEATURE}"
SUMMARY = f".tmp/execution/{FEATURE}/summary.md"
REPORT = f".tmp/validation/{FEATURE}-report.md"
NOTES = f".tmp/releases/{FEATURE}/release-notes.md"
LESSONS = f"docs/retrospectives/{FEATURE}.md"


def context(root: Path, key: str, spec: WorkflowSpec = EIGHT_STAGE) -> StageContext:
    run = new_run(spec, FEATURE, 1, NOW, "tester")
    return StageContext(FEATURE, spec, spec.stage(key), run, root)


def check(root: Path, key: str, spec: WorkflowSpec = EIGHT_STAGE) -> List[Finding]:
    """The findings of stage ``key``'s content gate; it must never raise."""
    return list(CONTENT_GATES[key].gate(context(root, key, spec)))


def errors(found: List[Finding]) -> List[str]:
    return [f.code for f in found if f.is_error]


def codes(found: List[Finding]) -> List[Tuple[str, Optional[str], Optional[str]]]:
    return [(f.code, f.path, f.pointer) for f in found]


def produce(root: Path, *keys: str) -> None:
    for key in keys:
        write_outputs(root, key, FEATURE)


def edit(root: Path, relative: str, change: Callable[[Dict[str, Any]], None]) -> None:
    path = root / relative
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def write(root: Path, relative: str, data: Any) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")


# -- every gate passes on the example -----------------------------------------------------


@pytest.mark.parametrize("key", EIGHT_STAGE.keys)
def test_each_gate_passes_on_the_order_management_example(tmp_path: Path, key: str) -> None:
    produce(tmp_path, *EIGHT_STAGE.keys[: EIGHT_STAGE.index(key) + 1])
    found = check(tmp_path, key)
    assert errors(found) == []
    # The seed's own contract covers no integration point: an info, never an error.
    assert {f.code for f in found} <= {"contract-unmatched"}


def test_every_code_is_listed_once() -> None:
    assert len(set(CONTENT_GATE_CODES)) == len(CONTENT_GATE_CODES)
    assert all(code == code.lower() and " " not in code for code in CONTENT_GATE_CODES)


# -- malformed, missing, unreadable files -------------------------------------------------

FILE_GATES: List[Tuple[str, Tuple[str, ...], str]] = [
    ("architecture", (), CONTEXTS),
    ("stories", (), MAP),
    ("prioritization", ("stories",), BACKLOG),
    ("contracts", ("architecture",), CONTEXTS),  # the contexts are the contract gate's input
    ("execution", ("tasks",), SUMMARY),
    ("integration", (), REPORT),
    ("release", (), NOTES),
    ("release", (), LESSONS),
]


@pytest.mark.parametrize(("key", "before", "path"), FILE_GATES)
def test_a_missing_file_is_a_finding_naming_it(
    tmp_path: Path, key: str, before: Tuple[str, ...], path: str
) -> None:
    produce(tmp_path, *before, key)
    (tmp_path / path).unlink()
    found = check(tmp_path, key)
    assert ("artifact-missing", path, None) in codes(found)


@pytest.mark.parametrize(("key", "before", "path"), FILE_GATES)
def test_a_folder_in_place_of_the_file_is_unreadable(
    tmp_path: Path, key: str, before: Tuple[str, ...], path: str
) -> None:
    produce(tmp_path, *before, key)
    (tmp_path / path).unlink()
    (tmp_path / path).mkdir()
    assert "artifact-unreadable" in errors(check(tmp_path, key))


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "artifact-empty"),
        (b"  \n", "artifact-empty"),
        (b'{"bounded_contexts": [', "artifact-json"),
        (b"not json", "artifact-json"),
        (b"[1, 2]", "artifact-json"),
        (b'{"feature": "\xff"}', "artifact-unreadable"),
        (b"[" * 100_000, "artifact-json"),
    ],
    ids=["empty", "blank", "truncated", "not-json", "array", "not-utf8", "deep"],
)
@pytest.mark.parametrize("key", ["architecture", "stories", "contracts"])
def test_malformed_json_is_one_finding_naming_the_file(
    tmp_path: Path, key: str, data: bytes, code: str
) -> None:
    target = {"architecture": CONTEXTS, "stories": MAP, "contracts": CONTEXTS}[key]
    produce(tmp_path, "contracts")
    write(tmp_path, target, data)
    found = check(tmp_path, key)
    assert [(f.code, f.path) for f in found if f.is_error] == [(code, target)]


def test_schema_violations_are_reported_with_their_pointers(tmp_path: Path) -> None:
    write(tmp_path, CONTEXTS, {"bounded_contexts": [{"name": ""}, {"type": "odd"}]})
    found = check(tmp_path, "architecture")
    assert {f.code for f in found} == {"artifact-schema"}
    assert [f.pointer for f in found] == [
        "/bounded_contexts/0/name",
        "/bounded_contexts/1",  # no name
        "/bounded_contexts/1/type",  # not core, supporting or generic
    ]
    assert all(f.path == CONTEXTS and f.recommendation for f in found)


# -- 1. architecture ---------------------------------------------------------------------


def test_contexts_need_unique_names_and_known_relationships(tmp_path: Path) -> None:
    write(
        tmp_path,
        CONTEXTS,
        {
            "bounded_contexts": [{"name": "cart"}, {"name": "pay"}, {"name": "cart"}],
            "context_relationships": [
                {"upstream": "pay", "downstream": "ship"},
                {"upstream": "cart", "downstream": "cart"},
            ],
        },
    )
    found = contexts_valid(context(tmp_path, "architecture"))
    assert codes(found) == [
        ("context-duplicate", CONTEXTS, "/bounded_contexts/2/name"),
        ("relationship-unknown-context", CONTEXTS, "/context_relationships/0/downstream"),
        ("relationship-self", CONTEXTS, "/context_relationships/1"),
    ]
    assert found[-1].severity is Severity.WARNING


# -- 2. story mapping --------------------------------------------------------------------


def test_stories_need_acceptance_criteria_and_sound_dependencies(tmp_path: Path) -> None:
    stories = [
        {"id": "a", "title": "A", "acceptance_criteria": ["ok"], "dependencies": ["c"]},
        {"id": "b", "title": "B"},
        {"id": "c", "title": "C", "acceptance_criteria": [" "], "dependencies": ["a", "zz"]},
        {"id": "d", "title": "D", "acceptance_criteria": [], "dependencies": ["d"]},
        {"id": "a", "title": "A again", "acceptance_criteria": ["ok"]},
    ]
    write(tmp_path, MAP, {"stories": stories})
    found = story_map_valid(context(tmp_path, "stories"))
    assert codes(found) == [
        ("story-duplicate", MAP, "/stories/4/id"),
        ("story-acceptance-missing", MAP, "/stories/1"),
        ("story-acceptance-missing", MAP, "/stories/2/acceptance_criteria"),
        ("story-dependency-missing", MAP, "/stories/2/dependencies/1"),
        ("story-acceptance-missing", MAP, "/stories/3/acceptance_criteria"),
        ("story-dependency-self", MAP, "/stories/3/dependencies/0"),
        ("story-dependency-cycle", MAP, "/stories/0/dependencies"),
    ]
    assert "a -> c -> a" in found[-1].message


def test_the_example_story_map_has_no_finding(tmp_path: Path) -> None:
    produce(tmp_path, "stories")
    assert story_map_valid(context(tmp_path, "stories")) == []


# -- 3. prioritization -------------------------------------------------------------------


def test_the_seed_backlog_as_published_has_a_rounded_rice_score(tmp_path: Path) -> None:
    produce(tmp_path, "stories")
    write_outputs(tmp_path, "prioritization", FEATURE, verbatim=True)
    found = backlog_valid(context(tmp_path, "prioritization"))
    assert codes(found) == [("rice-score-mismatch", BACKLOG, "/mvp_features/1/rice_score/score")]


def test_the_backlog_covers_the_map_once_with_consistent_scores(tmp_path: Path) -> None:
    produce(tmp_path, "stories", "prioritization")

    def change(backlog: Dict[str, Any]) -> None:
        mvp = backlog["mvp_features"]
        del mvp[0]  # story-order-001 is no longer prioritized
        mvp[0]["wsjf_score"]["job_size"] = 11
        mvp.append({"id": "story-order-003"})  # twice, and unscored
        mvp.append(
            {
                "id": "story-x",
                "wsjf_score": {
                    "business_value": 1,
                    "time_criticality": 1,
                    "risk_reduction": 1,
                    "job_size": 1,
                },
            }
        )
        backlog["post_mvp_features"][0].pop("rice_score")
        backlog["post_mvp_features"][0].pop("wsjf_score")

    edit(tmp_path, BACKLOG, change)
    found = backlog_valid(context(tmp_path, "prioritization"))
    assert codes(found) == [
        ("wsjf-range", BACKLOG, "/mvp_features/0/wsjf_score/job_size"),
        ("backlog-story-duplicate", BACKLOG, "/mvp_features/3/id"),
        ("backlog-story-unknown", BACKLOG, "/mvp_features/4/id"),
        ("backlog-unscored", BACKLOG, "/post_mvp_features/0"),
        ("backlog-story-missing", BACKLOG, ""),
        ("backlog-count", BACKLOG, "/metadata/total_items"),
        ("backlog-count", BACKLOG, "/metadata/mvp_count"),
    ]
    assert "story-order-001" in found[4].message


def test_the_backlog_gate_needs_the_story_map(tmp_path: Path) -> None:
    produce(tmp_path, "prioritization")
    found = backlog_valid(context(tmp_path, "prioritization"))
    assert codes(found) == [("artifact-missing", MAP, None)]


# -- 4. task breakdown -------------------------------------------------------------------


def test_task_file_findings_pass_through_and_errors_fail(tmp_path: Path) -> None:
    produce(tmp_path, "tasks")
    assert task_files_valid(context(tmp_path, "tasks")) == []
    edit(tmp_path, f"{TASKS}/subtask_03.json", lambda d: d.update(seq="04"))
    edit(tmp_path, f"{TASKS}/subtask_05.json", lambda d: d.update(acceptance_criteria=[]))
    found = task_files_valid(context(tmp_path, "tasks"))
    assert ("seq-filename", f"{TASKS}/subtask_03.json", "/seq") in codes(found)
    assert "acceptance-criteria-empty" in {f.code for f in found}  # a warning, passed through
    assert "seq-filename" in errors(found)


def test_a_feature_without_task_files(tmp_path: Path) -> None:
    assert codes(task_files_valid(context(tmp_path, "tasks"))) == [("tasks-missing", TASKS, None)]
    produce(tmp_path, "architecture")  # contexts.json lives in the same folder
    assert errors(task_files_valid(context(tmp_path, "tasks"))) == [
        "task-missing",
        "subtasks-missing",
    ]


def test_task_files_in_a_legacy_layout_are_found(tmp_path: Path) -> None:
    produce(tmp_path, "tasks")
    (tmp_path / ".tmp/tasks/active").mkdir()
    os.replace(tmp_path / TASKS, tmp_path / ".tmp/tasks/active" / FEATURE)
    assert task_files_valid(context(tmp_path, "tasks")) == []


# -- 5. contract definition --------------------------------------------------------------


def test_the_seed_contract_covers_none_of_the_seed_integration_points(tmp_path: Path) -> None:
    produce(tmp_path, "architecture")
    write_outputs(tmp_path, "contracts", FEATURE, verbatim=True)
    found = contracts_cover_integration_points(context(tmp_path, "contracts"))
    assert codes(found) == [
        ("contract-missing", CONTEXTS, "/context_relationships/0"),
        ("contract-missing", CONTEXTS, "/context_relationships/1"),
        ("contract-missing", CONTEXTS, "/context_relationships/2"),
        ("contract-unmatched", f"{CONTRACTS}/order-api/contract.json", "/bounded_context"),
    ]
    assert "inventory -> order-management" in found[0].message
    assert f"{CONTRACTS}/inventory-order-management/contract.json" in str(found[0].recommendation)
    assert found[-1].severity is Severity.INFO


def test_a_contract_covers_a_point_by_provider_and_consumer(tmp_path: Path) -> None:
    write(
        tmp_path,
        CONTEXTS,
        {
            "bounded_contexts": [{"name": "pay"}, {"name": "cart"}, {"name": "ship"}],
            "context_relationships": [
                {"upstream": "pay", "downstream": "cart"},
                {"upstream": "pay", "downstream": "ship"},
                {"upstream": "cart", "downstream": "ship", "integration_pattern": "api"},
                {"upstream": "cart", "downstream": "ship", "integration_pattern": "events"},
            ],
        },
    )
    pay = {
        "contract_id": "pay-api",
        "version": "1",
        "bounded_context": "pay",
        "consumers": [{"name": "cart"}, {"name": "ship"}],
    }
    wrong_way = {
        "contract_id": "ship-api",
        "version": "1",
        "bounded_context": "ship",
        "consumers": [{"name": "cart"}],
    }
    write(tmp_path, f"{CONTRACTS}/pay-api/contract.json", pay)
    write(tmp_path, f"{CONTRACTS}/nested/ship-api/contract.json", wrong_way)
    found = contracts_cover_integration_points(context(tmp_path, "contracts"))
    assert codes(found) == [
        ("contract-missing", CONTEXTS, "/context_relationships/2"),
        ("contract-missing", CONTEXTS, "/context_relationships/3"),
        ("contract-unmatched", f"{CONTRACTS}/nested/ship-api/contract.json", "/bounded_context"),
    ]
    cart = {
        "contract_id": "cart-events",
        "version": "1",
        "bounded_context": "cart",
        "consumers": [{"name": "ship"}],
    }
    write(tmp_path, f"{CONTRACTS}/cart-events/contract.json", cart)
    found = contracts_cover_integration_points(context(tmp_path, "contracts"))
    assert errors(found) == []


def test_contract_files_are_checked(tmp_path: Path) -> None:
    produce(tmp_path, "architecture", "contracts")
    edit(
        tmp_path,
        f"{CONTRACTS}/payment-order-management/contract.json",
        lambda d: d.update(contract_id="inventory-order-management"),
    )
    edit(tmp_path, f"{CONTRACTS}/order-api/contract.json", lambda d: d.pop("version"))
    found = contracts_cover_integration_points(context(tmp_path, "contracts"))
    payment = f"{CONTRACTS}/payment-order-management/contract.json"
    assert codes(found) == [
        ("artifact-schema", f"{CONTRACTS}/order-api/contract.json", ""),
        ("contract-id-folder", payment, "/contract_id"),
        ("contract-duplicate", payment, "/contract_id"),
        ("contract-missing", CONTEXTS, "/context_relationships/1"),
    ]


def test_no_integration_point_needs_no_contract(tmp_path: Path) -> None:
    write(tmp_path, CONTEXTS, {"bounded_contexts": [{"name": "solo"}]})
    assert contracts_cover_integration_points(context(tmp_path, "contracts")) == []


def test_without_usable_contexts_nothing_can_be_matched(tmp_path: Path) -> None:
    produce(tmp_path, "contracts")
    found = contracts_cover_integration_points(context(tmp_path, "contracts"))
    assert errors(found) == ["artifact-missing"]


def test_generated_contracts_follow_the_matching_rule() -> None:
    seed = json.loads((ORDER_MANAGEMENT / "contexts.json").read_text(encoding="utf-8"))
    contracts = integration_contracts(seed)
    assert sorted(contracts) == [
        "inventory-order-management",
        "order-management-notification",
        "payment-order-management",
    ]


# -- 6. parallel execution ---------------------------------------------------------------


def test_every_subtask_must_be_completed_with_its_deliverables(tmp_path: Path) -> None:
    produce(tmp_path, "tasks")
    write(tmp_path, SUMMARY, "# Batches\n")
    found = execution_complete(context(tmp_path, "execution"))
    assert errors(found).count("subtask-incomplete") == 12
    assert ("subtask-incomplete", f"{TASKS}/subtask_01.json", "/status") in codes(found)
    assert ("deliverable-missing", f"{TASKS}/subtask_03.json", "/deliverables/1") in codes(found)
    produce(tmp_path, "execution")
    assert execution_complete(context(tmp_path, "execution")) == []


def test_deliverables_outside_the_root_or_not_paths(tmp_path: Path) -> None:
    produce(tmp_path, "tasks", "execution")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("secret")
    os.symlink(outside, tmp_path / "escape.txt")
    (tmp_path / "src/a.py").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "src/a.py").write_text("")
    deliverables = [
        "/etc/passwd",
        "../x.py",
        "C:\\x.py",
        "escape.txt",
        "POST /orders",
        "OrderService",
        7,
        "src/*.py",
        "docs/*.md",
        "src/a.py",
    ]
    edit(tmp_path, f"{TASKS}/subtask_01.json", lambda d: d.update(deliverables=deliverables))
    found = execution_complete(context(tmp_path, "execution"))
    assert [(f.code, f.pointer) for f in found] == [
        ("deliverable-outside", "/deliverables/0"),
        ("deliverable-outside", "/deliverables/1"),
        ("deliverable-outside", "/deliverables/2"),
        ("deliverable-outside", "/deliverables/3"),
        ("deliverable-unchecked", "/deliverables/4"),
        ("deliverable-unchecked", "/deliverables/5"),
        ("deliverable-unchecked", "/deliverables/6"),
        ("deliverable-missing", "/deliverables/8"),
    ]


@pytest.mark.parametrize(
    ("entry", "is_path"),
    [
        ("src/cart.py", True),
        ("src/orders/", True),
        ("README.md", True),
        (".env", True),
        ("a\\b", True),
        ("POST /orders", False),
        ("OrderService", False),
        ("", False),
    ],
)
def test_which_deliverables_are_paths(entry: str, is_path: bool) -> None:
    assert looks_like_path(entry) is is_path


def test_unreadable_subtask_files_are_findings(tmp_path: Path) -> None:
    produce(tmp_path, "tasks", "execution")
    write(tmp_path, f"{TASKS}/subtask_02.json", "{")
    write(tmp_path, f"{TASKS}/subtask_03.json", "[]")
    (tmp_path / TASKS / "subtask_04.json").unlink()
    (tmp_path / TASKS / "subtask_04.json").mkdir()
    found = execution_complete(context(tmp_path, "execution"))
    assert [(f.code, f.path) for f in found] == [
        ("artifact-json", f"{TASKS}/subtask_02.json"),
        ("artifact-json", f"{TASKS}/subtask_03.json"),
        ("artifact-unreadable", f"{TASKS}/subtask_04.json"),
    ]


def test_execution_without_task_files_or_summary(tmp_path: Path) -> None:
    assert errors(execution_complete(context(tmp_path, "execution"))) == [
        "artifact-missing",
        "tasks-missing",
    ]


def test_execution_finds_a_completed_feature_in_the_legacy_layout(tmp_path: Path) -> None:
    produce(tmp_path, "tasks", "execution")
    (tmp_path / ".tmp/tasks/completed").mkdir()
    os.replace(tmp_path / TASKS, tmp_path / ".tmp/tasks/completed" / FEATURE)
    assert execution_complete(context(tmp_path, "execution")) == []


# -- 7. integration & validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("# Report\n\nStatus: passed\n", []),
        ("status:PASSED", []),
        ("  **Status:** passed\n", []),
        ("**Status**: Passed\n", []),
        ("Status: passed\nStatus: failed\n", []),
        ("Status: failed\nStatus: passed\n", ["report-not-passed"]),
        ("**Status:** failed\n", ["report-not-passed"]),
        ("Status:\n", ["report-not-passed"]),
        ("All green.\n", ["report-status-missing"]),
        ("Statuses: passed\n", ["report-status-missing"]),
        ("", ["artifact-empty"]),
    ],
)
def test_a_markdown_report_needs_a_passed_status_line(
    tmp_path: Path, text: str, found: List[str]
) -> None:
    write(tmp_path, REPORT, text)
    assert [f.code for f in validation_passed(context(tmp_path, "integration"))] == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('{"status": "passed", "tests": 12}', []),
        ('{"status": " Passed "}', []),
        ('{"status": "failed"}', ["report-not-passed"]),
        ('{"status": true}', ["report-status-missing"]),
        ('{"tests": 12}', ["report-status-missing"]),
        ('["passed"]', ["artifact-json"]),
        ('{"status": "passed"', ["artifact-json"]),
    ],
)
def test_a_json_report_needs_status_passed(tmp_path: Path, text: str, found: List[str]) -> None:
    spec = EIGHT_STAGE.relocate({"validation-report": ".tmp/validation/{feature}.json"})
    write(tmp_path, f".tmp/validation/{FEATURE}.json", text)
    assert [f.code for f in validation_passed(context(tmp_path, "integration", spec))] == found


def test_a_missing_report(tmp_path: Path) -> None:
    assert codes(validation_passed(context(tmp_path, "integration"))) == [
        ("artifact-missing", REPORT, None)
    ]


# -- 8. release & learning ---------------------------------------------------------------


def test_release_notes_and_lessons_must_be_present(tmp_path: Path) -> None:
    assert [f.path for f in release_documented(context(tmp_path, "release"))] == [NOTES, LESSONS]
    produce(tmp_path, "release")
    write(tmp_path, LESSONS, "\n \n")
    assert codes(release_documented(context(tmp_path, "release"))) == [
        ("artifact-empty", LESSONS, None)
    ]


# -- the engine ----------------------------------------------------------------------------


def test_the_engine_uses_the_content_gates_by_default(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path)
    names = [tuple(g.name for g in flow.gates_for(EIGHT_STAGE, key)) for key in EIGHT_STAGE.keys]
    assert names == [(CONTENT_GATES[key].name,) for key in EIGHT_STAGE.keys]
    off = make_orchestrator(tmp_path, default_gates=False)
    assert all(off.gates_for(EIGHT_STAGE, key) == () for key in EIGHT_STAGE.keys)


def test_a_whole_run_completes_through_the_content_gates(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path)
    flow.init(FEATURE)
    for key in EIGHT_STAGE.keys:
        produce(tmp_path, key)
        run = flow.complete(FEATURE, key)
    assert run.status.value == "completed"
    assert all(record.override is None for record in run.stages)


def test_other_workflows_keep_outputs_exist(tmp_path: Path) -> None:
    custom = WorkflowSpec(
        name="custom",
        stages=[
            StageSpec("draft", "Draft", outputs=[Output("Page", "docs/{feature}.md")]),
            # One of the eight keys, but its workflow names no artifact: outputs-exist.
            StageSpec("release", "Release", outputs=[Output("Notes", "notes/{feature}.md")]),
            StageSpec("review", "Review"),
        ],
    )
    flow = make_orchestrator(tmp_path, workflows=[custom])
    assert [g.name for g in flow.gates_for(custom, "draft")] == ["outputs-exist"]
    assert [g.name for g in flow.gates_for(custom, "release")] == ["outputs-exist"]
    assert flow.gates_for(custom, "review") == ()
    flow.init(FEATURE)
    with pytest.raises(GateFailed) as caught:
        flow.complete(FEATURE, "draft")
    assert [f.code for f in caught.value.findings] == ["output-missing"]


def test_unnamed_outputs_of_an_eight_stage_key_are_still_checked(tmp_path: Path) -> None:
    extra = Output("Architecture overview", "docs/{feature}-overview.md")
    first = EIGHT_STAGE.stages[0]
    spec = attrs.evolve(
        EIGHT_STAGE,
        stages=(attrs.evolve(first, outputs=(*first.outputs, extra)), *EIGHT_STAGE.stages[1:]),
    )
    flow = make_orchestrator(tmp_path, workflows=[spec])
    gates = flow.gates_for(spec, "architecture")
    assert [g.name for g in gates] == ["contexts-valid", "outputs-exist"]
    flow.init(FEATURE)
    produce(tmp_path, "architecture")
    with pytest.raises(GateFailed) as caught:
        flow.complete(FEATURE, "architecture")
    assert [(f.code, f.path) for f in caught.value.findings] == [
        ("output-missing", f"docs/{FEATURE}-overview.md")
    ]


def test_complete_with_override_cannot_bypass_the_contract_gate(tmp_path: Path) -> None:
    # Even in a workflow whose contracts stage allows overrides, the content gate does not.
    stages = tuple(
        attrs.evolve(s, exit_overridable=True) if s.key == "contracts" else s
        for s in EIGHT_STAGE.stages
    )
    lenient = attrs.evolve(EIGHT_STAGE, stages=stages)
    assert not default_gates(lenient, "contracts")[0].overridable
    for spec in (EIGHT_STAGE, lenient):
        root = tmp_path / ("strict" if spec is EIGHT_STAGE else "lenient")
        flow = make_orchestrator(root, workflows=[spec])
        flow.init(FEATURE)
        for key in EIGHT_STAGE.keys[:4]:
            produce(root, key)
            flow.complete(FEATURE, key)
        write_outputs(root, "contracts", FEATURE, verbatim=True)
        with pytest.raises(GateFailed) as caught:
            flow.complete(FEATURE, "contracts", override=True, reason="later, promised")
        assert errors(list(caught.value.findings)) == ["contract-missing"] * 3 + ["not-overridable"]
        run = flow.status(FEATURE)
        assert run.stage("contracts").status.value == "failed"
        assert run.stage("contracts").override is None
        produce(root, "contracts")
        assert flow.complete(FEATURE, "contracts").current_stage == "execution"


def test_other_gates_stay_overridable(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path)
    flow.init(FEATURE)
    run = flow.complete(FEATURE, "architecture", override=True, reason="drawn on a whiteboard")
    override = run.stage("architecture").override
    assert override is not None
    assert [f.code for f in override.findings] == ["artifact-missing"]


# -- relocating artifacts ------------------------------------------------------------------


def test_a_relocated_artifact_is_read_recorded_and_archived_there(tmp_path: Path) -> None:
    spec = EIGHT_STAGE.relocate({"story-map": "plans/{feature}/stories.json"})
    assert spec.artifact("story-map") == Output(
        EIGHT_STAGE.stage("stories").outputs[0].description,
        "plans/{feature}/stories.json",
        "story-map",
    )
    assert spec.stage("stories").exit_overridable is True
    assert spec.stage("contracts").exit_overridable is False
    flow = make_orchestrator(tmp_path, workflows=[spec])
    flow.init(FEATURE)
    produce(tmp_path, "architecture")
    flow.complete(FEATURE, "architecture")
    write_outputs(tmp_path, "stories", FEATURE, workflow=spec)
    assert not (tmp_path / MAP).exists()
    run = flow.complete(FEATURE, "stories")
    assert run.stage("stories").outputs == (f"plans/{FEATURE}/stories.json",)
    # The prioritization gate reads the relocated map too.
    produce(tmp_path, "prioritization")
    assert flow.validate(FEATURE, "prioritization").passed
    run = flow.rollback(FEATURE, "stories", reason="redo")
    assert f"plans/{FEATURE}/stories.json" in run.history[-1].archived
    assert not (tmp_path / f"plans/{FEATURE}/stories.json").exists()


def test_relocate_refuses_unknown_and_fixed_artifacts() -> None:
    with pytest.raises(UsageError, match="no artifact 'map'"):
        EIGHT_STAGE.relocate({"map": "x/{feature}.json"})
    with pytest.raises(UsageError, match="cannot be relocated"):
        EIGHT_STAGE.relocate({"task": "x/{feature}/task.json"})
    with pytest.raises(WorkflowDefinitionError, match="must stay inside"):
        EIGHT_STAGE.relocate({"contexts": "../{feature}.json"})
    assert EIGHT_STAGE.relocate({}) == EIGHT_STAGE


def test_artifact_names_are_checked_in_a_definition() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        WorkflowSpec(
            name="named",
            stages=[
                StageSpec(
                    "a",
                    "A",
                    outputs=[Output("one", "a.json", "doc"), Output("no path", None, "nopath")],
                ),
                StageSpec(
                    "b",
                    "B",
                    outputs=[Output("two", "b.json", "doc"), Output("bad", "c.json", "Bad Name")],
                ),
            ],
        )
    assert caught.value.problems == (
        "stage 'a': artifact 'nopath' has no path",
        "stage 'b': artifact 'doc' is also declared by stage 'a'",
        "stage 'b': artifact name 'Bad Name' must be lowercase letters, digits, '-' or '_', "
        "starting with a letter",
    )


@pytest.mark.parametrize("key", EIGHT_STAGE.keys)
def test_a_gate_called_for_a_workflow_without_its_artifacts_says_so(
    tmp_path: Path, key: str
) -> None:
    bare = WorkflowSpec(
        name="bare",
        stages=[attrs.evolve(s, outputs=(), prerequisites=()) for s in EIGHT_STAGE.stages],
    )
    found = check(tmp_path, key, bare)
    assert [f.code for f in found] == ["artifact-undeclared"] * len(CONTENT_GATES[key].reads)
    assert all(name in f.message for f, name in zip(found, CONTENT_GATES[key].reads))
    assert default_gates(bare, key) == ()  # and the engine does not register it there


# -- a gate never raises -------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
TARGETS = [
    CONTEXTS,
    MAP,
    BACKLOG,
    f"{TASKS}/task.json",
    f"{TASKS}/subtask_02.json",
    f"{CONTRACTS}/payment-order-management/contract.json",
]


def _pointers(value: Any, prefix: str = "") -> List[str]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_pointers(item, f"{prefix}/{key}"))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            found.extend(_pointers(item, f"{prefix}/{number}"))
    return found


def _set(document: Any, pointer: str, value: Any) -> Any:
    if not pointer:
        return value
    parts = pointer[1:].split("/")
    node = document
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return document


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("example")
    produce(root, *EIGHT_STAGE.keys)
    return root


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=st.sampled_from(TARGETS), choice=st.integers(min_value=0), value=JSON)
def test_no_gate_raises_on_a_damaged_artifact(
    example: Path, tmp_path_factory: pytest.TempPathFactory, target: str, choice: int, value: Any
) -> None:
    root = tmp_path_factory.mktemp("damaged")
    shutil.copytree(example, root, dirs_exist_ok=True)
    document = json.loads((root / target).read_text(encoding="utf-8"))
    pointers = _pointers(document)
    damaged = _set(document, pointers[choice % len(pointers)], value)
    (root / target).write_text(json.dumps(damaged), encoding="utf-8")
    flow = make_orchestrator(root)
    flow.init(FEATURE)
    run = flow.status(FEATURE)
    for key in EIGHT_STAGE.keys:
        ctx = StageContext(FEATURE, EIGHT_STAGE, EIGHT_STAGE.stage(key), run, root)
        for registration in flow.gates_for(EIGHT_STAGE, key):
            verdict = evaluate_gate(registration, ctx)
            assert "gate-error" not in [f.code for f in verdict.findings], verdict
