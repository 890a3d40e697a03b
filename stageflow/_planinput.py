"""What the planner reads from a task: checked once, every problem named.

:func:`read_tasks` turns ``seq -> subtask document`` into :class:`CheckedTasks` (the graph by
position) and :func:`chain_levels` gives each task's generation; the module also reads the
facts the rules need (``parallel``, deliverable paths, a priority score, the estimated
effort). A value the planner cannot read is a :class:`PlanError` that names every
such task, never a task silently dropped or a dependency silently ignored: a plan built on
them would be wrong. :func:`feature_tasks` does the same for a stored feature, naming the
files that cannot be used.

This module is pure: no I/O, no clock, no module-level mutable state.
"""

from __future__ import annotations

import math
from collections import abc
from itertools import repeat
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union

import attrs

from ._deliverables import PathKey, path_key
from ._names import sorted_seqs
from ._taskview import problem_of
from .errors import UsageError
from .graph import (
    DependencyCycleError,
    GraphError,
    TaskGraph,
    TaskNode,
    _chain_levels,
    _list,
    find_cycles,
)
from .scoring import rice_score, wsjf_score
from .storage._taskdocs import StoredFeature

__all__ = [
    "EFFORT_FIELD",
    "CheckedTasks",
    "PlanError",
    "PlanProblem",
    "deliverable_paths",
    "effort_of",
    "feature_tasks",
    "priority_scores",
    "read_tasks",
    "chain_levels",
]

_COMPLETED = "completed"

EFFORT_FIELD = "estimated_effort"
"""The subtask field with a task's estimated effort (a number > 0; 1 when absent)."""

Number = Union[int, float]
TaskInput = Mapping[str, Mapping[str, Any]]


@attrs.frozen
class PlanProblem:
    """Why one task (``seq``; None for a file without one) cannot be planned; ``file``
    names its file when it came from a store."""

    seq: Optional[str]
    message: str
    file: Optional[str] = None


