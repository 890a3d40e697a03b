"""Real processes claiming and completing the subtasks of one feature through the CLI while
other processes read it: every subtask is completed exactly once, the counts are exact, and
no reader ever sees a half-written file. A writer killed at random moments never leaves a
file that does not parse.

The public task tools lost updates and crashed 14 of 300 concurrent readers on half-written
files; here every move holds the feature's lock and every file is replaced atomically.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import taskdocs

import stageflow
from stageflow import FileTaskStore, TaskTracker
from stageflow.storage import open_stores
from stageflow.validation import validate_feature, validate_stored

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX processes and signals")

FEATURE = "swarm"
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(stageflow.__file__)))
PATIENCE = 180.0  # seconds before a stuck process fails the test (never reached normally)

# A worker: claim, complete, repeat, through the CLI's main(); print each seq it completed.
# "Nothing ready" while others still work is retried after a short pause (bounded).
WORKER = r"""
import io, json, sys, time
from stageflow.cli import main
root, agent = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + float(sys.argv[3])
while time.monotonic() < deadline:
    out = io.StringIO()
    code = main(["task", "claim", "swarm", "--agent", agent, "--json", "--root", root], out=out)
    answer = json.loads(out.getvalue())
    if code == 1:
        if answer["findings"][0]["code"] == "task-all-completed":
            break
        time.sleep(0.002)
        continue
    assert code == 0, answer
    seq = answer["move"]["seq"]
    out = io.StringIO()
    code = main(["task", "complete", "swarm", seq, "by", agent, "--json", "--root", root], out=out)
    assert code == 0, out.getvalue()
    print(seq, flush=True)
else:
    sys.exit("worker ran out of time")
"""

# A reader: `task status --json` until the stop file exists; any non-JSON answer, exit code
# other than 0, unreadable file or impossible count is printed as an error line.
READER = r"""
import io, json, os, sys
from stageflow.cli import main
root, stop, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
reads = 0
for _ in range(100000):
    if os.path.exists(stop):
        break
    out = io.StringIO()
    code = main(["task", "status", "swarm", "--json", "--root", root], out=out)
    reads += 1
    try:
        view = json.loads(out.getvalue())
    except ValueError:
        print("error: not JSON:", out.getvalue()[:200], flush=True)
        continue
    counts = view.get("counts", {})
    if code != 0 or view.get("problems") or sum(counts.values()) != total:
        print("error:", code, json.dumps(view)[:300], flush=True)
print("reads", reads, flush=True)
"""


def _environment(store: Optional[str] = None) -> Dict[str, str]:
    """The processes' environment; ``store``: the store URL their commands use."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [SOURCE, env.get("PYTHONPATH")]))
    env.pop("STAGEFLOW_ROOT", None)
    env.pop("STAGEFLOW_STORE", None)
    if store is not None:
        env["STAGEFLOW_STORE"] = store
    return env


def _make_feature(root: Path, count: int, store: Optional[str] = None) -> None:
    """``count`` subtasks; every tenth one depends on the ten before it, so claimers also
    meet "nothing ready yet" and wait for each other."""
    seqs = [f"{n:03d}" for n in range(1, count + 1)]

    def depends_on(n: int, seq: str) -> List[str]:
        return seqs[n - 10 : n] if (n + 1) % 10 == 0 and n + 1 > 10 else []

    with open_stores(store or "files", str(root)) as stores:
        stores.tasks.create(FEATURE, *taskdocs.feature(FEATURE, seqs, depends_on))


