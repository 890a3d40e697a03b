"""The SQL backends beyond the conformance suite: URLs, migrations, errors naming the
database, fork safety, bounded history and the engine and tracker on top of them.

The port's behaviour is checked by tests/test_conformance.py, tests/test_storage.py and
tests/test_tracker.py, which run against SQLite and PostgreSQL too.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import taskdocs

from stageflow import GateFailed, RuleViolation, TaskTracker
from stageflow.conformance import run_document
from stageflow.demo import write_outputs
from stageflow.engine import Orchestrator
from stageflow.errors import ConflictError, StateFileError, UsageError
from stageflow.serde import run_from_document
from stageflow.storage import Stores, open_stores
from stageflow.storage._sql import MIGRATIONS
from stageflow.testing import FakeClock, assert_replays

VERSIONS = [version for version, _ in MIGRATIONS]


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh SQL database: an SQLite file, a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/flow.db"
    return str(request.getfixturevalue("postgres_url"))


def _with(url: str, option: str) -> str:
    return url + ("&" if "?" in url else "?") + option


@pytest.fixture
def sql(sql_url: str) -> Iterator[Stores]:
    with open_stores(sql_url) as stores:
        yield stores


# -- opening -------------------------------------------------------------------------------


def test_the_storage_package_imports_no_database_driver_until_a_sql_url_is_opened(
    tmp_path: Path,
) -> None:
    code = (
        "import json, sys\n"
        "from stageflow.storage import open_stores\n"
        "open_stores('memory:'); open_stores('files', root=sys.argv[1])\n"
        "before = [m for m in ('sqlite3', 'psycopg') if m in sys.modules]\n"
        "open_stores('sqlite', root=sys.argv[1])\n"
        "after = [m for m in ('sqlite3', 'psycopg') if m in sys.modules]\n"
        "print(json.dumps([before, after]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [[], ["sqlite3"]]


def test_sqlite_urls_name_files_relative_to_the_root_or_absolute(tmp_path: Path) -> None:
    root = str(tmp_path)
    cases = {
        "sqlite": tmp_path / ".tmp" / "stageflow.db",
        "sqlite://flows/a.db": tmp_path / "flows" / "a.db",
        f"sqlite://{tmp_path}/b.db": tmp_path / "b.db",
        f"sqlite:///{tmp_path}/b.db": tmp_path / "b.db",  # sqlite:////abs, as SQLAlchemy
    }
    for url, path in cases.items():
        with open_stores(url, root=root) as stores:
            assert stores.runs.features() == []  # opens (and creates) the file
            assert stores.runs.db.path == str(path)
            assert stores.url == f"sqlite://{path}"
        assert path.is_file()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:x.db",
        "sqlite://x.db?history_limit=0",
        "sqlite://x.db?history_limit=many",
        "sqlite://x.db?busy_timeout=soon",
        "sqlite://x.db?synchronous=off",
        "sqlite://x.db?colour=blue",
        "postgresql://postgres@127.0.0.1/test?history_limit=-1",
        "postgresql://postgres@127.0.0.1/test?schema=Bad-Name",
        "postgresql://postgres@127.0.0.1",
    ],
)
def test_a_bad_sql_url_is_a_usage_error(url: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        open_stores(url, root=str(tmp_path))


def test_the_options_of_a_url_are_kept_in_the_url_of_the_stores(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/a.db?history_limit=5&busy_timeout=100&synchronous=normal"
    with open_stores(url) as stores:
        assert stores.url == url
        assert stores.runs.history_limit == 5
        assert stores.runs.db.busy_timeout_ms == 100
    pg = open_stores("postgresql://ann:secret@127.0.0.1:1/test?history_limit=4&sslmode=disable")
    assert "secret" not in pg.url
    assert pg.url == "postgresql://ann@127.0.0.1:1/test?history_limit=4"
    assert pg.runs.db.conninfo.endswith("/test?sslmode=disable")


def test_one_sqlite_file_holds_many_features_runs_and_task_files_in_wal_mode(
    tmp_path: Path,
) -> None:
    path = tmp_path / "flow.db"
    with open_stores(f"sqlite://{path}") as stores:
        for feature in ("auth", "billing", "search"):
            stores.runs.create(feature, 1, run_document(feature))
            stores.runs.create(feature, 2, run_document(feature, run=2))
            stores.tasks.create(feature, {"id": feature}, {"01": {"seq": "01"}})
    with open_stores(f"sqlite://{path}") as again:  # durable: a new connection sees it all
        assert again.runs.features() == ["auth", "billing", "search"]
        assert again.runs.runs("billing") == [1, 2]
        assert again.tasks.features() == ["auth", "billing", "search"]
    conn = sqlite3.connect(str(path))
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert {"stageflow_runs", "stageflow_task_files", "stageflow_run_events"} <= tables


# -- errors name the database ----------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_a_state_file_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "flow.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with open_stores(f"sqlite://{path}") as stores, pytest.raises(StateFileError) as caught:
        stores.runs.features()
    assert str(path) in str(caught.value)
    assert "not an SQLite database" in str(caught.value)


def test_a_database_in_a_folder_that_cannot_be_made_is_a_state_file_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("not a folder")
    stores = open_stores(f"sqlite://{tmp_path}/file/flow.db")
    with stores, pytest.raises(StateFileError, match="cannot create the folder"):
        stores.runs.features()


def test_an_unreachable_server_is_a_state_file_error_naming_it_without_password() -> None:
    url = "postgresql://ann:secret@127.0.0.1:1/test?connect_timeout=5"
    with open_stores(url) as stores, pytest.raises(StateFileError) as caught:
        stores.runs.latest("auth")
    message = str(caught.value)
    assert "postgresql://ann@127.0.0.1:1/test" in message
    assert "cannot open the database" in message
    assert "secret" not in message


def test_a_stored_document_that_is_not_json_is_a_state_file_error(sql: Stores) -> None:
    sql.runs.create("auth", 1, run_document())
    sql.tasks.create("auth", {"id": "auth"}, {"01": {"seq": "01"}})
    with sql.runs.lock("auth"):  # edited behind stageflow's back
        sql.runs.db.write("UPDATE {runs} SET document = ?", ("{not json",))
        sql.runs.db.write(
            "UPDATE {task_files} SET document = ? WHERE name = ?", ("[1]", "task.json")
        )
    with pytest.raises(StateFileError) as caught:
        sql.runs.load("auth", 1)
    assert caught.value.path.endswith("/auth/run-1")
    task = sql.tasks.load("auth").task  # a task file's problem travels with it
    assert task.document is None
    assert task.problem == "expected a JSON object, found an array"


def test_a_read_after_the_server_ended_the_session_reconnects(postgres_url: str) -> None:
    import psycopg

    with open_stores(postgres_url) as stores:
        stores.runs.create("auth", 1, run_document())
        pid = stores.runs.db.state().conn.info.backend_pid
        with psycopg.connect(postgres_url.split("?")[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert stores.runs.runs("auth") == [1]
        with stores.runs.lock("auth"):  # and writes work again
            stored = stores.runs.load("auth", 1)
            stores.runs.save("auth", 1, run_document(events=2), stored.revision)
        assert len(stores.runs.load("auth", 1).document["history"]) == 2


def test_a_closed_store_refuses_to_reconnect(sql_url: str) -> None:
    stores = open_stores(sql_url)
    stores.runs.features()
    stores.close()
    with pytest.raises(UsageError, match="closed"):
        stores.runs.features()
    other_thread: List[BaseException] = []
    thread = threading.Thread(target=lambda: _catch(other_thread, stores.runs.features))
    thread.start()
    thread.join()
    assert [type(e) for e in other_thread] == [UsageError]


def test_the_connections_of_ended_threads_are_closed(sql: Stores) -> None:
    for _ in range(12):
        thread = threading.Thread(target=sql.runs.features)
        thread.start()
        thread.join()
    assert len(sql.runs.db._connections) <= 2  # the last thread's, and this one's
    assert sql.runs.features() == []


def _catch(errors: List[BaseException], call: Any) -> None:
    try:
        call()
    except BaseException as exc:
        errors.append(exc)


# -- migrations ----------------------------------------------------------------------------


def test_migrations_are_applied_once_and_on_first_use(sql_url: str) -> None:
    with open_stores(sql_url) as stores:
        assert stores.migrate() == VERSIONS
        assert stores.migrate() == []
    with open_stores(sql_url) as stores:
        assert stores.migrate() == []
        assert stores.runs.db.applied_migrations() == VERSIONS
    fresh = _with(sql_url, "history_limit=9").replace("flow.db", "other.db")
    if fresh.startswith("postgresql"):
        fresh = fresh.replace("schema=", "schema=other_")
    with open_stores(fresh) as stores:
        stores.runs.create("auth", 1, run_document())  # first use migrates
        assert stores.migrate() == []
        if fresh.startswith("postgresql"):
            stores.runs.db.drop_schema()


def test_processes_migrating_at_once_apply_each_version_once(sql_url: str) -> None:
    results: List[List[str]] = []
    errors: List[BaseException] = []
    opened = [open_stores(sql_url) for _ in range(4)]
    barrier = threading.Barrier(len(opened))

    def migrate(stores: Stores) -> None:
        try:
            barrier.wait()
            results.append(stores.migrate())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(s,)) for s in opened]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for stores in opened:
        stores.close()
    assert errors == []
    assert sorted(results, key=len) == [[], [], [], VERSIONS]


def test_a_schema_newer_than_this_stageflow_is_refused(sql: Stores) -> None:
    sql.migrate()
    with sql.runs.lock("auth"):
        sql.runs.db.write(
            "INSERT INTO {schema_versions} (version, applied_at) VALUES (?, ?)",
            ("9999-from-the-future", "2030-01-01T00:00:00Z"),
        )
    with open_stores(sql.url) as newer, pytest.raises(StateFileError) as caught:
        newer.runs.features()
    assert "upgrade stageflow" in str(caught.value)


# -- transactions and processes ------------------------------------------------------------


def test_a_forked_child_opens_its_own_connection_and_the_parent_keeps_working(
    sql: Stores,
) -> None:
    revision = sql.runs.create("auth", 1, run_document(counter=0))
    sql.tasks.features()  # the parent's connection is open
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads alive
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            with sql.runs.lock("auth"):
                stored = sql.runs.load("auth", 1)
                sql.runs.save("auth", 1, {**stored.document, "counter": 1}, stored.revision)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
    stored = sql.runs.load("auth", 1)
    assert stored.document["counter"] == 1
    assert stored.revision != revision
    sql.runs.save("auth", 1, {**stored.document, "counter": 2}, stored.revision)
    assert sql.runs.load("auth", 1).document["counter"] == 2


def test_reads_outside_a_lock_see_only_committed_writes(sql: Stores) -> None:
    sql.runs.create("auth", 1, run_document())
    seen: List[Any] = []
    with sql.runs.lock("auth"):
        stored = sql.runs.load("auth", 1)
        sql.runs.save("auth", 1, run_document(events=2), stored.revision)
        thread = threading.Thread(
            target=lambda: seen.append(len(sql.runs.load("auth", 1).document["history"]))
        )
        thread.start()
        thread.join()
    assert seen == [1]
    assert len(sql.runs.load("auth", 1).document["history"]) == 2


# -- bounded history -----------------------------------------------------------------------


def _grow(stores: Stores, events: int) -> None:
    revision = stores.runs.create("auth", 1, run_document())
    for n in range(2, events + 1):
        stored = stores.runs.load("auth", 1)
        document = dict(stored.document)
        document["history"] = [*stored.document["history"], run_document(events=n)["history"][-1]]
        revision = stores.runs.save("auth", 1, document, revision)


def test_a_bounded_history_keeps_the_newest_events_and_archives_the_rest(sql_url: str) -> None:
    with open_stores(_with(sql_url, "history_limit=3")) as stores:
        _grow(stores, 7)
        kept = stores.runs.load("auth", 1).document["history"]
        archived = stores.runs.archived_events("auth", 1)
        full = stores.runs.load_full("auth", 1)
    assert [e["seq"] for e in kept] == [5, 6, 7]
    assert [e["seq"] for e in archived] == [1, 2, 3, 4]
    assert [e["seq"] for e in full.document["history"]] == list(range(1, 8))
    assert archived[0] == run_document()["history"][0]


def test_a_save_that_would_lose_archived_events_is_refused(sql_url: str) -> None:
    with open_stores(_with(sql_url, "history_limit=2")) as stores:
        _grow(stores, 4)
        stored = stores.runs.load("auth", 1)
        cut = dict(stored.document)
        cut["history"] = stored.document["history"][-1:]  # drops event 3: never archived
        with pytest.raises(StateFileError) as caught:
            stores.runs.save("auth", 1, cut, stored.revision)
        assert "events would be lost" in str(caught.value)
        assert stores.runs.load("auth", 1) == stored


def _engine_run(stores: Stores, root: Path) -> Orchestrator:
    flow = Orchestrator(stores.runs, root=root, clock=FakeClock())
    run = flow.init("feat")
    first = run.stages[0].key
    for _ in range(3):
        with pytest.raises(GateFailed):  # no outputs yet: refused, and recorded
            flow.complete("feat", first)
    for stage in [s.key for s in run.stages][:3]:
        write_outputs(root, stage, "feat")
        flow.complete("feat", stage)
    return flow


def test_the_engine_records_refusals_and_works_on_a_bounded_history(
    sql_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    with open_stores(_with(sql_url, "history_limit=3")) as stores:
        used = _engine_run(stores, root)
        # The orchestrator that wrote the run holds what the store holds: the newest events.
        assert [e.seq for e in used.status("feat").history] == [5, 6, 7]
        # A new orchestrator (a new CLI call) decodes the bounded document from the store.
        again = Orchestrator(stores.runs, root=root, clock=FakeClock())
        run = again.status("feat")
        assert [e.seq for e in run.history] == [5, 6, 7]
        assert run.current_stage == run.stages[3].key
        with pytest.raises(RuleViolation):  # the rules still apply
            again.complete("feat", run.stages[0].key)
        full = stores.runs.load_full("feat", 1)
        whole = run_from_document(full.document, full.location)
        assert [e.outcome.value for e in whole.history[1:4]] == ["failed"] * 3
        assert_replays(whole)
        with pytest.raises(AssertionError, match="bounded"):
            assert_replays(again.status("feat"))
    with open_stores(sql_url) as unbounded:  # the same database without the option
        flow = Orchestrator(unbounded.runs, root=root, clock=FakeClock())
        assert [e.seq for e in flow.status("feat").history] == [6, 7, 8]


def test_a_files_store_still_refuses_a_history_that_does_not_start_with_init(
    tmp_path: Path,
) -> None:
    with open_stores("sqlite://" + str(tmp_path / "flow.db") + "?history_limit=2") as stores:
        _engine_run(stores, tmp_path)
        bounded = stores.runs.latest("feat")
    assert bounded is not None
    files = open_stores("files://" + str(tmp_path / "other"))
    files.runs.create("feat", 1, bounded.document)
    with pytest.raises(StateFileError, match="init"):
        Orchestrator(files.runs, root=tmp_path / "other").status("feat")


# -- the task tracker and the lease --------------------------------------------------------


def _subtask(seq: str) -> Dict[str, Any]:
    return taskdocs.subtask("shop", seq)


def test_tracker_claims_from_threads_each_take_a_different_subtask(sql: Stores) -> None:
    task = {
        "id": "shop",
        "name": "Shop",
        "status": "active",
        "objective": "Sell things",
        "created_at": "2026-01-01T00:00:00Z",
        "subtask_count": 8,
        "completed_count": 0,
    }
    sql.tasks.create("shop", task, {f"{n:02d}": _subtask(f"{n:02d}") for n in range(1, 9)})
    tracker = TaskTracker(sql.tasks, clock=FakeClock())
    claimed: List[str] = []
    errors: List[BaseException] = []

    def claim(agent: str) -> None:
        try:
            for _ in range(2):
                claimed.append(tracker.claim("shop", agent).seq)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(f"agent-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(claimed) == [f"{n:02d}" for n in range(1, 9)]
    stored = sql.tasks.load("shop")
    assert {f.document["status"] for f in stored.subtasks if f.document} == {"in_progress"}


def test_the_lease_names_the_database_when_it_is_held(sql: Stores) -> None:
    with sql.tasks.lease("shop"), pytest.raises(ConflictError) as caught, sql.tasks.lease("shop"):
        pass  # pragma: no cover
    assert "another executor is running feature 'shop'" in str(caught.value)
