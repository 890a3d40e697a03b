"""The Stage 6 executor: run a feature's subtasks with a worker, in parallel, crash-safely.

:func:`execute` runs the subtasks of a feature over any :class:`concurrent.futures.Executor`
(a thread pool by default; a process pool; Dask distributed's ``Client.get_executor()``),
and :func:`execute_async` over asyncio with a concurrency limit. Both plan the feature
with :func:`stageflow.planner.plan_feature` and dispatch by the rules of
:mod:`stageflow._schedule` (modes ``batches`` and ``eager``).

The worker is called as ``worker(subtask, context)``: ``subtask`` is the subtask's
document (a dict, as stored, after its dispatch was recorded), ``context`` a
:class:`TaskContext`. It returns a :class:`TaskResult` or a summary string; any exception
fails the attempt, and :class:`PermanentFailure` fails it without retries. With a process
pool or Dask, the worker, the subtask and the result cross process boundaries: they must
pickle (a module-level function does).

For each subtask:

1. before dispatch, the subtask is moved to ``in_progress`` for the executor's ``agent``
   and its ``attempts`` count goes up (:meth:`stageflow.TaskTracker.attempt`): the
   attempt is on disk before the worker sees it;
2. a successful attempt completes it with the result's summary (cut to 200 characters
   with a ``…``);
3. a failed attempt is retried, up to ``retries`` times in the run (default 3, so at most
   4 attempts), after ``backoff`` (1 s, doubling, at most 60 s by default); a timed-out
   attempt (``timeout`` seconds from dispatch) counts as failed;
4. a subtask that fails for good is ``blocked`` with the error as its reason; its
   dependents are not started and are reported as skipped; with ``fail_fast`` every subtask
   not yet dispatched is skipped (those running finish).

Crash safety and delivery: the run holds the feature's execution lease
(:meth:`~stageflow.storage.TaskStore.lease`) so two executors never run one feature. A run
that dies -- killed, or interrupted -- leaves its dispatched subtasks ``in_progress`` for
its agent; the next run with the same agent resumes them as new attempts, and never runs a
completed subtask again. A worker may therefore run more than once for the same subtask
(**at least once**): if the process dies after the worker finished but before the
completion was written, the subtask runs again. ``context.idempotency_key`` --
``(feature, seq, attempt)``, with ``attempt`` counted across runs and never reused --
lets a worker recognise a repeated delivery. Subtasks in progress for *another* agent, and
blocked ones, are not touched: they and their dependents are reported as skipped.

Timeouts cannot stop a thread or a pool process: a timed-out attempt is abandoned (its
result is ignored, and the pool slot stays busy until the worker returns). Workers that
can stop early should honour ``context.timeout``; :class:`CommandWorker` kills its
command, and :func:`execute_async` cancels a coroutine worker.

Progress: ``on_event`` receives an :class:`ExecutionEvent` for every step (``run_started``,
``task_started``, ``task_finished``, ``task_retried``, ``task_failed``, ``task_skipped``,
``batch_done``, ``run_finished``), on the thread that called :func:`execute` (or the
event loop's). An exception in it is kept as a warning of the report, never raised.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import math
import os
import signal
import threading
import time
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
    Union,
)

import attrs

from ._execution import (
    DEFAULT_AGENT,
    AttemptFailed,
    Backoff,
    EventCallback,
    ExecutionEvent,
    ExecutionReport,
    PermanentFailure,
    TaskContext,
    TaskOutcome,
    TaskResult,
    Worker,
    as_result,
    call_raw,
    call_worker,
    cut_text,
    error_text,
)
from ._schedule import MODES, SKIPPED, Scheduler
from .errors import (
    ConflictError,
    NotFound,
    RuleViolation,
    StageflowError,
    StateFileError,
    UsageError,
)
from .tasks import BLOCKED, IN_PROGRESS, PENDING, attempts_of
from .tracker import TaskTracker

__all__ = [
    "DEFAULT_AGENT",
    "DEFAULT_BACKOFF",
    "AttemptFailed",
    "Backoff",
    "ExecutionEvent",
    "ExecutionReport",
    "PermanentFailure",
    "TaskContext",
    "TaskOutcome",
    "TaskResult",
    "execute",
    "execute_async",
]


#: Seconds between two rewrites of ``task.json``'s counts during a run (and one at its end).
RECOUNT_EVERY = 0.5

#: The default retry policy: 1 s, doubling, at most 60 s.
DEFAULT_BACKOFF = Backoff()


class _Run:
    """The state of one run: the scheduler, the store writes, the events, the outcomes.

    Not thread-safe: the runners call it from one thread at a time.
    """

    def __init__(
        self,
        tracker: TaskTracker,
        feature: str,
        *,
        mode: str,
        max_width: Optional[int],
        priority: Optional[str],
        retries: int,
        backoff: Backoff,
        timeout: Optional[float],
        fail_fast: bool,
        agent: str,
    ) -> None:
        from ._planinput import feature_tasks
        from .planner import plan_feature

        self.tracker = tracker
        self.feature = feature
        self.mode = mode
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.agent = agent
        self.started = time.monotonic()
        stored = tracker.load(feature)
        plan = plan_feature(stored, max_width=max_width, priority=priority)
        documents = feature_tasks(stored)
        planned = {seq for batch in plan.batches for seq in batch.seqs}
        self.scheduler = Scheduler(
            plan,
            {seq: documents[seq] for seq in planned},
            mode=mode,
            max_width=max_width,
            fail_fast=fail_fast,
        )
        self.already = tuple(seq for seq in documents if seq not in planned)
        self.tries: Dict[str, int] = {}  # attempts in this run
        self.attempt_of: Dict[str, int] = {}  # the last attempt's number (across runs)
        self.summaries: Dict[str, str] = {}
        self.errors: Dict[str, str] = {}
        self.data: Dict[str, Any] = {}
        self.warnings: List[str] = []
        self.events: List[ExecutionEvent] = []
        self.resumed: Set[str] = set()
        self._moved = False  # whether a move was made since the last recount
        self._callback_failed = False
        self._recounted = self.started
        self._emit("run_started")
        for seq in self.scheduler.order:
            document = documents[seq]
            status, holder = document.get("status"), document.get("agent_id")
            if status == BLOCKED:
                why = document.get("blocked_reason") or "no reason given"
                self._skipped(self.scheduler.skip(seq, f"blocked before the run: {why}"))
            elif status == IN_PROGRESS and holder == agent:
                self.resumed.add(seq)
            elif status == IN_PROGRESS:
                self._skipped(self.scheduler.skip(seq, f"in progress for {holder!r}"))
            elif status != PENDING:
                self._skipped(self.scheduler.skip(seq, f"its status is {status!r}"))

    # -- events --------------------------------------------------------------------------

    def _emit(self, kind: str, seq: Optional[str] = None, **fields: Any) -> None:
        batch = fields.pop("batch", None)
        if seq is not None:
            batch = self.scheduler.batch_of.get(seq)
        total = len(self.scheduler.order)
        self.events.append(
            ExecutionEvent(kind, self.feature, seq, batch, done=self._done(), total=total, **fields)
        )

    def _skipped(self, skipped: List[Tuple[str, str]]) -> None:
        for seq, reason in skipped:
            self._emit("task_skipped", seq, reason=reason)
        self._batches()

    def _batches(self) -> None:
        for number in self.scheduler.batches_done():
            self._emit("batch_done", batch=number)

    def _done(self) -> int:
        return self.scheduler.settled_count

    def deliver(self, on_event: Optional[EventCallback]) -> None:
        """Hand the events gathered so far to ``on_event``."""
        events, self.events = self.events, []
        if on_event is None or self._callback_failed:
            return
        for event in events:
            try:
                on_event(event)
            except Exception as exc:  # a progress display must not stop the run
                self._callback_failed = True
                self.warnings.append(
                    f"the event callback raised {error_text(exc)}; "
                    "no more events were delivered to it"
                )
                return

    # -- steps ---------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.scheduler.finished

    def next_due(self) -> Optional[float]:
        return self.scheduler.next_due()

    def dispatch(self, free: int, now: float) -> List[Tuple[str, Dict[str, Any], TaskContext]]:
        """Record the next attempts in the store; return them for the runner to start."""
        started = []
        for seq in self.scheduler.dispatch(free, now):
            try:
                moved = self.tracker.attempt(self.feature, seq, self.agent, recount=False)
            except (RuleViolation, StateFileError, ConflictError, NotFound) as exc:
                # changed by someone else since the plan was made: leave it to them
                self._skipped(self.scheduler.skip(seq, f"could not be dispatched: {exc}"))
                continue
            self._moved = True
            self.tries[seq] = self.tries.get(seq, 0) + 1
            self.attempt_of[seq] = attempts_of(moved.subtask)
            context = TaskContext(
                self.feature, seq, attempts_of(moved.subtask), self.agent, self.timeout
            )
            resumed = seq in self.resumed and self.tries[seq] == 1
            self._emit("task_started", seq, attempt=context.attempt, resumed=resumed)
            started.append((seq, moved.subtask, context))
        return started

    def succeeded(self, seq: str, result: TaskResult, elapsed: float) -> None:
        """Complete ``seq`` with the result's summary."""
        summary = cut_text(result.summary)
        try:
            self.tracker.complete(self.feature, seq, summary, recount=False)
        except (RuleViolation, StateFileError, ConflictError, NotFound) as exc:
            self._give_up(seq, f"its completion was refused: {exc}", write=False)
            return
        self._moved = True
        self.summaries[seq] = summary
        self.data[seq] = result.data
        self.scheduler.succeeded(seq)
        self._emit("task_finished", seq, summary=summary, elapsed=elapsed)
        self._batches()

    def attempt_failed(self, seq: str, error: str, permanent: bool, now: float) -> None:
        """An attempt of ``seq`` failed: retry it later, or give up on it."""
        self.errors[seq] = error
        tries = self.tries.get(seq, 1)
        if permanent or tries > self.retries:
            self._give_up(seq, error)
            return
        delay = self.backoff.delay(tries)
        self.scheduler.attempt_failed(seq, now + delay)
        self._emit("task_retried", seq, error=error, delay=delay, attempt=self.attempt_of[seq])

    def _give_up(self, seq: str, error: str, write: bool = True) -> None:
        self.errors[seq] = error
        if write:
            tries = self.tries.get(seq, 1)
            what = "attempt" if tries == 1 else "attempts"
            reason = cut_text(f"failed after {tries} {what}: {error}")
            try:
                self.tracker.block(self.feature, seq, reason, recount=False)
                self._moved = True
            except (RuleViolation, StateFileError, ConflictError, NotFound) as exc:
                self.warnings.append(f"subtask {seq} failed but could not be blocked: {exc}")
        skipped = self.scheduler.failed(seq, error)
        self._emit("task_failed", seq, error=error)
        self._skipped(skipped)

    def recount(self, now: float, final: bool = False) -> None:
        """Rewrite ``task.json``'s counts, at most every :data:`RECOUNT_EVERY` seconds
        (the moves leave them, so that a move does not read the whole feature)."""
        if not final and (not self._moved or now - self._recounted < RECOUNT_EVERY):
            return
        self._recounted, self._moved = now, False
        try:
            self.warnings.extend(self.tracker.recount(self.feature)[1])
        except (StageflowError, OSError) as exc:
            self.warnings.append(f"the counts of task.json were not updated: {exc}")

    def stop(self, reason: str) -> None:
        """Skip every subtask not running now (those waiting to retry stay in progress on
        disk, for the next run to resume)."""
        self._skipped(self.scheduler.stop(reason))

    def finish(self) -> ExecutionReport:
        self.recount(time.monotonic(), final=True)
        scheduler = self.scheduler
        outcomes = tuple(
            TaskOutcome(
                seq,
                scheduler.state[seq],
                scheduler.batch_of[seq],
                self.tries.get(seq, 0),
                self.summaries.get(seq),
                self.errors.get(seq),
                scheduler.reasons.get(seq) if scheduler.state[seq] == SKIPPED else None,
                self.data.get(seq),
            )
            for seq in scheduler.order
        )
        self._emit("run_finished")
        return ExecutionReport(
            self.feature,
            self.mode,
            self.agent,
            scheduler.batches,
            outcomes,
            self.already,
            time.monotonic() - self.started,
            tuple(self.warnings),
        )


