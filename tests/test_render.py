"""Diagrams (:mod:`stageflow.render`): golden outputs for the seed example, escaping of any
title, cycles, the stage machine, and the ``task graph`` / ``stage graph`` commands."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from clihelp import cli, heavy_imports
from hypothesis import given, settings
from hypothesis import strategies as st

from stageflow import EIGHT_STAGE, MemoryStore, Orchestrator, StageSpec, WorkflowSpec
from stageflow._fsm import machine_for, position_of
from stageflow._taskview import graph_of, summary
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.graph import GraphError, TaskGraph, TaskNode, UnknownTask
from stageflow.planner import plan_feature
from stageflow.render import (
    generations,
    stage_graph_dot,
    stage_graph_mermaid,
    task_graph_dot,
    task_graph_mermaid,
)
from stageflow.serde import run_to_document
from stageflow.storage.taskfiles import FileTaskStore
from stageflow.testing import FakeClock

SEED = ORDER_MANAGEMENT / "order-management-mvp"
FEATURE = "order-management-mvp"
TRACEBACK = "Traceback (most recent call last)"
FAST = settings(max_examples=150, deadline=None)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("STAGEFLOW_ROOT", raising=False)
    shutil.copytree(SEED, tmp_path / ".tmp" / "tasks" / FEATURE)
    return tmp_path


def seed_graph(root: Path) -> Tuple[TaskGraph, Dict[str, str]]:
    stored = FileTaskStore(str(root)).load(FEATURE)
    titles = {r["seq"]: r["title"] for r in summary(stored)["subtasks"] if r["title"]}
    return graph_of(stored), titles


# -- golden outputs ------------------------------------------------------------------------

SMALL = TaskGraph(
    [
        TaskNode("01", "completed"),
        TaskNode("02", "in_progress", ["01"]),
        TaskNode("03", "pending", ["01"]),
        TaskNode("04", "blocked", ["02", "03"]),
    ]
)
SMALL_TITLES = {"01": "Setup", "02": "API", "03": "Schema", "04": "Tests"}

SMALL_MERMAID = """\
flowchart LR
    subgraph done_tasks["Completed"]
        t_01["01 (completed)<br/>Setup"]
    end
    subgraph batch1["Batch 1"]
        t_02["02 (in_progress)<br/>API"]
        t_03["03 (pending)<br/>Schema"]
    end
    subgraph batch2["Batch 2"]
        t_04["04 (blocked)<br/>Tests"]
    end
    t_01 --> t_02
    t_01 --> t_03
    t_02 --> t_04
    t_03 --> t_04
    classDef pending fill:#f5f5f5,stroke:#9e9e9e,color:#000
    classDef in_progress fill:#cfe2ff,stroke:#0d6efd,color:#000
    classDef completed fill:#d1e7dd,stroke:#198754,color:#000
    classDef blocked fill:#f8d7da,stroke:#dc3545,color:#000
    classDef unknown fill:#fff3cd,stroke:#b8860b,color:#000,stroke-dasharray:3 3
    class t_03 pending
    class t_02 in_progress
    class t_01 completed
    class t_04 blocked"""

SMALL_DOT = """\
digraph tasks {
    rankdir=LR;
    node [shape=box, style="rounded,filled", fontname="Helvetica"];
    subgraph cluster_done_tasks {
        label="Completed";
        t_01 [label="01 (completed)\\nSetup", fillcolor="#d1e7dd", color="#198754", style="rounded,filled"];
    }
    subgraph cluster_batch1 {
        label="Batch 1";
        t_02 [label="02 (in_progress)\\nAPI", fillcolor="#cfe2ff", color="#0d6efd", style="rounded,filled"];
        t_03 [label="03 (pending)\\nSchema", fillcolor="#f5f5f5", color="#9e9e9e", style="rounded,filled"];
    }
    subgraph cluster_batch2 {
        label="Batch 2";
        t_04 [label="04 (blocked)\\nTests", fillcolor="#f8d7da", color="#dc3545", style="rounded,filled"];
    }
    t_01 -> t_02;
    t_01 -> t_03;
    t_02 -> t_04;
    t_03 -> t_04;
}"""  # noqa: E501


def test_generations_group_unfinished_tasks_by_longest_chain() -> None:
    assert generations(SMALL) == [["02", "03"], ["04"]]


def test_small_graph_golden_mermaid_and_dot() -> None:
    batches = generations(SMALL)
    assert task_graph_mermaid(SMALL, titles=SMALL_TITLES, batches=batches) == SMALL_MERMAID
    assert task_graph_dot(SMALL, titles=SMALL_TITLES, batches=batches) == SMALL_DOT


def test_seed_example_graph(project: Path) -> None:
    graph, titles = seed_graph(project)
    batches = generations(graph)
    assert batches == [
        ["01"],
        ["02"],
        ["03", "04", "05", "06", "10"],
        ["07"],
        ["08", "09"],
        ["11", "12"],
    ]
    mermaid = task_graph_mermaid(graph, titles=titles, batches=batches).splitlines()
    assert mermaid[:3] == [
        "flowchart LR",
        '    subgraph batch1["Batch 1"]',
        '        t_01["01 (pending)<br/>Setup project structure and install dependencies"]',
    ]
    assert '        t_07["07 (pending)<br/>Implement order service orchestrating cart, inv…"]' in (
        mermaid
    )
    edges = [line.strip() for line in mermaid if "-->" in line]
    assert len(edges) == 16
    assert "t_07 --> t_09" in edges
    assert mermaid[-1] == (
        "    class t_01,t_02,t_03,t_04,t_05,t_06,t_07,t_08,t_09,t_10,t_11,t_12 pending"
    )
    dot = task_graph_dot(graph, titles=titles, batches=batches).splitlines()
    assert sum(1 for line in dot if "subgraph cluster_batch" in line) == 6
    assert sum(1 for line in dot if " -> " in line) == 16


def test_without_batches_every_node_is_ungrouped_except_completed() -> None:
    text = task_graph_mermaid(SMALL)
    assert text.count("subgraph") == 1
    assert 'subgraph done_tasks["Completed"]' in text
    assert '    t_04["04 (blocked)"]' in text  # no title: the first line only


def test_bad_batches_are_refused() -> None:
    with pytest.raises(UnknownTask):
        task_graph_mermaid(SMALL, batches=[["99"]])
    with pytest.raises(GraphError):
        task_graph_dot(SMALL, batches=[["02"], ["02"]])


def test_unknown_status_and_missing_dependencies() -> None:
    graph = TaskGraph([TaskNode("01", ""), TaskNode("02", "done", ["01", "99"])])
    text = task_graph_mermaid(graph)
    assert '    t_01["01 (unknown)"]' in text
    assert '    t_02["02 (done)"]' in text
    assert '    t_99["99 (missing)"]' in text
    assert "    class t_01,t_02,t_99 unknown" in text
    assert "t_99 --> t_02" in text
    dot = task_graph_dot(graph)
    assert 't_99 [label="99 (missing)", fillcolor="#fff3cd"' in dot
    assert 'style="rounded,filled,dashed"' in dot


# -- cycles -------------------------------------------------------------------------------


def test_cycles_are_drawn_and_marked() -> None:
    graph = TaskGraph(
        [
            TaskNode("01", "pending"),
            TaskNode("02", "pending", ["01", "03"]),
            TaskNode("03", "pending", ["02"]),
            TaskNode("04", "pending", ["03"]),
            TaskNode("05", "pending", ["05"]),
        ]
    )
    batches = generations(graph)
    assert batches == [["01"]]  # the cycles and what waits on them are in no batch
    text = task_graph_mermaid(graph, batches=batches)
    lines = text.splitlines()
    edges = [line.strip() for line in lines if "-->" in line]
    assert edges == [
        "t_01 --> t_02",
        "t_03 -->|cycle| t_02",
        "t_02 -->|cycle| t_03",
        "t_03 --> t_04",
        "t_05 -->|cycle| t_05",
    ]
    assert "    linkStyle 1,2,4 stroke:#dc3545,stroke-width:3px" in lines
    for seq in ("02", "03", "04", "05"):  # drawn outside every batch
        assert any(line.startswith(f'    t_{seq}["') for line in lines)
    dot = task_graph_dot(graph, batches=batches)
    assert 't_03 -> t_02 [label="cycle", color="#dc3545", penwidth=2];' in dot
    assert "t_03 -> t_04;" in dot


# -- escaping -----------------------------------------------------------------------------

NASTY = 'a "quoted" [x] {y} <b>&amp; #35; `tick` 50% back\\slash\nnew\r\tline\u2028é中\ud800'


def test_mermaid_escapes_every_special_character() -> None:
    graph = TaskGraph([TaskNode("01", "pending")])
    line = task_graph_mermaid(graph, titles={"01": NASTY[:200]}).splitlines()[1]
    label = line[line.index('["') + 2 : line.rindex('"]')]
    assert '"' not in label
    assert "<b>" not in label
    assert "`" not in label
    assert "\\" not in label
    assert "#34;quoted#34;" in label
    assert "#60;b#62;#38;amp; #35;35;" in label
    assert "\n" not in line
    assert "\u2028" not in line
    assert "\ud800" not in line


def test_dot_escapes_every_special_character() -> None:
    graph = TaskGraph([TaskNode("01", "pending")])
    lines = task_graph_dot(graph, titles={"01": 'x\\y "q" &lt; <b>\nz'}).splitlines()
    node = next(line for line in lines if line.startswith("    t_01 "))
    assert 'label="01 (pending)\\nx\\\\y \\"q\\" &amp;lt; <b> z"' in node


def test_odd_seqs_get_safe_distinct_identifiers() -> None:
    graph = TaskGraph(
        [TaskNode("end", "pending"), TaskNode("a-b", "pending"), TaskNode('x"];', "pending")]
    )
    text = task_graph_mermaid(graph)
    ids = set(re.findall(r"^\s+(\w+)\[", text, re.MULTILINE))
    assert ids == {"t_end", "tx_612d62", "tx_78225d3b"}
    assert '"a-b (pending)"' in text
    assert '"x#34;];' in text


def _dot_invariants(text: str, seqs: List[str]) -> None:
    """Quotes balanced on every line, braces balanced outside quotes, one node line per
    task."""
    depth = 0
    node_lines = 0
    for line in text.splitlines():
        unquoted, inside, escaped = [], False, False
        for char in line:
            if inside:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    inside = False
            elif char == '"':
                inside = True
            else:
                unquoted.append(char)
        assert not inside, line
        assert not escaped, line
        outside = "".join(unquoted)
        depth += outside.count("{") - outside.count("}")
        assert depth >= 0
        assert line.endswith(("{", "}", ";")), line
        # a node statement, judged outside the quotes: a title may hold " -> " itself
        if " [label=" in outside and " -> " not in outside:
            node_lines += 1
    assert depth == 0
    assert node_lines == len(seqs)


def _mermaid_invariants(text: str, seqs: List[str]) -> None:
    """Every line a statement; every label a quoted string without a quote inside; as many
    ``subgraph`` as ``end``; one node line per task."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes = 0
    for line in lines[1:]:
        assert line.count('"') in (0, 2), line
        if re.fullmatch(r"\s+(t_\w+|tx_[0-9a-f]+)\[\"[^\"]*\"\]", line):
            nodes += 1
    assert nodes == len(seqs)
    opened = sum(1 for line in lines if line.strip().startswith("subgraph "))
    assert opened == sum(1 for line in lines if line.strip() == "end")


