"""The scale-out story of docs/scale-out.md, tested (issue 6, section 5): worker processes,
each with its own connection as on separate hosts, pull the subtasks of one feature from a
PostgreSQL store through ``claim``; and Stage 6 runs through a Dask distributed cluster
while the driver keeps the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import taskdocs

import stageflow
from stageflow import TaskTracker, execute, open_stores
from stageflow.executor import TaskContext, TaskResult

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX processes")

WORKER = Path(__file__).resolve().parent.parent / "docs" / "examples" / "claim_worker.py"
SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(stageflow.__file__)))
FEATURE = "fleet"


def _feature(url: str, count: int) -> None:
    """``count`` subtasks; every fifth waits on the four before it, so workers also meet
    "nothing ready yet"."""
    seqs = [f"{n:02d}" for n in range(1, count + 1)]
    with open_stores(url) as stores:
        stores.tasks.create(
            FEATURE,
            *taskdocs.feature(FEATURE, seqs, lambda n, seq: seqs[n - 4 : n] if n % 5 == 4 else []),
        )


def test_worker_processes_pull_one_features_work_from_postgres(postgres_url: str) -> None:
    count = 40
    _feature(postgres_url, count)
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [SOURCE, os.environ.get("PYTHONPATH")]))
    )
    hosts = [
        subprocess.Popen(
            [sys.executable, str(WORKER), postgres_url, FEATURE, f"host-{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(4)
    ]
    done: Dict[str, List[str]] = {}
    for n, host in enumerate(hosts):
        out, err = host.communicate(timeout=300)
        assert host.returncode == 0, err
        done[f"host-{n}"] = out.split()
    everything = sorted(seq for seqs in done.values() for seq in seqs)
    assert everything == [f"{n:02d}" for n in range(1, count + 1)]  # each exactly once
    with open_stores(postgres_url) as stores:
        stored = stores.tasks.load(FEATURE)
    assert stored.task.document["completed_count"] == count
    for file in stored.subtasks:
        assert file.seq in done[file.document["agent_id"]]


def _echo(subtask: Dict[str, Any], context: TaskContext) -> TaskResult:
    return TaskResult(f"{subtask['seq']} done on pid {os.getpid()}")


def test_stage_6_on_a_dask_cluster_with_a_postgres_store(postgres_url: str) -> None:
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed")
    _feature(postgres_url, 12)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        with distributed.Client(cluster) as client, open_stores(postgres_url) as stores:
            report = execute(TaskTracker(stores), FEATURE, _echo, executor=client.get_executor())
    finally:
        cluster.close()
    assert report.ok, report
    pids = {outcome.summary.rsplit(" ", 1)[-1] for outcome in report.outcomes}
    assert str(os.getpid()) not in pids  # the work ran on the cluster's worker processes
    with open_stores(postgres_url) as stores:
        assert stores.tasks.load(FEATURE).task.document["completed_count"] == 12