def _tracker(target: Union[TaskTracker, str, os.PathLike[str]]) -> TaskTracker:
    if isinstance(target, TaskTracker):
        return target
    if isinstance(target, (str, os.PathLike)):
        return TaskTracker(root=target)
    raise UsageError(f"expected a TaskTracker or a project root, not {type(target).__name__}")


def _check(
    worker: object,
    mode: object,
    retries: object,
    timeout: object,
    concurrency: object,
    backoff: object,
    agent: object,
) -> Tuple[Backoff, str]:
    if not callable(worker):
        raise UsageError(f"the worker must be callable, not {type(worker).__name__}")
    if mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise UsageError(f"retries must be an integer >= 0, not {retries!r}")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout < math.inf  # an infinite wait overflows the thread waits
    ):
        raise UsageError(
            f"timeout must be a finite number of seconds > 0 (None: none), not {timeout!r}"
        )
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise UsageError(f"concurrency must be an integer >= 1, not {concurrency!r}")
    if not isinstance(agent, str) or not agent.strip():
        raise UsageError(f"agent must be a non-blank string, not {agent!r}")
    if isinstance(backoff, Backoff):
        return backoff, agent.strip()
    if isinstance(backoff, (int, float)) and not isinstance(backoff, bool) and backoff >= 0:
        return Backoff(float(backoff)), agent.strip()
    raise UsageError(f"backoff must be a Backoff or a number of seconds >= 0, not {backoff!r}")