titles_strategy = st.text(st.characters(), max_size=60)


@FAST
@given(
    st.lists(titles_strategy, min_size=1, max_size=6),
    st.lists(st.sampled_from(["pending", "completed", "in_progress", "blocked", "", "x"])),
    st.data(),
)
def test_any_titles_keep_the_structure_intact(
    titles: List[str], statuses: List[str], data: st.DataObject
) -> None:
    seqs = [f"{n:02d}" for n in range(1, len(titles) + 1)]
    nodes = []
    for i, seq in enumerate(seqs):
        deps = data.draw(st.lists(st.sampled_from(seqs), max_size=3))
        status = statuses[i] if i < len(statuses) else "pending"
        nodes.append(TaskNode(seq, status, deps))
    graph = TaskGraph(nodes)
    named = dict(zip(seqs, titles))
    batches = generations(graph)
    _dot_invariants(task_graph_dot(graph, titles=named, batches=batches), seqs)
    _mermaid_invariants(task_graph_mermaid(graph, titles=named, batches=batches), seqs)


@FAST
@given(st.lists(titles_strategy, min_size=1, max_size=5))
def test_any_stage_names_keep_the_structure_intact(names: List[str]) -> None:
    workflow = WorkflowSpec(
        "custom", [StageSpec(f"s{n}", name or "x") for n, name in enumerate(names)]
    )
    dot = stage_graph_dot(workflow)
    _dot_invariants(dot, [""] * (len(names) + 1))
    mermaid = stage_graph_mermaid(workflow)
    for line in mermaid.splitlines():
        assert line.count('"') in (0, 2), line


