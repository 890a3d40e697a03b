"""The task dependency graph (stageflow.graph): findings, cycles once each, ready and blocked
tasks, the dependency tree, orders and chain lengths, checked against brute-force definitions
on random graphs, and safe from the recursion limit on 100,000 tasks."""

from __future__ import annotations

import json
import pickle
from collections import deque
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stageflow.errors import StageflowError, UsageError
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.findings import Finding, Severity
from stageflow.graph import (
    GRAPH_CODES,
    BlockedTask,
    Cycle,
    DependencyCycleError,
    DepsEntry,
    DepsMark,
    DepsTree,
    GraphError,
    TaskGraph,
    TaskNode,
    UnknownTask,
    as_graph,
    blocked,
    blocked_by_cycles,
    check_graph,
    deps_tree,
    find_cycles,
    longest_chain,
    ready,
    render_deps_tree,
    seq_key,
    topological_order,
)

Spec = Dict[str, Tuple[str, Tuple[str, ...]]]

SEED_FEATURE = ORDER_MANAGEMENT / "order-management-mvp"
STATUSES = ("pending", "in_progress", "completed", "blocked")
FAST = settings(max_examples=150, deadline=None)


def spec(**tasks: str) -> Spec:
    """A graph written compactly: ``spec(t02="pending: 01 03")`` is ``{"02": ("pending",
    ("01", "03"))}``; a keyword is ``t`` plus the seq."""
    found: Spec = {}
    for key, text in tasks.items():
        status, _, deps = text.partition(":")
        found[key[1:]] = (status.strip(), tuple(deps.split()))
    return found