def _run_swarm(
    root: Path,
    count: int,
    workers: int,
    readers: int,
    store: Optional[str] = None,
    patience: float = PATIENCE,
) -> None:
    """``workers`` processes claim and complete ``count`` subtasks through the CLI while
    ``readers`` processes read the status, on the files store under ``root`` or ``store``."""
    _make_feature(root, count, store)
    stop = root / "stop"
    env = _environment(store)
    reading = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(root), str(stop), str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(readers)
    ]
    working = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), f"agent-{i}", str(patience)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(workers)
    ]
    done: Dict[str, List[str]] = {}
    try:
        for i, process in enumerate(working):
            out, err = process.communicate(timeout=patience + 30)
            assert process.returncode == 0, err
            done[f"agent-{i}"] = out.split()
    finally:
        stop.touch()
        for process in working:
            if process.poll() is None:
                process.kill()
    read_reports = []
    for process in reading:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        read_reports.append(out)

    # Every subtask completed exactly once, by the agent that claimed it.
    completed = sorted((seq for seqs in done.values() for seq in seqs), key=int)
    assert completed == [f"{n:03d}" for n in range(1, count + 1)]
    with open_stores(store or "files", str(root)) as stores:
        stored = stores.tasks.load(FEATURE)
    for file in stored.subtasks:
        assert file.document is not None
        agent = file.document["agent_id"]
        assert file.document["status"] == "completed"
        assert file.document["completion_summary"] == f"by {agent}"
        assert file.seq in done[agent]
    assert [f for f in validate_stored(stored) if f.is_error] == []
    assert stored.task.document is not None
    assert stored.task.document["completed_count"] == count
    assert stored.task.document["subtask_count"] == count
    # No reader ever saw an error, and they really read while the writers worked.
    for report in read_reports:
        assert "error" not in report, report
        assert int(report.split()[-1]) > 0
    if store is None:
        assert [f for f in validate_feature(root, FEATURE) if f.is_error] == []
        # Nothing but the task files is left in the feature folder (no stray temporary file).
        assert len(os.listdir(root / ".tmp" / "tasks" / FEATURE)) == count + 1


def test_four_processes_claim_and_complete_200_subtasks_while_two_read(tmp_path: Path) -> None:
    _run_swarm(tmp_path, count=200, workers=4, readers=2)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Optional[str]:
    """``None`` (the files store under the root), or the URL of an empty SQL store."""
    if request.param == "files":
        return None
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'swarm.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.mark.slow
@pytest.mark.parametrize("store_url", ["files", "sqlite", "postgres"], indirect=True)
def test_four_processes_claim_and_complete_1000_subtasks_while_two_read(
    tmp_path: Path, store_url: Optional[str]
) -> None:
    # Every move of the files store reads the whole feature (1000 files): minutes of CPU
    # work, run once by .ci/run, not in the interpreter matrix.
    _run_swarm(tmp_path, count=1000, workers=4, readers=2, store=store_url, patience=900.0)


# A writer that moves every subtask one step along its lifecycle, round after round, until it
# is killed.
CHURN = r"""
import sys
from stageflow import TaskTracker
from stageflow.errors import RuleViolation
tracker = TaskTracker(root=sys.argv[1])
while True:
    for row in tracker.summary("swarm")["subtasks"]:
        seq, status = row["seq"], row["status"]
        try:
            if status == "pending":
                tracker.start("swarm", seq, "churn")
            elif status == "in_progress":
                tracker.complete("swarm", seq, "done")
            elif status == "completed":
                tracker.reopen("swarm", seq, "again")
            else:
                tracker.unblock("swarm", seq)
        except RuleViolation:  # 020 waits on the ten before it
            pass
    print("round", flush=True)
"""


def test_a_writer_killed_at_random_moments_never_leaves_a_broken_file(tmp_path: Path) -> None:
    _make_feature(tmp_path, 20)
    folder = tmp_path / ".tmp" / "tasks" / FEATURE
    rng = random.Random(20261201)
    env = _environment()
    for _ in range(12):
        process = subprocess.Popen(
            [sys.executable, "-c", CHURN, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert process.stdout is not None
        # Wait until it is writing (its first round is done), then kill it a little later.
        line = process.stdout.readline()
        assert line.startswith("round"), process.stderr.read() if process.stderr else line
        time.sleep(rng.uniform(0.0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()
        for path in folder.iterdir():
            if path.name.endswith(".tmp"):
                continue  # a killed writer may leave its temporary file, never a torn target
            json.loads(path.read_text("utf-8"))  # every file parses
        # Counts may be stale after a kill between the two writes; the next move fixes them.
        tracker = TaskTracker(FileTaskStore(tmp_path))
        summary = tracker.summary(FEATURE)
        assert summary["problems"] == []
        assert summary["subtask_count"] == 20
    # The next move recomputes task.json's counts from the files.
    tracker = TaskTracker(FileTaskStore(tmp_path))
    status = tracker.summary(FEATURE)["subtasks"][0]["status"]
    if status == "completed":
        result = tracker.reopen(FEATURE, "001", "check the counts")
    else:
        result = tracker.block(FEATURE, "001", "check the counts")
    task = tracker.load(FEATURE).task.document
    assert task is not None
    assert (
        task["completed_count"] == result.completed == tracker.summary(FEATURE)["completed_count"]
    )