def _prepare(
    tracker: Union[TaskTracker, str, os.PathLike[str]],
    feature: str,
    worker: object,
    concurrency: object,
    mode: str,
    max_width: Optional[int],
    priority: Optional[str],
    retries: int,
    backoff: Union[Backoff, float],
    timeout: Optional[float],
    fail_fast: bool,
    agent: str,
) -> Tuple[TaskTracker, Callable[[], _Run]]:
    """Check a runner's options; return the tracker and how to start the run (which
    loads and plans the feature, so the runners call it under the lease)."""
    policy, agent = _check(worker, mode, retries, timeout, concurrency, backoff, agent)
    target = _tracker(tracker)
    return target, functools.partial(
        _Run,
        target,
        feature,
        mode=mode,
        max_width=max_width,
        priority=priority,
        retries=retries,
        backoff=policy,
        timeout=timeout,
        fail_fast=fail_fast,
        agent=agent,
    )


def _check_picklable(worker: object) -> None:
    """Refuse, before anything is dispatched, a worker a process pool cannot send."""
    import pickle

    try:
        pickle.dumps(worker)
    except Exception as exc:
        raise UsageError(
            f"the worker cannot be sent to a process pool ({type(exc).__name__}: {exc}); "
            "use a module-level function or an instance of a module-level class"
        ) from None


