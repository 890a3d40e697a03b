"""Pure views of a stored feature: which file holds which seq, counts, ready subtasks.

Functions here take a :class:`~stageflow.storage._taskdocs.StoredFeature` and return plain
values; they read no file and never raise for a bad file (an unreadable subtask is neither
ready nor completed, and is listed under ``problems``). The CLI renders what they return,
and :class:`~stageflow.tracker.TaskTracker` decides with them. Nothing heavy is imported:
``stageflow task status`` runs on them.
"""

from __future__ import annotations

from ._names import seq_key
from .errors import NotFound, StateFileError, UsageError
from .storage._taskdocs import MISSING
from .tasks import COMPLETED, STATUSES, ready_seqs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from .storage._taskdocs import StoredFeature, StoredFile

__all__ = ["by_seq", "find_subtask", "ready", "subtask_map", "summary"]


def seq_of(file: StoredFile) -> Optional[str]:
    """The subtask's seq: the document's ``seq`` when it is a string, else the file's."""
    document = file.document
    if document is not None:
        seq = document.get("seq")
        if isinstance(seq, str):
            return seq
    return file.seq


def by_seq(stored: StoredFeature) -> Dict[str, List[StoredFile]]:
    """seq -> the files that hold it (more than one when seqs are duplicated), seq order."""
    found: Dict[str, List[StoredFile]] = {}
    for file in stored.subtasks:
        seq = seq_of(file)
        if seq is not None:
            found.setdefault(seq, []).append(file)
    return {seq: found[seq] for seq in sorted(found, key=seq_key)}


def subtask_map(stored: StoredFeature) -> Dict[str, Any]:
    """seq -> subtask document, as :mod:`stageflow.tasks` takes it.

    A seq held by an unreadable file, or by more than one file, maps to ``None``: it is
    neither ready nor completed, so it can be neither claimed nor satisfy a dependency
    until the files are fixed.
    """
    return {
        seq: files[0].document if len(files) == 1 else None for seq, files in by_seq(stored).items()
    }


def find_subtask(stored: StoredFeature, seq: str) -> StoredFile:
    """The file of subtask ``seq``: the one named ``subtask_{seq}.json``, else the one file
    whose document has that seq.

    Raises :class:`NotFound` (with the nearest seqs named), :class:`UsageError` when
    several files claim the seq, and :class:`StateFileError` when the file cannot be used.
    """
    if not isinstance(seq, str) or not seq:
        raise UsageError(f"a seq is a non-empty string such as '01', not {seq!r}")
    named = [f for f in stored.subtasks if f.seq == seq]
    found = named or [f for f in stored.subtasks if f.document and f.document.get("seq") == seq]
    if len(found) > 1:
        raise UsageError(
            f"seq {seq!r} of feature {stored.feature!r} is held by "
            f"{', '.join(f.location for f in found)}; give each subtask its own seq"
        )
    if not found:
        known = list(by_seq(stored))
        similar = [s for s in known if seq.isdigit() and s.isdigit() and int(s) == int(seq)]
        hint = f"; did you mean {similar[0]!r}?" if similar else ""
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise NotFound(
            f"subtask {seq!r} not found in feature {stored.feature!r}"
            f" (seqs: {shown or 'none'}){hint}",
            stored.feature,
        )
    file = found[0]
    if file.document is None:
        raise StateFileError(file.location, str(file.problem))
    return file


def _row(file: StoredFile) -> Dict[str, Any]:
    document = file.document or {}

    def text(key: str) -> Any:
        value = document.get(key)
        return value if isinstance(value, str) else None

    deps = document.get("depends_on")
    return {
        "seq": seq_of(file),
        "file": file.location,
        "title": text("title"),
        "status": text("status"),
        "agent_id": text("agent_id"),
        "depends_on": [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else [],
        "parallel": document.get("parallel") is True,
    }


def problems(stored: StoredFeature) -> List[Dict[str, str]]:
    """Every file that could not be used: ``{"file", "problem"}``."""
    found = [{"file": f.location, "problem": str(f.problem)} for f in stored.subtasks if f.problem]
    if stored.task.problem:
        found.insert(0, {"file": stored.task.location, "problem": str(stored.task.problem)})
    return found


def summary(stored: StoredFeature) -> Dict[str, Any]:
    """The feature's status: counts from the subtask files (never from ``task.json``'s own
    counts, which are a cache), progress, one row per subtask, and unusable files."""
    task = stored.task.document or {}
    counts = dict.fromkeys(STATUSES, 0)
    other = 0
    rows = []
    for file in stored.subtasks:
        row = _row(file)
        rows.append(row)
        if row["status"] in counts:
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
        "progress": round(done * 100 / total) if total else 0,
        "counts": {**counts, "other": other},
        "subtasks": rows,
        "problems": problems(stored),
    }


def ready(stored: StoredFeature, parallel_only: bool = False) -> List[Dict[str, Any]]:
    """The rows of the ready subtasks (pending, every dependency completed), seq order;
    with ``parallel_only``, only those with ``parallel: true``."""
    files = by_seq(stored)
    rows = [_row(files[seq][0]) for seq in ready_seqs(subtask_map(stored))]
    return [r for r in rows if r["parallel"]] if parallel_only else rows


def waiting(stored: StoredFeature) -> Tuple[int, int, int]:
    """(in progress, pending but waiting on dependencies, blocked): why nothing is ready."""
    counts = summary(stored)["counts"]
    return (
        counts["in_progress"],
        counts["pending"] - len(ready(stored)),
        counts["blocked"],
    )
