"""``stageflow task batches`` and ``stageflow task critical-path``: text, JSON, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from clihelp import cli, cli_json

from stageflow.examples import ORDER_MANAGEMENT

SEED = ORDER_MANAGEMENT / "order-management-mvp"
FEATURE = "order-management-mvp"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STAGEFLOW_ROOT", raising=False)
    shutil.copytree(SEED, tmp_path / ".tmp" / "tasks" / FEATURE)
    return tmp_path


def edit(project: Path, seq: str, **fields: Any) -> None:
    path = project / ".tmp" / "tasks" / FEATURE / f"subtask_{seq}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def test_batches_of_the_seed_in_text(project: Path) -> None:
    result = cli(project, "task", "batches", FEATURE)
    assert result.code == 0
    assert result.out.splitlines() == [
        "Batch 1 (1 task): [01]",
        "Batch 2 (1 task): [02]",
        "Batch 3 (5 tasks): [03, 04, 05, 06, 10]",
        "Batch 4 (1 task): [07]",
        "Batch 5 (1 task): [08]",
        "Batch 6 (1 task): [09]",
        "Batch 7 (1 task): [12]",
        "Batch 8 (1 task): [11]",
    ]


def test_batches_explain_and_width(project: Path) -> None:
    edit(project, "01", status="completed")
    result = cli(project, "task", "batches", FEATURE, "--explain", "--max-width", "2")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[:4] == [
        "Batch 1 (1 task): [02]",
        "  02: generation 0 (no unfinished dependency); not parallel: a batch of its own",
        "Batch 2 (2 tasks): [03, 04]",
        "  03: generation 1 (after 02); parallel",
    ]
    assert "  10: generation 1 (after 02); parallel; moved to a later batch by the width cap" in (
        lines
    )
    assert lines[-1] == "Completed, not planned: 01"


def test_batches_in_json(project: Path) -> None:
    code, document = cli_json(project, "task", "batches", FEATURE, "--priority", "rice")
    assert code == 0
    assert document["feature"] == FEATURE
    assert document["batches"][2] == ["03", "04", "05", "06", "10"]
    assert document["generations"][4] == ["08", "09"]
    assert document["explanations"]["07"]["placed_by"] == ["03", "04", "05"]
    assert document["explanations"]["02"]["rule"] == "sequential"
    assert document["priority"] == "rice"
    assert document["max_width"] is None


@pytest.mark.parametrize("width", ["0", "-3", "two"])
def test_a_bad_width_is_a_usage_error(project: Path, width: str) -> None:
    result = cli(project, "task", "batches", FEATURE, "--max-width", width)
    assert result.code == 2
    assert "--max-width: must be an integer >= 1" in result.err
    code, document = cli_json(project, "task", "batches", FEATURE, "--max-width", width)
    assert (code, document["ok"], document["error"]) == (2, False, "UsageError")


def test_cycles_are_all_named_in_text_and_json(project: Path) -> None:
    edit(project, "01", depends_on=["02"])
    edit(project, "08", depends_on=["07", "12"])
    for command in ("batches", "critical-path"):
        result = cli(project, "task", command, FEATURE)
        assert result.code == 2
        assert result.err.splitlines() == [
            f"error: cannot plan '{FEATURE}': the dependencies have 2 cycles",
            "  cycle: 01 -> 02 -> 01",
            "  cycle: 08 -> 12 -> 08",
        ]
        code, document = cli_json(project, "task", command, FEATURE)
        assert code == 2
        assert document["error"] == "DependencyCycleError"
        assert [c["path"] for c in document["cycles"]] == [["01", "02", "01"], ["08", "12", "08"]]


def test_unusable_files_and_missing_dependencies_refuse_to_plan(project: Path) -> None:
    (project / ".tmp" / "tasks" / FEATURE / "subtask_05.json").write_text("{")
    edit(project, "03", depends_on=["02", "42"])
    result = cli(project, "task", "batches", FEATURE)
    assert result.code == 2
    assert "subtask_05.json: truncated JSON" in result.err
    assert "task 07 depends on 05, whose file cannot be used" in result.err
    code, document = cli_json(project, "task", "critical-path", FEATURE)
    assert (code, document["error"]) == (2, "PlanError")
    assert document["problems"][0]["file"] == f".tmp/tasks/{FEATURE}/subtask_05.json"


def test_critical_path_in_text_and_json(project: Path) -> None:
    edit(project, "06", estimated_effort=4)
    result = cli(project, "task", "critical-path", FEATURE)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "Critical path: 01 -> 02 -> 06 -> 09 -> 11 (length 8)"
    assert "  10  effort 1  start 2  slack 4" in lines
    code, document = cli_json(project, "task", "critical-path", FEATURE)
    assert code == 0
    assert document["path"] == ["01", "02", "06", "09", "11"]
    assert document["length"] == 8
    assert document["slack"]["03"] == 2
    assert document["effort_field"] == "estimated_effort"


def test_bad_effort_and_unknown_feature(project: Path) -> None:
    edit(project, "04", estimated_effort="2 days")
    result = cli(project, "task", "critical-path", FEATURE)
    assert result.code == 2
    assert "task 04: estimated_effort must be a number > 0, not '2 days'" in result.err
    assert cli(project, "task", "batches", FEATURE).code == 0  # effort is not read there
    assert cli(project, "task", "batches", "nope").code == 2


def test_nothing_left_to_plan(project: Path) -> None:
    for seq in [f"{n:02d}" for n in range(1, 13)]:
        edit(project, seq, status="completed")
    assert cli(project, "task", "batches", FEATURE).out == "No unfinished subtasks to plan.\n"
    assert cli(project, "task", "critical-path", FEATURE).out == "No unfinished subtasks to plan.\n"
    assert cli_json(project, "task", "batches", FEATURE)[1]["batches"] == []
