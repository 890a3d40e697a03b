"""Command phases: stageflow.phase_commands and ``stageflow phase run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from clihelp import cli, cli_json

from stageflow import Orchestrator, RuleViolation, RunStatus, StageStatus, UsageError
from stageflow.phase_commands import run_command_phase
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
