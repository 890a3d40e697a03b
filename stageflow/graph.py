"""The dependency graph of a feature's subtasks: checks, cycles, ready and blocked tasks, the
dependency tree, topological order and chain lengths.

Every function takes a :class:`TaskGraph`, or a plain mapping ``seq -> (status,
depends_on)`` that it turns into one::

    >>> ready({"01": ("completed", ()), "02": ("pending", ["01"]), "03": ("pending", ["02"])})
    ('02',)

Seqs are strings (``"01"``, ``"117"``). They sort in :func:`seq_key` order: numeric strings
by value, then as strings (``"9" < "010" < "10" < "11"``), then any other string. Statuses
are the subtask statuses ``pending``, ``in_progress``, ``completed`` and ``blocked``; any other
string is kept and treated as unfinished (the schema check reports it).

:func:`check_graph` reports the dependency problems as
:class:`~stageflow.findings.Finding` values with stable codes, and never raises on a graph:

``dependency-missing`` (error)
    a ``depends_on`` entry names no task of the graph;
``dependency-self`` (error)
    a task depends on itself (the self-loop is also a ``dependency-cycle``);
``dependency-duplicate`` (warning)
    one ``depends_on`` list names the same task more than once;
``dependency-cycle`` (error)
    tasks that depend on each other: each strongly connected component with more than
    one task, or with a self-loop, is reported once, with a path that closes the cycle
    (``03 -> 05 -> 03``) through its smallest seq;
``blocked-by-cycle`` (warning)
    an unfinished task outside every cycle that can never become ready because of one: it
    depends, directly or through other unfinished tasks, on an unfinished member of a
    cycle. Reported once per task, naming every such cycle. A completed dependency counts
    as satisfied, so it shields the tasks that depend on it, as in :func:`ready`.

Cycles are found with Tarjan's algorithm and every traversal is iterative, so a graph of any
size or depth is safe from the recursion limit. Orders use :mod:`graphlib`.

This module is pure: no I/O, no clock, no module-level mutable state.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import (
    Any,
    Container,
    Dict,
    FrozenSet,
    Hashable,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
    Union,
)

import attrs
import graphlib

from ._names import seq_key
from .errors import UsageError
from .findings import Finding, Severity

__all__ = [
    "GRAPH_CODES",
    "BlockedTask",
    "Cycle",
    "DependencyCycleError",
    "DepsEntry",
    "DepsMark",
    "DepsTree",
    "GraphError",
    "GraphInput",
    "TaskGraph",
    "TaskNode",
    "UnknownTask",
    "as_graph",
    "blocked",
    "blocked_by_cycles",
    "check_graph",
    "deps_tree",
    "find_cycles",
    "longest_chain",
    "ready",
    "render_deps_tree",
    "seq_key",
    "topological_order",
]

GRAPH_CODES: Tuple[str, ...] = (
    "dependency-missing",
    "dependency-self",
    "dependency-duplicate",
    "dependency-cycle",
    "blocked-by-cycle",
)
"""Every finding code :func:`check_graph` may return."""

_PENDING = "pending"
_IN_PROGRESS = "in_progress"
_COMPLETED = "completed"
_BLOCKED = "blocked"

_Node = TypeVar("_Node", bound=Hashable)

# How many seqs or cycles a message names before it says "and N more".
_SHOWN = 10


# -- errors -----------------------------------------------------------------------------------


class GraphError(UsageError):
    """A task graph cannot be built, or cannot be used as asked."""


class UnknownTask(GraphError):
    """A seq that the graph does not hold; ``seq`` names it."""

    def __init__(self, message: str, seq: str = "") -> None:
        super().__init__(message)
        self.seq = seq
        self.args = (message, seq)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description, with the seq."""
        return {**super().to_dict(), "seq": self.seq}


class DependencyCycleError(GraphError):
    """The graph has cycles, so the tasks have no order; ``cycles`` holds every one of them."""

    def __init__(self, cycles: Sequence[Cycle]) -> None:
        self.cycles: Tuple[Cycle, ...] = tuple(cycles)
        count = len(self.cycles)
        super().__init__(
            f"the dependencies have {count} cycle{'' if count == 1 else 's'}: "
            + _list((_show_path(c.path) for c in self.cycles), "; ")
        )
        self.args = (self.cycles,)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready description, with every cycle's members and path."""
        return {
            **super().to_dict(),
            "cycles": [{"members": list(c.members), "path": list(c.path)} for c in self.cycles],
        }


