"""The task tracker over both task stores: moves written back to the file they were read
from, counts recomputed on every write, atomic claims, and bad files that never lose data."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stageflow import FileTaskStore, MemoryTaskStore, TaskTracker
from stageflow.errors import ConflictError, NotFound, RuleViolation, StateFileError, UsageError
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.storage import open_stores
from stageflow.storage._taskdocs import MISSING
from stageflow.testing import FakeClock

SEED = ORDER_MANAGEMENT / "order-management-mvp"
FEATURE = "shop"

Doc = Dict[str, Any]


def sub(seq: str, status: str = "pending", deps: Optional[List[str]] = None, **extra: Any) -> Doc:
    doc: Doc = {
        "id": f"{FEATURE}-{seq}",
        "seq": seq,
        "title": f"Subtask {seq}",
        "status": status,
        "depends_on": deps or [],
        "acceptance_criteria": ["works"],
        "deliverables": [f"src/{seq}.py"],
    }
    if status in ("in_progress", "completed"):
        doc.update(agent_id="a0", started_at="2026-01-01T00:00:00Z")
    if status == "completed":
        doc.update(completed_at="2026-01-01T01:00:00Z", completion_summary="done")
    doc.update(extra)
    return doc


def task_doc(count: int = 0, completed: int = 0, **extra: Any) -> Doc:
    doc: Doc = {
        "id": FEATURE,
        "name": "Shop",
        "status": "active",
        "objective": "Sell things",
        "created_at": "2026-01-01T00:00:00Z",
        "subtask_count": count,
        "completed_count": completed,
    }
    doc.update(extra)
    return doc


@pytest.fixture(params=["memory", "files", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param in ("memory", "files"):
        yield MemoryTaskStore() if request.param == "memory" else FileTaskStore(tmp_path)
        return
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path}/flow.db"
    else:
        url = request.getfixturevalue("postgres_url")
    with open_stores(url) as stores:
        yield stores.tasks


def tracker_for(store: Any) -> TaskTracker:
    return TaskTracker(store, clock=FakeClock())


def make_feature(store: Any, *subtasks: Doc, task: Optional[Doc] = None) -> TaskTracker:
    store.create(FEATURE, task or task_doc(len(subtasks)), {s["seq"]: s for s in subtasks})
    return tracker_for(store)


def documents(store: Any) -> Dict[str, Optional[Doc]]:
    stored = store.load(FEATURE)
    return {f.name: f.document for f in (stored.task, *stored.subtasks)}


def feature_dir(tmp_path: Path) -> Path:
    return tmp_path / ".tmp" / "tasks" / FEATURE


def snapshot(folder: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# -- the lifecycle through the store -------------------------------------------------------


def test_a_subtask_goes_through_its_lifecycle_and_task_json_keeps_count(store: Any) -> None:
    tracker = make_feature(store, sub("01"), sub("02", deps=["01"]))
    started = tracker.start(FEATURE, "01", "coder-1")
    assert (started.move.operation, started.move.status_after) == ("start", "in_progress")
    assert started.subtask["agent_id"] == "coder-1"
    assert started.subtask["started_at"] == "2026-01-01T00:00:00Z"
    assert (started.completed, started.total, started.task_written) == (0, 2, False)

    done = tracker.complete(FEATURE, "01", "  built it  ")
    assert done.subtask["completion_summary"] == "built it"
    assert (done.completed, done.total, done.task_written) == (1, 2, True)
    stored = documents(store)
    assert stored["subtask_01.json"] == done.subtask
    assert stored["task.json"]["completed_count"] == 1  # type: ignore[index]

    tracker.block(FEATURE, "02", "waiting for the API key")
    tracker.unblock(FEATURE, "02")
    reopened = tracker.reopen(FEATURE, "01", "the tests were wrong")
    assert reopened.subtask["status"] == "pending"
    assert documents(store)["task.json"]["completed_count"] == 0  # type: ignore[index]


def test_start_is_refused_while_a_dependency_is_not_completed_and_nothing_changes(
    store: Any,
) -> None:
    tracker = make_feature(store, sub("01", "in_progress"), sub("02", deps=["01"]))
    before = documents(store)
    with pytest.raises(RuleViolation) as refused:
        tracker.start(FEATURE, "02", "coder-2")
    assert [f.code for f in refused.value.findings] == ["task-dependency-unmet"]
    assert documents(store) == before


def test_a_forced_completion_is_recorded_in_the_subtask(store: Any) -> None:
    tracker = make_feature(store, sub("01"), sub("02", "in_progress", deps=["01"]))
    with pytest.raises(RuleViolation):
        tracker.complete(FEATURE, "02", "done")
    result = tracker.complete(FEATURE, "02", "done", force=True, reason="01 is a doc task")
    assert result.move.forced
    assert result.subtask["forced_completion"]["unmet_dependencies"] == [
        {"seq": "01", "status": "pending"}
    ]


def test_a_refused_transition_names_the_allowed_moves(store: Any) -> None:
    tracker = make_feature(store, sub("01", "completed"))
    with pytest.raises(RuleViolation) as refused:
        tracker.start(FEATURE, "01", "coder-1")
    assert "allowed moves from completed: reopen" in str(refused.value)


def test_every_write_recomputes_stale_counts_in_task_json(store: Any) -> None:
    tracker = make_feature(
        store, sub("01", "completed"), sub("02"), task=task_doc(count=7, completed=5)
    )
    result = tracker.start(FEATURE, "02", "coder-1")
    assert result.task_written
    task = documents(store)["task.json"]
    assert (task["subtask_count"], task["completed_count"]) == (2, 1)  # type: ignore[index]


def test_unknown_fields_are_kept_verbatim_in_subtask_and_task(store: Any) -> None:
    extra = {"x_owner": {"team": "payments", "tags": ["a", "b"]}, "notes": None}
    tracker = make_feature(store, sub("01", **extra), task=task_doc(1, 0, x_board={"column": 3}))
    tracker.start(FEATURE, "01", "coder-1")
    tracker.complete(FEATURE, "01", "done")
    stored = documents(store)
    assert stored["subtask_01.json"]["x_owner"] == extra["x_owner"]  # type: ignore[index]
    assert "notes" in stored["subtask_01.json"]  # type: ignore[operator]
    assert stored["task.json"]["x_board"] == {"column": 3}  # type: ignore[index]
    assert list(stored["subtask_01.json"])[:5] == ["id", "seq", "title", "status", "depends_on"]  # type: ignore[arg-type]


def test_an_unknown_seq_is_not_found_and_names_the_nearest_seq(store: Any) -> None:
    tracker = make_feature(store, sub("01"), sub("02"))
    with pytest.raises(NotFound) as missing:
        tracker.start(FEATURE, "2", "coder-1")
    assert "did you mean '02'" in str(missing.value)
    with pytest.raises(NotFound):
        tracker.start("nothing-here", "01", "coder-1")


def test_seqs_of_any_length_are_tasks(store: Any) -> None:
    tracker = make_feature(store, sub("09"), sub("117", deps=["09"]), sub("04210"))
    assert [r["seq"] for r in tracker.ready(FEATURE)] == ["09", "04210"]
    tracker.start(FEATURE, "09", "a")
    tracker.complete(FEATURE, "09", "done")
    assert [r["seq"] for r in tracker.ready(FEATURE)] == ["117", "04210"]


# -- claims --------------------------------------------------------------------------------


def test_claim_starts_the_first_ready_subtask_in_seq_order(store: Any) -> None:
    tracker = make_feature(store, sub("01", "completed"), sub("02", deps=["03"]), sub("03"))
    first = tracker.claim(FEATURE, "agent-a")
    assert (first.move.seq, first.subtask["agent_id"]) == ("03", "agent-a")
    with pytest.raises(RuleViolation) as nothing:
        tracker.claim(FEATURE, "agent-b")
    (finding,) = nothing.value.findings
    assert finding.code == "task-none-ready"
    assert "1 in progress, 1 waiting on dependencies, 0 blocked" in finding.message


def test_claim_says_when_everything_is_completed(store: Any) -> None:
    tracker = make_feature(store, sub("01", "completed"))
    with pytest.raises(RuleViolation) as nothing:
        tracker.claim(FEATURE, "agent-a")
    assert "every subtask" in nothing.value.findings[0].message


def test_concurrent_claims_from_threads_never_hand_out_a_subtask_twice(store: Any) -> None:
    count = 40
    tracker = make_feature(store, *(sub(f"{n:02d}") for n in range(1, count + 1)))
    claimed: List[str] = []
    lock = threading.Lock()

    def work(agent: str) -> None:
        mine = TaskTracker(store, clock=FakeClock())
        while True:
            try:
                result = mine.claim(FEATURE, agent)
            except RuleViolation:
                return
            with lock:
                claimed.append(str(result.move.seq))

    threads = [threading.Thread(target=work, args=(f"agent-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [f"{n:02d}" for n in range(1, count + 1)]
    assert tracker.summary(FEATURE)["counts"]["in_progress"] == count


# -- bad files -----------------------------------------------------------------------------


def test_a_malformed_task_json_refuses_every_move_and_changes_no_byte(tmp_path: Path) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01"), sub("02"))
    folder = feature_dir(tmp_path)
    (folder / "task.json").write_text('{"id": "shop", "subtask_count": 2,')
    before = snapshot(folder)
    for move in (
        lambda: tracker.start(FEATURE, "01", "a"),
        lambda: tracker.claim(FEATURE, "a"),
        lambda: tracker.block(FEATURE, "02", "why"),
    ):
        with pytest.raises(StateFileError) as broken:
            move()
        assert broken.value.path == f".tmp/tasks/{FEATURE}/task.json"
        assert "truncated JSON" in broken.value.problem
    assert snapshot(folder) == before


def test_a_missing_task_json_still_moves_the_subtask_and_says_so(tmp_path: Path) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01"))
    (feature_dir(tmp_path) / "task.json").unlink()
    result = tracker.start(FEATURE, "01", "a")
    assert result.warnings == (
        f".tmp/tasks/{FEATURE}/task.json does not exist: its counts were not updated",
    )
    assert not (feature_dir(tmp_path) / "task.json").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b'{"seq": "02", "status": "pend', "truncated JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object, found an array"),
    ],
)
def test_a_malformed_subtask_is_an_error_naming_it_and_others_still_move(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01"), sub("02"), sub("03", deps=["02"]))
    folder = feature_dir(tmp_path)
    (folder / "subtask_02.json").write_bytes(content)
    with pytest.raises(StateFileError) as broken:
        tracker.start(FEATURE, "02", "a")
    assert broken.value.path == f".tmp/tasks/{FEATURE}/subtask_02.json"
    assert problem in broken.value.problem
    assert (folder / "subtask_02.json").read_bytes() == content
    # The others move; a dependency on the broken file is never satisfied.
    assert tracker.start(FEATURE, "01", "a").move.seq == "01"
    with pytest.raises(RuleViolation):
        tracker.start(FEATURE, "03", "a")
    summary = tracker.summary(FEATURE)
    assert summary["problems"] == [
        {"file": f".tmp/tasks/{FEATURE}/subtask_02.json", "problem": broken.value.problem}
    ]
    assert summary["subtask_count"] == 3
    assert (folder / "subtask_02.json").read_bytes() == content


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"status": "done"}, "unknown status 'done'"),
        ({"depends_on": "01"}, "depends_on must be an array"),
    ],
)
def test_a_subtask_the_lifecycle_cannot_read_is_an_error_naming_its_file(
    store: Any, change: Doc, problem: str
) -> None:
    tracker = make_feature(store, sub("01"), sub("02", **change))
    before = documents(store)
    with pytest.raises(StateFileError) as broken:
        tracker.start(FEATURE, "02", "a")
    assert broken.value.path.endswith("subtask_02.json")
    assert problem in broken.value.problem
    assert documents(store) == before
    assert tracker.claim(FEATURE, "a").move.seq == "01"


def test_a_write_goes_to_the_file_read_never_to_a_name_built_from_its_seq(
    tmp_path: Path,
) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01"))
    folder = feature_dir(tmp_path)
    # The public tool rebuilt the name from "seq": "2" and wrote subtask_2.json, which it
    # never read again: the update was lost. Here a subtask is its file: one whose seq
    # disagrees with its name is refused, named, and left as it is.
    (folder / "subtask_02.json").write_text(json.dumps(sub("2")))
    before = snapshot(folder)
    with pytest.raises(StateFileError) as broken:
        tracker.start(FEATURE, "02", "a")
    assert broken.value.path == f".tmp/tasks/{FEATURE}/subtask_02.json"
    assert "seq field says '2' but its file name says '02'" in broken.value.problem
    with pytest.raises(NotFound, match="did you mean '02'"):
        tracker.start(FEATURE, "2", "a")
    assert snapshot(folder) == before
    # Without a seq field, the file name alone says which subtask it is.
    doc = sub("02")
    del doc["seq"]
    (folder / "subtask_02.json").write_text(json.dumps(doc))
    result = tracker.start(FEATURE, "02", "a")
    assert (result.seq, result.location) == ("02", f".tmp/tasks/{FEATURE}/subtask_02.json")
    assert sorted(p.name for p in folder.iterdir()) == [
        "subtask_01.json",
        "subtask_02.json",
        "task.json",
    ]
    assert "seq" not in json.loads((folder / "subtask_02.json").read_text())


def test_a_file_claiming_another_files_seq_is_never_moved_or_claimed(tmp_path: Path) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01", "completed"), sub("02"))
    folder = feature_dir(tmp_path)
    (folder / "subtask_03.json").write_text(json.dumps(sub("02")))
    with pytest.raises(StateFileError, match=r"subtask_03\.json"):
        tracker.start(FEATURE, "03", "a")
    claimed = tracker.claim(FEATURE, "a")
    assert (claimed.seq, claimed.location) == ("02", f".tmp/tasks/{FEATURE}/subtask_02.json")
    with pytest.raises(RuleViolation) as nothing:
        tracker.claim(FEATURE, "b")
    assert "unusable: .tmp/tasks/shop/subtask_03.json" in nothing.value.findings[0].message
    assert tracker.summary(FEATURE)["problems"][0]["file"].endswith("subtask_03.json")


def test_a_non_string_seq_field_makes_the_subtask_unusable(store: Any) -> None:
    tracker = make_feature(store, sub("01"))
    stored = store.load(FEATURE)
    first = stored.subtasks[0]
    store.save(FEATURE, first.location, {**first.document, "seq": 1}, first.revision)
    with pytest.raises(StateFileError, match="seq field says 1"):
        tracker.start(FEATURE, "01", "a")
    with pytest.raises(RuleViolation) as nothing:
        tracker.claim(FEATURE, "a")
    assert nothing.value.findings[0].code == "task-none-ready"


def test_a_file_changed_after_it_was_read_is_a_conflict(store: Any) -> None:
    make_feature(store, sub("01"))
    stored = store.load(FEATURE)
    first = stored.subtasks[0]
    store.save(FEATURE, first.location, {**first.document, "title": "Renamed"}, first.revision)
    with pytest.raises(ConflictError):
        store.save(FEATURE, first.location, first.document, first.revision)
    assert documents(store)["subtask_01.json"]["title"] == "Renamed"  # type: ignore[index]


@pytest.mark.parametrize(
    "name",
    ["../x.json", "subtask_1.json", "task.json.bak", "/etc/x", "subtask_01.json/../../x.json"],
)
def test_a_store_writes_only_task_files_of_the_feature(store: Any, name: str) -> None:
    make_feature(store, sub("01"))
    folder = store.load(FEATURE).folder
    for location in (name, f"{folder}/{name}", ".tmp/tasks/other/task.json", "memory:x/task.json"):
        with pytest.raises(UsageError):
            store.save(FEATURE, location, {}, None)


def test_creating_an_existing_feature_is_a_conflict(store: Any) -> None:
    make_feature(store, sub("01"))
    with pytest.raises(ConflictError):
        store.create(FEATURE, task_doc(), {})


# -- layouts -------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["", "active/", "completed/"])
def test_every_layout_is_read_and_written_in_place(tmp_path: Path, layout: str) -> None:
    folder = tmp_path / ".tmp" / "tasks" / f"{layout}order-management-mvp"
    shutil.copytree(SEED, folder)
    tracker = TaskTracker(FileTaskStore(tmp_path), clock=FakeClock())
    assert tracker.features() == ["order-management-mvp"]
    result = tracker.claim("order-management-mvp", "coder-1")
    assert result.location == f".tmp/tasks/{layout}order-management-mvp/subtask_01.json"
    assert json.loads((folder / "subtask_01.json").read_text())["agent_id"] == "coder-1"
    assert sorted(os.listdir(tmp_path / ".tmp" / "tasks")) == [
        layout.rstrip("/") or "order-management-mvp"
    ]


def test_the_seed_feature_reads_as_the_seed_says(tmp_path: Path) -> None:
    shutil.copytree(SEED, tmp_path / ".tmp" / "tasks" / "order-management-mvp")
    tracker = TaskTracker(root=tmp_path)
    summary = tracker.summary("order-management-mvp")
    assert (summary["subtask_count"], summary["completed_count"], summary["progress"]) == (12, 0, 0)
    assert [r["seq"] for r in tracker.ready("order-management-mvp")] == ["01"]
    assert [r["seq"] for r in tracker.ready("order-management-mvp", parallel_only=True)] == ["01"]
    blocked = {b.seq: b.waiting for b in tracker.blocked("order-management-mvp")}
    assert blocked["07"] == ("03", "04", "05")
    tree = tracker.deps("order-management-mvp", "07")
    assert [e.seq for e in tree.entries].count("02") == 3  # once expanded, twice "shown above"


# -- both stores, random operations ----------------------------------------------------------

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["start", "complete", "force", "block", "unblock", "reopen", "claim"]),
        st.sampled_from(["01", "02", "03", "04", "05"]),
    ),
    max_size=25,
)


def apply_operation(tracker: TaskTracker, operation: str, seq: str) -> Any:
    try:
        if operation == "start":
            result = tracker.start(FEATURE, seq, "a")
        elif operation == "complete":
            result = tracker.complete(FEATURE, seq, "done")
        elif operation == "force":
            result = tracker.complete(FEATURE, seq, "done", force=True, reason="trust me")
        elif operation == "block":
            result = tracker.block(FEATURE, seq, "stuck")
        elif operation == "unblock":
            result = tracker.unblock(FEATURE, seq)
        elif operation == "reopen":
            result = tracker.reopen(FEATURE, seq, "again")
        else:
            result = tracker.claim(FEATURE, "b")
    except RuleViolation as refused:
        return ("refused", sorted(f.code for f in refused.findings))
    return ("done", result.move.to_dict(), result.completed, result.total)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    deps=st.lists(
        st.lists(st.sampled_from(["01", "02", "03", "04", "05"]), max_size=2),
        min_size=5,
        max_size=5,
    ),
    operations=OPERATIONS,
)
def test_random_operations_behave_the_same_in_memory_and_on_files(
    tmp_path_factory: pytest.TempPathFactory, deps: List[List[str]], operations: Any
) -> None:
    subtasks = [
        sub(f"{n:02d}", deps=[d for d in deps[n - 1] if d != f"{n:02d}"]) for n in range(1, 6)
    ]
    memory, files = MemoryTaskStore(), FileTaskStore(tmp_path_factory.mktemp("tasks"))
    trackers = [make_feature(store, *subtasks) for store in (memory, files)]
    for operation, seq in operations:
        before = [documents(s) for s in (memory, files)]
        outcomes = [apply_operation(t, operation, seq) for t in trackers]
        assert outcomes[0] == outcomes[1]
        after = [documents(s) for s in (memory, files)]
        assert after[0] == after[1]
        if outcomes[0][0] == "refused":
            assert after == before  # a refused move writes nothing
        task = after[0]["task.json"]
        assert task is not None
        completed = sum(
            1 for n, d in after[0].items() if n != "task.json" and d and d["status"] == "completed"
        )
        assert task["completed_count"] == completed


# -- edges found in review -------------------------------------------------------------------


class _MeddlingStore(MemoryTaskStore):
    """A store where another tool rewrites task.json right after each subtask write."""

    def save(self, feature: str, location: str, document: Any, expected: Any) -> str:
        revision = super().save(feature, location, document, expected)
        if not location.endswith("/task.json"):
            task = self.load(feature).task
            super().save(feature, task.location, {**task.document, "note": "x"}, task.revision)
        return revision


def test_a_task_json_changed_between_the_two_writes_is_recounted_not_an_error() -> None:
    store = _MeddlingStore()
    tracker = make_feature(store, sub("01", "in_progress"))
    result = tracker.complete(FEATURE, "01", "done")
    assert (result.task_written, result.warnings) == (True, ())
    task = documents(store)["task.json"]
    assert (task["note"], task["completed_count"]) == ("x", 1)  # type: ignore[index]


def test_text_utf8_cannot_carry_is_written_back_as_the_same_escape(tmp_path: Path) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01"))
    path = feature_dir(tmp_path) / "task.json"
    path.write_text(json.dumps(task_doc(1, 0, name="bad \udcff")))  # ASCII with a \\udcff escape
    result = tracker.start(FEATURE, "01", "a")
    assert result.warnings == ()
    assert json.loads(path.read_text("utf-8"))["name"] == "bad \udcff"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_number_json_cannot_hold_is_a_problem_of_the_file(tmp_path: Path, number: str) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01"))
    path = feature_dir(tmp_path) / "subtask_01.json"
    text = path.read_text().replace('"status"', f'"estimate": {number}, "status"', 1)
    path.write_text(text)
    with pytest.raises(StateFileError, match="not portable JSON"):
        tracker.start(FEATURE, "01", "a")
    assert path.read_text() == text


@pytest.mark.parametrize("seq", ["\u00b2", "1" * 5000, "\u0660\u0661"])
def test_odd_seqs_are_not_found_never_a_crash(store: Any, seq: str) -> None:
    tracker = make_feature(store, sub("01"))
    with pytest.raises(NotFound):
        tracker.start(FEATURE, seq, "a")


def test_claim_never_says_all_completed_while_a_file_is_unusable(tmp_path: Path) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01", "completed"), sub("02"))
    (feature_dir(tmp_path) / "subtask_02.json").write_text('{"seq": "02"')
    with pytest.raises(RuleViolation) as nothing:
        tracker.claim(FEATURE, "a")
    (finding,) = nothing.value.findings
    assert finding.code == "task-none-ready"
    assert "unusable: .tmp/tasks/shop/subtask_02.json" in finding.message
    (feature_dir(tmp_path) / "subtask_02.json").write_text(json.dumps(sub("02", "completed")))
    with pytest.raises(RuleViolation) as done:
        tracker.claim(FEATURE, "a")
    assert done.value.findings[0].code == "task-all-completed"


def test_a_write_never_lands_in_another_layout_than_the_one_read(tmp_path: Path) -> None:
    for layout in ("active", "completed"):
        shutil.copytree(SEED, tmp_path / ".tmp" / "tasks" / layout / "order-management-mvp")
    store = FileTaskStore(tmp_path)
    stored = store.load("order-management-mvp")
    assert stored.folder == ".tmp/tasks/active/order-management-mvp"
    shutil.rmtree(tmp_path / ".tmp" / "tasks" / "active")
    other = tmp_path / ".tmp" / "tasks" / "completed" / "order-management-mvp"
    before = snapshot(other)
    first = stored.subtasks[0]
    with pytest.raises(ConflictError, match="moved"):
        store.save("order-management-mvp", first.location, {"status": "x"}, first.revision)
    assert snapshot(other) == before


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_symlinked_task_file_is_not_followed_nor_replaced(tmp_path: Path) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01"), sub("02"))
    real = tmp_path / "elsewhere.json"
    link = feature_dir(tmp_path) / "subtask_02.json"
    real.write_text(link.read_text())
    link.unlink()
    link.symlink_to(real)
    with pytest.raises(StateFileError, match="symbolic link"):
        tracker.start(FEATURE, "02", "a")
    assert link.is_symlink()
    assert json.loads(real.read_text())["status"] == "pending"


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
def test_a_move_keeps_the_files_permission_bits(tmp_path: Path) -> None:
    store = FileTaskStore(tmp_path)
    tracker = make_feature(store, sub("01"))
    path = feature_dir(tmp_path) / "subtask_01.json"
    path.chmod(0o640)
    tracker.start(FEATURE, "01", "a")
    assert path.stat().st_mode & 0o777 == 0o640


def test_progress_rounds_half_up(store: Any) -> None:
    tracker = make_feature(store, sub("01", "completed"), *(sub(f"0{n}") for n in range(2, 9)))
    assert tracker.summary(FEATURE)["progress"] == 13  # 12.5 %


def test_the_memory_store_refuses_what_the_files_store_refuses() -> None:
    store = MemoryTaskStore()
    for name in ("active", "completed", "../x"):
        with pytest.raises(UsageError):
            store.create(name, task_doc(), {})
    with pytest.raises(UsageError):
        store.create(FEATURE, task_doc(), {"01": sub("02")})  # seq key and field disagree
    with pytest.raises(UsageError):
        store.create(FEATURE, task_doc(1, 0, x=float("nan")), {})


# -- moves without a recount (what the executor makes) ------------------------------------


def test_a_move_without_recount_writes_the_subtask_and_leaves_the_counts(store: Any) -> None:
    tracker = make_feature(store, sub("01"), sub("02", deps=["01"]))
    started = tracker.attempt(FEATURE, "01", "exec", recount=False)
    assert started.move.operation == "start"
    assert (started.task_written, started.completed, started.total) == (False, None, None)
    assert started.subtask["attempts"] == 1
    retried = tracker.attempt(FEATURE, "01", "exec", recount=False)
    assert (retried.move.operation, retried.subtask["attempts"]) == ("retry", 2)
    tracker.complete(FEATURE, "01", "done", recount=False)
    assert store.load(FEATURE).task.document["completed_count"] == 0  # not recounted yet
    assert tracker.recount(FEATURE) == (True, ())
    assert store.load(FEATURE).task.document["completed_count"] == 1
    assert tracker.recount(FEATURE) == (False, ())  # nothing left to change


def test_a_move_without_recount_still_checks_the_dependencies(store: Any) -> None:
    tracker = make_feature(store, sub("01"), sub("02", deps=["01"]), sub("03", deps=["09"]))
    with pytest.raises(RuleViolation) as unmet:
        tracker.attempt(FEATURE, "02", "exec", recount=False)
    assert [f.code for f in unmet.value.findings] == ["task-dependency-unmet"]
    with pytest.raises(RuleViolation) as missing:
        tracker.attempt(FEATURE, "03", "exec", recount=False)
    assert [f.code for f in missing.value.findings] == ["task-dependency-missing"]
    tracker.attempt(FEATURE, "01", "exec", recount=False)
    tracker.complete(FEATURE, "01", "done", recount=False)
    assert tracker.attempt(FEATURE, "02", "exec", recount=False).move.status_after == (
        "in_progress"
    )


def test_a_move_without_recount_refuses_what_a_full_move_refuses(store: Any) -> None:
    tracker = make_feature(store, sub("01", "in_progress"))
    with pytest.raises(NotFound, match="subtask '7' not found"):
        tracker.attempt(FEATURE, "7", "exec", recount=False)
    with pytest.raises(RuleViolation, match="cannot retry subtask 01"):
        tracker.attempt(FEATURE, "01", "exec", recount=False)  # in progress for a0
    with pytest.raises(NotFound):
        tracker.block("nothing-here", "01", "why", recount=False)


def test_read_returns_one_file_as_load_does(store: Any) -> None:
    make_feature(store, sub("01"))
    folder = store.load(FEATURE).folder
    loaded = store.load(FEATURE).subtasks[0]
    assert store.read(FEATURE, f"{folder}/subtask_01.json") == loaded
    missing = store.read(FEATURE, f"{folder}/subtask_02.json")
    assert (missing.document, missing.problem, missing.seq) == (None, MISSING, "02")
    with pytest.raises(UsageError):
        store.read(FEATURE, f"{folder}/../secrets.json")
    with pytest.raises(UsageError):
        store.read(FEATURE, "elsewhere/subtask_01.json")
