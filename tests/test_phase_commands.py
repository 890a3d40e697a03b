"""Command phases: stageflow.phase_commands and ``stageflow phase run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import taskdocs
from clihelp import cli, cli_json

from stageflow import Orchestrator, RuleViolation, RunStatus, StageStatus, TaskTracker, UsageError
from stageflow.executor import PermanentFailure, TaskContext, TaskResult
from stageflow.phase_commands import run_command_phase, run_dispatch_phase
from stageflow.testing import make_orchestrator
from stageflow.workflow import PhaseSpec, StageSpec, WorkflowSpec, spec_to_document


def _workflow(*command: str) -> WorkflowSpec:
    return WorkflowSpec(
        "checked",
        [
            StageSpec(
                "build",
                "Build",
                phases=[
                    PhaseSpec("1", "Write", kind="work"),
                    PhaseSpec("2", "Check", kind="command", command=command),
                ],
            ),
            StageSpec("ship", "Ship"),
        ],
    )


def _flow(tmp_path: Path, *command: str) -> Orchestrator:
    flow = make_orchestrator(tmp_path, workflows=[_workflow(*command)])
    flow.init("app", task="ship the app")
    flow.phase_complete("app", "1", summary="written")
    return flow


def _script(tmp_path: Path, body: str) -> List[str]:
    path = tmp_path / "check.py"
    path.write_text(body)
    return [sys.executable, str(path)]


def test_a_command_that_succeeds_completes_the_phase_and_its_stage(tmp_path: Path) -> None:
    argv = _script(
        tmp_path,
        "import json, os, sys\n"
        "brief = json.load(sys.stdin)\n"
        "print('noise')\n"
        "print(brief['stage'], os.environ['STAGEFLOW_PHASE'], os.getcwd() == "
        "os.environ['STAGEFLOW_ROOT'], brief['task_summary'])\n",
    )
    flow = _flow(tmp_path, *argv)
    run = run_command_phase(flow, "app", "2")
    phase = run.stage("build").phase("2")
    assert phase.status is StageStatus.COMPLETED
    assert phase.summary == "build 2 True ship the app"
    assert run.current_stage == "ship"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("import sys\nsys.stderr.write('3 lint errors')\nsys.exit(2)\n", "exited 2: 3 lint errors"),
        ("import time\ntime.sleep(30)\n", "ran longer than 0.5 s and was killed"),
    ],
)
def test_a_command_that_fails_fails_the_phase_with_the_reason(
    tmp_path: Path, body: str, expected: str
) -> None:
    flow = _flow(tmp_path, *_script(tmp_path, body))
    run = run_command_phase(flow, "app", "2", timeout=0.5)
    assert run.status is RunStatus.FAILED
    assert expected in (run.stage("build").phase("2").error or "")
    flow.resume("app")
    run = run_command_phase(flow, "app", "2", timeout=0.5)  # started again after the resume
    assert [e.operation for e in run.history].count("phase_start") == 2


def test_a_command_that_cannot_start_fails_the_phase(tmp_path: Path) -> None:
    flow = _flow(tmp_path, str(tmp_path / "no-such-tool"))
    run = run_command_phase(flow, "app", "2")
    assert "cannot run" in (run.stage("build").phase("2").error or "")


def test_only_command_phases_in_their_turn_run(tmp_path: Path) -> None:
    flow = make_orchestrator(tmp_path, workflows=[_workflow(sys.executable, "-c", "pass")])
    flow.init("app")
    with pytest.raises(UsageError, match="is a work phase, not a command phase"):
        run_command_phase(flow, "app", "1")
    with pytest.raises(RuleViolation):
        run_command_phase(flow, "app", "2")  # phase 1 is not done
    with pytest.raises(UsageError, match="timeout"):
        run_command_phase(flow, "app", "2", timeout=0)


def _install(root: Path, *command: str) -> Path:
    document: Dict[str, Any] = spec_to_document(_workflow(*command))
    path = root / "checked.json"
    path.write_text(json.dumps(document))
    return path


def test_cli_phase_run(tmp_path: Path) -> None:
    ok = _script(tmp_path, "print('all green')\n")
    assert (
        cli(tmp_path, "stage", "init", "app", "--workflow", str(_install(tmp_path, *ok))).code == 0
    )
    assert cli(tmp_path, "phase", "complete", "app", "1").code == 0
    code, out = cli_json(tmp_path, "phase", "run", "app", "2")
    assert code == 0, out
    assert "all green" in out["message"]
    assert out["status"]["current_stage_key"] == "ship"


def test_cli_phase_run_exits_1_when_the_command_fails(tmp_path: Path) -> None:
    bad = _script(tmp_path, "import sys\nsys.exit(3)\n")
    assert (
        cli(tmp_path, "stage", "init", "app", "--workflow", str(_install(tmp_path, *bad))).code == 0
    )
    assert cli(tmp_path, "phase", "complete", "app", "1").code == 0
    result = cli(tmp_path, "phase", "run", "app", "2")
    assert result.code == 1
    assert "exited 3" in result.out
    assert cli(tmp_path, "phase", "run", "app", "1").code == 2  # not a command phase


# -- dispatch phases ----------------------------------------------------------------------


def _feature(root: Path, feature: str, seqs: List[str]) -> TaskTracker:
    """A chain of subtasks in the files store under ``root``."""
    tracker = TaskTracker(root=root)
    documents = taskdocs.feature(feature, seqs, lambda n, seq: seqs[n - 1 : n] if n else [])
    tracker.store.create(feature, *documents)
    return tracker


def _at_dispatch(root: Path) -> Orchestrator:
    flow = make_orchestrator(root)
    flow.init("pay", workflow="plan-implement-test-final")
    for phase in ("1.1", "1.2", "1.3"):
        flow.phase_complete("pay", phase)
    return flow


def test_a_dispatch_phase_runs_the_subtasks_and_completes(tmp_path: Path) -> None:
    tracker = _feature(tmp_path, "pay", ["01", "02", "03"])
    flow = _at_dispatch(tmp_path)
    seen: List[str] = []

    def worker(subtask: Dict[str, Any], context: TaskContext) -> TaskResult:
        seen.append(subtask["seq"])
        return TaskResult("done " + subtask["seq"])

    run, report = run_dispatch_phase(flow, "pay", "2.1", tracker, worker, concurrency=2)
    assert seen == ["01", "02", "03"]
    assert report.ok
    phase = run.stage("implement").phase("2.1")
    assert phase.status is StageStatus.COMPLETED
    assert phase.summary is not None
    assert phase.summary.startswith("3 of 3 subtasks completed")
    assert run.stage("implement").phase("2.0").status is StageStatus.COMPLETED  # inline


def test_a_dispatch_phase_with_failures_fails_naming_them(tmp_path: Path) -> None:
    tracker = _feature(tmp_path, "pay", ["01", "02"])
    flow = _at_dispatch(tmp_path)

    def worker(subtask: Dict[str, Any], context: TaskContext) -> TaskResult:
        raise PermanentFailure("no database")

    run, report = run_dispatch_phase(flow, "pay", "2.1", tracker, worker, retries=0)
    assert not report.ok
    assert run.status is RunStatus.FAILED
    error = run.stage("implement").phase("2.1").error or ""
    assert "2 of 2 subtasks not completed" in error
    assert "01 failed (no database)" in error
    assert "02 skipped" in error


def test_cli_task_run_as_a_dispatch_phase(tmp_path: Path) -> None:
    _feature(tmp_path, "pay", ["01", "02"])
    assert (
        cli(tmp_path, "stage", "init", "pay", "--workflow", "plan-implement-test-final").code == 0
    )
    for phase in ("1.1", "1.2", "1.3"):
        assert cli(tmp_path, "phase", "complete", "pay", phase).code == 0
    command = f"{sys.executable} -c \"print('ok')\""
    code, out = cli_json(tmp_path, "task", "run", "pay", "--command", command, "--phase", "2.1")
    assert code == 0, out
    assert out["status"]["stages"][1]["phases"][1]["status"] == "completed"
    refused = cli(tmp_path, "task", "run", "pay", "--command", command, "--phase", "2.1")
    assert refused.code == 1  # the phase is done: starting it again is refused
    assert "already completed" in refused.err


def test_cli_phase_run_hands_the_configured_brief(tmp_path: Path) -> None:
    argv = _script(tmp_path, "import json, sys\nprint(json.load(sys.stdin)['settings']['model'])\n")
    assert (
        cli(tmp_path, "stage", "init", "app", "--workflow", str(_install(tmp_path, *argv))).code
        == 0
    )
    (tmp_path / ".stageflow").mkdir()
    (tmp_path / ".stageflow" / "config.json").write_text(
        json.dumps({"stages": {"build": {"model": "opus-x"}}})
    )
    assert cli(tmp_path, "phase", "complete", "app", "1").code == 0
    status = cli(tmp_path, "stage", "status", "app").out
    assert "Next: stageflow phase run app 2" in status
    result = cli(tmp_path, "phase", "run", "app", "2")
    assert result.code == 0
    assert "opus-x" in result.out
