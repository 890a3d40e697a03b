"""The files task store: a project's ``.tmp/tasks/`` folder, in the seed tools' layout.

A feature lives in the first existing folder of ``.tmp/tasks/{feature}/``,
``.tmp/tasks/active/{feature}/`` and ``.tmp/tasks/completed/{feature}/`` (the layouts of
the public task tools; ``active`` and ``completed`` are never features themselves). It
holds ``task.json`` and ``subtask_{seq}.json`` files, ``seq`` being two or more ASCII
digits, so a feature may hold any number of subtasks.

Writes are atomic (temporary file, fsync, ``os.replace``, folder fsync: a reader sees the
old or the new file, never a mix), go to the file that was read -- never to a name derived
from a field inside it -- and check the revision that was read: a file changed since then
is refused with :class:`~stageflow.errors.ConflictError`. :meth:`FileTaskStore.lock` is
the feature's inter-process lock (``.tmp/locks/tasks/{feature}.lock``), held by every
read-modify-write of the :class:`~stageflow.tracker.TaskTracker`.

This module imports nothing heavy: ``stageflow task status`` reads through it.
"""

from __future__ import annotations

import json
import os
import re

from .._fileio import read_bytes, write_atomic
from .._minischema import json_type_phrase
from .._names import FEATURE_PATTERN, check_feature, seq_key
from .._rundoc import parse_json_bytes
from ..errors import ConflictError, InvalidName, NotFound, StateFileError, UsageError
from ._taskdocs import MISSING, TASK_FILE, StoredFeature, StoredFile
from .files import _revision, encode_document

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ContextManager, Dict, List, Mapping, Optional, Tuple, Union

__all__ = [
    "LEGACY_LAYOUTS",
    "SUBTASK_FILE",
    "TASKS_DIR",
    "FileTaskStore",
    "candidate_folders",
    "check_file_name",
    "read_task_file",
    "subtask_file_name",
]

TASKS_DIR = ".tmp/tasks"
"""Where features live, relative to the project root."""

LEGACY_LAYOUTS: Tuple[str, ...] = ("active", "completed")
"""Folders under :data:`TASKS_DIR` that hold features (and are not features themselves)."""

SUBTASK_FILE = re.compile(r"subtask_([0-9]{2,})\.json\Z")
"""The name of a subtask file; group 1 is the seq."""


def candidate_folders(feature: str) -> Tuple[str, ...]:
    """The folders ``feature`` may live in, relative to the root, in the order searched."""
    return (
        f"{TASKS_DIR}/{feature}",
        *(f"{TASKS_DIR}/{layout}/{feature}" for layout in LEGACY_LAYOUTS),
    )


def check_file_name(name: object) -> str:
    """``name`` if it is ``task.json`` or a subtask file name, else :class:`UsageError`.

    Only these names are ever written, so no argument can lead a write out of the feature's
    folder.
    """
    if isinstance(name, str) and (name == TASK_FILE or SUBTASK_FILE.match(name)):
        return name
    raise UsageError(
        f"{name!r} is not a task file name (task.json or subtask_{{seq}}.json, "
        "seq two or more digits)"
    )


def subtask_file_name(seq: str) -> str:
    """``subtask_{seq}.json`` for a seq of two or more digits, else :class:`UsageError`."""
    return check_file_name(f"subtask_{seq}.json")


def read_task_file(path: str, name: str, location: str, seq: Optional[str]) -> StoredFile:
    """Read one task file; every problem (missing, unreadable, not JSON, not an object)
    is reported in the result, never raised."""
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        return StoredFile(name, location, seq, None, MISSING, None)
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
        return StoredFile(name, location, seq, None, problem, None)
    revision = _revision(data)
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        try:
            document = parse_json_bytes(data, location)
        except StateFileError as exc:
            return StoredFile(name, location, seq, None, exc.problem, revision)
    if not isinstance(document, dict):
        problem = f"expected a JSON object, found {json_type_phrase(document)}"
        return StoredFile(name, location, seq, None, problem, revision)
    return StoredFile(name, location, seq, document, None, revision)


