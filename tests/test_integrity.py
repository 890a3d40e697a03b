"""A run can never be bricked, bypassed or made to lose files, whatever gates, files or
command lines throw at it (regressions from review)."""

from __future__ import annotations

import io
import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from stageflow.cli import main
from stageflow.engine import Orchestrator
from stageflow.errors import NotFound, UnknownStage, UsageError
from stageflow.findings import Finding
from stageflow.gates import Registry, StageContext
from stageflow.storage.memory import MemoryStore
from stageflow.testing import FakeClock, make_orchestrator

CONTEXTS = ".tmp/tasks/f/contexts.json"


def cli(root: Path, *argv: str) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--root", str(root)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def contexts(label: str = "architecture") -> str:
    """A valid contexts.json (the architecture stage's content gate reads it)."""
    return json.dumps({"feature": label, "bounded_contexts": [{"name": "core"}]})


def write(root: Path, relative: str, text: str = "{}") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    return tmp_path


def test_a_gate_returning_an_unstorable_finding_fails_but_never_bricks_the_run(
    project: Path,
) -> None:
    registry = Registry()
    registry.add_gate("architecture", lambda c: [Finding("", "no code")], name="bad")
    flow = Orchestrator(root=project, registry=registry, default_gates=False)
    flow.init("f")

    with pytest.raises(Exception, match="failed its gates"):
        flow.complete("f", 1)

    run = Orchestrator(root=project).status("f")  # still readable
    assert [f.code for f in run.stage("architecture").findings] == ["gate-error"]


def test_a_path_in_a_finding_is_stored_as_text(project: Path) -> None:
    def gate(context: StageContext) -> List[Finding]:
        return [Finding("missing", "see file", path=context.path("a.md"))]  # type: ignore[arg-type]

    registry = Registry()
    registry.add_gate("architecture", gate)
    flow = Orchestrator(root=project, registry=registry, default_gates=False)
    flow.init("f")
    with pytest.raises(Exception, match="failed its gates"):
        flow.complete("f", 1)
    finding = Orchestrator(root=project).status("f").stage("architecture").findings[0]
    assert finding.path == str(project / "a.md")


def test_an_actor_must_be_non_empty_text(project: Path) -> None:
    with pytest.raises(UsageError):
        Orchestrator(root=project, actor=5)  # type: ignore[arg-type]
    flow = Orchestrator(root=project)
    flow.init("f")
    with pytest.raises(UsageError):
        flow.fail("f", 1, reason="x", actor="")


def test_arguments_that_are_not_utf8_are_a_usage_error_with_one_json_document(
    project: Path,
) -> None:
    assert cli(project, "stage", "init", "f")[0] == 0
    code, out, _ = cli(project, "stage", "fail", "f", "1", "--reason", "bad\udcffbyte", "--json")
    assert code == 2
    assert json.loads(out)["error"] == "UsageError"
    assert json.loads(cli(project, "stage", "status", "f", "--json")[1])["status"] == "active"


def test_an_output_that_is_a_link_into_stageflow_state_is_refused(project: Path) -> None:
    flow = Orchestrator(root=project)
    flow.init("f")
    write(project, CONTEXTS, contexts())
    os.symlink(project / ".tmp" / "sessions", project / "sess")
    tracking = next((project / ".tmp/sessions").glob("*-f")) / "stage-tracking.json"
    link = f"sess/{tracking.parent.name}/stage-tracking.json"

    with pytest.raises(UsageError, match="never archived"):
        flow.complete("f", 1, outputs=[link])
    assert tracking.exists()


def test_abort_copies_a_link_to_the_project_as_a_link(project: Path) -> None:
    flow = Orchestrator(root=project)
    flow.init("f")
    write(project, CONTEXTS, contexts())
    os.symlink(project, project / ".tmp/tasks/f/loop")
    flow.complete("f", 1, outputs=[".tmp/tasks/f"])
    run = flow.abort("f", reason="stop")
    archive = project / str(run.history[-1].archive)
    assert (archive / ".tmp/tasks/f/loop").is_symlink()


def test_a_wildcard_only_output_is_refused(project: Path) -> None:
    flow = Orchestrator(root=project)
    flow.init("f")
    write(project, CONTEXTS)
    with pytest.raises(UsageError, match="wildcard"):
        flow.complete("f", 1, outputs=["*"])


