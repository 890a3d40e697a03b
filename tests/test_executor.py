"""The Stage 6 executor: runners (threads, processes, asyncio, Dask), modes, state on disk,
retries and timeouts, idempotency keys, the execution lease, crash-resume of a killed run,
progress events and bad input."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from execworkers import (
    LogWorker,
    failing_worker,
    flaky_worker,
    ok_worker,
    pid_worker,
    read_log,
)

from stageflow import (
    Backoff,
    ExecutionEvent,
    FileTaskStore,
    MemoryTaskStore,
    TaskContext,
    TaskResult,
    TaskTracker,
    execute,
    execute_async,
)
from stageflow.demo import write_outputs
from stageflow.errors import ConflictError, NotFound, StateFileError, UsageError
from stageflow.executor import DEFAULT_AGENT
from stageflow.graph import DependencyCycleError

Doc = Dict[str, Any]
FEATURE = "feat"
OM_BATCHES = (
    ("01",),
    ("02",),
    ("03", "04", "05", "06", "10"),
    ("07",),
    ("08",),
    ("09",),
    ("12",),
    ("11",),
)
WORKERS = Path(__file__).with_name("execworkers.py")
SPAWN = multiprocessing.get_context("spawn")  # fork in a threaded pytest process is unsafe
QUICK = Backoff(0.01, 2.0, 0.05)


# -- features ------------------------------------------------------------------------------


def sub(
    seq: str,
    deps: Sequence[str] = (),
    *,
    parallel: bool = True,
    deliverables: Optional[List[str]] = None,
    status: str = "pending",
    title: Optional[str] = None,
    **extra: Any,
) -> Doc:
    doc: Doc = {
        "id": f"{FEATURE}-{seq}",
        "seq": seq,
        "title": title or f"Subtask {seq}",
        "status": status,
        "depends_on": list(deps),
        "parallel": parallel,
        "acceptance_criteria": ["works"],
        "deliverables": deliverables if deliverables is not None else [f"src/{seq}.py"],
    }
    doc.update(extra)
    return doc


def task_doc(count: int) -> Doc:
    return {
        "id": FEATURE,
        "name": "Feature",
        "status": "active",
        "objective": "Test the executor",
        "created_at": "2026-01-01T00:00:00Z",
        "subtask_count": count,
        "completed_count": 0,
    }


def make(store: Any, *subtasks: Doc) -> TaskTracker:
    store.create(FEATURE, task_doc(len(subtasks)), {s["seq"]: s for s in subtasks})
    return TaskTracker(store)


def files_feature(root: Path, *subtasks: Doc) -> TaskTracker:
    folder = root / ".tmp" / "tasks" / FEATURE
    folder.mkdir(parents=True)
    (folder / "task.json").write_text(json.dumps(task_doc(len(subtasks))))
    for doc in subtasks:
        (folder / f"subtask_{doc['seq']}.json").write_text(json.dumps(doc))
    return TaskTracker(root=root)


def om(root: Path) -> Path:
    write_outputs(root, "tasks", "om")
    return root


def docs(tracker: TaskTracker, feature: str = FEATURE) -> Dict[str, Doc]:
    stored = tracker.load(feature)
    return {f.seq: f.document for f in stored.subtasks}  # type: ignore[misc]


def task_json(tracker: TaskTracker, feature: str = FEATURE) -> Doc:
    document = tracker.load(feature).task.document
    assert isinstance(document, dict)
    return document


def raw_files(root: Path, feature: str) -> Dict[str, bytes]:
    folder = root / ".tmp" / "tasks" / feature
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(params=["memory", "files"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return MemoryTaskStore() if request.param == "memory" else FileTaskStore(tmp_path)


class Recorder:
    """A thread-safe worker that records when each attempt starts and ends."""

    def __init__(self, delay: float = 0.0, delays: Optional[Dict[str, float]] = None) -> None:
        self.delay = delay
        self.delays = delays or {}
        self.log: List[Tuple[str, str]] = []  # ("start" | "end", seq)
        self.keys: List[Tuple[str, str, int]] = []
        self.running = 0
        self.max_running = 0
        self.threads: List[str] = []
        self.lock = threading.Lock()

    def _begin(self, subtask: Doc, context: TaskContext) -> None:
        assert context.idempotency_key == (context.feature, subtask["seq"], subtask["attempts"])
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.log.append(("start", subtask["seq"]))
            self.keys.append(context.idempotency_key)
            self.threads.append(threading.current_thread().name)

    def _end(self, subtask: Doc) -> None:
        with self.lock:
            self.running -= 1
            self.log.append(("end", subtask["seq"]))

    def __call__(self, subtask: Doc, context: TaskContext) -> str:
        self._begin(subtask, context)
        try:
            time.sleep(self.delays.get(subtask["seq"], self.delay))
        finally:
            self._end(subtask)
        return f"did {subtask['seq']}"

    def interval(self, seq: str) -> Tuple[int, int]:
        return self.log.index(("start", seq)), self.log.index(("end", seq))

    def overlap(self, a: str, b: str) -> bool:
        (sa, ea), (sb, eb) = self.interval(a), self.interval(b)
        return sa < eb and sb < ea


def assert_all_completed(tracker: TaskTracker, feature: str, attempts: int = 1) -> None:
    for seq, doc in docs(tracker, feature).items():
        assert doc["status"] == "completed", (seq, doc)
        assert doc["completion_summary"], seq
        assert doc["attempts"] == attempts, (seq, doc)
        assert doc["agent_id"] == DEFAULT_AGENT
    counts = task_json(tracker, feature)
    assert counts["completed_count"] == counts["subtask_count"] == len(docs(tracker, feature))


def in_flight(events: List[ExecutionEvent]) -> int:
    """The most attempts dispatched and not yet settled at once, from the events."""
    running: set = set()
    most = 0
    for event in events:
        if event.kind == "task_started":
            running.add(event.seq)
            most = max(most, len(running))
        elif event.kind in ("task_finished", "task_retried", "task_failed"):
            running.discard(event.seq)
    return most


def independent(count: int) -> List[Doc]:
    return [sub(f"{n:02d}") for n in range(1, count + 1)]


# -- runners -------------------------------------------------------------------------------


def test_default_thread_pool_runs_the_example_to_completion(tmp_path: Path) -> None:
    recorder = Recorder()
    report = execute(om(tmp_path), "om", recorder)
    assert report.ok
    assert not report.failed
    assert not report.skipped
    assert report.batches == OM_BATCHES
    assert report.completed == tuple(seq for batch in OM_BATCHES for seq in batch)
    assert report.agent == DEFAULT_AGENT
    assert report.mode == "batches"
    assert all(o.attempts == 1 and o.summary == f"did {o.seq}" for o in report.outcomes)
    assert all(name.startswith("stageflow-executor") for name in recorder.threads)
    tracker = TaskTracker(root=tmp_path)
    assert_all_completed(tracker, "om")
    # a second run has nothing to do: every subtask was completed before it
    again = execute(tmp_path, "om", recorder)
    assert again.ok
    assert again.outcomes == ()
    assert len(again.already_completed) == 12


def test_a_user_thread_pool_bounds_concurrency_and_is_not_shut_down(tmp_path: Path) -> None:
    tracker = make(FileTaskStore(tmp_path), *independent(8))
    recorder = Recorder(delay=0.05)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        events: List[ExecutionEvent] = []
        report = execute(tracker, FEATURE, recorder, executor=pool, on_event=events.append)
        assert pool.submit(lambda: 7).result() == 7  # still usable
    assert report.ok
    assert recorder.max_running <= 3
    assert in_flight(events) == 3  # the executor's max_workers is the limit
    assert_all_completed(tracker, FEATURE)


def test_concurrency_caps_a_larger_pool(tmp_path: Path) -> None:
    tracker = make(MemoryTaskStore(), *independent(6))
    events: List[ExecutionEvent] = []
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        report = execute(
            tracker, FEATURE, Recorder(0.02), executor=pool, concurrency=2, on_event=events.append
        )
    assert report.ok
    assert in_flight(events) == 2


def test_default_pool_dispatches_no_more_than_it_can_run(tmp_path: Path) -> None:
    # Every dispatch marks a subtask in progress and starts its timeout clock: the default
    # pool must not be handed more attempts than it has threads.
    tracker = make(MemoryTaskStore(), *independent(40))
    events: List[ExecutionEvent] = []
    report = execute(tracker, FEATURE, Recorder(0.01), on_event=events.append)
    assert report.ok
    assert in_flight(events) <= min(32, (os.cpu_count() or 1) + 4)


def test_a_process_pool_runs_picklable_workers(tmp_path: Path) -> None:
    om(tmp_path)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=SPAWN) as pool:
        report = execute(tmp_path, "om", pid_worker, executor=pool)
    assert report.ok
    pids = {o.data[0] for o in report.outcomes}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2
    assert all(o.data[1] == ("om", o.seq, 1) for o in report.outcomes)
    assert_all_completed(TaskTracker(root=tmp_path), "om")


def test_a_process_pool_carries_failures_back(tmp_path: Path) -> None:
    tracker = files_feature(
        tmp_path,
        sub("01", title="permanent"),
        sub("02", title="fail"),
        sub("03"),
    )
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=SPAWN) as pool:
        report = execute(tracker, FEATURE, failing_worker, executor=pool, retries=1, backoff=0)
    assert report.failed == ("01", "02")
    assert report.completed == ("03",)
    assert report.outcome("01").attempts == 1  # PermanentFailure survives pickling
    assert report.outcome("01").error == "01 cannot be done"  # its message says it all
    assert report.outcome("02").attempts == 2
    assert report.outcome("02").error == "RuntimeError: boom in 02 attempt 2"


def test_execute_async_with_a_coroutine_worker_respects_concurrency(tmp_path: Path) -> None:
    tracker = make(FileTaskStore(tmp_path), *independent(10))
    state = {"running": 0, "most": 0}

    async def worker(subtask: Doc, context: TaskContext) -> TaskResult:
        state["running"] += 1
        state["most"] = max(state["most"], state["running"])
        try:
            await asyncio.sleep(0.03)
        finally:
            state["running"] -= 1
        return TaskResult(f"did {subtask['seq']}", data=context.attempt)

    report = asyncio.run(execute_async(tracker, FEATURE, worker, concurrency=3))
    assert report.ok
    assert state["most"] == 3
    assert {o.data for o in report.outcomes} == {1}
    assert_all_completed(tracker, FEATURE)


def test_execute_async_runs_a_plain_worker_off_the_loop(tmp_path: Path) -> None:
    om(tmp_path)
    recorder = Recorder(0.01)
    loop_thread: List[str] = []

    async def main() -> Any:
        loop_thread.append(threading.current_thread().name)
        return await execute_async(tmp_path, "om", recorder, concurrency=2)

    report = asyncio.run(main())
    assert report.ok
    assert report.batches == OM_BATCHES
    assert recorder.max_running <= 2
    assert loop_thread[0] not in recorder.threads
    assert_all_completed(TaskTracker(root=tmp_path), "om")


def test_dask_distributed_executor(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed")
    om(tmp_path)
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
    )
    try:
        with distributed.Client(cluster) as client:
            report = execute(tmp_path, "om", pid_worker, executor=client.get_executor())
            flaky = files_feature(tmp_path / "flaky", *independent(3))
            retried = execute(
                flaky, FEATURE, flaky_worker, executor=client.get_executor(), backoff=0
            )
    finally:
        cluster.close()
    assert report.ok
    assert os.getpid() not in {o.data[0] for o in report.outcomes}
    assert_all_completed(TaskTracker(root=tmp_path), "om")
    assert retried.ok
    assert all(o.attempts == 2 for o in retried.outcomes)
    assert_all_completed(flaky, FEATURE, attempts=2)


# -- modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("runner", ["threads", "asyncio"])
def test_batches_mode_keeps_the_barrier(tmp_path: Path, runner: str) -> None:
    om(tmp_path)
    # uneven delays: a fast task of batch 3 must not let batch 4 start early
    recorder = Recorder(0.005, delays={"03": 0.08, "10": 0.0})
    events: List[ExecutionEvent] = []
    if runner == "threads":
        report = execute(tmp_path, "om", recorder, concurrency=8, on_event=events.append)
    else:
        report = asyncio.run(
            execute_async(tmp_path, "om", recorder, concurrency=8, on_event=events.append)
        )
    assert report.ok
    position = {entry: index for index, entry in enumerate(recorder.log)}
    for earlier, later in zip(OM_BATCHES, OM_BATCHES[1:]):
        last_end = max(position[("end", seq)] for seq in earlier)
        first_start = min(position[("start", seq)] for seq in later)
        assert last_end < first_start, (earlier, later, recorder.log)
    assert in_flight(events) == 5  # batch 3 was dispatched together


def chain_and_long_task() -> List[Doc]:
    # c1 -> c2 -> c3, and L alone: plan [c1, L] [c2] [c3]
    return [
        sub("01"),
        sub("02", ["01"]),
        sub("03", ["02"]),
        sub("04", title="long"),
    ]


class ChainWorker(Recorder):
    """The long task 04 waits (up to a few seconds) for the end of the chain's last task."""

    def __init__(self, wait: float) -> None:
        super().__init__()
        self.chain_done = threading.Event()
        self.wait = wait
        self.saw_chain_done = False

    def __call__(self, subtask: Doc, context: TaskContext) -> str:
        self._begin(subtask, context)
        try:
            if subtask["seq"] == "04":
                self.saw_chain_done = self.chain_done.wait(self.wait)
            elif subtask["seq"] == "03":
                self.chain_done.set()
        finally:
            self._end(subtask)
        return "done"


