"""The writer that tests/test_kill_durability.py kills: importable, so that a forkserver
child can run it. Every write it acknowledges is appended to the ack file (unbuffered)
only after the store returned from it."""

from __future__ import annotations

import os

from stageflow import Orchestrator, RuleViolation, TaskTracker
from stageflow.errors import NotFound
from stageflow.storage import open_stores
from stageflow.workflow import StageSpec, WorkflowSpec

FLIP = WorkflowSpec("flip", [StageSpec("a", "A"), StageSpec("b", "B")])
FEATURE = "durable"


def writer(url: str, root: str, ack: str) -> None:
    """Move the run back and forth and complete subtasks, acknowledging each write."""
    fd = os.open(ack, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with open_stores(url, root) as stores:
        flow = Orchestrator(
            stores.runs, root=root, workflows=[FLIP], default_gates=False, actor="writer"
        )
        tracker = TaskTracker(stores.tasks)
        while True:
            try:
                run = flow.status(FEATURE)
            except NotFound:
                run = flow.init(FEATURE)
            else:
                if run.current_stage == "a":
                    run = flow.complete(FEATURE, "a")
                else:
                    run = flow.rollback(FEATURE, "a", reason="again")
            os.write(fd, f"run {len(run.history)}\n".encode())
            try:
                moved = tracker.claim(FEATURE, "writer")
            except RuleViolation:
                continue  # every subtask is done: only the run moves
            os.write(fd, f"claim {moved.seq}\n".encode())
            tracker.complete(FEATURE, moved.seq, "done")
            os.write(fd, f"complete {moved.seq}\n".encode())