# -- values -----------------------------------------------------------------------------------


def _deps_tuple(value: Iterable[str]) -> Tuple[str, ...]:
    """Attrs converter: the ``depends_on`` entries as a tuple (a bare string is refused)."""
    if isinstance(value, str):
        raise GraphError(f"depends_on must be a list of seqs, not the string {value!r}")
    try:
        return tuple(value)
    except TypeError:
        raise GraphError(f"depends_on must be a list of seqs, not {type(value).__name__}") from None


@attrs.frozen
class TaskNode:
    """One task of a graph: its seq, its status and its ``depends_on`` entries as written.

    Raises :class:`GraphError` when the seq, the status or a dependency is not a string.
    """

    seq: str
    status: str
    depends_on: Tuple[str, ...] = attrs.field(default=(), converter=_deps_tuple)

    def __attrs_post_init__(self) -> None:
        seq: object = self.seq
        status: object = self.status
        if not isinstance(seq, str):
            raise GraphError(f"a seq must be a string, not {type(seq).__name__}")
        if not isinstance(status, str):
            raise GraphError(f"task {seq}: the status must be a string, not {status!r}")
        for dep in self.depends_on:
            entry: object = dep
            if not isinstance(entry, str):
                raise GraphError(f"task {seq}: depends_on holds {entry!r}, which is not a seq")


def _tasks_tuple(items: Iterable[TaskNode]) -> Tuple[TaskNode, ...]:
    """Attrs converter: the tasks as a tuple in seq order."""
    tasks = tuple(items)
    for task in tasks:
        item: object = task
        if not isinstance(item, TaskNode):
            raise GraphError(f"a task graph holds TaskNode values, not {type(item).__name__}")
    return tuple(sorted(tasks, key=lambda task: seq_key(task.seq)))


@attrs.frozen
class TaskGraph:
    """The tasks of a feature and their dependencies, in seq order.

    Build it from tasks (``TaskGraph([TaskNode("01", "pending")])``) or from a mapping
    (:meth:`from_mapping`). Two tasks with the same seq raise :class:`GraphError`.
    ``seq in graph``, ``graph[seq]`` (a :class:`TaskNode`, or :class:`UnknownTask`) and
    ``len(graph)`` work as expected.
    """

    tasks: Tuple[TaskNode, ...] = attrs.field(default=(), converter=_tasks_tuple)
    # Derived: each seq's position in ``tasks``, and each task's existing dependencies as
    # positions, without repeats, in the order written.
    _ids: Dict[str, int] = attrs.field(init=False, repr=False, eq=False)
    _deps: Tuple[Tuple[int, ...], ...] = attrs.field(init=False, repr=False, eq=False)
    # What the functions computed about the graph, since it never changes (the cycles).
    _memo: Dict[str, Any] = attrs.field(init=False, repr=False, eq=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        ids: Dict[str, int] = {}
        for number, task in enumerate(self.tasks):
            if task.seq in ids:
                raise GraphError(f"two tasks have the seq {task.seq!r}")
            ids[task.seq] = number
        deps = tuple(
            tuple(dict.fromkeys(ids[d] for d in task.depends_on if d in ids)) for task in self.tasks
        )
        object.__setattr__(self, "_ids", ids)
        object.__setattr__(self, "_deps", deps)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Tuple[str, Iterable[str]]]) -> TaskGraph:
        """The graph of ``{seq: (status, depends_on)}``."""
        tasks = []
        for seq, value in mapping.items():
            entry: object = value
            if not isinstance(entry, (tuple, list)) or len(entry) != 2:
                raise GraphError(f"task {seq}: expected (status, depends_on), not {entry!r}")
            tasks.append(TaskNode(seq, value[0], value[1]))
        return cls(tasks)

    @property
    def seqs(self) -> Tuple[str, ...]:
        """Every seq, in seq order."""
        return tuple(task.seq for task in self.tasks)

    def get(self, seq: str) -> Optional[TaskNode]:
        """The task with this seq, or None."""
        number = self._ids.get(seq)
        return None if number is None else self.tasks[number]

    def __getitem__(self, seq: str) -> TaskNode:
        task = self.get(seq)
        if task is None:
            raise UnknownTask(f"task {seq} not found", seq)
        return task

    def __contains__(self, seq: object) -> bool:
        return seq in self._ids

    def __len__(self) -> int:
        return len(self.tasks)