def test_eager_mode_runs_a_chain_past_a_long_task(tmp_path: Path) -> None:
    tracker = make(MemoryTaskStore(), *chain_and_long_task())
    worker = ChainWorker(wait=10.0)
    report = execute(tracker, FEATURE, worker, mode="eager", concurrency=4)
    assert report.ok
    assert report.mode == "eager"
    assert report.batches == (("01", "04"), ("02",), ("03",))
    assert worker.saw_chain_done  # the chain finished while the long task was running
    assert worker.interval("03")[1] < worker.interval("04")[1]


def test_batches_mode_waits_for_the_long_task(tmp_path: Path) -> None:
    tracker = make(MemoryTaskStore(), *chain_and_long_task())
    worker = ChainWorker(wait=0.2)
    report = execute(tracker, FEATURE, worker, mode="batches", concurrency=4)
    assert report.ok
    assert not worker.saw_chain_done
    assert worker.interval("04")[1] < worker.interval("02")[0]


@pytest.mark.parametrize("runner", ["threads", "asyncio"])
def test_eager_mode_never_overlaps_deliverables(tmp_path: Path, runner: str) -> None:
    tracker = make(
        MemoryTaskStore(),
        sub("01", deliverables=["src/shared/"]),
        sub("02", deliverables=["src/shared/model.py"]),  # inside 01's folder
        sub("03", deliverables=["src/other.py"]),
        sub("04", deliverables=["src/shared/"]),
        sub("05", ["03"], deliverables=["src/shared/view.py"]),
    )
    recorder = Recorder(0.02)
    if runner == "threads":
        report = execute(tracker, FEATURE, recorder, mode="eager", concurrency=5)
    else:
        report = asyncio.run(execute_async(tracker, FEATURE, recorder, mode="eager", concurrency=5))
    assert report.ok
    # 01 and 04 hold the folder src/shared/, 02 and 05 files inside it
    for a, b in [("01", "02"), ("01", "04"), ("01", "05"), ("04", "02"), ("04", "05")]:
        assert not recorder.overlap(a, b), (a, b, recorder.log)
    assert recorder.overlap("01", "03")  # a task that shares nothing runs alongside


