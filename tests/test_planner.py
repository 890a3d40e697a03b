"""The batch planner (stageflow.planner): each rule on small hand-made graphs, explanations,
the width cap, priorities, the seed example's plan, every cycle named, the critical path
and slack, and Hypothesis properties over random DAGs."""

from __future__ import annotations

import json
import pickle
import random
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stageflow import FileTaskStore, MemoryTaskStore, TaskTracker
from stageflow._deliverables import PathIndex, looks_like_path, path_key
from stageflow.errors import UsageError
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.graph import DependencyCycleError, GraphError
from stageflow.planner import (
    Conflict,
    Plan,
    PlanError,
    Rule,
    critical_path,
    plan,
    plan_feature,
)

SEED = ORDER_MANAGEMENT / "order-management-mvp"
FAST = settings(max_examples=150, deadline=None)


def task(*deps: str, status: str = "pending", parallel: Optional[bool] = None, **more: Any) -> Any:
    doc: Dict[str, Any] = {"status": status, "depends_on": list(deps), **more}
    if parallel is not None:
        doc["parallel"] = parallel
    return doc


def seeds() -> Dict[str, Any]:
    return {p.stem[len("subtask_") :]: json.loads(p.read_text()) for p in SEED.glob("subtask_*")}


def batches(result: Plan) -> List[List[str]]:
    return [list(b.seqs) for b in result.batches]


# -- the rules one by one ---------------------------------------------------------------------


def test_completed_tasks_are_not_planned_and_satisfy_their_dependants() -> None:
    result = plan({"01": task(status="completed"), "02": task("01"), "03": task("02")})
    assert batches(result) == [["02"], ["03"]]
    assert result.completed == ("01",)
    assert result.tasks["02"].generation == 0
    assert result.tasks["02"].placed_by == ()


def test_every_unfinished_status_is_planned() -> None:
    tasks = {"01": task(status="in_progress"), "02": task(status="blocked"), "03": task()}
    assert sorted(s for b in batches(plan(tasks)) for s in b) == ["01", "02", "03"]


def test_generations_follow_the_longest_unfinished_chain() -> None:
    tasks = {"01": task(), "02": task("01"), "03": task("01", "02"), "04": task()}
    result = plan(tasks)
    assert result.generations == (("01", "04"), ("02",), ("03",))
    assert result.tasks["03"].placed_by == ("02",)  # 01 is two generations back


def test_parallel_tasks_share_a_batch_and_come_first() -> None:
    tasks = {"01": task(), "02": task(parallel=True), "03": task(parallel=True), "04": task()}
    result = plan(tasks)
    assert batches(result) == [["02", "03"], ["01"], ["04"]]
    assert [result.tasks[s].rule for s in ("01", "02")] == [Rule.SEQUENTIAL, Rule.PARALLEL]


def test_overlapping_deliverables_open_a_new_batch_and_say_with_which_task() -> None:
    tasks = {
        "01": task(parallel=True, deliverables=["src/orders/"]),
        "02": task(parallel=True, deliverables=["./src/orders/cart.ts"]),  # inside 01's folder
        "03": task(parallel=True, deliverables=["src/orders/cart.ts/"]),  # same as 02's
        "04": task(parallel=True, deliverables=["src/order", "POST /orders"]),  # no overlap
    }
    result = plan(tasks)
    assert batches(result) == [["01", "04"], ["02"], ["03"]]
    three = result.tasks["03"]
    assert three.rule is Rule.CONFLICT
    assert three.conflicts == (
        Conflict("01", "src/orders/cart.ts/", "src/orders/"),
        Conflict("02", "src/orders/cart.ts/", "./src/orders/cart.ts"),
    )
    assert "overlap 01 (src/orders/cart.ts/ with src/orders/)" in three.explanation