GraphInput = Union[TaskGraph, Mapping[str, Tuple[str, Iterable[str]]]]
"""What the functions of this module accept: a graph, or a mapping to build one from."""


def as_graph(graph: GraphInput) -> TaskGraph:
    """``graph`` itself if it is a :class:`TaskGraph`, else the graph of the mapping."""
    if isinstance(graph, TaskGraph):
        return graph
    value: object = graph
    if not isinstance(value, Mapping):
        raise GraphError(f"expected a TaskGraph or a mapping, not {type(value).__name__}")
    return TaskGraph.from_mapping(graph)


@attrs.frozen
class Cycle:
    """Tasks that depend on each other: one strongly connected component.

    ``members`` holds every task of the component in seq order; ``path`` is a shortest
    cycle through the first member that closes on it, such as ``("03", "05", "03")``
    (03 depends on 05, which depends on 03). ``str(cycle)`` is ``"03 -> 05 -> 03"``.
    """

    members: Tuple[str, ...]
    path: Tuple[str, ...]

    def __str__(self) -> str:
        return " -> ".join(self.path)

    def __contains__(self, seq: object) -> bool:
        return seq in self.members


@attrs.frozen
class BlockedTask:
    """A task that cannot start, and why.

    ``waiting`` holds its dependencies that are not completed and ``missing`` those that do
    not exist (each in seq order); ``cycle`` is the cycle it belongs to, and ``cycles``
    the cycles it waits on from outside (see ``blocked-by-cycle``).
    """

    seq: str
    status: str
    waiting: Tuple[str, ...] = ()
    missing: Tuple[str, ...] = ()
    cycle: Optional[Cycle] = None
    cycles: Tuple[Cycle, ...] = ()

    @property
    def explicit(self) -> bool:
        """True when the task's status is ``blocked``."""
        return self.status == _BLOCKED

    @property
    def reason(self) -> str:
        """Why, for people: ``explicitly blocked``, ``waiting: 02, 03``, ``missing: 99``,
        ``in cycle 02 -> 03 -> 02``, ``after cycle 02 -> 03 -> 02``, joined by ``; ``."""
        parts = []
        if self.explicit:
            parts.append("explicitly blocked")
        if self.waiting:
            parts.append("waiting: " + _list(self.waiting))
        if self.missing:
            parts.append("missing: " + _list(self.missing))
        if self.cycle is not None:
            parts.append(f"in cycle {_show_path(self.cycle.path)}")
        if self.cycles:
            parts.append("after cycle " + _list((_show_path(c.path) for c in self.cycles), "; "))
        return "; ".join(parts)


class DepsMark(str, enum.Enum):
    """What an entry of a dependency tree stands for."""

    TASK = "task"
    """A task shown with its dependencies below it."""
    SHOWN = "shown"
    """A task whose subtree is already shown above: not expanded again."""
    CYCLE = "cycle"
    """A task that is its own dependency through this branch (an ancestor of the entry)."""
    MISSING = "missing"
    """A dependency that names no task."""


@attrs.frozen
class DepsEntry:
    """One line of a dependency tree.

    ``depth`` is 0 for the root; ``parent`` is the position of the parent entry in
    :attr:`DepsTree.entries` (None for the root); ``last`` says whether it is its parent's
    last child; ``status`` is None for a missing task.
    """

    seq: str
    depth: int
    parent: Optional[int]
    status: Optional[str]
    mark: DepsMark
    last: bool = True


@attrs.frozen
class DepsTree:
    """The dependencies of ``root``, transitively, as entries in display order (pre-order).

    Flat rather than nested, so that a tree of any depth compares, prints and serialises
    without recursion.
    """

    root: str
    entries: Tuple[DepsEntry, ...]


# -- helpers ----------------------------------------------------------------------------------