def test_eager_mode_runs_a_sequential_task_alone(tmp_path: Path) -> None:
    tracker = make(
        MemoryTaskStore(),
        sub("01"),
        sub("02"),
        sub("03", parallel=False),
        sub("04"),
        sub("05", ["01"]),
    )
    recorder = Recorder(0.02)
    report = execute(tracker, FEATURE, recorder, mode="eager", concurrency=5)
    assert report.ok
    for other in ("01", "02", "04", "05"):
        assert not recorder.overlap("03", other), (other, recorder.log)


def test_eager_mode_respects_max_width(tmp_path: Path) -> None:
    tracker = make(MemoryTaskStore(), *independent(6), sub("07", ["01"]))
    events: List[ExecutionEvent] = []
    recorder = Recorder(0.01)
    report = execute(
        tracker, FEATURE, recorder, mode="eager", max_width=2, concurrency=6, on_event=events.append
    )
    assert report.ok
    assert in_flight(events) == 2
    assert recorder.max_running <= 2
    assert all(len(batch) <= 2 for batch in report.batches)


# -- state on disk: failures, retries, timeouts ---------------------------------------------


def test_a_failure_blocks_the_task_and_skips_its_dependents(store: Any) -> None:
    tracker = make(
        store,
        sub("01"),
        sub("02", ["01"], title="fail"),
        sub("03", ["02"]),
        sub("04", ["03"]),
        sub("05"),
    )
    events: List[ExecutionEvent] = []
    report = execute(tracker, FEATURE, failing_worker, backoff=QUICK, on_event=events.append)
    assert not report.ok
    assert report.completed == ("01", "05")
    assert report.failed == ("02",)
    assert report.skipped == ("03", "04")
    assert report.outcome("02").attempts == 4  # retries default to 3
    assert report.outcome("02").error == "RuntimeError: boom in 02 attempt 4"
    assert report.outcome("03").reason == "depends on 02, which failed"
    assert report.outcome("04").reason == "depends on 03, which was skipped"
    on_disk = docs(tracker)
    assert on_disk["02"]["status"] == "blocked"
    assert on_disk["02"]["attempts"] == 4
    reason = on_disk["02"]["blocked_reason"]
    assert reason.startswith("failed after 4 attempts: RuntimeError: boom in 02")
    for seq in ("03", "04"):
        assert on_disk[seq]["status"] == "pending"
        assert "attempts" not in on_disk[seq]
    counts = task_json(tracker)
    assert (counts["subtask_count"], counts["completed_count"]) == (5, 2)
    assert [e.delay for e in events if e.kind == "task_retried"] == [0.01, 0.02, 0.04]
    assert [e.seq for e in events if e.kind == "task_failed"] == ["02"]
    assert [e.seq for e in events if e.kind == "task_skipped"] == ["03", "04"]


