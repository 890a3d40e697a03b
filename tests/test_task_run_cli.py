"""``stageflow task run``: the executor from the command line, with a command per subtask."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest
from clihelp import cli, cli_json

from stageflow.examples import ORDER_MANAGEMENT
from stageflow.executor import ExecutionEvent
from stageflow.progress import Progress
from stageflow.storage.taskfiles import FileTaskStore

SEED = ORDER_MANAGEMENT / "order-management-mvp"
FEATURE = "order-management-mvp"

# The agent: reads the subtask on stdin, fails (exit 3) for the seqs named in fail.txt,
# and prints "done: TITLE" as its last line.
AGENT = """\
import json, os, sys
subtask = json.load(sys.stdin)
seq = os.environ["STAGEFLOW_SEQ"]
key = os.environ["STAGEFLOW_IDEMPOTENCY_KEY"]
with open("calls.log", "a") as log:
    log.write(f"{seq} {os.environ['STAGEFLOW_ATTEMPT']} {key}\\n")
failing = open("fail.txt").read().split() if os.path.exists("fail.txt") else []
if seq in failing:
    print(f"tests of {seq} fail", file=sys.stderr)
    sys.exit(3)
print("working...")
print(f"done: {subtask['title']}")
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STAGEFLOW_ROOT", raising=False)
    shutil.copytree(SEED, tmp_path / ".tmp" / "tasks" / FEATURE)
    (tmp_path / "agent.py").write_text(AGENT)
    return tmp_path


def agent() -> str:
    return f"{shlex.quote(sys.executable)} agent.py"


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def subtask(project: Path, seq: str) -> Dict[str, Any]:
    path = project / ".tmp" / "tasks" / FEATURE / f"subtask_{seq}.json"
    document: Dict[str, Any] = json.loads(path.read_text())
    return document


def test_a_run_completes_every_subtask_and_writes_the_summary(project: Path) -> None:
    result = cli(project, "task", "run", FEATURE, "--command", agent(), "--workers", "3")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == "Running 12 subtasks of order-management-mvp"
    assert "Batch 8 done (12/12)" in lines
    assert lines[-2].startswith("Completed 12 of 12 planned subtasks of order-management-mvp")
    assert lines[-1] == "Summary: .tmp/execution/order-management-mvp/summary.md"
    for seq in ("01", "07", "11"):
        document = subtask(project, seq)
        assert document["status"] == "completed"
        assert document["completion_summary"] == f"done: {document['title']}"
        assert document["attempts"] == 1
        assert document["agent_id"] == "stageflow-executor"
    summary = (project / ".tmp/execution/order-management-mvp/summary.md").read_text()
    assert "## Batch 3: 03, 04, 05, 06, 10" in summary
    calls = (project / "calls.log").read_text().split("\n")
    assert f"07 1 {FEATURE}/07/1" in calls
    task = json.loads((project / ".tmp/tasks" / FEATURE / "task.json").read_text())
    assert task["completed_count"] == 12


def test_json_prints_one_report(project: Path) -> None:
    code, document = cli_json(project, "task", "run", FEATURE, "--command", agent())
    assert code == 0
    assert document["ok"] is True
    assert document["summary_file"] == ".tmp/execution/order-management-mvp/summary.md"
    assert document["batches"][2] == ["03", "04", "05", "06", "10"]
    assert [o["seq"] for o in document["outcomes"]][:3] == ["01", "02", "03"]
    assert {o["outcome"] for o in document["outcomes"]} == {"completed"}


def test_a_failing_subtask_is_retried_then_blocked_and_its_dependents_skipped(
    project: Path,
) -> None:
    (project / "fail.txt").write_text("08")
    code, document = cli_json(
        project, "task", "run", FEATURE, "--command", agent(), "--retries", "1", "--backoff", "0"
    )
    assert code == 1
    assert document["ok"] is False
    assert document["failed"] == ["08"]
    assert document["skipped"] == ["12", "11"]
    failed = subtask(project, "08")
    assert failed["status"] == "blocked"
    assert failed["attempts"] == 2
    assert failed["blocked_reason"].startswith("failed after 2 attempts: ")
    assert "exited 3: tests of 08 fail" in failed["blocked_reason"]
    assert subtask(project, "11")["status"] == "pending"
    assert subtask(project, "09")["status"] == "completed"  # 09 does not depend on 08

    # fixed and unblocked, the next run runs only what is left; 08's attempts go on
    (project / "fail.txt").write_text("")
    assert cli(project, "task", "unblock", FEATURE, "08").code == 0
    code, again = cli_json(project, "task", "run", FEATURE, "--command", agent())
    assert code == 0
    assert again["completed"] == ["08", "12", "11"]
    assert len(again["already_completed"]) == 9
    assert subtask(project, "08")["attempts"] == 3


