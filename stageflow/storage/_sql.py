"""The SQL core shared by the SQLite and PostgreSQL backends.

One implementation of :class:`~stageflow.storage.RunStore` (:class:`SqlRunStore`) and of
:class:`~stageflow.storage.TaskStore` (:class:`SqlTaskStore`) over a :class:`SqlDatabase`,
which a dialect subclass (:mod:`.sqlite`, :mod:`.postgres`) completes with how to connect,
how to name tables, how to lock a feature and how to hold an execution lease.

Transactions. Every thread has its own connection (reopened in a forked child: a
connection is never used by two processes). :meth:`SqlDatabase.locked` is the feature's
lock, re-entrant within a thread; the writes made while a thread holds any lock belong to
one transaction, committed when the thread's outermost lock exits and rolled back when it
exits with an exception. A write outside a lock takes the lock itself, so it is its own
transaction. Reads outside a lock see the last committed state.

Documents are stored as the JSON text of what the caller gave (task files exactly as
:func:`~stageflow.storage.taskfiles.encode_task` writes them, on one line), so a caller
can never alias a stored document, and revisions are ``{counter}-{crc32}`` tokens: the
row's write counter and a checksum of its text.

Bounded history: with ``history_limit=N`` a run document keeps its ``N`` newest history
events; older ones move to the ``run_events`` table (:meth:`SqlRunStore.archived_events`,
:meth:`SqlRunStore.load_full`) and are never lost: a save that would drop an event that
is neither kept nor archived is refused.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
import zlib
from contextlib import contextmanager, suppress
from typing import (
    Any,
    ContextManager,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
)

from .._minischema import json_type_phrase
from .._names import check_feature, seq_key
from .._rundoc import parse_json_bytes
from ..errors import ConflictError, NotFound, StateFileError, UsageError
from ._stored import StoredRun
from ._taskdocs import MISSING, TASK_FILE, StoredFeature, StoredFile
from .taskfiles import (
    SUBTASK_FILE,
    as_dict,
    check_file_name,
    check_task_feature,
    encode_task,
    names_for,
    parse_task_bytes,
)

__all__ = ["MIGRATIONS", "SqlDatabase", "SqlRunStore", "SqlTaskStore", "parse_history_limit"]

# Versioned schema migrations: (version, statements). ``{name}`` is a table of the
# dialect's namespace (:meth:`SqlDatabase.table`); ``{bigint}`` its 64-bit integer type.
# A released migration is never edited: a change is a new version.
MIGRATIONS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    (
        "0001-runs-and-task-files",
        (
            "CREATE TABLE {runs} ("
            " feature TEXT NOT NULL, run {bigint} NOT NULL, version {bigint} NOT NULL,"
            " revision TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (feature, run))",
            "CREATE TABLE {task_files} ("
            " feature TEXT NOT NULL, name TEXT NOT NULL, version {bigint} NOT NULL,"
            " revision TEXT NOT NULL, document TEXT NOT NULL, PRIMARY KEY (feature, name))",
        ),
    ),
    (
        "0002-archived-history-events",
        (
            "CREATE TABLE {run_events} ("
            " feature TEXT NOT NULL, run {bigint} NOT NULL, seq {bigint} NOT NULL,"
            " event TEXT NOT NULL, PRIMARY KEY (feature, run, seq))",
        ),
    ),
)

_TABLES = ("runs", "task_files", "run_events", "schema_versions")

# Connections a forked child inherited: never used, never closed (closing one could end
# the parent's session), only kept from the garbage collector.
_abandoned: List[Any] = []


def parse_history_limit(value: Optional[str], url: str) -> Optional[int]:
    """The ``history_limit`` query parameter of ``url``: a positive integer, or ``None``."""
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{url}: history_limit must be a positive integer, not {value!r}")
    return int(value)


def _revision(version: int, text: str) -> str:
    return f"{version}-{zlib.crc32(text.encode('utf-8')):08x}"


def _encode_run(document: Any) -> str:
    """A run document's JSON text; anything JSON cannot hold is a :class:`UsageError`."""
    if not isinstance(document, dict):
        raise UsageError(f"a run document is a JSON object, not {type(document).__name__}")
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise UsageError(f"the run document is not portable JSON: {exc}") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it as its escape
        text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    return text


