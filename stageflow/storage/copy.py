"""Copying everything one backend holds into another: :func:`copy_stores`.

What is copied is what the ports expose, through the ports only, so any two backends work
together:

* every feature's runs, every run number in ascending order (earlier, archived runs first,
  so the latest stays the latest), each document as it is stored -- history included;
* every feature's task files: ``task.json`` and its ``subtask_{seq}.json`` files, each
  document as it is stored, under the same seq (so the same file names).

Between two files stores a feature's task files keep their layout (a feature in
``.tmp/tasks/completed/`` stays there); a destination of another kind has no layouts, and
the report says so. What the ports do not hold is not copied: a session folder's files
other than ``stage-tracking.json`` (``context.md`` is rewritten from the run), files in
a task folder that are not task files, the outputs a rollback moved to ``.tmp/archive/``
(project files, like the rest of the project), locks.

The copy never half-copies silently:

1. every feature of the source is read first. A feature with a document that cannot be
   read (its location and problem are reported) is *skipped*: nothing of it is written;
2. a destination that already holds any of the features is refused with
   :class:`~stageflow.errors.ConflictError` before anything is written: the ports have no
   delete, so an overwrite could not be lossless (copy into an empty store instead);
3. then feature by feature, runs then task files. A write that fails stops the copy: that
   feature is reported *failed* with what was written of it, the features after it *not
   copied*.

:attr:`CopyReport.ok` is true when every feature was copied. The source is only read, and
takes no lock: copy a store nothing is writing to (a run started during the copy may be
missed).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

import attrs

from ..errors import ConflictError, StageflowError, StateFileError, UsageError
from ._stores import Stores
from ._taskdocs import StoredFile
from ._url import shown
from .files import FileStore
from .taskfiles import LEGACY_LAYOUTS, TASKS_DIR, FileTaskStore, names_for

__all__ = ["COPIED", "FAILED", "NOT_COPIED", "SKIPPED", "CopyReport", "FeatureCopy", "copy_stores"]

COPIED = "copied"
"""Every run and task file of the feature was written."""
SKIPPED = "skipped"
"""A document of the feature could not be read from the source: nothing of it was written."""
FAILED = "failed"
"""A write to the destination failed: what was written of the feature is in the report."""
NOT_COPIED = "not-copied"
"""Not attempted: an earlier feature failed."""


@attrs.frozen
class FeatureCopy:
    """What the copy did with one feature.

    ``status`` is :data:`COPIED`, :data:`SKIPPED`, :data:`FAILED` or :data:`NOT_COPIED`;
    ``runs`` are the run numbers written and ``task_files`` the task file names written;
    ``problems`` name each document that could not be read or written
    (``location: problem``); ``notes`` say what the destination could not keep.
    """

    feature: str
    status: str
    runs: Tuple[int, ...] = ()
    task_files: Tuple[str, ...] = ()
    problems: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description."""
        return {
            "feature": self.feature,
            "status": self.status,
            "runs": list(self.runs),
            "task_files": list(self.task_files),
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


@attrs.frozen
class CopyReport:
    """The result of :func:`copy_stores`: each feature of the source, in name order.

    ``source`` and ``destination`` are the stores' URLs without their passwords.
    """

    source: str
    destination: str
    features: Tuple[FeatureCopy, ...]

    @property
    def ok(self) -> bool:
        """True when every feature was copied whole."""
        return all(f.status == COPIED for f in self.features)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description."""
        return {
            "ok": self.ok,
            "source": self.source,
            "destination": self.destination,
            "features": [f.to_dict() for f in self.features],
        }


@attrs.frozen
class _Read:
    """A feature as read from the source, ready to write."""

    feature: str
    runs: Tuple[Tuple[int, Dict[str, Any]], ...]
    task: Optional[Mapping[str, Any]]
    subtasks: Dict[str, Mapping[str, Any]]
    layout: Optional[str]
    problems: Tuple[str, ...]
    notes: Tuple[str, ...]


def copy_stores(source: Stores, destination: Stores) -> CopyReport:
    """Copy every feature's runs and task files from ``source`` into ``destination``.

    See the module documentation for what is copied and how failures are reported. Raises
    :class:`~stageflow.errors.UsageError` when both are the same store and
    :class:`~stageflow.errors.ConflictError` (nothing written) when the destination
    already holds one of the source's features.
    """
    if _same(source, destination):
        raise UsageError(
            f"the source and the destination are the same store ({shown(destination)})"
        )
    names = sorted(set(source.runs.features()) | set(source.tasks.features()))
    shadowed = source.tasks.folders() if isinstance(source.tasks, FileTaskStore) else {}
    read = [_read(source, name, shadowed.get(name, ()), destination) for name in names]
    taken = [name for name in names if _held(destination, name)]
    if taken:
        where = shown(destination)
        raise ConflictError(
            f"{where} already holds feature(s) {', '.join(taken)}; nothing was copied "
            "(copy into an empty store)",
            where,
        )
    results: List[FeatureCopy] = []
    stopped = False
    for item in read:
        if item.problems:
            results.append(FeatureCopy(item.feature, SKIPPED, (), (), item.problems, item.notes))
        elif stopped:
            notes = ("not attempted: an earlier feature failed",)
            results.append(FeatureCopy(item.feature, NOT_COPIED, notes=notes))
        else:
            done = _write(destination, item)
            stopped = done.status == FAILED
            results.append(done)
    return CopyReport(shown(source), shown(destination), tuple(results))


def _same(source: Stores, destination: Stores) -> bool:
    if source is destination or source.runs is destination.runs:
        return True
    if isinstance(source.runs, FileStore) and isinstance(destination.runs, FileStore):
        return os.path.realpath(source.runs.root) == os.path.realpath(destination.runs.root)
    if isinstance(source.tasks, FileTaskStore) and isinstance(destination.tasks, FileTaskStore):
        return os.path.realpath(source.tasks.root) == os.path.realpath(destination.tasks.root)
    return False


def _held(stores: Stores, feature: str) -> bool:
    return bool(stores.runs.runs(feature)) or feature in stores.tasks.features()


def _problem(exc: Exception) -> str:
    if isinstance(exc, StateFileError):
        return f"{exc.path}: {exc.problem}"
    if isinstance(exc, StageflowError):
        return exc.message
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def _read(source: Stores, feature: str, folders: Tuple[str, ...], destination: Stores) -> _Read:
    problems: List[str] = []
    notes: List[str] = []
    runs: List[Tuple[int, Dict[str, Any]]] = []
    try:
        for number in source.runs.runs(feature):
            runs.append((number, source.runs.load(feature, number).document))
    except (StageflowError, OSError) as exc:
        problems.append(_problem(exc))
    task: Optional[Mapping[str, Any]] = None
    subtasks: Dict[str, Mapping[str, Any]] = {}
    layout: Optional[str] = None
    if feature in source.tasks.features():
        try:
            stored = source.tasks.load(feature)
        except (StageflowError, OSError) as exc:
            problems.append(_problem(exc))
        else:
            files: Tuple[StoredFile, ...] = (stored.task, *stored.subtasks)
            problems += [f"{f.location}: {f.problem}" for f in files if f.document is None]
            task = stored.task.document
            subtasks = {str(f.seq): f.document for f in stored.subtasks if f.document is not None}
            try:
                names_for(subtasks)  # the rule every store's create applies
            except UsageError as exc:
                problems.append(f"{stored.folder}: {exc.message}")
            layout = _layout(stored.folder, feature)
            if layout is not None and not isinstance(destination.tasks, FileTaskStore):
                notes.append(
                    f"its task files were in {stored.folder}; the destination keeps no layouts"
                )
            notes += [
                f"{extra} is hidden by {folders[0]} in the source and is not copied"
                for extra in folders[1:]
            ]
    return _Read(feature, tuple(runs), task, subtasks, layout, tuple(problems), tuple(notes))


def _layout(folder: str, feature: str) -> Optional[str]:
    for layout in LEGACY_LAYOUTS:
        if folder == f"{TASKS_DIR}/{layout}/{feature}":
            return layout
    return None


def _write(destination: Stores, item: _Read) -> FeatureCopy:
    written: List[int] = []
    in_tasks = False
    try:
        for number, document in item.runs:
            destination.runs.create(item.feature, number, document)
            written.append(number)
        files: Tuple[str, ...] = ()
        if item.task is not None:
            in_tasks = True
            tasks = destination.tasks
            if item.layout is not None and isinstance(tasks, FileTaskStore):
                tasks.create(item.feature, item.task, item.subtasks, layout=item.layout)
            else:
                tasks.create(item.feature, item.task, item.subtasks)
            files = ("task.json", *names_for(item.subtasks).values())
    except Exception as exc:  # any backend's failure: reported, never half-silent
        notes = item.notes
        if in_tasks:
            notes += ("the destination may hold part of its task files",)
        return FeatureCopy(item.feature, FAILED, tuple(written), (), (_problem(exc),), notes)
    return FeatureCopy(item.feature, COPIED, tuple(written), files, (), item.notes)