def test_a_parallel_task_joins_the_first_batch_without_overlap() -> None:
    tasks = {
        "01": task(parallel=True, deliverables=["a.py"]),
        "02": task(parallel=True, deliverables=["a.py"]),
        "03": task(parallel=True, deliverables=["b.py"]),
        "04": task(parallel=True, deliverables=["a.py"]),
    }
    assert batches(plan(tasks)) == [["01", "03"], ["02"], ["04"]]


def test_paths_normalise_and_descriptions_never_overlap() -> None:
    assert path_key("./src//orders/") == ("src", "orders")
    assert path_key("src\\orders\\x.ts") == ("src", "orders", "x.ts")
    assert path_key("POST /orders") is None
    assert path_key("./") == ()
    assert not looks_like_path("OrderService")
    index = PathIndex()
    index.add(("src", "orders"), "01", "src/orders/")
    assert index.overlap(("src", "orders", "x")) == ("01", "src/orders/")
    assert index.overlap(("src",)) == ("01", "src/orders/")
    assert index.overlap(("src", "order")) is None
    assert index.overlap(()) == ("01", "src/orders/")  # the project folder holds everything


def test_the_width_cap_splits_every_batch_in_order() -> None:
    tasks = {f"0{n}": task(parallel=True) for n in range(1, 6)}
    result = plan(tasks, max_width=2)
    assert batches(result) == [["01", "02"], ["03", "04"], ["05"]]
    assert [result.tasks[s].width_capped for s in ("01", "02", "03", "05")] == [
        False,
        False,
        True,
        True,
    ]
    assert "width cap" in result.tasks["05"].explanation
    assert [b.number for b in result.batches] == [1, 2, 3]


@pytest.mark.parametrize("width", [0, -1, True, 1.5, "2"])
def test_a_bad_width_is_a_usage_error(width: Any) -> None:
    with pytest.raises(UsageError, match="max_width"):
        plan({"01": task()}, max_width=width)


def test_priority_orders_each_generation_higher_first_missing_last() -> None:
    tasks = {
        "01": task(parallel=True, deliverables=["x.py"], value=1),
        "02": task(parallel=True, deliverables=["x.py"], value=5),
        "03": task(parallel=True, deliverables=["x.py"]),
        "04": task(parallel=True, deliverables=["x.py"], value=5),
        "05": task(value=9),
    }
    result = plan(tasks, priority="value")
    assert batches(result) == [["02"], ["04"], ["01"], ["03"], ["05"]]
    assert result.tasks["02"].score == 5.0
    assert result.tasks["03"].score is None
    assert batches(plan(tasks)) == [["01"], ["02"], ["03"], ["04"], ["05"]]


def test_rice_and_wsjf_use_the_stored_score_else_compute_it() -> None:
    rice = {"reach": 100, "impact": 1, "confidence": 100, "effort": 1}  # 100
    tasks = {
        "01": task(parallel=True, rice_score={**rice, "score": 50}),
        "02": task(parallel=True, rice_score=rice),
        "03": task(parallel=True, rice_score={"reach": -1}),  # no usable score
    }
    result = plan(tasks, priority="rice", max_width=1)
    assert batches(result) == [["02"], ["01"], ["03"]]
    wsjf = {"business_value": 8, "time_criticality": 6, "risk_reduction": 5, "job_size": 3}
    scored = plan({"01": task(), "02": task(wsjf_score=wsjf)}, priority="wsjf")
    assert batches(scored) == [["02"], ["01"]]
    assert scored.tasks["02"].score == pytest.approx(19 / 3)


def test_booleans_and_text_are_no_priority_score() -> None:
    result = plan(
        {"01": task(rank=True), "02": task(rank="9"), "03": task(rank=1)}, priority="rank"
    )
    assert batches(result) == [["03"], ["01"], ["02"]]


# -- the seed example -------------------------------------------------------------------------