# -- stage graphs -------------------------------------------------------------------------

PLAIN_MERMAID_HEAD = [
    "flowchart LR",
    '    s1["1. Architecture Decomposition<br/>architecture"]',
    '    s2["2. Story Mapping<br/>stories"]',
]


def test_plain_workflow() -> None:
    lines = stage_graph_mermaid(EIGHT_STAGE).splitlines()
    assert lines[:3] == PLAIN_MERMAID_HEAD
    assert '    s7["7. Integration #38; Validation<br/>integration"]' in lines
    assert '    s_done(["done"])' in lines
    assert "    s8 --> s_done" in lines
    assert not any("rollback" in line for line in lines)
    assert lines[-1] == "    class s1,s2,s3,s4,s5,s6,s7,s8,s_done pending"
    dot = stage_graph_dot(EIGHT_STAGE)
    assert 's7 [label="7. Integration &amp; Validation\\nintegration"' in dot


def _run_at(stage: int) -> Any:
    """A run of the 8-stage workflow at ``stage`` (1 to 3), the earlier ones overridden."""
    flow = Orchestrator(store=MemoryStore(), clock=FakeClock())
    flow.init("demo")
    for number in range(1, stage):
        flow.complete("demo", number, override=True, reason="test")
    return flow.status("demo")


