"""The task tracker: the enforced subtask lifecycle over a task store.

:class:`TaskTracker` is the shell around :mod:`stageflow.tasks`: every move takes the
feature's lock, loads its files, lets the pure move decide, writes the subtask back to the
file it was read from (with the revision it read) and then rewrites ``task.json`` with its
counts recomputed. :meth:`TaskTracker.claim` picks the next ready subtask and starts it
under that same lock, so concurrent claimers -- threads or processes -- never receive the
same subtask.

A subtask is addressed by the seq of its file name, and written back to that file (see
:mod:`stageflow._taskview`): a file whose ``seq`` field disagrees with its name, or that
cannot be read, is refused (:class:`~stageflow.errors.StateFileError` naming it) and left
as it is.

Crash behaviour: each file is replaced atomically, so a reader sees an old or a new file,
never a mix. The subtask is written before ``task.json``; a writer killed between the two
leaves the subtask's new state and stale counts in ``task.json``, which the next write
recomputes (``task validate`` reports them meanwhile). Counts shown by :meth:`summary` come
from the subtask files themselves, so they are always exact.

Once the subtask is written, the move has happened: a problem with ``task.json`` after that
(it changed under a tool that ignores the lock, or it cannot be written) becomes a warning
in the result, never an error that would make the caller retry a move already made. A
malformed ``task.json`` refuses every move before anything is written: its counts could not
be rewritten without destroying it. A missing ``task.json`` does not: the subtask is
written and the result says the counts were not.
"""

from __future__ import annotations

import os

from . import _taskview, tasks
from ._time import SystemClock
from .errors import ConflictError, RuleViolation, StateFileError
from .storage._stores import Stores
from .storage._taskdocs import MISSING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, Callable, Dict, List, NamedTuple, Optional, Protocol, Tuple, Union

    from .graph import BlockedTask, DepsTree, TaskGraph
    from .planner import CriticalPath, Plan
    from .storage._port import TaskStore
    from .storage._taskdocs import StoredFeature, StoredFile
    from .tasks import TaskMove

    class _Clock(Protocol):
        def now(self) -> datetime: ...

    _Decide = Callable[[Dict[str, Any], Dict[str, Any], datetime], Tuple[Dict[str, Any], TaskMove]]

    class MoveResult(NamedTuple):
        """What a move did: the :class:`~stageflow.tasks.TaskMove`, the seq of the subtask
        (its file name's), the subtask as written, the file it was written to, whether
        ``task.json`` was rewritten, the feature's ``(completed, total)`` counts after the
        move (``None`` for a move made with ``recount=False``, which does not read the
        whole feature), and warnings."""

        move: TaskMove
        seq: str
        subtask: Dict[str, Any]
        location: str
        task_written: bool
        completed: Optional[int]
        total: Optional[int]
        warnings: Tuple[str, ...]

else:
    import collections

    MoveResult = collections.namedtuple(
        "MoveResult",
        ["move", "seq", "subtask", "location", "task_written", "completed", "total", "warnings"],
    )
    MoveResult.__doc__ = "What a move did (see stageflow.tracker)."

__all__ = ["MoveResult", "TaskTracker"]


