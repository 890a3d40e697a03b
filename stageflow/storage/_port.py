"""The storage port: what the engine needs from a store."""

from __future__ import annotations

from typing import Any, ContextManager, Dict, List, Optional, Protocol

from ._stored import StoredRun

__all__ = ["RunStore"]


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
