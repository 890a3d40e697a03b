"""The storage port (in-memory and files adapters) and the crash-safe file primitives.

Both adapters go through the same tests of the :class:`~stageflow.storage.RunStore` port;
the files adapter then gets the layout, naming and atomic-write guarantees the seed tools
lacked (suffix matching of sessions, overwritten runs, non-atomic writes, no locks).
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import stat
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from stageflow._fileio import write_atomic
from stageflow._filelock import file_lock
from stageflow.errors import ConflictError, InvalidName, NotFound, StateFileError, UsageError
from stageflow.storage import StoredRun, open_store, open_stores
from stageflow.storage import files as files_module
from stageflow.storage.files import TRACKING_FILE, FileStore
from stageflow.storage.memory import MemoryStore

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

posix_only = pytest.mark.skipif(fcntl is None, reason="flock-based locks are POSIX only")


def make_doc(
    feature: str = "auth", run: int = 1, created_at: str = "2026-01-02T03:04:05Z", **extra: Any
) -> Dict[str, Any]:
    """A JSON-ready document as the engine would store it (stores do not check its shape)."""
    return {
        "version": 1,
        "feature": feature,
        "run": run,
        "created_at": created_at,
        "history": [{"seq": 1, "operation": "init", "note": "caf\u00e9 \u2713"}],
        **extra,
    }


@pytest.fixture(params=["memory", "files", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
    elif request.param == "files":
        yield FileStore(tmp_path)
    else:
        url = (
            f"sqlite://{tmp_path}/flow.db"
            if request.param == "sqlite"
            else request.getfixturevalue("postgres_url")
        )
        with open_stores(url) as stores:
            yield stores.runs


def tree(root: Path) -> List[str]:
    """Every path under ``root``, relative and sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


# -- the port, for every adapter -----------------------------------------------------------


def test_an_empty_store_has_no_features_runs_or_latest(store: Any) -> None:
    assert store.features() == []
    assert store.runs("auth") == []
    assert store.latest("auth") is None
    with pytest.raises(NotFound):
        store.load("auth", 1)


def test_a_created_run_is_the_latest_and_can_be_loaded(store: Any) -> None:
    doc = make_doc()
    revision = store.create("auth", 1, doc)

    assert isinstance(revision, str)
    assert revision
    latest = store.latest("auth")
    assert isinstance(latest, StoredRun)
    assert latest.document == doc
    assert latest.revision == revision
    assert latest.location  # something to name in error messages
    loaded = store.load("auth", 1)
    assert loaded.document == doc
    assert loaded.revision == revision
    assert store.runs("auth") == [1]
    assert store.features() == ["auth"]


def test_a_new_run_becomes_the_latest_and_earlier_runs_stay_readable(store: Any) -> None:
    first = make_doc(run=1, marker="first")
    second = make_doc(run=2, marker="second")
    store.create("auth", 1, first)
    store.create("auth", 2, second)

    latest = store.latest("auth")
    assert latest is not None
    assert latest.document == second
    assert store.load("auth", 1).document == first
    assert store.load("auth", 2).document == second
    assert store.runs("auth") == [1, 2]
    assert store.features() == ["auth"]
    with pytest.raises(NotFound):
        store.load("auth", 3)


def test_features_are_listed_sorted_and_kept_apart(store: Any) -> None:
    for feature in ("payments", "auth", "auth-system"):
        store.create(feature, 1, make_doc(feature, marker=feature))

    assert store.features() == ["auth", "auth-system", "payments"]
    for feature in ("payments", "auth", "auth-system"):
        latest = store.latest(feature)
        assert latest is not None
        assert latest.document["marker"] == feature
        assert store.runs(feature) == [1]


def test_creating_an_existing_run_again_is_a_conflict_and_changes_nothing(store: Any) -> None:
    store.create("auth", 1, make_doc(marker="original"))

    with pytest.raises(ConflictError):
        store.create("auth", 1, make_doc(marker="intruder"))

    assert store.load("auth", 1).document["marker"] == "original"
    assert store.runs("auth") == [1]


