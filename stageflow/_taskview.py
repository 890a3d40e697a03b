"""Pure views of a stored feature: which file is which subtask, counts, ready subtasks.

A subtask's identity is the seq of its **file name** (``subtask_07.json`` is subtask
``07``): that is where a write must go, and file names are unique. A file whose ``seq``
field says something else is *unusable* until one of them is fixed: it is neither ready
nor completed, no move touches it, and it is listed under ``problems`` (the validator's
``seq-filename`` finding). So a claim and the move that follows always name the same file.

Functions here take a :class:`~stageflow.storage._taskdocs.StoredFeature` and return plain
values; they read no file and never raise for a bad file. The CLI renders what they
return, and :class:`~stageflow.tracker.TaskTracker` decides with them. Nothing heavy is
imported: ``stageflow task status`` runs on them.
"""

from __future__ import annotations

from .errors import NotFound, StateFileError, UsageError
from .storage._taskdocs import MISSING
from .tasks import COMPLETED, STATUSES, ready_seqs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from .graph import DepsTree, TaskGraph
    from .storage._taskdocs import StoredFeature, StoredFile

__all__ = [
    "by_seq",
    "deps_of",
    "find_subtask",
    "graph_of",
    "problem_of",
    "problems",
    "ready",
    "subtask_map",
    "summary",
]


def problem_of(file: StoredFile) -> Optional[str]:
    """Why the subtask in ``file`` cannot be used, or ``None``."""
    if file.document is None:
        return str(file.problem)
    inside = file.document.get("seq", file.seq)
    if inside != file.seq:
        return (
            f"its seq field says {inside!r} but its file name says {file.seq!r}; "
            "rename the file or fix the seq"
        )
    return None


def by_seq(stored: StoredFeature) -> Dict[str, StoredFile]:
    """seq (of the file name) -> file, in seq order."""
    return {str(file.seq): file for file in stored.subtasks}


def subtask_map(stored: StoredFeature) -> Dict[str, Any]:
    """seq -> subtask document, as :mod:`stageflow.tasks` takes it; an unusable file maps
    to ``None`` (neither ready nor completed)."""
    return {str(file.seq): None if problem_of(file) else file.document for file in stored.subtasks}


def find_subtask(stored: StoredFeature, seq: str) -> StoredFile:
    """The file ``subtask_{seq}.json``, ready to be moved.

    Raises :class:`NotFound` (naming the seq meant, when only leading zeros differ),
    :class:`UsageError` for a seq that is not a string, and :class:`StateFileError` naming
    the file when it cannot be used.
    """
    if not isinstance(seq, str) or not seq:
        raise UsageError(f"a seq is a non-empty string such as '01', not {seq!r}")
    file = by_seq(stored).get(seq)
    if file is None:
        known = list(by_seq(stored))
        digits = seq.isascii() and seq.isdigit()
        similar = [s for s in known if digits and s.isdigit() and s.lstrip("0") == seq.lstrip("0")]
        hint = f"; did you mean {similar[0]!r}?" if similar else ""
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise NotFound(
            f"subtask {seq!r} not found in feature {stored.feature!r}"
            f" (seqs: {shown or 'none'}){hint}",
            stored.feature,
        )
    problem = problem_of(file)
    if problem is not None:
        raise StateFileError(file.location, problem)
    return file


def _row(file: StoredFile) -> Dict[str, Any]:
    document = file.document or {}

    def text(key: str) -> Any:
        value = document.get(key)
        return value if isinstance(value, str) else None

    deps = document.get("depends_on")
    return {
        "seq": file.seq,
        "file": file.location,
        "title": text("title"),
        "status": text("status") if file.document is not None else None,
        "agent_id": text("agent_id"),
        "depends_on": [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else [],
        "parallel": document.get("parallel") is True,
    }


def problems(stored: StoredFeature) -> List[Dict[str, str]]:
    """Every file that cannot be used: ``{"file", "problem"}``. A missing ``task.json`` is
    not one (moves work without it); :func:`summary` says it is missing."""
    found = []
    if stored.task.problem and stored.task.problem != MISSING:
        found.append({"file": stored.task.location, "problem": str(stored.task.problem)})
    for file in stored.subtasks:
        problem = problem_of(file)
        if problem is not None:
            found.append({"file": file.location, "problem": problem})
    return found


def summary(stored: StoredFeature) -> Dict[str, Any]:
    """The feature's status: counts from the subtask files (never from ``task.json``'s own
    counts, which are a cache), progress, one row per subtask, and unusable files.

    ``counts`` has one entry per status, ``other`` for a status outside them and
    ``unreadable`` for files that could not be read. ``progress`` is the completed
    percentage, rounded half up.
    """
    task = stored.task.document or {}
    counts = dict.fromkeys(STATUSES, 0)
    other = unreadable = 0
    rows = []
    for file in stored.subtasks:
        row = _row(file)
        rows.append(row)
        if file.document is None:
            unreadable += 1
        elif row["status"] in counts:
            counts[row["status"]] += 1
        else:
            other += 1
    total = len(rows)
    done = counts[COMPLETED]

    def text(key: str) -> Any:
        value = task.get(key)
        return value if isinstance(value, str) else None

    return {
        "feature": stored.feature,
        "folder": stored.folder,
        "name": text("name"),
        "status": text("status"),
        "objective": text("objective"),
        "has_task_file": stored.task.problem != MISSING,
        "subtask_count": total,
        "completed_count": done,
        "progress": (200 * done + total) // (2 * total) if total else 0,
        "counts": {**counts, "other": other, "unreadable": unreadable},
        "subtasks": rows,
        "problems": problems(stored),
    }


def ready(stored: StoredFeature, parallel_only: bool = False) -> List[Dict[str, Any]]:
    """The rows of the ready subtasks (pending, every dependency completed), seq order;
    with ``parallel_only``, only those with ``parallel: true``."""
    files = by_seq(stored)
    rows = [_row(files[seq]) for seq in ready_seqs(subtask_map(stored))]
    return [r for r in rows if r["parallel"]] if parallel_only else rows


def graph_of(stored: StoredFeature) -> TaskGraph:
    """The feature's dependency graph: one node per subtask file (an unusable one has no
    status and no dependencies). Imports :mod:`stageflow.graph` (attrs) when called."""
    from .graph import TaskGraph, TaskNode

    nodes = []
    for seq, document in subtask_map(stored).items():
        doc = document or {}
        status = doc.get("status")
        deps = doc.get("depends_on")
        nodes.append(
            TaskNode(
                seq,
                status if isinstance(status, str) else "",
                [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else [],
            )
        )
    return TaskGraph(nodes)


def deps_of(stored: StoredFeature, seq: str) -> DepsTree:
    """The dependency tree of subtask ``seq`` (which must be usable): shared subtrees shown
    once, safe on cycles. Imports :mod:`stageflow.graph` (attrs) when called."""
    from .graph import deps_tree

    find_subtask(stored, seq)
    return deps_tree(graph_of(stored), seq)
