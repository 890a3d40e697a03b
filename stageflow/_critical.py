"""The critical path of a feature's unfinished tasks: its length and every task's slack.

Re-exported by :mod:`stageflow.planner`, which documents the rules. A task takes its
``estimated_effort`` (a number > 0; 1 when absent); a completed task takes no time and
counts as done.

This module is pure: no I/O, no clock, no module-level mutable state.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple, Union

import attrs

from ._names import seq_key
from ._planinput import PlanError, PlanProblem, chain_levels, effort_of, read_tasks

__all__ = ["CriticalPath", "TaskTiming", "critical_path"]

Number = Union[int, float]
TaskInput = Mapping[str, Mapping[str, Any]]


@attrs.frozen
class TaskTiming:
    """One unfinished task's place in the schedule, in effort units from the start:
    ``earliest_start``, ``latest_start`` (without delaying the end) and ``slack`` (their
    difference); ``critical`` is true when the slack is 0."""

    seq: str
    effort: Number
    earliest_start: Number
    latest_start: Number
    slack: Number

    @property
    def critical(self) -> bool:
        """True when the task has no slack."""
        return self.slack == 0


@attrs.frozen
class CriticalPath:
    """The longest path through the unfinished tasks by effort.

    ``path`` is the chain of seqs, first task first; ``length`` its total effort; ``tasks``
    every unfinished task's :class:`TaskTiming` in seq order; ``completed`` the tasks left
    out. Of several longest paths, ``path`` ends at the first task in seq order that finishes
    last, and steps back each time to the first dependency in seq order that finishes when
    the task starts.
    """

    path: Tuple[str, ...]
    length: Number
    tasks: Tuple[TaskTiming, ...] = ()
    completed: Tuple[str, ...] = ()

    @property
    def slack(self) -> Dict[str, Number]:
        """seq -> slack, in seq order."""
        return {timing.seq: timing.slack for timing in self.tasks}

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description: ``path``, ``length``, ``slack``, ``tasks``,
        ``completed``."""
        return {
            "path": list(self.path),
            "length": self.length,
            "slack": self.slack,
            "tasks": [{**attrs.asdict(t), "critical": t.critical} for t in self.tasks],
            "completed": list(self.completed),
        }


def critical_path(tasks: TaskInput) -> CriticalPath:
    """The critical path of the unfinished ``tasks`` (``seq -> document``).

    A task takes its ``estimated_effort`` (a number > 0; 1 when absent); completed tasks take
    no time. Floating-point slack within 1e-9 of the length is taken as 0. Raises as
    :func:`plan` does, and :class:`PlanError` for an ``estimated_effort`` that is not a
    number > 0.
    """
    checked = read_tasks(tasks)
    documents = checked.documents
    chains = chain_levels(checked)
    effort: Dict[str, Number] = {}
    problems: List[PlanProblem] = []
    for seq in chains:
        value = effort_of(seq, documents[seq])
        if isinstance(value, PlanProblem):
            problems.append(value)
        else:
            effort[seq] = value
    if problems:
        raise PlanError(problems)
    order = sorted(chains, key=chains.__getitem__)  # a topological order
    deps = {seq: [d for d in dict.fromkeys(checked.deps[seq]) if d in chains] for seq in order}
    start: Dict[str, Number] = {}
    finish: Dict[str, Number] = {}
    for seq in order:
        start[seq] = max((finish[dep] for dep in deps[seq]), default=0)
        finish[seq] = start[seq] + effort[seq]
    length: Number = max(finish.values(), default=0)
    latest: Dict[str, Number] = dict.fromkeys(order, length)  # latest finish
    for seq in reversed(order):
        begin = latest[seq] - effort[seq]
        for dep in deps[seq]:
            if begin < latest[dep]:
                latest[dep] = begin
    tolerance = 1e-9 * max(1.0, float(length))
    timings = []
    for seq in chains:  # seq order
        late = latest[seq] - effort[seq]
        slack = late - start[seq]
        if isinstance(slack, float) and abs(slack) <= tolerance:
            slack = 0
        timings.append(TaskTiming(seq, effort[seq], start[seq], late, slack))
    path: List[str] = []
    ends = [seq for seq in chains if finish[seq] == length]
    current = ends[0] if ends else None
    while current is not None:
        path.append(current)
        before = sorted((d for d in deps[current] if finish[d] == start[current]), key=seq_key)
        current = before[0] if before else None
    path.reverse()
    completed = tuple(seq for seq in documents if seq in checked.completed)
    return CriticalPath(tuple(path), length, tuple(timings), completed)
