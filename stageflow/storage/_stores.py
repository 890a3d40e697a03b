"""A backend opened from a URL: its run store and its task store, together.

Defined without importing :mod:`typing` at run time (CLI fast path).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional

    from ._port import RunStore, TaskStore

__all__ = ["Stores"]


class Stores:
    """The run store and task store of one backend, sharing its connections.

    ``url`` is the URL it was opened from (for messages; a password is never kept in it).
    :meth:`migrate` brings a database's schema up to date and returns the versions it
    applied (stores without a schema apply none); :meth:`close` releases connections.
    A :class:`Stores` is a context manager that closes on exit.
    """

    __slots__ = ("_close", "_migrate", "runs", "tasks", "url")

    def __init__(
        self,
        url: str,
        runs: RunStore,
        tasks: TaskStore,
        *,
        migrate: Optional[Callable[[], List[str]]] = None,
        close: Optional[Callable[[], None]] = None,
    ) -> None:
        self.url = url
        self.runs = runs
        self.tasks = tasks
        self._migrate = migrate
        self._close = close

    def __repr__(self) -> str:
        return f"Stores({self.url!r})"

    @property
    def has_schema(self) -> bool:
        """True when the backend has a schema that :meth:`migrate` keeps up to date."""
        return self._migrate is not None

    def migrate(self) -> List[str]:
        """Apply pending schema migrations; the versions applied, oldest first."""
        return self._migrate() if self._migrate is not None else []

    def close(self) -> None:
        """Release the backend's connections (idempotent)."""
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