def test_save_replaces_the_document_and_changes_the_revision(store: Any) -> None:
    first_revision = store.create("auth", 1, make_doc())
    updated = make_doc(status="updated")

    second_revision = store.save("auth", 1, updated, first_revision)

    assert second_revision != first_revision
    latest = store.latest("auth")
    assert latest is not None
    assert latest.document == updated
    assert latest.revision == second_revision
    assert store.load("auth", 1).revision == second_revision

    third_revision = store.save("auth", 1, make_doc(status="again"), second_revision)
    assert third_revision not in (first_revision, second_revision)


def test_a_stale_revision_is_a_conflict_and_the_stored_document_is_unchanged(
    store: Any,
) -> None:
    stale = store.create("auth", 1, make_doc())
    current = store.save("auth", 1, make_doc(writer="a"), stale)

    with pytest.raises(ConflictError):
        store.save("auth", 1, make_doc(writer="b"), stale)  # the lost update

    latest = store.latest("auth")
    assert latest is not None
    assert latest.document == make_doc(writer="a")
    assert latest.revision == current


def test_saving_a_run_that_does_not_exist_is_not_found(store: Any) -> None:
    with pytest.raises(NotFound):
        store.save("auth", 1, make_doc(), "1")
    store.create("auth", 1, make_doc())
    with pytest.raises(NotFound):
        store.save("auth", 7, make_doc(run=7), store.load("auth", 1).revision)
    assert store.runs("auth") == [1]


def test_documents_are_copied_in_and_out(store: Any) -> None:
    doc = make_doc()
    pristine = copy.deepcopy(doc)
    revision = store.create("auth", 1, doc)

    doc["history"].append({"seq": 2})  # the caller keeps using its dict
    doc["feature"] = "mutated"
    returned = store.latest("auth")
    assert returned is not None
    returned.document["history"].clear()  # a reader scribbles on what it got
    returned.document["run"] = 99
    store.load("auth", 1).document["created_at"] = "nope"

    assert store.latest("auth").document == pristine
    assert store.load("auth", 1).document == pristine

    replacement = make_doc(status="saved")
    store.save("auth", 1, replacement, revision)
    replacement["status"] = "mutated after save"
    assert store.load("auth", 1).document["status"] == "saved"


def test_the_feature_lock_is_reentrant_in_one_thread(store: Any) -> None:
    revision = store.create("auth", 1, make_doc())
    with store.lock("auth"), store.lock("auth"):
        revision = store.save("auth", 1, make_doc(step=1), revision)
    with store.lock("auth"):  # released after the outer block: can be taken again
        store.save("auth", 1, make_doc(step=2), revision)
    assert store.latest("auth").document["step"] == 2