class TaskTracker:
    """Reads and moves the subtasks of features kept in a task store.

    ``store`` defaults to the files store of ``root`` (default: the current folder); it may
    also be a :class:`~stageflow.storage.Stores` (its task store is used). ``clock``
    (anything with ``now()`` returning an aware datetime) stamps the moves.
    """

    def __init__(
        self,
        store: Union[TaskStore, Stores, None] = None,
        *,
        root: Union[str, os.PathLike[str], None] = None,
        clock: Optional[_Clock] = None,
    ) -> None:
        if isinstance(store, Stores):
            store = store.tasks
        if store is None:
            from .storage.taskfiles import FileTaskStore

            store = FileTaskStore(root if root is not None else os.getcwd())
        self.store = store
        self.clock = clock or SystemClock()
        self._folders: Dict[str, str] = {}  # feature -> folder of its last load

    def __repr__(self) -> str:
        return f"TaskTracker({self.store!r})"

    # -- reading ---------------------------------------------------------------------------

    def features(self) -> List[str]:
        """Every feature with task files, sorted."""
        return self.store.features()

    def load(self, feature: str) -> StoredFeature:
        """The feature's files as stored (see :class:`~stageflow.storage.TaskStore`)."""
        return self.store.load(feature)

    def plan(
        self, feature: str, *, max_width: Optional[int] = None, priority: Optional[str] = None
    ) -> Plan:
        """The feature's batch plan (see :func:`stageflow.planner.plan_feature`)."""
        from .planner import plan_feature

        return plan_feature(self.load(feature), max_width=max_width, priority=priority)

    def critical_path(self, feature: str) -> CriticalPath:
        """The feature's critical path (see :func:`stageflow.planner.feature_critical_path`)."""
        from .planner import feature_critical_path

        return feature_critical_path(self.load(feature))

    def summary(self, feature: str) -> Dict[str, Any]:
        """Counts, progress and one row per subtask (see :func:`stageflow._taskview.summary`)."""
        return _taskview.summary(self.load(feature))

    def ready(self, feature: str, *, parallel_only: bool = False) -> List[Dict[str, Any]]:
        """The ready subtasks (pending, every dependency completed), in seq order."""
        return _taskview.ready(self.load(feature), parallel_only)

    def graph(self, feature: str) -> TaskGraph:
        """The feature's dependency graph (see :func:`stageflow._taskview.graph_of`)."""
        return _taskview.graph_of(self.load(feature))

    def blocked(self, feature: str) -> Tuple[BlockedTask, ...]:
        """Subtasks that cannot start: explicitly blocked, or pending with a dependency that
        is not completed (missing and cyclic ones included), each with its reason."""
        from .graph import blocked

        return blocked(self.graph(feature))

    def deps(self, feature: str, seq: str) -> DepsTree:
        """The dependency tree of ``seq``: shared subtrees shown once, safe on cycles."""
        return _taskview.deps_of(self.load(feature), seq)

    # -- moves -----------------------------------------------------------------------------

    def start(self, feature: str, seq: str, agent: str) -> MoveResult:
        """pending -> in_progress for ``agent``; refused while a dependency is not completed."""
        return self._move(
            feature,
            seq,
            lambda doc, subs, now: tasks.start(doc, tasks.status_map(subs), agent, now),
        )

    def attempt(self, feature: str, seq: str, agent: str, *, recount: bool = True) -> MoveResult:
        """Dispatch one attempt of ``seq`` for ``agent`` (see :func:`stageflow.tasks.attempt`):
        pending -> in_progress, or a retry of a subtask ``agent`` already holds; either way
        ``attempts`` goes up by one.

        ``recount=False`` (also taken by :meth:`complete` and :meth:`block`) reads only the
        subtask's file and its dependencies' files, and leaves ``task.json``'s counts for a
        later :meth:`recount`: what the executor does, so that a move costs the same in a
        feature of 10 subtasks or 10,000.
        """
        return self._move(
            feature,
            seq,
            lambda doc, subs, now: tasks.attempt(doc, tasks.status_map(subs), agent, now),
            recount,
        )

    def complete(
        self,
        feature: str,
        seq: str,
        summary: str,
        *,
        force: bool = False,
        reason: Optional[str] = None,
        recount: bool = True,
    ) -> MoveResult:
        """in_progress -> completed with a summary (at most 200 characters); refused while a
        dependency is not completed unless ``force`` with a ``reason`` (then recorded)."""
        return self._move(
            feature,
            seq,
            lambda doc, subs, now: tasks.complete(
                doc, tasks.status_map(subs), summary, now, force=force, reason=reason
            ),
            recount,
        )

    def block(self, feature: str, seq: str, reason: str, *, recount: bool = True) -> MoveResult:
        """pending or in_progress -> blocked, with a reason."""
        return self._move(
            feature, seq, lambda doc, subs, now: tasks.block(doc, reason, now), recount
        )

    def unblock(self, feature: str, seq: str) -> MoveResult:
        """blocked -> pending."""
        return self._move(feature, seq, lambda doc, subs, now: tasks.unblock(doc, now))

    def reopen(self, feature: str, seq: str, reason: str) -> MoveResult:
        """completed -> pending, with a reason."""
        return self._move(feature, seq, lambda doc, subs, now: tasks.reopen(doc, reason, now))

    def claim(self, feature: str, agent: str) -> MoveResult:
        """Start the next ready subtask for ``agent``, atomically.

        Under the feature's lock: the first ready subtask in seq order is started for
        ``agent`` and written before the lock is released. Refused with a
        ``task-none-ready`` finding (saying how many are in progress, waiting and blocked)
        when no subtask is ready.
        """
        with self.store.lock(feature):
            stored = self.store.load(feature)
            _check_task_file(stored)
            subtasks = _taskview.subtask_map(stored)
            seq = tasks.claimable(subtasks)
            if seq is None:
                _refuse_claim(stored)
            target = _taskview.by_seq(stored)[str(seq)]
            return self._decide_and_write(
                stored,
                target,
                subtasks,
                lambda doc, subs, now: tasks.start(doc, tasks.status_map(subs), agent, now),
            )

    def recount(self, feature: str) -> Tuple[bool, Tuple[str, ...]]:
        """Rewrite ``task.json``'s counts from the subtask files, under the feature's lock:
        whether it was written, and warnings (as a move's)."""
        with self.store.lock(feature):
            stored = self.store.load(feature)
            self._folders[feature] = stored.folder
            written, warnings = self._recount(stored, [f.document for f in stored.subtasks])
            return written, tuple(warnings)

    def _move(self, feature: str, seq: str, decide: _Decide, recount: bool = True) -> MoveResult:
        if not recount:
            done = self._move_alone(feature, seq, decide)
            if done is not None:
                return done
        with self.store.lock(feature):
            stored = self.store.load(feature)
            self._folders[feature] = stored.folder
            target = _taskview.find_subtask(stored, seq)
            _check_task_file(stored)
            return self._decide_and_write(stored, target, _taskview.subtask_map(stored), decide)

    def _move_alone(self, feature: str, seq: str, decide: _Decide) -> Optional[MoveResult]:
        """The move, reading only the subtask's and its dependencies' files; ``None`` when
        that cannot be done (no such file where the feature was: the full path then gives
        the right error, or finds the feature's new folder)."""
        from .storage.taskfiles import SUBTASK_FILE

        name = f"subtask_{seq}.json"
        if not isinstance(seq, str) or SUBTASK_FILE.match(name) is None:
            return None
        folder = self._folders.get(feature)
        if folder is None:  # the first such move: check task.json as a full move does
            stored = self.store.load(feature)
            _check_task_file(stored)
            folder = self._folders[feature] = stored.folder
        with self.store.lock(feature):
            target = self.store.read(feature, f"{folder}/{name}")
            if target.problem == MISSING:
                return None
            problem = _taskview.problem_of(target)
            if problem is not None:
                raise StateFileError(target.location, problem)
            assert target.document is not None  # problem_of ensures it
            subtasks: Dict[str, Any] = {seq: target.document}
            depends = target.document.get("depends_on")
            for dep in depends if isinstance(depends, list) else ():
                dep_name = f"subtask_{dep}.json"
                if dep in subtasks or not isinstance(dep, str) or not SUBTASK_FILE.match(dep_name):
                    continue  # a dependency with no such file is missing: never completed
                found = self.store.read(feature, f"{folder}/{dep_name}")
                if found.problem != MISSING:
                    subtasks[dep] = None if _taskview.problem_of(found) else found.document
            try:
                new, move = self._decide_and_save(feature, target, subtasks, decide)
            except ConflictError:  # the feature's folder changed: the full path finds it
                self._folders.pop(feature, None)
                return None
            return MoveResult(move, seq, new, target.location, False, None, None, ())

    def _decide_and_save(
        self, feature: str, target: StoredFile, subtasks: Dict[str, Any], decide: _Decide
    ) -> Tuple[Dict[str, Any], TaskMove]:
        assert target.document is not None  # the callers ensure it
        try:
            new, move = decide(target.document, subtasks, self.clock.now())
        except StateFileError as exc:  # a subtask the lifecycle cannot read: name its file
            raise StateFileError(target.location, exc.problem) from None
        self.store.save(feature, target.location, new, target.revision)
        return new, move

    def _decide_and_write(
        self,
        stored: StoredFeature,
        target: StoredFile,
        subtasks: Dict[str, Any],
        decide: _Decide,
    ) -> MoveResult:
        new, move = self._decide_and_save(stored.feature, target, subtasks, decide)
        # From here on the move has happened: task.json problems are warnings.
        documents = [new if f is target else f.document for f in stored.subtasks]
        written, warnings = self._recount(stored, documents)
        completed = sum(
            1 for d in documents if isinstance(d, dict) and d.get("status") == tasks.COMPLETED
        )
        return MoveResult(
            move,
            str(target.seq),
            new,
            target.location,
            written,
            completed,
            len(documents),
            tuple(warnings),
        )

    def _recount(
        self, stored: StoredFeature, documents: List[Optional[Dict[str, Any]]]
    ) -> Tuple[bool, List[str]]:
        """Rewrite ``task.json``'s counts; (whether it was written, warnings)."""
        from .errors import ConflictError, StageflowError

        task = stored.task
        for _ in range(3):
            if task.document is None:
                why = (
                    "does not exist" if task.problem == MISSING else f"is unusable ({task.problem})"
                )
                return False, [f"{task.location} {why}: its counts were not updated"]
            recounted = tasks.recount(task.document, documents)
            if recounted == task.document:
                return False, []
            try:
                self.store.save(stored.feature, task.location, recounted, task.revision)
                return True, []
            except ConflictError:  # changed by a tool that ignores the lock: read it again
                task = self.store.load(stored.feature).task
            except (StageflowError, OSError) as exc:
                return False, [f"{task.location}: its counts were not updated ({exc})"]
        return False, [f"{task.location} kept changing: its counts were not updated"]


