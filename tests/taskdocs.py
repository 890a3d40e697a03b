"""Task files for tests: ``task.json`` and ``subtask_{seq}.json`` documents of a feature."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Sequence, Tuple


def subtask(feature: str, seq: str, depends_on: Sequence[str] = (), **extra: Any) -> Dict[str, Any]:
    """A pending subtask ``seq`` of ``feature`` (``extra`` adds or replaces fields)."""
    document: Dict[str, Any] = {
        "id": f"{feature}-{seq}",
        "seq": seq,
        "title": f"Subtask {seq}",
        "status": "pending",
        "depends_on": list(depends_on),
        "parallel": True,
        "acceptance_criteria": ["works"],
        "deliverables": [f"src/{seq}.py"],
    }
    document.update(extra)
    return document


def task(feature: str, count: int, **extra: Any) -> Dict[str, Any]:
    """The ``task.json`` of ``feature`` with ``count`` subtasks, none completed."""
    document: Dict[str, Any] = {
        "id": feature,
        "name": feature.capitalize(),
        "status": "active",
        "objective": f"Test {feature}",
        "created_at": "2026-01-01T00:00:00Z",
        "subtask_count": count,
        "completed_count": 0,
    }
    document.update(extra)
    return document


def feature(
    name: str,
    seqs: Iterable[str],
    depends_on: Callable[[int, str], List[str]] = lambda n, seq: [],
) -> Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]:
    """``(task, {seq: subtask})`` for ``TaskStore.create(name, *feature(...))``: the
    subtasks ``seqs`` in order, the ``n``-th (from 0) depending on ``depends_on(n, seq)``."""
    subtasks = {seq: subtask(name, seq, depends_on(n, seq)) for n, seq in enumerate(seqs)}
    return task(name, len(subtasks)), subtasks
