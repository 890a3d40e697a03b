"""A conformance suite for storage backends: the behaviour the engine and the task tracker
rely on, as pytest test classes (re-exported by :mod:`stageflow.testing`).

A backend author subclasses :class:`RunStoreContract` and/or :class:`TaskStoreContract`
in a test module (the subclass name starts with ``Test``) and supplies a ``stores``
fixture returning a fresh, empty :class:`~stageflow.storage.Stores`::

    class TestMyBackend(RunStoreContract, TaskStoreContract):
        shares_between_processes = True   # opener(stores.url) elsewhere sees the data
        opener = "mypackage.store:open_my_stores"  # default: stageflow.storage:open_stores
        transactional = True              # writes under lock() commit or roll back together

        @pytest.fixture
        def stores(self, tmp_path):
            with open_stores("mybackend://" + str(tmp_path)) as stores:
                yield stores

Class attributes switch on the checks a backend opts into:

``shares_between_processes``
    ``opener(stores.url)`` in another process opens the same data (``opener`` is the
    ``"module:function"`` name of a callable from a URL to :class:`Stores`, by default
    :func:`stageflow.storage.open_stores`): no lost update,
    atomic claims and lease exclusivity are also checked between processes (spawned
    children; the backend must be importable there), and a lease is released when the
    process holding it is killed.
``transactional``
    The writes made under :meth:`~stageflow.storage.RunStore.lock` are one transaction:
    an exception leaving the outermost lock undoes them.

Everything else is required of every backend. Documents used here follow the shapes the
engine writes (a run document has ``created_at`` and a ``history`` of events with a
``seq``) but are not checked by stores.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Dict, List

import pytest

from .errors import ConflictError, InvalidName, NotFound, StageflowError, UsageError
from .storage import Stores
from .storage._taskdocs import MISSING

__all__ = ["RunStoreContract", "TaskStoreContract", "run_document"]

BAD_FEATURES = ("../x", "A", "-x", "", "auth/x", "auth x", "..", "auth_x")


def run_document(
    feature: str = "auth", run: int = 1, events: int = 1, **extra: Any
) -> Dict[str, Any]:
    """A JSON-ready run document with ``events`` history events (seq 1 is ``init``)."""
    history = [
        {"seq": n, "operation": "init" if n == 1 else "note", "note": f"caf\u00e9 \u2713 {n}"}
        for n in range(1, events + 1)
    ]
    return {
        "version": 1,
        "feature": feature,
        "run": run,
        "created_at": "2026-01-02T03:04:05Z",
        "history": history,
        **extra,
    }


def _full_history(stores: Stores, feature: str, run: int) -> List[Dict[str, Any]]:
    """Every event of a run: a store that archives old events gives them back with
    ``load_full``."""
    load_full = getattr(stores.runs, "load_full", None)
    stored = load_full(feature, run) if load_full is not None else stores.runs.load(feature, run)
    return list(stored.document["history"])


def _run_threads(count: int, target: Callable[[int], None]) -> List[BaseException]:
    """Run ``target(i)`` in ``count`` threads started together; the errors they raised."""
    errors: List[BaseException] = []
    barrier = threading.Barrier(count)

    def body(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # reported to the test
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


# -- work done in spawned children (module level: spawn imports them by name) -----------


def _open(opener: str, url: str) -> Stores:
    """``opener`` (``"module:function"``) called with ``url``."""
    import importlib

    module, _, name = opener.partition(":")
    opened: Stores = getattr(importlib.import_module(module), name)(url)
    return opened


def increment_run_counter(opener: str, url: str, feature: str, times: int) -> None:
    """``times`` locked read-modify-writes of the run document's ``counter``."""
    with _open(opener, url) as stores:
        for _ in range(times):
            with stores.runs.lock(feature):
                stored = stores.runs.load(feature, 1)
                document = dict(stored.document)
                document["counter"] = document.get("counter", 0) + 1
                stores.runs.save(feature, 1, document, stored.revision)