def test_retries_zero_means_one_attempt(store: Any) -> None:
    tracker = make(store, sub("01", title="fail"))
    report = execute(tracker, FEATURE, failing_worker, retries=0)
    assert report.outcome("01").attempts == 1
    assert docs(tracker)["01"]["blocked_reason"] == (
        "failed after 1 attempt: RuntimeError: boom in 01 attempt 1"
    )


def test_backoff_waits_between_attempts(store: Any) -> None:
    tracker = make(store, sub("01"))
    times: List[float] = []

    def worker(subtask: Doc, context: TaskContext) -> str:
        times.append(time.monotonic())
        if context.attempt < 3:
            raise OSError("not yet")
        return "third time lucky"

    events: List[ExecutionEvent] = []
    report = execute(
        tracker, FEATURE, worker, backoff=Backoff(0.1, 2.0, 0.15), on_event=events.append
    )
    assert report.ok
    assert report.outcome("01").attempts == 3
    retried = [e for e in events if e.kind == "task_retried"]
    assert [e.delay for e in retried] == [0.1, 0.15]
    assert [e.error for e in retried] == ["OSError: not yet"] * 2
    assert times[1] - times[0] >= 0.09
    assert times[2] - times[1] >= 0.14


def test_a_permanent_failure_is_not_retried(store: Any) -> None:
    tracker = make(store, sub("01", title="permanent"), sub("02", ["01"]))
    report = execute(tracker, FEATURE, failing_worker, backoff=QUICK)
    assert report.outcome("01").attempts == 1
    assert report.skipped == ("02",)
    assert docs(tracker)["01"]["blocked_reason"] == ("failed after 1 attempt: 01 cannot be done")


def test_a_thread_attempt_past_its_timeout_fails_and_is_retried(store: Any) -> None:
    tracker = make(store, sub("01"), sub("02"))
    release = threading.Event()

    def worker(subtask: Doc, context: TaskContext) -> str:
        assert context.timeout == 0.2
        if subtask["seq"] == "01" and context.attempt == 1:
            release.wait(5)  # stuck past its timeout
            return "too late"
        return f"attempt {context.attempt}"

    events: List[ExecutionEvent] = []
    try:
        report = execute(tracker, FEATURE, worker, timeout=0.2, backoff=0, on_event=events.append)
    finally:
        release.set()
    assert report.ok
    assert report.outcome("01").attempts == 2
    assert report.outcome("01").summary == "attempt 2"
    assert [(e.seq, e.error) for e in events if e.kind == "task_retried"] == [
        ("01", "timed out after 0.2 s")
    ]
    assert docs(tracker)["01"]["completion_summary"] == "attempt 2"


def test_a_timed_out_attempt_keeps_its_pool_slot_busy(store: Any) -> None:
    # With one thread, the abandoned attempt still occupies it: the retry must wait for
    # the slot rather than start its timeout clock queued behind the stuck attempt.
    tracker = make(store, sub("01"))

    def worker(subtask: Doc, context: TaskContext) -> str:
        time.sleep(0.6 if context.attempt == 1 else 0.15)
        return f"attempt {context.attempt}"

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        report = execute(tracker, FEATURE, worker, executor=pool, timeout=0.3, retries=1, backoff=0)
    assert report.ok, report.outcomes
    assert report.outcome("01").summary == "attempt 2"


def test_attempts_that_never_return_end_the_run_instead_of_hanging_it(store: Any) -> None:
    # One thread, held by an attempt that ignores its timeout: after one more timeout the
    # run gives up on what it could not start, rather than waiting forever.
    tracker = make(store, sub("01"), sub("02"))
    release = threading.Event()

    def worker(subtask: Doc, context: TaskContext) -> str:
        if subtask["seq"] == "01":
            release.wait(10)
        return "done"

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        report = execute(tracker, FEATURE, worker, executor=pool, timeout=0.2, retries=0)
    finally:
        release.set()
        pool.shutdown()
    assert report.failed == ("01",)
    assert report.skipped == ("02",)
    assert report.outcome("02").reason == (
        "not started: all 1 worker slots are held by timed-out attempts that did not return"
    )
    assert docs(tracker)["02"]["status"] == "pending"


def test_retry_events_carry_the_attempt_number_of_the_subtask(store: Any) -> None:
    tracker = make(store, sub("01", attempts=4))  # four attempts in earlier runs

    def worker(subtask: Doc, context: TaskContext) -> str:
        if context.attempt == 5:
            raise OSError("flaky")
        return "ok"

    events: List[ExecutionEvent] = []
    execute(tracker, FEATURE, worker, backoff=0, on_event=events.append)
    assert [(e.kind, e.attempt) for e in events if e.kind in ("task_started", "task_retried")] == [
        ("task_started", 5),
        ("task_retried", 5),
        ("task_started", 6),
    ]


def test_an_async_attempt_past_its_timeout_is_cancelled(store: Any) -> None:
    tracker = make(store, sub("01"))
    cancelled: List[int] = []

    async def worker(subtask: Doc, context: TaskContext) -> str:
        if context.attempt == 1:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.append(context.attempt)
                raise
        return f"attempt {context.attempt}"

    events: List[ExecutionEvent] = []
    started = time.monotonic()
    report = asyncio.run(
        execute_async(tracker, FEATURE, worker, timeout=0.1, backoff=0, on_event=events.append)
    )
    assert time.monotonic() - started < 5
    assert report.ok
    assert cancelled == [1]
    assert [e.error for e in events if e.kind == "task_retried"] == ["timed out after 0.1 s"]


def test_an_async_worker_raising_timeout_error_fails_its_attempt() -> None:
    # A worker's own TimeoutError (a socket timeout, an inner wait_for) is not the
    # executor's timeout: it must fail the attempt with its own message, not end the run.
    async def worker(subtask: Doc, context: TaskContext) -> str:
        if subtask["seq"] == "01":
            raise asyncio.TimeoutError("the server did not answer")
        return "ok"

    for timeout in (None, 30.0):
        tracker = make(MemoryTaskStore(), sub("01"), sub("02"))
        report = asyncio.run(execute_async(tracker, FEATURE, worker, retries=0, timeout=timeout))
        assert report.failed == ("01",)
        assert report.completed == ("02",)
        assert report.outcome("01").error == "TimeoutError: the server did not answer"