def load_seed() -> Tuple[Spec, Dict[str, str]]:
    """The seed feature's graph, and its titles."""
    graph: Spec = {}
    titles = {}
    for path in sorted(SEED_FEATURE.glob("subtask_*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        graph[data["seq"]] = (data["status"], tuple(data["depends_on"]))
        titles[data["seq"]] = data["title"]
    return graph, titles


SEED, SEED_TITLES = load_seed()


def with_status(graph: Spec, status: str, *seqs: str) -> Spec:
    changed = dict(graph)
    for seq in seqs:
        changed[seq] = (status, graph[seq][1])
    return changed


def where(findings: Iterable[Finding]) -> List[Tuple[str, Optional[str], Optional[str]]]:
    """(code, task, pointer) of each finding, the task read back from its path."""
    return [(f.code, f.path, f.pointer) for f in findings]


def check(graph: Mapping[str, Tuple[str, Sequence[str]]]) -> Tuple[Finding, ...]:
    """check_graph with each task's path being its seq, so that findings name their task."""
    return check_graph(graph, paths={seq: seq for seq in graph})


# -- brute-force definitions ------------------------------------------------------------------


def existing_deps(graph: Spec, seq: str) -> List[str]:
    return [dep for dep in dict.fromkeys(graph[seq][1]) if dep in graph]


def reach(graph: Spec, seq: str) -> Set[str]:
    """The tasks reachable from ``seq`` in one step or more."""
    seen: Set[str] = set()
    queue = deque(existing_deps(graph, seq))
    while queue:
        node = queue.popleft()
        if node not in seen:
            seen.add(node)
            queue.extend(existing_deps(graph, node))
    return seen


def brute_components(graph: Spec) -> Set[FrozenSet[str]]:
    """The cyclic strongly connected components, by mutual reachability."""
    reaches = {seq: reach(graph, seq) for seq in graph}
    return {
        frozenset({seq} | {other for other in reaches[seq] if seq in reaches[other]})
        for seq in graph
        if seq in reaches[seq]
    }


def brute_ready(graph: Spec) -> Tuple[str, ...]:
    return tuple(
        sorted(
            (
                seq
                for seq, (status, deps) in graph.items()
                if status == "pending"
                and all(dep in graph and graph[dep][0] == "completed" for dep in deps)
            ),
            key=seq_key,
        )
    )


def brute_blocked_by(graph: Spec) -> Dict[str, FrozenSet[FrozenSet[str]]]:
    """For each task a cycle blocks, the components that block it: those with an unfinished
    member reached through unfinished tasks outside cycles."""
    components = brute_components(graph)
    component_of = {seq: c for c in components for seq in c}
    unfinished = {seq for seq, (status, _) in graph.items() if status != "completed"}
    found = {}
    for seq in sorted(unfinished - set(component_of)):
        cycles = set()
        seen = {seq}
        queue = deque([seq])
        while queue:
            for dep in existing_deps(graph, queue.popleft()):
                if dep not in unfinished or dep in seen:
                    continue
                seen.add(dep)
                if dep in component_of:
                    cycles.add(component_of[dep])
                else:
                    queue.append(dep)
        if cycles:
            found[seq] = frozenset(cycles)
    return found


def brute_longest_chain(graph: Spec, skip: Set[str]) -> Dict[str, int]:
    """Longest chains by memoised search, for the unfinished tasks not in ``skip``."""
    memo: Dict[str, int] = {}

    def chain(seq: str) -> int:
        if seq not in memo:
            unfinished = [d for d in existing_deps(graph, seq) if graph[d][0] != "completed"]
            memo[seq] = max((chain(dep) + 1 for dep in unfinished), default=0)
        return memo[seq]

    return {
        seq: chain(seq)
        for seq in sorted(graph, key=seq_key)
        if graph[seq][0] != "completed" and seq not in skip
    }


def assert_valid_order(graph: Spec, order: Sequence[str], expected: Set[str]) -> None:
    """``order`` holds each of ``expected`` once, each after its dependencies."""
    assert len(order) == len(set(order))
    assert set(order) == expected
    position = {seq: number for number, seq in enumerate(order)}
    for seq in order:
        for dep in existing_deps(graph, seq):
            assert position[dep] < position[seq], (dep, seq)


def assert_valid_tree(graph: Spec, tree: DepsTree) -> None:
    """Every task reachable from the root is expanded exactly once, every other entry is a
    reference of the right kind, and the parent links describe the edges."""
    entries = tree.entries
    assert entries[0] == DepsEntry(tree.root, 0, None, graph[tree.root][0], DepsMark.TASK)
    expanded = [e.seq for e in entries if e.mark is DepsMark.TASK]
    assert len(expanded) == len(set(expanded))
    assert set(expanded) == {tree.root} | reach(graph, tree.root)
    for number, entry in enumerate(entries):
        children = [e for e in entries if e.parent == number]
        if entry.mark is DepsMark.TASK:
            assert [c.seq for c in children] == list(dict.fromkeys(graph[entry.seq][1]))
            assert [c.last for c in children] == [c is children[-1] for c in children]
        else:
            assert not children
        if entry.parent is None:
            assert number == 0
            continue
        parent = entries[entry.parent]
        assert entry.parent < number
        assert entry.depth == parent.depth + 1
        ancestors = set()
        up: Optional[int] = entry.parent
        while up is not None:
            ancestors.add(entries[up].seq)
            up = entries[up].parent
        if entry.mark is DepsMark.MISSING:
            assert entry.seq not in graph
            assert entry.status is None
            continue
        assert entry.status == graph[entry.seq][0]
        if entry.mark is DepsMark.CYCLE:
            assert entry.seq in ancestors
        elif entry.mark is DepsMark.SHOWN:
            assert entry.seq not in ancestors
            assert entry.seq in {e.seq for e in entries[:number] if e.mark is DepsMark.TASK}
        else:
            assert entry.seq not in ancestors
    text = render_deps_tree(tree)
    assert len(text.splitlines()) == max(len(entries), 2)


# -- strategies -------------------------------------------------------------------------------

seqs_strategy = st.from_regex(r"\A[0-9]{1,3}\Z")


@st.composite
def dags(draw: st.DrawFn, max_tasks: int = 20) -> Spec:
    """A random DAG: each task depends only on tasks drawn before it (in a random order, not
    the seq order), with random statuses."""
    seqs = draw(st.lists(seqs_strategy, max_size=max_tasks, unique=True))
    graph: Spec = {}
    for number, seq in enumerate(seqs):
        deps: List[str] = []
        if number:
            deps = draw(st.lists(st.sampled_from(seqs[:number]), max_size=4, unique=True))
        graph[seq] = (draw(st.sampled_from(STATUSES)), tuple(deps))
    return graph


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> Tuple[Spec, List[List[str]]]:
    """A random DAG with cycles injected: each a list of distinct tasks, every one made to
    depend on the next and the last on the first (a one-task cycle is a self-dependency)."""
    graph = draw(dags(max_tasks=16).filter(bool))
    seqs = sorted(graph)
    injected = draw(
        st.lists(st.lists(st.sampled_from(seqs), min_size=1, max_size=5, unique=True), max_size=3)
    )
    changed = {seq: (status, list(deps)) for seq, (status, deps) in graph.items()}
    for cycle in injected:
        for number, seq in enumerate(cycle):
            dep = cycle[(number + 1) % len(cycle)]
            if dep not in changed[seq][1]:
                changed[seq][1].append(dep)
    return {seq: (status, tuple(deps)) for seq, (status, deps) in changed.items()}, injected


@st.composite
def any_graphs(draw: st.DrawFn) -> Spec:
    """Anything: missing, repeated and self dependencies, cycles, any status."""
    seqs = draw(st.lists(st.sampled_from([f"{n:02d}" for n in range(1, 13)]), unique=True))
    names = [*seqs, "98", "99"]
    return {
        seq: (
            draw(st.sampled_from((*STATUSES, "done"))),
            tuple(draw(st.lists(st.sampled_from(names), max_size=4))),
        )
        for seq in seqs
    }


# -- seq order --------------------------------------------------------------------------------


def test_seqs_sort_by_value_then_as_strings_then_the_others() -> None:
    seqs = ["10", "x", "9", "010", "02", "2", "1", "abc", "0", "117", "٣", ""]
    expected = ["0", "1", "02", "2", "9", "010", "10", "117", "", "abc", "x", "٣"]
    assert sorted(seqs, key=seq_key) == expected


def test_a_seq_of_any_length_sorts_without_int_conversion_limits() -> None:
    huge = "1" + "0" * 5000
    assert sorted([huge, "9" * 4999, "2"], key=seq_key) == ["2", "9" * 4999, huge]


# -- building graphs --------------------------------------------------------------------------


def test_a_graph_from_a_mapping_holds_its_tasks_in_seq_order() -> None:
    graph = TaskGraph.from_mapping({"10": ("pending", ["9"]), "9": ("completed", ())})
    assert graph.seqs == ("9", "10")
    assert graph["10"] == TaskNode("10", "pending", ("9",))
    assert graph.get("11") is None
    assert "9" in graph
    assert 9 not in graph
    assert len(graph) == 2
    assert as_graph(graph) is graph
    assert as_graph({"9": ("completed", ()), "10": ("pending", ["9"])}) == graph
    assert TaskGraph([graph["10"], graph["9"]]) == graph


def test_graphs_are_frozen_hashable_and_pickle() -> None:
    graph = as_graph(spec(t01="pending: 02", t02="pending: 01"))
    before = hash(graph)
    assert find_cycles(graph)  # fills the graph's memo
    assert hash(graph) == before
    assert graph == as_graph(spec(t01="pending: 02", t02="pending: 01"))
    copy = pickle.loads(pickle.dumps(graph))
    assert copy == graph
    assert find_cycles(copy) == find_cycles(graph)
    with pytest.raises(AttributeError):
        graph.tasks = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    "build",
    [
        lambda: TaskNode(1, "pending"),  # type: ignore[arg-type]
        lambda: TaskNode("01", None),  # type: ignore[arg-type]
        lambda: TaskNode("01", "pending", "02"),
        lambda: TaskNode("01", "pending", [2]),  # type: ignore[list-item]
        lambda: TaskNode("01", "pending", 5),  # type: ignore[arg-type]
        lambda: TaskGraph([TaskNode("01", "pending"), TaskNode("01", "completed")]),
        lambda: TaskGraph(["01"]),  # type: ignore[list-item]
        lambda: TaskGraph.from_mapping({"01": "pending"}),  # type: ignore[dict-item]
        lambda: TaskGraph.from_mapping({"01": ("pending", (), True)}),  # type: ignore[dict-item]
        lambda: as_graph([("01", "pending", ())]),  # type: ignore[arg-type]
    ],
    ids=[
        "seq-not-str",
        "status-not-str",
        "deps-a-string",
        "dep-not-str",
        "deps-not-iterable",
        "duplicate-seq",
        "not-a-task",
        "value-not-a-pair",
        "value-a-triple",
        "not-a-mapping",
    ],
)
def test_bad_input_is_a_graph_error(build: object) -> None:
    with pytest.raises(GraphError) as caught:
        build()  # type: ignore[operator]
    assert isinstance(caught.value, UsageError)
    assert str(caught.value)


@pytest.mark.parametrize(
    "error",
    [
        GraphError("bad graph"),
        UnknownTask("task 99 not found", "99"),
        DependencyCycleError(
            [Cycle(("02", "03"), ("02", "03", "02")), Cycle(("05",), ("05", "05"))]
        ),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_are_stageflow_errors_that_pickle_with_their_fields(error: GraphError) -> None:
    assert isinstance(error, StageflowError)
    assert error.exit_code == 2
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        copy = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.args == error.args
        assert copy.to_dict() == error.to_dict()
        assert vars(copy) == vars(error)


def test_a_cycle_error_names_every_cycle() -> None:
    error = DependencyCycleError(
        [Cycle(("02", "03"), ("02", "03", "02")), Cycle(("05",), ("05", "05"))]
    )
    assert str(error) == "the dependencies have 2 cycles: 02 -> 03 -> 02; 05 -> 05"
    assert error.to_dict()["cycles"] == [
        {"members": ["02", "03"], "path": ["02", "03", "02"]},
        {"members": ["05"], "path": ["05", "05"]},
    ]


# -- findings ---------------------------------------------------------------------------------

CHECK_CASES = [
    pytest.param(SEED, [], id="seed-example"),
    pytest.param(
        spec(t01="pending", t02="pending: 03", t03="pending: 02", t04="pending: 02"),
        [("dependency-cycle", "02", "/depends_on/0"), ("blocked-by-cycle", "04", "/depends_on")],
        id="reference-02-03-and-04",
    ),
    pytest.param(
        spec(t02="pending: 03", t03="pending: 02", t04="pending: 02", t05="pending: 04"),
        [
            ("dependency-cycle", "02", "/depends_on/0"),
            ("blocked-by-cycle", "04", "/depends_on"),
            ("blocked-by-cycle", "05", "/depends_on"),
        ],
        id="downstream-transitively",
    ),
    pytest.param(
        spec(t01="pending: 99"), [("dependency-missing", "01", "/depends_on/0")], id="missing"
    ),
    pytest.param(
        spec(t01="pending: 01"),
        [("dependency-self", "01", "/depends_on/0"), ("dependency-cycle", "01", "/depends_on/0")],
        id="self",
    ),
    pytest.param(
        spec(t01="completed", t02="pending: 01 01 01"),
        [("dependency-duplicate", "02", "/depends_on/1")],
        id="duplicate",
    ),
    pytest.param(
        spec(t01="pending: 99 02 99 01 01", t02="completed"),
        [
            ("dependency-missing", "01", "/depends_on/0"),
            ("dependency-duplicate", "01", "/depends_on/2"),
            ("dependency-self", "01", "/depends_on/3"),
            ("dependency-duplicate", "01", "/depends_on/4"),
            ("dependency-cycle", "01", "/depends_on/3"),
        ],
        id="everything-in-one-list",
    ),
    pytest.param(
        spec(
            t01="pending: 02",
            t02="pending: 01",
            t03="pending: 04",
            t04="pending: 05",
            t05="pending: 03",
            t06="in_progress: 06",
            t07="pending: 01 04",
            t08="blocked: 07",
            t09="pending: 06",
            t10="pending",
        ),
        [
            ("dependency-self", "06", "/depends_on/0"),
            ("dependency-cycle", "01", "/depends_on/0"),
            ("dependency-cycle", "03", "/depends_on/0"),
            ("dependency-cycle", "06", "/depends_on/0"),
            ("blocked-by-cycle", "07", "/depends_on"),
            ("blocked-by-cycle", "08", "/depends_on"),
            ("blocked-by-cycle", "09", "/depends_on"),
        ],
        id="disjoint-cycles",
    ),
    pytest.param(
        spec(
            t02="pending: 03",
            t03="pending: 02",
            t04="completed: 02",
            t05="pending: 04",
            t06="in_progress: 02",
            t07="completed: 06",
        ),
        [("dependency-cycle", "02", "/depends_on/0"), ("blocked-by-cycle", "06", "/depends_on")],
        id="completed-tasks-shield-their-dependants",
    ),
    pytest.param(
        spec(t01="completed: 02", t02="completed: 01", t03="pending: 01"),
        [("dependency-cycle", "01", "/depends_on/0")],
        id="a-completed-cycle-blocks-nothing",
    ),
]


@pytest.mark.parametrize(("graph", "expected"), CHECK_CASES)
def test_findings(graph: Spec, expected: List[Tuple[str, str, str]]) -> None:
    findings = check(graph)
    assert where(findings) == expected
    for finding in findings:
        assert finding.code in GRAPH_CODES
        warning = finding.code in ("dependency-duplicate", "blocked-by-cycle")
        assert finding.severity is (Severity.WARNING if warning else Severity.ERROR)
        assert finding.message
        assert finding.recommendation
    assert check_graph(graph) == tuple(
        Finding(f.code, f.message, f.severity, None, f.pointer, f.recommendation) for f in findings
    )


def test_finding_messages() -> None:
    graph = spec(
        t01="pending: 99 01",
        t02="pending: 03 03 03",
        t03="pending: 02",
        t04="pending: 02 05",
        t05="pending: 06",
        t06="pending: 05",
    )
    assert [f.message for f in check_graph(graph)] == [
        "Task 01 depends on task 99, which does not exist",
        "Task 01 depends on itself",
        "Task 02 lists 03 3 times in depends_on",
        "Dependency cycle of one task, which depends on itself: 01 -> 01",
        "Dependency cycle among 2 tasks (02, 03): 02 -> 03 -> 02",
        "Dependency cycle among 2 tasks (05, 06): 05 -> 06 -> 05",
        "Task 04 is blocked by the dependency cycles 02 -> 03 -> 02; 05 -> 06 -> 05",
    ]


def test_a_cycle_is_one_component_with_a_shortest_path_through_its_first_task() -> None:
    graph = spec(t01="pending: 02", t02="pending: 03 01", t03="pending: 01")
    assert find_cycles(graph) == (Cycle(("01", "02", "03"), ("01", "02", "01")),)
    assert str(find_cycles(graph)[0]) == "01 -> 02 -> 01"
    assert "03" in find_cycles(graph)[0]
    # A self-loop inside a larger component is not what its path shows.
    graph = spec(t01="pending: 01 02", t02="pending: 01")
    assert find_cycles(graph) == (Cycle(("01", "02"), ("01", "02", "01")),)


def test_long_cycles_are_shortened_in_messages_only() -> None:
    seqs = [f"{n:03d}" for n in range(1, 31)]
    graph = {seq: ("pending", (seqs[n - 1],)) for n, seq in enumerate(seqs)}
    (cycle,) = find_cycles(graph)
    assert cycle.members == tuple(seqs)
    assert cycle.path == ("001", *reversed(seqs))
    (finding,) = check_graph(graph)
    assert finding.message == (
        "Dependency cycle among 30 tasks (001, 002, 003, 004, 005, 006, 007, 008, 009, 010, "
        "and 20 more): 001 -> 030 -> 029 -> 028 -> 027 -> 026 -> 025 -> 024 -> 023 -> 022 "
        "-> ... -> 002 -> 001 (30 steps)"
    )


def test_blocked_by_cycles_names_every_cycle_upstream() -> None:
    graph = spec(
        t01="pending: 02",
        t02="pending: 01",
        t03="pending: 03",
        t04="pending: 01",
        t05="pending: 04 03",
        t06="pending: 05",
    )
    first, second = find_cycles(graph)
    assert blocked_by_cycles(graph) == {
        "04": (first,),
        "05": (first, second),
        "06": (first, second),
    }


# -- ready and blocked ------------------------------------------------------------------------

READY_CASES = [
    pytest.param(SEED, ("01",), id="seed"),
    pytest.param(
        with_status(SEED, "completed", "01", "02"), ("03", "04", "05", "06", "10"), id="seed-2"
    ),
    pytest.param(
        with_status(with_status(SEED, "completed", "01", "02"), "in_progress", "03"),
        ("04", "05", "06", "10"),
        id="seed-in-progress",
    ),
    pytest.param(spec(t01="in_progress", t02="pending: 01"), (), id="in-progress-dependency"),
    pytest.param(spec(t01="pending: 99"), (), id="missing-dependency"),
    pytest.param(spec(t01="blocked", t02="pending"), ("02",), id="blocked-is-not-ready"),
    pytest.param(spec(t10="pending", t9="pending", t010="pending"), ("9", "010", "10"), id="order"),
    pytest.param(
        spec(t01="completed: 02", t02="completed: 01", t03="pending: 01"),
        ("03",),
        id="after-a-completed-cycle",
    ),
]


@pytest.mark.parametrize(("graph", "expected"), READY_CASES)
def test_ready(graph: Spec, expected: Tuple[str, ...]) -> None:
    assert ready(graph) == expected


REFERENCE_CYCLE = Cycle(("02", "03"), ("02", "03", "02"))
BLOCKED_CASES = [
    pytest.param(
        spec(t01="completed", t02="blocked: 01", t03="blocked: 04", t04="in_progress"),
        [("02", "explicitly blocked"), ("03", "explicitly blocked; waiting: 04")],
        id="explicit",
    ),
    pytest.param(
        spec(t01="pending", t02="in_progress: 01", t03="pending: 02 01 02"),
        [("03", "waiting: 01, 02")],
        id="waiting-in-seq-order-once-each",
    ),
    pytest.param(
        spec(t01="completed", t02="pending: 99 01 100 99"),
        [("02", "missing: 99, 100")],
        id="missing",
    ),
    pytest.param(
        spec(t01="pending", t02="pending: 03", t03="pending: 02", t04="pending: 02 01"),
        [
            ("02", "waiting: 03; in cycle 02 -> 03 -> 02"),
            ("03", "waiting: 02; in cycle 02 -> 03 -> 02"),
            ("04", "waiting: 01, 02; after cycle 02 -> 03 -> 02"),
        ],
        id="cycles",
    ),
]


@pytest.mark.parametrize(("graph", "expected"), BLOCKED_CASES)
def test_blocked(graph: Spec, expected: List[Tuple[str, str]]) -> None:
    assert [(b.seq, b.reason) for b in blocked(graph)] == expected


def test_blocked_tasks_carry_the_fields_callers_branch_on() -> None:
    graph = spec(t02="pending: 03", t03="pending: 02", t04="blocked: 02 99")
    assert blocked(graph) == (
        BlockedTask("02", "pending", ("03",), (), REFERENCE_CYCLE, ()),
        BlockedTask("03", "pending", ("02",), (), REFERENCE_CYCLE, ()),
        BlockedTask("04", "blocked", ("02",), ("99",), None, (REFERENCE_CYCLE,)),
    )
    assert blocked(graph)[2].explicit
    assert not blocked(graph)[0].explicit


def test_the_seed_blocks_every_task_but_the_first() -> None:
    found = blocked(SEED)
    assert [b.seq for b in found] == [f"{n:02d}" for n in range(2, 13)]
    assert found[-2].reason == "waiting: 08, 09, 10"


# -- dependency tree --------------------------------------------------------------------------


def test_the_tree_of_the_reference_documentation() -> None:
    graph = spec(t01="completed", t02="pending: 01", t04="pending: 01 02")
    titles = {"01": "Setup database", "02": "Create API", "04": "Integration tests"}
    assert render_deps_tree(deps_tree(graph, "04"), titles) == (
        "04 - Integration tests [pending]\n"
        "  ├── ✓ 01 - Setup database [completed]\n"
        "  └── ○ 02 - Create API [pending]\n"
        "      └── ✓ 01 - Setup database [completed] (shown above)"
    )


def test_the_seed_tree_shows_each_subtree_once() -> None:
    tree = deps_tree(SEED, "11")
    assert render_deps_tree(tree) == (
        "11 [pending]\n"
        "  ├── ○ 08 [pending]\n"
        "  │   └── ○ 07 [pending]\n"
        "  │       ├── ○ 03 [pending]\n"
        "  │       │   └── ○ 02 [pending]\n"
        "  │       │       └── ○ 01 [pending]\n"
        "  │       ├── ○ 04 [pending]\n"
        "  │       │   └── ○ 02 [pending] (shown above)\n"
        "  │       └── ○ 05 [pending]\n"
        "  │           └── ○ 02 [pending] (shown above)\n"
        "  ├── ○ 09 [pending]\n"
        "  │   ├── ○ 06 [pending]\n"
        "  │   │   └── ○ 02 [pending] (shown above)\n"
        "  │   └── ○ 07 [pending] (shown above)\n"
        "  └── ○ 10 [pending]\n"
        "      └── ○ 02 [pending] (shown above)"
    )
    assert_valid_tree(SEED, tree)
    assert render_deps_tree(deps_tree(SEED, "02"), SEED_TITLES).splitlines()[1] == (
        "  └── ○ 01 - Setup project structure and install dependencies [pending]"
    )


def test_a_tree_marks_cycles_missing_tasks_and_statuses() -> None:
    graph = spec(t01="pending", t02="pending: 03", t03="in_progress: 02 02", t04="blocked: 02 99")
    assert render_deps_tree(deps_tree(graph, "04")) == (
        "04 [blocked]\n"
        "  ├── ○ 02 [pending]\n"
        "  │   └── ~ 03 [in_progress]\n"
        "  │       └── ○ 02 [pending] (cycle)\n"
        "  └── ? 99 - NOT FOUND"
    )
    assert render_deps_tree(deps_tree(graph, "01")) == "01 [pending]\n  └── (no dependencies)"
    assert render_deps_tree(deps_tree(spec(t01="blocked: 01", t02="done: 01"), "02")) == (
        "02 [done]\n  └── ✗ 01 [blocked]\n      └── ✗ 01 [blocked] (cycle)"
    )
    assert deps_tree(graph, "02").entries == (
        DepsEntry("02", 0, None, "pending", DepsMark.TASK, True),
        DepsEntry("03", 1, 0, "in_progress", DepsMark.TASK, True),
        DepsEntry("02", 2, 1, "pending", DepsMark.CYCLE, True),
    )


def test_a_tree_of_an_unknown_task_is_an_error() -> None:
    with pytest.raises(UnknownTask) as caught:
        deps_tree(SEED, "99")
    assert caught.value.seq == "99"
    assert caught.value.to_dict()["seq"] == "99"
    with pytest.raises(UnknownTask):
        as_graph(SEED)["99"]


def test_a_ladder_of_diamonds_stays_linear() -> None:
    # Each rung's two tasks both depend on the next rung: the public tool prints 2**40 lines.
    rungs = 40
    graph: Spec = {}
    for rung in range(rungs):
        below = (f"{rung + 1:03d}",) if rung + 1 < rungs else ()
        graph[f"{rung:03d}"] = ("pending", (f"{rung:03d}a", f"{rung:03d}b"))
        graph[f"{rung:03d}a"] = ("pending", below)
        graph[f"{rung:03d}b"] = ("pending", below)
    tree = deps_tree(graph, "000")
    assert len(tree.entries) == 1 + 4 * rungs - 2
    assert_valid_tree(graph, tree)


# -- orders and chains ------------------------------------------------------------------------

SEED_ORDER = ("01", "02", "03", "04", "05", "06", "10", "07", "08", "09", "11", "12")
SEED_CHAINS = {
    "01": 0,
    "02": 1,
    "03": 2,
    "04": 2,
    "05": 2,
    "06": 2,
    "07": 3,
    "08": 4,
    "09": 4,
    "10": 2,
    "11": 5,
    "12": 5,
}


def test_the_seed_orders_by_generation() -> None:
    assert topological_order(SEED) == SEED_ORDER
    assert_valid_order(SEED, topological_order(SEED), set(SEED))
    assert longest_chain(SEED) == SEED_CHAINS
    assert list(longest_chain(SEED)) == sorted(SEED, key=seq_key)


def test_completed_tasks_are_left_out_of_chains_and_cut_them() -> None:
    done = with_status(SEED, "completed", "01", "02")
    assert longest_chain(done) == {
        **dict.fromkeys(("03", "04", "05", "06", "10"), 0),
        **{"07": 1, "08": 2, "09": 2, "11": 3, "12": 3},
    }
    graph = spec(t01="pending", t02="completed: 01", t03="pending: 02 99", t04="in_progress: 03")
    assert longest_chain(graph) == {"01": 0, "03": 0, "04": 1}
    assert topological_order(graph) == ("01", "02", "03", "04")


def test_a_cyclic_graph_has_no_order_unless_cycles_are_skipped() -> None:
    graph = spec(
        t01="pending",
        t02="pending: 03 01",
        t03="pending: 02",
        t04="completed: 02",
        t05="pending: 04",
        t06="pending: 06",
        t07="pending: 01",
    )
    for function in (topological_order, longest_chain):
        with pytest.raises(DependencyCycleError) as caught:
            function(graph)  # type: ignore[operator]
        assert caught.value.cycles == find_cycles(graph)
        assert str(caught.value) == ("the dependencies have 2 cycles: 02 -> 03 -> 02; 06 -> 06")
    assert topological_order(graph, skip_cycles=True) == ("01", "07")
    # 05 waits on a completed task only: it has a chain, though not a place in the order.
    assert longest_chain(graph, skip_cycles=True) == {"01": 0, "05": 0, "07": 1}


def test_empty_graphs() -> None:
    for graph in ({}, TaskGraph()):
        assert check_graph(graph) == ()
        assert ready(graph) == ()
        assert blocked(graph) == ()
        assert topological_order(graph) == ()
        assert longest_chain(graph) == {}
        assert find_cycles(graph) == ()
        assert blocked_by_cycles(graph) == {}


# -- properties -------------------------------------------------------------------------------


@FAST
@given(dags())
def test_a_dag_is_ordered_ready_and_without_findings(graph: Spec) -> None:
    assert check_graph(graph) == ()
    assert find_cycles(graph) == ()
    order = topological_order(graph)
    assert_valid_order(graph, order, set(graph))
    assert topological_order(graph, skip_cycles=True) == order
    assert ready(graph) == brute_ready(graph)
    assert longest_chain(graph) == brute_longest_chain(graph, set())
    expected_blocked = [
        seq
        for seq in sorted(graph, key=seq_key)
        if graph[seq][0] == "blocked"
        or (graph[seq][0] == "pending" and any(graph[d][0] != "completed" for d in graph[seq][1]))
    ]
    assert [b.seq for b in blocked(graph)] == expected_blocked
    for seq in graph:
        tree = deps_tree(graph, seq)
        assert_valid_tree(graph, tree)
        assert all(e.mark in (DepsMark.TASK, DepsMark.SHOWN) for e in tree.entries)


@FAST
@given(cyclic_graphs())
def test_injected_cycles_are_reported_once_and_never_as_blocked(
    case: Tuple[Spec, List[List[str]]],
) -> None:
    graph, injected = case
    cycles = find_cycles(graph)
    components = [set(c.members) for c in cycles]
    assert {frozenset(c) for c in components} == brute_components(graph)
    for members in injected:
        assert any(set(members) <= component for component in components)
    for cycle in cycles:
        assert list(cycle.members) == sorted(cycle.members, key=seq_key)
        assert cycle.path[0] == cycle.path[-1] == cycle.members[0]
        assert set(cycle.path) <= set(cycle.members)
        for seq, dep in zip(cycle.path, cycle.path[1:]):
            assert dep in graph[seq][1]
    assert [c.members[0] for c in cycles] == sorted((c.members[0] for c in cycles), key=seq_key)

    findings = check_graph(graph)
    assert sum(f.code == "dependency-cycle" for f in findings) == len(cycles)
    flagged = blocked_by_cycles(graph)
    in_cycles = set().union(*components) if components else set()
    assert not set(flagged) & in_cycles
    assert {
        seq: frozenset(frozenset(c.members) for c in found) for seq, found in flagged.items()
    } == brute_blocked_by(graph)
    assert sum(f.code == "blocked-by-cycle" for f in findings) == len(flagged)
    assert not any(f.code == "dependency-missing" for f in findings)
    assert ready(graph) == brute_ready(graph)


@FAST
@given(any_graphs())
def test_any_graph_is_checked_without_raising(graph: Spec) -> None:
    findings = check(graph)
    codes = [(f.code, f.path) for f in findings]
    missing = [(seq, d) for seq, (_, deps) in graph.items() for d in set(deps) if d not in graph]
    assert sorted(p for c, p in codes if c == "dependency-missing") == sorted(s for s, _ in missing)
    assert sorted(p for c, p in codes if c == "dependency-self") == sorted(
        seq for seq, (_, deps) in graph.items() if seq in deps
    )
    assert sorted(p for c, p in codes if c == "dependency-duplicate") == sorted(
        seq for seq, (_, deps) in graph.items() for d in set(deps) if deps.count(d) > 1
    )
    cycles = find_cycles(graph)
    assert {frozenset(c.members) for c in cycles} == brute_components(graph)
    assert [p for c, p in codes if c == "blocked-by-cycle"] == list(blocked_by_cycles(graph))
    assert ready(graph) == brute_ready(graph)
    for task in blocked(graph):
        status, deps = graph[task.seq]
        assert status in ("pending", "blocked")
        assert set(task.missing) == {d for d in deps if d not in graph}
        assert set(task.waiting) == {d for d in deps if d in graph and graph[d][0] != "completed"}
        assert task.explicit or task.waiting or task.missing
    # The structural downstream of the cycles is left out of the order, and only it.
    in_cycles = {seq for c in cycles for seq in c.members}
    left_out = {seq for seq in graph if seq in in_cycles or reach(graph, seq) & in_cycles}
    assert_valid_order(graph, topological_order(graph, skip_cycles=True), set(graph) - left_out)
    skip = in_cycles | set(blocked_by_cycles(graph))
    assert longest_chain(graph, skip_cycles=True) == brute_longest_chain(graph, skip)
    if cycles:
        with pytest.raises(DependencyCycleError):
            topological_order(graph)
    for seq in graph:
        assert_valid_tree(graph, deps_tree(graph, seq))


# -- 100,000 tasks: no recursion --------------------------------------------------------------

SIZE = 100_000


@pytest.fixture(scope="module")
def chain() -> TaskGraph:
    """100,000 tasks, each depending on the one before."""
    seqs = [f"{n:06d}" for n in range(SIZE)]
    return TaskGraph(
        TaskNode(seq, "pending", (seqs[n - 1],) if n else ()) for n, seq in enumerate(seqs)
    )


def test_a_100k_chain_is_checked_and_measured(chain: TaskGraph) -> None:
    assert check_graph(chain) == ()
    assert ready(chain) == ("000000",)
    chains = longest_chain(chain)
    assert len(chains) == SIZE
    assert chains["099999"] == SIZE - 1


def test_a_100k_chain_has_an_order(chain: TaskGraph) -> None:
    assert topological_order(chain) == chain.seqs


def test_a_100k_chain_has_a_tree(chain: TaskGraph) -> None:
    tree = deps_tree(chain, "099999")
    assert len(tree.entries) == SIZE
    assert tree.entries[-1] == DepsEntry("000000", SIZE - 1, SIZE - 2, "pending", DepsMark.TASK)


def test_a_100k_ring_is_one_cycle(chain: TaskGraph) -> None:
    ring = TaskGraph((TaskNode("000000", "pending", ("099999",)), *chain.tasks[1:]))
    (cycle,) = find_cycles(ring)
    assert len(cycle.members) == SIZE
    assert cycle.path == ("000000", *reversed(ring.seqs))
    assert [f.code for f in check_graph(ring)] == ["dependency-cycle"]
    with pytest.raises(DependencyCycleError):
        topological_order(ring)


def test_a_deep_tree_renders() -> None:
    seqs = [f"{n:04d}" for n in range(2000)]
    graph = {seq: ("pending", (seqs[n - 1],) if n else ()) for n, seq in enumerate(seqs)}
    lines = render_deps_tree(deps_tree(graph, seqs[-1])).splitlines()
    assert len(lines) == 2000
    assert lines[-1] == " " * (2 + 4 * 1998) + "└── ○ 0000 [pending]"