def _document_at(stage: int, then: Optional[str] = None) -> Dict[str, Any]:
    """The run document of a run at ``stage`` (9: completed), failed or aborted there."""
    document: Dict[str, Any] = run_to_document(_run_at(1))
    for record in document["stages"]:
        number = record["number"]
        record["status"] = (
            "completed" if number < stage else "in_progress" if number == stage else "pending"
        )
        if number == stage and then == "fail":
            record["status"] = "failed"
    document["current_stage"] = EIGHT_STAGE.keys[stage - 1] if stage <= 8 else None
    document["status"] = {None: "active", "fail": "failed", "abort": "aborted"}[then]
    if stage > 8:
        document["status"] = "completed"
    return document


def test_a_run_highlights_its_current_stage_and_its_rollbacks() -> None:
    run = _run_at(3)
    text = stage_graph_mermaid(run)
    assert text == stage_graph_mermaid(run_to_document(run))  # a run or its document
    lines = text.splitlines()
    assert '    s1["1. Architecture Decomposition<br/>architecture · completed"]' in lines
    assert '    s3["3. Prioritization<br/>prioritization · current"]' in lines
    assert [line for line in lines if "rollback" in line] == [
        "    s3 -.->|rollback| s1",
        "    s3 -.->|rollback| s2",
    ]
    assert lines[-3:] == [
        "    class s4,s5,s6,s7,s8,s_done pending",
        "    class s1,s2 completed",
        "    class s3 current",
    ]
    dot = stage_graph_dot(run)
    assert 's3 [label="3. Prioritization\\nprioritization · current", fillcolor="#cfe2ff"' in dot
    assert "penwidth=3" in dot
    assert 's3 -> s1 [label="rollback", style=dashed, constraint=false];' in dot


def test_failed_aborted_and_completed_runs() -> None:
    failed = stage_graph_mermaid(_document_at(2, "fail"))
    assert "    class s2 failed" in failed
    assert "s2 -.->|rollback| s1" in failed
    assert "stories · failed" in failed
    aborted = stage_graph_mermaid(_document_at(2, "abort"))
    assert "    class s2 aborted" in aborted
    assert "rollback" not in aborted
    done = stage_graph_mermaid(_document_at(9))
    assert "    class s_done finished" in done
    assert done.count("-.->|rollback|") == 8


@pytest.mark.parametrize(
    ("stage", "then"),
    [(n, then) for n in range(1, 9) for then in (None, "fail", "abort")] + [(9, None)],
)
def test_rollback_edges_are_the_machines(stage: int, then: Optional[str]) -> None:
    document = _document_at(stage, then)
    machine = machine_for(EIGHT_STAGE)
    position = position_of(document["status"], document["current_stage"])
    source = "s_done" if document["current_stage"] is None else f"s{stage}"
    expected = {
        f"    {source} -.->|rollback| s{n}"
        for n, key in enumerate(EIGHT_STAGE.keys, start=1)
        if machine.can(position, f"rollback:{key}") and f"s{n}" != source
    }
    drawn = {line for line in stage_graph_mermaid(document).splitlines() if "rollback" in line}
    assert drawn == expected