def test_the_seed_example_plans_its_twelve_subtasks_correctly() -> None:
    result = plan(seeds())
    assert batches(result) == [
        ["01"],
        ["02"],
        ["03", "04", "05", "06", "10"],
        ["07"],
        ["08"],
        ["09"],
        ["12"],
        ["11"],
    ]
    # the seed document prints 6 batches: it loses 02 and puts 12 in the batch of 08,
    # which 12 depends on
    assert result.tasks["12"].placed_by == ("08",)
    assert result.tasks["11"].placed_by == ("08", "09")
    assert result.tasks["07"].explanation == (
        "generation 3 (after 03, 04, 05); not parallel: a batch of its own"
    )


def test_plan_feature_reads_a_store_and_refuses_unusable_files(tmp_path: Any) -> None:
    store = MemoryTaskStore()
    store.create("shop", {"id": "shop"}, {"01": task(), "02": task("01", parallel=True)})
    tracker = TaskTracker(store)
    assert batches(tracker.plan("shop")) == [["01"], ["02"]]
    assert tracker.critical_path("shop").path == ("01", "02")

    folder = tmp_path / ".tmp" / "tasks" / "shop"
    folder.mkdir(parents=True)
    (folder / "subtask_01.json").write_text("{")
    (folder / "subtask_02.json").write_text(json.dumps({"seq": "02", **task("01")}))
    (folder / "subtask_03.json").write_text(json.dumps({"seq": "03", **task()}))
    with pytest.raises(PlanError) as caught:
        plan_feature(FileTaskStore(tmp_path).load("shop"))
    messages = [p.message for p in caught.value.problems]
    assert messages[0].startswith(".tmp/tasks/shop/subtask_01.json: ")
    assert messages[1] == "task 02 depends on 01, whose file cannot be used"
    assert caught.value.problems[0].file == ".tmp/tasks/shop/subtask_01.json"


# -- refusals ---------------------------------------------------------------------------------


def test_missing_dependencies_and_bad_fields_are_all_named() -> None:
    tasks = {
        "01": task("99"),
        "02": task("98", "01"),
        "03": {"status": 3},
        "04": task(parallel="yes"),
        "05": task(parallel=True, deliverables="src/"),
        "06": "not a task",
    }
    with pytest.raises(PlanError) as caught:
        plan(tasks)
    error = caught.value
    assert [p.seq for p in error.problems] == ["03", "04", "05", "06", "01", "02"]
    assert "task 01 depends on 99, which does not exist" in error.message
    assert isinstance(error, GraphError)
    assert isinstance(error, UsageError)
    assert error.to_dict()["problems"][0]["seq"] == "03"
    assert pickle.loads(pickle.dumps(error)).problems == error.problems


def test_every_cycle_is_named() -> None:
    tasks = {
        "01": task("02"),
        "02": task("01"),
        "03": task("03"),
        "04": task("05", status="completed"),
        "05": task("04", status="completed"),
        "06": task("01"),
    }
    with pytest.raises(DependencyCycleError) as caught:
        plan(tasks)
    assert [c.path for c in caught.value.cycles] == [
        ("01", "02", "01"),
        ("03", "03"),
        ("04", "05", "04"),
    ]
    with pytest.raises(DependencyCycleError):
        critical_path(tasks)


# -- critical path ----------------------------------------------------------------------------


def test_critical_path_and_slack_on_a_known_dag() -> None:
    tasks = {
        "01": task(estimated_effort=2),
        "02": task("01", estimated_effort=3),
        "03": task("01", estimated_effort=1),
        "04": task("02", "03", estimated_effort=2),
        "05": task(estimated_effort=1),
        "06": task("00", status="completed"),
        "00": task(status="completed"),
    }
    result = critical_path(tasks)
    assert result.path == ("01", "02", "04")
    assert result.length == 7
    assert result.slack == {"01": 0, "02": 0, "03": 2, "04": 0, "05": 6}
    timing = {t.seq: t for t in result.tasks}
    assert (timing["03"].earliest_start, timing["03"].latest_start) == (2, 4)
    assert result.completed == ("00", "06")
    assert result.to_dict()["tasks"][2]["critical"] is False


