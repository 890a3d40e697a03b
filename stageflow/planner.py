"""The batch planner: which unfinished tasks can run together, in what order, and why.

:func:`plan` takes ``seq -> subtask document`` (the fields it reads: ``status``,
``depends_on``, ``parallel``, ``deliverables``, and the priority's field) and returns a
:class:`Plan`. The rules, exactly:

1. Only tasks not yet completed are planned; a completed dependency counts as satisfied.
   Every other status (``pending``, ``in_progress``, ``blocked``, anything else) is planned.
2. Generation *k* holds the tasks whose longest chain of unfinished dependencies has *k*
   tasks (:func:`stageflow.graph.longest_chain`): generation 0 waits on nothing unfinished.
3. Inside a generation, tasks are taken in seq order, or with ``priority`` by score, higher
   first, a task without a score last, ties in seq order.
4. The ``parallel: true`` tasks come first: each joins the first batch of its generation in
   which no task's deliverable paths overlap its own (see :mod:`stageflow._deliverables`),
   else it opens a new batch. Then each other task (``parallel: false`` or absent) is a batch
   of its own.
5. ``max_width`` splits every batch, in order, into consecutive chunks of at most that many.

Each :class:`PlannedTask` carries its explanation: the dependencies that place it in its
generation (``placed_by``), the :class:`Rule` that batched it, the tasks whose deliverables
kept it out of earlier batches (``conflicts``) and whether the width cap moved it.

:func:`critical_path` computes, from each task's ``estimated_effort`` (1 when absent), the
longest path through the unfinished tasks, its length, and every task's slack.

Planning refuses, rather than guesses: a dependency that names no task, or a field of the
wrong type, is a :class:`PlanError` naming every such task; cycles are a
:class:`~stageflow.graph.DependencyCycleError` naming every cycle (each strongly connected
component), even one whose tasks are all completed. :func:`plan_feature` and
:func:`feature_critical_path` read a stored feature, and refuse when a subtask file cannot be
used, since a plan without that task would be wrong.

This module is pure: no I/O, no clock, no module-level mutable state.
"""

from __future__ import annotations

import enum
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import attrs

from ._critical import CriticalPath, TaskTiming, critical_path
from ._deliverables import PathIndex
from ._names import seq_key
from ._planinput import (
    EFFORT_FIELD,
    PlanError,
    PlanProblem,
    chain_levels,
    deliverable_paths,
    feature_tasks,
    priority_scores,
    read_tasks,
)
from .errors import UsageError
from .storage._taskdocs import StoredFeature

__all__ = [
    "EFFORT_FIELD",
    "Batch",
    "Conflict",
    "CriticalPath",
    "Plan",
    "PlanError",
    "PlanProblem",
    "PlannedTask",
    "Rule",
    "TaskTiming",
    "critical_path",
    "feature_critical_path",
    "plan",
    "plan_feature",
]

Number = Union[int, float]
TaskInput = Mapping[str, Mapping[str, Any]]


class Rule(str, enum.Enum):
    """The rule that put a task in its batch."""

    PARALLEL = "parallel"
    """``parallel: true``: it joined the first batch of its generation (or opened it)."""
    CONFLICT = "conflict"
    """``parallel: true``, but its deliverables overlap a task of each earlier batch."""
    SEQUENTIAL = "sequential"
    """``parallel: false`` or absent: a batch of its own."""


@attrs.frozen
class Conflict:
    """Why a task could not join an earlier batch: its deliverable ``path`` overlaps the
    deliverable ``other`` of task ``seq`` there (both as written)."""

    seq: str
    path: str
    other: str