def _is_async(worker: object) -> bool:
    return inspect.iscoroutinefunction(worker) or inspect.iscoroutinefunction(
        getattr(worker, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


def execute(
    tracker: Union[TaskTracker, str, os.PathLike[str]],
    feature: str,
    worker: Worker,
    *,
    executor: Optional[concurrent.futures.Executor] = None,
    concurrency: Optional[int] = None,
    mode: str = "batches",
    max_width: Optional[int] = None,
    priority: Optional[str] = None,
    retries: int = 3,
    backoff: Union[Backoff, float] = DEFAULT_BACKOFF,
    timeout: Optional[float] = None,
    fail_fast: bool = False,
    agent: str = DEFAULT_AGENT,
    on_event: Optional[EventCallback] = None,
) -> ExecutionReport:
    """Run the subtasks of ``feature`` with ``worker``; return the :class:`ExecutionReport`.

    ``tracker`` is a :class:`~stageflow.TaskTracker` or a project root. ``executor`` is any
    :class:`concurrent.futures.Executor` (it is not shut down); without one, a thread pool of
    ``concurrency`` threads is made for the run. At most ``concurrency`` attempts run at
    once; by default the executor's ``max_workers`` when it has one (thread and process
    pools), ``min(32, cpus + 4)`` for the pool made here, and no limit besides the plan's
    for an executor without one (Dask: its cluster queues the work). A timed-out attempt
    keeps its slot until its worker returns; when every slot is held so for one more
    ``timeout``, the subtasks not started are skipped and the run ends rather than hang.
    ``backoff`` may be a number: the first wait, doubling. The rest is
    described in the module docstring. Raises :class:`~stageflow.errors.ConflictError` when
    another executor runs the feature, and what planning raises
    (:class:`~stageflow.planner.PlanError`, a cycle) before anything is dispatched.
    """
    target, new_run = _prepare(
        tracker,
        feature,
        worker,
        concurrency,
        mode,
        max_width,
        priority,
        retries,
        backoff,
        timeout,
        fail_fast,
        agent,
    )
    if _is_async(worker):
        raise UsageError("the worker is a coroutine function: run it with execute_async")
    if isinstance(executor, concurrent.futures.ProcessPoolExecutor):
        _check_picklable(worker)
    limit = concurrency or getattr(executor, "_max_workers", None)
    if executor is None and limit is None:
        # ThreadPoolExecutor's own default: the run must know it, or it would hand the
        # pool every ready subtask, marking in progress (and timing) ones that only queue
        limit = min(32, (os.cpu_count() or 1) + 4)
    with target.store.lease(feature):
        run = new_run()
        run.deliver(on_event)
        pool = executor
        if pool is None:
            pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=limit, thread_name_prefix="stageflow-executor"
            )
        try:
            _run_pool(run, pool, worker, limit, on_event)
        except BaseException:
            if executor is None:  # every attempt handed to our pool returns before the lease
                with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C abandons them
                    pool.shutdown(wait=True)
            raise
        finally:
            if executor is None:
                pool.shutdown(wait=False)
        report = run.finish()
        run.deliver(on_event)
        return attrs.evolve(report, warnings=tuple(run.warnings))


def _run_pool(
    run: _Run,
    pool: concurrent.futures.Executor,
    worker: Worker,
    limit: Optional[int],
    on_event: Optional[EventCallback],
) -> None:
    # future -> (seq, dispatched at, deadline)
    running: Dict[concurrent.futures.Future[TaskResult], Tuple[str, float, Optional[float]]] = {}
    # Timed-out attempts still at work: with a limit, each keeps its pool slot until it
    # returns, so no new attempt is started (and timed) queued behind it.
    abandoned: Set[concurrent.futures.Future[TaskResult]] = set()
    try:
        while True:
            now = time.monotonic()
            abandoned = {future for future in abandoned if not future.done()}
            free = limit - len(running) - len(abandoned) if limit else len(run.scheduler.order)
            with _interrupts_deferred():  # a Ctrl-C between submit and record loses nothing
                for seq, subtask, context in run.dispatch(free, now):
                    future = pool.submit(call_worker, worker, subtask, context)
                    deadline = now + run.timeout if run.timeout is not None else None
                    running[future] = (seq, now, deadline)
                    free -= 1
            run.deliver(on_event)
            if run.finished and not running:
                return
            due = run.next_due()
            wakeups = [d for _, _, d in running.values() if d is not None]
            if due is not None and free > 0:  # without a free slot, a retry waits for one
                wakeups.append(due)
            waiting = set(running) | abandoned
            if not waiting:
                if due is None:
                    return
                time.sleep(max(0.0, due - now))
                continue
            if not running and free <= 0 and run.timeout is not None:
                # every slot is held by a timed-out attempt: give them one more timeout
                back, _ = concurrent.futures.wait(
                    abandoned, timeout=run.timeout, return_when=concurrent.futures.FIRST_COMPLETED
                )
                if not back:
                    run.stop(_stalled(len(abandoned)))
                    run.deliver(on_event)
                    return
                continue
            wait = max(0.0, min(wakeups) - now) if wakeups else None
            done, _ = concurrent.futures.wait(
                waiting, timeout=wait, return_when=concurrent.futures.FIRST_COMPLETED
            )
            now = time.monotonic()
            for future in done:
                if future in running:
                    seq, began, _ = running.pop(future)
                    _settle(run, seq, future, now, began)
            for future, (seq, _began, deadline) in list(running.items()):
                if deadline is not None and deadline <= now:
                    # a running thread or process cannot be stopped: abandon the attempt
                    if not future.cancel() and limit:
                        abandoned.add(future)
                    del running[future]
                    run.attempt_failed(seq, f"timed out after {run.timeout:g} s", False, now)
            run.recount(now)
            run.deliver(on_event)
    except BaseException:
        # Interrupted (Ctrl-C) or failed: start nothing more, stop what the worker can stop,
        # and hold the lease until the attempts that run have returned, so that no second
        # executor resumes a subtask while its attempt is still at work. A second interrupt
        # abandons them.
        for future in running:
            future.cancel()
        interrupt = getattr(worker, "interrupt", None)
        if callable(interrupt):
            with contextlib.suppress(Exception):
                interrupt()
        with contextlib.suppress(KeyboardInterrupt):
            concurrent.futures.wait([f for f in running if not f.done()])
        raise


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C that arrives in the block until its end (main thread, default handler
    only): an attempt is then never started without the run knowing it."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    pending: List[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pending.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def _settle(
    run: _Run, seq: str, future: concurrent.futures.Future[TaskResult], now: float, began: float
) -> None:
    try:
        result = future.result()
    except concurrent.futures.CancelledError:
        run.attempt_failed(seq, "the executor cancelled the attempt", False, now)
    except PermanentFailure as exc:
        run.attempt_failed(seq, error_text(exc), True, now)
    except Exception as exc:
        run.attempt_failed(seq, error_text(exc), False, now)
    else:
        run.succeeded(seq, result, now - began)