def test_an_async_worker_raising_cancelled_error_fails_its_attempt() -> None:
    tracker = make(MemoryTaskStore(), sub("01"), sub("02"))

    async def worker(subtask: Doc, context: TaskContext) -> str:
        if subtask["seq"] == "01" and context.attempt == 1:
            raise asyncio.CancelledError()
        return "ok"

    report = asyncio.run(execute_async(tracker, FEATURE, worker, backoff=0))
    assert report.ok
    assert report.outcome("01").attempts == 2


def test_fail_fast_skips_everything_not_dispatched(store: Any) -> None:
    tracker = make(
        store,
        sub("01", title="permanent"),
        sub("02"),
        sub("03", ["02"]),
        sub("04", ["02"]),
    )
    report = execute(tracker, FEATURE, failing_worker, fail_fast=True)
    assert report.failed == ("01",)
    assert report.completed == ("02",)
    assert report.skipped == ("03", "04")
    assert all("fail-fast" in str(report.outcome(s).reason) for s in ("03", "04"))
    assert {s: d["status"] for s, d in docs(tracker).items()} == {
        "01": "blocked",
        "02": "completed",
        "03": "pending",
        "04": "pending",
    }


def test_blocked_and_foreign_in_progress_tasks_are_skipped_untouched(tmp_path: Path) -> None:
    tracker = files_feature(
        tmp_path,
        sub("01", status="blocked", blocked_reason="waiting on legal"),
        sub("02", status="in_progress", agent_id="alice", started_at="2026-01-01T00:00:00Z"),
        sub("03", ["01"]),
        sub("04", ["02"]),
        sub("05"),
    )
    before = raw_files(tmp_path, FEATURE)
    recorder = Recorder()
    report = execute(tracker, FEATURE, recorder)
    assert report.completed == ("05",)
    assert report.failed == ()
    assert report.skipped == ("01", "02", "03", "04")
    assert report.outcome("01").reason == "blocked before the run: waiting on legal"
    assert report.outcome("02").reason == "in progress for 'alice'"
    assert report.outcome("03").reason == "depends on 01, which was skipped"
    assert [seq for kind, seq in recorder.log if kind == "start"] == ["05"]
    after = raw_files(tmp_path, FEATURE)
    for name in ("subtask_01.json", "subtask_02.json", "subtask_03.json", "subtask_04.json"):
        assert after[name] == before[name], name


def test_a_long_summary_is_cut_to_200_characters(store: Any) -> None:
    tracker = make(store, sub("01"))
    report = execute(tracker, FEATURE, lambda s, c: "word " * 100)
    summary = docs(tracker)["01"]["completion_summary"]
    assert len(summary) == 200
    assert summary.endswith("…")
    assert summary.startswith("word word")
    assert report.outcome("01").summary == summary


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (42, "TypeError: the worker returned int; expected a TaskResult or a summary string"),
        (None, "TypeError: the worker returned NoneType; expected a TaskResult or a summary"),
        ("", "ValueError: a task result needs a non-blank summary string, not ''"),
        (" \n ", "ValueError: a task result needs a non-blank summary string"),
    ],
)
def test_a_bad_worker_result_fails_the_attempt(store: Any, value: Any, error: str) -> None:
    tracker = make(store, sub("01"))
    report = execute(tracker, FEATURE, lambda s, c: value, retries=0)
    assert report.failed == ("01",)
    assert str(report.outcome("01").error).startswith(error)
    assert docs(tracker)["01"]["blocked_reason"].startswith(f"failed after 1 attempt: {error}")


def test_task_result_data_reaches_the_report_but_not_the_store(store: Any) -> None:
    tracker = make(store, sub("01"))
    report = execute(tracker, FEATURE, lambda s, c: TaskResult("done", {"lines": 3}))
    assert report.outcome("01").data == {"lines": 3}
    assert "lines" not in json.dumps(docs(tracker)["01"])


# -- idempotency keys -----------------------------------------------------------------------


def test_idempotency_keys_never_repeat_across_runs(store: Any) -> None:
    tracker = make(store, sub("01"), sub("02", ["01"]))
    keys: List[Tuple[str, str, int]] = []

    def worker(subtask: Doc, context: TaskContext) -> str:
        assert context.idempotency_key == (FEATURE, subtask["seq"], subtask["attempts"])
        assert context.agent == DEFAULT_AGENT
        keys.append(context.idempotency_key)
        if context.attempt < 3:
            raise RuntimeError("again")
        return "ok"

    first = execute(tracker, FEATURE, worker, retries=0)  # attempt 1 fails: blocked
    assert first.failed == ("01",)
    tracker.unblock(FEATURE, "01")
    second = execute(tracker, FEATURE, worker, retries=0)  # attempt 2 fails
    assert second.failed == ("01",)
    tracker.unblock(FEATURE, "01")
    third = execute(tracker, FEATURE, worker, backoff=0)
    assert third.ok
    assert keys == [
        (FEATURE, "01", 1),
        (FEATURE, "01", 2),
        (FEATURE, "01", 3),
        (FEATURE, "02", 1),
        (FEATURE, "02", 2),
        (FEATURE, "02", 3),
    ]
    assert [docs(tracker)[s]["attempts"] for s in ("01", "02")] == [3, 3]


# -- the execution lease ----------------------------------------------------------------------


def test_a_second_run_of_a_running_feature_is_refused(store: Any) -> None:
    tracker = make(store, sub("01"), sub("02", ["01"]))
    refused: List[BaseException] = []

    def worker(subtask: Doc, context: TaskContext) -> str:
        if subtask["seq"] == "01":
            try:
                execute(TaskTracker(store), FEATURE, ok_worker)
            except ConflictError as exc:
                refused.append(exc)
        return "ok"

    report = execute(tracker, FEATURE, worker)
    assert report.ok
    assert len(refused) == 1
    assert "another executor is running feature 'feat'" in str(refused[0])
    # released when the run ends
    assert execute(tracker, FEATURE, ok_worker).already_completed == ("01", "02")


