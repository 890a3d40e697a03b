"""Diagrams as text: the task dependency graph and the stage machine, in Mermaid or DOT.

Every function here is pure: it takes values and returns the diagram's source text (no
trailing newline). No system tool is needed to produce it; Mermaid renders in Markdown
viewers that support it, DOT with Graphviz (``dot -Tsvg``).

**Task graphs** (:func:`task_graph_mermaid`, :func:`task_graph_dot`): one node per task,
labelled ``seq (status)`` and its title, coloured by status (``pending``, ``in_progress``,
``completed``, ``blocked``, and *unknown* for any other status, such as an unusable file's
empty one). An edge goes from a dependency to the task that needs it, so work flows along
the arrows. Nodes are grouped by ``batches`` (a sequence of sequences of seqs): batch *k*
is drawn as a box labelled ``Batch k``; completed tasks in no batch go in a box labelled
``Completed``, drawn first; any other task in no batch (a cycle's member, a task blocked
by a cycle) is drawn outside every box. A dependency naming no task is a ``missing`` node.
Edges inside a dependency cycle are red and labelled ``cycle``: a graph with cycles is still
drawn. :func:`generations` gives the batches the CLI uses until the batch planner lands.

**Stage graphs** (:func:`stage_graph_mermaid`, :func:`stage_graph_dot`): every stage of the
workflow in order, joined by the ``advance`` moves, then a final ``done`` node. Given a run,
completed stages are green, the current stage is highlighted (blue, thick border; red when
the run failed there, grey and dashed when it was aborted there), and the rollbacks the
stage machine allows from the current position are drawn as dashed edges labelled
``rollback`` back to earlier stages (from ``done`` once the run is completed; none from an
aborted run, which must be resumed first). ``fail``, ``abort`` and ``resume`` keep the run
at its stage, so they are not drawn as edges; the current node's label names the run's
state instead. Without a run (a :class:`~stageflow.workflow.WorkflowSpec`), the stages are
drawn plainly.

Everything that comes from users (titles, seqs, stage names and keys) is escaped: node
identifiers are derived from seqs or stage positions, never copied from raw text, and labels
are quoted with the format's escapes. Line breaks and other control characters in a label
become spaces. Long titles are cut to :data:`TITLE_WIDTH` characters, ending in ``…``.

This module imports nothing heavy: the stage graph of a run document is on the CLI's fast
path. The task graph functions import :mod:`stageflow.graph` when called.
"""

from __future__ import annotations

from collections.abc import Mapping as _Mapping

# typing is imported only by type checkers: this module is on the CLI's fast path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

    from .graph import GraphInput, TaskGraph
    from .run import RunState
    from .workflow import WorkflowSpec

    StageSource = Union[WorkflowSpec, RunState, Mapping[str, Any]]

__all__ = [
    "FORMATS",
    "TITLE_WIDTH",
    "generations",
    "stage_graph_dot",
    "stage_graph_mermaid",
    "task_graph_dot",
    "task_graph_mermaid",
]

FORMATS = ("mermaid", "dot")
"""The diagram formats, as the CLI's ``--format`` names them."""

TITLE_WIDTH = 48
"""The longest title shown in a task node, in characters (a longer one is cut, ending in …)."""

# Fill and border colours: the task statuses, then the stage machine's node kinds.
_COLOURS: Dict[str, Tuple[str, str]] = {
    "pending": ("#f5f5f5", "#9e9e9e"),
    "in_progress": ("#cfe2ff", "#0d6efd"),
    "completed": ("#d1e7dd", "#198754"),
    "blocked": ("#f8d7da", "#dc3545"),
    "unknown": ("#fff3cd", "#b8860b"),
    "current": ("#cfe2ff", "#0d6efd"),
    "failed": ("#f8d7da", "#dc3545"),
    "aborted": ("#e2e3e5", "#495057"),
    "finished": ("#d1e7dd", "#198754"),
}
_TASK_CLASSES = ("pending", "in_progress", "completed", "blocked", "unknown")
_STAGE_CLASSES = ("pending", "completed", "current", "failed", "aborted", "finished")
_HIGHLIGHTED = ("current", "failed", "aborted", "finished")
_CYCLE_COLOUR = "#dc3545"


