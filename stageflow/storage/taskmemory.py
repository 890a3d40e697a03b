"""An in-memory task store, for tests and for applications that keep tasks elsewhere.

It behaves like the files store: documents are kept as JSON text (so no caller can change
a stored document through a reference it kept), every write checks the revision that was
read, and :meth:`MemoryTaskStore.lock` serialises read-modify-write cycles per feature
between threads.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from .._names import seq_key
from ..errors import ConflictError, NotFound, UsageError
from ._taskdocs import MISSING, TASK_FILE, StoredFeature, StoredFile
from .taskfiles import (
    SUBTASK_FILE,
    check_file_name,
    check_task_feature,
    encode_task,
    names_for,
)

__all__ = ["MemoryTaskStore"]


class MemoryTaskStore:
    """A thread-safe task store in memory; revisions are counters."""

    def __init__(self) -> None:
        self._files: Dict[str, Dict[str, Tuple[str, int]]] = {}
        self._locks: Dict[str, threading.RLock] = {}
        self._leases: Dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._counter = 0

    def __repr__(self) -> str:
        return f"MemoryTaskStore({len(self._files)} features)"

    @contextmanager
    def lock(self, feature: str) -> Iterator[None]:
        """The feature's lock (re-entrant within a thread)."""
        check_task_feature(feature)
        with self._guard:
            lock = self._locks.setdefault(feature, threading.RLock())
        with lock:
            yield

    @contextmanager
    def lease(self, feature: str) -> Iterator[None]:
        """The feature's execution lease; :class:`~stageflow.errors.ConflictError` at once
        when another executor holds it (not re-entrant)."""
        check_task_feature(feature)
        with self._guard:
            lease = self._leases.setdefault(feature, threading.Lock())
        if not lease.acquire(blocking=False):
            raise ConflictError(
                f"another executor is running feature {feature!r}", self._location(feature, "")
            )
        try:
            yield
        finally:
            lease.release()

    def features(self) -> List[str]:
        with self._guard:
            return sorted(self._files)

    def _location(self, feature: str, name: str) -> str:
        return f"memory:{feature}/{name}"

    def _stored(self, feature: str, name: str, seq: Optional[str]) -> StoredFile:
        entry = self._files[feature].get(name)
        location = self._location(feature, name)
        if entry is None:
            return StoredFile(name, location, seq, None, MISSING, None)
        text, revision = entry
        return StoredFile(name, location, seq, json.loads(text), None, str(revision))

    def read(self, feature: str, location: str) -> StoredFile:
        """One task file by its location (``memory:{feature}/{name}``)."""
        check_task_feature(feature)
        folder, _, name = str(location).rpartition("/")
        check_file_name(name)
        if folder != f"memory:{feature}":
            raise UsageError(f"{location!r} is not a task file of feature {feature!r}")
        match = SUBTASK_FILE.match(name)
        with self.lock(feature):
            if feature not in self._files:
                raise NotFound(f"feature {feature!r} has no task files", feature)
            return self._stored(feature, name, match.group(1) if match is not None else None)

    def load(self, feature: str) -> StoredFeature:
        check_task_feature(feature)
        with self.lock(feature):
            if feature not in self._files:
                raise NotFound(f"feature {feature!r} has no task files", feature)
            seqs = []
            for name in self._files[feature]:
                match = SUBTASK_FILE.match(name)
                if match is not None:
                    seqs.append((match.group(1), name))
            seqs.sort(key=lambda item: seq_key(item[0]))
            return StoredFeature(
                feature,
                f"memory:{feature}",
                self._stored(feature, TASK_FILE, None),
                tuple(self._stored(feature, name, seq) for seq, name in seqs),
            )

    def _encode(self, document: Mapping[str, Any]) -> Tuple[str, int]:
        # the files store's rules exactly, on one line (the format is never seen)
        text = encode_task(document, indent=None).decode("utf-8")
        with self._guard:
            self._counter += 1
            return text, self._counter

    def save(
        self,
        feature: str,
        location: str,
        document: Mapping[str, Any],
        expected_revision: Optional[str],
    ) -> str:
        check_task_feature(feature)
        prefix, _, name = str(location).rpartition("/")
        check_file_name(name)
        if prefix != f"memory:{feature}":
            raise UsageError(f"{location!r} is not a task file of feature {feature!r}")
        with self.lock(feature):
            files = self._files.get(feature)
            if files is None:
                raise NotFound(f"feature {feature!r} has no task files", feature)
            entry = files.get(name)
            current = None if entry is None else str(entry[1])
            if current != expected_revision:
                raise ConflictError(
                    f"{location} changed since it was read; reload and retry", location
                )
            files[name] = self._encode(document)
            return str(files[name][1])

    def create(
        self, feature: str, task: Mapping[str, Any], subtasks: Mapping[str, Mapping[str, Any]]
    ) -> None:
        check_task_feature(feature)
        names = names_for(subtasks)
        with self.lock(feature):
            if feature in self._files:
                raise ConflictError(f"feature {feature!r} already exists", feature)
            files = {names[seq]: self._encode(sub) for seq, sub in subtasks.items()}
            files[TASK_FILE] = self._encode(task)
            self._files[feature] = files
