"""Workers for the executor tests that must cross a process boundary (process pools, Dask,
subprocesses): module-level, so they pickle by reference.

Run as a script, it is the executor process of the crash-resume test::

    python execworkers.py ROOT FEATURE LOG MODE DELAY

runs :func:`stageflow.execute` on ``FEATURE`` of the files store at ``ROOT`` with a
:class:`LogWorker` appending to ``LOG``, in ``MODE``, each attempt sleeping ``DELAY`` s.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Dict, List, Tuple

from stageflow import PermanentFailure, TaskContext, TaskResult


def ok_worker(subtask: Dict[str, Any], context: TaskContext) -> str:
    """Succeeds with a summary naming the subtask."""
    return f"did {subtask['seq']}"


def pid_worker(subtask: Dict[str, Any], context: TaskContext) -> TaskResult:
    """Succeeds; its data is the process id and the idempotency key it saw."""
    return TaskResult(
        f"did {subtask['seq']} in {os.getpid()}", (os.getpid(), context.idempotency_key)
    )


def failing_worker(subtask: Dict[str, Any], context: TaskContext) -> str:
    """Fails subtasks whose title says ``fail``, permanently when it says ``permanent``."""
    title = subtask.get("title", "")
    if "permanent" in title:
        raise PermanentFailure(f"{subtask['seq']} cannot be done")
    if "fail" in title:
        raise RuntimeError(f"boom in {subtask['seq']} attempt {context.attempt}")
    return f"did {subtask['seq']}"


def flaky_worker(subtask: Dict[str, Any], context: TaskContext) -> str:
    """Fails the first attempt of every subtask, succeeds after."""
    if context.attempt == 1:
        raise RuntimeError(f"first attempt of {subtask['seq']} fails")
    return f"did {subtask['seq']} on attempt {context.attempt}"


class LogWorker:
    """Appends ``feature seq attempt`` to ``log`` (flushed and fsynced) when an attempt
    starts, sleeps ``delay`` seconds, and succeeds."""

    def __init__(self, log: str, delay: float) -> None:
        self.log = log
        self.delay = delay

    def __call__(self, subtask: Dict[str, Any], context: TaskContext) -> str:
        feature, seq, attempt = context.idempotency_key
        line = f"{feature} {seq} {attempt}\n".encode()
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one small O_APPEND write: lines never interleave
            os.fsync(fd)
        finally:
            os.close(fd)
        time.sleep(self.delay)
        return f"did {seq} on attempt {attempt}"


def read_log(log: str) -> List[Tuple[str, str, int]]:
    """The ``(feature, seq, attempt)`` lines a :class:`LogWorker` wrote, in order."""
    if not os.path.exists(log):
        return []
    with open(log, encoding="utf-8") as handle:
        rows = [line.split() for line in handle if line.strip()]
    return [(feature, seq, int(attempt)) for feature, seq, attempt in rows]


def main(argv: List[str]) -> int:
    from stageflow import execute

    root, feature, log, mode, delay = argv
    report = execute(
        root,
        feature,
        LogWorker(log, float(delay)),
        concurrency=4,
        mode=mode,
        backoff=0.01,
    )
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
