"""In-memory store: for tests and for embedding without persistence.

Documents are kept as JSON text, so a caller can never alias or mutate what is stored,
and anything that would not survive a round trip through a real store fails here too.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .._names import check_feature
from ..errors import ConflictError, NotFound
from ._stored import StoredRun

__all__ = ["MemoryStore"]


class MemoryStore:
    """A thread-safe :class:`~stageflow.storage.RunStore` held in a dict."""

    def __init__(self) -> None:
        self._runs: Dict[str, Dict[int, Tuple[str, int]]] = {}
        self._locks: Dict[str, threading.RLock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, feature: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(feature, threading.RLock())

    @contextmanager
    def lock(self, feature: str) -> Iterator[None]:
        check_feature(feature)
        with self._lock_for(feature):
            yield

    def features(self) -> List[str]:
        with self._guard:
            return sorted(f for f, runs in self._runs.items() if runs)

    def runs(self, feature: str) -> List[int]:
        check_feature(feature)
        with self._guard:
            return sorted(self._runs.get(feature, {}))

    def _stored(self, feature: str, run: int, text: str, revision: int) -> StoredRun:
        return StoredRun(json.loads(text), str(revision), f"memory:{feature}/run-{run}")

    def latest(self, feature: str) -> Optional[StoredRun]:
        check_feature(feature)
        with self._guard:
            runs = self._runs.get(feature)
            if not runs:
                return None
            number = max(runs)
            text, revision = runs[number]
        return self._stored(feature, number, text, revision)

    def load(self, feature: str, run: int) -> StoredRun:
        check_feature(feature)
        with self._guard:
            entry = self._runs.get(feature, {}).get(run)
        if entry is None:
            raise NotFound(f"no run {run} of feature {feature!r}", feature)
        return self._stored(feature, run, *entry)

    def create(self, feature: str, run: int, document: Dict[str, Any]) -> str:
        check_feature(feature)
        text = json.dumps(document)
        with self._lock_for(feature), self._guard:
            runs = self._runs.setdefault(feature, {})
            if run in runs:
                raise ConflictError(f"run {run} of {feature!r} already exists")
            runs[run] = (text, 1)
        return "1"

    def save(self, feature: str, run: int, document: Dict[str, Any], expected_revision: str) -> str:
        check_feature(feature)
        text = json.dumps(document)
        with self._lock_for(feature), self._guard:
            entry = self._runs.get(feature, {}).get(run)
            if entry is None:
                raise NotFound(f"no run {run} of feature {feature!r}", feature)
            if str(entry[1]) != expected_revision:
                raise ConflictError(
                    f"run {run} of {feature!r} changed since it was read "
                    f"(revision {entry[1]}, expected {expected_revision})",
                    f"memory:{feature}/run-{run}",
                )
            revision = entry[1] + 1
            self._runs[feature][run] = (text, revision)
        return str(revision)