@attrs.frozen
class PlannedTask:
    """One task of a plan, with its explanation.

    ``generation`` is the length of its longest chain of unfinished dependencies, and
    ``placed_by`` its unfinished dependencies in the generation before (seq order), which put
    it there. ``batch`` is its batch's number (from 1). ``conflicts`` holds one
    :class:`Conflict` per earlier batch of the generation it could not join;
    ``width_capped`` is true when the width cap moved it out of the batch its rule chose.
    ``score`` is its priority score (None without a priority, or when it has none).
    """

    seq: str
    generation: int
    batch: int
    rule: Rule
    placed_by: Tuple[str, ...] = ()
    conflicts: Tuple[Conflict, ...] = ()
    width_capped: bool = False
    score: Optional[float] = None

    @property
    def explanation(self) -> str:
        """The explanation for people, e.g. ``generation 2 (after 02); parallel``."""
        after = ", ".join(self.placed_by)
        parts = [
            f"generation {self.generation} "
            + (f"(after {after})" if after else "(no unfinished dependency)")
        ]
        if self.rule is Rule.SEQUENTIAL:
            parts.append("not parallel: a batch of its own")
        elif self.rule is Rule.CONFLICT:
            overlaps = ", ".join(f"{c.seq} ({c.path} with {c.other})" for c in self.conflicts)
            parts.append(f"parallel, but its deliverables overlap {overlaps}")
        else:
            parts.append("parallel")
        if self.width_capped:
            parts.append("moved to a later batch by the width cap")
        if self.score is not None:
            parts.append(f"priority {self.score:g}")
        return "; ".join(parts)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description, with the explanation as ``text``."""
        return {
            "generation": self.generation,
            "batch": self.batch,
            "rule": self.rule.value,
            "placed_by": list(self.placed_by),
            "conflicts": [attrs.asdict(c) for c in self.conflicts],
            "width_capped": self.width_capped,
            "score": self.score,
            "text": self.explanation,
        }


@attrs.frozen
class Batch:
    """Tasks that can run at the same time: ``number`` (from 1), ``generation``, ``tasks``."""

    number: int
    generation: int
    tasks: Tuple[PlannedTask, ...]

    @property
    def seqs(self) -> Tuple[str, ...]:
        """The seqs of the batch's tasks, in order."""
        return tuple(task.seq for task in self.tasks)