def _check_task_file(stored: StoredFeature) -> None:
    task = stored.task
    if task.document is None and task.problem != MISSING:
        raise StateFileError(
            task.location,
            f"{task.problem}; fix or restore it first: every move rewrites its counts",
        )


def _refuse_claim(stored: StoredFeature) -> None:
    from .findings import Finding

    view = _taskview.summary(stored)
    counts, total = view["counts"], view["subtask_count"]
    unusable = [p["file"] for p in view["problems"] if p["file"] != stored.task.location]
    if total and counts["completed"] == total:
        code = "task-all-completed"
        message = f"every subtask of {stored.feature!r} is completed"
        advice = "nothing left to claim"
    else:
        waiting = counts["pending"] - len(_taskview.ready(stored))
        code = "task-none-ready"
        message = (
            f"no subtask of {stored.feature!r} is ready: {counts['in_progress']} in progress, "
            f"{waiting} waiting on dependencies, {counts['blocked']} blocked, "
            f"{counts['completed']} completed, of {total}"
        )
        advice = "wait for the subtasks in progress, or unblock a blocked one"
        if unusable:
            message += f"; unusable: {', '.join(unusable)}"
            advice = "fix the unusable files (stageflow task validate), " + advice
    raise RuleViolation(
        f"nothing to claim in {stored.feature!r}",
        operation="claim",
        feature=stored.feature,
        findings=[Finding(code, message, recommendation=advice)],
    )
