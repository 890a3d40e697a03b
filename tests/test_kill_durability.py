"""A writer killed with SIGKILL at random moments, again and again (issue 6, section 4):
after every kill the state loads, is consistent, and no write the store acknowledged is
lost. Run for each persistent backend; the writer runs in forkserver children (a fork of
a clean, pre-loaded process: fast, and safe beside the test process's threads)."""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from pathlib import Path
from typing import List, Set, Tuple

import pytest
import taskdocs
from faultworkers import FEATURE, FLIP, writer

from stageflow import Orchestrator
from stageflow.storage import Stores, open_stores

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="POSIX signals"),
]

KILLS = 200
SUBTASKS = 60


BACKENDS = ("files", "sqlite", "postgres")


@pytest.fixture
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store of the backend the test is parametrised with."""
    name = request.param
    if name == "files":
        return "files://" + str(tmp_path / "project")
    if name == "sqlite":
        return "sqlite://" + str(tmp_path / "durable.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


def _seed(url: str, root: str) -> None:
    """The feature's task files: ``SUBTASKS`` independent subtasks."""
    with open_stores(url, root) as stores:
        stores.tasks.create(FEATURE, *taskdocs.feature(FEATURE, _seqs()))


def _seqs() -> List[str]:
    return [f"{n:03d}" for n in range(1, SUBTASKS + 1)]


def _acknowledged(ack: Path) -> Tuple[int, Set[str], Set[str]]:
    """The longest history acknowledged, and the subtasks acknowledged claimed, completed."""
    history, claimed, completed = 0, set(), set()
    for line in ack.read_text().splitlines():
        what, _, value = line.partition(" ")
        if what == "run":
            history = max(history, int(value))
        elif what == "claim":
            claimed.add(value)
        elif what == "complete":
            completed.add(value)
    return history, claimed, completed


def _check(stores: Stores, root: str, ack: Path) -> List[str]:
    """What is wrong with the stored state after a kill (nothing, we hope)."""
    problems: List[str] = []
    history, claimed, completed = _acknowledged(ack)
    if history:
        flow = Orchestrator(stores.runs, root=root, workflows=[FLIP], default_gates=False)
        run = flow.status(FEATURE)  # strict: raises on any unreadable or invalid document
        if len(run.history) < history:
            problems.append(f"history has {len(run.history)} events, {history} acknowledged")
    stored = stores.tasks.load(FEATURE)
    files = [stored.task, *stored.subtasks]
    problems += [f"{f.location}: {f.problem}" for f in files if f.problem is not None]
    if problems:
        return problems
    status = {str(f.seq): f.document["status"] for f in stored.subtasks}
    problems += [f"{seq} completed, then lost" for seq in completed if status[seq] != "completed"]
    problems += [
        f"{seq} claimed, then lost"
        for seq in claimed
        if status[seq] not in ("in_progress", "completed")
    ]
    return problems


def _wait_for_first_write(ack: Path, size: int, child: multiprocessing.process.BaseProcess) -> None:
    deadline = time.monotonic() + 30.0
    while ack.stat().st_size == size:
        assert child.is_alive(), f"the writer died on its own (exit code {child.exitcode})"
        assert time.monotonic() < deadline, "the writer wrote nothing in 30 s"
        time.sleep(0.002)


@pytest.mark.parametrize("backend_url", BACKENDS, indirect=True)
def test_sigkill_never_loses_an_acknowledged_write(tmp_path: Path, backend_url: str) -> None:
    url = backend_url
    root = str(tmp_path / "project")
    os.makedirs(root, exist_ok=True)
    _seed(url, root)
    ack = tmp_path / "ack"
    ack.touch()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["faultworkers"])
    rng = random.Random(6)
    stale_counts = 0
    for kill in range(KILLS):
        size = ack.stat().st_size
        child = context.Process(target=writer, args=(url, root, str(ack)))
        child.start()
        _wait_for_first_write(ack, size, child)
        child.join(rng.uniform(0.0, 0.08))  # then a random moment into its writes
        child.kill()
        child.join()
        with open_stores(url, root) as stores:
            problems = _check(stores, root, ack)
            assert not problems, f"after kill {kill + 1}: {problems}"
            stored = stores.tasks.load(FEATURE)
            done = sum(1 for f in stored.subtasks if f.document["status"] == "completed")
            if stored.task.document["completed_count"] != done:
                stale_counts += 1
    history, _, completed = _acknowledged(ack)
    assert history > KILLS
    assert len(completed) > 10
    if not url.startswith("files:"):  # one transaction per move: counts never lag
        assert stale_counts == 0