def test_the_lease_is_released_when_the_run_raises(store: Any) -> None:
    tracker = make(store, sub("01"))

    def callback(event: ExecutionEvent) -> None:
        if event.kind == "task_started":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(tracker, FEATURE, ok_worker, on_event=callback)
    report = execute(tracker, FEATURE, ok_worker)  # not refused; the task is resumed
    assert report.ok
    assert docs(tracker)["01"]["attempts"] == 2


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX")
# Python 3.12+ warns about fork() in a process that has threads; this test needs fork.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_pool_workers_do_not_keep_the_lease(tmp_path: Path) -> None:
    # A ProcessPoolExecutor forks its workers (the default on Linux before 3.14) during
    # the run; they inherit the lease's file descriptor, and must not keep it held.
    om(tmp_path)
    fork = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=fork) as pool:
        assert execute(tmp_path, "om", ok_worker, executor=pool).ok
        second = execute(tmp_path, "om", ok_worker, executor=pool)
    assert second.ok
    assert len(second.already_completed) == 12


# -- crash and resume -------------------------------------------------------------------------


def statuses(root: Path, feature: str) -> Dict[str, Tuple[str, int]]:
    found = {}
    for path in (root / ".tmp" / "tasks" / feature).glob("subtask_*.json"):
        try:
            doc = json.loads(path.read_text())
        except ValueError:  # pragma: no cover - files are replaced atomically
            continue
        found[doc["seq"]] = (doc["status"], doc.get("attempts", 0))
    return found


def start_executor(root: Path, log: Path, mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), str(root), "om", str(log), mode, "0.05"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill_midway(
    root: Path, log: Path, mode: str, rng: random.Random
) -> Optional[Dict[str, Tuple[str, int]]]:
    """Start an executor process and SIGKILL it once it has started an attempt, some
    subtasks are completed and some in progress; the state at the kill, or None if the
    process finished first."""
    logged = len(read_log(str(log)))
    process = start_executor(root, log, mode)
    try:
        want = rng.randint(1, 11)
        deadline = time.monotonic() + 30
        checked_lease = False
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return None
            if len(read_log(str(log))) > logged:  # this process runs attempts now
                if not checked_lease:
                    # it holds the lease: an executor here is refused
                    with pytest.raises(ConflictError, match="another executor is running"):
                        execute(root, "om", failing_worker)
                    checked_lease = True
                now = statuses(root, "om")
                done = sum(1 for status, _ in now.values() if status == "completed")
                if done >= want and any(status == "in_progress" for status, _ in now.values()):
                    time.sleep(rng.random() * 0.03)
                    process.send_signal(signal.SIGKILL)
                    process.wait(10)
                    return statuses(root, "om")
            time.sleep(0.005)
        raise AssertionError("the executor made no progress")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()


