"""The ``stageflow`` command: every ``stage`` command in text and ``--json`` mode, exit codes,
project-root discovery, the demo, and bad input that must change nothing on disk."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import pytest

import stageflow
from stageflow.cli import main
from stageflow.demo import write_outputs
from stageflow.workflow import EIGHT_STAGE

FEATURE = "auth"
TRACEBACK = "Traceback (most recent call last)"
STAGE_FIELDS = ("number", "key", "name", "status", "started_at", "completed_at", "failed_at")


class Result(NamedTuple):
    code: int
    out: str
    err: str

    @property
    def document(self) -> Any:
        """The one JSON document on stdout (the whole of stdout must parse)."""
        return json.loads(self.out)


def _with_option(argv: Sequence[str], *option: str) -> List[str]:
    """``argv`` plus an option, where people put it: at the end (first after a ``--``)."""
    return [*option, *argv] if "--" in argv else [*argv, *option]


def cli(*argv: str, root: Optional[Path] = None) -> Result:
    """Run the command in-process; ``root`` adds ``--root``."""
    args = _with_option(argv, "--root", str(root)) if root is not None else list(argv)
    out, err = io.StringIO(), io.StringIO()
    code = main(args, out=out, err=err)
    result = Result(code, out.getvalue(), err.getvalue())
    assert TRACEBACK not in result.out + result.err, result
    return result


def cli_json(*argv: str, root: Optional[Path] = None) -> Tuple[int, Dict[str, Any]]:
    result = cli(*_with_option(argv, "--json"), root=root)
    document = result.document  # exactly one JSON document on stdout
    assert isinstance(document, dict)
    return result.code, document


def run_process(*argv: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m stageflow`` in a real process (this interpreter, this source tree)."""
    env = dict(os.environ)
    source = os.path.dirname(os.path.dirname(os.path.abspath(stageflow.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    env.pop("STAGEFLOW_ROOT", None)
    return subprocess.run(
        [sys.executable, "-m", "stageflow", *argv],
        cwd=str(cwd) if cwd else None,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(autouse=True)
def _no_root_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAGEFLOW_ROOT", raising=False)
    monkeypatch.setenv("STAGEFLOW_ACTOR", "tester")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    return root


@pytest.fixture
def started(project: Path) -> Path:
    """A project whose feature ``auth`` has a run at stage 1."""
    assert cli("stage", "init", FEATURE, root=project).code == 0
    return project


def produce(root: Path, stage: str, feature: str = FEATURE) -> List[str]:
    """Write the example artifacts of ``stage`` that pass its content gate; return their paths."""
    return write_outputs(root, stage, feature)


def complete_through(root: Path, last: int, feature: str = FEATURE) -> None:
    """Produce the outputs of stages 1..last and complete them."""
    for number in range(1, last + 1):
        produce(root, EIGHT_STAGE.stages[number - 1].key, feature)
        result = cli("stage", "complete", feature, str(number), root=root)
        assert result.code == 0, result


def tracking_file(root: Path, feature: str = FEATURE) -> Path:
    found = sorted(root.glob(f".tmp/sessions/*-{feature}/stage-tracking.json"))
    assert len(found) == 1, found
    return found[0]


def status(root: Path, feature: str = FEATURE, *extra: str) -> Dict[str, Any]:
    code, document = cli_json("stage", "status", feature, *extra, root=root)
    assert code == 0, document
    return document


def history(root: Path, feature: str = FEATURE) -> List[Dict[str, Any]]:
    code, document = cli_json("stage", "history", feature, root=root)
    assert code == 0, document
    return list(document["history"])


def snapshot(folder: Path) -> Dict[str, bytes]:
    """Every file under ``folder`` with its bytes (folders as empty markers)."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(folder.rglob("*"))
        if not p.name.endswith(".lock")  # taking a lock may create its (empty) file
    }


def assert_findings_printed(text: str, findings: Sequence[Dict[str, Any]]) -> None:
    assert findings
    for finding in findings:
        assert finding["code"] in text
        assert finding["message"] in text


# -- init, status, list --------------------------------------------------------------------


def test_init_starts_a_run_with_stage_1_in_progress(project: Path) -> None:
    result = cli("stage", "init", FEATURE, root=project)

    assert result.code == 0
    assert "run #1" in result.out
    assert "Architecture Decomposition" in result.out
    path = tracking_file(project)
    assert re.match(r"^\d{4}-\d{2}-\d{2}-auth$", path.parent.name)
    view = status(project)
    assert (view["status"], view["current_stage"]) == ("active", 1)
    assert [s["status"] for s in view["stages"]] == ["in_progress"] + ["pending"] * 7
    assert view["stages"][0]["started_at"]


def test_init_json_prints_the_new_run(project: Path) -> None:
    code, document = cli_json("stage", "init", FEATURE, root=project)

    assert code == 0
    assert document["ok"] is True
    assert document["status"]["feature"] == FEATURE
    assert document["status"]["run"] == 1
    assert document["status"]["current_stage"] == 1


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_init_while_a_run_is_active_is_refused_and_recorded(started: Path, as_json: bool) -> None:
    before = status(started)
    if as_json:
        code, document = cli_json("stage", "init", FEATURE, root=started)
        assert code == 1
        assert document["ok"] is False
        assert [f["code"] for f in document["findings"]] == ["run-exists"]
    else:
        result = cli("stage", "init", FEATURE, root=started)
        assert result.code == 1
        assert "run-exists" in result.err
        assert "resume or abort" in result.err

    after = status(started)
    assert after["run"] == 1
    assert after["stages"] == before["stages"]
    events = history(started)
    assert [(e["operation"], e["outcome"]) for e in events] == [
        ("init", "applied"),
        ("init", "refused"),
    ]
    assert len(list(started.glob(".tmp/sessions/*-auth"))) == 1


def test_status_json_holds_the_documented_fields(started: Path) -> None:
    code, view = cli_json("stage", "status", FEATURE, root=started)

    assert code == 0
    assert view["feature"] == FEATURE
    assert view["workflow"] == "eight-stage"
    assert view["status"] == "active"
    assert view["current_stage"] == 1
    assert [s["number"] for s in view["stages"]] == list(range(1, 9))
    assert [s["key"] for s in view["stages"]] == list(EIGHT_STAGE.keys)
    assert [s["name"] for s in view["stages"]] == [s.name for s in EIGHT_STAGE.stages]
    for stage in view["stages"]:
        for field in STAGE_FIELDS:
            assert field in stage
    assert view["stages"][0]["completed_at"] is None


def test_status_text_shows_every_stage_and_the_next_command(started: Path) -> None:
    result = cli("stage", "status", FEATURE, root=started)

    assert result.code == 0
    for stage in EIGHT_STAGE.stages:
        assert stage.name in result.out
    assert "stageflow stage complete auth 1" in result.out


def test_list_shows_each_feature_and_its_latest_run(project: Path) -> None:
    assert cli("stage", "list", root=project).code == 0  # nothing yet is not an error
    code, document = cli_json("stage", "list", root=project)
    assert (code, document) == (0, {"features": []})

    cli("stage", "init", "payments", root=project)
    cli("stage", "init", FEATURE, root=project)
    cli("stage", "abort", "payments", "--reason", "dropped", root=project)

    code, document = cli_json("stage", "list", root=project)
    assert code == 0
    rows = {row["feature"]: row for row in document["features"]}
    assert sorted(rows) == ["auth", "payments"]
    assert rows["auth"]["status"] == "active"
    assert rows["payments"]["status"] == "aborted"
    text = cli("stage", "list", root=project)
    assert text.code == 0
    assert "auth" in text.out
    assert "payments" in text.out


# -- validate ------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_validate_reports_every_finding_and_changes_nothing(started: Path, as_json: bool) -> None:
    complete_through(started, 3)
    before = snapshot(started)
    expected = [".tmp/tasks/auth/task.json", ".tmp/tasks/auth"]  # task-missing, subtasks-missing

    if as_json:
        code, document = cli_json("stage", "validate", FEATURE, "4", root=started)
        assert code == 1
        assert document["passed"] is False
        assert document["stage"] == 4
        findings = [f for v in document["verdicts"] for f in v["findings"]]
        assert sorted(f["path"] for f in findings) == sorted(expected)
    else:
        result = cli("stage", "validate", FEATURE, "tasks", root=started)
        assert result.code == 1
        assert "NOT ready" in result.out
        for path in expected:
            assert path in result.out

    assert snapshot(started) == before


def test_validate_passes_when_the_stage_is_ready(started: Path) -> None:
    produce(started, "architecture")
    before = snapshot(started)

    code, document = cli_json("stage", "validate", FEATURE, "1", root=started)

    assert code == 0
    assert document["passed"] is True
    assert all(v["passed"] for v in document["verdicts"])
    assert cli("stage", "validate", FEATURE, "architecture", root=started).code == 0
    assert snapshot(started) == before


def test_validate_refuses_a_stage_that_is_not_current(started: Path) -> None:
    for stage in EIGHT_STAGE.stages:  # every later stage's outputs are present
        produce(started, stage.key)

    code, document = cli_json("stage", "validate", FEATURE, "3", root=started)

    assert code == 1
    codes = [f["code"] for v in document["verdicts"] for f in v["findings"]]
    assert "not-current-stage" in codes
    assert "prerequisite-incomplete" in codes


# -- complete ------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_complete_with_missing_outputs_fails_the_stage_with_every_finding(
    started: Path, as_json: bool
) -> None:
    complete_through(started, 3)

    if as_json:
        code, document = cli_json("stage", "complete", FEATURE, "4", root=started)
        assert code == 1
        assert document["ok"] is False
        assert document["error"] == "GateFailed"
        findings = document["findings"]
        assert document["status"]["stages"][3]["status"] == "failed"
    else:
        result = cli("stage", "complete", FEATURE, "4", root=started)
        assert result.code == 1
        findings = status(started)["stages"][3]["findings"]
        assert_findings_printed(result.err, findings)

    assert sorted(f["path"] for f in findings) == [
        ".tmp/tasks/auth",  # subtasks-missing
        ".tmp/tasks/auth/task.json",  # task-missing
    ]
    view = status(started)
    assert view["status"] == "active"
    assert view["current_stage"] == 4
    assert view["stages"][3]["status"] == "failed"
    assert view["stages"][3]["failed_at"]
    assert view["stages"][3]["findings"] == findings

    produce(started, "tasks")  # fix, then complete again
    result = cli("stage", "complete", FEATURE, "4", root=started)
    assert result.code == 0, result
    view = status(started)
    assert view["current_stage"] == 5
    assert [s["status"] for s in view["stages"][:5]] == ["completed"] * 4 + ["in_progress"]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_complete_moves_to_the_next_stage(started: Path, as_json: bool) -> None:
    produce(started, "architecture")
    if as_json:
        code, document = cli_json("stage", "complete", FEATURE, "architecture", root=started)
        assert code == 0
        assert document["ok"] is True
        assert document["status"]["current_stage"] == 2
    else:
        result = cli("stage", "complete", FEATURE, "1", root=started)
        assert result.code == 0
        assert "Story Mapping" in result.out

    view = status(started)
    assert view["stages"][0]["status"] == "completed"
    assert view["stages"][0]["completed_at"]
    assert view["stages"][0]["outputs"] == [".tmp/tasks/auth/contexts.json"]
    assert view["stages"][1]["status"] == "in_progress"


def test_completing_every_stage_completes_the_run(started: Path) -> None:
    complete_through(started, 8)

    view = status(started)
    assert view["status"] == "completed"
    assert view["current_stage"] is None
    assert all(s["status"] == "completed" for s in view["stages"])
    assert view["ended_at"]
    code, document = cli_json("stage", "complete", FEATURE, "8", root=started)
    assert code == 1
    assert document["findings"][0]["code"] == "run-completed"


@pytest.mark.parametrize("stage", ["2", "8", "stories"])
def test_completing_a_stage_that_is_not_current_is_refused(started: Path, stage: str) -> None:
    for spec in EIGHT_STAGE.stages:
        produce(started, spec.key)

    code, document = cli_json("stage", "complete", FEATURE, stage, root=started)

    assert code == 1
    assert document["error"] == "RuleViolation"
    codes = [f["code"] for f in document["findings"]]
    assert "not-current-stage" in codes
    assert "prerequisite-incomplete" in codes
    assert status(started)["stages"][0]["status"] == "in_progress"
    assert history(started)[-1]["outcome"] == "refused"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_complete_with_override_and_reason_records_the_override(
    started: Path, as_json: bool
) -> None:
    reason = "the architecture lives in the wiki this sprint"
    argv = ("stage", "complete", FEATURE, "1", "--override", "--reason", reason)
    if as_json:
        code, document = cli_json(*argv, root=started)
        assert code == 0
        assert document["ok"] is True
    else:
        result = cli(*argv, root=started)
        assert result.code == 0
        assert reason in result.out

    view = status(started)
    assert view["current_stage"] == 2
    override = view["stages"][0]["override"]
    assert override["justification"] == reason
    assert override["actor"] == "tester"
    assert [f["code"] for f in override["findings"]] == ["artifact-missing"]
    last = history(started)[-1]
    assert (last["operation"], last["outcome"]) == ("complete", "applied")
    assert last["override"]["justification"] == reason


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_an_override_without_a_justification_is_refused(
    started: Path, reason: Optional[str]
) -> None:
    argv = ["stage", "complete", FEATURE, "1", "--override"]
    if reason is not None:
        argv += ["--reason", reason]

    result = cli(*argv, root=started)
    code, document = cli_json(*argv, root=started)

    assert result.code == 1
    assert "override-needs-justification" in result.err
    assert code == 1
    assert "override-needs-justification" in [f["code"] for f in document["findings"]]
    view = status(started)
    assert view["current_stage"] == 1
    assert view["stages"][0]["status"] != "completed"


def test_the_contract_stage_cannot_be_overridden(started: Path) -> None:
    complete_through(started, 4)

    result = cli(
        "stage", "complete", FEATURE, "5", "--override", "--reason", "trust me", root=started
    )

    assert result.code == 1
    assert "not-overridable" in result.err
    assert "contract-missing" in result.err
    view = status(started)
    assert view["current_stage"] == 5
    assert view["stages"][4]["status"] == "failed"
    assert view["stages"][4]["override"] is None


def test_complete_registers_extra_outputs(started: Path) -> None:
    produce(started, "architecture")
    (started / "docs").mkdir()
    (started / "docs" / "architecture.md").write_text("# Overview\n", encoding="utf-8")

    code, _ = cli_json(
        "stage", "complete", FEATURE, "1", "--output", "docs/architecture.md", root=started
    )

    assert code == 0
    outputs = status(started)["stages"][0]["outputs"]
    assert "docs/architecture.md" in outputs
    assert ".tmp/tasks/auth/contexts.json" in outputs


@pytest.mark.parametrize("output", ["../outside.md", "/etc/passwd", "docs/../../outside.md"])
def test_an_output_outside_the_project_is_refused_and_nothing_is_recorded(
    started: Path, output: str
) -> None:
    produce(started, "architecture")
    before = snapshot(started)

    result = cli("stage", "complete", FEATURE, "1", "--output", output, root=started)

    assert result.code == 2
    assert output in result.err
    assert snapshot(started) == before


@pytest.mark.parametrize("output", [".", "./", ".tmp", ".tmp/sessions"])
def test_registering_the_project_or_stageflow_state_as_an_output_never_breaks_rollback(
    started: Path, output: str
) -> None:
    """Such an output is refused up front, or a later rollback still works and stageflow's
    own state stays where it is; what may not happen is a run that can never roll back."""
    before = _good(started)

    result = cli(
        "stage", "complete", FEATURE, "1", "--override", "--reason", "r", "--output", output,
        root=started,
    )  # fmt: skip

    if result.code == 2:  # refused: nothing recorded
        assert _good(started) == before
        return
    assert result.code == 0
    rollback = cli("stage", "rollback", FEATURE, "1", "--reason", "redo", root=started)
    assert rollback.code == 0, rollback.err
    view = status(started)
    assert (view["status"], view["current_stage"]) == ("active", 1)
    assert (started / ".git").is_dir()


# -- fail, resume, rollback, abort --------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_fail_then_resume(started: Path, as_json: bool) -> None:
    argv = ("stage", "fail", FEATURE, "1", "--reason", "the spike showed a dead end")
    if as_json:
        code, document = cli_json(*argv, root=started)
        assert code == 0
        assert document["status"]["status"] == "failed"
    else:
        assert cli(*argv, root=started).code == 0

    view = status(started)
    assert view["status"] == "failed"
    assert view["stages"][0]["status"] == "failed"
    assert view["stages"][0]["error"] == "the spike showed a dead end"
    assert view["next_action"] == "stageflow stage resume auth 1"

    produce(started, "architecture")
    assert cli("stage", "complete", FEATURE, "1", root=started).code == 1  # failed run

    if as_json:
        code, document = cli_json("stage", "resume", FEATURE, "1", root=started)
        assert code == 0
        assert document["status"]["status"] == "active"
    else:
        assert cli("stage", "resume", FEATURE, "architecture", root=started).code == 0
    view = status(started)
    assert view["status"] == "active"
    assert view["stages"][0]["status"] == "in_progress"
    assert cli("stage", "complete", FEATURE, "1", root=started).code == 0


def test_fail_of_another_stage_and_resume_of_an_active_run_are_refused(started: Path) -> None:
    code, document = cli_json("stage", "fail", FEATURE, "2", "--reason", "x", root=started)
    assert code == 1
    assert "not-current-stage" in [f["code"] for f in document["findings"]]

    result = cli("stage", "resume", FEATURE, "1", root=started)
    assert result.code == 1
    assert "run-active" in result.err
    assert status(started)["status"] == "active"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_rollback_resets_later_stages_and_archives_their_outputs(
    started: Path, as_json: bool
) -> None:
    complete_through(started, 3)
    argv = ("stage", "rollback", FEATURE, "2", "--reason", "the story map missed a persona")
    if as_json:
        code, document = cli_json(*argv, root=started)
        assert code == 0
        assert document["status"]["current_stage"] == 2
    else:
        result = cli(*argv, root=started)
        assert result.code == 0
        assert "archived" in result.out

    view = status(started)
    assert view["status"] == "active"
    assert view["current_stage"] == 2
    # The target and every later stage return to pending; the target is the current stage.
    assert [s["status"] for s in view["stages"][:4]] == [
        "completed",
        "pending",
        "pending",
        "pending",
    ]
    assert view["stages"][2]["completed_at"] is None
    # Outputs of the rolled-back stages are moved to the archive, never deleted.
    assert not (started / ".tmp/planning/auth/map.json").exists()
    archived = list(started.glob(".tmp/archive/auth/*-rollback/.tmp/planning/auth/map.json"))
    assert len(archived) == 1
    assert json.loads(archived[0].read_text(encoding="utf-8"))["stories"]
    assert (started / ".tmp/tasks/auth/contexts.json").exists()  # stage 1 untouched
    last = history(started)[-1]
    assert last["reason"] == "the story map missed a persona"
    assert ".tmp/planning/auth/map.json" in last["archived"]


def test_rollback_never_moves_forward(started: Path) -> None:
    complete_through(started, 2)
    before = status(started)

    code, document = cli_json("stage", "rollback", FEATURE, "6", "--reason", "skip", root=started)

    assert code == 1
    assert "rollback-forward" in [f["code"] for f in document["findings"]]
    after = status(started)
    assert after["current_stage"] == 3
    assert after["stages"] == before["stages"]


def test_rollback_to_the_current_stage_restarts_it(started: Path) -> None:
    complete_through(started, 2)

    code, _ = cli_json("stage", "rollback", FEATURE, "3", "--reason", "start over", root=started)

    assert code == 0
    view = status(started)
    assert (view["status"], view["current_stage"]) == ("active", 3)
    assert view["stages"][2]["status"] == "pending"
    assert view["stages"][2]["started_at"] is None
    assert [s["status"] for s in view["stages"][:2]] == ["completed", "completed"]
    # The stage can be completed again straight away.
    produce(started, "prioritization")
    assert cli("stage", "complete", FEATURE, "3", root=started).code == 0


def test_rolling_back_a_released_stage_without_a_deployment_rollback_hook_is_refused(
    started: Path,
) -> None:
    complete_through(started, 8)

    result = cli("stage", "rollback", FEATURE, "8", "--reason", "bad release", root=started)

    assert result.code == 1
    assert "rollback-needs-hook" in result.err
    assert status(started)["status"] == "completed"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_abort_keeps_the_run_readable_and_a_new_init_starts_run_2(
    started: Path, as_json: bool
) -> None:
    complete_through(started, 1)
    argv = ("stage", "abort", FEATURE, "--reason", "priorities changed")
    if as_json:
        code, document = cli_json(*argv, root=started)
        assert code == 0
        assert document["status"]["status"] == "aborted"
    else:
        assert cli(*argv, root=started).code == 0
    aborted = status(started)
    assert aborted["status"] == "aborted"
    assert aborted["ended_at"]
    # Partial work is archived (copied) and left in place.
    assert (started / ".tmp/tasks/auth/contexts.json").exists()
    assert list(started.glob(".tmp/archive/auth/*-abort/.tmp/tasks/auth/contexts.json"))

    code, document = cli_json("stage", "init", FEATURE, root=started)
    assert code == 0
    assert document["status"]["run"] == 2

    assert status(started)["run"] == 2
    old = status(started, FEATURE, "--run", "1")
    assert old == aborted
    code, old_history = cli_json("stage", "history", FEATURE, "--run", "1", root=started)
    assert code == 0
    assert old_history["run"] == 1
    assert [e["operation"] for e in old_history["history"]] == ["init", "complete", "abort"]
    archived = started / ".tmp/sessions/archive/auth/run-1/stage-tracking.json"
    assert json.loads(archived.read_text(encoding="utf-8"))["status"] == "aborted"


def test_resume_after_abort_only_where_the_run_stopped(started: Path) -> None:
    complete_through(started, 2)
    assert cli("stage", "abort", FEATURE, "--reason", "pause", root=started).code == 0

    for target, code_expected in (("5", "resume-jump"), ("1", "resume-not-current")):
        code, document = cli_json("stage", "resume", FEATURE, target, root=started)
        assert code == 1
        assert code_expected in [f["code"] for f in document["findings"]]
        assert status(started)["status"] == "aborted"

    code, document = cli_json("stage", "resume", FEATURE, "3", root=started)
    assert code == 0
    view = status(started)
    assert (view["status"], view["current_stage"]) == ("active", 3)
    assert view["ended_at"] is None


def test_abort_twice_is_refused(started: Path) -> None:
    assert cli("stage", "abort", FEATURE, "--reason", "stop", root=started).code == 0
    result = cli("stage", "abort", FEATURE, "--reason", "stop again", root=started)
    assert result.code == 1
    assert "run-aborted" in result.err


# -- history ---------------------------------------------------------------------------


def test_history_lists_every_operation_including_refused_ones(started: Path) -> None:
    cli("stage", "complete", FEATURE, "1", root=started)  # gates fail
    cli("stage", "complete", FEATURE, "3", root=started)  # refused by the rules
    produce(started, "architecture")
    cli("stage", "complete", FEATURE, "1", root=started)
    cli("stage", "rollback", FEATURE, "1", "--reason", "redo", root=started)

    code, document = cli_json("stage", "history", FEATURE, root=started)

    assert code == 0
    assert (document["feature"], document["run"]) == (FEATURE, 1)
    events = document["history"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    assert [(e["operation"], e["outcome"]) for e in events] == [
        ("init", "applied"),
        ("complete", "failed"),
        ("complete", "refused"),
        ("complete", "applied"),
        ("rollback", "applied"),
    ]
    for event in events:
        assert event["at"]
        assert event["actor"] == "tester"
    assert events[-1]["reason"] == "redo"
    assert (events[-1]["stage_before"], events[-1]["stage_after"]) == ("stories", "architecture")

    text = cli("stage", "history", FEATURE, root=started)
    assert text.code == 0
    assert "artifact-missing" in text.out
    assert "not-current-stage" in text.out
    assert "reason: redo" in text.out


# -- could not run: exit code 2 ------------------------------------------------------------

USAGE_ERRORS = {
    "no-command": [],
    "unknown-command": ["bogus"],
    "help-is-not-a-stage-command": ["stage", "help"],
    "stage-without-command": ["stage"],
    "missing-feature": ["stage", "status"],
    "missing-stage": ["stage", "complete", FEATURE],
    "missing-reason": ["stage", "fail", FEATURE, "1"],
    "empty-reason": ["stage", "rollback", FEATURE, "1", "--reason", ""],
    "blank-abort-reason": ["stage", "abort", FEATURE, "--reason", "  "],
    "stage-9": ["stage", "complete", FEATURE, "9"],
    "stage-0": ["stage", "complete", FEATURE, "0"],
    "stage-2abc": ["stage", "complete", FEATURE, "2abc"],
    "stage-1.0": ["stage", "validate", FEATURE, "1.0"],
    "unknown-stage-key": ["stage", "rollback", FEATURE, "deploy", "--reason", "x"],
    "unknown-resume-stage": ["stage", "resume", FEATURE, "12"],
    "bad-run-number": ["stage", "status", FEATURE, "--run", "abc"],
    "missing-run": ["stage", "history", FEATURE, "--run", "7"],
    "unknown-workflow": ["stage", "init", "other", "--workflow", "nope"],
    "unknown-option": ["stage", "status", FEATURE, "--colour"],
    "unknown-feature-status": ["stage", "status", "nope"],
    "unknown-feature-history": ["stage", "history", "nope"],
    "unknown-feature-validate": ["stage", "validate", "nope", "1"],
    "unknown-feature-complete": ["stage", "complete", "nope", "1"],
    "unknown-feature-fail": ["stage", "fail", "nope", "1", "--reason", "x"],
    "unknown-feature-rollback": ["stage", "rollback", "nope", "1", "--reason", "x"],
    "unknown-feature-abort": ["stage", "abort", "nope", "--reason", "x"],
    "unknown-feature-resume": ["stage", "resume", "nope", "1"],
}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("argv", list(USAGE_ERRORS.values()), ids=list(USAGE_ERRORS))
def test_commands_that_cannot_run_exit_2_and_change_nothing(
    started: Path, argv: List[str], as_json: bool
) -> None:
    before = snapshot(started)
    needs_root = bool(argv) and argv[0] == "stage" and len(argv) > 1

    if as_json:
        result = cli(*argv, "--json", root=started if needs_root else None)
        document = result.document
        assert document["ok"] is False
        assert document["error"]
        assert document["message"]
    else:
        result = cli(*argv, root=started if needs_root else None)
        assert result.err.startswith("error: ")
        assert result.out == ""

    assert result.code == 2
    assert snapshot(started) == before


def test_an_unknown_stage_names_the_valid_stages(started: Path) -> None:
    result = cli("stage", "complete", FEATURE, "9", root=started)
    assert result.code == 2
    assert "9" in result.err
    assert "1 (architecture)" in result.err
    assert "8 (release)" in result.err


def test_a_session_of_another_feature_is_never_read_as_this_one(project: Path) -> None:
    """stage-cli found feature 'system' in the '...-auth-system' session folder."""
    assert cli("stage", "init", "auth-system", root=project).code == 0

    result = cli("stage", "status", "system", root=project)

    assert result.code == 2
    assert "no run for feature 'system'" in result.err
    assert cli("stage", "init", "system", root=project).code == 0
    assert status(project, "system")["feature"] == "system"
    assert status(project, "auth-system")["feature"] == "auth-system"


BAD_FEATURES = ["../evil", "..", "../../etc/passwd", "a/../../b", "Auth", "-x", "a b", "."]
BAD_FEATURE_COMMANDS = {  # command: (options, positionals after the feature)
    "init": ([], []),
    "status": ([], []),
    "history": ([], []),
    "complete": ([], ["1"]),
    "validate": ([], ["1"]),
    "fail": (["--reason", "x"], ["1"]),
    "rollback": (["--reason", "x"], ["1"]),
    "abort": (["--reason", "x"], []),
    "resume": ([], ["1"]),
}


@pytest.mark.parametrize("command", list(BAD_FEATURE_COMMANDS))
@pytest.mark.parametrize("feature", BAD_FEATURES)
def test_feature_names_that_could_leave_the_project_are_refused_and_nothing_is_written(
    tmp_path: Path, feature: str, command: str
) -> None:
    project = tmp_path / "deep" / "project"
    (project / ".git").mkdir(parents=True)
    options, rest = BAD_FEATURE_COMMANDS[command]
    argv = ["stage", command, *options, "--", feature, *rest]
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))

    result = cli(*argv, root=project)
    code, document = cli_json(*argv, root=project)

    assert result.code == 2
    assert "invalid feature name" in result.err
    assert code == 2
    assert document["error"] == "InvalidName"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before


# -- malformed state files: exit 2, the file named, nothing touched -------------------------


def _good(root: Path) -> bytes:
    return tracking_file(root).read_bytes()


def _without(root: Path, key: str) -> bytes:
    document = json.loads(_good(root))
    del document[key]
    return json.dumps(document, indent=2).encode("utf-8")


def _edit(root: Path, **changes: Any) -> bytes:
    document = json.loads(_good(root))
    document.update(changes)
    return json.dumps(document, indent=2).encode("utf-8")


BAD_FILES = {
    "truncated": (lambda root: _good(root)[: len(_good(root)) // 2], r"JSON"),
    "not-json": (lambda root: b"stage: architecture\nstatus: active\n", r"not valid JSON"),
    "not-utf8": (lambda root: _good(root).replace(b'"auth"', b'"\xff\xfeauth"', 1), r"UTF-8"),
    "empty": (lambda root: b"", r"empty"),
    "whitespace": (lambda root: b" \n\t\n", r"empty"),
    "json-array": (lambda root: b"[]\n", r"object"),
    "wrong-type-run": (lambda root: _edit(root, run="1"), r"\brun\b"),
    "wrong-type-stages": (lambda root: _edit(root, stages="all done"), r"\bstages\b"),
    "unknown-version": (lambda root: _edit(root, version=2), r"version"),
    "no-version": (lambda root: _without(root, "version"), r"version"),
    "stage-cli-format": (
        lambda root: json.dumps(
            {
                "feature": FEATURE,
                "workflow_status": "active",
                "current_stage": 2,
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": "2026-01-01T00:00:00.000Z",
                "stages": [{"id": 1, "name": "Architecture Decomposition", "status": "completed"}],
                "rollback_history": [],
            },
            indent=2,
        ).encode(),
        r"stage-cli",
    ),
}
BAD_FILE_COMMANDS = {
    "status": ["stage", "status", FEATURE],
    "history": ["stage", "history", FEATURE],
    "complete": ["stage", "complete", FEATURE, "1"],
    "init": ["stage", "init", FEATURE],
    "validate": ["stage", "validate", FEATURE, "1"],
    "rollback": ["stage", "rollback", FEATURE, "1", "--reason", "x"],
    "abort": ["stage", "abort", FEATURE, "--reason", "x"],
    "resume": ["stage", "resume", FEATURE, "1"],
}


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("command", list(BAD_FILE_COMMANDS))
@pytest.mark.parametrize("variant", list(BAD_FILES))
def test_a_malformed_state_file_exits_2_naming_the_file_and_is_left_untouched(
    started: Path, variant: str, command: str, as_json: bool
) -> None:
    produce(started, "architecture")
    path = tracking_file(started)
    make, problem = BAD_FILES[variant]
    bad = make(started)
    path.write_bytes(bad)
    before = snapshot(started)
    relative = path.relative_to(started).as_posix()
    argv = BAD_FILE_COMMANDS[command]

    if as_json:
        code, document = cli_json(*argv, root=started)
        assert document["ok"] is False
        assert document["error"] == "StateFileError"
        assert document["path"] == relative
        assert re.search(problem, document["problem"]), document
    else:
        result = cli(*argv, root=started)
        code = result.code
        assert relative in result.err
        assert re.search(problem, result.err.split(relative, 1)[1]), result.err
        assert result.out == ""

    assert code == 2
    assert path.read_bytes() == bad
    assert snapshot(started) == before


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda text: text.index('"eight-stage"') + 5, id="inside-a-string"),
        pytest.param(lambda text: text.index("null") + 2, id="inside-null"),
        pytest.param(lambda text: text.index('"run": 1,') + len('"run": 1,'), id="after-a-comma"),
        pytest.param(lambda text: text.index('"run":') + len('"run":'), id="after-a-colon"),
        pytest.param(lambda text: len(text) // 2, id="half"),
    ],
)
def test_a_truncated_state_file_is_reported_as_truncated(started: Path, cut: Any) -> None:
    """A half-written file (the old tools' non-atomic writes) should be called what it is."""
    path = tracking_file(started)
    text = path.read_text(encoding="utf-8")
    truncated = text[: cut(text)].encode("utf-8")
    path.write_bytes(truncated)

    result = cli("stage", "status", FEATURE, root=started)

    assert result.code == 2
    assert "truncated" in result.err, result.err
    assert " at at " not in result.err, result.err  # json's "starting at" + " at line"
    assert path.read_bytes() == truncated


def test_a_broken_latest_run_does_not_hide_an_earlier_run(project: Path) -> None:
    """Earlier runs stay readable: asking for run 1 must not depend on run 2's file."""
    assert cli("stage", "init", FEATURE, root=project).code == 0
    assert cli("stage", "abort", FEATURE, "--reason", "restart", root=project).code == 0
    first = cli("stage", "history", FEATURE, "--json", root=project).document
    assert cli("stage", "init", FEATURE, root=project).code == 0
    tracking_file(project).write_bytes(b"{")

    code, document = cli_json("stage", "history", FEATURE, "--run", "1", root=project)

    assert code == 0, document
    assert document == first
    code, view = cli_json("stage", "status", FEATURE, "--run", "1", root=project)
    assert code == 0, view
    assert view["status"] == "aborted"


def test_one_malformed_feature_does_not_hide_the_others_in_list(project: Path) -> None:
    cli("stage", "init", "payments", root=project)
    cli("stage", "init", FEATURE, root=project)
    path = tracking_file(project)
    path.write_bytes(b"{")

    code, document = cli_json("stage", "list", root=project)

    assert code == 2
    rows = {row["feature"]: row for row in document["features"]}
    assert rows["payments"]["status"] == "active"
    assert path.relative_to(project).as_posix() in rows[FEATURE]["error"]
    assert path.read_bytes() == b"{"


# -- root discovery ------------------------------------------------------------------------


def _make_marker(folder: Path, marker: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if marker == ".git/":
        (folder / ".git").mkdir()
    elif marker == ".git":
        (folder / ".git").write_text("gitdir: /elsewhere/.git/worktrees/x\n")
    else:
        (folder / marker).write_text("{}\n")


@pytest.mark.parametrize("marker", [".git/", ".git", "pyproject.toml", "package.json"])
def test_the_root_is_the_nearest_ancestor_with_a_project_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    project = tmp_path / "project"
    _make_marker(project, marker)
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)

    assert cli("stage", "init", FEATURE).code == 0
    assert cli("stage", "status", FEATURE).code == 0

    tracking_file(project)
    assert not (deep / ".tmp").exists()
    assert not (project / "src" / ".tmp").exists()


def test_the_nearest_marker_wins_over_an_outer_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = tmp_path / "monorepo"
    _make_marker(outer, ".git/")
    inner = outer / "packages" / "web"
    _make_marker(inner, "package.json")
    (inner / "src").mkdir()
    monkeypatch.chdir(inner / "src")

    assert cli("stage", "init", FEATURE).code == 0

    tracking_file(inner)
    assert not (outer / ".tmp").exists()


def test_stageflow_root_overrides_discovery_and_root_option_overrides_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    _make_marker(project, ".git/")
    from_env = tmp_path / "from-env"
    from_env.mkdir()
    from_option = tmp_path / "from-option"
    from_option.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("STAGEFLOW_ROOT", str(from_env))

    assert cli("stage", "init", FEATURE).code == 0
    tracking_file(from_env)
    assert not (project / ".tmp").exists()

    assert cli("stage", "init", "billing", "--root", str(from_option)).code == 0
    assert cli("--root", str(from_option), "stage", "status", "billing").code == 0
    tracking_file(from_option, "billing")
    assert not list(from_env.glob(".tmp/sessions/*-billing"))


def test_without_any_marker_the_current_folder_is_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    markers = (".git", "pyproject.toml", "package.json")
    if any((p / m).exists() for p in tmp_path.parents for m in markers):
        pytest.skip("the temporary folder lies inside a project")
    here = tmp_path / "loose"
    here.mkdir()
    monkeypatch.chdir(here)

    assert cli("stage", "init", FEATURE).code == 0
    tracking_file(here)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--root", "demo", "stage", "status", FEATURE], id="root-named-demo"),
        pytest.param(["--root", "stage", "stage", "status", FEATURE], id="root-named-stage"),
        pytest.param(
            ["--actor", "demo", "--root", "stage", "stage", "status", FEATURE], id="actor-demo"
        ),
        pytest.param(["--json", "--root", "demo", "stage", "history", FEATURE], id="json-first"),
    ],
)
def test_global_option_values_are_never_taken_for_command_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: List[str]
) -> None:
    """A project folder may well be called 'demo' (say, after 'stageflow demo --dir demo')."""
    for name in ("demo", "stage"):
        _make_marker(tmp_path / name, ".git/")
        assert cli("stage", "init", FEATURE, root=tmp_path / name).code == 0
    monkeypatch.chdir(tmp_path)

    result = cli(*argv)

    assert result.code == 0, result.err
    assert FEATURE in result.out


def test_the_actor_option_is_recorded_in_the_history(project: Path) -> None:
    assert cli("stage", "init", FEATURE, "--actor", "alice", root=project).code == 0
    assert cli("--actor", "bob", "stage", "abort", FEATURE, "--reason", "x", root=project).code == 0

    assert [e["actor"] for e in history(project)] == ["alice", "bob"]


# -- demo, version, help, real processes ---------------------------------------------------


def test_demo_walks_a_feature_through_every_stage_in_the_given_folder(tmp_path: Path) -> None:
    folder = tmp_path / "demo"

    result = cli("demo", "--dir", str(folder))

    assert result.code == 0
    assert "artifact-missing" in result.out  # the refused completion with its findings
    assert "overridden" in result.out
    assert "rollback" in result.out
    assert "completed" in result.out
    view = status(folder, "order-management")
    assert view["status"] == "completed"
    assert [e["operation"] for e in history(folder, "order-management")].count("rollback") == 1
    assert all(p == folder or folder in p.parents for p in folder.rglob("*"))


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    folder = tmp_path / "my-project"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine\n", encoding="utf-8")

    result = cli("demo", "--dir", str(folder))

    assert result.code == 2
    assert "empty" in result.err
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]


def test_demo_json_prints_one_summary_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    code, summary = cli_json("demo")

    assert code == 0
    assert Path(summary["root"]).parent == tmp_path
    assert summary["status"]["status"] == "completed"
    actions = [step["action"] for step in summary["steps"]]
    refused = summary["steps"][actions.index("complete architecture (no outputs yet)")]
    assert refused["findings"] == ["artifact-missing"]
    assert any("override" in action for action in actions)
    assert any("rollback" in action for action in actions)
    assert status(Path(summary["root"]), "order-management")["status"] == "completed"


def test_version_in_a_real_process() -> None:
    result = run_process("--version")
    assert result.returncode == 0
    assert result.stdout == f"stageflow {stageflow.__version__}\n"

    as_json = run_process("--version", "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == {"version": stageflow.__version__}


def test_help_in_a_real_process() -> None:
    result = run_process("stage", "--help")
    assert result.returncode == 0
    for command in ("init", "status", "validate", "complete", "rollback", "abort", "resume"):
        assert command in result.stdout


def test_status_json_in_a_real_process_prints_one_document(started: Path) -> None:
    result = run_process("stage", "status", FEATURE, "--json", "--root", str(started))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["feature"] == FEATURE
    assert result.stderr == ""


def test_errors_in_a_real_process_have_no_traceback(started: Path) -> None:
    path = tracking_file(started)
    path.write_bytes(_good(started)[:40])

    broken = run_process("stage", "complete", FEATURE, "1", "--root", str(started))
    unknown = run_process("stage", "frobnicate", cwd=started)
    traversal = run_process("stage", "init", "../escape", cwd=started)

    for result in (broken, unknown, traversal):
        assert result.returncode == 2
        assert "Traceback" not in result.stderr + result.stdout
        assert result.stderr.startswith("error: ")
    assert path.relative_to(started).as_posix() in broken.stderr
    assert not (started.parent / "escape").exists()
