"""The storage port and its adapters.

A store keeps JSON-ready *run documents*, each under ``(feature, run number)``, with an
opaque *revision* token for optimistic concurrency: :meth:`RunStore.save` refuses with
:class:`~stageflow.errors.ConflictError` when the document changed since it was read.
:meth:`RunStore.lock` serialises read-modify-write cycles on one feature. The port is small
on purpose, so that SQL backends fit it as well as the in-memory and files adapters.

Stores deal in plain dicts; checking and structuring documents is the caller's job
(:mod:`stageflow._rundoc`, :mod:`stageflow.serde`). This package imports nothing heavy.
"""

from __future__ import annotations

import os
from typing import Any, ContextManager, Dict, List, NamedTuple, Optional

try:  # Python >= 3.8 has Protocol in typing
    from typing import Protocol
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol  # type: ignore[assignment]

from ..errors import UsageError

__all__ = ["RunStore", "StoredRun", "open_store"]


class StoredRun(NamedTuple):
    """A run document as stored, with its revision and a location for messages."""

    document: Dict[str, Any]
    revision: str
    location: str


class RunStore(Protocol):
    """What the engine needs from storage."""

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


def open_store(url: str, root: Optional[str] = None) -> RunStore:
    """Open a store from a URL: ``memory:``, ``files`` (the project root's ``.tmp/``) or
    ``files:///path/to/root``."""
    if url == "memory:" or url == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    if url == "files":
        from .files import FileStore

        return FileStore(root or os.getcwd())
    if url.startswith("files://"):
        from .files import FileStore

        path = url[len("files://") :]
        if not path:
            raise UsageError(f"store URL {url!r} needs a path: files:///path/to/root")
        return FileStore(path)
    raise UsageError(f"unknown store URL {url!r}; use 'files', 'files:///path' or 'memory:'")