def claim_subtasks(opener: str, url: str, feature: str, owner: str) -> None:
    """Claim unowned subtasks until none is left, counting them in ``task.json``."""
    with _open(opener, url) as stores:
        while _claim_one(stores, feature, owner):
            pass


def _claim_one(stores: Stores, feature: str, owner: str) -> bool:
    with stores.tasks.lock(feature):
        stored = stores.tasks.load(feature)
        free = [f for f in stored.subtasks if f.document and f.document.get("owner") is None]
        if not free:
            return False
        target = free[0]
        assert target.document is not None
        stores.tasks.save(
            feature, target.location, {**target.document, "owner": owner}, target.revision
        )
        task = stored.task
        assert task.document is not None
        claimed = {**task.document, "claimed": task.document.get("claimed", 0) + 1}
        stores.tasks.save(feature, task.location, claimed, task.revision)
        return True


def hold_lease(opener: str, url: str, feature: str, ready: str) -> None:
    """Take the feature's lease, say so by creating the file ``ready``, then hold it."""
    with _open(opener, url) as stores, stores.tasks.lease(feature):
        with open(ready, "w") as handle:
            handle.write("held")
        time.sleep(600)  # until killed


def _spawn(target: Callable[..., None], *args: Any) -> Any:
    import multiprocessing  # here: the plugin is imported by every pytest session

    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    return process


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Poll ``condition`` (not a timing assertion: the limit only keeps a broken backend
    from hanging the suite)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


class _Contract:
    shares_between_processes = False
    transactional = False
    opener = "stageflow.storage:open_stores"

    @pytest.fixture
    def stores(self) -> Stores:
        """A fresh, empty backend: override this fixture."""
        raise NotImplementedError("a conformance test class supplies a 'stores' fixture")

    def _needs_processes(self) -> None:
        if not self.shares_between_processes:
            pytest.skip("the backend does not share its data between processes")

    def _needs_transactions(self) -> None:
        if not self.transactional:
            pytest.skip("the backend does not make locked writes one transaction")