def _list(items: Iterable[str], separator: str = ", ", limit: int = _SHOWN) -> str:
    """Items joined for a message, the first ``limit`` only, then ``and N more``."""
    shown = list(items)
    more = len(shown) - limit
    if more > 0:
        return separator.join(shown[:limit]) + f"{separator}and {more} more"
    return separator.join(shown)


def _show_path(path: Sequence[str], limit: int = 12) -> str:
    """A cycle path for a message, its middle elided when it is long."""
    if len(path) <= limit:
        return " -> ".join(path)
    head = " -> ".join(path[: limit - 2])
    tail = " -> ".join(path[-2:])
    return f"{head} -> ... -> {tail} ({len(path) - 1} steps)"


def _components(graph: TaskGraph) -> List[List[int]]:
    """The cyclic strongly connected components (more than one task, or a self-loop), each
    sorted, in order of their first task; iterative Tarjan."""
    deps = graph._deps
    count = len(deps)
    index = [-1] * count
    low = [0] * count
    on_stack = [False] * count
    stack: List[int] = []
    found: List[List[int]] = []
    counter = 0
    for root in range(count):
        if index[root] >= 0:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work = [(root, iter(deps[root]))]
        while work:
            node, children = work[-1]
            for child in children:
                if index[child] < 0:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack[child] = True
                    work.append((child, iter(deps[child])))
                    break
                if on_stack[child] and index[child] < low[node]:
                    low[node] = index[child]
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    if low[node] < low[parent]:
                        low[parent] = low[node]
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack[member] = False
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in deps[node]:
                        found.append(sorted(component))
    found.sort(key=lambda component: component[0])
    return found


def _cycle(graph: TaskGraph, component: List[int]) -> Cycle:
    """The component as a :class:`Cycle`: a shortest path from its first task back to it,
    through other members when there are any (breadth-first)."""
    deps = graph._deps
    start = component[0]
    seqs = [graph.tasks[n].seq for n in component]
    if len(component) == 1:
        return Cycle(tuple(seqs), (seqs[0], seqs[0]))
    inside = set(component)
    parent = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(deps[node]):
            if child == start and node != start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                path.append(start)
                return Cycle(tuple(seqs), tuple(graph.tasks[n].seq for n in path))
            if child in inside and child not in parent:
                parent[child] = node
                queue.append(child)
    raise AssertionError("a strongly connected component always closes")  # pragma: no cover


def _done(graph: TaskGraph) -> List[bool]:
    """For each task, whether it is completed."""
    return [task.status == _COMPLETED for task in graph.tasks]


def _dependants(graph: TaskGraph) -> List[List[int]]:
    """For each task, the tasks that depend on it (reverse edges)."""
    dependants: List[List[int]] = [[] for _ in graph.tasks]
    for node, deps in enumerate(graph._deps):
        for dep in deps:
            dependants[dep].append(node)
    return dependants


class _CycleInfo(NamedTuple):
    """Cycles of a graph, by position: the cycles, the cycle of each member, and the cycles
    each ``blocked-by-cycle`` task waits on (positions in ``cycles``)."""

    cycles: Tuple[Cycle, ...]
    cycle_of: Dict[int, int]
    blocked: Dict[int, FrozenSet[int]]


def _cycle_info(graph: TaskGraph) -> _CycleInfo:
    """The graph's cycles, computed once per graph."""
    info: Optional[_CycleInfo] = graph._memo.get("cycles")
    if info is None:
        info = graph._memo["cycles"] = _compute_cycle_info(graph)
    return info