@attrs.frozen
class Plan:
    """The batches, in order; the ``generations`` (seqs in the order used); the
    ``completed`` tasks left out (seq order); and the options it was planned with."""

    batches: Tuple[Batch, ...]
    generations: Tuple[Tuple[str, ...], ...]
    completed: Tuple[str, ...] = ()
    max_width: Optional[int] = None
    priority: Optional[str] = None

    @property
    def tasks(self) -> Dict[str, PlannedTask]:
        """seq -> planned task, in plan order."""
        return {task.seq: task for batch in self.batches for task in batch.tasks}

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description: ``batches`` and ``generations`` as lists of seqs,
        ``explanations`` (seq -> :meth:`PlannedTask.to_dict`), ``completed``, the options."""
        return {
            "batches": [list(batch.seqs) for batch in self.batches],
            "generations": [list(generation) for generation in self.generations],
            "explanations": {seq: task.to_dict() for seq, task in self.tasks.items()},
            "completed": list(self.completed),
            "max_width": self.max_width,
            "priority": self.priority,
        }


def _check_options(max_width: Optional[int], priority: Optional[str]) -> None:
    width: object = max_width
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
        raise UsageError(f"max_width must be an integer >= 1, not {width!r}")
    name: object = priority
    if name is not None and (not isinstance(name, str) or not name):
        raise UsageError(f"priority must be 'rice', 'wsjf' or a field name, not {name!r}")


def _generations(
    chains: Dict[str, int], scores: Optional[Dict[str, Optional[float]]]
) -> List[List[str]]:
    """Rules 2 and 3: the unfinished tasks by generation, each in the order used."""
    generations: List[List[str]] = [[] for _ in range(max(chains.values(), default=-1) + 1)]
    for seq, level in chains.items():  # seq order
        generations[level].append(seq)
    if scores is not None:

        def rank(seq: str) -> Tuple[int, float]:
            score = scores[seq]
            return (1, 0.0) if score is None else (0, -score)

        for members in generations:  # the sort is stable: ties stay in seq order
            members.sort(key=rank)
    return generations


# A batch being built: its path index and its members, each (seq, conflicts).
_Group = Tuple[PathIndex, List[Tuple[str, Tuple[Conflict, ...]]]]


def _batch_generation(
    members: List[str], documents: Mapping[str, Mapping[str, Any]]
) -> Tuple[List[List[Tuple[str, Tuple[Conflict, ...]]]], List[str]]:
    """Rule 4 for one generation: the batches of its parallel tasks, each task with its
    conflicts, then the other tasks, each a batch of its own."""
    groups: List[_Group] = []
    alone: List[str] = []
    for seq in members:
        document = documents[seq]
        if document.get("parallel") is not True:
            alone.append(seq)
            continue
        paths = deliverable_paths(document)
        conflicts: List[Conflict] = []
        chosen: Optional[_Group] = None
        for group in groups:
            hit = None
            for key, entry in paths:
                found = group[0].overlap(key)
                if found is not None:
                    hit = Conflict(found[0], entry, found[1])
                    break
            if hit is None:
                chosen = group
                break
            conflicts.append(hit)
        if chosen is None:
            chosen = (PathIndex(), [])
            groups.append(chosen)
        for key, entry in paths:
            chosen[0].add(key, seq, entry)
        chosen[1].append((seq, tuple(conflicts)))
    return [group[1] for group in groups], alone


def _placed_by(deps: Sequence[str], chains: Dict[str, int], level: int) -> Tuple[str, ...]:
    """The dependencies (``depends_on`` as written) in the generation before ``level``."""
    if level == 0:
        return ()
    before = level - 1
    found = [dep for dep in deps if chains.get(dep) == before]
    if len(found) > 1:
        found = sorted(set(found), key=seq_key)
    return tuple(found)


def plan(
    tasks: TaskInput, *, max_width: Optional[int] = None, priority: Optional[str] = None
) -> Plan:
    """The batches of the unfinished ``tasks`` (``seq -> document``), by the module's rules.

    ``max_width`` (an integer >= 1) caps every batch; ``priority`` is ``"rice"`` (the
    ``rice_score`` block's ``score``, else the score computed from its inputs), ``"wsjf"``
    (``wsjf_score`` likewise) or the name of a numeric top-level field. Raises
    :class:`PlanError`, :class:`~stageflow.graph.DependencyCycleError`, or
    :class:`~stageflow.errors.UsageError` for a bad option. The same input always gives the
    same plan, whatever the order of the mapping.
    """
    _check_options(max_width, priority)
    checked = read_tasks(tasks)
    documents, deps = checked.documents, checked.deps
    chains = chain_levels(checked)
    scores = None
    if priority is not None:
        scores = priority_scores({seq: documents[seq] for seq in chains}, priority)
    generations = _generations(chains, scores)
    batches: List[Batch] = []
    for level, members in enumerate(generations):
        parallel, alone = _batch_generation(members, documents)
        for group in parallel:
            width = len(group) if max_width is None else max_width
            for start in range(0, len(group), width):
                number = len(batches) + 1
                planned = tuple(
                    [
                        PlannedTask(
                            seq,
                            level,
                            number,
                            Rule.CONFLICT if conflicts else Rule.PARALLEL,
                            _placed_by(deps[seq], chains, level),
                            conflicts,
                            start > 0,
                            None if scores is None else scores[seq],
                        )
                        for seq, conflicts in group[start : start + width]
                    ]
                )
                batches.append(Batch(number, level, planned))
        for seq in alone:  # a batch of one: the width cap never moves it
            number = len(batches) + 1
            only = PlannedTask(
                seq,
                level,
                number,
                Rule.SEQUENTIAL,
                _placed_by(deps[seq], chains, level),
                score=None if scores is None else scores[seq],
            )
            batches.append(Batch(number, level, (only,)))
    return Plan(
        tuple(batches),
        tuple(tuple(members) for members in generations),
        tuple(seq for seq in documents if seq in checked.completed),
        max_width,
        priority,
    )


# -- stored features ---------------------------------------------------------------------------


def plan_feature(
    stored: StoredFeature, *, max_width: Optional[int] = None, priority: Optional[str] = None
) -> Plan:
    """:func:`plan` of a stored feature's subtasks. Raises :class:`PlanError` naming every
    subtask file that cannot be used, and every task that depends on one."""
    return plan(feature_tasks(stored), max_width=max_width, priority=priority)


def feature_critical_path(stored: StoredFeature) -> CriticalPath:
    """:func:`critical_path` of a stored feature's subtasks (refusing as
    :func:`plan_feature` does)."""
    return critical_path(feature_tasks(stored))
