"""The SQLite backend: run documents and task files in one database file (stdlib ``sqlite3``).

URLs (see ``docs/storage.md``)::

    sqlite                        {root}/.tmp/stageflow.db (root: the project, default cwd)
    sqlite:///abs/path/flow.db    an absolute path (``sqlite://`` + the path, as ``files://``;
                                  ``sqlite:////abs/path/flow.db`` is the same file)
    sqlite://flow.db              a path relative to the root
    ...?history_limit=50          keep 50 history events per run document (the rest archived)
    ...?busy_timeout=30000        how long a writer waits for the database, in ms
    ...?synchronous=normal        PRAGMA synchronous (``full``, the default, or ``normal``)

One file holds any number of features and runs, in tables named ``stageflow_*``. The
database is in WAL mode: readers never wait for a writer. Each thread has its own
connection, reopened in a forked child.

Locking. :meth:`~SqlRunStore.lock` is a per-feature file lock in ``{file}.locks/`` (the
same re-entrant, inter-process lock as the files store), so features never wait for each
other; the first write under it starts a ``BEGIN IMMEDIATE`` transaction, committed when
the outermost lock exits. The database's write lock is thus held only from a
read-modify-write's first write to its commit, never while a gate runs. The execution
lease is a non-blocking file lock in ``{file}.locks/executor/``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager
from typing import ContextManager, Iterator, Optional
from urllib.parse import parse_qs, urlsplit

from .._filelock import file_lock, try_file_lock
from ..errors import ConflictError, StateFileError, UsageError
from ._sql import SqlDatabase, SqlRunStore, SqlTaskStore, _State, parse_history_limit
from ._stores import Stores

__all__ = ["DEFAULT_FILE", "SqliteDatabase", "open_sqlite"]

DEFAULT_FILE = ".tmp/stageflow.db"
"""The database of the bare URL ``sqlite``, relative to the project root."""

_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}
_LOCK_FOLDERS = ("runs", "tasks", "executor")


class SqliteDatabase(SqlDatabase):
    """One SQLite file (see the module docstring)."""

    kind = "SQLite"
    bigint = "INTEGER"
    driver_errors = (sqlite3.Error,)

    def __init__(
        self,
        path: str,
        *,
        history_limit: Optional[int] = None,
        busy_timeout_ms: int = 30_000,
        synchronous: str = "full",
    ) -> None:
        if path.startswith("//"):  # sqlite:////abs (SQLAlchemy's spelling) is /abs too
            path = "/" + path.lstrip("/")
        self.path = os.path.abspath(path)
        super().__init__("sqlite://" + self.path, history_limit=history_limit)
        if synchronous not in _SYNCHRONOUS:
            raise UsageError(f"{self.url}: synchronous is 'full' or 'normal', not {synchronous!r}")
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = _SYNCHRONOUS[synchronous]
        self.locks = self.path + ".locks"

    def table(self, name: str) -> str:
        return "stageflow_" + name

    def _problem(self, exc: BaseException) -> str:
        text = str(exc).strip() or type(exc).__name__
        if "not a database" in text:
            return f"not an SQLite database ({text})"
        if "unable to open" in text:
            folder = os.path.dirname(self.path)
            return f"{text} (does the folder {folder} exist and is it writable?)"
        return text

    def _connect(self) -> sqlite3.Connection:
        folder = os.path.dirname(self.path)
        try:  # the database's folder, and the lock folders beside the file
            for where in (folder, *(os.path.join(self.locks, n) for n in _LOCK_FOLDERS)):
                os.makedirs(where, exist_ok=True)
        except OSError as exc:
            raise StateFileError(
                self.url, f"cannot create the folder {exc.filename}: {exc.strerror}"
            ) from None
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_ms / 1000,
            isolation_level=None,  # autocommit: transactions are begun explicitly
            check_same_thread=False,  # used by one thread only; closed by close()
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._use_wal(conn)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL mode (persistent: once per file). Changing the mode may
        report "database is locked" without waiting while another connection opens a new
        file, so it is retried for the busy timeout."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL").fetchall()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _feature_lock(self, key: str) -> ContextManager[None]:
        namespace, _, feature = key.partition(":")
        return file_lock(os.path.join(self.locks, namespace, feature + ".lock"))

    def _begin_write(self, state: _State) -> None:
        state.conn.execute("BEGIN IMMEDIATE")
        state.in_tx = True

    def _migration_lock(self, state: _State) -> None:
        state.conn.execute("BEGIN IMMEDIATE")  # one writer at a time: migrations serialise

    @contextmanager
    def lease(self, feature: str) -> Iterator[None]:
        path = os.path.join(self.locks, "executor", feature + ".lock")
        with try_file_lock(path) as taken:
            if not taken:
                raise ConflictError(
                    f"another executor is running feature {feature!r} (it holds {path})", path
                )
            yield


def open_sqlite(url: str, root: Optional[str] = None) -> Stores:
    """The :class:`Stores` of a ``sqlite`` URL (see the module docstring)."""
    if url == "sqlite":
        path, query = DEFAULT_FILE, ""
    else:
        parts = urlsplit(url)
        if parts.scheme != "sqlite" or not url.startswith("sqlite://"):
            raise UsageError(f"not an SQLite URL: {url!r}")
        path = url[len("sqlite://") :].split("?", 1)[0]
        query = parts.query
    if not path:
        raise UsageError(f"store URL {url!r} needs a path: sqlite:///path/to/file.db")
    options = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - {"history_limit", "busy_timeout", "synchronous"})
    if unknown:
        raise UsageError(
            f"{url}: unknown option {unknown[0]!r} (known: busy_timeout, history_limit, "
            "synchronous)"
        )
    busy = options.get("busy_timeout", "30000")
    if not busy.isdigit():
        raise UsageError(f"{url}: busy_timeout is a number of milliseconds, not {busy!r}")
    full = os.path.join(root or os.getcwd(), path)
    db = SqliteDatabase(
        full,
        history_limit=parse_history_limit(options.get("history_limit"), url),
        busy_timeout_ms=int(busy),
        synchronous=options.get("synchronous", "full").lower(),
    )
    opened = db.url + (f"?{query}" if query else "")
    return Stores(opened, SqlRunStore(db), SqlTaskStore(db), migrate=db.migrate, close=db.close)
