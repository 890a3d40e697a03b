"""The storage ports: what the engine and the task tracker need from a store."""

from __future__ import annotations

from typing import Any, ContextManager, Dict, List, Mapping, Optional, Protocol

from ._stored import StoredRun
from ._taskdocs import StoredFeature, StoredFile

__all__ = ["RunStore", "TaskStore"]


class RunStore(Protocol):
    """What the engine needs from storage.

    Documents are JSON-ready dicts; each save names the revision it read, and a store
    refuses a stale one with :class:`~stageflow.errors.ConflictError`.
    """

    def lock(self, feature: str) -> ContextManager[None]:
        """Hold the feature's lock (re-entrant in one thread) for a read-modify-write."""
        ...

    def features(self) -> List[str]:
        """Every feature with at least one run, sorted."""
        ...

    def runs(self, feature: str) -> List[int]:
        """The run numbers of ``feature``, ascending (empty if none)."""
        ...

    def latest(self, feature: str) -> Optional[StoredRun]:
        """The feature's newest run, or ``None``."""
        ...

    def load(self, feature: str, run: int) -> StoredRun:
        """One run; :class:`~stageflow.errors.NotFound` if there is none."""
        ...

    def create(self, feature: str, run: int, document: Dict[str, Any]) -> str:
        """Store a new run; it becomes the latest. Returns its revision."""
        ...

    def save(self, feature: str, run: int, document: Dict[str, Any], expected_revision: str) -> str:
        """Replace a run's document if its revision is still ``expected_revision``."""
        ...


class TaskStore(Protocol):
    """What the task tracker needs from storage: a feature's task files as JSON objects.

    A feature is ``task.json`` plus ``subtask_{seq}.json`` files, each written back to the
    location it was read from (never to a name built from a field inside it). Each write
    names the revision it read; a store refuses a stale one with
    :class:`~stageflow.errors.ConflictError`. One unreadable file never makes :meth:`load`
    fail: it comes back with its problem.
    """

    def lock(self, feature: str) -> ContextManager[None]:
        """Hold the feature's lock (re-entrant in one thread) for a read-modify-write."""
        ...

    def lease(self, feature: str) -> ContextManager[None]:
        """Hold the feature's execution lease for a whole executor run: exclusive, never
        waited for (:class:`~stageflow.errors.ConflictError` when held elsewhere), and
        released when its holder dies."""
        ...

    def features(self) -> List[str]:
        """Every feature with task files, sorted."""
        ...

    def load(self, feature: str) -> StoredFeature:
        """Every task file of ``feature``; :class:`~stageflow.errors.NotFound` if none."""
        ...

    def read(self, feature: str, location: str) -> StoredFile:
        """One task file, as :meth:`load` returns it, by a location of the form a load
        returns (``{folder}/{name}``); a file that does not exist carries the problem
        :data:`~stageflow.storage._taskdocs.MISSING`."""
        ...

    def save(
        self,
        feature: str,
        location: str,
        document: Mapping[str, Any],
        expected_revision: Optional[str],
    ) -> str:
        """Write the file at ``location`` (a :attr:`StoredFile.location` that :meth:`load`
        returned) if its revision is still ``expected_revision`` (``None``: it must not
        exist yet). Returns the new revision."""
        ...

    def create(
        self, feature: str, task: Mapping[str, Any], subtasks: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Create a feature from ``task.json`` and ``seq -> subtask`` documents; refused
        with :class:`~stageflow.errors.ConflictError` if the feature exists."""
        ...
