"""``stageflow.storage.copy.copy_stores``: every run (archived ones included, in order) and
every task file reach the destination unchanged; conflicts and unreadable sources are
refused or reported, never half-copied in silence. Also: an orchestrator opened on
:class:`Stores` gives its gates the task store."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from stageflow import MemoryStore, MemoryTaskStore, Orchestrator, TaskTracker
from stageflow.demo import run_demo
from stageflow.errors import ConflictError, UsageError
from stageflow.examples import ORDER_MANAGEMENT
from stageflow.storage import Stores, open_stores
from stageflow.storage._url import redact, redact_text
from stageflow.storage.copy import COPIED, NOT_COPIED, SKIPPED, copy_stores
from stageflow.storage.files import encode_document
from stageflow.storage.taskfiles import encode_task
from stageflow.testing import FakeClock

SEED = ORDER_MANAGEMENT / "order-management-mvp"
DEMO = "order-management"

# The stores a copy may pass through on its way back to a files store. Adding a backend to
# the round trip is one line: its name and how to open an empty one in a temporary folder.
INTERMEDIATES: Dict[str, Callable[[Path], Stores]] = {
    "files": lambda tmp: open_stores(f"files://{tmp / 'middle'}"),
    "memory": lambda tmp: open_stores("memory:"),
    "sqlite": lambda tmp: open_stores(f"sqlite://{tmp / 'middle.db'}"),
}


def files(root: Path) -> Stores:
    root.mkdir(parents=True, exist_ok=True)
    return open_stores(f"files://{root}")


def make_source(root: Path) -> Path:
    """A project holding what a files store can hold: the demo's feature (a full history,
    twelve subtasks, a rollback); a feature with three runs, two of them archived; and a
    feature kept in the legacy ``completed/`` task layout, with non-ASCII text."""
    run_demo(root, say=lambda text: None)
    flow = Orchestrator(root=root, clock=FakeClock(), actor="ann")
    for _ in range(2):
        flow.init("billing", task="Bill the café ✓")
        flow.abort("billing", reason="start again")
    flow.init("billing", task="Bill the café, third time")
    legacy = root / ".tmp" / "tasks" / "completed" / "legacy"
    shutil.copytree(SEED, legacy)
    task = legacy / "task.json"
    task.write_bytes(task.read_bytes().replace(b"Order Management MVP", b"Gr\xc3\xbc\xc3\x9fe MVP"))
    return root


def content(root: Path) -> Dict[str, bytes]:
    """Every run document and task file under ``root``, by path."""
    tmp = root / ".tmp"
    found = list((tmp / "sessions").rglob("stage-tracking.json"))
    found += [p for p in (tmp / "tasks").rglob("*.json") if p.name != "contexts.json"]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(found)}


def by_name(stores: Stores) -> Dict[Tuple[str, str], bytes]:
    """Every run and task file of a store as the files store would write it, keyed by
    feature and run number or file name: what a copy must keep, whatever the backend."""
    found: Dict[Tuple[str, str], bytes] = {}
    for feature in stores.runs.features():
        for number in stores.runs.runs(feature):
            document = stores.runs.load(feature, number).document
            found[(feature, f"run-{number}")] = encode_document(document)
    for feature in stores.tasks.features():
        stored = stores.tasks.load(feature)
        for file in (stored.task, *stored.subtasks):
            assert file.document is not None, file
            found[(feature, file.name)] = encode_task(file.document)
    return found


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_source(tmp_path / "source")


def test_files_to_files_is_byte_for_byte_and_keeps_layouts(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "target"
    with files(source) as src, files(target) as dst:
        report = copy_stores(src, dst)
        assert report.ok
        assert [(f.feature, f.status, f.runs) for f in report.features] == [
            ("billing", COPIED, (1, 2, 3)),
            ("legacy", COPIED, ()),
            (DEMO, COPIED, (1,)),
        ]
        assert report.features[2].task_files[0] == "task.json"
        assert len(report.features[2].task_files) == 13
        assert dst.runs.latest("billing").document["run"] == 3  # type: ignore[union-attr]
    assert content(target) == content(source)
    assert ".tmp/tasks/completed/legacy/task.json" in content(target)
    archived = sorted(p.parent.name for p in (target / ".tmp/sessions/archive").rglob("*.json"))
    assert archived == ["run-1", "run-2"]


@pytest.mark.parametrize("middle", sorted(INTERMEDIATES))
def test_a_round_trip_through_any_backend_is_lossless(
    source: Path, tmp_path: Path, middle: str
) -> None:
    back = tmp_path / "back"
    with files(source) as src, INTERMEDIATES[middle](tmp_path) as mid, files(back) as dst:
        there = copy_stores(src, mid)
        assert there.ok, there
        assert copy_stores(mid, dst).ok
        assert by_name(mid) == by_name(src)
        assert by_name(dst) == by_name(src)
        for feature in src.runs.features():
            assert dst.runs.runs(feature) == src.runs.runs(feature)
            assert dst.runs.latest(feature) == src.runs.latest(feature)  # same bytes, same revision
    if middle == "files":  # only a files store has the completed/ layout to give back
        assert content(back) == content(source)
    else:
        assert (there.features[1].feature, len(there.features[1].notes)) == ("legacy", 1)
        assert "keeps no layouts" in there.features[1].notes[0]


def test_a_destination_holding_a_feature_is_refused_before_anything_is_written(
    source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    with files(target) as dst:
        Orchestrator(dst, clock=FakeClock(), root=target).init("legacy")
    before = content(target)
    with files(source) as src, files(target) as dst, pytest.raises(ConflictError) as caught:
        copy_stores(src, dst)
    assert "legacy" in caught.value.message
    assert "nothing was copied" in caught.value.message
    assert content(target) == before


def test_the_same_store_is_refused(source: Path) -> None:
    again = open_stores(f"files://{source}/.")
    with files(source) as src, again, pytest.raises(UsageError, match="same store"):
        copy_stores(src, again)


def test_an_unreadable_source_file_is_reported_and_its_feature_not_written(
    source: Path, tmp_path: Path
) -> None:
    broken = source / ".tmp" / "tasks" / DEMO / "subtask_07.json"
    broken.write_bytes(b'{"seq": "07", ')
    tracking = next((source / ".tmp/sessions").glob("*-billing/stage-tracking.json"))
    tracking.write_bytes(tracking.read_bytes()[:-40])
    target = tmp_path / "target"
    with files(source) as src, files(target) as dst:
        report = copy_stores(src, dst)
        assert not report.ok
        statuses = {f.feature: f.status for f in report.features}
        assert statuses == {"billing": SKIPPED, "legacy": COPIED, DEMO: SKIPPED}
        demo = report.features[2]
        assert demo.problems == (
            f".tmp/tasks/{DEMO}/subtask_07.json: truncated JSON: Expecting property name "
            "enclosed in double quotes at line 1 column 15",
        )
        assert "billing/stage-tracking.json: truncated JSON" in report.features[0].problems[0]
        assert dst.runs.features() == []
        assert dst.tasks.features() == ["legacy"]
        assert report.to_dict()["features"][2]["problems"] == list(demo.problems)


def test_a_failed_write_stops_the_copy_and_says_what_was_written(tmp_path: Path) -> None:
    src = open_stores("memory:")
    for feature in ("alpha", "beta", "gamma"):
        src.runs.create(feature, 1, {"feature": feature, "run": 1, "created_at": "2026-01-02"})
    src.runs.create("beta", 2, {"feature": "beta", "run": 2, "created_at": "not a date"})
    report = copy_stores(src, files(tmp_path / "target"))
    assert [(f.feature, f.status, f.runs) for f in report.features] == [
        ("alpha", COPIED, (1,)),
        ("beta", "failed", (1,)),
        ("gamma", NOT_COPIED, ()),
    ]
    assert "created_at" in report.features[1].problems[0]


def test_an_empty_source_copies_nothing(tmp_path: Path) -> None:
    report = copy_stores(open_stores("memory:"), files(tmp_path / "target"))
    assert report.ok
    assert report.features == ()
    assert report.to_dict() == {
        "ok": True,
        "source": "memory:",
        "destination": f"files://{tmp_path / 'target'}",
        "features": [],
    }


def test_urls_are_shown_without_their_password() -> None:
    assert redact("postgresql://ann:s3cret@db:5432/x") == "postgresql://ann:***@db:5432/x"
    assert redact("postgresql://ann@db/x") == "postgresql://ann@db/x"
    assert redact("files:///srv/a:b@c") == "files:///srv/a:b@c"
    assert redact("memory:") == "memory:"
    url = "postgresql://ann:s3cret@db/x"
    assert redact_text(f"cannot open {url}: bad password s3cret", url) == (
        "cannot open postgresql://ann:***@db/x: bad password ***"
    )


# -- the library side: gates read the task store of the run -------------------------------


def test_gates_of_an_orchestrator_on_stores_read_its_task_store(tmp_path: Path) -> None:
    tasks = MemoryTaskStore()
    seen: List[Any] = []

    def gate(context: Any) -> List[Any]:
        seen.append(context.task_store)
        return []

    from stageflow import Registry

    registry = Registry()
    registry.add_gate("tasks", gate)
    with Stores("memory:", MemoryStore(), tasks) as stores:
        flow = Orchestrator(stores, root=tmp_path, clock=FakeClock(), registry=registry)
        assert flow.store is stores.runs
        assert flow.tasks is tasks
        flow.init("shop")
        missing = flow.validate("shop", "tasks")
        assert seen == [tasks]
        codes = [f.code for f in missing.findings]
        assert "tasks-missing" in codes
        with open_stores(f"files://{tmp_path}") as disk:
            TaskTracker(disk)  # a tracker takes Stores too
        shutil.copytree(SEED, tmp_path / "seed")
        import json

        subtasks = {
            p.name[8:10]: json.loads(p.read_text())
            for p in sorted((tmp_path / "seed").glob("subtask_*.json"))
        }
        tasks.create("shop", json.loads((tmp_path / "seed" / "task.json").read_text()), subtasks)
        found = flow.validate("shop", "tasks").findings
        assert "tasks-missing" not in [f.code for f in found]
        # the documents in the store were validated: their ids name the seed's feature
        assert any(f.code == "id-mismatch" and f.path == "memory:shop/task.json" for f in found)
    assert not (tmp_path / ".tmp" / "tasks").exists()


def test_files_sqlite_postgres_files_is_byte_equal(
    source: Path, tmp_path: Path, postgres_url: str
) -> None:
    """The issue's round trip: every document comes back byte-equal, every run number and
    revision of a run as it was."""
    back = tmp_path / "back"
    with contextlib.ExitStack() as stack:
        src, lite, pg, dst = (
            stack.enter_context(stores)
            for stores in (
                files(source),
                open_stores(f"sqlite://{tmp_path / 'hop.db'}"),
                open_stores(postgres_url),
                files(back),
            )
        )
        for here, there in ((src, lite), (lite, pg), (pg, dst)):
            report = copy_stores(here, there)
            assert report.ok, report
        assert by_name(lite) == by_name(src)
        assert by_name(pg) == by_name(src)
        assert by_name(dst) == by_name(src)
        for feature in src.runs.features():
            assert dst.runs.latest(feature) == src.runs.latest(feature)