def crash_and_resume(root: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    om(root)
    log = root / "attempts.log"
    killed_at: List[Tuple[int, Dict[str, Tuple[str, int]]]] = []
    for _ in range(kills):
        mode = rng.choice(["batches", "eager"])
        state = kill_midway(root, log, mode, rng)
        if state is None:
            break
        killed_at.append((len(read_log(str(log))), state))
    # A kill may land between two attempts (the last one done, the next not yet
    # dispatched); across the kills, at least one caught attempts at work.
    assert not killed_at or any(
        any(s == "in_progress" for s, _ in state.values()) for _, state in killed_at
    ), killed_at
    report = execute(root, "om", LogWorker(str(log), 0.0), backoff=0)
    assert report.ok
    tracker = TaskTracker(root=root)
    for seq, doc in docs(tracker, "om").items():
        assert doc["status"] == "completed", seq
        assert doc["completion_summary"], seq
    counts = task_json(tracker, "om")
    assert counts["completed_count"] == counts["subtask_count"] == 12
    lines = read_log(str(log))
    keys = [(seq, attempt) for _, seq, attempt in lines]
    assert len(keys) == len(set(keys)), "an idempotency key was delivered twice"
    assert {seq for seq, _ in keys} == set(docs(tracker, "om"))
    for position, state in killed_at:
        later = lines[position:]
        for seq, (status, attempts) in state.items():
            after = [attempt for _, s, attempt in later if s == seq]
            if status == "completed":
                assert not after, f"{seq} was completed at a kill and ran again"
            elif status == "in_progress":
                assert after, f"{seq} was in progress at a kill and never ran again"
                assert min(after) == attempts + 1, (seq, attempts, after)
    for seq, doc in docs(tracker, "om").items():
        attempts = sorted(a for _, s, a in lines if s == seq)
        assert doc["attempts"] == attempts[-1], seq


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_killed_run_resumes_without_rerunning_completed_tasks(tmp_path: Path) -> None:
    crash_and_resume(tmp_path, kills=3, seed=1912)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("seed", range(5))
def test_many_kills_at_random_moments(tmp_path: Path, seed: int) -> None:
    crash_and_resume(tmp_path, kills=8, seed=seed)


def test_a_resumed_task_is_reported_as_resumed(store: Any) -> None:
    tracker = make(store, sub("01"), sub("02"))
    tracker.attempt(FEATURE, "01", DEFAULT_AGENT)  # a dead run's dispatch
    events: List[ExecutionEvent] = []
    report = execute(tracker, FEATURE, ok_worker, on_event=events.append)
    assert report.ok
    started = {e.seq: (e.attempt, e.resumed) for e in events if e.kind == "task_started"}
    assert started == {"01": (2, True), "02": (1, False)}


# -- progress events --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["batches", "eager"])
def test_events_of_a_simple_run(tmp_path: Path, mode: str) -> None:
    events: List[ExecutionEvent] = []
    caller = threading.current_thread()
    threads: List[threading.Thread] = []

    def callback(event: ExecutionEvent) -> None:
        threads.append(threading.current_thread())
        events.append(event)

    report = execute(om(tmp_path), "om", ok_worker, mode=mode, on_event=callback)
    assert report.ok
    assert set(threads) == {caller}
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started"
    assert kinds[-1] == "run_finished"
    assert set(kinds) == {
        "run_started",
        "task_started",
        "task_finished",
        "batch_done",
        "run_finished",
    }
    assert all(e.total == 12 and e.feature == "om" for e in events)
    assert (events[0].done, events[-1].done) == (0, 12)
    dones = [e.done for e in events]
    assert dones == sorted(dones)
    for seq in report.completed:
        started = next(i for i, e in enumerate(events) if e.kind == "task_started" and e.seq == seq)
        finished = next(
            i for i, e in enumerate(events) if e.kind == "task_finished" and e.seq == seq
        )
        assert started < finished
        assert events[finished].summary == f"did {seq}"
        assert events[finished].elapsed is not None
    batch_numbers = [e.batch for e in events if e.kind == "batch_done"]
    assert sorted(batch_numbers) == list(range(1, 9))
    if mode == "batches":
        assert batch_numbers == list(range(1, 9))
        finished_batches = [e.batch for e in events if e.kind == "task_finished"]
        assert finished_batches == sorted(finished_batches)


def test_a_raising_callback_becomes_a_warning(store: Any) -> None:
    tracker = make(store, sub("01"), sub("02", ["01"]))
    seen: List[str] = []

    def callback(event: ExecutionEvent) -> None:
        seen.append(event.kind)
        if event.kind == "task_started":
            raise ValueError("display broke")

    report = execute(tracker, FEATURE, ok_worker, on_event=callback)
    assert report.ok  # the run goes on; the broken display gets no more events
    assert seen == ["run_started", "task_started"]
    assert report.warnings == (
        "the event callback raised ValueError: display broke; no more events were delivered to it",
    )


def test_report_documents(tmp_path: Path) -> None:
    tracker = make(MemoryTaskStore(), sub("01"), sub("02", title="permanent"), sub("03", ["02"]))
    report = execute(tracker, FEATURE, failing_worker)
    document = report.to_dict()
    assert json.loads(json.dumps(document)) == document
    assert (document["completed"], document["failed"], document["skipped"]) == (
        ["01"],
        ["02"],
        ["03"],
    )
    markdown = report.to_markdown()
    assert "1 completed, 1 failed, 1 skipped" in markdown
    assert "- 03 skipped: depends on 02, which failed" in markdown


# -- bad input --------------------------------------------------------------------------------


def async_worker_function() -> Any:
    async def worker(subtask: Doc, context: TaskContext) -> str:
        return "ok"

    return worker


class AsyncCallable:
    async def __call__(self, subtask: Doc, context: TaskContext) -> str:
        return "ok"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"worker": "not callable"}, "the worker must be callable"),
        ({"mode": "greedy"}, "mode must be one of batches, eager"),
        ({"retries": -1}, "retries must be an integer >= 0"),
        ({"retries": True}, "retries must be an integer >= 0"),
        ({"timeout": 0}, "timeout must be a finite number of seconds > 0"),
        ({"timeout": float("nan")}, "timeout must be a finite number of seconds > 0"),
        ({"timeout": float("inf")}, "timeout must be a finite number of seconds > 0"),
        ({"concurrency": 0}, "concurrency must be an integer >= 1"),
        ({"backoff": -1}, "backoff must be a Backoff or a number of seconds >= 0"),
        ({"agent": " "}, "agent must be a non-blank string"),
        ({"worker": async_worker_function()}, "coroutine function: run it with execute_async"),
        ({"worker": AsyncCallable()}, "coroutine function: run it with execute_async"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(
    tmp_path: Path, options: Dict[str, Any], message: str
) -> None:
    om(tmp_path)
    before = raw_files(tmp_path, "om")
    arguments: Dict[str, Any] = {"worker": ok_worker, **options}
    worker = arguments.pop("worker")
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        execute(tmp_path, "om", worker, **arguments)
    assert raw_files(tmp_path, "om") == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency must be an integer >= 1"),
        ({"concurrency": None}, "concurrency must be an integer >= 1"),
        ({"timeout": -1.0}, "timeout must be a finite number of seconds > 0"),
        ({"mode": "all"}, "mode must be one of"),
    ],
)
def test_execute_async_refuses_bad_options(
    tmp_path: Path, options: Dict[str, Any], message: str
) -> None:
    om(tmp_path)
    before = raw_files(tmp_path, "om")
    with pytest.raises(UsageError, match=message):
        asyncio.run(execute_async(tmp_path, "om", ok_worker, **options))
    assert raw_files(tmp_path, "om") == before


def test_an_unknown_feature_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        execute(tmp_path, "nosuch", ok_worker)
    with pytest.raises(NotFound):
        execute(TaskTracker(MemoryTaskStore()), "nosuch", ok_worker)
    assert not (tmp_path / ".tmp" / "tasks").exists()


def test_a_target_that_is_no_tracker_is_refused() -> None:
    with pytest.raises(UsageError, match="expected a TaskTracker or a project root"):
        execute(42, FEATURE, ok_worker)  # type: ignore[arg-type]


@pytest.mark.parametrize("runner", ["threads", "asyncio"])
def test_a_cycle_is_refused_before_anything_is_dispatched(tmp_path: Path, runner: str) -> None:
    files_feature(tmp_path, sub("01", ["03"]), sub("02", ["01"]), sub("03", ["02"]), sub("04"))
    before = raw_files(tmp_path, FEATURE)
    called: List[str] = []
    events: List[ExecutionEvent] = []

    def worker(subtask: Doc, context: TaskContext) -> str:
        called.append(subtask["seq"])
        return "ok"

    def run() -> Any:
        if runner == "threads":
            return execute(tmp_path, FEATURE, worker, on_event=events.append)
        return asyncio.run(execute_async(tmp_path, FEATURE, worker, on_event=events.append))

    with pytest.raises(DependencyCycleError):
        run()
    assert called == []
    assert events == []
    assert raw_files(tmp_path, FEATURE) == before


def test_backoff_delays() -> None:
    policy = Backoff()
    assert [policy.delay(n) for n in (1, 2, 3, 7, 8)] == [1.0, 2.0, 4.0, 60.0, 60.0]
    assert policy.delay(5000) == 60.0  # no overflow for a long retry budget
    assert Backoff(0.0).delay(5000) == 0.0
    assert Backoff(0.5, 1.0, 10.0).delay(3) == 0.5