def test_locked_read_modify_write_from_many_threads_loses_no_update(store: Any) -> None:
    store.create("auth", 1, make_doc(counter=0))
    threads_count, increments = 4, 15
    start = threading.Barrier(threads_count)
    errors: List[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(increments):
                with store.lock("auth"):
                    stored = store.latest("auth")
                    document = dict(stored.document, counter=stored.document["counter"] + 1)
                    store.save("auth", 1, document, stored.revision)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert store.latest("auth").document["counter"] == threads_count * increments


def test_open_store_returns_the_adapter_named_by_the_url(tmp_path: Path) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    files = open_store("files", root=str(tmp_path))
    assert isinstance(files, FileStore)
    assert files.root == str(tmp_path)
    url = open_store("files://" + str(tmp_path))
    assert isinstance(url, FileStore)
    assert url.root == str(tmp_path)


@pytest.mark.parametrize(
    "url", ["files://", "sqlite://", "sqlite:runs.db", "mysql://db", "", "memory:/x"]
)
def test_open_store_refuses_an_unknown_or_incomplete_url(url: str) -> None:
    with pytest.raises(UsageError):
        open_store(url)


# -- the files adapter: layout -----------------------------------------------------------------


def test_a_run_is_stored_in_a_session_folder_named_by_its_creation_date(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    doc = make_doc(created_at="2026-03-04T23:59:59.123456Z")
    store.create("auth", 1, doc)

    path = tmp_path / ".tmp/sessions/2026-03-04-auth" / TRACKING_FILE
    assert path.is_file()
    assert json.loads(path.read_bytes().decode("utf-8")) == doc
    latest = store.latest("auth")
    assert latest is not None
    assert latest.location == ".tmp/sessions/2026-03-04-auth/stage-tracking.json"
    assert tree(tmp_path / ".tmp/sessions") == [
        "2026-03-04-auth",
        "2026-03-04-auth/context.md",  # the session's Stage Progress view
        "2026-03-04-auth/stage-tracking.json",
    ]


def test_the_revision_tracks_the_bytes_on_disk(tmp_path: Path) -> None:
    """Another program editing the file makes a held revision stale."""
    store = FileStore(tmp_path)
    revision = store.create("auth", 1, make_doc())
    path = tmp_path / ".tmp/sessions/2026-01-02-auth" / TRACKING_FILE
    edited = json.dumps(make_doc(edited_by="someone else")).encode("utf-8")
    path.write_bytes(edited)

    with pytest.raises(ConflictError):
        store.save("auth", 1, make_doc(mine=True), revision)

    assert path.read_bytes() == edited
    assert store.latest("auth").revision != revision


def test_a_session_of_another_feature_ending_in_the_same_name_is_never_matched(
    tmp_path: Path,
) -> None:
    """stage-cli's suffix matching gave feature 'system' the 'auth-system' session."""
    other = tmp_path / ".tmp/sessions/2026-01-01-auth-system"
    other.mkdir(parents=True)
    other_bytes = json.dumps(make_doc("auth-system", created_at="2026-01-01T00:00:00Z")).encode()
    (other / TRACKING_FILE).write_bytes(other_bytes)
    store = FileStore(tmp_path)

    assert store.latest("system") is None
    assert store.runs("system") == []
    with pytest.raises(NotFound):
        store.load("system", 1)
    assert store.features() == ["auth-system"]

    store.create("system", 1, make_doc("system", created_at="2026-01-01T00:00:00Z"))

    assert (other / TRACKING_FILE).read_bytes() == other_bytes  # not archived, not touched
    assert store.latest("system").document["feature"] == "system"
    assert store.latest("auth-system").document["feature"] == "auth-system"
    assert store.features() == ["auth-system", "system"]
    assert not (tmp_path / ".tmp/sessions/archive").exists()


def test_a_new_run_on_the_same_day_archives_the_previous_session_instead_of_overwriting(
    tmp_path: Path,
) -> None:
    """stage-cli's init after abort overwrote the same stage-tracking.json."""
    store = FileStore(tmp_path)
    first = make_doc(run=1, created_at="2026-01-01T08:00:00Z", marker="first")
    store.create("auth", 1, first)
    session = tmp_path / ".tmp/sessions/2026-01-01-auth"
    (session / "notes.md").write_text("kept with its run\n", encoding="utf-8")
    second = make_doc(run=2, created_at="2026-01-01T17:00:00Z", marker="second")

    store.create("auth", 2, second)

    archived = tmp_path / ".tmp/sessions/archive/auth/run-1"
    assert json.loads((archived / TRACKING_FILE).read_text(encoding="utf-8")) == first
    assert (archived / "notes.md").read_text(encoding="utf-8") == "kept with its run\n"
    assert json.loads((session / TRACKING_FILE).read_text(encoding="utf-8")) == second
    assert not (session / "notes.md").exists()
    assert store.load("auth", 1).document == first
    assert store.load("auth", 1).location == ".tmp/sessions/archive/auth/run-1/stage-tracking.json"
    assert store.runs("auth") == [1, 2]
    assert store.features() == ["auth"]  # the archive is not a feature


def test_runs_on_later_days_archive_every_earlier_run(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    docs = {n: make_doc(run=n, created_at=f"2026-01-0{n}T12:00:00Z", marker=n) for n in (1, 2, 3)}
    for number, doc in docs.items():
        store.create("auth", number, doc)

    assert tree(tmp_path / ".tmp/sessions") == [
        "2026-01-03-auth",
        "2026-01-03-auth/context.md",
        "2026-01-03-auth/stage-tracking.json",
        "archive",
        "archive/auth",
        "archive/auth/run-1",
        "archive/auth/run-1/context.md",
        "archive/auth/run-1/stage-tracking.json",
        "archive/auth/run-2",
        "archive/auth/run-2/context.md",
        "archive/auth/run-2/stage-tracking.json",
    ]
    assert store.runs("auth") == [1, 2, 3]
    assert store.latest("auth").document == docs[3]
    for number, doc in docs.items():
        assert store.load("auth", number).document == doc


def test_an_archived_run_loads_even_when_the_latest_file_is_broken(tmp_path: Path) -> None:
    """Earlier runs stay readable: loading run 1 must not depend on run 2's file."""
    store = FileStore(tmp_path)
    first = make_doc(run=1, created_at="2026-01-01T08:00:00Z", marker="first")
    store.create("auth", 1, first)
    store.create("auth", 2, make_doc(run=2, created_at="2026-01-02T08:00:00Z"))
    latest = tmp_path / ".tmp/sessions/2026-01-02-auth" / TRACKING_FILE
    latest.write_bytes(b'{"run": 2, "feature": "au')  # a half-written file

    with pytest.raises(StateFileError, match="2026-01-02-auth"):
        store.latest("auth")
    assert store.load("auth", 1).document == first


def test_a_reader_while_a_new_run_is_created_still_finds_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process asking for the latest run while a new run starts must find the old
    run or the new one; "no run for this feature" would be wrong (and invites a second init)."""
    store = FileStore(tmp_path)
    first = make_doc(run=1, created_at="2026-01-01T08:00:00Z", marker="first")
    second = make_doc(run=2, created_at="2026-01-01T09:00:00Z", marker="second")
    store.create("auth", 1, first)
    seen: List[Any] = []
    read = threading.Event()
    real_write = files_module.write_atomic

    def read_from_another_thread() -> None:
        try:
            stored = FileStore(tmp_path).latest("auth")
            seen.append(None if stored is None else stored.document)
        finally:
            read.set()

    def write_while_someone_reads(path: str, data: bytes) -> None:
        if path.endswith(TRACKING_FILE) and not read.is_set():
            reader = threading.Thread(target=read_from_another_thread)
            reader.start()
            # A reader that waits for the feature lock instead finishes after the write.
            read.wait(5)
            readers.append(reader)
        real_write(path, data)

    readers: List[threading.Thread] = []
    monkeypatch.setattr(files_module, "write_atomic", write_while_someone_reads)
    store.create("auth", 2, second)
    for reader in readers:
        reader.join()

    assert readers, "the new run was never written"
    assert seen in ([first], [second])


def test_an_archived_run_can_still_be_saved(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    revision = store.create("auth", 1, make_doc(run=1))
    store.create("auth", 2, make_doc(run=2))

    store.save("auth", 1, make_doc(run=1, note="amended"), revision)

    assert store.load("auth", 1).document["note"] == "amended"
    assert store.latest("auth").document["run"] == 2


@pytest.mark.parametrize("feature", ["../x", "A", "-x", "", "auth/x", "auth x", "..", "auth_x"])
def test_invalid_feature_names_are_refused_and_nothing_is_written(
    tmp_path: Path, feature: str
) -> None:
    store = FileStore(tmp_path / "project")
    (tmp_path / "project").mkdir()

    with pytest.raises(InvalidName):
        store.create(feature, 1, make_doc("auth"))
    with pytest.raises(InvalidName):
        store.latest(feature)
    with pytest.raises(InvalidName):
        store.runs(feature)
    with pytest.raises(InvalidName):
        store.load(feature, 1)
    with pytest.raises(InvalidName):
        store.save(feature, 1, make_doc("auth"), "0")
    with pytest.raises(InvalidName), store.lock(feature):
        pass  # pragma: no cover

    assert tree(tmp_path) == ["project"]


# -- crash-safe writes ---------------------------------------------------------------------------


def test_write_atomic_creates_folders_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "state.json"

    write_atomic(str(target), b"one")
    write_atomic(str(target), b"two")

    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["state.json"]


def test_a_failing_replace_keeps_the_old_content_and_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old content")

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(str(target), b"new content")
    monkeypatch.undo()

    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_failing_flush_to_disk_keeps_the_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old content")

    def broken_disk(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_disk)
    with pytest.raises(OSError, match="Input/output error"):
        write_atomic(str(target), b"new content")
    monkeypatch.undo()

    assert target.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_failing_store_save_keeps_the_previous_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    revision = store.create("auth", 1, make_doc())
    path = tmp_path / ".tmp/sessions/2026-01-02-auth" / TRACKING_FILE
    before = path.read_bytes()

    def refuse(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        store.save("auth", 1, make_doc(status="lost"), revision)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["context.md", TRACKING_FILE]
    assert store.latest("auth").revision == revision  # the save can simply be retried
    store.save("auth", 1, make_doc(status="retried"), revision)
    assert store.latest("auth").document["status"] == "retried"


@pytest.fixture
def umask() -> Iterator[Any]:
    """Set the process umask for one test, restoring it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    try:
        yield set_mask
    finally:
        os.umask(previous)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_mode_the_umask_allows(
    tmp_path: Path, umask: Any, mask: int, mode: int
) -> None:
    umask(mask)
    target = tmp_path / "state.json"
    write_atomic(str(target), b"{}")
    assert stat.S_IMODE(target.stat().st_mode) == mode

    write_atomic(str(target), b"{}")  # replacing keeps the same rule
    assert stat.S_IMODE(target.stat().st_mode) == mode

    FileStore(tmp_path).create("auth", 1, make_doc())
    tracking = tmp_path / ".tmp/sessions/2026-01-02-auth" / TRACKING_FILE
    assert stat.S_IMODE(tracking.stat().st_mode) == mode


# -- locks -------------------------------------------------------------------------------------


def _flock_is_free(path: Path) -> bool:
    """True if a new open file description can take the lock at once (no one holds it)."""
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


@posix_only
def test_file_lock_is_reentrant_and_held_until_the_outermost_block_ends(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "auth.lock"
    with file_lock(str(path)):
        assert not _flock_is_free(path)
        with file_lock(str(path)):
            assert not _flock_is_free(path)
        assert not _flock_is_free(path)  # leaving the inner block must not release it
    assert _flock_is_free(path)


@posix_only
def test_file_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    path = tmp_path / "auth.lock"
    with pytest.raises(RuntimeError), file_lock(str(path)), file_lock(str(path)):
        raise RuntimeError("boom")
    assert _flock_is_free(path)
    with file_lock(str(path)):  # and can be taken again
        assert not _flock_is_free(path)


@posix_only
def test_file_lock_excludes_other_threads(tmp_path: Path) -> None:
    path = str(tmp_path / "auth.lock")
    counter = tmp_path / "counter"
    counter.write_text("0")
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        for _ in range(25):
            with file_lock(path):
                value = int(counter.read_text())
                write_atomic(str(counter), str(value + 1).encode())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.read_text() == "100"


def _hold_then_report(lock_path: str, flag_path: str, ready: Any, done: Any) -> None:
    """Child process: wait until the parent holds the lock, then take it ourselves."""
    ready.set()
    with file_lock(lock_path):
        # The parent removes the flag file before it releases the lock.
        done.put(os.path.exists(flag_path))


def _increment(lock_path: str, counter_path: str, times: int) -> None:
    for _ in range(times):
        with file_lock(lock_path):
            with open(counter_path) as handle:
                value = int(handle.read())
            write_atomic(counter_path, str(value + 1).encode())


@posix_only
def test_file_lock_excludes_another_process(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    lock_path = str(tmp_path / "auth.lock")
    flag_path = str(tmp_path / "parent-holds-the-lock")
    ready, done = context.Event(), context.Queue()

    with file_lock(lock_path):
        Path(flag_path).touch()
        child = context.Process(target=_hold_then_report, args=(lock_path, flag_path, ready, done))
        child.start()
        assert ready.wait(60), "the child process did not start"
        # Seen from another process, the lock is taken for as long as the block runs.
        assert not _flock_is_free(Path(lock_path))
        os.unlink(flag_path)
    saw_parent_holding = done.get(timeout=60)
    child.join(60)

    assert child.exitcode == 0
    assert saw_parent_holding is False


@posix_only
def test_locked_increments_from_several_processes_lose_no_update(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    lock_path = str(tmp_path / "counter.lock")
    counter_path = str(tmp_path / "counter")
    Path(counter_path).write_text("0")
    children = [
        context.Process(target=_increment, args=(lock_path, counter_path, 30)) for _ in range(3)
    ]
    for child in children:
        child.start()
    _increment(lock_path, counter_path, 30)
    for child in children:
        child.join(60)

    assert [child.exitcode for child in children] == [0, 0, 0]
    assert Path(counter_path).read_text() == "120"
