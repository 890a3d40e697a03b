"""What a task store returns, defined without importing :mod:`typing` (CLI fast path).

A feature is its ``task.json`` and its ``subtask_{seq}.json`` files. Each file comes back
as a :class:`StoredFile`: its name inside the feature (the only thing a write may name), a
location for messages, the parsed JSON object or the problem that kept it from being read,
and a revision token. A store never raises for one bad file: the problem travels with it,
and every other file is still there.
"""

from __future__ import annotations

import collections

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, NamedTuple, Optional, Tuple

    class StoredFile(NamedTuple):
        """One task file as stored.

        ``name`` is the file's name in the feature (``task.json``, ``subtask_07.json``);
        ``location`` names it for messages (a path relative to the project root, or a
        store URL); ``seq`` is the seq in the file name (``None`` for ``task.json``).
        ``document`` is the JSON object, or ``None`` when the file is missing or cannot be
        used, and then ``problem`` says why. ``revision`` names the exact content read
        (``None`` when the file does not exist).
        """

        name: str
        location: str
        seq: Optional[str]
        document: Optional[Dict[str, Any]]
        problem: Optional[str]
        revision: Optional[str]

    class StoredFeature(NamedTuple):
        """A feature as stored: ``task`` (always present; its ``document`` is ``None`` when
        ``task.json`` is missing or unreadable) and ``subtasks`` in seq order (by the seq
        of the file name). ``folder`` is where the feature lives, for messages."""

        feature: str
        folder: str
        task: StoredFile
        subtasks: Tuple[StoredFile, ...]

else:
    StoredFile = collections.namedtuple(
        "StoredFile", ["name", "location", "seq", "document", "problem", "revision"]
    )
    StoredFile.__doc__ = "One task file as stored (see stageflow.storage._taskdocs)."
    StoredFeature = collections.namedtuple(
        "StoredFeature", ["feature", "folder", "task", "subtasks"]
    )
    StoredFeature.__doc__ = "A feature's task files as stored (see stageflow.storage._taskdocs)."

TASK_FILE = "task.json"
"""The name of a feature's task file."""

MISSING = "the file does not exist"
"""The ``problem`` of a :class:`StoredFile` that does not exist."""