# -- found in review: each of these once failed ------------------------------------------


def test_the_async_runner_does_not_spin_while_a_due_retry_waits_for_a_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import stageflow.executor as executor_module

    calls: List[int] = []
    dispatch = executor_module._Run.dispatch

    def counted(self: Any, free: int, now: float) -> Any:
        calls.append(free)
        return dispatch(self, free, now)

    monkeypatch.setattr(executor_module._Run, "dispatch", counted)

    async def worker(subtask: Doc, context: TaskContext) -> str:
        if context.seq == "01" and context.attempt == 1:
            await asyncio.sleep(0.05)
            raise RuntimeError("first attempt fails")
        await asyncio.sleep(0.5)
        return "ok"

    tracker = make(MemoryTaskStore(), sub("01"), sub("02"), sub("03"))
    report = asyncio.run(
        execute_async(tracker, FEATURE, worker, concurrency=2, backoff=Backoff(0.01), mode="eager")
    )
    assert report.ok
    assert len(calls) < 20, f"{len(calls)} dispatch rounds in about a second: a busy loop"


def test_async_plain_workers_that_overrun_their_timeout_end_the_run() -> None:
    release = threading.Event()

    def stuck(subtask: Doc, context: TaskContext) -> str:
        release.wait(30)
        return "late"

    async def main() -> Any:
        # a small default pool: the run's own store writes must not queue behind workers
        asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(2))
        tracker = make(MemoryTaskStore(), sub("01"), sub("02"))
        run = execute_async(tracker, FEATURE, stuck, concurrency=2, timeout=0.1, backoff=0)
        return await asyncio.wait_for(run, 10)

    try:
        report = asyncio.run(main())
    finally:
        release.set()
    assert not report.ok  # both timed out, and their retries found no free slot
    assert report.skipped == ("01", "02")
    assert report.outcome("01").reason == (
        "not started: all 2 worker slots are held by timed-out attempts that did not return"
    )


def test_async_plain_attempts_never_wait_in_a_queue_past_their_timeout() -> None:
    def worker(subtask: Doc, context: TaskContext) -> str:
        time.sleep(0.3)
        return "ok"

    count = 12
    tracker = make(MemoryTaskStore(), *(sub(f"{n:02d}") for n in range(1, count + 1)))

    async def main() -> Any:
        asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(2))
        return await execute_async(
            tracker, FEATURE, worker, concurrency=count, timeout=1.0, retries=0
        )

    report = asyncio.run(main())
    assert report.failed == ()
    assert report.ok


def test_a_worker_calling_sys_exit_fails_its_attempt_not_the_run(store: Any) -> None:
    tracker = make(store, sub("01"), sub("02"), sub("03"))

    def worker(subtask: Doc, context: TaskContext) -> str:
        if context.seq == "02":
            sys.exit(3)
        return "ok"

    report = execute(tracker, FEATURE, worker, backoff=0, retries=1)
    assert report.failed == ("02",)
    assert report.outcome("02").error == "the worker called sys.exit(3)"
    assert report.completed == ("01", "03")


def test_an_agent_id_with_blanks_resumes_its_own_subtasks(store: Any) -> None:
    tracker = make(store, sub("01"))
    tracker.attempt(FEATURE, "01", "bot ")  # what a killed run with agent="bot " left
    report = execute(tracker, FEATURE, ok_worker, agent="bot ")
    assert report.ok
    assert report.agent == "bot"


def test_an_interrupted_run_keeps_its_lease_while_its_attempts_run() -> None:
    live: Dict[str, int] = {}
    overlaps: List[int] = []
    started = threading.Event()

    def worker(subtask: Doc, context: TaskContext) -> str:
        if live.get(context.seq):
            overlaps.append(context.attempt)
        live[context.seq] = live.get(context.seq, 0) + 1
        started.set()
        time.sleep(0.5)
        live[context.seq] -= 1
        return "ok"

    tracker = make(MemoryTaskStore(), sub("01"))

    def interrupt() -> None:
        started.wait(5)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: KeyboardInterrupt in the main thread

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        execute(tracker, FEATURE, worker)
    assert live["01"] == 0  # execute returned only after the attempt did
    execute(tracker, FEATURE, worker)  # resumes it, never alongside the first attempt
    assert overlaps == []


def test_a_recount_false_move_refuses_an_unusable_task_json(tmp_path: Path) -> None:
    folder = tmp_path / ".tmp" / "tasks" / FEATURE
    folder.mkdir(parents=True)
    (folder / "task.json").write_text("{broken")
    (folder / "subtask_01.json").write_text(json.dumps(sub("01")))
    for recount in (True, False):
        with pytest.raises(StateFileError, match=r"task\.json"):
            TaskTracker(root=tmp_path).attempt(FEATURE, "01", "a", recount=recount)
    assert json.loads((folder / "subtask_01.json").read_text())["status"] == "pending"


def test_a_process_pool_refuses_a_worker_it_cannot_send(tmp_path: Path) -> None:
    tracker = files_feature(tmp_path, sub("01"))
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=SPAWN) as pool, pytest.raises(
        UsageError, match="cannot be sent to a process pool"
    ):
        execute(tracker, FEATURE, lambda subtask, context: "ok", executor=pool)
    assert docs(tracker)["01"]["status"] == "pending"  # nothing was dispatched


def test_a_coroutine_behind_a_plain_wrapper_is_awaited() -> None:
    async def agent(subtask: Doc, context: TaskContext) -> str:
        await asyncio.sleep(0)
        return "awaited"

    def wrapper(subtask: Doc, context: TaskContext) -> Any:
        return agent(subtask, context)

    tracker = make(MemoryTaskStore(), sub("01"))
    report = asyncio.run(execute_async(tracker, FEATURE, wrapper))
    assert report.outcome("01").summary == "awaited"
    tracker = make(MemoryTaskStore(), sub("01"))
    report = execute(tracker, FEATURE, wrapper, retries=0)
    assert report.outcome("01").error == (
        "TypeError: the worker returned a coroutine: run it with execute_async"
    )
