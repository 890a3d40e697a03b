"""The executor's scheduler: which planned subtasks to dispatch next, given what is running.

:class:`Scheduler` is pure (no I/O, no clock: times are parameters) and holds the state
of one execution: each planned task is *waiting*, *running*, *retrying* (a failed attempt
waits for its backoff), or settled as *completed*, *failed* or *skipped*.

Modes:

- ``batches``: the plan's batches run one after the other. A batch's tasks are
  dispatched (at most ``free`` at a time) and the next batch starts only when every task
  of this one is settled: the barrier of the seeds.
- ``eager``: a task is dispatched as soon as each of its dependencies is completed,
  considered in plan order. The plan's rules still hold among the *active* tasks (running
  or retrying): at most ``max_width`` of them; a ``parallel: false`` task is active only
  alone, and the first one in plan order that must wait holds back every task after it
  (so it is never starved); a parallel task whose deliverables overlap an active task's
  waits, and tasks after it may pass it.

A task whose dependency fails or is skipped is skipped, and so on down its dependents.
With ``fail_fast`` the first failure skips every task not yet dispatched.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Set, Tuple

from ._deliverables import PathIndex, PathKey
from ._planinput import deliverable_paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .planner import Plan

__all__ = ["COMPLETED", "FAILED", "MODES", "SKIPPED", "Scheduler"]

WAITING = "waiting"
RUNNING = "running"
RETRYING = "retrying"
COMPLETED = "completed"
FAILED = "failed"
SKIPPED = "skipped"
_SETTLED = frozenset((COMPLETED, FAILED, SKIPPED))

#: The execution modes.
MODES: Tuple[str, ...] = ("batches", "eager")


class Scheduler:
    """The dispatch decisions of one execution of ``plan`` (see the module docstring).

    ``documents`` maps every planned seq to its subtask (for ``depends_on``, ``parallel``
    and ``deliverables``); dependencies outside the plan are completed ones.
    """

    def __init__(
        self,
        plan: Plan,
        documents: Mapping[str, Mapping[str, Any]],
        *,
        mode: str = "batches",
        max_width: Optional[int] = None,
        fail_fast: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.max_width = max_width
        self.fail_fast = fail_fast
        self.batches: Tuple[Tuple[str, ...], ...] = tuple(b.seqs for b in plan.batches)
        self.order: Tuple[str, ...] = tuple(seq for batch in self.batches for seq in batch)
        self.batch_of: Dict[str, int] = {
            seq: number for number, batch in enumerate(self.batches, 1) for seq in batch
        }
        planned = set(self.order)
        self.deps: Dict[str, Tuple[str, ...]] = {}
        self.dependents: Dict[str, List[str]] = {seq: [] for seq in self.order}
        self.sequential: Set[str] = set()
        self.paths: Dict[str, List[Tuple[PathKey, str]]] = {}
        for seq in self.order:
            document = documents[seq]
            deps = tuple(dict.fromkeys(d for d in document.get("depends_on") or () if d in planned))
            self.deps[seq] = deps
            for dep in deps:
                self.dependents[dep].append(seq)
            if document.get("parallel") is not True:
                self.sequential.add(seq)
            self.paths[seq] = deliverable_paths(document)
        self.state: Dict[str, str] = dict.fromkeys(self.order, WAITING)
        self.reasons: Dict[str, str] = {}
        self._due: Dict[str, float] = {}
        self._active: Set[str] = set()
        self._unsettled = [len(batch) for batch in self.batches]
        self._barrier = 0  # index of the batch that batches mode runs now
        self._batches_done: List[int] = []
        self._next_done = 0  # index of the first batch not yet reported done
        self.settled_count = 0
        self._scan_from = 0  # eager mode: every task before this index has been dispatched

    # -- reading -------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Whether every task is settled."""
        return self.settled_count == len(self.order)

    def next_due(self) -> Optional[float]:
        """When the earliest retry is due, or ``None``."""
        return min(self._due.values()) if self._due else None

    def active(self) -> Set[str]:
        """The running and retrying tasks."""
        return set(self._active)

    def settled(self, outcome: str) -> List[str]:
        """The tasks settled with ``outcome``, in plan order."""
        return [seq for seq in self.order if self.state[seq] == outcome]

    def batches_done(self) -> List[int]:
        """The batches done since the last call, in order: batch *k* is done once it and
        every batch before it is settled."""
        done, self._batches_done = self._batches_done, []
        return done

    # -- deciding ------------------------------------------------------------------------

    def dispatch(self, free: int, now: float) -> List[str]:
        """The tasks to dispatch now, at most ``free``: due retries first, then new tasks.

        Each is marked running; the caller reports back with :meth:`succeeded`,
        :meth:`attempt_failed` or :meth:`failed`.
        """
        chosen = [seq for seq, due in sorted(self._due.items(), key=_by_due) if due <= now]
        chosen = chosen[: max(free, 0)]
        for seq in chosen:
            del self._due[seq]
            self.state[seq] = RUNNING
        room = free - len(chosen)
        if room > 0:
            starts = self._batch_starts(room) if self.mode == "batches" else self._eager(room)
            for seq in starts:
                self.state[seq] = RUNNING
                self._active.add(seq)
            chosen += starts
        return chosen

    def _batch_starts(self, room: int) -> List[str]:
        while self._barrier < len(self.batches) and not self._unsettled[self._barrier]:
            self._barrier += 1
        if self._barrier == len(self.batches):
            return []
        waiting = [s for s in self.batches[self._barrier] if self.state[s] == WAITING]
        return waiting[:room]

    def _eager(self, room: int) -> List[str]:
        starts: List[str] = []
        active = set(self._active)
        if any(seq in self.sequential for seq in active):
            return starts
        index = PathIndex()
        for seq in active:
            for key, entry in self.paths[seq]:
                index.add(key, seq, entry)
        while self._scan_from < len(self.order) and (
            self.state[self.order[self._scan_from]] != WAITING
        ):
            self._scan_from += 1
        for position in range(self._scan_from, len(self.order)):
            seq = self.order[position]
            if len(starts) == room:
                break
            if self.max_width is not None and len(active) >= self.max_width:
                break
            if self.state[seq] != WAITING:
                continue
            if any(self.state[dep] != COMPLETED for dep in self.deps[seq]):
                continue
            if seq in self.sequential:
                if not active:
                    starts.append(seq)
                break  # it runs alone: nothing after it starts before it
            if any(index.overlap(key) is not None for key, _ in self.paths[seq]):
                continue
            starts.append(seq)
            active.add(seq)
            for key, entry in self.paths[seq]:
                index.add(key, seq, entry)
        return starts

    # -- reporting back ------------------------------------------------------------------

    def succeeded(self, seq: str) -> None:
        """``seq`` is completed."""
        self._settle(seq, COMPLETED)

    def attempt_failed(self, seq: str, due: float) -> None:
        """An attempt of ``seq`` failed; the next one is due at ``due``."""
        self.state[seq] = RETRYING
        self._due[seq] = due

    def failed(self, seq: str, reason: str) -> List[Tuple[str, str]]:
        """``seq`` failed for good. Returns the tasks skipped because of it, with reasons."""
        self._settle(seq, FAILED, reason)
        skipped = self._skip_dependents(seq, f"depends on {seq}, which failed")
        if self.fail_fast:
            why = f"fail-fast: the run stopped when {seq} failed"
            for other in self.order:
                if self.state[other] == WAITING:
                    self._settle(other, SKIPPED, why)
                    skipped.append((other, why))
        return skipped

    def stop(self, reason: str) -> List[Tuple[str, str]]:
        """Skip every task not running now (waiting, or waiting to retry); returns them."""
        stopped = []
        for seq in self.order:
            if self.state[seq] in (WAITING, RETRYING):
                self._due.pop(seq, None)
                self._settle(seq, SKIPPED, reason)
                stopped.append((seq, reason))
        return stopped

    def skip(self, seq: str, reason: str) -> List[Tuple[str, str]]:
        """Skip a task that has not been dispatched (and its dependents); returns every task
        skipped, ``seq`` first, with its reason."""
        if self.state[seq] in _SETTLED:
            return []
        self._due.pop(seq, None)
        self._settle(seq, SKIPPED, reason)
        return [(seq, reason), *self._skip_dependents(seq, f"depends on {seq}, which was skipped")]

    def _skip_dependents(self, seq: str, reason: str) -> List[Tuple[str, str]]:
        skipped: List[Tuple[str, str]] = []
        stack = [(dependent, reason) for dependent in reversed(self.dependents[seq])]
        while stack:
            current, why = stack.pop()
            if self.state[current] != WAITING:
                continue
            self._settle(current, SKIPPED, why)
            skipped.append((current, why))
            onward = f"depends on {current}, which was skipped"
            stack.extend((dependent, onward) for dependent in reversed(self.dependents[current]))
        return skipped

    def _settle(self, seq: str, outcome: str, reason: Optional[str] = None) -> None:
        if self.state[seq] in _SETTLED:
            return
        self.state[seq] = outcome
        self.settled_count += 1
        self._active.discard(seq)
        if reason is not None:
            self.reasons[seq] = reason
        self._unsettled[self.batch_of[seq] - 1] -= 1
        while self._next_done < len(self.batches) and not self._unsettled[self._next_done]:
            self._next_done += 1
            self._batches_done.append(self._next_done)


def _by_due(item: Tuple[str, float]) -> float:
    return item[1]