class RunStoreContract(_Contract):
    """What every :class:`~stageflow.storage.RunStore` does."""

    def test_an_empty_store_has_no_features_runs_or_latest(self, stores: Stores) -> None:
        assert stores.runs.features() == []
        assert stores.runs.runs("auth") == []
        assert stores.runs.latest("auth") is None
        with pytest.raises(NotFound):
            stores.runs.load("auth", 1)

    def test_a_created_run_loads_as_it_was_given(self, stores: Stores) -> None:
        document = run_document()
        revision = stores.runs.create("auth", 1, document)
        loaded = stores.runs.load("auth", 1)
        assert isinstance(revision, str)
        assert loaded.document == document
        assert loaded.revision == revision
        assert isinstance(loaded.location, str)
        assert loaded.location
        assert stores.runs.latest("auth") == loaded
        assert stores.runs.runs("auth") == [1]

    def test_a_new_run_is_the_latest_and_earlier_runs_stay(self, stores: Stores) -> None:
        stores.runs.create("auth", 1, run_document(run=1))
        stores.runs.create("auth", 2, run_document(run=2, note="second"))
        latest = stores.runs.latest("auth")
        assert latest is not None
        assert latest.document["run"] == 2
        assert stores.runs.load("auth", 1).document["run"] == 1
        assert stores.runs.runs("auth") == [1, 2]

    def test_features_are_listed_sorted_and_kept_apart(self, stores: Stores) -> None:
        for feature in ("zeta", "auth", "auth-system"):
            stores.runs.create(feature, 1, run_document(feature))
        assert stores.runs.features() == ["auth", "auth-system", "zeta"]
        stored = stores.runs.latest("auth")
        assert stored is not None
        assert stored.document["feature"] == "auth"

    def test_creating_an_existing_run_is_a_conflict(self, stores: Stores) -> None:
        stores.runs.create("auth", 1, run_document())
        with pytest.raises(ConflictError):
            stores.runs.create("auth", 1, run_document(note="again"))
        assert "note" not in stores.runs.load("auth", 1).document

    def test_save_replaces_the_document_and_changes_the_revision(self, stores: Stores) -> None:
        first = stores.runs.create("auth", 1, run_document())
        second = stores.runs.save("auth", 1, run_document(events=2), first)
        assert second != first
        loaded = stores.runs.load("auth", 1)
        assert loaded.revision == second
        assert [e["seq"] for e in loaded.document["history"]] == [1, 2]

    def test_a_stale_revision_is_a_conflict_and_changes_nothing(self, stores: Stores) -> None:
        first = stores.runs.create("auth", 1, run_document())
        second = stores.runs.save("auth", 1, run_document(events=2), first)
        with pytest.raises(ConflictError):
            stores.runs.save("auth", 1, run_document(events=2, note="stale"), first)
        loaded = stores.runs.load("auth", 1)
        assert loaded.revision == second
        assert "note" not in loaded.document

    def test_saving_a_run_that_does_not_exist_is_not_found(self, stores: Stores) -> None:
        with pytest.raises(NotFound):
            stores.runs.save("auth", 1, run_document(), "1")

    def test_documents_are_copied_in_and_out(self, stores: Stores) -> None:
        document = run_document()
        stores.runs.create("auth", 1, document)
        document["history"].append({"seq": 2, "operation": "note"})
        loaded = stores.runs.load("auth", 1)
        loaded.document["history"].clear()
        assert len(stores.runs.load("auth", 1).document["history"]) == 1

    def test_history_is_kept_whole_and_in_order_as_it_grows(self, stores: Stores) -> None:
        revision = stores.runs.create("auth", 1, run_document())
        for n in range(2, 9):
            stored = stores.runs.load("auth", 1)
            document = dict(stored.document)
            document["history"] = [
                *stored.document["history"],
                run_document(events=n)["history"][-1],
            ]
            revision = stores.runs.save("auth", 1, document, revision)
        assert [e["seq"] for e in _full_history(stores, "auth", 1)] == list(range(1, 9))
        assert _full_history(stores, "auth", 1)[0]["note"] == "caf\u00e9 \u2713 1"

    def test_a_document_json_cannot_hold_is_refused_and_nothing_is_stored(
        self, stores: Stores
    ) -> None:
        with pytest.raises((StageflowError, TypeError, ValueError)):
            stores.runs.create("auth", 1, run_document(bad={1, 2}))
        assert stores.runs.runs("auth") == []
        revision = stores.runs.create("auth", 1, run_document())
        with pytest.raises((StageflowError, TypeError, ValueError)):
            stores.runs.save("auth", 1, run_document(bad=object()), revision)
        assert stores.runs.load("auth", 1).revision == revision

    @pytest.mark.parametrize("feature", BAD_FEATURES)
    def test_invalid_feature_names_are_refused(self, stores: Stores, feature: str) -> None:
        with pytest.raises(InvalidName):
            stores.runs.create(feature, 1, run_document())
        for call in (
            lambda: stores.runs.latest(feature),
            lambda: stores.runs.runs(feature),
            lambda: stores.runs.load(feature, 1),
            lambda: stores.runs.save(feature, 1, run_document(), "1"),
        ):
            with pytest.raises(InvalidName):
                call()
        with pytest.raises(InvalidName), stores.runs.lock(feature):
            pass  # pragma: no cover
        assert stores.runs.features() == []

    def test_the_lock_is_reentrant_in_one_thread(self, stores: Stores) -> None:
        with stores.runs.lock("auth"), stores.runs.lock("auth"):
            stores.runs.create("auth", 1, run_document())
        assert stores.runs.runs("auth") == [1]

    def test_locked_read_modify_writes_from_threads_lose_no_update(self, stores: Stores) -> None:
        stores.runs.create("auth", 1, run_document(counter=0))

        def increment(_: int) -> None:
            for _ in range(8):
                with stores.runs.lock("auth"):
                    stored = stores.runs.load("auth", 1)
                    document = dict(stored.document)
                    document["counter"] += 1
                    stores.runs.save("auth", 1, document, stored.revision)

        assert _run_threads(4, increment) == []
        assert stores.runs.load("auth", 1).document["counter"] == 32

    def test_locked_read_modify_writes_from_processes_lose_no_update(self, stores: Stores) -> None:
        self._needs_processes()
        stores.runs.create("auth", 1, run_document(counter=0))
        children = [
            _spawn(increment_run_counter, self.opener, stores.url, "auth", 10) for _ in range(2)
        ]
        increment_run_counter(self.opener, stores.url, "auth", 10)
        for child in children:
            child.join(120)
        assert [child.exitcode for child in children] == [0, 0]
        assert stores.runs.load("auth", 1).document["counter"] == 30

    def test_an_exception_inside_the_lock_undoes_its_writes(self, stores: Stores) -> None:
        self._needs_transactions()
        revision = stores.runs.create("auth", 1, run_document())

        def write_then_fail() -> None:
            with stores.runs.lock("auth"):
                stores.runs.save("auth", 1, run_document(events=2), revision)
                stores.runs.create("auth", 2, run_document(run=2))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            write_then_fail()
        assert stores.runs.runs("auth") == [1]
        assert stores.runs.load("auth", 1).revision == revision