# -- escaping -------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """``text`` on one line: control characters and line or paragraph separators become
    spaces, lone surrogates the replacement character."""
    out = []
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029):
            out.append(" ")
        elif 0xD800 <= code < 0xE000:
            out.append("\ufffd")
        else:
            out.append(char)
    return "".join(out)


def _cut(text: str, width: int = TITLE_WIDTH) -> str:
    text = " ".join(_plain(text).split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


# Mermaid reads ``#<decimal>;`` as a character code inside a quoted label; these characters
# would otherwise end the label, start an entity or markup, or a comment.
_MERMAID_CODES = {c: f"#{ord(c)};" for c in '"#&<>`%\\'}


def _mermaid_text(text: str) -> str:
    """One line of a quoted Mermaid label."""
    return "".join(_MERMAID_CODES.get(c, c) for c in _plain(text))


def _mermaid_label(*lines: str) -> str:
    return '"' + "<br/>".join(_mermaid_text(line) for line in lines) + '"'


def _dot_text(text: str) -> str:
    """One line of a quoted DOT label: backslashes (Graphviz's escapes), quotes, and
    ampersands (Graphviz decodes entities such as ``&lt;`` in labels) escaped."""
    text = _plain(text).replace("&", "&amp;")
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_label(*lines: str) -> str:
    return '"' + "\\n".join(_dot_text(line) for line in lines) + '"'


def _task_id(seq: str) -> str:
    """A node identifier for ``seq`` that is safe in both formats and distinct for distinct
    seqs: ``t_`` and the seq when it is ASCII letters and digits, else ``tx_`` and the hex of
    its UTF-8 bytes."""
    if seq and seq.isascii() and seq.isalnum():
        return "t_" + seq
    return "tx_" + seq.encode("utf-8", "surrogatepass").hex()


# -- task graphs ----------------------------------------------------------------------------


def generations(graph: GraphInput) -> List[List[str]]:
    """The unfinished tasks by topological generation: generation *k* holds the tasks whose
    longest chain of unfinished dependencies has *k* tasks
    (:func:`~stageflow.graph.longest_chain`). Completed tasks, the members of cycles and
    the tasks blocked by a cycle are in none. Each generation is in seq order."""
    from .graph import longest_chain

    found: List[List[str]] = []
    for seq, level in longest_chain(graph, skip_cycles=True).items():
        while len(found) <= level:
            found.append([])
        found[level].append(seq)
    return found


class _TaskView:
    """What both task-graph formats draw, computed once: nodes, groups and edges."""

    def __init__(
        self,
        graph: GraphInput,
        titles: Optional[Mapping[str, str]],
        batches: Optional[Sequence[Sequence[str]]],
    ) -> None:
        from .graph import GraphError, UnknownTask, as_graph, find_cycles

        g: TaskGraph = as_graph(graph)
        names = titles or {}
        self.labels: Dict[str, Tuple[str, ...]] = {}
        self.classes: Dict[str, str] = {}
        for task in g.tasks:
            status = task.status if task.status in _TASK_CLASSES else "unknown"
            shown = task.status or "unknown"
            title = names.get(task.seq)
            line = f"{task.seq} ({shown})"
            self.labels[task.seq] = (line,) if not title else (line, _cut(title))
            self.classes[task.seq] = status
        placed: Dict[str, int] = {}
        self.groups: List[Tuple[str, str, List[str]]] = []
        for number, batch in enumerate(batches or (), start=1):
            members = []
            for seq in batch:
                if seq not in g:
                    message = f"batch {number} names task {seq}, which is not in the graph"
                    raise UnknownTask(message, seq)
                if seq in placed:
                    raise GraphError(f"task {seq} is in batch {placed[seq]} and in batch {number}")
                placed[seq] = number
                members.append(seq)
            self.groups.append((f"batch{number}", f"Batch {number}", members))
        done = [t.seq for t in g.tasks if t.seq not in placed and t.status == "completed"]
        if done:  # first, as the work flows from left to right
            self.groups.insert(0, ("done_tasks", "Completed", done))
        grouped = set(placed).union(done)
        self.loose = [t.seq for t in g.tasks if t.seq not in grouped]
        # Dependencies that name no task become "missing" nodes, after the tasks.
        self.missing: List[str] = []
        for task in g.tasks:
            for dep in task.depends_on:
                if dep not in g and dep not in self.missing:
                    self.missing.append(dep)
        for seq in self.missing:
            self.labels[seq] = (f"{seq} (missing)",)
            self.classes[seq] = "unknown"
        component: Dict[str, int] = {}
        for number, cycle in enumerate(find_cycles(g)):
            for seq in cycle.members:
                component[seq] = number
        self.edges: List[Tuple[str, str, bool]] = []
        for task in g.tasks:
            for dep in dict.fromkeys(task.depends_on):
                in_cycle = dep in component and component[dep] == component.get(task.seq)
                self.edges.append((dep, task.seq, in_cycle))

    def by_class(self, classes: Sequence[str]) -> List[Tuple[str, List[str]]]:
        """``(class, seqs)`` for every class used, in the order of ``classes``."""
        found: Dict[str, List[str]] = {}
        for seq, name in self.classes.items():
            found.setdefault(name, []).append(seq)
        return [(name, found[name]) for name in classes if name in found]


def _mermaid_class_defs(classes: Sequence[str]) -> List[str]:
    lines = []
    for name in classes:
        fill, stroke = _COLOURS[name]
        extra = ""
        if name in _HIGHLIGHTED:
            extra = ",stroke-width:4px"
        if name == "aborted":
            extra += ",stroke-dasharray:5 5"
        if name == "unknown":
            extra = ",stroke-dasharray:3 3"
        lines.append(f"    classDef {name} fill:{fill},stroke:{stroke},color:#000{extra}")
    return lines


def task_graph_mermaid(
    graph: GraphInput,
    *,
    titles: Optional[Mapping[str, str]] = None,
    batches: Optional[Sequence[Sequence[str]]] = None,
) -> str:
    """The dependency graph as a Mermaid flowchart (see the module's description).

    ``titles`` maps seqs to titles; ``batches`` groups the nodes. A batch naming a task the
    graph lacks raises :class:`~stageflow.graph.UnknownTask`, and a task in two batches
    :class:`~stageflow.graph.GraphError`.
    """
    view = _TaskView(graph, titles, batches)
    lines = ["flowchart LR"]

    def node(seq: str, indent: str) -> str:
        return f"{indent}{_task_id(seq)}[{_mermaid_label(*view.labels[seq])}]"

    for group, label, members in view.groups:
        lines.append(f"    subgraph {group}[{_mermaid_label(label)}]")
        lines.extend(node(seq, "        ") for seq in members)
        lines.append("    end")
    lines.extend(node(seq, "    ") for seq in view.loose + view.missing)
    cycle_edges = []
    for number, (dep, seq, in_cycle) in enumerate(view.edges):
        arrow = "-->|cycle|" if in_cycle else "-->"
        lines.append(f"    {_task_id(dep)} {arrow} {_task_id(seq)}")
        if in_cycle:
            cycle_edges.append(str(number))
    if cycle_edges:
        lines.append(
            f"    linkStyle {','.join(cycle_edges)} stroke:{_CYCLE_COLOUR},stroke-width:3px"
        )
    lines.extend(_mermaid_class_defs(_TASK_CLASSES))
    for name, seqs in view.by_class(_TASK_CLASSES):
        lines.append(f"    class {','.join(_task_id(seq) for seq in seqs)} {name}")
    return "\n".join(lines)


def _dot_style(name: str) -> str:
    fill, stroke = _COLOURS[name]
    style = "rounded,filled"
    if name in ("unknown", "aborted"):
        style += ",dashed"
    width = ", penwidth=3" if name in _HIGHLIGHTED else ""
    return f'fillcolor="{fill}", color="{stroke}", style="{style}"{width}'


def task_graph_dot(
    graph: GraphInput,
    *,
    titles: Optional[Mapping[str, str]] = None,
    batches: Optional[Sequence[Sequence[str]]] = None,
) -> str:
    """The dependency graph as a Graphviz DOT digraph; the arguments and errors are those of
    :func:`task_graph_mermaid`. Batches are clusters; one line per node."""
    view = _TaskView(graph, titles, batches)
    lines = [
        "digraph tasks {",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]

    def node(seq: str, indent: str) -> str:
        label = _dot_label(*view.labels[seq])
        return f"{indent}{_task_id(seq)} [label={label}, {_dot_style(view.classes[seq])}];"

    for group, label, members in view.groups:
        lines.append(f"    subgraph cluster_{group} {{")
        lines.append(f"        label={_dot_label(label)};")
        lines.extend(node(seq, "        ") for seq in members)
        lines.append("    }")
    lines.extend(node(seq, "    ") for seq in view.loose + view.missing)
    for dep, seq, in_cycle in view.edges:
        mark = f' [label="cycle", color="{_CYCLE_COLOUR}", penwidth=2]' if in_cycle else ""
        lines.append(f"    {_task_id(dep)} -> {_task_id(seq)}{mark};")
    lines.append("}")
    return "\n".join(lines)


# -- stage graphs ---------------------------------------------------------------------------

_DONE = "s_done"


class _StageView:
    """What both stage-graph formats draw: ``(id, label lines, class)`` per node, then the
    edges ``(source, target, rollback)``."""

    def __init__(self, source: StageSource) -> None:
        rows: List[Tuple[int, str, str, str]] = []
        current: Optional[str] = None
        status: Optional[str] = None  # the run's status; None without a run
        if isinstance(source, _Mapping):
            document: Mapping[str, Any] = source
            for stage in document["stages"]:
                rows.append(
                    (int(stage["number"]), stage["key"], stage["name"], str(stage["status"]))
                )
            current, status = document["current_stage"], str(document["status"])
        elif hasattr(source, "current_stage"):
            run: Any = source
            for record in run.stages:
                rows.append((record.number, record.key, record.name, str(record.status.value)))
            current, status = run.current_stage, str(run.status.value)
        else:
            workflow: Any = source
            for number, spec in enumerate(workflow.stages, start=1):
                rows.append((number, spec.key, spec.name, "pending"))
        self.nodes: List[Tuple[str, Tuple[str, ...], str]] = []
        position = len(rows) if status == "completed" else None
        for index, (number, key, name, stage_status) in enumerate(rows):
            shown = stage_status
            kind = "completed" if stage_status == "completed" else "pending"
            if stage_status == "failed":
                kind = "failed"
            if key == current and status is not None:
                position = index
                kind = {"failed": "failed", "aborted": "aborted"}.get(status, "current")
                shown = {"failed": "failed", "aborted": "aborted"}.get(status, "current")
            label = (f"{number}. {name}", key if status is None else f"{key} · {shown}")
            self.nodes.append((f"s{index + 1}", label, kind))
        finished = status == "completed"
        self.nodes.append((_DONE, ("done",), "finished" if finished else "pending"))
        ids = [node[0] for node in self.nodes]
        self.edges: List[Tuple[str, str, bool]] = [
            (ids[i], ids[i + 1], False) for i in range(len(ids) - 1)
        ]
        # The stage machine's rollbacks (stageflow._fsm): to any stage at or before the
        # current one, from an active or failed position or once completed; the rollback
        # to the current stage itself is not drawn.
        if position is not None and status != "aborted":
            self.edges.extend((ids[position], ids[i], True) for i in range(position))


def stage_graph_mermaid(source: StageSource) -> str:
    """The stage machine as a Mermaid flowchart (see the module's description).

    ``source`` is a :class:`~stageflow.workflow.WorkflowSpec` (drawn plainly), or a run: a
    :class:`~stageflow.run.RunState` or its checked run document (a dict, as
    :func:`stageflow.serde.run_to_document` gives it). A run carries its workflow's stages,
    so no workflow is needed with it.
    """
    view = _StageView(source)
    lines = ["flowchart LR"]
    for node_id, label, _ in view.nodes:
        if node_id == _DONE:
            lines.append(f"    {node_id}([{_mermaid_label(*label)}])")
        else:
            lines.append(f"    {node_id}[{_mermaid_label(*label)}]")
    for source_id, target, rollback in view.edges:
        arrow = "-.->|rollback|" if rollback else "-->"
        lines.append(f"    {source_id} {arrow} {target}")
    lines.extend(_mermaid_class_defs(_STAGE_CLASSES))
    found: Dict[str, List[str]] = {}
    for node_id, _, kind in view.nodes:
        found.setdefault(kind, []).append(node_id)
    for kind in _STAGE_CLASSES:
        if kind in found:
            lines.append(f"    class {','.join(found[kind])} {kind}")
    return "\n".join(lines)


def stage_graph_dot(source: StageSource) -> str:
    """The stage machine as a Graphviz DOT digraph; ``source`` as for
    :func:`stage_graph_mermaid`."""
    view = _StageView(source)
    lines = [
        "digraph stages {",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for node_id, label, kind in view.nodes:
        shape = ", shape=doublecircle" if node_id == _DONE else ""
        lines.append(f"    {node_id} [label={_dot_label(*label)}, {_dot_style(kind)}{shape}];")
    for source_id, target, rollback in view.edges:
        mark = ' [label="rollback", style=dashed, constraint=false]' if rollback else ""
        lines.append(f"    {source_id} -> {target}{mark};")
    lines.append("}")
    return "\n".join(lines)