def test_fail_fast_skips_everything_not_started(project: Path) -> None:
    (project / "fail.txt").write_text("02")
    code, document = cli_json(
        project, "task", "run", FEATURE, "--command", agent(), "--retries", "0", "--fail-fast"
    )
    assert code == 1
    assert document["completed"] == ["01"]
    assert document["failed"] == ["02"]
    assert len(document["skipped"]) == 10


def test_a_timeout_kills_the_command_and_everything_it_started(project: Path) -> None:
    # The command starts a child that would outlive it, records the child's pid, and waits.
    script = "sleep 30 & echo $! > child.pid; wait"
    code, document = cli_json(
        project,
        "task",
        "run",
        FEATURE,
        "--command",
        f"sh -c {shlex.quote(script)}",
        "--timeout",
        "0.5",
        "--retries",
        "0",
    )
    assert code == 1
    assert document["failed"] == ["01"]
    assert "timed out after 0.5 s" in subtask(project, "01")["blocked_reason"]
    child = int((project / "child.pid").read_text())
    deadline = time.monotonic() + 10
    while alive(child):
        assert time.monotonic() < deadline, f"the command's child {child} is still running"
        time.sleep(0.05)


def test_a_command_that_cannot_start_fails_at_once(project: Path) -> None:
    code, document = cli_json(
        project, "task", "run", FEATURE, "--command", "no-such-agent-command --go"
    )
    assert code == 1
    outcome = document["outcomes"][0]
    assert outcome["outcome"] == "failed"
    assert outcome["attempts"] == 1  # not retried
    assert outcome["error"].startswith("cannot run 'no-such-agent-command'")


def test_a_subtask_left_in_progress_by_a_dead_run_is_resumed(project: Path) -> None:
    path = project / ".tmp" / "tasks" / FEATURE / "subtask_01.json"
    document = json.loads(path.read_text())
    document.update(status="in_progress", agent_id="stageflow-executor", attempts=1)
    document["started_at"] = "2026-02-15T12:00:00Z"
    path.write_text(json.dumps(document))
    result = cli(project, "task", "run", FEATURE, "--command", agent())
    assert result.code == 0
    assert "→ 01 started (attempt 2, resumed)" in result.out.splitlines()
    assert subtask(project, "01")["attempts"] == 2


def test_summary_options(project: Path) -> None:
    assert cli(project, "task", "run", FEATURE, "--command", agent(), "--no-summary").code == 0
    assert not (project / ".tmp" / "execution").exists()
    assert cli(project, "task", "reopen", FEATURE, "11", "--reason", "again").code == 0
    code, document = cli_json(
        project, "task", "run", FEATURE, "--command", agent(), "--summary", "out/run.md"
    )
    assert code == 0
    assert document["summary_file"] == "out/run.md"
    assert (project / "out" / "run.md").read_text().startswith(f"# Execution of {FEATURE}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--command", ""], "--command is empty"),
        (["--command", "'unbalanced"], "--command cannot be split"),
        (["--command", "true", "--timeout", "0"], "--timeout must be a number of seconds > 0"),
        (["--command", "true", "--workers", "0"], "must be an integer >= 1"),
        (["--command", "true", "--backoff", "-1"], "must be a number of seconds >= 0"),
        (["--command", "true", "--retries", "x"], "must be an integer >= 0"),
        (["--command", "true", "--mode", "sometimes"], "invalid choice"),
    ],
)
def test_bad_options_are_usage_errors(project: Path, argv: list, message: str) -> None:
    result = cli(project, "task", "run", FEATURE, *argv)
    assert result.code == 2
    assert message in result.err
    assert subtask(project, "01")["status"] == "pending"  # nothing ran


def test_an_unknown_feature_and_a_bad_name(project: Path) -> None:
    result = cli(project, "task", "run", "no-such-feature", "--command", "true")
    assert result.code == 2
    assert "no-such-feature" in result.err
    assert cli(project, "task", "run", "../etc", "--command", "true").code == 2