def _compute_cycle_info(graph: TaskGraph) -> _CycleInfo:
    components = _components(graph)
    if not components:
        return _CycleInfo((), {}, {})
    cycles = tuple(_cycle(graph, component) for component in components)
    cycle_of = {node: number for number, component in enumerate(components) for node in component}
    done = _done(graph)
    dependants = _dependants(graph)
    # The unfinished tasks outside cycles reached from unfinished cycle members through
    # unfinished tasks: they can never become ready.
    flagged = set()
    queue = deque(node for node in cycle_of if not done[node])
    while queue:
        for dependant in dependants[queue.popleft()]:
            if dependant not in cycle_of and not done[dependant] and dependant not in flagged:
                flagged.add(dependant)
                queue.append(dependant)
    # Which cycles each one waits on, in a topological order of the flagged tasks (they hold
    # no cycle). A task with a single source shares its set instead of copying it.
    deps = graph._deps
    pending = {node: sum(1 for dep in deps[node] if dep in flagged) for node in flagged}
    queue = deque(node for node, count in pending.items() if count == 0)
    singles = [frozenset([number]) for number in range(len(cycles))]
    blocked: Dict[int, FrozenSet[int]] = {}
    while queue:
        node = queue.popleft()
        found: Optional[FrozenSet[int]] = None
        for dep in deps[node]:
            if dep in cycle_of and not done[dep]:
                source = singles[cycle_of[dep]]
            elif dep in flagged:
                source = blocked[dep]
            else:
                continue
            if found is None or found < source:
                found = source
            elif not source <= found:
                found = found | source
        assert found is not None
        blocked[node] = found
        for dependant in dependants[node]:
            if dependant in pending:
                pending[dependant] -= 1
                if pending[dependant] == 0:
                    queue.append(dependant)
    return _CycleInfo(cycles, cycle_of, blocked)


def _cycles_of(info: _CycleInfo, numbers: FrozenSet[int]) -> Tuple[Cycle, ...]:
    return tuple(info.cycles[number] for number in sorted(numbers))


# -- checks -----------------------------------------------------------------------------------


def find_cycles(graph: GraphInput) -> Tuple[Cycle, ...]:
    """Every cycle of the graph, once each, in order of their first member."""
    return _cycle_info(as_graph(graph)).cycles


def blocked_by_cycles(graph: GraphInput) -> Dict[str, Tuple[Cycle, ...]]:
    """The tasks that a cycle keeps from ever becoming ready, with those cycles, in seq
    order: the unfinished tasks outside every cycle that depend on an unfinished cycle
    member, directly or through other unfinished tasks."""
    g = as_graph(graph)
    info = _cycle_info(g)
    return {
        g.tasks[node].seq: _cycles_of(info, info.blocked[node]) for node in sorted(info.blocked)
    }


def check_graph(
    graph: GraphInput, *, paths: Optional[Mapping[str, str]] = None
) -> Tuple[Finding, ...]:
    """Every dependency problem of the graph as findings; never raises on a graph.

    The codes are listed in the module documentation. Findings come task by task in seq
    order (missing, self and duplicate dependencies, in the order written), then the cycles,
    then the ``blocked-by-cycle`` tasks. Each finding's ``pointer`` points into the task's
    file (``/depends_on/2``); its ``path`` is ``paths[seq]`` when given. A cycle is reported
    against its first member, pointing at the dependency that starts its path.
    """
    g = as_graph(graph)
    where = paths or {}
    found: List[Finding] = []

    def finding(
        seq: str, code: str, severity: Severity, pointer: str, message: str, advice: str
    ) -> Finding:
        return Finding(code, message, severity, where.get(seq), pointer, advice)

    for task in g.tasks:
        seen: Dict[str, int] = {}
        for number, dep in enumerate(task.depends_on):
            seen[dep] = seen.get(dep, 0) + 1
            pointer = f"/depends_on/{number}"
            if seen[dep] == 2:
                times = task.depends_on.count(dep)
                found.append(
                    finding(
                        task.seq,
                        "dependency-duplicate",
                        Severity.WARNING,
                        pointer,
                        f"Task {task.seq} lists {dep} "
                        + ("twice" if times == 2 else f"{times} times")
                        + " in depends_on",
                        f"Keep one {dep} in depends_on",
                    )
                )
            elif seen[dep] > 1:
                continue
            elif dep == task.seq:
                found.append(
                    finding(
                        task.seq,
                        "dependency-self",
                        Severity.ERROR,
                        pointer,
                        f"Task {task.seq} depends on itself",
                        f"Remove {dep} from the depends_on of task {task.seq}",
                    )
                )
            elif dep not in g:
                found.append(
                    finding(
                        task.seq,
                        "dependency-missing",
                        Severity.ERROR,
                        pointer,
                        f"Task {task.seq} depends on task {dep}, which does not exist",
                        f"Remove {dep} from depends_on, or add the subtask {dep}",
                    )
                )
    info = _cycle_info(g)
    for cycle in info.cycles:
        first = g[cycle.members[0]]
        size = len(cycle.members)
        if size == 1:
            message = f"Dependency cycle of one task, which depends on itself: {cycle}"
        else:
            message = (
                f"Dependency cycle among {size} tasks ({_list(cycle.members)}): "
                f"{_show_path(cycle.path)}"
            )
        found.append(
            finding(
                first.seq,
                "dependency-cycle",
                Severity.ERROR,
                f"/depends_on/{first.depends_on.index(cycle.path[1])}",
                message,
                "Remove one dependency of the cycle so that its tasks can be ordered",
            )
        )
    for node in sorted(info.blocked):
        seq = g.tasks[node].seq
        cycles = _cycles_of(info, info.blocked[node])
        names = _list((_show_path(c.path) for c in cycles), "; ", limit=3)
        found.append(
            finding(
                seq,
                "blocked-by-cycle",
                Severity.WARNING,
                "/depends_on",
                f"Task {seq} is blocked by the dependency cycle"
                f"{'' if len(cycles) == 1 else 's'} {names}",
                "Break the cycle; this task needs no change of its own",
            )
        )
    return tuple(found)


