"""Minimal stage context: the task summary, the stage's own settings, the previous
summary and the plan file, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import cli, cli_json

from stageflow.config import load_config
from stageflow.context import MARKER, TASK_SUMMARY_LIMIT, StageBrief, context_for, summarize
from stageflow.errors import UsageError
from stageflow.testing import assert_replays, make_orchestrator

PITF = "plan-implement-test-final"
LONG_TASK = "Add a checkout page that takes card payments. " * 10


def test_summaries_are_cut_with_a_visible_marker() -> None:
    assert summarize("short  task\nwith lines") == "short task with lines"
    cut = summarize(LONG_TASK)
    assert cut is not None
    assert len(cut) == TASK_SUMMARY_LIMIT
    assert cut.endswith(MARKER)
    assert summarize("x" * TASK_SUMMARY_LIMIT) == "x" * TASK_SUMMARY_LIMIT  # no cut needed
    assert summarize(None) is None


def test_a_stage_receives_its_brief_and_nothing_else(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path)
    flow.init("shop", workflow=PITF, task=LONG_TASK, skip=("test",))
    flow.phase_complete("shop", "1.1", summary="three options; Stripe wins")
    brief = flow.context("shop", "plan")
    assert brief.phase == "1.2"
    assert brief.previous_phase_summary == "three options; Stripe wins"
    assert brief.previous_stage is None
    flow.phase_complete("shop", "1.2", summary="plan written", plan_file="docs/plans/shop.md")
    flow.phase_complete("shop", "1.3", summary="approved")
    brief = flow.context("shop", "implement")
    assert brief.task_summary == summarize(LONG_TASK)
    assert brief.previous_stage == "plan"
    assert brief.previous_summary == (
        "1.1 Brainstorm: three options; Stripe wins\n1.2 Write Plan: plan written\n"
        "1.3 Plan Review: approved"
    )
    assert brief.plan_file == "docs/plans/shop.md"
    assert (brief.phase, brief.previous_phase_summary) == ("2.0", None)
    assert set(brief.to_dict()) == {f.name for f in StageBrief.__attrs_attrs__}
    for phase in ("2.1", "2.2", "2.3"):
        flow.phase_complete("shop", phase, summary=f"{phase} done")
    final = flow.context("shop", "final")
    assert final.previous_stage == "implement"  # TEST is skipped: never a "previous" stage
    assert_replays(flow.status("shop"))


def test_the_settings_are_the_stage_s_own(tmp_path: Path) -> None:
    project = tmp_path / ".stageflow"
    project.mkdir()
    (project / "config.json").write_text(
        json.dumps({"stages": {"implement": {"model": "opus", "max_retries": 5}}})
    )
    flow = make_orchestrator(tmp_path)
    flow.init("shop", workflow=PITF)
    config = load_config(tmp_path)
    assert flow.context("shop", "implement", config=config).settings.max_retries == 5
    assert flow.context("shop", "plan", config=config).settings.max_retries == 3
    assert flow.context("shop", "plan").settings.model == "inherit"


def test_a_run_without_a_task_or_phases(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path)
    run = flow.init("shop")
    brief = context_for(run, flow.workflow("eight-stage"), "stories")
    assert (brief.task_summary, brief.phase, brief.plan_file) == (None, None, None)
    assert (brief.number, brief.name) == (2, "Story Mapping")
    with pytest.raises(UsageError, match="task description"):
        flow.init("cart", task="   ")


def test_stage_context_cli(tmp_path: Path) -> None:
    assert cli(tmp_path, "stage", "init", "shop", "--workflow", PITF, "--task", LONG_TASK).code == 0
    code, document = cli_json(tmp_path, "stage", "context", "shop", "2")
    assert code == 0
    assert document["stage"] == "implement"
    assert document["task_summary"].endswith(MARKER)
    assert document["settings"]["on_exhausted"] == "continue"
    text = cli(tmp_path, "stage", "context", "shop", "plan").out.splitlines()
    assert text[0] == "Stage 1 (PLAN) of 'shop' [plan-implement-test-final]"
    assert text[-1] == "  Phase: 1.1 (previous phase's summary: none)"
    assert cli(tmp_path, "stage", "context", "shop", "nine").code == 2
    assert cli(tmp_path, "stage", "context", "nobody", "1").code == 2