async def execute_async(
    tracker: Union[TaskTracker, str, os.PathLike[str]],
    feature: str,
    worker: Callable[[Dict[str, Any], TaskContext], Union[Awaitable[Any], Any]],
    *,
    concurrency: int = 4,
    mode: str = "batches",
    max_width: Optional[int] = None,
    priority: Optional[str] = None,
    retries: int = 3,
    backoff: Union[Backoff, float] = DEFAULT_BACKOFF,
    timeout: Optional[float] = None,
    fail_fast: bool = False,
    agent: str = DEFAULT_AGENT,
    on_event: Optional[EventCallback] = None,
) -> ExecutionReport:
    """:func:`execute` on asyncio: at most ``concurrency`` attempts at once.

    A coroutine worker is awaited on the event loop (and cancelled at its timeout). A plain
    callable runs on a pool of ``concurrency`` threads the run owns; one that overruns its
    timeout keeps its slot until it returns, as in :func:`execute`. Store writes run on a
    thread of their own, so the loop is never blocked and never waits behind workers;
    events are delivered on the loop's thread.
    """
    target, new_run = _prepare(
        tracker,
        feature,
        worker,
        concurrency,
        mode,
        max_width,
        priority,
        retries,
        backoff,
        timeout,
        fail_fast,
        agent,
    )
    if concurrency is None:  # the asyncio runner has no pool to take a limit from
        raise UsageError("concurrency must be an integer >= 1, not None")
    loop = asyncio.get_running_loop()
    store_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="stageflow-store")
    workers = concurrent.futures.ThreadPoolExecutor(
        concurrency, thread_name_prefix="stageflow-worker"
    )

    async def off_loop(function: Callable[..., Any], *args: Any) -> Any:
        return await loop.run_in_executor(store_thread, function, *args)

    try:
        with target.store.lease(feature):
            run: _Run = await off_loop(new_run)
            run.deliver(on_event)
            await _run_async(run, worker, concurrency, workers, off_loop, on_event)
            report: ExecutionReport = await off_loop(run.finish)
            run.deliver(on_event)
            return attrs.evolve(report, warnings=tuple(run.warnings))
    finally:
        store_thread.shutdown(wait=False)
        workers.shutdown(wait=False)