# -- ready and blocked tasks ------------------------------------------------------------------


def ready(graph: GraphInput) -> Tuple[str, ...]:
    """The pending tasks whose every dependency exists and is completed, in seq order."""
    g = as_graph(graph)
    done = _done(g)
    return tuple(
        task.seq
        for task, deps in zip(g.tasks, g._deps)
        if task.status == _PENDING
        and len(deps) == len(set(task.depends_on))  # no missing dependency
        and all(done[dep] for dep in deps)
    )


def blocked(graph: GraphInput) -> Tuple[BlockedTask, ...]:
    """The tasks that cannot start, with why, in seq order.

    A task is listed when its status is ``blocked``, or when it is ``pending`` and a
    dependency is missing or not completed (an ``in_progress`` task has already started).
    """
    g = as_graph(graph)
    done = _done(g)
    info: Optional[_CycleInfo] = None
    found = []
    for node, (task, deps) in enumerate(zip(g.tasks, g._deps)):
        if task.status not in (_PENDING, _BLOCKED):
            continue
        waiting = sorted(dep for dep in deps if not done[dep])
        missing: Tuple[str, ...] = ()
        if len(deps) < len(set(task.depends_on)):
            missing = tuple(sorted({d for d in task.depends_on if d not in g}, key=seq_key))
        if task.status == _PENDING and not missing and not waiting:
            continue
        if info is None:
            info = _cycle_info(g)
        number = info.cycle_of.get(node)
        upstream = info.blocked.get(node)
        found.append(
            BlockedTask(
                task.seq,
                task.status,
                tuple(g.tasks[dep].seq for dep in waiting),
                missing,
                None if number is None else info.cycles[number],
                () if upstream is None else _cycles_of(info, upstream),
            )
        )
    return tuple(found)


# -- the dependency tree ----------------------------------------------------------------------


def deps_tree(graph: GraphInput, seq: str) -> DepsTree:
    """The dependencies of ``seq``, transitively, for display.

    Children come in the order of ``depends_on`` (a repeated entry once). The first time a
    task appears in display order it is expanded (:attr:`DepsMark.TASK`); later it is a
    reference (:attr:`DepsMark.SHOWN`), so the tree has one entry per dependency edge
    reached, never more. A dependency on a task of the current branch is marked
    :attr:`DepsMark.CYCLE` and one that names no task :attr:`DepsMark.MISSING`. Raises
    :class:`UnknownTask` when ``seq`` is not in the graph.
    """
    g = as_graph(graph)
    if seq not in g:
        raise UnknownTask(f"task {seq} not found", seq)
    ids, tasks = g._ids, g.tasks
    entries: List[DepsEntry] = []
    branch: List[str] = []  # the expanded ancestors of the entry being added
    on_branch = set()
    expanded = set()
    stack: List[Tuple[str, int, Optional[int], bool]] = [(seq, 0, None, True)]
    while stack:
        current, depth, parent, last = stack.pop()
        while len(branch) > depth:
            on_branch.discard(branch.pop())
        number = ids.get(current)
        if number is None:
            entries.append(DepsEntry(current, depth, parent, None, DepsMark.MISSING, last))
            continue
        task = tasks[number]
        if current in on_branch:
            mark = DepsMark.CYCLE
        elif current in expanded:
            mark = DepsMark.SHOWN
        else:
            mark = DepsMark.TASK
            expanded.add(current)
            branch.append(current)
            on_branch.add(current)
            children = task.depends_on
            if len(children) > 1:
                children = tuple(dict.fromkeys(children))
            final = len(children) - 1
            position = len(entries)
            for child in range(final, -1, -1):
                stack.append((children[child], depth + 1, position, child == final))
        entries.append(DepsEntry(current, depth, parent, task.status, mark, last))
    return DepsTree(seq, tuple(entries))