class PlanError(GraphError):
    """The tasks cannot be planned; ``problems`` holds every :class:`PlanProblem`."""

    def __init__(self, problems: Sequence[PlanProblem]) -> None:
        self.problems: Tuple[PlanProblem, ...] = tuple(problems)
        count = len(self.problems)
        super().__init__(
            f"cannot plan: {count} problem{'' if count == 1 else 's'}: "
            + _list((p.message for p in self.problems), "; ")
        )
        self.args = (self.problems,)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description, with every problem."""
        return {**super().to_dict(), "problems": [attrs.asdict(p) for p in self.problems]}


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class CheckedTasks(NamedTuple):
    """The tasks as :func:`read_tasks` checked them.

    ``documents`` maps each seq to its document, in seq order; ``deps`` each seq to its
    ``depends_on`` as written (every entry a seq of ``documents``), in seq order too;
    ``completed`` holds the seqs of the completed tasks.
    """

    documents: Dict[str, Mapping[str, Any]]
    deps: Dict[str, Sequence[str]]
    completed: Set[str]

    def graph(self) -> TaskGraph:
        """The same tasks as a :class:`~stageflow.graph.TaskGraph`."""
        return TaskGraph(
            TaskNode(seq, document["status"], self.deps[seq])
            for seq, document in self.documents.items()
        )


def read_tasks(tasks: TaskInput) -> CheckedTasks:
    """The checked tasks, or :class:`PlanError`.

    Each document needs a string ``status``; ``depends_on`` (a list of seqs of ``tasks``),
    ``parallel`` (true or false) and, for a parallel task, ``deliverables`` (a list of
    strings) are optional. The problems come in the mapping's order, then the missing
    dependencies task by task in seq order.
    """
    value: object = tasks
    if not isinstance(value, abc.Mapping):
        raise GraphError(f"expected a mapping of seq -> task, not {type(value).__name__}")
    problems: List[PlanProblem] = []
    found: Dict[str, Mapping[str, Any]] = {}
    items: Any = tasks.items()  # checked here: the caller's types are not trusted
    for seq, document in items:
        if not isinstance(seq, str) or not seq:
            problems.append(PlanProblem(None, f"a seq must be a non-empty string, not {seq!r}"))
        elif not isinstance(document, abc.Mapping):
            problems.append(PlanProblem(seq, f"task {seq} is {_shown(document)}, not an object"))
        elif _plain(document):
            found[seq] = document
        else:
            problems.extend(_problems_of(seq, document))
    documents = {seq: found[seq] for seq in sorted_seqs(found)}
    deps: Dict[str, Sequence[str]] = {}
    completed: Set[str] = set()
    named = {problem.seq for problem in problems}
    for seq, document in documents.items():
        written = deps[seq] = document.get("depends_on", ())
        if document["status"] == _COMPLETED:
            completed.add(seq)
        if not all(map(documents.__contains__, written)):
            problems.extend(
                PlanProblem(seq, f"task {seq} depends on {dep}, which does not exist")
                for dep in written
                if dep not in documents and dep not in named
            )
    if problems:
        raise PlanError(problems)
    return CheckedTasks(documents, deps, completed)


def chain_levels(checked: CheckedTasks) -> Dict[str, int]:
    """Each unfinished task's longest chain of unfinished dependencies, in seq order, as
    :func:`~stageflow.graph.longest_chain` defines it (the planner's generation); raises
    :class:`~stageflow.graph.DependencyCycleError` naming every cycle when there is one."""
    levels = _chain_levels(checked.deps, checked.completed)
    if levels is None:  # not every task could be ordered: name every cycle
        raise DependencyCycleError(find_cycles(checked.graph()))
    return levels


def _plain(document: Mapping[str, Any]) -> bool:
    """True when the fields the planner reads have their types (the fast path)."""
    if type(document.get("status")) is not str:
        return False
    deps = document.get("depends_on", ())
    if type(deps) not in (list, tuple) or not all(map(isinstance, deps, repeat(str))):
        return False
    parallel = document.get("parallel", False)
    if parallel is True:
        made = document.get("deliverables", ())
        return type(made) in (list, tuple) and all(map(isinstance, made, repeat(str)))
    return parallel is False


def _problems_of(seq: str, document: Mapping[str, Any]) -> List[PlanProblem]:
    found: List[str] = []
    status = document.get("status")
    if not isinstance(status, str):
        found.append(f"task {seq}: status must be a string, not {_shown(status)}")
    deps = document.get("depends_on", ())
    if not isinstance(deps, (list, tuple)) or not all(isinstance(d, str) for d in deps):
        found.append(f"task {seq}: depends_on must be a list of seqs, not {_shown(deps)}")
    parallel = document.get("parallel", False)
    if not isinstance(parallel, bool):
        found.append(f"task {seq}: parallel must be true or false, not {_shown(parallel)}")
    made = document.get("deliverables", ()) if parallel is True else ()
    if not isinstance(made, (list, tuple)) or not all(isinstance(d, str) for d in made):
        found.append(f"task {seq}: deliverables must be a list of strings, not {_shown(made)}")
    return [PlanProblem(seq, message) for message in found]


def deliverable_paths(document: Mapping[str, Any]) -> List[Tuple[PathKey, str]]:
    """The deliverables that name paths: ``(normalised key, entry as written)``."""
    found = []
    for entry in document.get("deliverables", ()):
        key = path_key(entry)
        if key is not None:
            found.append((key, entry))
    return found


def _block_score(block: object, kind: str) -> Optional[float]:
    """A score block's stored ``score``, else the score computed from its inputs, else None."""
    if not isinstance(block, Mapping):
        return None
    stored: Any = block.get("score")
    if _is_number(stored):
        return float(stored)
    inputs: List[Any]
    try:
        if kind == "rice":
            inputs = [block.get(k) for k in ("reach", "impact", "confidence", "effort")]
            return rice_score(*inputs)
        inputs = [
            block.get(k)
            for k in ("business_value", "time_criticality", "risk_reduction", "job_size")
        ]
        return wsjf_score(*inputs)
    except UsageError:  # inputs missing or out of range
        return None


def priority_scores(
    documents: Mapping[str, Mapping[str, Any]], priority: str
) -> Dict[str, Optional[float]]:
    """Each task's score for ``priority`` (``rice``, ``wsjf`` or a field), None when it
    has none: ``rice_score``/``wsjf_score`` blocks as :func:`_block_score` reads them, or the
    field's value when it is a finite number (not a boolean)."""
    if priority in ("rice", "wsjf"):
        name = f"{priority}_score"
        return {seq: _block_score(doc.get(name), priority) for seq, doc in documents.items()}
    scores: Dict[str, Optional[float]] = {}
    for seq, doc in documents.items():
        value: Any = doc.get(priority)
        scores[seq] = float(value) if _is_number(value) else None
    return scores


def effort_of(seq: str, document: Mapping[str, Any]) -> Union[Number, PlanProblem]:
    """The task's estimated effort (1 when absent), or the problem with it."""
    if EFFORT_FIELD not in document:
        return 1
    value = document[EFFORT_FIELD]
    if _is_number(value) and value > 0:
        number: Number = value
        return number
    return PlanProblem(seq, f"task {seq}: {EFFORT_FIELD} must be a number > 0, not {_shown(value)}")


def feature_tasks(stored: StoredFeature) -> Dict[str, Mapping[str, Any]]:
    """``seq -> document`` of a stored feature's subtasks, or :class:`PlanError` naming every
    file that cannot be used (unreadable, or its ``seq`` field against its file name) and
    every task that depends on one."""
    problems: List[PlanProblem] = []
    documents: Dict[str, Mapping[str, Any]] = {}
    for file in stored.subtasks:
        problem = problem_of(file)
        if problem is None and file.document is not None:
            documents[str(file.seq)] = file.document
        else:
            message = f"{file.location}: {problem}"
            problems.append(PlanProblem(file.seq, message, file.location))
    if problems:
        unusable = {p.seq for p in problems}
        for seq, document in documents.items():
            deps = document.get("depends_on")
            for dep in deps if isinstance(deps, list) else ():
                if dep in unusable:
                    problems.append(
                        PlanProblem(seq, f"task {seq} depends on {dep}, whose file cannot be used")
                    )
        raise PlanError(problems)
    return documents