# -- the commands -------------------------------------------------------------------------


def test_task_graph_command(project: Path) -> None:
    graph, titles = seed_graph(project)
    stored = FileTaskStore(project).load(FEATURE)
    batches = [batch.seqs for batch in plan_feature(stored).batches]  # the planner's
    assert [list(b) for b in batches] != [list(g) for g in generations(graph)]  # not generations
    expected = task_graph_mermaid(graph, titles=titles, batches=batches)
    assert cli(project, "task", "graph", FEATURE) == (0, expected + "\n", "")
    code, out, _ = cli(project, "task", "graph", FEATURE, "--format", "dot", "--json")
    assert code == 0
    assert json.loads(out) == {
        "feature": FEATURE,
        "format": "dot",
        "diagram": task_graph_dot(graph, titles=titles, batches=batches),
        "problems": [],
    }


def test_task_graph_command_errors(project: Path) -> None:
    code, out, err = cli(project, "task", "graph", "nope")
    assert code == 2
    assert out == ""
    assert "nope" in err
    code, out, _ = cli(project, "task", "graph", "nope", "--json")
    assert code == 2
    assert json.loads(out)["error"] == "NotFound"
    code, _, err = cli(project, "task", "graph", FEATURE, "--format", "png")
    assert code == 2
    assert "invalid choice" in err
    bad = project / ".tmp" / "tasks" / FEATURE / "subtask_03.json"
    bad.write_text("{", encoding="utf-8")
    code, out, err = cli(project, "task", "graph", FEATURE)
    assert code == 2
    assert out.startswith("flowchart LR")
    assert "subtask_03.json" in err
    assert '    t_03["03 (unknown)' in out
    code, out, _ = cli(project, "task", "graph", FEATURE, "--json")
    assert code == 2
    assert json.loads(out)["problems"][0]["file"].endswith("subtask_03.json")


def test_stage_graph_command(project: Path) -> None:
    code, out, err = cli(project, "stage", "graph", FEATURE)
    assert code == 2
    assert "stageflow stage init" in err
    code, out, _ = cli(project, "stage", "graph", FEATURE, "--json")
    assert code == 2
    assert json.loads(out)["error"] == "NotFound"
    assert cli(project, "stage", "init", FEATURE)[0] == 0
    code, out, _ = cli(project, "stage", "graph", FEATURE)
    assert code == 0
    assert '    s1["1. Architecture Decomposition<br/>architecture · current"]' in out
    code, out, _ = cli(
        project, "stage", "graph", FEATURE, "--format", "dot", "--json", "--run", "1"
    )
    document = json.loads(out)
    assert code == 0
    assert document["feature"] == FEATURE
    assert document["format"] == "dot"
    assert document["diagram"].startswith("digraph stages {")
    code, _, err = cli(project, "stage", "graph", FEATURE, "--run", "7")
    assert code == 2


def test_stage_graph_imports_nothing_heavy(project: Path) -> None:
    assert cli(project, "stage", "init", FEATURE)[0] == 0
    assert heavy_imports(project, ["stage", "graph", FEATURE]) == (0, [])


def test_the_documented_task_graph_is_what_the_command_prints(project: Path) -> None:
    moves = [
        ("start", "01", "--agent", "a"),
        ("complete", "01", "done"),
        ("start", "02", "--agent", "a"),
        ("complete", "02", "done"),
        ("start", "03", "--agent", "a"),
        ("start", "04", "--agent", "b"),
        ("block", "06", "--reason", "waiting for SendGrid keys"),
    ]
    for move, seq, *rest in moves:
        assert cli(project, "task", move, FEATURE, seq, *rest)[0] == 0
    code, out, _ = cli(project, "task", "graph", FEATURE)
    assert code == 0
    docs = Path(__file__).resolve().parent.parent / "docs"
    block = "```mermaid\n" + out + "```\n"
    assert block in (docs / "diagrams.md").read_text(encoding="utf-8")
    assert out in (docs / "cli.md").read_text(encoding="utf-8")