_ICONS = {_COMPLETED: "✓", _IN_PROGRESS: "~", _BLOCKED: "✗"}
_SUFFIXES = {DepsMark.SHOWN: " (shown above)", DepsMark.CYCLE: " (cycle)"}


def render_deps_tree(tree: DepsTree, titles: Optional[Mapping[str, str]] = None) -> str:
    """The tree as text, in the layout of the public tool's ``deps`` command::

        04 - Integration tests [pending]
          ├── ✓ 01 - Setup database [completed]
          └── ○ 02 - Create API [pending]
              └── ✓ 01 - Setup database [completed] (shown above)

    Icons: ``✓`` completed, ``~`` in_progress, ``✗`` blocked, ``○`` pending (and any other
    status). A subtree shown earlier ends in ``(shown above)``, a dependency back onto the
    branch in ``(cycle)``, and a missing task reads ``? 99 - NOT FOUND``. ``titles`` maps
    seqs to titles (`` - title`` is left out for a seq it lacks). No trailing newline.
    """
    names = titles or {}

    def label(entry: DepsEntry) -> str:
        title = names.get(entry.seq)
        return entry.seq + ("" if title is None else f" - {title}") + f" [{entry.status}]"

    lines: List[str] = []
    indents: List[str] = ["", "  "]
    for entry in tree.entries:
        if entry.depth == 0:
            lines.append(label(entry))
            continue
        indent = indents[entry.depth]
        branch = "└──" if entry.last else "├──"
        if entry.mark is DepsMark.MISSING:
            text = f"? {entry.seq} - NOT FOUND"
        else:
            icon = _ICONS.get(entry.status or "", "○")
            text = f"{icon} {label(entry)}{_SUFFIXES.get(entry.mark, '')}"
        lines.append(f"{indent}{branch} {text}")
        del indents[entry.depth + 1 :]
        indents.append(indent + ("    " if entry.last else "│   "))
    if len(tree.entries) == 1:
        lines.append("  └── (no dependencies)")
    return "\n".join(lines)


# -- orders -----------------------------------------------------------------------------------


def topological_order(graph: GraphInput, *, skip_cycles: bool = False) -> Tuple[str, ...]:
    """Every task after all its dependencies (missing ones are ignored).

    The order goes by :mod:`graphlib` generations: first the tasks without dependencies,
    then those whose dependencies all came before, and so on, each generation in seq order.
    When the graph has cycles this raises :class:`DependencyCycleError` naming every one,
    unless ``skip_cycles`` is true: then it orders the acyclic part, leaving out the cycles'
    members and every task that depends on one, directly or transitively, whatever its
    status.
    """
    g = as_graph(graph)
    deps = g._deps
    info = _cycle_info(g)
    left_out: Set[int] = set()
    if info.cycles:
        if not skip_cycles:
            raise DependencyCycleError(info.cycles)
        dependants = _dependants(g)
        queue = deque(info.cycle_of)
        left_out.update(queue)
        while queue:
            for dependant in dependants[queue.popleft()]:
                if dependant not in left_out:
                    left_out.add(dependant)
                    queue.append(dependant)
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for node in range(len(deps)):
        if node not in left_out:
            sorter.add(node, *deps[node])
    sorter.prepare()
    order: List[int] = []
    while sorter.is_active():
        generation = sorted(sorter.get_ready())
        order.extend(generation)
        sorter.done(*generation)
    return tuple(g.tasks[node].seq for node in order)