def _encode_task(document: Any) -> str:
    return encode_task(as_dict(document), indent=None).decode("utf-8").rstrip("\n")


class _State:
    """One thread's connection and where it is in its transaction."""

    __slots__ = ("conn", "depth", "in_tx", "pid")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.pid = os.getpid()
        self.depth = 0
        self.in_tx = False


class SqlDatabase:
    """Connections, transactions, locks and migrations of one database.

    A dialect subclass provides :meth:`_connect`, :meth:`table`, :data:`driver_errors`,
    :meth:`lease` and, where it needs them, :meth:`_feature_lock`, :meth:`_lock_in_tx`,
    :meth:`_begin_write` and :meth:`_migration_lock`. SQL is written with ``?``
    placeholders; :attr:`placeholder` is the dialect's.
    """

    kind = "SQL"
    placeholder = "?"
    bigint = "BIGINT"
    driver_errors: Tuple[Type[BaseException], ...] = ()

    def __init__(self, url: str, *, history_limit: Optional[int] = None) -> None:
        self.url = url
        self.history_limit = history_limit
        self._local = threading.local()
        self._guard = threading.Lock()
        # (pid, thread, connection) of every connection opened, to close them all
        self._connections: List[Tuple[int, weakref.ref[threading.Thread], Any]] = []
        weakref.finalize(self, _close_connections, self._connections, self._guard)
        self._migrated = False
        self._closed = False
        self._sql_cache: Dict[str, str] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- what a dialect provides -------------------------------------------------------------

    def _connect(self) -> Any:
        """A new autocommit connection (DB-API, with ``execute`` on the connection)."""
        raise NotImplementedError

    def table(self, name: str) -> str:
        """The qualified name of one of stageflow's tables."""
        raise NotImplementedError

    def lease(self, feature: str) -> ContextManager[None]:
        """The execution lease of a (checked) feature name."""
        raise NotImplementedError

    def _feature_lock(self, key: str) -> ContextManager[None]:
        """Excludes other threads and processes from ``key`` (before any SQL is sent)."""
        return _nothing()

    def _lock_in_tx(self, state: _State, key: str) -> None:
        """Called on every entry to a lock, once the connection is known."""

    def _begin_write(self, state: _State) -> None:
        """Start the write transaction of a lock (if :meth:`_lock_in_tx` did not)."""
        state.conn.execute("BEGIN")
        state.in_tx = True

    def _migration_lock(self, state: _State) -> None:
        """Begin the migration transaction, excluding other migrating processes."""
        state.conn.execute("BEGIN")

    def _usable(self, conn: Any) -> bool:
        return True

    def _problem(self, exc: BaseException) -> str:
        return str(exc).strip() or type(exc).__name__

    # -- plumbing ----------------------------------------------------------------------------

    def sql(self, text: str) -> str:
        """``text`` with table names filled in and the dialect's placeholders."""
        done = self._sql_cache.get(text)
        if done is None:
            names = {name: self.table(name) for name in _TABLES}
            done = text.format(bigint=self.bigint, **names)
            if self.placeholder != "?":
                done = done.replace("?", self.placeholder)
            self._sql_cache[text] = done
        return done

    @contextmanager
    def errors(self, doing: str = "") -> Iterator[None]:
        """Driver errors become a :class:`StateFileError` naming the database."""
        try:
            yield
        except self.driver_errors as exc:
            what = f"{doing}: " if doing else ""
            raise StateFileError(self.url, f"{what}{self._problem(exc)}") from None

    def _open(self) -> Any:
        if self._closed:
            raise UsageError(f"{self.url}: the store was closed")
        with self.errors("cannot open the database"):
            conn = self._connect()
        pid = os.getpid()
        with self._guard:
            # The connections of threads that ended are closed here, so that a process
            # whose threads come and go keeps a bounded number of them.
            ended = [c for p, t, c in self._connections if p == pid and not _alive(t)]
            _abandoned.extend(c for p, _, c in self._connections if p != pid)
            self._connections[:] = [
                e for e in self._connections if e[0] == pid and e[2] not in ended
            ]
            self._connections.append((pid, weakref.ref(threading.current_thread()), conn))
        for old in ended:
            with suppress(Exception):
                old.close()
        return conn

    def state(self, migrate: bool = True) -> _State:
        """This thread's connection state, (re)opened when needed."""
        if self._closed:
            raise UsageError(f"{self.url}: the store was closed")
        state: Optional[_State] = getattr(self._local, "state", None)
        if state is not None:
            if state.pid != os.getpid():  # inherited from the parent: never touch it
                _abandoned.append(state.conn)
                state = None
            elif not self._usable(state.conn):
                if state.depth:
                    raise StateFileError(self.url, "the connection was lost during a lock")
                self._forget(state.conn)
                state = None
        if state is None:
            state = _State(self._open())
            self._local.state = state
        if migrate and not self._migrated:
            self._run_migrations(state)
        return state

    def _forget(self, conn: Any) -> None:
        with self._guard:
            self._connections[:] = [e for e in self._connections if e[2] is not conn]
        with suppress(Exception):  # a broken connection may fail to close: gone either way
            conn.close()

    def query(self, text: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
        """The rows of one statement, on this thread's connection. Outside a lock, a read
        whose connection broke (a server restart) is tried once more on a new one."""
        state = self.state()
        try:
            with self.errors():
                return list(state.conn.execute(self.sql(text), tuple(params)).fetchall())
        except StateFileError:
            if state.depth or self._usable(state.conn):
                raise
        state = self.state()
        with self.errors():
            return list(state.conn.execute(self.sql(text), tuple(params)).fetchall())

    def write(self, text: str, params: Sequence[Any] = ()) -> None:
        """Run one statement in the transaction of the lock this thread holds."""
        state = self.state()
        if state.depth == 0:
            raise RuntimeError("a write outside a lock")  # pragma: no cover - a bug
        with self.errors():
            if not state.in_tx:
                self._begin_write(state)
            state.conn.execute(self.sql(text), tuple(params))

    @contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Hold ``key``'s lock; the outermost exit commits (or, on an exception, rolls back)
        what was written meanwhile."""
        with self._feature_lock(key):
            state = self.state()
            state.depth += 1
            ok = False
            try:
                with self.errors():
                    self._lock_in_tx(state, key)
                yield
                ok = True
            finally:
                state.depth -= 1
                if state.depth == 0 and state.in_tx:
                    state.in_tx = False
                    self._end(state, ok)

    def _end(self, state: _State, commit: bool) -> None:
        if commit:
            try:
                with self.errors("cannot commit"):
                    state.conn.execute("COMMIT")
                return
            except StateFileError:
                self._rollback(state)
                raise
        self._rollback(state)

    def _rollback(self, state: _State) -> None:
        try:
            state.conn.execute("ROLLBACK")
        except self.driver_errors:
            self._forget(state.conn)  # cannot roll back: never use this connection again
            self._local.state = None

    # -- migrations -------------------------------------------------------------------------

    def migrate(self) -> List[str]:
        """Apply the pending migrations; the versions applied, oldest first."""
        return self._run_migrations(self.state(migrate=False))

    def _run_migrations(self, state: _State) -> List[str]:
        if state.depth:
            raise UsageError(f"{self.url}: cannot migrate inside a lock")
        applied: List[str] = []
        with self.errors("cannot migrate the schema"):
            self._migration_lock(state)
            try:
                state.conn.execute(
                    self.sql(
                        "CREATE TABLE IF NOT EXISTS {schema_versions} ("
                        " version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                    )
                )
                rows = state.conn.execute(
                    self.sql("SELECT version FROM {schema_versions}")
                ).fetchall()
                done = {row[0] for row in rows}
                known = {version for version, _ in MIGRATIONS}
                unknown = sorted(done - known)
                if unknown:
                    raise StateFileError(
                        self.url,
                        f"the schema has version {unknown[-1]}, which this stageflow does "
                        "not know: upgrade stageflow",
                    )
                for version, statements in MIGRATIONS:
                    if version in done:
                        continue
                    for statement in statements:
                        state.conn.execute(self.sql(statement))
                    state.conn.execute(
                        self.sql(
                            "INSERT INTO {schema_versions} (version, applied_at) VALUES (?, ?)"
                        ),
                        (version, _now()),
                    )
                    applied.append(version)
                state.conn.execute("COMMIT")
            except BaseException:
                self._rollback(state)
                raise
        self._migrated = True
        return applied

    def applied_migrations(self) -> List[str]:
        """The schema versions this database holds, oldest first."""
        return [row[0] for row in self.query("SELECT version FROM {schema_versions}")]

    def close(self) -> None:
        """Close every connection this object opened in this process (a forked child
        never closes its parent's: that could end the parent's session)."""
        self._closed = True
        _close_connections(self._connections, self._guard)


def _alive(thread: weakref.ref[threading.Thread]) -> bool:
    found = thread()
    return found is not None and found.is_alive()


def _close_connections(
    connections: List[Tuple[int, weakref.ref[threading.Thread], Any]], guard: threading.Lock
) -> None:
    """Close the connections this process opened, and forget them all."""
    pid = os.getpid()
    with guard:
        mine = [conn for opener, _, conn in connections if opener == pid]
        connections.clear()
    for conn in mine:
        with suppress(Exception):  # closing is best effort
            conn.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _now() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _check_run_number(run: object) -> int:
    if not isinstance(run, int) or isinstance(run, bool):
        raise UsageError(f"a run number is an integer, not {run!r}")
    return run


class SqlRunStore:
    """A :class:`~stageflow.storage.RunStore` in a SQL database (see the module docstring)."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"SqlRunStore({self.db.url!r})"

    @property
    def history_limit(self) -> Optional[int]:
        """How many history events a stored run document keeps (``None``: all)."""
        return self.db.history_limit

    @property
    def archives_history(self) -> bool:
        """This store may return run documents whose oldest events are archived
        (the engine then trusts the stored state instead of replaying it)."""
        return True

    def location(self, feature: str, run: int) -> str:
        return f"{self.db.url}/{feature}/run-{run}"

    def lock(self, feature: str) -> ContextManager[None]:
        check_feature(feature)
        return self.db.locked("runs:" + feature)

    def features(self) -> List[str]:
        return sorted(row[0] for row in self.db.query("SELECT DISTINCT feature FROM {runs}"))

    def runs(self, feature: str) -> List[int]:
        check_feature(feature)
        rows = self.db.query("SELECT run FROM {runs} WHERE feature = ? ORDER BY run", (feature,))
        return [int(row[0]) for row in rows]

    def _stored(self, feature: str, run: int, revision: str, text: str) -> StoredRun:
        location = self.location(feature, run)
        return StoredRun(parse_json_bytes(text.encode("utf-8"), location), revision, location)

    def latest(self, feature: str) -> Optional[StoredRun]:
        check_feature(feature)
        rows = self.db.query(
            "SELECT run, revision, document FROM {runs} WHERE feature = ?"
            " ORDER BY run DESC LIMIT 1",
            (feature,),
        )
        if not rows:
            return None
        run, revision, text = rows[0]
        return self._stored(feature, int(run), revision, text)

    def load(self, feature: str, run: int) -> StoredRun:
        check_feature(feature)
        _check_run_number(run)
        rows = self.db.query(
            "SELECT revision, document FROM {runs} WHERE feature = ? AND run = ?",
            (feature, run),
        )
        if not rows:
            raise NotFound(f"no run {run} of feature {feature!r}", feature)
        return self._stored(feature, run, rows[0][0], rows[0][1])

    def create(self, feature: str, run: int, document: Dict[str, Any]) -> str:
        check_feature(feature)
        _check_run_number(run)
        with self.lock(feature):
            exists = self.db.query(
                "SELECT 1 FROM {runs} WHERE feature = ? AND run = ?", (feature, run)
            )
            if exists:
                raise ConflictError(
                    f"run {run} of {feature!r} already exists", self.location(feature, run)
                )
            text = self._bounded(feature, run, document)
            revision = _revision(1, text)
            self.db.write(
                "INSERT INTO {runs} (feature, run, version, revision, document)"
                " VALUES (?, ?, ?, ?, ?)",
                (feature, run, 1, revision, text),
            )
            return revision

    def save(self, feature: str, run: int, document: Dict[str, Any], expected_revision: str) -> str:
        check_feature(feature)
        _check_run_number(run)
        with self.lock(feature):
            rows = self.db.query(
                "SELECT version, revision FROM {runs} WHERE feature = ? AND run = ?",
                (feature, run),
            )
            if not rows:
                raise NotFound(f"no run {run} of feature {feature!r}", feature)
            version, current = int(rows[0][0]), rows[0][1]
            location = self.location(feature, run)
            if current != expected_revision:
                raise ConflictError(
                    f"{location} changed since it was read (revision {current}, expected "
                    f"{expected_revision}); reload and retry",
                    location,
                )
            text = self._bounded(feature, run, document)
            revision = _revision(version + 1, text)
            self.db.write(
                "UPDATE {runs} SET version = ?, revision = ?, document = ?"
                " WHERE feature = ? AND run = ?",
                (version + 1, revision, text, feature, run),
            )
            return revision

    # -- bounded history ----------------------------------------------------------------------

    def _bounded(self, feature: str, run: int, document: Dict[str, Any]) -> str:
        """The text to store for ``document``: events beyond the limit are archived first
        (inside the caller's lock). Refuses a document that would lose events."""
        history = document.get("history")
        if not isinstance(history, list) or not history:
            return _encode_run(document)
        limit = self.db.history_limit
        location = self.location(feature, run)
        overflow = history[:-limit] if limit is not None and len(history) > limit else []
        for event in overflow:
            seq = event.get("seq") if isinstance(event, dict) else None
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise StateFileError(location, "cannot archive a history event without a seq")
            self.db.write(
                "INSERT INTO {run_events} (feature, run, seq, event) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (feature, run, seq) DO NOTHING",
                (feature, run, seq, _encode_run(event)),
            )
        kept = history[len(overflow) :]
        first = kept[0].get("seq") if isinstance(kept[0], dict) else None
        if isinstance(first, int) and not isinstance(first, bool) and first > 1:
            rows = self.db.query(
                "SELECT COUNT(*), MAX(seq) FROM {run_events} WHERE feature = ? AND run = ?",
                (feature, run),
            )
            count, highest = int(rows[0][0]), rows[0][1]
            if count != first - 1 or (highest is not None and int(highest) != first - 1):
                raise StateFileError(
                    location,
                    f"refusing to write a history that starts at event {first}: "
                    f"{count} earlier events are archived, so events would be lost",
                )
        if not overflow:
            return _encode_run(document)
        bounded = dict(document)
        bounded["history"] = kept
        return _encode_run(bounded)

    def archived_events(self, feature: str, run: int) -> List[Dict[str, Any]]:
        """The history events of a run that its stored document no longer holds, oldest
        first (empty when nothing was archived)."""
        check_feature(feature)
        _check_run_number(run)
        rows = self.db.query(
            "SELECT event FROM {run_events} WHERE feature = ? AND run = ? ORDER BY seq",
            (feature, run),
        )
        location = self.location(feature, run)
        return [parse_json_bytes(row[0].encode("utf-8"), location) for row in rows]

    def load_full(self, feature: str, run: int) -> StoredRun:
        """:meth:`load` with the archived events put back in front of the history: the
        run's whole history, which replays from its ``init`` event. Read under the lock,
        so the two parts belong together; the revision is the stored document's."""
        with self.lock(feature):
            stored = self.load(feature, run)
            archived = self.archived_events(feature, run)
        if archived and isinstance(stored.document.get("history"), list):
            full = dict(stored.document)
            full["history"] = archived + list(stored.document["history"])
            return StoredRun(full, stored.revision, stored.location)
        return stored


class SqlTaskStore:
    """A :class:`~stageflow.storage.TaskStore` in a SQL database: one row per task file."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def __repr__(self) -> str:
        return f"SqlTaskStore({self.db.url!r})"

    def folder(self, feature: str) -> str:
        """Where a feature's files are, for messages and locations (``{url}/{feature}``)."""
        return f"{self.db.url}/{feature}"

    def lock(self, feature: str) -> ContextManager[None]:
        check_task_feature(feature)
        return self.db.locked("tasks:" + feature)

    def lease(self, feature: str) -> ContextManager[None]:
        check_task_feature(feature)
        return self.db.lease(feature)

    def features(self) -> List[str]:
        return sorted(row[0] for row in self.db.query("SELECT DISTINCT feature FROM {task_files}"))

    def _file(self, feature: str, name: str, row: Optional[Tuple[Any, ...]]) -> StoredFile:
        match = SUBTASK_FILE.match(name)
        seq = match.group(1) if match is not None else None
        location = f"{self.folder(feature)}/{name}"
        if row is None:
            return StoredFile(name, location, seq, None, MISSING, None)
        revision, text = row
        try:
            document = parse_task_bytes(text.encode("utf-8"), location)
        except StateFileError as exc:
            return StoredFile(name, location, seq, None, exc.problem, revision)
        if not isinstance(document, dict):
            problem = f"expected a JSON object, found {json_type_phrase(document)}"
            return StoredFile(name, location, seq, None, problem, revision)
        return StoredFile(name, location, seq, document, None, revision)

    def load(self, feature: str) -> StoredFeature:
        check_task_feature(feature)
        rows = self.db.query(
            "SELECT name, revision, document FROM {task_files} WHERE feature = ?", (feature,)
        )
        if not rows:
            raise NotFound(f"feature {feature!r} has no task files in {self.db.url}", feature)
        found = {row[0]: (row[1], row[2]) for row in rows}
        seqs = []
        for name in found:
            match = SUBTASK_FILE.match(name)
            if match is not None:
                seqs.append((match.group(1), name))
        seqs.sort(key=lambda item: seq_key(item[0]))
        return StoredFeature(
            feature,
            self.folder(feature),
            self._file(feature, TASK_FILE, found.get(TASK_FILE)),
            tuple(self._file(feature, name, found[name]) for _, name in seqs),
        )

    def _name_in(self, feature: str, location: str) -> str:
        folder, _, name = str(location).rpartition("/")
        check_file_name(name)
        if folder != self.folder(feature):
            raise UsageError(f"{location!r} is not a task file of feature {feature!r}")
        return name

    def _row(self, feature: str, name: str) -> Tuple[bool, Optional[Tuple[Any, ...]]]:
        """Whether the feature exists, and the file's ``(revision, text)`` row."""
        rows = self.db.query(
            "SELECT name, revision, document FROM {task_files}"
            " WHERE feature = ? AND (name = ? OR name = ?)",
            (feature, name, TASK_FILE),
        )
        exists = bool(rows) or bool(
            self.db.query("SELECT 1 FROM {task_files} WHERE feature = ? LIMIT 1", (feature,))
        )
        row = next(((r[1], r[2]) for r in rows if r[0] == name), None)
        return exists, row

    def read(self, feature: str, location: str) -> StoredFile:
        check_task_feature(feature)
        name = self._name_in(feature, location)
        exists, row = self._row(feature, name)
        if not exists:
            raise NotFound(f"feature {feature!r} has no task files in {self.db.url}", feature)
        return self._file(feature, name, row)

    def save(
        self,
        feature: str,
        location: str,
        document: Mapping[str, Any],
        expected_revision: Optional[str],
    ) -> str:
        check_task_feature(feature)
        name = self._name_in(feature, location)
        text = _encode_task(document)
        with self.lock(feature):
            exists, row = self._row(feature, name)
            if not exists:
                raise NotFound(f"feature {feature!r} has no task files in {self.db.url}", feature)
            current = None if row is None else row[0]
            if current != expected_revision:
                raise ConflictError(
                    f"{location} changed since it was read; reload and retry", location
                )
            if row is None:
                revision = _revision(1, text)
                self.db.write(
                    "INSERT INTO {task_files} (feature, name, version, revision, document)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (feature, name, 1, revision, text),
                )
            else:
                version = int(current.split("-", 1)[0]) + 1 if current else 1
                revision = _revision(version, text)
                self.db.write(
                    "UPDATE {task_files} SET version = ?, revision = ?, document = ?"
                    " WHERE feature = ? AND name = ?",
                    (version, revision, text, feature, name),
                )
            return revision

    def create(
        self, feature: str, task: Mapping[str, Any], subtasks: Mapping[str, Mapping[str, Any]]
    ) -> None:
        check_task_feature(feature)
        names = names_for(subtasks)
        texts = {names[seq]: _encode_task(sub) for seq, sub in subtasks.items()}
        texts[TASK_FILE] = _encode_task(task)
        with self.lock(feature):
            if self.db.query("SELECT 1 FROM {task_files} WHERE feature = ? LIMIT 1", (feature,)):
                raise ConflictError(
                    f"feature {feature!r} already exists in {self.db.url}", self.folder(feature)
                )
            for name, text in texts.items():
                self.db.write(
                    "INSERT INTO {task_files} (feature, name, version, revision, document)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (feature, name, 1, _revision(1, text), text),
                )