def test_a_session_folder_holding_another_feature_is_refused(project: Path) -> None:
    assert cli(project, "stage", "init", "auth-system")[0] == 0
    source = next((project / ".tmp/sessions").glob("*-auth-system"))
    shutil.copytree(source, source.parent / source.name.replace("auth-system", "system"))

    code, _, err = cli(project, "stage", "fail", "system", "1", "--reason", "x")

    assert code == 2
    assert "holds feature 'auth-system'" in err
    assert json.loads(cli(project, "stage", "status", "auth-system", "--json")[1])["status"] == (
        "active"
    )


def test_a_hand_edited_state_that_skips_stages_is_refused(project: Path) -> None:
    assert cli(project, "stage", "init", "f")[0] == 0
    tracking = next((project / ".tmp/sessions").glob("*-f")) / "stage-tracking.json"
    document = json.loads(tracking.read_text())
    for stage in document["stages"][:7]:
        stage["status"] = "completed"
        stage["completed_at"] = document["created_at"]
    document["current_stage"] = "release"
    document["stages"][7]["status"] = "in_progress"
    tracking.write_text(json.dumps(document))
    before = tracking.read_bytes()

    code, _, err = cli(project, "stage", "complete", "f", "release")

    assert code == 2
    assert "does not match its history" in err
    assert tracking.read_bytes() == before


class _FailingSave(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def save(self, *args: Any, **kwargs: Any) -> str:
        if self.fail:
            raise OSError(28, "No space left on device")
        return super().save(*args, **kwargs)


def test_a_rollback_whose_save_fails_moves_the_outputs_back(project: Path) -> None:
    store = _FailingSave()
    flow = make_orchestrator(project, store=store)
    flow.init("f")
    write(project, CONTEXTS, contexts())
    flow.complete("f", 1)
    store.fail = True

    with pytest.raises(OSError, match="No space"):
        flow.rollback("f", 1, reason="redo")

    assert (project / CONTEXTS).read_text() == contexts()
    assert flow.status("f").stage("architecture").status.value == "completed"


def test_archives_made_at_the_same_instant_never_overwrite_each_other(project: Path) -> None:
    flow = make_orchestrator(project, clock=FakeClock(tick=timedelta(0)))
    flow.init("f")
    archives = []
    for version in ("v1", "v2"):
        write(project, CONTEXTS, contexts(version))
        flow.complete("f", 1)
        archives.append(flow.rollback("f", 1, reason="again").history[-1].archive)
    assert archives[0] != archives[1]
    assert [(project / str(a) / CONTEXTS).read_text() for a in archives] == [
        contexts("v1"),
        contexts("v2"),
    ]


def test_an_impossible_date_is_a_malformed_file_for_every_command(project: Path) -> None:
    assert cli(project, "stage", "init", "f")[0] == 0
    tracking = next((project / ".tmp/sessions").glob("*-f")) / "stage-tracking.json"
    document = json.loads(tracking.read_text())
    document["created_at"] = "2026-13-45T99:99:99Z"
    tracking.write_text(json.dumps(document))
    for argv in (("status", "f"), ("history", "f"), ("complete", "f", "1")):
        code, _, err = cli(project, "stage", *argv)
        assert code == 2, argv
        assert "/created_at" in err
        assert "not a valid date" in err


def test_a_missing_root_is_an_error_not_a_new_project(tmp_path: Path) -> None:
    code, _, err = cli(tmp_path / "typo" / "deep", "stage", "init", "f")
    assert code == 2
    assert "not an existing folder" in err
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("stage", ["1\n", "architecture\n", "\t1"])
def test_stage_names_with_control_characters_are_unknown(project: Path, stage: str) -> None:
    assert cli(project, "stage", "init", "f")[0] == 0
    assert cli(project, "stage", "validate", "f", stage)[0] == 2


def test_feature_names_are_at_most_100_characters(project: Path) -> None:
    assert cli(project, "stage", "init", "a" * 100)[0] == 0
    code, _, err = cli(project, "stage", "init", "a" * 101)
    assert code == 2
    assert "invalid feature name" in err
    assert not list((project / ".tmp/locks").glob("a" * 101 + "*"))


def test_api_arguments_of_the_wrong_type_raise_stageflow_errors(project: Path) -> None:
    flow = make_orchestrator(project)
    flow.init("f")
    with pytest.raises(UnknownStage):
        flow.complete("f", None)  # type: ignore[arg-type]
    with pytest.raises(UnknownStage):
        flow.validate("f", 2.0)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        flow.complete("f", 1, outputs="src")  # type: ignore[arg-type]


def test_a_run_number_that_does_not_exist_is_not_found(project: Path) -> None:
    flow = Orchestrator(root=project)
    flow.init("f")
    with pytest.raises(NotFound):
        flow.status("f", run=7)