class FileTaskStore:
    """A task store over a project's ``.tmp/tasks/`` folder (see the module docstring)."""

    def __init__(self, root: Union[str, os.PathLike[str]]) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.tasks = os.path.join(self.root, TASKS_DIR)
        self.locks = os.path.join(self.root, ".tmp", "locks", "tasks")

    def __repr__(self) -> str:
        return f"FileTaskStore({self.root!r})"

    # -- where features are ---------------------------------------------------------------

    def folder(self, feature: str) -> str:
        """The feature's folder relative to the root (``/``-separated); ``NotFound`` if none."""
        _check(feature)
        for rel in candidate_folders(feature):
            if os.path.isdir(os.path.join(self.root, rel)):
                return rel
        searched = ", ".join(candidate_folders(feature))
        raise NotFound(f"feature {feature!r} has no task files: none of {searched} exists", feature)

    def folders(self) -> Dict[str, Tuple[str, ...]]:
        """Every folder under ``.tmp/tasks`` that may hold a feature: name -> its folders
        in layout order. Names that are not valid feature names are included (a validator
        reports them); a missing ``.tmp/tasks`` gives an empty dict."""
        found: Dict[str, List[str]] = {}
        for name in _subdirs(self.tasks):
            if name not in LEGACY_LAYOUTS:
                found.setdefault(name, []).append(f"{TASKS_DIR}/{name}")
        for layout in LEGACY_LAYOUTS:
            for name in _subdirs(os.path.join(self.tasks, layout)):
                found.setdefault(name, []).append(f"{TASKS_DIR}/{layout}/{name}")
        return {name: tuple(rels) for name, rels in sorted(found.items())}

    def features(self) -> List[str]:
        """The valid feature names that have a folder, sorted."""
        return [
            name
            for name in self.folders()
            if FEATURE_PATTERN.match(name) and name not in LEGACY_LAYOUTS
        ]

    # -- reading and writing ---------------------------------------------------------------

    def lock(self, feature: str) -> ContextManager[None]:
        """The feature's inter-process lock (re-entrant within a thread)."""
        _check(feature)
        from .._filelock import file_lock  # writers only: keeps threading off the read path

        return file_lock(os.path.join(self.locks, feature + ".lock"))

    def load(self, feature: str) -> StoredFeature:
        """Every task file of ``feature``; ``NotFound`` when it has no folder.

        Subtasks come in seq order of their file names; a file that cannot be used carries
        its problem instead of a document.
        """
        rel = self.folder(feature)
        folder = os.path.join(self.root, rel)
        try:
            names = os.listdir(folder)
        except OSError as exc:
            raise StateFileError(rel, f"the folder cannot be read ({exc.strerror})") from None
        subtasks = []
        for name in names:
            match = SUBTASK_FILE.match(name)
            if match is not None:
                subtasks.append((match.group(1), name))
        subtasks.sort(key=lambda item: seq_key(item[0]))
        task = read_task_file(
            os.path.join(folder, TASK_FILE), TASK_FILE, f"{rel}/{TASK_FILE}", None
        )
        return StoredFeature(
            feature,
            rel,
            task,
            tuple(
                read_task_file(os.path.join(folder, name), name, f"{rel}/{name}", seq)
                for seq, name in subtasks
            ),
        )

    def save(
        self,
        feature: str,
        name: str,
        document: Mapping[str, Any],
        expected_revision: Optional[str],
    ) -> str:
        """Write ``document`` to the feature's file ``name``; return the new revision.

        ``expected_revision`` is the revision that was read (``None``: the file must not
        exist yet). A file changed since then raises :class:`ConflictError` and nothing is
        written.
        """
        check_file_name(name)
        if not isinstance(document, dict):
            raise UsageError(f"a task file holds a JSON object, not {type(document).__name__}")
        with self.lock(feature):
            rel = f"{self.folder(feature)}/{name}"
            path = os.path.join(self.root, rel)
            current = read_task_file(path, name, rel, None).revision
            if current != expected_revision:
                raise ConflictError(f"{rel} changed since it was read; reload and retry", rel)
            data = encode_document(document)
            write_atomic(path, data)
            return _revision(data)

    def create(
        self, feature: str, task: Mapping[str, Any], subtasks: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Create a new feature in ``.tmp/tasks/{feature}/``: ``task.json`` and one file
        per ``seq -> subtask`` of ``subtasks``. Refused (:class:`ConflictError`) when the
        feature already has a folder in any layout."""
        _check(feature)
        names = {seq: subtask_file_name(seq) for seq in subtasks}
        with self.lock(feature):
            existing = [
                r for r in candidate_folders(feature) if os.path.exists(os.path.join(self.root, r))
            ]
            if existing:
                raise ConflictError(f"feature {feature!r} already exists: {existing[0]}", feature)
            folder = os.path.join(self.root, TASKS_DIR, feature)
            # Subtasks first, task.json last: a feature whose task.json exists is whole.
            for seq, subtask in subtasks.items():
                write_atomic(os.path.join(folder, names[seq]), encode_document(dict(subtask)))
            write_atomic(os.path.join(folder, TASK_FILE), encode_document(dict(task)))


def _check(feature: str) -> None:
    check_feature(feature)
    if feature in LEGACY_LAYOUTS:
        raise InvalidName(f"{feature!r} is a layout folder, not a feature")


def _subdirs(path: str) -> List[str]:
    try:
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir())
    except OSError:
        return []
