"""The storage port and its adapters.

A run store keeps JSON-ready *run documents*, each under ``(feature, run number)``, with an
opaque *revision* token for optimistic concurrency: :meth:`RunStore.save` refuses with
:class:`~stageflow.errors.ConflictError` when the document changed since it was read.
:meth:`RunStore.lock` serialises read-modify-write cycles on one feature. The port is small
on purpose, so that SQL backends fit it as well as the in-memory and files adapters.

A task store (:class:`TaskStore`: :mod:`.taskfiles`, :mod:`.taskmemory`) keeps a feature's
task files, each addressed by its file name, with a revision each.

Stores deal in plain dicts; checking and structuring documents is the caller's job
(:mod:`stageflow._rundoc`, :mod:`stageflow.serde`). This package imports nothing heavy.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from ._stored import StoredRun
from ._stores import Stores
from ._taskdocs import StoredFeature, StoredFile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from ._port import RunStore, TaskStore

__all__ = [
    "RunStore",
    "StoredFeature",
    "StoredFile",
    "StoredRun",
    "Stores",
    "TaskStore",
    "open_store",
    "open_stores",
]


def __getattr__(name: str) -> object:
    if name in ("RunStore", "TaskStore"):  # apart: typing.Protocol is not on the fast path
        from . import _port

        return getattr(_port, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(url: str, root: Optional[str] = None) -> RunStore:
    """The run store of :func:`open_stores` ``(url, root)``."""
    return open_stores(url, root).runs


def open_stores(url: str, root: Optional[str] = None) -> Stores:
    """Open a backend from a URL: ``memory:``, ``files`` (the ``.tmp/`` folder of
    ``root``, default the current folder), ``files:///path/to/root``, ``sqlite`` (the file
    ``.tmp/stageflow.db`` of ``root``), ``sqlite:///path/to/file.db`` or
    ``postgresql://user@host:port/database`` (the ``postgres`` extra). See
    ``docs/storage.md`` for the options of the SQL backends."""
    if url == "memory:" or url == "memory":
        from .memory import MemoryStore
        from .taskmemory import MemoryTaskStore

        return Stores("memory:", MemoryStore(), MemoryTaskStore())
    if url == "files" or url.startswith("files://"):
        path = (root or os.getcwd()) if url == "files" else url[len("files://") :]
        if not path:
            raise UsageError(f"store URL {url!r} needs a path: files:///path/to/root")
        from .files import FileStore
        from .taskfiles import FileTaskStore

        return Stores(url, FileStore(path), FileTaskStore(path))
    if url == "sqlite" or url.startswith("sqlite:"):
        from .sqlite import open_sqlite  # imports sqlite3: only when such a URL is opened

        return open_sqlite(url, root)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import open_postgres

        return open_postgres(url)
    raise UsageError(
        f"unknown store URL {url!r}; use 'files', 'files:///path', 'memory:', "
        "'sqlite:///path/to/file.db' or 'postgresql://user@host/database'"
    )