async def _run_async(
    run: _Run,
    worker: Callable[..., Any],
    concurrency: int,
    workers: concurrent.futures.ThreadPoolExecutor,
    off_loop: Callable[..., Awaitable[Any]],
    on_event: Optional[EventCallback],
) -> None:
    is_async = _is_async(worker)
    timeout = run.timeout
    # Threads of plain workers that overran their timeout: each keeps its slot.
    abandoned: Set[concurrent.futures.Future[Any]] = set()

    async def guarded(subtask: Dict[str, Any], context: TaskContext) -> Any:
        try:
            return await worker(subtask, context)
        except SystemExit as exc:  # asyncio would let it out of the loop
            raise AttemptFailed(f"the worker called sys.exit({exc.code!r})") from None

    async def attempt(subtask: Dict[str, Any], context: TaskContext) -> TaskResult:
        # Not asyncio.wait_for: the worker's own TimeoutError (a socket's, an inner
        # wait_for's) must fail the attempt as itself, not pass for the time limit.
        thread = None
        call: asyncio.Future[Any]
        if is_async:
            call = asyncio.ensure_future(guarded(subtask, context))
        else:
            thread = workers.submit(call_raw, worker, subtask, context)
            call = asyncio.wrap_future(thread)
        try:
            done, _ = await asyncio.wait({call}, timeout=timeout)
        except BaseException:  # the run is cancelled: so is the attempt
            call.cancel()
            raise
        if not done:
            call.cancel()
            if thread is not None and not thread.done():
                abandoned.add(thread)
            await asyncio.wait({call})  # let it unwind, as wait_for does
            raise _TimedOut
        if call.cancelled():  # the worker raised CancelledError itself
            raise _Cancelled("the attempt was cancelled")
        value = call.result()
        if inspect.isawaitable(value):  # a coroutine function behind a plain wrapper
            value = await value
        return as_result(value)

    running: Dict[asyncio.Future[TaskResult], Tuple[str, float]] = {}
    try:
        while True:
            now = time.monotonic()
            abandoned = {thread for thread in abandoned if not thread.done()}
            free = concurrency - len(running) - len(abandoned)
            for seq, subtask, context in await off_loop(run.dispatch, free, now):
                running[asyncio.ensure_future(attempt(subtask, context))] = (seq, now)
                free -= 1
            run.deliver(on_event)
            if run.finished and not running:
                return
            due = run.next_due()
            if not running:
                if abandoned and free <= 0 and timeout is not None:
                    # every slot is held by a timed-out attempt: give them one more timeout
                    waiting = {asyncio.wrap_future(thread) for thread in abandoned}
                    back, _ = await asyncio.wait(
                        waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    if not back:
                        await off_loop(run.stop, _stalled(len(abandoned)))
                        run.deliver(on_event)
                        return
                    continue
                if due is None:
                    return
                await asyncio.sleep(max(0.0, due - now))
                continue
            # without a free slot, a due retry waits for one: no wake-up for it
            wait = None if due is None or free <= 0 else max(0.0, due - now)
            done, _ = await asyncio.wait(running, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            now = time.monotonic()
            for task in done:
                seq, began = running.pop(task)
                await off_loop(_settle_task, run, seq, task, now, began)
            await off_loop(run.recount, now)
            run.deliver(on_event)
    except BaseException:
        for task in running:
            task.cancel()
        raise


def _stalled(slots: int) -> str:
    return (
        f"not started: all {slots} worker slots are held by timed-out attempts that did not return"
    )


class _TimedOut(Exception):
    """An async attempt ran past the executor's timeout."""


class _Cancelled(Exception):
    """An async worker raised ``CancelledError`` without the executor cancelling it."""


def _settle_task(
    run: _Run, seq: str, task: asyncio.Future[TaskResult], now: float, began: float
) -> None:
    if task.cancelled():  # pragma: no cover - attempt() turns a cancelled worker into _Cancelled
        run.attempt_failed(seq, "the attempt was cancelled", False, now)
        return
    error = task.exception()
    if error is None:
        run.succeeded(seq, task.result(), now - began)
    elif isinstance(error, _TimedOut):
        run.attempt_failed(seq, f"timed out after {run.timeout:g} s", False, now)
    elif isinstance(error, _Cancelled):
        run.attempt_failed(seq, str(error), False, now)
    else:
        run.attempt_failed(seq, error_text(error), isinstance(error, PermanentFailure), now)
