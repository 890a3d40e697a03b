"""``stageflow task ...``: every command in text and ``--json`` mode, the exit-code contract,
bad input that changes nothing on disk, and the fast path of the read-only commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from clihelp import cli, cli_json, heavy_imports

import stageflow
from stageflow.examples import ORDER_MANAGEMENT

SEED = ORDER_MANAGEMENT / "order-management-mvp"
FEATURE = "order-management-mvp"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STAGEFLOW_ROOT", raising=False)
    shutil.copytree(SEED, tmp_path / ".tmp" / "tasks" / FEATURE)
    return tmp_path


def folder(project: Path) -> Path:
    return project / ".tmp" / "tasks" / FEATURE


def snapshot(project: Path) -> Dict[str, bytes]:
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted((project / ".tmp" / "tasks").rglob("*"))
        if p.is_file()
    }


def subtask(project: Path, seq: str) -> Dict[str, Any]:
    document: Dict[str, Any] = json.loads((folder(project) / f"subtask_{seq}.json").read_text())
    return document


# -- reads ---------------------------------------------------------------------------------


def test_status_of_one_feature_in_text_and_json(project: Path) -> None:
    result = cli(project, "task", "status", FEATURE)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "[order-management-mvp] Order Management MVP"
    assert lines[1] == "  Status: active | Progress: 0% (0/12)"
    assert lines[2] == "  Pending: 12 | In Progress: 0 | Completed: 0 | Blocked: 0"
    assert lines[3] == "  ○ 01 Setup project structure and install dependencies"
    code, view = cli_json(project, "task", "status", FEATURE)
    assert code == 0
    assert (view["feature"], view["subtask_count"], view["completed_count"]) == (FEATURE, 12, 0)
    assert view["counts"] == {
        "pending": 12,
        "in_progress": 0,
        "completed": 0,
        "blocked": 0,
        "other": 0,
        "unreadable": 0,
    }
    assert [row["seq"] for row in view["subtasks"]] == [f"{n:02d}" for n in range(1, 13)]


def test_status_of_every_feature(project: Path) -> None:
    shutil.copytree(SEED, project / ".tmp" / "tasks" / "active" / "second")
    code, document = cli_json(project, "task", "status")
    assert code == 0
    assert [f["feature"] for f in document["features"]] == [FEATURE, "second"]
    assert document["features"][1]["folder"] == ".tmp/tasks/active/second"
    empty = project / "empty"
    empty.mkdir()
    assert cli(empty, "task", "status").out == "No features found under .tmp/tasks.\n"


def test_next_parallel_blocked_and_deps(project: Path) -> None:
    code, ready = cli_json(project, "task", "next", FEATURE)
    assert (code, [r["seq"] for r in ready["ready"]]) == (0, ["01"])
    assert (
        "  01 - Setup project structure and install dependencies  [parallel]"
        in cli(project, "task", "next", FEATURE).out
    )
    assert [r["seq"] for r in cli_json(project, "task", "parallel", FEATURE)[1]["ready"]] == ["01"]
    code, blocked = cli_json(project, "task", "blocked", FEATURE)
    rows = {r["seq"]: r for r in blocked["blocked"]}
    assert rows["07"]["waiting"] == ["03", "04", "05"]
    assert "  07 (waiting: 03, 04, 05)" in cli(project, "task", "blocked", FEATURE).out
    code, deps = cli_json(project, "task", "deps", FEATURE, "07")
    assert code == 0
    assert [(e["seq"], e["mark"]) for e in deps["entries"]][:4] == [
        ("07", "task"),
        ("03", "task"),
        ("02", "task"),
        ("01", "task"),
    ]
    text = cli(project, "task", "deps", FEATURE, "07").out
    assert text.startswith("=== Dependency Tree: order-management-mvp/07 ===\n")
    assert "(shown above)" in text


def test_validate_exits_1_only_on_error_findings(project: Path) -> None:
    code, report = cli_json(project, "task", "validate", FEATURE)
    assert (code, report["valid"], report["findings"]) == (0, True, [])
    empty = subtask(project, "03")
    empty["deliverables"] = []
    (folder(project) / "subtask_03.json").write_text(json.dumps(empty))
    code, report = cli_json(project, "task", "validate")
    assert (code, report["valid"]) == (0, True)  # a warning alone does not fail
    assert [f["code"] for f in report["findings"]] == ["deliverables-empty"]
    finding = report["findings"][0]
    assert set(finding) >= {"file", "path", "pointer", "code", "severity", "message"}
    assert finding["file"] == f".tmp/tasks/{FEATURE}/subtask_03.json"
    (folder(project) / "subtask_04.json").write_text('{"seq": "04"')
    code, report = cli_json(project, "task", "validate", FEATURE)
    assert (code, report["valid"]) == (1, False)
    assert "json-truncated" in [f["code"] for f in report["findings"]]


# -- moves ---------------------------------------------------------------------------------


def test_claim_start_complete_block_unblock_reopen(project: Path) -> None:
    code, claimed = cli_json(project, "task", "claim", FEATURE, "--agent", "coder-1")
    assert (code, claimed["ok"], claimed["move"]["seq"]) == (0, True, "01")
    assert claimed["file"] == f".tmp/tasks/{FEATURE}/subtask_01.json"
    result = cli(project, "task", "complete", FEATURE, "01", "Project", "scaffolded")
    assert result.code == 0
    assert result.out.splitlines() == [
        f"✓ Marked {FEATURE}/01 as completed",
        "  Summary: Project scaffolded",
        "  Progress: 1/12",
    ]
    assert subtask(project, "01")["completion_summary"] == "Project scaffolded"
    assert json.loads((folder(project) / "task.json").read_text())["completed_count"] == 1
    assert cli(project, "task", "start", FEATURE, "02", "--agent", "coder-2").code == 0
    assert cli(project, "task", "block", FEATURE, "02", "--reason", "no API key").code == 0
    assert subtask(project, "02")["blocked_reason"] == "no API key"
    assert cli(project, "task", "unblock", FEATURE, "02").code == 0
    assert cli(project, "task", "reopen", FEATURE, "01", "--reason", "tests were wrong").code == 0
    assert subtask(project, "01")["status"] == "pending"
    assert json.loads((folder(project) / "task.json").read_text())["completed_count"] == 0


def test_a_refused_move_exits_1_with_every_finding_and_changes_nothing(project: Path) -> None:
    before = snapshot(project)
    code, refused = cli_json(project, "task", "complete", FEATURE, "02", "x" * 201)
    assert code == 1
    assert refused["ok"] is False
    assert refused["error"] == "RuleViolation"
    assert sorted(f["code"] for f in refused["findings"]) == [
        "task-summary-too-long",
        "task-transition",
    ]
    result = cli(project, "task", "start", FEATURE, "05", "--agent", "a")
    assert result.code == 1
    assert result.err.startswith("refused: cannot start subtask 05")
    assert "task-dependency-unmet: subtask 05 depends on 02, which is pending" in result.err
    assert snapshot(project) == before


def test_a_forced_completion_needs_a_reason_and_is_recorded(project: Path) -> None:
    cli(project, "task", "claim", FEATURE, "--agent", "a")
    (folder(project) / "subtask_02.json").write_text(
        json.dumps(
            {
                **subtask(project, "02"),
                "status": "in_progress",
                "started_at": "2026-01-01T00:00:00Z",
            }
        )
    )
    assert cli(project, "task", "complete", FEATURE, "02", "done", "--force").code == 1
    code, done = cli_json(
        project, "task", "complete", FEATURE, "02", "done", "--force", "--reason", "01 is trivial"
    )
    assert (code, done["move"]["forced"]) == (0, True)
    assert subtask(project, "02")["forced_completion"]["reason"] == "01 is trivial"


def test_claim_with_nothing_ready_exits_1(project: Path) -> None:
    cli(project, "task", "claim", FEATURE, "--agent", "a")
    code, refused = cli_json(project, "task", "claim", FEATURE, "--agent", "b")
    assert code == 1
    assert refused["findings"][0]["code"] == "task-none-ready"


@pytest.mark.parametrize(
    "argv",
    [
        ["task", "start", "../etc", "01", "--agent", "a"],
        ["task", "start", FEATURE, "99", "--agent", "a"],
        ["task", "start", FEATURE, "01"],
        ["task", "status", "no-such-feature"],
        ["task", "deps", FEATURE, "99"],
        ["task", "complete", FEATURE, "01"],
        ["task", "block", FEATURE, "01"],
        ["task", "claim", FEATURE, "--agent", ""],
        ["task", "complete", FEATURE, "01", "done", "--reason", "no --force"],
        ["task", "start", FEATURE, "\u00b2", "--agent", "a"],
        ["task", "frobnicate", FEATURE],
    ],
)
def test_bad_arguments_exit_2_or_1_with_one_json_document_and_change_nothing(
    project: Path, argv: List[str]
) -> None:
    before = snapshot(project)
    code, document = cli_json(project, *argv)
    assert code in (1, 2)
    assert document["ok"] is False
    assert document["message"]
    assert snapshot(project) == before


@pytest.mark.parametrize(
    "content", [b"", b'{"id": "order-management-mvp-03", "seq": "03", "sta', b"\xff\xfe", b"null"]
)
def test_a_malformed_file_is_reported_with_its_path_and_left_untouched(
    project: Path, content: bytes
) -> None:
    (folder(project) / "subtask_03.json").write_bytes(content)
    before = snapshot(project)
    path = f".tmp/tasks/{FEATURE}/subtask_03.json"
    code, view = cli_json(project, "task", "status", FEATURE)
    assert code == 2  # printed, but something could not be read
    assert [p["file"] for p in view["problems"]] == [path]
    code, error = cli_json(project, "task", "start", FEATURE, "03", "--agent", "a")
    assert (code, error["error"], error["path"]) == (2, "StateFileError", path)
    # Other subtasks still move.
    assert cli(project, "task", "claim", FEATURE, "--agent", "a").code == 0
    after = snapshot(project)
    assert after[path] == before[path]


def test_a_malformed_task_json_refuses_moves_and_stays_as_it_was(project: Path) -> None:
    (folder(project) / "task.json").write_text('{"id": ')
    before = snapshot(project)
    result = cli(project, "task", "claim", FEATURE, "--agent", "a")
    assert result.code == 2
    assert f".tmp/tasks/{FEATURE}/task.json: truncated JSON" in result.err
    assert snapshot(project) == before


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses non-UTF-8 file names")
def test_json_output_stays_valid_utf8_with_a_file_name_that_is_not(project: Path) -> None:
    (folder(project) / os.fsdecode(b"subtask_\xff.json")).write_text("{}")
    source = os.path.dirname(os.path.dirname(os.path.abspath(stageflow.__file__)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stageflow",
            "task",
            "validate",
            FEATURE,
            "--json",
            "--root",
            str(project),
        ],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": source, "LC_ALL": "C.UTF-8"},
        timeout=60,
    )
    report = json.loads(done.stdout.decode("utf-8"))
    assert [f["code"] for f in report["findings"]] == ["ignored-file"]


# -- the fast path -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["status", "next", "parallel"])
def test_read_only_task_commands_import_nothing_heavy(project: Path, command: str) -> None:
    assert heavy_imports(project, ["task", command, FEATURE]) == (0, [])
