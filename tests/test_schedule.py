"""The executor's pure scheduler: batches and eager dispatch, retries, skips, fail-fast, and
a property test over random DAGs whose tasks finish in random order."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Set

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stageflow._schedule import Scheduler
from stageflow.planner import plan

Doc = Dict[str, Any]


def task(deps: Sequence[str] = (), parallel: bool = True, deliverables: Sequence[str] = ()) -> Doc:
    return {
        "status": "pending",
        "depends_on": list(deps),
        "parallel": parallel,
        "deliverables": list(deliverables),
    }


def scheduler(
    documents: Dict[str, Doc],
    mode: str = "batches",
    max_width: Optional[int] = None,
    fail_fast: bool = False,
) -> Scheduler:
    return Scheduler(
        plan(documents, max_width=max_width),
        documents,
        mode=mode,
        max_width=max_width,
        fail_fast=fail_fast,
    )


def test_batches_mode_waits_for_the_whole_batch() -> None:
    s = scheduler({"a": task(), "b": task(), "c": task(["a"])})
    assert s.batches == (("a", "b"), ("c",))
    assert s.dispatch(10, 0.0) == ["a", "b"]
    assert s.dispatch(10, 0.0) == []
    s.succeeded("a")
    assert s.dispatch(10, 0.0) == []
    assert s.batches_done() == []
    s.succeeded("b")
    assert s.batches_done() == [1]
    assert s.batches_done() == []
    assert s.dispatch(10, 0.0) == ["c"]
    s.succeeded("c")
    assert s.finished
    assert s.settled("completed") == ["a", "b", "c"]


def test_dispatch_never_exceeds_free() -> None:
    s = scheduler({"a": task(), "b": task(), "c": task()})
    assert s.dispatch(1, 0.0) == ["a"]
    assert s.dispatch(0, 0.0) == []
    assert s.dispatch(-1, 0.0) == []
    assert s.dispatch(5, 0.0) == ["b", "c"]


def test_a_retry_is_due_after_its_backoff_and_goes_first() -> None:
    s = scheduler({"a": task(), "b": task(), "c": task()})
    assert s.dispatch(2, 0.0) == ["a", "b"]
    s.attempt_failed("a", 5.0)
    assert s.next_due() == 5.0
    assert s.active() == {"a", "b"}
    assert s.dispatch(1, 4.0) == ["c"]
    assert s.dispatch(1, 5.0) == ["a"]
    assert s.next_due() is None


def test_a_failure_skips_its_dependents_transitively() -> None:
    s = scheduler({"a": task(), "b": task(["a"]), "c": task(["b"]), "d": task()})
    s.dispatch(10, 0.0)
    assert s.failed("a", "boom") == [
        ("b", "depends on a, which failed"),
        ("c", "depends on b, which was skipped"),
    ]
    assert s.state["a"] == "failed"
    assert s.reasons["a"] == "boom"
    assert s.settled("skipped") == ["b", "c"]
    assert not s.finished
    s.succeeded("d")
    assert s.finished


def test_fail_fast_skips_every_waiting_task() -> None:
    s = scheduler({"a": task(), "b": task(), "c": task(["b"]), "d": task()}, fail_fast=True)
    assert s.dispatch(2, 0.0) == ["a", "b"]
    skipped = s.failed("a", "boom")
    assert [seq for seq, _ in skipped] == ["d", "c"] or [seq for seq, _ in skipped] == ["c", "d"]
    assert all("fail-fast" in reason for _, reason in skipped)
    assert s.state["b"] == "running"  # a running task finishes
    s.succeeded("b")
    assert s.finished
    assert s.dispatch(10, 0.0) == []


def test_skip_returns_the_task_first_then_its_dependents() -> None:
    s = scheduler({"a": task(), "b": task(["a"])})
    assert s.skip("a", "blocked") == [("a", "blocked"), ("b", "depends on a, which was skipped")]
    assert s.skip("a", "again") == []
    assert s.finished
    assert s.batches_done() == [1, 2]


def test_eager_mode_starts_a_task_when_its_dependencies_complete() -> None:
    s = scheduler({"c1": task(), "long": task(), "c2": task(["c1"]), "c3": task(["c2"])}, "eager")
    assert s.dispatch(10, 0.0) == ["c1", "long"]
    s.succeeded("c1")
    assert s.dispatch(10, 0.0) == ["c2"]
    s.succeeded("c2")
    assert s.dispatch(10, 0.0) == ["c3"]
    # batches mode would hold c2 until long is settled
    b = scheduler({"c1": task(), "long": task(), "c2": task(["c1"])})
    b.dispatch(10, 0.0)
    b.succeeded("c1")
    assert b.dispatch(10, 0.0) == []


def test_eager_mode_keeps_overlapping_deliverables_apart() -> None:
    s = scheduler(
        {
            "a": task(deliverables=["src/orders/"]),
            "b": task(["x"], deliverables=["src/orders/cart.py"]),
            "c": task(["x"], deliverables=["src/other.py"]),
            "x": task(deliverables=["README.md"]),
        },
        "eager",
    )
    assert s.dispatch(10, 0.0) == ["a", "x"]
    s.succeeded("x")
    assert s.dispatch(10, 0.0) == ["c"]  # b overlaps a and waits; c passes it
    s.succeeded("a")
    assert s.dispatch(10, 0.0) == ["b"]


def test_eager_mode_runs_a_sequential_task_alone_and_never_starves_it() -> None:
    s = scheduler({"p": task(), "x": task(), "s": task(parallel=False), "q": task(["x"])}, "eager")
    assert s.order.index("s") < s.order.index("q")
    assert s.dispatch(10, 0.0) == ["p", "x"]
    s.succeeded("x")
    assert s.dispatch(10, 0.0) == []  # q is ready, but s is first and waits for p
    s.succeeded("p")
    assert s.dispatch(10, 0.0) == ["s"]
    assert s.dispatch(10, 0.0) == []  # nothing runs beside s
    s.succeeded("s")
    assert s.dispatch(10, 0.0) == ["q"]


def test_eager_mode_caps_active_tasks_at_max_width() -> None:
    s = scheduler({name: task() for name in "abcde"}, "eager", max_width=2)
    assert s.dispatch(10, 0.0) == ["a", "b"]
    s.attempt_failed("a", 1.0)  # retrying still counts as active
    assert s.dispatch(10, 0.5) == []
    s.succeeded("b")
    assert s.dispatch(10, 0.5) == ["c"]


def test_a_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of batches, eager"):
        scheduler({"a": task()}, mode="greedy")


# -- the property test ------------------------------------------------------------------------

PATHS = ["src/a/", "src/a/x.py", "src/a/y.py", "src/b.py", "docs/", "docs/guide.md", "README.md"]


@st.composite
def features(draw: Any) -> Dict[str, Doc]:
    count = draw(st.integers(1, 9))
    seqs = [f"{n:02d}" for n in range(1, count + 1)]
    documents = {}
    for index, seq in enumerate(seqs):
        deps = draw(st.lists(st.sampled_from(seqs[:index]), max_size=3)) if index else []
        documents[seq] = task(
            sorted(set(deps)),
            draw(st.booleans()),
            draw(st.lists(st.sampled_from(PATHS), max_size=2, unique=True)),
        )
    return documents


def overlaps(a: Sequence[str], b: Sequence[str]) -> bool:
    keys = [[tuple(p for p in path.split("/") if p) for path in paths] for paths in (a, b)]
    return any(x[: len(y)] == y or y[: len(x)] == x for x in keys[0] for y in keys[1])


def closure(dependents: Dict[str, List[str]], seq: str) -> Set[str]:
    found: Set[str] = set()
    stack = list(dependents[seq])
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(dependents[current])
    return found


@settings(max_examples=150, deadline=None)
@given(
    documents=features(),
    mode=st.sampled_from(["batches", "eager"]),
    max_width=st.one_of(st.none(), st.integers(1, 3)),
    fail_fast=st.booleans(),
    data=st.data(),
)
def test_random_runs_keep_every_rule(
    documents: Dict[str, Doc],
    mode: str,
    max_width: Optional[int],
    fail_fast: bool,
    data: Any,
) -> None:
    s = scheduler(documents, mode, max_width, fail_fast)
    running: List[str] = []
    retries: Dict[str, int] = {}
    failed: Set[str] = set()
    dispatched: Set[str] = set()
    now = 0.0
    for _step in range(200):
        if s.finished:
            break
        free = data.draw(st.integers(0 if running else 1, 4), label="free")
        before = set(s.active())
        started = s.dispatch(free, now)
        assert len(started) <= max(free, 0)
        for seq in started:
            assert all(s.state[d] == "completed" for d in s.deps[seq]), seq
            if seq not in dispatched and mode == "batches":
                batch = s.batch_of[seq]
                for earlier in s.order:
                    if s.batch_of[earlier] < batch:
                        assert s.state[earlier] in ("completed", "failed", "skipped"), (
                            seq,
                            earlier,
                        )
            dispatched.add(seq)
        running.extend(started)
        active = sorted(s.active())
        assert set(running) <= set(active)
        assert before <= set(active) | set(s.order)
        if max_width is not None:
            assert len(active) <= max_width
        if len(active) > 1:
            assert not any(seq in s.sequential for seq in active), active
        if mode == "eager":
            for i, a in enumerate(active):
                for b in active[i + 1 :]:
                    assert not overlaps(documents[a]["deliverables"], documents[b]["deliverables"])
        if not running:
            due = s.next_due()
            assert due is not None, ("stuck", s.state)
            now = max(now, due)
            continue
        seq = running.pop(data.draw(st.integers(0, len(running) - 1), label="finishes"))
        what = data.draw(st.sampled_from(["ok", "ok", "retry", "fail"]), label="outcome")
        if what == "retry" and retries.get(seq, 0) < 2:
            retries[seq] = retries.get(seq, 0) + 1
            s.attempt_failed(seq, now + data.draw(st.sampled_from([0.0, 1.0, 2.5])))
        elif what == "fail":
            failed.add(seq)
            s.failed(seq, "boom")
        else:
            s.succeeded(seq)
    assert s.finished, s.state
    assert all(state in ("completed", "failed", "skipped") for state in s.state.values())
    assert set(s.settled("failed")) == failed
    for seq in failed:
        for dependent in closure(s.dependents, seq):
            assert s.state[dependent] == "skipped", (seq, dependent)
    if not failed:
        assert s.settled("completed") == list(s.order)
    batches_done = s.batches_done()
    assert sorted(batches_done) == list(range(1, len(s.batches) + 1))
    if mode == "batches" and not failed:  # a failure may skip a later batch at once
        assert batches_done == sorted(batches_done)
