"""The PostgreSQL backend (psycopg 3, the ``stageflow[postgres]`` extra).

URLs (see ``docs/storage.md``)::

    postgresql://user@host:5432/database
    ...?schema=flows              the schema holding stageflow's tables (default stageflow)
    ...?history_limit=50          keep 50 history events per run document (the rest archived)

Any other query parameter (``sslmode``, ``connect_timeout``, ...) goes to libpq. A password
may be in the URL, but is never shown: prefer ``PGPASSWORD`` or a ``.pgpass`` file.

The tables live in their own schema, created by the first migration; migrations are
versioned, applied on first use or by :meth:`Stores.migrate`, and serialised between
processes by a transaction-level advisory lock, so two processes starting at once apply
each migration once.

Locking. :meth:`~SqlRunStore.lock` begins a transaction and takes a transaction-level
advisory lock on the feature (``pg_advisory_xact_lock``): it waits for the feature's
other writers, never for other features, and is released by the commit (or rollback)
when the outermost lock exits. Revisions are still checked on every save, so a writer
that skipped the lock cannot overwrite a newer document. The execution lease is a
session-level ``pg_try_advisory_lock`` on a connection of its own: it never waits, and
the server releases it when the holder's session ends (its process died).
"""

from __future__ import annotations

import re
import zlib
from contextlib import contextmanager, suppress
from typing import Any, Dict, Iterator, Optional, Tuple, Type
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

try:
    import psycopg
except ImportError:  # pragma: no cover - exercised without the extra
    psycopg = None  # type: ignore[assignment]

from ..errors import ConflictError, UsageError
from ._sql import SqlDatabase, SqlRunStore, SqlTaskStore, _State, parse_history_limit
from ._stores import Stores

__all__ = ["DEFAULT_SCHEMA", "PostgresDatabase", "open_postgres"]

DEFAULT_SCHEMA = "stageflow"
"""The schema of stageflow's tables unless the URL names another (``?schema=``)."""

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
_OWN_OPTIONS = ("history_limit", "schema")


def _key(text: str) -> int:
    """A stable signed 32-bit advisory-lock key for ``text``."""
    value = zlib.crc32(text.encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


class PostgresDatabase(SqlDatabase):
    """One PostgreSQL database and schema (see the module docstring)."""

    kind = "PostgreSQL"
    placeholder = "%s"
    bigint = "BIGINT"
    driver_errors: Tuple[Type[BaseException], ...] = (psycopg.Error,) if psycopg else ()

    def __init__(
        self,
        conninfo: str,
        display: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        history_limit: Optional[int] = None,
    ) -> None:
        if psycopg is None:
            raise UsageError(
                f"{display}: the PostgreSQL backend needs psycopg: "
                "pip install 'stageflow[postgres]'"
            )
        if not _SCHEMA_NAME.match(schema):
            raise UsageError(
                f"{display}: schema {schema!r} is not a plain lowercase SQL name "
                "(letters, digits, '_')"
            )
        super().__init__(display, history_limit=history_limit)
        self.conninfo = conninfo
        self.schema = schema

    def table(self, name: str) -> str:
        return f'"{self.schema}".{name}'

    def _problem(self, exc: BaseException) -> str:
        return " ".join(str(exc).split()) or type(exc).__name__

    def _connect(self) -> Any:
        return psycopg.connect(self.conninfo, autocommit=True)

    def _usable(self, conn: Any) -> bool:
        return not conn.closed and not conn.broken

    def _lock_in_tx(self, state: _State, key: str) -> None:
        if not state.in_tx:
            state.conn.execute("BEGIN")
            state.in_tx = True
        namespace, _, feature = key.partition(":")
        state.conn.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            (_key(f"stageflow:{self.schema}:{namespace}"), _key(feature)),
        )

    def _migration_lock(self, state: _State) -> None:
        state.conn.execute("BEGIN")
        state.conn.execute(
            "SELECT pg_advisory_xact_lock(%s, 0)", (_key(f"stageflow:{self.schema}:migrate"),)
        )
        state.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')

    @contextmanager
    def lease(self, feature: str) -> Iterator[None]:
        keys = (_key(f"stageflow:{self.schema}:lease"), _key(feature))
        with self.errors("cannot take the execution lease"):
            conn = psycopg.connect(self.conninfo, autocommit=True)
        try:
            with self.errors("cannot take the execution lease"):
                row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", keys).fetchone()
            if not row or not row[0]:
                raise ConflictError(
                    f"another executor is running feature {feature!r} "
                    f"(it holds its lease in {self.url})",
                    f"{self.url}/{feature}",
                )
            try:
                yield
            finally:
                if not conn.closed and not conn.broken:
                    # on an error the session ends below, and the lock with it
                    with suppress(psycopg.Error):
                        conn.execute("SELECT pg_advisory_unlock(%s, %s)", keys)
        finally:
            conn.close()

    def drop_schema(self) -> None:
        """Drop the schema and every table in it (for tests and uninstalling)."""
        state = self.state(migrate=False)
        with self.errors("cannot drop the schema"):
            state.conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        self._migrated = False


def _split_url(url: str) -> Tuple[str, str, Dict[str, str]]:
    """``(conninfo for libpq, display URL without password, stageflow's own options)``."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    own = {key: value for key, value in pairs if key in _OWN_OPTIONS}
    rest = [(key, value) for key, value in pairs if key not in _OWN_OPTIONS]
    conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{host}" if user else host
    display = urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))
    return conninfo, display, own


def open_postgres(url: str) -> Stores:
    """The :class:`Stores` of a ``postgresql://`` URL (see the module docstring)."""
    conninfo, display, own = _split_url(url)
    if not urlsplit(url).path.strip("/"):
        raise UsageError(f"store URL {display!r} needs a database: postgresql://host/database")
    db = PostgresDatabase(
        conninfo,
        display,
        schema=own.get("schema", DEFAULT_SCHEMA),
        history_limit=parse_history_limit(own.get("history_limit"), display),
    )
    query = urlencode(sorted(own.items()))
    opened = display + (f"?{query}" if query else "")
    return Stores(opened, SqlRunStore(db), SqlTaskStore(db), migrate=db.migrate, close=db.close)