def _task_feature(count: int = 3) -> Dict[str, Any]:
    subtasks = {
        f"{n:02d}": {"seq": f"{n:02d}", "title": f"Subtask {n}", "owner": None}
        for n in range(1, count + 1)
    }
    return {"task": {"id": "auth", "claimed": 0, "note": "caf\u00e9"}, "subtasks": subtasks}


class TaskStoreContract(_Contract):
    """What every :class:`~stageflow.storage.TaskStore` does."""

    def _create(self, stores: Stores, feature: str = "auth", count: int = 3) -> None:
        made = _task_feature(count)
        stores.tasks.create(feature, made["task"], made["subtasks"])

    def test_a_feature_that_does_not_exist_is_not_found(self, stores: Stores) -> None:
        assert stores.tasks.features() == []
        with pytest.raises(NotFound):
            stores.tasks.load("auth")

    def test_a_created_feature_loads_in_seq_order(self, stores: Stores) -> None:
        subtasks = {seq: {"seq": seq} for seq in ("10", "02", "100", "01")}
        stores.tasks.create("auth", {"id": "auth"}, subtasks)
        stored = stores.tasks.load("auth")
        assert stored.feature == "auth"
        assert stored.task.document == {"id": "auth"}
        assert stored.task.name == "task.json"
        assert stored.task.seq is None
        assert [f.seq for f in stored.subtasks] == ["01", "02", "10", "100"]
        assert next(f.name for f in stored.subtasks) == "subtask_01.json"
        assert all(f.problem is None and f.revision is not None for f in stored.subtasks)
        assert all(f.location == f"{stored.folder}/{f.name}" for f in stored.subtasks)
        assert stores.tasks.features() == ["auth"]

    def test_creating_an_existing_feature_is_a_conflict(self, stores: Stores) -> None:
        self._create(stores)
        with pytest.raises(ConflictError):
            stores.tasks.create("auth", {"id": "other"}, {})
        task = stores.tasks.load("auth").task
        assert task.document is not None
        assert task.document["id"] == "auth"

    @pytest.mark.parametrize(
        "subtasks", [{"1": {"seq": "1"}}, {"01": {"seq": "02"}}, {"01": ["not", "an object"]}]
    )
    def test_bad_subtasks_are_refused_and_nothing_is_created(
        self, stores: Stores, subtasks: Dict[str, Any]
    ) -> None:
        with pytest.raises(UsageError):
            stores.tasks.create("auth", {"id": "auth"}, subtasks)
        assert stores.tasks.features() == []

    def test_read_gives_one_file_as_load_does(self, stores: Stores) -> None:
        self._create(stores)
        stored = stores.tasks.load("auth")
        assert stores.tasks.read("auth", stored.subtasks[1].location) == stored.subtasks[1]
        assert stores.tasks.read("auth", stored.task.location) == stored.task
        missing = stores.tasks.read("auth", f"{stored.folder}/subtask_07.json")
        assert (missing.document, missing.problem, missing.revision) == (None, MISSING, None)
        assert missing.seq == "07"

    def test_read_refuses_what_is_not_a_task_file_of_the_feature(self, stores: Stores) -> None:
        self._create(stores)
        self._create(stores, "other")
        folder = stores.tasks.load("auth").folder
        other = stores.tasks.load("other").subtasks[0].location
        for location in (f"{folder}/notes.txt", f"{folder}/subtask_1.json", other):
            with pytest.raises(UsageError):
                stores.tasks.read("auth", location)

    def test_save_writes_where_it_read_and_checks_the_revision(self, stores: Stores) -> None:
        self._create(stores)
        target = stores.tasks.load("auth").subtasks[0]
        assert target.document is not None
        revision = stores.tasks.save(
            "auth", target.location, {**target.document, "owner": "ann"}, target.revision
        )
        again = stores.tasks.read("auth", target.location)
        assert again.revision == revision != target.revision
        assert again.document is not None
        assert again.document["owner"] == "ann"
        with pytest.raises(ConflictError):
            stores.tasks.save("auth", target.location, {"seq": "01"}, target.revision)
        assert stores.tasks.read("auth", target.location) == again

    def test_save_with_no_revision_creates_a_file_only_if_it_is_missing(
        self, stores: Stores
    ) -> None:
        self._create(stores)
        folder = stores.tasks.load("auth").folder
        new = f"{folder}/subtask_04.json"
        stores.tasks.save("auth", new, {"seq": "04"}, None)
        assert [f.seq for f in stores.tasks.load("auth").subtasks] == ["01", "02", "03", "04"]
        with pytest.raises(ConflictError):
            stores.tasks.save("auth", new, {"seq": "04", "again": True}, None)
        assert stores.tasks.read("auth", new).document == {"seq": "04"}

    def test_saving_into_a_feature_that_does_not_exist_is_refused(self, stores: Stores) -> None:
        self._create(stores)
        folder = stores.tasks.load("auth").folder
        location = folder[: -len("auth")] + "ghost/task.json"
        with pytest.raises((NotFound, UsageError, ConflictError)):
            stores.tasks.save("ghost", location, {"id": "ghost"}, None)
        assert stores.tasks.features() == ["auth"]

    @pytest.mark.parametrize("bad", [["a list"], {"x": float("nan")}, {"x": object()}])
    def test_a_document_json_cannot_hold_is_refused(self, stores: Stores, bad: Any) -> None:
        self._create(stores)
        target = stores.tasks.load("auth").subtasks[0]
        with pytest.raises(UsageError):
            stores.tasks.save("auth", target.location, bad, target.revision)
        assert stores.tasks.read("auth", target.location) == target

    def test_documents_are_copied_in_and_out(self, stores: Stores) -> None:
        made = _task_feature(1)
        stores.tasks.create("auth", made["task"], made["subtasks"])
        made["task"]["id"] = "changed"
        stored = stores.tasks.load("auth")
        assert stored.task.document is not None
        assert stored.task.document["id"] == "auth"
        stored.task.document["id"] = "changed too"
        task = stores.tasks.load("auth").task
        assert task.document is not None
        assert task.document["id"] == "auth"

    @pytest.mark.parametrize("feature", [*BAD_FEATURES, "active", "completed"])
    def test_invalid_feature_names_are_refused(self, stores: Stores, feature: str) -> None:
        with pytest.raises(InvalidName):
            stores.tasks.create(feature, {"id": "x"}, {})
        with pytest.raises(InvalidName):
            stores.tasks.load(feature)
        with pytest.raises(InvalidName), stores.tasks.lock(feature):
            pass  # pragma: no cover
        with pytest.raises(InvalidName), stores.tasks.lease(feature):
            pass  # pragma: no cover
        assert stores.tasks.features() == []

    def test_the_lock_is_reentrant_in_one_thread(self, stores: Stores) -> None:
        self._create(stores)
        with stores.tasks.lock("auth"), stores.tasks.lock("auth"):
            assert _claim_one(stores, "auth", "ann")
        assert stores.tasks.load("auth").subtasks[0].document == {
            "seq": "01",
            "title": "Subtask 1",
            "owner": "ann",
        }

    def test_claims_from_threads_take_each_subtask_exactly_once(self, stores: Stores) -> None:
        self._create(stores, count=12)

        def claim(i: int) -> None:
            while _claim_one(stores, "auth", f"agent-{i}"):
                pass

        assert _run_threads(4, claim) == []
        stored = stores.tasks.load("auth")
        assert all(f.document and f.document["owner"] for f in stored.subtasks)
        assert stored.task.document is not None
        assert stored.task.document["claimed"] == 12

    def test_claims_from_processes_take_each_subtask_exactly_once(self, stores: Stores) -> None:
        self._needs_processes()
        self._create(stores, count=12)
        children = [
            _spawn(claim_subtasks, self.opener, stores.url, "auth", f"child-{i}") for i in range(2)
        ]
        claim_subtasks(self.opener, stores.url, "auth", "parent")
        for child in children:
            child.join(120)
        assert [child.exitcode for child in children] == [0, 0]
        stored = stores.tasks.load("auth")
        assert all(f.document and f.document["owner"] for f in stored.subtasks)
        assert stored.task.document is not None
        assert stored.task.document["claimed"] == 12

    def test_the_lease_is_exclusive_and_never_waited_for(self, stores: Stores) -> None:
        errors: List[BaseException] = []

        def other_thread() -> None:
            try:
                with stores.tasks.lease("auth"):
                    errors.append(AssertionError("two holders of one lease"))
            except ConflictError:
                pass

        with stores.tasks.lease("auth"):
            with pytest.raises(ConflictError), stores.tasks.lease("auth"):
                pass  # pragma: no cover
            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join()
            with stores.tasks.lease("other"):  # leases of other features are independent
                pass
        assert errors == []
        with stores.tasks.lease("auth"):  # released on exit
            pass

    def test_a_lease_is_released_when_its_holder_dies(self, stores: Stores, tmp_path: Any) -> None:
        self._needs_processes()
        ready = os.path.join(str(tmp_path), "lease-held")
        child = _spawn(hold_lease, self.opener, stores.url, "auth", ready)
        try:
            _wait_for(lambda: os.path.exists(ready), "the child holds the lease")
            with pytest.raises(ConflictError), stores.tasks.lease("auth"):
                pass  # pragma: no cover
        finally:
            child.kill()
            child.join(60)

        def taken() -> bool:
            try:
                with stores.tasks.lease("auth"):
                    return True
            except ConflictError:
                return False

        _wait_for(taken, "the lease of the killed child is released")

    def test_an_exception_inside_the_lock_undoes_its_writes(self, stores: Stores) -> None:
        self._needs_transactions()
        self._create(stores)
        before = stores.tasks.load("auth")

        def claim_then_fail() -> None:
            with stores.tasks.lock("auth"):
                assert _claim_one(stores, "auth", "ann")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            claim_then_fail()
        assert stores.tasks.load("auth") == before