def _chain_levels(
    deps: Mapping[_Node, Sequence[_Node]], done: Container[_Node]
) -> Optional[Dict[_Node, int]]:
    """Each unfinished task's longest chain of unfinished dependencies, in the order of
    ``deps``, or None when some task could not be ordered (the graph has a cycle).

    ``deps`` maps every task to the tasks it depends on (each one a key of ``deps``;
    repeats are harmless); ``done`` holds the completed tasks, which are left out and cut
    the chains through them. Only when no order of every task exists, even one with
    completed tasks in a cycle, is a cycle search worth its cost.
    """
    level = _levels_in_order(deps, done)
    if level is None:
        level = _levels_by_kahn(deps, done)
        if level is None:
            return None
    return {node: length for node, length in level.items() if length >= 0}


def _levels_in_order(
    deps: Mapping[_Node, Sequence[_Node]], done: Container[_Node]
) -> Optional[Dict[_Node, int]]:
    """The chain lengths (-1 for a completed task) in one pass, when every task of ``deps``
    comes after its dependencies (the usual case: tasks depending on earlier seqs), else
    None. Such an order is topological, so the graph has no cycle."""
    level: Dict[_Node, int] = {}
    for node, node_deps in deps.items():
        if not all(map(level.__contains__, node_deps)):
            return None  # a dependency comes later (or is the task itself)
        if node in done:
            level[node] = -1  # so that it adds nothing to the chains through it
        else:
            level[node] = max(map(level.__getitem__, node_deps), default=-1) + 1
    return level


def _levels_by_kahn(
    deps: Mapping[_Node, Sequence[_Node]], done: Container[_Node]
) -> Optional[Dict[_Node, int]]:
    """The chain lengths (-1 for a completed task) by Kahn's algorithm over every task,
    completed ones included, or None when some task is left unordered by a cycle."""
    waiting = {node: len(node_deps) for node, node_deps in deps.items()}
    dependants: Dict[_Node, List[_Node]] = {node: [] for node in deps}
    for node, node_deps in deps.items():
        for dep in node_deps:
            dependants[dep].append(node)
    order = [node for node, count in waiting.items() if not count]
    level = dict.fromkeys(deps, 0)
    for node in order:  # grows as tasks become ready: a topological order
        after = 0 if node in done else level[node] + 1  # a completed task adds nothing
        for dependant in dependants[node]:
            if level[dependant] < after:
                level[dependant] = after
            left = waiting[dependant] - 1
            waiting[dependant] = left
            if not left:
                order.append(dependant)
    if len(order) < len(waiting):
        return None
    for node in deps:
        if node in done:
            level[node] = -1
    return level


def longest_chain(graph: GraphInput, *, skip_cycles: bool = False) -> Dict[str, int]:
    """For each unfinished task, the length of its longest chain of unfinished dependencies.

    A task whose dependencies are all completed (or missing, or absent) has 0; otherwise its
    length is one more than the longest among its unfinished dependencies. So it counts the
    unfinished tasks on the longest dependency path above it: a planner's generation.
    Completed tasks are left out, and a completed dependency counts as satisfied, cutting
    the chain. Keys come in seq order. Raises :class:`DependencyCycleError` when the graph
    has cycles, unless ``skip_cycles`` is true: then the unfinished tasks in a cycle, and
    those blocked by one (:func:`blocked_by_cycles`), are left out.
    """
    g = as_graph(graph)
    done = {node for node, finished in enumerate(_done(g)) if finished}
    levels = _chain_levels(dict(enumerate(g._deps)), done)
    if levels is None:  # some task could not be ordered: find and name every cycle
        info = _cycle_info(g)
        if not skip_cycles:
            raise DependencyCycleError(info.cycles)
        # The kept tasks: unfinished, outside every cycle, not blocked by one. Their
        # unfinished dependencies are all kept too, so the others can count as completed
        # tasks without dependencies.
        left_out = done.union(info.cycle_of, info.blocked)
        deps = {
            node: () if node in left_out else node_deps for node, node_deps in enumerate(g._deps)
        }
        levels = _chain_levels(deps, left_out)
        assert levels is not None  # what is left is acyclic
    return {g.tasks[node].seq: level for node, level in levels.items()}