def test_a_second_executor_on_the_feature_is_refused(project: Path) -> None:
    with FileTaskStore(project).lease(FEATURE):
        code, document = cli_json(project, "task", "run", FEATURE, "--command", agent())
    assert code == 2
    assert document["error"] == "ConflictError"
    assert "another executor is running feature 'order-management-mvp'" in document["message"]
    assert subtask(project, "01")["status"] == "pending"


def test_a_cycle_stops_the_run_before_anything_is_dispatched(project: Path) -> None:
    path = project / ".tmp" / "tasks" / FEATURE / "subtask_01.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "depends_on": ["11"]}))
    result = cli(project, "task", "run", FEATURE, "--command", agent())
    assert result.code == 2
    assert "cycle" in result.err
    assert not (project / "calls.log").exists()


# -- the progress display ---------------------------------------------------------------


def events() -> list:
    total = {"feature": "f", "total": 2}
    return [
        ExecutionEvent("run_started", **total),
        ExecutionEvent("task_started", seq="01", batch=1, attempt=1, **total),
        ExecutionEvent("task_retried", seq="01", batch=1, error="boom", delay=1.0, **total),
        ExecutionEvent("task_started", seq="01", batch=1, attempt=2, **total),
        ExecutionEvent("task_finished", seq="01", batch=1, summary="ok", elapsed=0.25, **total),
        ExecutionEvent("task_skipped", "f", seq="02", batch=2, reason="why not", done=2, total=2),
        ExecutionEvent("run_finished", done=2, **total),
    ]


def test_progress_on_a_terminal_redraws_one_line() -> None:
    out = io.StringIO()
    progress = Progress(out, live=True)
    for event in events():
        progress(event)
    progress.close()
    text = out.getvalue()
    assert "\r\x1b[K" in text
    assert "[0/2] running: 01  ✓ 0  ✗ 0  - 0" in text
    # only retries, failures and skips stay on the screen, above the status line
    kept = [line.split("\r\x1b[K")[-1] for line in text.split("\n")]
    assert "↻ 01 failed (boom); retry in 1 s" in kept
    assert "- 02 skipped: why not" in kept
    assert not any(line.startswith("✓ 01") for line in kept)
    assert text.endswith("\r\x1b[K")  # the status line is gone at the end


def test_progress_elsewhere_writes_plain_lines() -> None:
    out = io.StringIO()  # not a terminal
    progress = Progress(out)
    for event in events():
        progress(event)
    progress.close()
    assert out.getvalue().splitlines() == [
        "Running 2 subtasks of f",
        "→ 01 started (attempt 1)",
        "↻ 01 failed (boom); retry in 1 s",
        "→ 01 started (attempt 2)",
        "✓ 01 completed in 0.2 s: ok",
        "- 02 skipped: why not",
    ]


def test_progress_detects_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert Progress(Terminal()).live is True
    assert Progress(io.StringIO()).live is False


def test_a_background_child_holding_the_output_does_not_hold_the_subtask(project: Path) -> None:
    # The command exits 0 at once, but leaves a child that keeps its stdout open.
    script = "sleep 30 & echo $! > child.pid; echo done"
    began = time.monotonic()
    code, document = cli_json(
        project,
        "task",
        "run",
        FEATURE,
        "--command",
        f"sh -c {shlex.quote(script)}",
        "--no-summary",
        "--timeout",
        "20",
    )
    assert code == 0
    assert document["outcomes"][0]["summary"] == "done"
    assert document["outcomes"][0]["outcome"] == "completed"
    assert time.monotonic() - began < 20 * 12  # never the children's 30 s each
    child = int((project / "child.pid").read_text())
    assert not alive(child)  # killed with the command's process group


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT and process groups are POSIX")
def test_ctrl_c_stops_the_commands_and_leaves_the_subtask_to_resume(project: Path) -> None:
    import subprocess

    script = "echo $$ > running.pid; sleep 30"
    cli_process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stageflow",
            "task",
            "run",
            FEATURE,
            "--command",
            f"sh -c {shlex.quote(script)}",
            "--root",
            str(project),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    pid_file = project / "running.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    command = int(pid_file.read_text())
    began = time.monotonic()
    cli_process.send_signal(signal.SIGINT)
    _, err = cli_process.communicate(timeout=20)
    assert cli_process.returncode == 130, err
    assert time.monotonic() - began < 10  # not the command's 30 s
    assert not alive(command)
    assert subtask(project, "01")["status"] == "in_progress"  # the next run resumes it
    result = cli(project, "task", "run", FEATURE, "--command", "true", "--no-summary")
    assert result.code == 0
    assert "→ 01 started (attempt 2, resumed)" in result.out
