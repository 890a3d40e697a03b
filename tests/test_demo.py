"""The demo walks the whole workflow and shows each kind of decision."""

from __future__ import annotations

from pathlib import Path

from stageflow.demo import DEMO_FEATURE, run_demo
from stageflow.engine import Orchestrator
from stageflow.testing import assert_replays


def test_demo_completes_every_stage_with_a_refusal_an_override_and_a_rollback(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    summary = run_demo(tmp_path / "demo", say=lines.append)

    actions = [step["action"] for step in summary["steps"]]
    assert "complete architecture (no outputs yet)" in actions
    assert "complete prioritization with override" in actions
    assert "rollback to execution" in actions
    assert "complete contracts with override (not overridable)" in actions
    assert summary["status"]["status"] == "completed"
    assert summary["status"]["progress"] == {
        "completed": 8,
        "total": 8,
        "percent": 100,
        "skipped": 0,
    }
    refused = summary["steps"][actions.index("complete architecture (no outputs yet)")]
    assert refused["findings"] == ["artifact-missing"]
    overridden = summary["steps"][actions.index("complete prioritization with override")]
    assert overridden["findings"] == ["rice-score-mismatch"]  # the seed's rounded score
    contracts = summary["steps"][
        actions.index("complete contracts with override (not overridable)")
    ]
    assert contracts["findings"] == ["contract-missing"] * 3 + ["not-overridable"]

    run = Orchestrator(root=tmp_path / "demo").status(DEMO_FEATURE)
    assert_replays(run)
    assert any("artifact-missing" in line for line in lines)
    assert run.stage("contracts").override is None


def test_the_demo_plans_and_executes_stage_6_with_progress(tmp_path: Path) -> None:
    lines: list[str] = []
    summary = run_demo(tmp_path / "demo", say=lines.append)

    assert summary["plan"] == [
        ["01"],
        ["02"],
        ["03", "04", "05", "06", "10"],
        ["07"],
        ["08"],
        ["09"],
        ["12"],
        ["11"],
    ]
    first, second = summary["executions"]
    assert first["ok"]
    assert len(first["completed"]) == 12
    assert first["already_completed"] == []
    # after the rollback only the reopened subtask runs again, as its second attempt
    assert second["completed"] == ["12"]
    assert len(second["already_completed"]) == 11
    assert "    → 12 started (attempt 2)" in lines
    assert "    Batch 8 done (12/12)" in lines
    assert lines[-1].startswith("Summary: 8 of 8 stages completed; 12 of 12 subtasks completed")

    root = tmp_path / "demo"
    report = (root / ".tmp/execution" / DEMO_FEATURE / "summary.md").read_text("utf-8")
    assert report.startswith(f"# Execution of {DEMO_FEATURE}")
    for entry in ("src/orders/services/cart.service.ts", "src/api/orders/order.routes.ts"):
        assert (root / entry).is_file(), entry  # the simulated agent wrote the deliverables


def test_the_execution_outputs_of_unusable_task_files_say_why_nothing_ran(tmp_path: Path) -> None:
    from stageflow.demo import write_outputs

    write_outputs(tmp_path, "tasks", "alpha")
    (tmp_path / ".tmp/tasks/alpha/subtask_01.json").write_text("")
    assert write_outputs(tmp_path, "execution", "alpha") == [".tmp/execution/alpha/summary.md"]
    summary = (tmp_path / ".tmp/execution/alpha/summary.md").read_text(encoding="utf-8")
    assert "Not run: cannot plan: 2 problems" in summary
