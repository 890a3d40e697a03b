"""The storage port and its adapters.

A store keeps JSON-ready *run documents*, each under ``(feature, run number)``, with an
opaque *revision* token for optimistic concurrency: :meth:`RunStore.save` refuses with
:class:`~stageflow.errors.ConflictError` when the document changed since it was read.
:meth:`RunStore.lock` serialises read-modify-write cycles on one feature. The port is small
on purpose, so that SQL backends fit it as well as the in-memory and files adapters.

Stores deal in plain dicts; checking and structuring documents is the caller's job
(:mod:`stageflow._rundoc`, :mod:`stageflow.serde`). This package imports nothing heavy.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from ._stored import StoredRun

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from ._port import RunStore

__all__ = ["RunStore", "StoredRun", "open_store"]


def __getattr__(name: str) -> object:
    if name == "RunStore":  # defined apart: typing.Protocol is not on the CLI's fast path
        from ._port import RunStore

        return RunStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(url: str, root: Optional[str] = None) -> RunStore:
    """Open a store from a URL: ``memory:``, ``files`` (the project root's ``.tmp/``) or
    ``files:///path/to/root``."""
    if url == "memory:" or url == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    if url == "files":
        from .files import FileStore

        return FileStore(root or os.getcwd())
    if url.startswith("files://"):
        from .files import FileStore

        path = url[len("files://") :]
        if not path:
            raise UsageError(f"store URL {url!r} needs a path: files:///path/to/root")
        return FileStore(path)
    raise UsageError(f"unknown store URL {url!r}; use 'files', 'files:///path' or 'memory:'")