def test_critical_path_defaults_to_one_unit_and_handles_floats() -> None:
    assert critical_path({"01": task(), "02": task("01")}).length == 2
    result = critical_path(
        {"01": task(estimated_effort=0.1), "02": task("01", estimated_effort=0.2)}
    )
    assert result.path == ("01", "02")
    assert result.slack == {"01": 0, "02": 0}
    assert critical_path({}).path == ()


@pytest.mark.parametrize("bad", [0, -1, "2 days", True, float("nan")])
def test_a_bad_effort_is_named(bad: Any) -> None:
    with pytest.raises(PlanError, match="task 01: estimated_effort must be a number > 0"):
        critical_path({"01": task(estimated_effort=bad)})


# -- properties -------------------------------------------------------------------------------


@st.composite
def dags(draw: Any, all_parallel: bool = False) -> Dict[str, Any]:
    count = draw(st.integers(0, 25))
    seqs = [f"{n:02d}" for n in range(count)]
    paths = ["a.py", "b/", "b/c.py", "d/e/", "./d/e/f.py", "POST /x", "g.py"]
    tasks: Dict[str, Any] = {}
    for number, seq in enumerate(seqs):
        deps = draw(st.lists(st.sampled_from(seqs[:number]), max_size=3)) if number else []
        tasks[seq] = task(
            *deps,
            status=draw(st.sampled_from(["pending", "pending", "completed", "in_progress"])),
            parallel=True if all_parallel else draw(st.sampled_from([True, False, None])),
            deliverables=[] if all_parallel else draw(st.lists(st.sampled_from(paths), max_size=3)),
        )
    return tasks


def _overlap(a: str, b: str) -> bool:
    ka, kb = path_key(a), path_key(b)
    if ka is None or kb is None:
        return False
    short, long = sorted((ka, kb), key=len)
    return long[: len(short)] == short


@FAST
@given(dags(), st.one_of(st.none(), st.integers(1, 4)))
def test_plans_of_random_dags_keep_every_rule(tasks: Dict[str, Any], width: Optional[int]) -> None:
    result = plan(tasks, max_width=width)
    unfinished = [s for s, t in tasks.items() if t["status"] != "completed"]
    planned = [s for b in result.batches for s in b.seqs]
    assert sorted(planned) == sorted(unfinished)  # each exactly once
    where = {s: b.number for b in result.batches for s in b.seqs}
    for seq in planned:
        for dep in tasks[seq]["depends_on"]:
            assert dep not in where or where[dep] < where[seq]
    for b in result.batches:
        if width is not None:
            assert len(b.tasks) <= width
        if len(b.tasks) > 1:
            assert all(tasks[s].get("parallel") is True for s in b.seqs)
        made = [(s, d) for s in b.seqs for d in tasks[s]["deliverables"]]
        for i, (s, d) in enumerate(made):
            assert not any(o != s and _overlap(d, e) for o, e in made[i + 1 :])
    # deterministic, whatever the order of the mapping
    items = list(tasks.items())
    random.Random(0).shuffle(items)
    assert plan(dict(items), max_width=width) == result


@FAST
@given(dags(all_parallel=True))
def test_without_flags_conflicts_or_cap_batches_are_the_longest_chain(
    tasks: Dict[str, Any],
) -> None:
    result = plan(tasks)
    chain: Dict[str, int] = {}
    for seq, t in tasks.items():  # seqs come in dependency order
        if t["status"] != "completed":
            chain[seq] = 1 + max((chain.get(d, 0) for d in t["depends_on"]), default=0)
    assert len(result.batches) == max(chain.values(), default=0)


@FAST
@given(dags())
def test_critical_path_slack_is_never_negative_and_the_path_has_none(tasks: Dict[str, Any]) -> None:
    result = critical_path(tasks)
    assert all(slack >= 0 for slack in result.slack.values())
    assert all(result.slack[s] == 0 for s in result.path)
    assert sum(1 for _ in result.path) == len(set(result.path))
    assert result.length == len(result.path)  # every effort is 1 here
